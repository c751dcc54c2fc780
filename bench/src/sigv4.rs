//! AWS Signature Version 4 for S3, as a client signs it.
//!
//! Written here (hmac + sha2) rather than taken from the gateway so that the
//! bench is an independent client: a signing bug shared by both sides would
//! otherwise pass unnoticed. The steps follow the AWS "Signature Version 4
//! signing process" and "Signature Calculations for the Authorization Header:
//! Transferring Payload in Multiple Chunks (Chunked Upload)" documents, and the
//! tests at the bottom replay their worked examples block by block.

use hmac::{Hmac, Mac};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::{Digest, Sha256};
use time::{macros::format_description, OffsetDateTime};

type HmacSha256 = Hmac<Sha256>;

/// `x-amz-content-sha256` value when the payload is not signed.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
/// `x-amz-content-sha256` value of aws-chunked uploads with per-chunk signatures.
pub const STREAMING_PAYLOAD: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD";
/// Hex SHA-256 of the empty string (the "previous payload" line of chunk signatures,
/// and the payload hash of bodiless requests).
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// URI encoding per the SigV4 spec: every byte except the RFC 3986 unreserved
/// characters `A-Z a-z 0-9 - _ . ~` is `%XX` (upper-case hex).
const URI_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Encodes a query name or value (and a key segment) the SigV4 way.
pub fn uri_encode(s: &str) -> String {
    utf8_percent_encode(s, URI_ENCODE).to_string()
}

/// Encodes an object key for an S3 path: like [`uri_encode`] but `/` stays, as
/// the spec says for the canonical URI of S3 ("do not encode the slashes").
pub fn encode_key_path(key: &str) -> String {
    key.split('/').map(uri_encode).collect::<Vec<_>>().join("/")
}

/// `x-amz-date` (`YYYYMMDD'T'HHMMSS'Z'`) for a UTC instant.
pub fn amz_date(t: OffsetDateTime) -> String {
    t.format(format_description!(
        "[year][month][day]T[hour][minute][second]Z"
    ))
    .expect("formatting a UTC date cannot fail")
}

/// Hex SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// Access key id, secret and region of one S3 identity.
#[derive(Clone)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret: String,
    pub region: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret never reaches a log.
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

/// What a request needs signed: everything the canonical request is made of.
pub struct RequestToSign<'a> {
    pub method: &'a str,
    /// The path as sent on the wire, already URI-encoded (S3 signs it as is).
    pub encoded_path: &'a str,
    /// Decoded query parameters; encoded and sorted here.
    pub query: &'a [(&'a str, &'a str)],
    /// Headers to sign (names any case; every one listed is signed).
    pub headers: &'a [(&'a str, &'a str)],
    /// The `x-amz-content-sha256` value (hex digest or one of the constants).
    pub payload_hash: &'a str,
}

/// The result of signing: the header value and what chunk signatures chain from.
#[derive(Debug, Clone)]
pub struct Signed {
    pub authorization: String,
    /// Hex seed signature (the first "previous signature" of aws-chunked).
    pub signature: String,
    pub(crate) signing_key: [u8; 32],
    pub(crate) amz_date: String,
    pub(crate) scope: String,
}

/// Canonical query string: names and values URI-encoded, sorted by name then value.
pub fn canonical_query(query: &[(&str, &str)]) -> String {
    let mut pairs: Vec<(String, String)> = query
        .iter()
        .map(|(k, v)| (uri_encode(k), uri_encode(v)))
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// Canonical request (spec: "Task 1: Create a canonical request").
pub fn canonical_request(req: &RequestToSign<'_>) -> (String, String) {
    // CanonicalHeaders: lower-case names, trimmed values, sorted by name, each
    // followed by '\n'; SignedHeaders: the same names joined by ';'.
    let mut headers: Vec<(String, String)> = req
        .headers
        .iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    headers.sort();
    let canonical_headers: String = headers.iter().map(|(n, v)| format!("{n}:{v}\n")).collect();
    let signed_headers = headers
        .iter()
        .map(|(n, _)| n.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let creq = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        req.method,
        req.encoded_path,
        canonical_query(req.query),
        canonical_headers,
        signed_headers,
        req.payload_hash
    );
    (creq, signed_headers)
}

/// Signing key: `HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), "s3"), "aws4_request")`.
pub fn signing_key(secret: &str, date: &str, region: &str) -> [u8; 32] {
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, b"s3");
    hmac(&k_service, b"aws4_request")
}

/// Signs a request at `amz_date` (`YYYYMMDDTHHMMSSZ`).
pub fn sign(creds: &Credentials, amz_date: &str, req: &RequestToSign<'_>) -> Signed {
    let date = &amz_date[..8];
    let scope = format!("{date}/{}/s3/aws4_request", creds.region);
    let (creq, signed_headers) = canonical_request(req);
    // Task 2: string to sign.
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        sha256_hex(creq.as_bytes())
    );
    // Task 3: signature.
    let key = signing_key(&creds.secret, date, &creds.region);
    let signature = hex::encode(hmac(&key, string_to_sign.as_bytes()));
    Signed {
        authorization: format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
            creds.access_key_id
        ),
        signature,
        signing_key: key,
        amz_date: amz_date.to_string(),
        scope,
    }
}

/// Chains chunk signatures of an aws-chunked body from a seed signature.
pub struct ChunkSigner {
    key: [u8; 32],
    amz_date: String,
    scope: String,
    previous: String,
}

impl ChunkSigner {
    pub fn new(seed: &Signed) -> Self {
        ChunkSigner {
            key: seed.signing_key,
            amz_date: seed.amz_date.clone(),
            scope: seed.scope.clone(),
            previous: seed.signature.clone(),
        }
    }

    /// Signature of the next chunk (the last one is the empty chunk):
    /// `AWS4-HMAC-SHA256-PAYLOAD \n date \n scope \n previous \n hash("") \n hash(chunk)`.
    pub fn next(&mut self, chunk: &[u8]) -> String {
        let sts = format!(
            "AWS4-HMAC-SHA256-PAYLOAD\n{}\n{}\n{}\n{EMPTY_SHA256}\n{}",
            self.amz_date,
            self.scope,
            self.previous,
            sha256_hex(chunk)
        );
        self.previous = hex::encode(hmac(&self.key, sts.as_bytes()));
        self.previous.clone()
    }
}

/// Length of one framed chunk: `hex(size);chunk-signature=<64 hex>\r\n<data>\r\n`.
pub fn framed_chunk_len(size: u64) -> u64 {
    let hex_len = format!("{size:x}").len() as u64;
    hex_len + ";chunk-signature=".len() as u64 + 64 + 2 + size + 2
}

/// Total encoded length of an aws-chunked body of `decoded` bytes in `chunk`-byte
/// chunks, final empty chunk included (the request's `Content-Length`).
pub fn chunked_encoded_len(decoded: u64, chunk: u64) -> u64 {
    let full = decoded / chunk;
    let rest = decoded % chunk;
    let mut len = full * framed_chunk_len(chunk) + framed_chunk_len(0);
    if rest > 0 {
        len += framed_chunk_len(rest);
    }
    len
}

/// Frames one chunk with its signature.
pub fn frame_chunk(data: &[u8], signature: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 90);
    out.extend_from_slice(format!("{:x};chunk-signature={signature}\r\n", data.len()).as_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example_creds() -> Credentials {
        Credentials {
            access_key_id: "AKIAIOSFODNN7EXAMPLE".into(),
            secret: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
            region: "us-east-1".into(),
        }
    }

    /// AWS S3 API reference, "Example: GET Object" (header-based auth).
    #[test]
    fn get_object_example() {
        let headers = [
            ("Host", "examplebucket.s3.amazonaws.com"),
            ("Range", "bytes=0-9"),
            ("x-amz-content-sha256", EMPTY_SHA256),
            ("x-amz-date", "20130524T000000Z"),
        ];
        let req = RequestToSign {
            method: "GET",
            encoded_path: "/test.txt",
            query: &[],
            headers: &headers,
            payload_hash: EMPTY_SHA256,
        };
        let (creq, signed) = canonical_request(&req);
        assert_eq!(
            creq,
            "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n\
             x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n\
             x-amz-date:20130524T000000Z\n\nhost;range;x-amz-content-sha256;x-amz-date\n\
             e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(signed, "host;range;x-amz-content-sha256;x-amz-date");
        assert_eq!(
            sha256_hex(creq.as_bytes()),
            "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972"
        );
        let s = sign(&example_creds(), "20130524T000000Z", &req);
        assert_eq!(
            s.signature,
            "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
        assert!(s.authorization.starts_with(
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, \
             SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8"
        ));
    }

    /// AWS S3 API reference, "Example: GET Bucket Lifecycle" / list with a query.
    #[test]
    fn list_objects_example_query() {
        let headers = [
            ("Host", "examplebucket.s3.amazonaws.com"),
            ("x-amz-content-sha256", EMPTY_SHA256),
            ("x-amz-date", "20130524T000000Z"),
        ];
        let req = RequestToSign {
            method: "GET",
            encoded_path: "/",
            query: &[("prefix", "J"), ("max-keys", "2")],
            headers: &headers,
            payload_hash: EMPTY_SHA256,
        };
        assert_eq!(canonical_query(req.query), "max-keys=2&prefix=J");
        let s = sign(&example_creds(), "20130524T000000Z", &req);
        assert_eq!(
            s.signature,
            "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"
        );
    }

    /// AWS "Transferring Payload in Multiple Chunks" worked example: 66,560 bytes
    /// of 'a' in a 64 KiB chunk, a 1 KiB chunk and the final empty chunk.
    #[test]
    fn chunked_upload_example() {
        let headers = [
            ("Host", "s3.amazonaws.com"),
            ("x-amz-date", "20130524T000000Z"),
            ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
            ("x-amz-content-sha256", STREAMING_PAYLOAD),
            ("Content-Encoding", "aws-chunked"),
            ("x-amz-decoded-content-length", "66560"),
            ("Content-Length", "66824"),
        ];
        let req = RequestToSign {
            method: "PUT",
            encoded_path: "/examplebucket/chunkObject.txt",
            query: &[],
            headers: &headers,
            payload_hash: STREAMING_PAYLOAD,
        };
        let seed = sign(&example_creds(), "20130524T000000Z", &req);
        assert_eq!(
            seed.signature,
            "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
        );
        let mut chunks = ChunkSigner::new(&seed);
        assert_eq!(
            chunks.next(&[b'a'; 65536]),
            "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648"
        );
        assert_eq!(
            chunks.next(&[b'a'; 1024]),
            "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497"
        );
        assert_eq!(
            chunks.next(&[]),
            "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9"
        );
        assert_eq!(chunked_encoded_len(66560, 65536), 66824);
    }

    #[test]
    fn key_encoding_keeps_slashes_only() {
        assert_eq!(
            encode_key_path("a b/ü+%&=?#"),
            "a%20b/%C3%BC%2B%25%26%3D%3F%23"
        );
        assert_eq!(uri_encode("a/b~c"), "a%2Fb~c");
    }
}
