//! The hostile-client suite: a real `s3gw` in front of a real buckets-lite,
//! and more than sixty kinds of hostile or malformed requests written to
//! RAW SOCKETS (no HTTP client tidies them up): malformed request lines,
//! huge and numerous headers, absolute-form targets, encoded
//! sub-resources, overflowing numbers in numeric headers and query fields,
//! bad ranges, malformed, oversized and entity-expanding XML, 10,001 parts,
//! 1,001 delete keys, tampered and truncated aws-chunked bodies, checksum
//! mismatches, stalled headers and bodies, invalid UTF-8 and control
//! characters in paths, queries and metadata.
//!
//! For EVERY case: the answer is the expected 4xx status (never a 5xx: no
//! case here is a store failure), it carries an S3 XML `<Error>` body with
//! a `<Code>` (the expected one where S3 documents it) and an
//! `x-amz-request-id`; it arrives before a read deadline (no hang); the
//! gateway's log shows no panic; and the bucket afterwards holds exactly
//! the one object the setup wrote (no object stored, not even half of one).
//!
//! Adding a case is one entry in [`CASES`]: a name, the expected status
//! (0: any 4xx), the expected S3 error code ("" : any) and a function that
//! builds the bytes to write from the [`Ctx`] (a raw string with `{host}`,
//! or a SigV4/SigV2-signed request built by the harness's raw signers).
//! `S3GW_HOSTILE_CASE=substring` runs only the matching cases.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant, SystemTime};

use base64::Engine;
use s3gw_tests::buckets_lite::BucketsLite;
use s3gw_tests::gateway::{Gateway, GatewayOptions};
use s3gw_tests::raw::{amz_date, sha256_hex as sha_hex, RawRequest, RawSigner};

const EXISTING: &str = "existing";
const EXISTING_BODY: &[u8] = b"0123456789";
/// Longest wait for an answer: a case that gets none by then hangs.
const READ_DEADLINE: Duration = Duration::from_secs(30);
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// What a case writes: all of `bytes`, then either waits for the answer or,
/// for `stall`, keeps the connection open without sending more (a client
/// that stopped mid-header or mid-body).
struct Wire {
    bytes: Vec<u8>,
    stall: bool,
}

/// One hostile case: name, expected status (0: any 4xx), expected S3 error
/// code ("": any), and the request.
type Case = (&'static str, u16, &'static str, fn(&Ctx) -> Wire);

/// THE table. One line per case.
#[rustfmt::skip]
const CASES: &[Case] = &[
    // ---- malformed request lines and heads
    ("request line garbage", 400, "", |x| x.raw("GARBAGE\r\n\r\n")),
    ("request line without target", 400, "", |x| x.raw("GET\r\nHost: {host}\r\n\r\n")),
    ("request line unknown version", 0, "", |x| x.raw("GET /hostile HTTP/9.9\r\nHost: {host}\r\n\r\n")),
    ("request line double spaces", 400, "", |x| x.raw("GET  /hostile  HTTP/1.1\r\nHost: {host}\r\n\r\n")),
    ("space inside target", 400, "", |x| x.raw("GET /hostile/a b HTTP/1.1\r\nHost: {host}\r\n\r\n")),
    ("NUL in method", 400, "", |x| x.raw("G\0T /hostile HTTP/1.1\r\nHost: {host}\r\n\r\n")),
    ("unknown method", 405, "MethodNotAllowed", |x| x.raw("FROB /hostile HTTP/1.1\r\nHost: {host}\r\n\r\n")),
    ("header without colon", 400, "", |x| x.raw("GET /hostile HTTP/1.1\r\nHost: {host}\r\nX-Bad\r\n\r\n")),
    ("space before header colon", 400, "", |x| x.raw("GET /hostile HTTP/1.1\r\nHost : {host}\r\n\r\n")),
    ("obsolete header folding", 400, "", |x| x.raw("GET /hostile HTTP/1.1\r\nHost: {host}\r\nX-A: a\r\n b\r\n\r\n")),
    ("control character in header value", 400, "", |x| x.raw("GET /hostile HTTP/1.1\r\nHost: {host}\r\nX-A: a\x01b\r\n\r\n")),
    ("control character in header name", 400, "", |x| x.raw("GET /hostile HTTP/1.1\r\nHost: {host}\r\nx-amz-meta-\x01: v\r\n\r\n")),
    ("huge header value", 0, "", |x| x.raw(&format!("GET /hostile HTTP/1.1\r\nHost: {{host}}\r\nX-Big: {}\r\n\r\n", "a".repeat(100_000)))),
    ("header section over the limit", 400, "RequestHeaderSectionTooLarge", |x| x.signed("GET", "/hostile", "", &[("x-amz-meta-pad", &"p".repeat(20_000))], b"")),
    ("two hundred headers", 0, "", |x| x.raw(&format!("GET /hostile HTTP/1.1\r\nHost: {{host}}\r\n{}\r\n", (0..200).map(|i| format!("X-H{i}: v\r\n")).collect::<String>()))),
    ("missing Host", 400, "", |x| x.raw("GET /hostile HTTP/1.1\r\n\r\n")),
    ("two Host headers", 400, "", |x| x.raw("GET /hostile HTTP/1.1\r\nHost: {host}\r\nHost: other.s3.test\r\n\r\n")),
    ("two different Content-Lengths", 400, "", |x| x.raw("PUT /hostile/k HTTP/1.1\r\nHost: {host}\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab")),
    ("Content-Length with Transfer-Encoding", 400, "", |x| x.raw("PUT /hostile/k HTTP/1.1\r\nHost: {host}\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")),
    ("negative Content-Length", 400, "", |x| x.raw("PUT /hostile/k HTTP/1.1\r\nHost: {host}\r\nContent-Length: -1\r\n\r\n")),
    ("overflowing Content-Length", 400, "", |x| x.raw("PUT /hostile/k HTTP/1.1\r\nHost: {host}\r\nContent-Length: 99999999999999999999999\r\n\r\n")),
    ("unknown Transfer-Encoding", 0, "", |x| x.raw("PUT /hostile/k HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: gzip\r\n\r\n")),
    ("asterisk-form target", 0, "", |x| x.raw("OPTIONS * HTTP/1.1\r\nHost: {host}\r\n\r\n")),
    ("authority-form CONNECT", 0, "", |x| x.raw("CONNECT hostile.s3.test:80 HTTP/1.1\r\nHost: {host}\r\n\r\n")),
    ("URI over 64 KiB", 0, "", |x| x.raw(&format!("GET /hostile?{} HTTP/1.1\r\nHost: {{host}}\r\n\r\n", "a&".repeat(40_000)))),
    // ---- absolute-form targets
    ("absolute-form to another bucket than the signed Host", 400, "", |x| x.absolute_form("PUT", "http://hostile.s3.test/newkey", "/newkey")),
    ("absolute-form naming another host, unsigned", 0, "", |x| x.raw("PUT http://hostile.s3.test/k HTTP/1.1\r\nHost: {host}\r\nContent-Length: 1\r\n\r\nx")),
    // ---- authentication
    ("anonymous PUT", 403, "AccessDenied", |x| x.raw("PUT /hostile/k HTTP/1.1\r\nHost: {host}\r\nContent-Length: 1\r\n\r\nx")),
    ("unknown access key", 403, "InvalidAccessKeyId", |x| x.raw(&format!("PUT /hostile/k HTTP/1.1\r\nHost: {{host}}\r\nx-amz-date: {}\r\nx-amz-content-sha256: UNSIGNED-PAYLOAD\r\nAuthorization: AWS4-HMAC-SHA256 Credential=AKIANOSUCHKEY0000000/{}/us-east-1/s3/aws4_request,SignedHeaders=host;x-amz-content-sha256;x-amz-date,Signature={}\r\nContent-Length: 1\r\n\r\nx", x.amz, x.date, "0".repeat(64)))),
    ("garbage Authorization", 400, "AuthorizationHeaderMalformed", |x| x.raw("PUT /hostile/k HTTP/1.1\r\nHost: {host}\r\nAuthorization: AWS4-HMAC-SHA256 garbage\r\nContent-Length: 1\r\n\r\nx")),
    ("unsupported Authorization type", 400, "InvalidArgument", |x| x.raw("PUT /hostile/k HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer abc\r\nContent-Length: 1\r\n\r\nx")),
    ("header and query signature together", 400, "InvalidArgument", |x| x.signed("PUT", "/hostile/k", "X-Amz-Signature=00", &[], b"x")),
    ("tampered signature", 403, "SignatureDoesNotMatch", |x| x.mutate(x.signed("PUT", "/hostile/k", "", &[], b"x"), |b| { flip_in_signature(b) })),
    ("request time far in the past", 403, "RequestTimeTooSkewed", |x| x.dated_in_2000(x.sign("PUT", "/hostile/k", "", &[], b"x"))),
    ("X-Amz-Expires overflow", 0, "", |x| x.raw(&format!("GET /hostile/existing?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={}%2F{}%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date={}&X-Amz-Expires=18446744073709551616&X-Amz-SignedHeaders=host&X-Amz-Signature={} HTTP/1.1\r\nHost: {{host}}\r\n\r\n", x.gw.key.access_key_id, x.date, x.amz, "0".repeat(64)))),
    ("SigV2 Expires overflow", 403, "", |x| x.raw(&format!("GET /hostile/existing?AWSAccessKeyId={}&Expires=18446744073709551615&Signature=AAAA HTTP/1.1\r\nHost: {{host}}\r\n\r\n", x.gw.key.access_key_id))),
    ("SigV2 encoded sub-resource ?%75ploads", 403, "SignatureDoesNotMatch", |x| x.wire(x.s.v2("GET", &x.host, "/hostile?%75ploads", "/hostile", &[], b""))),
    ("SigV2 encoded sub-resource ?%61cl", 403, "SignatureDoesNotMatch", |x| x.wire(x.s.v2("GET", &x.host, "/hostile?%61cl", "/hostile", &[], b""))),
    ("SigV2 encoded response override", 403, "SignatureDoesNotMatch", |x| x.wire(x.s.v2("GET", &x.host, "/hostile/existing?%72esponse-content-type=text%2Fhtml", "/hostile/existing", &[], b""))),
    ("Expect 100-continue unauthenticated", 403, "AccessDenied", |x| x.raw("PUT /hostile/k HTTP/1.1\r\nHost: {host}\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")),
    // ---- overflowing numbers in query fields and headers
    ("max-keys overflow", 400, "InvalidArgument", |x| x.signed("GET", "/hostile", "max-keys=99999999999999999999", &[], b"")),
    ("max-keys negative", 400, "InvalidArgument", |x| x.signed("GET", "/hostile", "max-keys=-1", &[], b"")),
    ("max-uploads overflow", 400, "InvalidArgument", |x| x.signed("GET", "/hostile", "max-uploads=18446744073709551616&uploads=", &[], b"")),
    ("max-parts overflow", 400, "InvalidArgument", |x| x.signed("GET", "/hostile/mpu", &format!("max-parts=18446744073709551616&uploadId={}", x.upload_id), &[], b"")),
    ("part-number-marker overflow", 400, "InvalidArgument", |x| x.signed("GET", "/hostile/mpu", &format!("part-number-marker=18446744073709551616&uploadId={}", x.upload_id), &[], b"")),
    ("partNumber overflow on UploadPart", 400, "InvalidArgument", |x| x.signed("PUT", "/hostile/mpu", &format!("partNumber=18446744073709551616&uploadId={}", x.upload_id), &[], b"x")),
    ("partNumber zero", 400, "InvalidArgument", |x| x.signed("PUT", "/hostile/mpu", &format!("partNumber=0&uploadId={}", x.upload_id), &[], b"x")),
    ("partNumber 10001", 400, "InvalidArgument", |x| x.signed("PUT", "/hostile/mpu", &format!("partNumber=10001&uploadId={}", x.upload_id), &[], b"x")),
    ("partNumber overflow on GetObject", 400, "InvalidArgument", |x| x.signed("GET", "/hostile/existing", "partNumber=18446744073709551616", &[], b"")),
    ("Content-Length u64 max", 0, "", |x| x.signed_head_only("PUT", "/hostile/k", &[("content-length", "18446744073709551615")])),
    ("x-amz-decoded-content-length overflow", 400, "", |x| x.aws_chunked("/hostile/k", Some("18446744073709551616"), |_| {})),
    ("x-amz-content-sha256 not hex", 400, "", |x| x.signed_with_payload("PUT", "/hostile/k", "zz", b"x")),
    // ---- bad ranges
    ("range past the end", 416, "InvalidRange", |x| x.signed("GET", "/hostile/existing", "", &[("range", "bytes=1000-")], b"")),
    ("range start u64 max", 416, "InvalidRange", |x| x.signed("GET", "/hostile/existing", "", &[("range", "bytes=18446744073709551615-")], b"")),
    ("empty suffix range", 416, "InvalidRange", |x| x.signed("GET", "/hostile/existing", "", &[("range", "bytes=-0")], b"")),
    ("copy-source-range overflow", 0, "", |x| x.signed("PUT", "/hostile/mpu", &format!("partNumber=1&uploadId={}", x.upload_id), &[("x-amz-copy-source", "/hostile/existing"), ("x-amz-copy-source-range", "bytes=0-99999999999999999999"),], b"")),
    // ---- XML request documents
    ("malformed Delete XML", 400, "MalformedXML", |x| x.xml("POST", "/hostile", "delete=", "<Delete><Object><Key>existing</Key>")),
    ("entity expansion in Delete", 400, "MalformedXML", |x| x.xml("POST", "/hostile", "delete=", &billion_laughs())),
    ("external entity in Delete", 400, "MalformedXML", |x| x.xml("POST", "/hostile", "delete=", "<?xml version=\"1.0\"?><!DOCTYPE d [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><Delete><Object><Key>&x;</Key></Object></Delete>")),
    ("oversized XML", 400, "MaxMessageLengthExceeded", |x| x.xml("POST", "/hostile", "delete=", &format!("<Delete>{}</Delete>", "<!-- pad -->".repeat(300_000)))),
    ("1001 delete keys", 400, "MalformedXML", |x| x.xml("POST", "/hostile", "delete=", &format!("<Delete>{}</Delete>", (0..1001).map(|i| format!("<Object><Key>existing{i}</Key></Object>")).collect::<String>()))),
    ("XML not UTF-8", 400, "MalformedXML", |x| x.signed("POST", "/hostile", "delete=", &[("content-md5", &md5_b64(b"<Delete>\xff</Delete>"))], b"<Delete>\xff</Delete>")),
    ("10001 parts", 400, "", |x| x.xml("POST", "/hostile/mpu", &format!("uploadId={}", x.upload_id), &format!("<CompleteMultipartUpload>{}</CompleteMultipartUpload>", (1..=10_001).map(|i| format!("<Part><PartNumber>{i}</PartNumber><ETag>\"e\"</ETag></Part>")).collect::<String>()))),
    ("part number not a number", 400, "", |x| x.xml("POST", "/hostile/mpu", &format!("uploadId={}", x.upload_id), "<CompleteMultipartUpload><Part><PartNumber>1e99</PartNumber><ETag>\"e\"</ETag></Part></CompleteMultipartUpload>")),
    ("malformed CreateBucketConfiguration", 400, "MalformedXML", |x| x.xml("PUT", "/hostile-new", "", "<CreateBucketConfiguration><LocationConstraint>")),
    ("DOCTYPE splitting text (panicked quick-xml)", 400, "MalformedXML", |x| x.xml("PUT", "/hostile-dtd", "", "<CreateBucketConfiguration><LocationConstraint>a<!DOCTYPE d>b</LocationConstraint></CreateBucketConfiguration>")),
    ("malformed VersioningConfiguration", 400, "MalformedXML", |x| x.xml("PUT", "/hostile", "versioning=", "<VersioningConfiguration><Status>")),
    // ---- aws-chunked bodies
    ("aws-chunked tampered data", 403, "SignatureDoesNotMatch", |x| x.aws_chunked("/hostile/k", None, |b| tamper_first_data_byte(b))),
    ("aws-chunked truncated (no final chunk)", 400, "IncompleteBody", |x| x.aws_chunked("/hostile/k", None, drop_final_chunk)),
    ("aws-chunked chunk size overflow", 400, "", |x| x.aws_chunked("/hostile/k", None, |b| { b.splice(0..0, b"ffffffffffffffffff;".iter().copied()).for_each(drop) })),
    ("aws-chunked without decoded length", 411, "MissingContentLength", |x| x.aws_chunked_without_decoded_length("/hostile/k")),
    ("aws-chunked decoded length mismatch", 400, "", |x| x.aws_chunked("/hostile/k", Some("5"), |_| {})),
    ("aws-chunked bad trailer checksum", 400, "BadDigest", |x| x.unsigned_trailer("/hostile/k", "x-amz-checksum-crc32:AAAAAA==")),
    ("aws-chunked trailer of another algorithm than declared", 400, "InvalidRequest", |x| x.unsigned_trailer("/hostile/k", "x-amz-checksum-crc32:poTHxg==\r\nx-amz-checksum-sha256:hNiYd/DUBB77a/kaFvAkjy/Vc+avBcGflr7bn4gveII=")),
    ("aws-chunked endless blank trailer lines", 400, "", |x| x.unsigned_trailer("/hostile/k", &"\r\n".repeat(20_000))),
    // ---- checksums
    ("Content-MD5 mismatch", 400, "BadDigest", |x| x.signed("PUT", "/hostile/k", "", &[("content-md5", &md5_b64(b"other"))], b"x")),
    ("Content-MD5 not base64", 400, "InvalidDigest", |x| x.signed("PUT", "/hostile/k", "", &[("content-md5", "not base64!")], b"x")),
    ("x-amz-checksum-crc32 mismatch", 400, "BadDigest", |x| x.signed("PUT", "/hostile/k", "", &[("x-amz-checksum-crc32", "AAAAAA==")], b"x")),
    ("x-amz-content-sha256 mismatch", 400, "XAmzContentSHA256Mismatch", |x| x.signed_with_payload("PUT", "/hostile/k", EMPTY_SHA256, b"x")),
    // ---- slow clients
    ("headers never finished", 0, "", |x| x.stall(format!("PUT /hostile/k HTTP/1.1\r\nHost: {}\r\nContent-Le", x.host).into_bytes())),
    ("body never finished", 400, "RequestTimeout", |x| { let mut w = x.signed_with_payload("PUT", "/hostile/k", "UNSIGNED-PAYLOAD", b"0123456789"); w.bytes.truncate(w.bytes.len() - 5); w.stall = true; w }),
    ("aws-chunked body never finished", 400, "RequestTimeout", |x| { let mut w = x.aws_chunked("/hostile/k", None, |_| {}); w.bytes.truncate(w.bytes.len() - 10); w.stall = true; w }),
    // ---- names, UTF-8 and control characters
    ("key not UTF-8", 400, "", |x| x.signed("PUT", "/hostile/a%FFb", "", &[], b"x")),
    ("raw 0xFF in target", 400, "", |x| Wire { bytes: [&b"GET /hostile/\xff HTTP/1.1\r\nHost: "[..], x.host.as_bytes(), b"\r\n\r\n",].concat(), stall: false, }),
    ("raw control character in target", 400, "", |x| x.raw("GET /hostile/a\x01b HTTP/1.1\r\nHost: {host}\r\n\r\n")),
    ("key ..", 400, "", |x| x.signed("PUT", "/hostile/..", "", &[], b"x")),
    ("key .", 400, "", |x| x.signed("PUT", "/hostile/.", "", &[], b"x")),
    ("key encoded ..", 400, "", |x| x.signed("DELETE", "/hostile/%2E%2E", "", &[], b"")),
    ("key over 1024 bytes", 400, "KeyTooLongError", |x| x.signed("PUT", &format!("/hostile/{}", "k".repeat(1025)), "", &[], b"x")),
    ("invalid bucket name", 400, "InvalidBucketName", |x| x.signed("PUT", "/Bad_Bucket", "", &[], b"")),
    ("encoded slash in bucket", 0, "", |x| x.signed("PUT", "/hos%2Ftile/k", "", &[], b"x")),
    ("control characters in response override", 400, "InvalidArgument", |x| x.signed("GET", "/hostile/existing", "response-content-type=a%0D%0AX-Injected%3A%201", &[], b"")),
    ("user metadata over 2 KiB", 400, "MetadataTooLarge", |x| x.signed("PUT", "/hostile/k", "", &[("x-amz-meta-big", &"m".repeat(2100))], b"x")),
    ("copy source not UTF-8", 400, "", |x| x.signed("PUT", "/hostile/k", "", &[("x-amz-copy-source", "/hostile/%FF")], b"")),
    ("copy source without a key", 400, "", |x| x.signed("PUT", "/hostile/k", "", &[("x-amz-copy-source", "/hostile")], b"")),
];

/// Cases that fail only because of a defect nobody has fixed yet, with
/// what they get instead. For these the suite still asserts the expected
/// status, no hang, no panic and nothing stored, and it fails as soon as
/// one passes completely (then delete its line here).
const KNOWN_DEFECTS: &[(&str, &str)] = &[];

// ------------------------------------------------------------------ context

struct Ctx {
    gw: Gateway,
    _lite: BucketsLite,
    /// The harness's raw SigV4/SigV2 signer for the gateway's key.
    s: RawSigner,
    /// `127.0.0.1:PORT`: path-style addressing.
    host: String,
    /// `YYYYMMDDTHHMMSSZ` and `YYYYMMDD` at the start of the run.
    amz: String,
    date: String,
    /// A multipart upload the setup started on `mpu`.
    upload_id: String,
}

fn md5_b64(b: &[u8]) -> String {
    use md5::Digest as _;
    base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(b))
}

/// A wire query (`a=1&b`) as the decoded pairs the signer takes.
fn query_pairs(q: &str) -> Vec<(String, String)> {
    let dec = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8()
            .expect("signed cases use UTF-8 queries")
            .into_owned()
    };
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (dec(k), dec(v))
        })
        .collect()
}

fn billion_laughs() -> String {
    let mut d = String::from("<?xml version=\"1.0\"?><!DOCTYPE d [<!ENTITY l0 \"lol\">");
    for i in 1..10 {
        d.push_str(&format!(
            "<!ENTITY l{i} \"{}\">",
            format!("&l{};", i - 1).repeat(10)
        ));
    }
    d.push_str("]><Delete><Object><Key>&l9;</Key></Object></Delete>");
    d
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn flip_in_signature(b: &mut [u8]) {
    let i = find(b, b"Signature=").expect("signed") + "Signature=".len();
    b[i] = if b[i] == b'0' { b'1' } else { b'0' };
}

/// Flips a bit in the first byte of the first chunk's data.
fn tamper_first_data_byte(body: &mut [u8]) {
    let i = find(body, b"\r\n").expect("chunk header") + 2;
    body[i] ^= 1;
}

/// Removes the final (zero-size) chunk and what follows.
fn drop_final_chunk(body: &mut Vec<u8>) {
    let i = find(body, b"\r\n0;chunk-signature=").expect("final chunk") + 2;
    body.truncate(i);
}

impl Ctx {
    /// A raw request: `{host}` becomes the gateway's `127.0.0.1:PORT`.
    fn raw(&self, s: &str) -> Wire {
        Wire {
            bytes: s.replace("{host}", &self.host).into_bytes(),
            stall: false,
        }
    }

    fn wire(&self, r: RawRequest) -> Wire {
        Wire {
            bytes: r.to_bytes(),
            stall: false,
        }
    }

    fn stall(&self, bytes: Vec<u8>) -> Wire {
        Wire { bytes, stall: true }
    }

    fn mutate(&self, mut w: Wire, f: fn(&mut Vec<u8>)) -> Wire {
        f(&mut w.bytes);
        w
    }

    /// A SigV4-signed request (path-style; `query` as on the wire).
    fn sign(
        &self,
        method: &str,
        path: &str,
        query: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> RawRequest {
        let pairs = query_pairs(query);
        let pairs: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        self.s.v4(method, &self.host, path, &pairs, headers, body)
    }

    fn signed(
        &self,
        method: &str,
        path: &str,
        query: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Wire {
        self.wire(self.sign(method, path, query, headers, body))
    }

    /// Signed, then its date (header and credential scope) moved to 2000.
    fn dated_in_2000(&self, mut r: RawRequest) -> Wire {
        let (amz, date) = (
            r.headers
                .iter()
                .find(|(k, _)| k == "x-amz-date")
                .expect("dated")
                .1
                .clone(),
            self.date.clone(),
        );
        for (_, v) in r.headers.iter_mut() {
            *v = v
                .replace(&amz, "20000101T000000Z")
                .replace(&date, "20000101");
        }
        self.wire(r)
    }

    fn signed_with_payload(&self, method: &str, path: &str, payload: &str, body: &[u8]) -> Wire {
        self.signed(method, path, "", &[("x-amz-content-sha256", payload)], body)
    }

    /// Signed head with the given (signed) headers, no body and no
    /// Content-Length of our own.
    fn signed_head_only(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> Wire {
        let mut hs = vec![("x-amz-content-sha256", "UNSIGNED-PAYLOAD")];
        hs.extend_from_slice(headers);
        self.signed(method, path, "", &hs, b"")
    }

    /// A signed XML request document with its Content-MD5.
    fn xml(&self, method: &str, path: &str, query: &str, doc: &str) -> Wire {
        let md5 = md5_b64(doc.as_bytes());
        self.signed(
            method,
            path,
            query,
            &[("content-md5", &md5)],
            doc.as_bytes(),
        )
    }

    /// An absolute-form request whose target names `absolute` while the
    /// signature covers `Host: 127.0.0.1:PORT` and `signed_path`.
    fn absolute_form(&self, method: &str, absolute: &str, signed_path: &str) -> Wire {
        let mut r = self.sign(method, signed_path, "", &[], b"x");
        r.target = absolute.to_owned();
        self.wire(r)
    }

    /// A signed aws-chunked PUT of 100 bytes in one chunk, then `mutate`
    /// applied to the encoded body. `decoded` overrides
    /// `x-amz-decoded-content-length`.
    fn aws_chunked(&self, path: &str, decoded: Option<&str>, mutate: fn(&mut Vec<u8>)) -> Wire {
        self.aws_chunked_impl(path, Some(decoded.unwrap_or("100")), mutate)
    }

    fn aws_chunked_without_decoded_length(&self, path: &str) -> Wire {
        self.aws_chunked_impl(path, None, |_| {})
    }

    fn aws_chunked_impl(
        &self,
        path: &str,
        decoded: Option<&str>,
        mutate: fn(&mut Vec<u8>),
    ) -> Wire {
        let mut hs = vec![
            ("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
            ("content-encoding", "aws-chunked"),
        ];
        if let Some(d) = decoded {
            hs.push(("x-amz-decoded-content-length", d));
        }
        let mut r = self.sign("PUT", path, "", &hs, b"");
        let get = |n: &str| {
            r.headers
                .iter()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.clone())
                .expect("signed header")
        };
        let amz = get("x-amz-date");
        let seed = get("authorization")
            .rsplit("Signature=")
            .next()
            .expect("signature")
            .to_owned();
        let date = &amz[..8];
        let key = self.s.signing_key(date);
        let scope = format!("{date}/us-east-1/s3/aws4_request");
        let mut prev = seed;
        let mut body = Vec::new();
        for chunk in [&[b'c'; 100][..], &[][..]] {
            let sts = format!(
                "AWS4-HMAC-SHA256-PAYLOAD\n{amz}\n{scope}\n{prev}\n{EMPTY_SHA256}\n{}",
                sha_hex(chunk)
            );
            use hmac::Mac;
            let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).expect("key");
            m.update(sts.as_bytes());
            prev = hex::encode(m.finalize().into_bytes());
            body.extend_from_slice(
                format!("{:x};chunk-signature={prev}\r\n", chunk.len()).as_bytes(),
            );
            body.extend_from_slice(chunk);
            body.extend_from_slice(b"\r\n");
        }
        mutate(&mut body);
        r.body = body;
        self.wire(r)
    }

    /// A STREAMING-UNSIGNED-PAYLOAD-TRAILER PUT of 10 bytes whose trailer
    /// section is `trailer` (lines without their final blank line).
    fn unsigned_trailer(&self, path: &str, trailer: &str) -> Wire {
        let hs = [
            ("x-amz-content-sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER"),
            ("content-encoding", "aws-chunked"),
            ("x-amz-decoded-content-length", "10"),
            ("x-amz-trailer", "x-amz-checksum-crc32"),
        ];
        let body = format!("a\r\n0123456789\r\n0\r\n{trailer}\r\n\r\n");
        self.signed("PUT", path, "", &hs, body.as_bytes())
    }
}

// ------------------------------------------------------------------ wire

#[derive(Debug)]
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    fn code(&self) -> Option<String> {
        let t = self.text();
        let c = t.split("<Code>").nth(1)?.split("</Code>").next()?;
        Some(c.to_owned())
    }
}

/// Writes the case's bytes and reads one answer before the deadline.
fn exchange(addr: std::net::SocketAddr, w: &Wire) -> Result<Resp, String> {
    let mut s = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
    s.set_write_timeout(Some(READ_DEADLINE)).ok();
    // The gateway may answer (and close) before reading everything: a
    // failed write is not the verdict, the answer is.
    let _ = s.write_all(&w.bytes);
    let _ = s.flush();
    let deadline = Instant::now() + READ_DEADLINE;
    let mut buf = Vec::new();
    let mut tmp = [0u8; 16 << 10];
    loop {
        if let Some(r) = parse_response(&buf) {
            return Ok(r);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!(
                "no complete answer within {READ_DEADLINE:?} (a hang); got {:?}",
                String::from_utf8_lossy(&buf)
            ));
        }
        s.set_read_timeout(Some(left)).ok();
        match s.read(&mut tmp) {
            Ok(0) => {
                return parse_response_at_eof(&buf).ok_or_else(|| {
                    format!(
                        "connection closed without a complete answer; got {:?}",
                        String::from_utf8_lossy(&buf)
                    )
                })
            }
            Ok(n) => buf.extend_from_slice(&tmp[..n]),
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                continue
            }
            Err(e) => {
                return parse_response_at_eof(&buf)
                    .ok_or_else(|| format!("read: {e}; got {:?}", String::from_utf8_lossy(&buf)))
            }
        }
    }
}

/// A complete response in `buf` (Content-Length or chunked framing); a
/// `100 Continue` interim answer is skipped.
fn parse_response(buf: &[u8]) -> Option<Resp> {
    let (mut r, rest) = parse_head(buf)?;
    if r.status == 100 {
        return parse_response(rest);
    }
    if let Some(n) = r
        .header("content-length")
        .and_then(|v| v.parse::<usize>().ok())
    {
        if rest.len() < n {
            return None;
        }
        r.body = rest[..n].to_vec();
        return Some(r);
    }
    if r.header("transfer-encoding")
        .is_some_and(|v| v.contains("chunked"))
    {
        let mut body = Vec::new();
        let mut rest = rest;
        loop {
            let i = find(rest, b"\r\n")?;
            let size = usize::from_str_radix(
                std::str::from_utf8(&rest[..i])
                    .ok()?
                    .split(';')
                    .next()?
                    .trim(),
                16,
            )
            .ok()?;
            rest = &rest[i + 2..];
            if size == 0 {
                r.body = body;
                return Some(r);
            }
            if rest.len() < size + 2 {
                return None;
            }
            body.extend_from_slice(&rest[..size]);
            rest = &rest[size + 2..];
        }
    }
    None
}

/// At EOF: a response without framing ends at EOF.
fn parse_response_at_eof(buf: &[u8]) -> Option<Resp> {
    if let Some(r) = parse_response(buf) {
        return Some(r);
    }
    let (mut r, rest) = parse_head(buf)?;
    if r.status == 100 {
        return parse_response_at_eof(rest);
    }
    r.body = rest.to_vec();
    Some(r)
}

fn parse_head(buf: &[u8]) -> Option<(Resp, &[u8])> {
    let end = find(buf, b"\r\n\r\n")?;
    let head = std::str::from_utf8(&buf[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Some((
        Resp {
            status,
            headers,
            body: Vec::new(),
        },
        &buf[end + 4..],
    ))
}

// ------------------------------------------------------------------ setup

fn ok(x: &Ctx, w: Wire, what: &str) -> Resp {
    let r = exchange(x.gw.addr, &w).unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(r.status / 100 == 2, "{what}: {} {}", r.status, r.text());
    r
}

fn listed_keys(x: &Ctx) -> Vec<String> {
    let r = ok(
        x,
        x.signed("GET", "/hostile", "list-type=2", &[], b""),
        "list",
    );
    let t = r.text();
    t.split("<Key>")
        .skip(1)
        .filter_map(|s| s.split("</Key>").next())
        .map(str::to_owned)
        .collect()
}

fn setup() -> Ctx {
    let lite = BucketsLite::start();
    let gw = Gateway::start_with(
        &lite,
        GatewayOptions {
            // Short timeouts, so stalled clients are answered quickly.
            extra_toml: "[limits]\nbody_idle_timeout_ms = 2000\nheader_timeout_ms = 2000\n".into(),
            ..GatewayOptions::default()
        },
    );
    let (amz, date) = amz_date(SystemTime::now());
    let s = RawSigner::new(&gw);
    let mut x = Ctx {
        host: s.host(None),
        s,
        gw,
        _lite: lite,
        amz,
        date,
        upload_id: String::new(),
    };
    ok(
        &x,
        x.signed("PUT", "/hostile", "", &[], b""),
        "create bucket",
    );
    ok(
        &x,
        x.signed("PUT", "/hostile/existing", "", &[], EXISTING_BODY),
        "put existing",
    );
    let r = ok(
        &x,
        x.signed("POST", "/hostile/mpu", "uploads=", &[], b""),
        "create upload",
    );
    x.upload_id = r
        .text()
        .split("<UploadId>")
        .nth(1)
        .and_then(|s| s.split("</UploadId>").next())
        .expect("UploadId")
        .to_owned();
    assert_eq!(listed_keys(&x), vec![EXISTING.to_owned()]);
    x
}

/// Checks one answer against the case; the failure, if any.
fn verdict(case: &Case, r: &Resp) -> Option<String> {
    let (_, status, code, _) = *case;
    let mut bad = Vec::new();
    let status_ok = if status == 0 {
        (400..500).contains(&r.status)
    } else {
        r.status == status
    };
    if !status_ok {
        bad.push(format!(
            "status {} (expected {})",
            r.status,
            if status == 0 {
                "a 4xx".to_owned()
            } else {
                status.to_string()
            }
        ));
    }
    if r.header("x-amz-request-id").is_none_or(str::is_empty) {
        bad.push("no x-amz-request-id".into());
    }
    let text = r.text();
    match r.code() {
        Some(c) if text.contains("<Error>") => {
            if !code.is_empty() && c != code {
                bad.push(format!("code {c} (expected {code})"));
            }
        }
        _ => bad.push(format!("no S3 XML error body: {:?}", truncate(&text))),
    }
    (!bad.is_empty()).then(|| bad.join("; "))
}

/// A key as a path: every byte but the unreserved ones and '/' encoded.
fn aws_encode_path(k: &str) -> String {
    k.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn truncate(s: &str) -> String {
    s.chars().take(200).collect()
}

// ------------------------------------------------------------------ the test

#[test]
fn hostile_requests_get_precise_s3_errors_and_store_nothing() {
    assert!(CASES.len() >= 60, "the suite has {} cases", CASES.len());
    let mut names: Vec<&str> = CASES.iter().map(|c| c.0).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), CASES.len(), "case names are unique");
    for (k, _) in KNOWN_DEFECTS {
        assert!(
            names.contains(k),
            "KNOWN_DEFECTS names a case that does not exist: {k}"
        );
    }

    let x = setup();
    let only = std::env::var("S3GW_HOSTILE_CASE").ok();
    let mut failures = Vec::new();
    let mut ran = 0;
    for case in CASES {
        if only.as_deref().is_some_and(|o| !case.0.contains(o)) {
            continue;
        }
        ran += 1;
        let wire = (case.3)(&x);
        assert!(
            !wire.stall || case.1 == 0 || case.1 / 100 == 4,
            "stalled cases expect a 4xx"
        );
        let known = KNOWN_DEFECTS.iter().find(|k| k.0 == case.0).map(|k| k.1);
        match (exchange(x.gw.addr, &wire), known) {
            (Ok(r), None) => {
                if let Some(why) = verdict(case, &r) {
                    failures.push(format!("{}: {why}", case.0));
                }
            }
            (Ok(r), Some(defect)) => {
                let status_ok = if case.1 == 0 {
                    (400..500).contains(&r.status)
                } else {
                    r.status == case.1
                };
                if !status_ok {
                    failures.push(format!(
                        "{}: status {} (known defect: {defect})",
                        case.0, r.status
                    ));
                } else if verdict(case, &r).is_none() {
                    failures.push(format!(
                        "{}: passes now: remove it from KNOWN_DEFECTS",
                        case.0
                    ));
                } else {
                    println!(
                        "known defect, {}: {} with an empty body ({defect})",
                        case.0, r.status
                    );
                }
            }
            (Err(e), _) => failures.push(format!("{}: {e}", case.0)),
        }
        let panics = s3gw_tests::gateway::panics_in(&x.gw.log_text());
        if !panics.is_empty() {
            failures.push(format!(
                "{}: the gateway panicked: {}",
                case.0,
                panics.join(" | ")
            ));
            break;
        }
        let keys = listed_keys(&x);
        if keys != [EXISTING] {
            failures.push(format!("{}: the bucket now holds {keys:?}", case.0));
            // Put the bucket back so the next case is judged on its own.
            for k in keys.iter().filter(|k| *k != EXISTING) {
                let path = format!("/hostile/{}", aws_encode_path(k));
                ok(&x, x.signed("DELETE", &path, "", &[], b""), "clean up");
            }
        }
    }
    assert!(ran > 0, "no case matched S3GW_HOSTILE_CASE");
    assert!(
        failures.is_empty(),
        "{} of {ran} hostile cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Reads until the gateway closes the connection (or the deadline).
fn read_to_close(s: &mut impl Read) -> Vec<u8> {
    let deadline = Instant::now() + READ_DEADLINE;
    let mut buf = Vec::new();
    let mut tmp = [0u8; 16 << 10];
    while Instant::now() < deadline {
        match s.read(&mut tmp) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&tmp[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    buf
}

/// Splits a stream of answers; `None` while one is incomplete. The answer
/// to HEAD has a Content-Length and no body, so its framing is given.
fn split_answers(mut buf: &[u8], head_first: bool) -> Option<Vec<Resp>> {
    let mut out = Vec::new();
    if head_first {
        let (r, rest) = parse_head(buf)?;
        out.push(r);
        buf = rest;
    }
    while !buf.is_empty() {
        // Content-Length framed (no chunked answers here).
        let r = parse_response(buf)?;
        let (_, rest) = parse_head(buf)?;
        buf = &rest[r.body.len()..];
        out.push(r);
    }
    Some(out)
}

/// An HTTP-layer error after answers of ours on the same keep-alive
/// connection (those requests pipelined in one write): the answers before
/// it arrive byte for byte as they were (a HEAD answer's Content-Length
/// without a body, an object whose CONTENT is exactly the head actix-http
/// writes), and the error is an S3 document with a request id, logged.
#[test]
fn http_layer_error_after_answers_on_one_connection() {
    let x = setup();
    let lookalike: &[u8] = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n";
    ok(
        &x,
        x.signed("PUT", "/hostile/lookalike", "", &[], lookalike),
        "put lookalike",
    );
    // Kept alive (the raw requests ask to close by default).
    let keep = |r: s3gw_tests::raw::RawRequest| {
        let b = r.to_bytes();
        let i = find(&b, b"connection: close\r\n").expect("raw requests close");
        [&b[..i], &b[i + "connection: close\r\n".len()..]].concat()
    };
    let mut s = TcpStream::connect(x.gw.addr).unwrap();
    s.set_read_timeout(Some(READ_DEADLINE)).unwrap();
    // Reads until `n` complete answers (the first to HEAD when `head`).
    let answers = |s: &mut TcpStream, n: usize, head: bool| {
        let deadline = Instant::now() + READ_DEADLINE;
        let (mut got, mut tmp) = (Vec::new(), [0u8; 16 << 10]);
        loop {
            if let Some(a) = split_answers(&got, head).filter(|a| a.len() == n) {
                return a;
            }
            assert!(
                Instant::now() < deadline,
                "{:?}",
                String::from_utf8_lossy(&got)
            );
            let k = s.read(&mut tmp).unwrap();
            assert!(k > 0, "closed early: {:?}", String::from_utf8_lossy(&got));
            got.extend_from_slice(&tmp[..k]);
        }
    };
    // HEAD on its own: actix-http's codec keeps one HEAD flag per
    // connection, set by the last request it DECODED, so a HEAD pipelined
    // with other requests is answered as if it were not a HEAD (and the
    // connection dropped): an actix-http limit, not this wrapper's.
    s.write_all(&keep(x.sign("HEAD", "/hostile/existing", "", &[], b"")))
        .unwrap();
    let h = answers(&mut s, 1, true);
    assert_eq!(h[0].status, 200);
    assert_eq!(
        h[0].header("content-length"),
        Some(EXISTING_BODY.len().to_string().as_str())
    );
    let mut bytes = keep(x.sign("GET", "/hostile/lookalike", "", &[], b""));
    bytes.extend(keep(x.sign("GET", "/hostile/existing", "", &[], b"")));
    s.write_all(&bytes).unwrap();
    let a = answers(&mut s, 2, false);
    assert_eq!((a[0].status, &a[0].body[..]), (200, lookalike));
    assert_eq!((a[1].status, &a[1].body[..]), (200, EXISTING_BODY));
    s.write_all(b"GARBAGE\r\n\r\n").unwrap();
    let rest = read_to_close(&mut s);
    let e = parse_response(&rest)
        .unwrap_or_else(|| panic!("no answer: {:?}", String::from_utf8_lossy(&rest)));
    assert_eq!(e.status, 400);
    assert_eq!(e.code().as_deref(), Some("BadRequest"), "{}", e.text());
    let id = e.header("x-amz-request-id").expect("request id").to_owned();
    assert!(e.text().contains(&format!("<RequestId>{id}</RequestId>")));
    assert_eq!(e.header("connection"), Some("close"));
    let log = x.gw.log_text();
    assert!(
        log.lines()
            .any(|l| l.contains(&id) && l.contains("HTTP layer")),
        "no log line for {id}"
    );
}

/// The same rewrite behind TLS (the wrapper sits on the decrypted stream):
/// an unparseable head and one with too many headers get S3 error
/// documents.
#[test]
fn http_layer_errors_over_tls_are_s3_errors() {
    use rustls::pki_types::pem::PemObject;
    use std::sync::Arc;
    let certs = tempfile::tempdir().unwrap();
    let (cert, key, pem) = s3gw_tests::gateway::wildcard_cert(certs.path(), "s3.test");
    let lite = BucketsLite::start();
    let gw = Gateway::start_with(
        &lite,
        GatewayOptions {
            tls: Some((cert, key)),
            ..GatewayOptions::default()
        },
    );
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls::pki_types::CertificateDer::pem_slice_iter(pem.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    );
    for (request, code) in [
        ("GARBAGE\r\n\r\n".to_owned(), "BadRequest"),
        (
            format!(
                "GET /x HTTP/1.1\r\nHost: s3.test\r\n{}\r\n",
                (0..200)
                    .map(|i| format!("X-H{i}: v\r\n"))
                    .collect::<String>()
            ),
            "RequestHeaderSectionTooLarge",
        ),
    ] {
        let name = rustls::pki_types::ServerName::try_from("s3.test").unwrap();
        let conn = rustls::ClientConnection::new(config.clone(), name).unwrap();
        let tcp = TcpStream::connect(gw.addr).unwrap();
        tcp.set_read_timeout(Some(READ_DEADLINE)).unwrap();
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        let _ = tls.write_all(request.as_bytes());
        let got = read_to_close(&mut tls);
        let r = parse_response(&got)
            .unwrap_or_else(|| panic!("no answer: {:?}", String::from_utf8_lossy(&got)));
        assert_eq!(r.status, 400, "{}", r.text());
        assert_eq!(r.code().as_deref(), Some(code), "{}", r.text());
        assert!(r.header("x-amz-request-id").is_some_and(|v| !v.is_empty()));
    }
}
