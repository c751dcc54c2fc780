//! Request integrity end to end (issue 15's defects, issue 11's auth
//! details): a real `s3gw` in front of a real buckets-lite, raw signed
//! requests over sockets (sign first, tamper after: [`s3gw_tests::raw`]).
//! Every refusal is checked for its status, S3 code, XML body and request
//! id, and for what did NOT happen (no object written, no bucket created).
//!
//! Needs the binaries: `cargo build --workspace --bins` first.

use std::io::Write;
use std::time::{Duration, SystemTime};

use s3gw_tests::buckets_lite::BucketsLite;
use s3gw_tests::gateway::{Gateway, GatewayOptions};
use s3gw_tests::raw::{self, RawSigner};

struct Env {
    gw: Gateway,
    s: RawSigner,
    _lite: BucketsLite,
}

fn start_with(extra_toml: &str) -> Env {
    let lite = BucketsLite::start();
    let gw = Gateway::start_with(
        &lite,
        GatewayOptions {
            extra_toml: extra_toml.to_owned(),
            ..GatewayOptions::default()
        },
    );
    let s = RawSigner::new(&gw);
    Env { gw, s, _lite: lite }
}

fn start() -> Env {
    start_with("")
}

impl Env {
    fn path_host(&self) -> String {
        self.s.host(None)
    }
    fn create_bucket(&self, b: &str) {
        let r = self.s.send(
            &self
                .s
                .v4("PUT", &self.path_host(), &format!("/{b}"), &[], &[], b""),
        );
        assert_eq!(r.status, 200, "create {b}: {}", r.text());
    }
    fn put(&self, b: &str, key_path: &str, body: &[u8]) {
        let r = self.s.send(&self.s.v4(
            "PUT",
            &self.path_host(),
            &format!("/{b}/{key_path}"),
            &[],
            &[],
            body,
        ));
        assert_eq!(r.status, 200, "put {b}/{key_path}: {}", r.text());
    }
    /// HEAD status of a path-style resource.
    fn head(&self, path: &str) -> u16 {
        self.s
            .send(&self.s.v4("HEAD", &self.path_host(), path, &[], &[], b""))
            .status
    }
    /// ListObjectsV2 of a bucket: the keys.
    fn keys(&self, b: &str) -> Vec<String> {
        let r = self.s.send(&self.s.v4(
            "GET",
            &self.path_host(),
            &format!("/{b}"),
            &[("list-type", "2")],
            &[],
            b"",
        ));
        assert_eq!(r.status, 200, "{}", r.text());
        r.text()
            .split("<Key>")
            .skip(1)
            .filter_map(|s| s.split("</Key>").next())
            .map(str::to_owned)
            .collect()
    }
    /// The gateway is alive and has logged no panic.
    fn assert_healthy(&self) {
        let r = self
            .s
            .send(&self.s.v4("GET", &self.path_host(), "/", &[], &[], b""));
        assert_eq!(r.status, 200, "the gateway still answers: {}", r.text());
        let log = self.gw.log_text();
        assert!(!log.contains("panicked"), "a panic in the log:\n{log}");
    }
}

/// Defect 1: the host used for addressing is the signed `Host`. An
/// absolute-form target naming another authority is 400, for virtual-host
/// and path-style requests, SigV4 and SigV2; nothing is written anywhere.
#[test]
fn absolute_form_target_must_match_the_signed_host() {
    let env = start();
    let port = env.gw.addr.port();
    env.create_bucket("sec-a");
    env.create_bucket("sec-b");
    let a_host = env.s.host(Some("sec-a"));

    // SigV4, virtual-host: signed for sec-a, aimed at sec-b.
    let mut r = env.s.v4("PUT", &a_host, "/newbkt1", &[], &[], b"evil");
    r.target = format!("http://sec-b.s3.test:{port}/newbkt1");
    env.s.send(&r).assert_s3_error(400, "InvalidRequest");
    // Aimed at the bare domain: would have been CreateBucket "newbkt1".
    r.target = format!("http://s3.test:{port}/newbkt1");
    env.s.send(&r).assert_s3_error(400, "InvalidRequest");
    // SigV4, path-style: signed for 127.0.0.1 /sec-a/k2, the authority
    // names bucket sec-b (would have been key "sec-a/k2" in sec-b).
    let mut r = env
        .s
        .v4("PUT", &env.path_host(), "/sec-a/k2", &[], &[], b"evil");
    r.target = format!("http://sec-b.s3.test:{port}/sec-a/k2");
    env.s.send(&r).assert_s3_error(400, "InvalidRequest");

    // SigV2, both styles.
    let mut r = env.s.v2("PUT", &a_host, "/k3", "/sec-a/k3", &[], b"evil");
    r.target = format!("http://sec-b.s3.test:{port}/k3");
    env.s.send(&r).assert_s3_error(400, "InvalidRequest");
    let mut r = env.s.v2(
        "PUT",
        &env.path_host(),
        "/sec-a/k4",
        "/sec-a/k4",
        &[],
        b"evil",
    );
    r.target = format!("http://sec-b.s3.test:{port}/sec-a/k4");
    env.s.send(&r).assert_s3_error(400, "InvalidRequest");

    assert!(env.keys("sec-a").is_empty(), "{:?}", env.keys("sec-a"));
    assert!(env.keys("sec-b").is_empty(), "{:?}", env.keys("sec-b"));
    assert_eq!(env.head("/newbkt1"), 404, "no bucket newbkt1 was created");

    // The same authority in absolute form is an ordinary request.
    let mut r = env.s.v4("PUT", &a_host, "/ok", &[], &[], b"fine");
    r.target = format!("http://sec-a.s3.test:{port}/ok");
    assert_eq!(env.s.send(&r).status, 200);
    let mut r = env.s.v2("PUT", &a_host, "/ok2", "/sec-a/ok2", &[], b"fine");
    r.target = format!("http://SEC-A.s3.test:{port}/ok2");
    assert_eq!(env.s.send(&r).status, 200);
    assert_eq!(env.keys("sec-a"), ["ok", "ok2"]);
    env.assert_healthy();
}

/// Defects 2 and 6: sub-resources and `+` are decoded once, with the same
/// rules, for the signature and the router. A SigV2 ListObjects signature
/// cannot be turned into ListMultipartUploads with `?%75ploads`, a
/// presigned GET cannot gain `%72esponse-content-type`, a DELETE cannot
/// gain an upload id; a SigV4 `+` is the space the router lists.
#[test]
fn encoded_sub_resources_and_plus_are_decoded_once() {
    let env = start();
    env.create_bucket("sec-q");
    env.put("sec-q", "a%20b", b"spaced");
    env.put("sec-q", "a%2Bb", b"plussed");
    let host = env.path_host();

    // SigV2 ListObjects, replayed with an encoded sub-resource.
    let list = env.s.v2("GET", &host, "/sec-q/", "/sec-q/", &[], b"");
    assert_eq!(env.s.send(&list).status, 200);
    for extra in ["%75ploads", "%61cl", "%76ersioning"] {
        let mut r = list.clone();
        r.target = format!("/sec-q/?{extra}");
        env.s.send(&r).assert_s3_error(403, "SignatureDoesNotMatch");
    }
    // Signed with the decoded name, the encoded spelling is that operation.
    let uploads = env.s.v2(
        "GET",
        &host,
        "/sec-q/?%75ploads",
        "/sec-q/?uploads",
        &[],
        b"",
    );
    let r = env.s.send(&uploads);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        r.text().contains("ListMultipartUploadsResult"),
        "{}",
        r.text()
    );

    // A SigV2 presigned GET cannot gain an override.
    let expires = (SystemTime::now() + Duration::from_secs(600))
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    let get = env
        .s
        .v2_presigned("GET", &host, "/sec-q/a%20b", "/sec-q/a%20b", &expires);
    let r = env.s.send(&get);
    assert_eq!((r.status, r.text().as_str()), (200, "spaced"));
    let mut r = get.clone();
    r.target.push_str("&%72esponse-content-type=text%2Fhtml");
    env.s.send(&r).assert_s3_error(403, "SignatureDoesNotMatch");

    // A SigV2 DELETE cannot gain an upload id.
    let mut del = env
        .s
        .v2("DELETE", &host, "/sec-q/a%20b", "/sec-q/a%20b", &[], b"");
    del.target.push_str("?%75ploadId=abc");
    env.s
        .send(&del)
        .assert_s3_error(403, "SignatureDoesNotMatch");
    assert_eq!(env.head("/sec-q/a%20b"), 200, "not deleted");

    // SigV4: a client that signed `prefix=a%20b` may send `prefix=a+b`: the
    // router lists the same prefix the signature covered (the space).
    let mut r = env.s.v4(
        "GET",
        &host,
        "/sec-q",
        &[("list-type", "2"), ("prefix", "a b")],
        &[],
        b"",
    );
    r.target = r.target.replace("a%20b", "a+b");
    let resp = env.s.send(&r);
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert!(resp.text().contains("<Key>a b</Key>"), "{}", resp.text());
    assert!(!resp.text().contains("<Key>a+b</Key>"), "{}", resp.text());
    // And one that signed a plus cannot have it read as a space.
    let mut r = env.s.v4(
        "GET",
        &host,
        "/sec-q",
        &[("list-type", "2"), ("prefix", "a+b")],
        &[],
        b"",
    );
    assert!(r.target.contains("a%2Bb"));
    let resp = env.s.send(&r);
    assert!(resp.text().contains("<Key>a+b</Key>"), "{}", resp.text());
    r.target = r.target.replace("a%2Bb", "a+b");
    env.s.send(&r).assert_s3_error(403, "SignatureDoesNotMatch");
    env.assert_healthy();
}

/// Defect 3 and issue 11's SigV2 dates: an overflowing `Expires` and a
/// `Date` before 1970 are 403 AccessDenied (no panic); a valid but skewed
/// date is RequestTimeTooSkewed.
#[test]
fn sigv2_unusable_times_are_access_denied() {
    let env = start();
    env.create_bucket("sec-t");
    env.put("sec-t", "k", b"x");
    let host = env.path_host();
    for expires in [
        "18446744073709551615",
        "99999999999999999999",
        "253402300800",
    ] {
        let r = env
            .s
            .v2_presigned("GET", &host, "/sec-t/k", "/sec-t/k", expires);
        env.s.send(&r).assert_s3_error(403, "AccessDenied");
    }
    for date in [
        "Thu, 01 Jan 1960 00:00:00 GMT",
        "Wed, 31 Dec 1969 23:59:59 +0000",
        "garbage",
    ] {
        let r = env
            .s
            .v2_dated("GET", &host, "/sec-t/k", "/sec-t/k", &[], b"", date);
        env.s.send(&r).assert_s3_error(403, "AccessDenied");
    }
    let r = env.s.v2_dated(
        "GET",
        &host,
        "/sec-t/k",
        "/sec-t/k",
        &[],
        b"",
        "Sun, 06 Nov 1994 08:49:37 GMT",
    );
    env.s.send(&r).assert_s3_error(403, "RequestTimeTooSkewed");
    env.assert_healthy();
}

/// Issue 11: SigV4's request time is `x-amz-date`; an unsigned `Date`
/// header (valid and far off, empty, garbage) changes nothing.
#[test]
fn sigv4_ignores_an_unsigned_date_header() {
    let env = start();
    env.create_bucket("sec-d");
    for date in ["Sun, 06 Nov 1994 08:49:37 GMT", "", "garbage"] {
        let mut r = env
            .s
            .v4("PUT", &env.path_host(), "/sec-d/k", &[], &[], b"dated");
        r.set_header("date", date);
        let resp = env.s.send(&r);
        assert_eq!(resp.status, 200, "Date {date:?}: {}", resp.text());
    }
    env.assert_healthy();
}

/// Defect 4 and issue 11's names: `.` and `..` (however encoded) are
/// refused with a clear 400 and never reach the native bucket or list
/// URL; a NUL in a key is InvalidURI.
#[test]
fn dot_keys_and_nul_keys_are_refused() {
    let env = start();
    env.create_bucket("sec-k");
    env.put("sec-k", "keep", b"keep");
    let host = env.path_host();
    for path in ["/sec-k/.", "/sec-k/..", "/sec-k/%2E", "/sec-k/%2e%2E"] {
        for method in ["PUT", "DELETE", "GET"] {
            let r = env.s.v4(method, &host, path, &[], &[], b"");
            env.s.send(&r).assert_s3_error(400, "InvalidArgument");
        }
    }
    // Virtual-host style and SigV2 too.
    let vh = env.s.host(Some("sec-k"));
    let r = env.s.v4("DELETE", &vh, "/..", &[], &[], b"");
    env.s.send(&r).assert_s3_error(400, "InvalidArgument");
    let r = env
        .s
        .v2("DELETE", &host, "/sec-k/..", "/sec-k/..", &[], b"");
    env.s.send(&r).assert_s3_error(400, "InvalidArgument");
    assert_eq!(env.keys("sec-k"), ["keep"], "the bucket is untouched");
    assert_eq!(env.head("/sec-k"), 200);
    // Keys that merely contain dots are ordinary.
    env.put("sec-k", "...", b"3");
    env.put("sec-k", "a/..", b"4");
    assert_eq!(env.keys("sec-k"), ["...", "a/..", "keep"]);

    for path in ["/sec-k/a%00b", "/sec-k/%00"] {
        let r = env.s.v4("PUT", &host, path, &[], &[], b"nul");
        let resp = env.s.send(&r);
        resp.assert_s3_error(400, "InvalidURI");
        assert!(
            resp.text()
                .contains("Couldn&apos;t parse the specified URI.")
                || resp.text().contains("Couldn't parse the specified URI.")
        );
    }
    env.assert_healthy();
}

/// Defect 7: a control character in a `response-*` override is 400
/// InvalidArgument with an S3 error document (it was a plain-text 500).
#[test]
fn response_override_control_characters_are_invalid_argument() {
    let env = start();
    env.create_bucket("sec-r");
    env.put("sec-r", "k", b"body");
    let host = env.path_host();
    for (name, value) in [
        ("response-content-type", "text/plain\r\nx-evil: 1"),
        ("response-content-disposition", "a\u{0}b"),
        ("response-cache-control", "\u{7f}"),
    ] {
        let r = env
            .s
            .v4("GET", &host, "/sec-r/k", &[(name, value)], &[], b"");
        env.s.send(&r).assert_s3_error(400, "InvalidArgument");
    }
    let r = env.s.v4(
        "GET",
        &host,
        "/sec-r/k",
        &[("response-content-type", "text/x-fine")],
        &[],
        b"",
    );
    let resp = env.s.send(&r);
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("content-type"), Some("text/x-fine"));
    env.assert_healthy();
}

/// Defect 10: an aws-chunked upload without `x-amz-decoded-content-length`
/// is 411 MissingContentLength, and nothing is stored.
#[test]
fn streaming_upload_without_decoded_length_is_411() {
    let env = start();
    env.create_bucket("sec-s");
    let r = env.s.v4(
        "PUT",
        &env.path_host(),
        "/sec-s/k",
        &[],
        &[
            ("content-encoding", "aws-chunked"),
            ("x-amz-content-sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER"),
        ],
        b"3\r\nabc\r\n0\r\n\r\n",
    );
    env.s.send(&r).assert_s3_error(411, "MissingContentLength");
    assert_eq!(env.head("/sec-s/k"), 404);
    env.assert_healthy();
}

/// Defect 5: a body that stops arriving fails with 400 RequestTimeout
/// after the configured idle time (here 1 s), the upload is aborted and
/// nothing is stored; a request head that stops arriving is answered as
/// S3 does, 400 RequestTimeout with an S3 error document (the HTTP layer's
/// own 408, rewritten by gateway/src/http_layer.rs), and the connection
/// closed. The test only waits for the gateway's
/// answer (bounded by the raw deadline), never sleeps.
///
/// Its durations are humantime strings (issue 14), and a started gateway
/// honours one: with `max_clock_skew = "2m"` a request dated 3 minutes ago
/// is RequestTimeTooSkewed (the default, 15 minutes, would accept it) and
/// one dated 30 s ago is served.
#[test]
fn slow_bodies_and_slow_headers_time_out() {
    let env = start_with(
        "[auth]\nmax_clock_skew = \"2m\"\n\
         [limits]\nbody_idle_timeout = \"1s\"\nheader_timeout = \"1000ms\"\n",
    );
    env.create_bucket("sec-slow");
    let host = env.path_host();
    let dated = |ago: u64| {
        let date = httpdate::fmt_http_date(SystemTime::now() - Duration::from_secs(ago));
        env.s
            .v2_dated("GET", &host, "/sec-slow", "/sec-slow", &[], b"", &date)
    };
    env.s
        .send(&dated(180))
        .assert_s3_error(403, "RequestTimeTooSkewed");
    assert_eq!(env.s.send(&dated(30)).status, 200);
    let mut r = env.s.v4(
        "PUT",
        &env.path_host(),
        "/sec-slow/k",
        &[],
        &[("x-amz-content-sha256", "UNSIGNED-PAYLOAD")],
        b"",
    );
    r.set_header("content-length", "1000");
    let mut c = raw::connect(env.gw.addr);
    c.write_all(&r.to_bytes()).unwrap();
    c.write_all(b"only 20 of 1000 b...").unwrap();
    let resp = raw::read_response(&mut c).expect("an answer, not a hang");
    resp.assert_s3_error(400, "RequestTimeout");
    assert_eq!(env.head("/sec-slow/k"), 404, "nothing stored");

    // A slow request head: the first line and half a header, then nothing.
    let mut c = raw::connect(env.gw.addr);
    c.write_all(b"GET /sec-slow HTTP/1.1\r\nHost: 127.0.0.1\r\nx-half")
        .unwrap();
    let resp = raw::read_response(&mut c).expect("an answer, not a hang");
    resp.assert_s3_error(400, "RequestTimeout");
    env.assert_healthy();
}

/// Reads until the server closes the connection; everything it wrote.
fn read_until_close(c: &mut std::net::TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    match std::io::Read::read_to_end(c, &mut out) {
        Ok(_) => out,
        // A reset after the close is a close too.
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => out,
        Err(e) => panic!("the gateway neither wrote nor closed: {e} ({out:?})"),
    }
}

/// Wirerace: the gateway writes nothing on a connection that carries no
/// request. A connection that never sends a byte (a client's spare pooled
/// connection) is closed when `header_timeout` passes, with no answer:
/// an unsolicited `408`/`400 RequestTimeout` there reaches an HTTP client
/// as bytes with no request pending (hyper: `UnexpectedMessage`, seen by
/// aws-sdk-s3 UploadPart under load; Go logs "Unsolicited response
/// received on idle HTTP channel"). A keep-alive connection idle after its
/// answer is closed at `keep_alive` with nothing after the answer. A
/// head that began and stopped still gets its 400 RequestTimeout
/// (`slow_bodies_and_slow_headers_time_out`). The test waits for the
/// close (bounded by the raw deadline), never sleeps.
#[test]
fn idle_connections_are_closed_without_unsolicited_bytes() {
    let env = start_with("[limits]\nheader_timeout = \"1s\"\nkeep_alive = \"1s\"\n");
    env.create_bucket("sec-idle");

    let mut c = raw::connect(env.gw.addr);
    let written = read_until_close(&mut c);
    assert!(
        written.is_empty(),
        "nothing written on a connection without a request: {}",
        String::from_utf8_lossy(&written)
    );

    let r = env
        .s
        .v4("GET", &env.path_host(), "/sec-idle", &[], &[], b"");
    // The raw helpers ask for `connection: close`; this one keeps alive.
    let keep_alive = String::from_utf8(r.to_bytes())
        .unwrap()
        .replace("connection: close\r\n", "");
    let mut c = raw::connect(env.gw.addr);
    c.write_all(keep_alive.as_bytes()).unwrap();
    let resp = raw::read_response(&mut c).expect("an answer");
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.header("connection"), None, "kept alive");
    let written = read_until_close(&mut c);
    assert!(
        written.is_empty(),
        "nothing written after the answer on an idle keep-alive connection: {}",
        String::from_utf8_lossy(&written)
    );
    env.assert_healthy();
}

/// Defect 11 / issue 11: `Expect: 100-continue` is answered only after the
/// request is authenticated. A bad signature, an unknown key, a bad bucket
/// name, a missing bucket, a `.` key or a streaming upload without its
/// decoded length gets
/// its final 4xx S3 error (with a request id) INSTEAD of `100 Continue`,
/// without the client ever sending the body; a good request gets `100
/// Continue`, sends its body and is stored.
#[test]
fn expect_100_continue_only_after_authentication() {
    let env = start();
    env.create_bucket("sec-e");
    let host = env.path_host();
    let expect = |mut r: raw::RawRequest, len: usize| {
        r.set_header("expect", "100-continue");
        r.set_header("content-length", &len.to_string());
        let mut bytes = r.to_bytes();
        bytes.truncate(bytes.len() - r.body.len());
        bytes
    };

    let good = env.s.v4("PUT", &host, "/sec-e/k", &[], &[], b"payload");
    let mut bad_sig = good.clone();
    bad_sig.target = "/sec-e/other".into();
    let mut unknown_key = env.s.clone();
    unknown_key.key.access_key_id = "AKIAUNKNOWNUNKNOWN00".into();
    let unknown = unknown_key.v4("PUT", &host, "/sec-e/k", &[], &[], b"payload");
    let bad_bucket = env
        .s
        .v4("PUT", &host, "/Bad_Bucket/k", &[], &[], b"payload");
    let no_bucket = env
        .s
        .v4("PUT", &host, "/sec-missing/k", &[], &[], b"payload");
    let dot = env.s.v4("PUT", &host, "/sec-e/..", &[], &[], b"payload");
    let streaming = env.s.v4(
        "PUT",
        &host,
        "/sec-e/s",
        &[],
        &[
            ("content-encoding", "aws-chunked"),
            ("x-amz-content-sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER"),
        ],
        b"3\r\nabc\r\n0\r\n\r\n",
    );
    for (what, r, status, code) in [
        ("bad signature", bad_sig, 403, "SignatureDoesNotMatch"),
        ("unknown key", unknown, 403, "InvalidAccessKeyId"),
        ("bad bucket", bad_bucket, 400, "InvalidBucketName"),
        ("no such bucket", no_bucket, 404, "NoSuchBucket"),
        ("dot key", dot, 400, "InvalidArgument"),
        ("no decoded length", streaming, 411, "MissingContentLength"),
    ] {
        let len = r.body.len();
        let mut c = raw::connect(env.gw.addr);
        c.write_all(&expect(r, len)).unwrap();
        let (resp, _) = raw::read_first_answer(&mut c).expect("an answer without the body");
        assert_ne!(
            resp.status, 100,
            "{what}: 100 Continue before authentication"
        );
        resp.assert_s3_error(status, code);
    }
    assert_eq!(env.keys("sec-e"), Vec::<String>::new());

    // The good request: 100 Continue first, then the body, then 200.
    let mut c = raw::connect(env.gw.addr);
    c.write_all(&expect(good.clone(), good.body.len())).unwrap();
    let (interim, rest) = raw::read_first_answer(&mut c).expect("an answer");
    assert_eq!(interim.status, 100, "{interim:?}");
    c.write_all(&good.body).unwrap();
    let done = raw::read_response_after(&mut c, rest).expect("the final answer");
    assert_eq!(done.status, 200, "{}", done.text());
    assert_eq!(env.keys("sec-e"), ["k"]);
    env.assert_healthy();
}
