//! Whole-request tests of the checks around the signatures: a raw signer
//! builds requests the way clients do, the clock is pinned.

use super::test_support::{headers, SECRET};
use super::*;
use crate::error::S3ErrorCode;

/// 2013-05-24T00:00:00Z, the AWS examples' timestamp.
fn t2013() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_369_353_600)
}

/// 2007-03-27T19:36:42Z, the SigV2 examples' timestamp.
fn t2007() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_175_024_202)
}

struct Req {
    method: &'static str,
    path: String,
    query: crate::router::Query,
    headers: HeaderMap,
    vhost: Option<&'static str>,
}

impl Req {
    fn parts(&self) -> RequestParts<'_> {
        RequestParts {
            method: self.method,
            raw_path: &self.path,
            query: &self.query,
            headers: &self.headers,
            vhost_bucket: self.vhost,
        }
    }
}

/// Signs like an SDK: the given headers (plus host, x-amz-date and
/// x-amz-content-sha256), `signed` naming what is signed.
fn v4_request(
    method: &'static str,
    path: &str,
    query: &str,
    extra: &[(&str, &str)],
    signed: &str,
    scope_date: &str,
    region: &str,
) -> Req {
    let mut pairs = vec![
        ("host", "examplebucket.s3.amazonaws.com"),
        ("x-amz-date", "20130524T000000Z"),
        ("x-amz-content-sha256", sigv4::EMPTY_SHA256),
    ];
    pairs.retain(|(n, _)| !extra.iter().any(|(e, _)| e == n));
    pairs.extend_from_slice(extra);
    let mut h = headers(&pairs);
    let sh = sigv4::parse_signed_headers(signed).unwrap();
    let cr = CanonicalRequest {
        method,
        canonical_uri: path,
        canonical_query: &sigv4::canonical_query(&query.into(), None),
        headers: &h,
        signed_headers: &sh,
        payload_hash: h.get("x-amz-content-sha256").unwrap().to_str().unwrap(),
    }
    .build();
    let scope = format!("{scope_date}/{region}/s3/aws4_request");
    let date = AmzDate::parse("20130524T000000Z").unwrap();
    let key = sigv4::derive_signing_key(SECRET.as_bytes(), scope_date, region, "s3");
    let sig = hex::encode(key.sign(&sigv4::string_to_sign(&date, &scope, &cr)));
    let auth = format!("AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/{scope},SignedHeaders={signed},Signature={sig}");
    h.insert(
        actix_web::http::header::AUTHORIZATION,
        auth.parse().unwrap(),
    );
    Req {
        method,
        path: path.to_owned(),
        query: query.into(),
        headers: h,
        vhost: Some("examplebucket"),
    }
}

fn simple_v4() -> Req {
    v4_request(
        "GET",
        "/test.txt",
        "",
        &[("range", "bytes=0-9")],
        "host;range;x-amz-content-sha256;x-amz-date",
        "20130524",
        "us-east-1",
    )
}

fn check(req: &Req, cfg: &AuthConfig, now: SystemTime) -> Result<PayloadMode, S3Error> {
    let claim = Claim::parse(&req.parts(), cfg, now)?.expect("a signed request");
    assert_eq!(claim.access_key_id(), "AKIAIOSFODNN7EXAMPLE");
    claim.verify(&req.parts(), SECRET.as_bytes(), cfg)
}

fn code(r: Result<PayloadMode, S3Error>) -> S3ErrorCode {
    r.expect_err("must be refused").code
}

#[test]
fn v4_header_accepted_and_matches_the_documented_signature() {
    let req = simple_v4();
    let auth = req.headers.get("authorization").unwrap().to_str().unwrap();
    assert!(auth
        .ends_with("Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"));
    let mode = check(
        &req,
        &AuthConfig::default(),
        t2013() + Duration::from_secs(60),
    )
    .unwrap();
    assert!(matches!(mode, PayloadMode::Sha256(h) if hex::encode(h) == sigv4::EMPTY_SHA256));
}

#[test]
fn v4_clock_skew_beyond_15_minutes_is_request_time_too_skewed() {
    let req = simple_v4();
    let cfg = AuthConfig::default();
    assert!(check(&req, &cfg, t2013() + Duration::from_secs(14 * 60)).is_ok());
    let e = check(&req, &cfg, t2013() + Duration::from_secs(16 * 60)).unwrap_err();
    assert_eq!(e.code, S3ErrorCode::RequestTimeTooSkewed);
    assert!(e
        .extra
        .iter()
        .any(|(n, v)| *n == "RequestTime" && v == "20130524T000000Z"));
    assert_eq!(
        code(check(&req, &cfg, t2013() - Duration::from_secs(16 * 60))),
        S3ErrorCode::RequestTimeTooSkewed
    );
}

#[test]
fn v4_scope_date_must_equal_the_request_date() {
    let req = v4_request(
        "GET",
        "/test.txt",
        "",
        &[],
        "host;x-amz-content-sha256;x-amz-date",
        "20130523",
        "us-east-1",
    );
    assert_eq!(
        code(check(&req, &AuthConfig::default(), t2013())),
        S3ErrorCode::AuthorizationHeaderMalformed
    );
}

#[test]
fn v4_every_x_amz_header_and_host_must_be_signed() {
    let req = v4_request(
        "PUT",
        "/k",
        "",
        &[("x-amz-meta-color", "blue")],
        "host;x-amz-content-sha256;x-amz-date",
        "20130524",
        "us-east-1",
    );
    let e = check(&req, &AuthConfig::default(), t2013()).unwrap_err();
    assert_eq!(e.code, S3ErrorCode::AccessDenied);
    assert_eq!(
        e.extra,
        [("HeadersNotSigned", "x-amz-meta-color".to_owned())]
    );

    let req = v4_request(
        "GET",
        "/k",
        "",
        &[],
        "x-amz-content-sha256;x-amz-date",
        "20130524",
        "us-east-1",
    );
    assert_eq!(
        code(check(&req, &AuthConfig::default(), t2013())),
        S3ErrorCode::AuthorizationHeaderMalformed
    );
}

#[test]
fn v4_region_any_unless_configured_and_service_s3() {
    let req = v4_request(
        "GET",
        "/k",
        "",
        &[],
        "host;x-amz-content-sha256;x-amz-date",
        "20130524",
        "eu-west-3",
    );
    assert!(check(&req, &AuthConfig::default(), t2013()).is_ok());
    let cfg = AuthConfig {
        region: Some("us-east-1".into()),
        ..AuthConfig::default()
    };
    assert_eq!(
        code(check(&req, &cfg, t2013())),
        S3ErrorCode::AuthorizationHeaderMalformed
    );

    let mut req = simple_v4();
    let auth = req
        .headers
        .get("authorization")
        .unwrap()
        .to_str()
        .unwrap()
        .replace("/s3/", "/iam/");
    req.headers.insert(
        actix_web::http::header::AUTHORIZATION,
        auth.parse().unwrap(),
    );
    assert_eq!(
        code(check(&req, &AuthConfig::default(), t2013())),
        S3ErrorCode::AuthorizationHeaderMalformed
    );
}

#[test]
fn v4_tampering_is_signature_does_not_match_with_debug_extras_only_when_on() {
    let mut req = simple_v4();
    req.headers.insert(
        actix_web::http::header::RANGE,
        "bytes=0-10".parse().unwrap(),
    );
    let e = check(&req, &AuthConfig::default(), t2013()).unwrap_err();
    assert_eq!(e.code, S3ErrorCode::SignatureDoesNotMatch);
    assert!(e.extra.is_empty());
    let cfg = AuthConfig {
        debug_signatures: true,
        ..AuthConfig::default()
    };
    let e = check(&req, &cfg, t2013()).unwrap_err();
    let names: Vec<&str> = e.extra.iter().map(|(n, _)| *n).collect();
    assert!(
        names.contains(&"StringToSign") && names.contains(&"CanonicalRequest"),
        "{names:?}"
    );
    let cr = &e
        .extra
        .iter()
        .find(|(n, _)| *n == "CanonicalRequest")
        .unwrap()
        .1;
    assert!(cr.contains("range:bytes=0-10"));
    // A different path: also refused.
    let mut req = simple_v4();
    req.path = "/test.txu".into();
    assert_eq!(
        code(check(&req, &AuthConfig::default(), t2013())),
        S3ErrorCode::SignatureDoesNotMatch
    );
}

#[test]
fn v4_raw_path_is_signed_and_a_reencoded_path_is_also_accepted() {
    // A key with a space and a slash, signed as SDKs send it.
    let req = v4_request(
        "GET",
        "/a%20b/c%2Bd",
        "",
        &[],
        "host;x-amz-content-sha256;x-amz-date",
        "20130524",
        "us-east-1",
    );
    assert!(check(&req, &AuthConfig::default(), t2013()).is_ok());
    // A client that sends '$' raw but signs it encoded.
    let mut req = v4_request(
        "GET",
        "/k%24",
        "",
        &[],
        "host;x-amz-content-sha256;x-amz-date",
        "20130524",
        "us-east-1",
    );
    req.path = "/k$".into();
    assert!(check(&req, &AuthConfig::default(), t2013()).is_ok());
}

#[test]
fn v4_payload_modes() {
    for (value, want) in [
        (sigv4::UNSIGNED_PAYLOAD, "unsigned"),
        (sigv4::STREAMING_SIGNED, "signed"),
        (sigv4::STREAMING_SIGNED_TRAILER, "signed-trailer"),
        (sigv4::STREAMING_UNSIGNED_TRAILER, "unsigned-trailer"),
    ] {
        let req = v4_request(
            "PUT",
            "/k",
            "",
            &[("x-amz-content-sha256", value)],
            "host;x-amz-content-sha256;x-amz-date",
            "20130524",
            "us-east-1",
        );
        let got = match check(&req, &AuthConfig::default(), t2013()).unwrap() {
            PayloadMode::Unsigned => "unsigned",
            PayloadMode::StreamingSigned { trailer: false, .. } => "signed",
            PayloadMode::StreamingSigned { trailer: true, .. } => "signed-trailer",
            PayloadMode::StreamingUnsignedTrailer => "unsigned-trailer",
            PayloadMode::Sha256(_) => "sha256",
        };
        assert_eq!(got, want);
    }
    let mut req = simple_v4();
    req.headers.insert(
        actix_web::http::header::HeaderName::from_static("x-amz-content-sha256"),
        "nonsense".parse().unwrap(),
    );
    assert_eq!(
        code(check(&req, &AuthConfig::default(), t2013())),
        S3ErrorCode::InvalidArgument
    );
    req.headers.remove("x-amz-content-sha256");
    assert_eq!(
        code(check(&req, &AuthConfig::default(), t2013())),
        S3ErrorCode::InvalidRequest
    );
}

const PRESIGNED: &str = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404";

fn presigned(query: &str) -> Req {
    Req {
        method: "GET",
        path: "/test.txt".into(),
        query: query.into(),
        headers: headers(&[("host", "examplebucket.s3.amazonaws.com")]),
        vhost: Some("examplebucket"),
    }
}

#[test]
fn v4_presigned_documented_example_and_expiry() {
    let req = presigned(PRESIGNED);
    let cfg = AuthConfig::default();
    let mode = check(&req, &cfg, t2013() + Duration::from_secs(3600)).unwrap();
    assert!(matches!(mode, PayloadMode::Unsigned));
    let claim = Claim::parse(&req.parts(), &cfg, t2013()).unwrap().unwrap();
    assert_eq!(claim.method(), AuthMethod::V4Presigned);

    let e = check(&req, &cfg, t2013() + Duration::from_secs(86_401)).unwrap_err();
    assert_eq!(e.code, S3ErrorCode::AccessDenied);
    assert_eq!(e.message, "Request has expired");

    let too_long = PRESIGNED.replace("X-Amz-Expires=86400", "X-Amz-Expires=604801");
    assert_eq!(
        code(check(&presigned(&too_long), &cfg, t2013())),
        S3ErrorCode::AuthorizationQueryParametersError
    );
    let short = AuthConfig {
        max_presign_lifetime: Duration::from_secs(3600),
        ..AuthConfig::default()
    };
    assert_eq!(
        code(check(&req, &short, t2013())),
        S3ErrorCode::AuthorizationQueryParametersError
    );

    let missing = PRESIGNED.replace("&X-Amz-Expires=86400", "");
    assert_eq!(
        code(check(&presigned(&missing), &cfg, t2013())),
        S3ErrorCode::AuthorizationQueryParametersError
    );

    let tampered = PRESIGNED.replace("aeeed9bb", "aeeed9bc");
    assert_eq!(
        code(check(&presigned(&tampered), &cfg, t2013())),
        S3ErrorCode::SignatureDoesNotMatch
    );

    // An unsigned x-amz-* header is refused on presigned requests too.
    let mut req = presigned(PRESIGNED);
    req.headers.insert(
        actix_web::http::header::HeaderName::from_static("x-amz-checksum-crc32"),
        "AAAAAA==".parse().unwrap(),
    );
    assert_eq!(code(check(&req, &cfg, t2013())), S3ErrorCode::AccessDenied);

    // Not valid before its date (beyond the skew).
    assert_eq!(
        code(check(
            &presigned(PRESIGNED),
            &cfg,
            t2013() - Duration::from_secs(3600)
        )),
        S3ErrorCode::AccessDenied
    );
}

#[test]
fn anonymous_and_mixed_and_unknown_schemes() {
    let cfg = AuthConfig::default();
    let anon = Req {
        method: "GET",
        path: "/b/k".into(),
        query: "versionId=1".into(),
        headers: headers(&[("host", "s3.example.com")]),
        vhost: None,
    };
    assert!(Claim::parse(&anon.parts(), &cfg, t2013())
        .unwrap()
        .is_none());

    let mut both = presigned(PRESIGNED);
    both.headers.insert(
        actix_web::http::header::AUTHORIZATION,
        "AWS a:b".parse().unwrap(),
    );
    assert_eq!(
        Claim::parse(&both.parts(), &cfg, t2013()).unwrap_err().code,
        S3ErrorCode::InvalidArgument
    );

    let mut odd = presigned("");
    odd.headers.insert(
        actix_web::http::header::AUTHORIZATION,
        "Bearer xyz".parse().unwrap(),
    );
    assert_eq!(
        Claim::parse(&odd.parts(), &cfg, t2013()).unwrap_err().code,
        S3ErrorCode::InvalidArgument
    );

    let mut v4a = presigned("");
    v4a.headers.insert(
        actix_web::http::header::AUTHORIZATION,
        "AWS4-ECDSA-P256-SHA256 Credential=x".parse().unwrap(),
    );
    assert_eq!(
        Claim::parse(&v4a.parts(), &cfg, t2013()).unwrap_err().code,
        S3ErrorCode::InvalidRequest
    );
}

fn v2_request(
    method: &'static str,
    path: &str,
    query: &str,
    pairs: &[(&str, &str)],
    vhost: Option<&'static str>,
    sig: &str,
) -> Req {
    let mut h = headers(pairs);
    h.insert(
        actix_web::http::header::AUTHORIZATION,
        format!("AWS AKIAIOSFODNN7EXAMPLE:{sig}").parse().unwrap(),
    );
    Req {
        method,
        path: path.into(),
        query: query.into(),
        headers: h,
        vhost,
    }
}

fn v2_sign(sts: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(sigv2::sign(SECRET.as_bytes(), sts))
}

#[test]
fn v2_header_documented_example_skew_and_switch() {
    let pairs = [
        ("host", "johnsmith.s3.amazonaws.com"),
        ("date", "Tue, 27 Mar 2007 19:36:42 +0000"),
    ];
    let req = v2_request(
        "GET",
        "/photos/puppy.jpg",
        "",
        &pairs,
        Some("johnsmith"),
        "bWq2s1WEIj+Ydj0vQ697zp+IXMU=",
    );
    let cfg = AuthConfig::default();
    assert!(matches!(
        check(&req, &cfg, t2007()),
        Ok(PayloadMode::Unsigned)
    ));
    assert_eq!(
        Claim::parse(&req.parts(), &cfg, t2007())
            .unwrap()
            .unwrap()
            .method(),
        AuthMethod::V2Header
    );

    // Skewed: RequestTimeTooSkewed, not SignatureDoesNotMatch.
    assert_eq!(
        code(check(&req, &cfg, t2007() + Duration::from_secs(3600))),
        S3ErrorCode::RequestTimeTooSkewed
    );
    // Path-style form of the same object is a different resource.
    let wrong = v2_request(
        "GET",
        "/photos/puppy.jpg",
        "",
        &pairs,
        None,
        "bWq2s1WEIj+Ydj0vQ697zp+IXMU=",
    );
    assert_eq!(
        code(check(&wrong, &cfg, t2007())),
        S3ErrorCode::SignatureDoesNotMatch
    );
    let off = AuthConfig {
        sigv2_enabled: false,
        ..AuthConfig::default()
    };
    assert_eq!(
        Claim::parse(&req.parts(), &off, t2007()).unwrap_err().code,
        S3ErrorCode::InvalidRequest
    );
    // No date at all.
    let nodate = v2_request(
        "GET",
        "/photos/puppy.jpg",
        "",
        &pairs[..1],
        Some("johnsmith"),
        "x",
    );
    assert_eq!(
        Claim::parse(&nodate.parts(), &cfg, t2007())
            .unwrap_err()
            .code,
        S3ErrorCode::AccessDenied
    );
}

#[test]
fn v2_x_amz_date_rule_and_amz_headers() {
    // s3cmd style: x-amz-date signed as an amz header, empty Date line.
    let sts = "PUT\n\ntext/plain\n\nx-amz-date:Tue, 27 Mar 2007 19:36:42 +0000\nx-amz-meta-a:b c\n/bucket/key";
    let pairs = [
        ("content-type", "text/plain"),
        ("x-amz-date", "Tue, 27 Mar 2007 19:36:42 +0000"),
        ("x-amz-meta-a", "  b   c "),
    ];
    let req = v2_request("PUT", "/bucket/key", "", &pairs, None, &v2_sign(sts));
    assert!(check(&req, &AuthConfig::default(), t2007()).is_ok());
}

#[test]
fn v2_boto3_bucket_slash_quirk_accepted_both_ways() {
    let pairs = [("date", "Tue, 27 Mar 2007 19:36:42 +0000")];
    let signed_with_slash = v2_sign("GET\n\n\nTue, 27 Mar 2007 19:36:42 +0000\n/bucket/?acl");
    let req = v2_request("GET", "/bucket", "acl", &pairs, None, &signed_with_slash);
    assert!(check(&req, &AuthConfig::default(), t2007()).is_ok());
    let signed_without = v2_sign("GET\n\n\nTue, 27 Mar 2007 19:36:42 +0000\n/bucket");
    let req = v2_request("GET", "/bucket/", "", &pairs, None, &signed_without);
    assert!(check(&req, &AuthConfig::default(), t2007()).is_ok());
    // Only for the bucket itself, not for objects.
    let signed = v2_sign("GET\n\n\nTue, 27 Mar 2007 19:36:42 +0000\n/bucket/key/");
    let req = v2_request("GET", "/bucket/key", "", &pairs, None, &signed);
    assert_eq!(
        code(check(&req, &AuthConfig::default(), t2007())),
        S3ErrorCode::SignatureDoesNotMatch
    );
}

#[test]
fn v2_query_documented_example_and_expiry() {
    let req = Req {
        method: "GET",
        path: "/photos/puppy.jpg".into(),
        query: "AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Signature=NpgCjnDzrM%2BWFzoENXmpNDUsSn8%3D&Expires=1175139620".into(),
        headers: headers(&[("host", "johnsmith.s3.amazonaws.com")]),
        vhost: Some("johnsmith"),
    };
    let cfg = AuthConfig::default();
    assert!(check(&req, &cfg, t2007()).is_ok());
    assert_eq!(
        Claim::parse(&req.parts(), &cfg, t2007())
            .unwrap()
            .unwrap()
            .method(),
        AuthMethod::V2Query
    );
    let after = SystemTime::UNIX_EPOCH + Duration::from_secs(1_175_139_621);
    let e = check(&req, &cfg, after).unwrap_err();
    assert_eq!(
        (e.code, e.message.as_str()),
        (S3ErrorCode::AccessDenied, "Request has expired")
    );
}

#[test]
fn unsigned_payload_mode_for_anonymous_and_sigv2() {
    assert!(matches!(
        unsigned_payload_mode(&headers(&[])),
        Ok(PayloadMode::Unsigned)
    ));
    assert!(matches!(
        unsigned_payload_mode(&headers(&[(
            "x-amz-content-sha256",
            sigv4::STREAMING_UNSIGNED_TRAILER
        )])),
        Ok(PayloadMode::StreamingUnsignedTrailer)
    ));
    assert!(matches!(
        unsigned_payload_mode(&headers(&[("x-amz-content-sha256", sigv4::EMPTY_SHA256)])),
        Ok(PayloadMode::Sha256(_))
    ));
    assert_eq!(
        unsigned_payload_mode(&headers(&[(
            "x-amz-content-sha256",
            sigv4::STREAMING_SIGNED
        )]))
        .unwrap_err()
        .code,
        S3ErrorCode::InvalidRequest
    );
}

/// `authenticate` against a real key cache fed from a keys file.
mod with_key_cache {
    use super::*;
    use s3gw_auth_cache::{FileSourceConfig, KeyCache, KeySourceConfig, LdapConfig};

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    const KEYS: &str = r#"
[[keys]]
access_key_id = "AKIAIOSFODNN7EXAMPLE"
secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
account_login = "dev"
account_uuid = "930896af-bf8c-48d4-885c-6573a94b1853"

[[keys]]
access_key_id = "AKIASUBUSEREXAMPLE01"
secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
account_login = "dev"
account_uuid = "930896af-bf8c-48d4-885c-6573a94b1853"
subuser_login = "builder"
subuser_uuid = "1e8a4d7c-4b5f-4f1e-9a57-2f0f6f1d2a11"
"#;

    /// A started file-backed cache, once it answers for the known key
    /// (polled with a deadline, no sleeps as synchronisation).
    async fn cache(dir: &tempfile::TempDir) -> KeyCache {
        let path = dir.path().join("keys.toml");
        std::fs::write(&path, KEYS).unwrap();
        let keys = KeyCache::start(KeySourceConfig::File(FileSourceConfig::new(path)))
            .await
            .unwrap();
        let id = "AKIAIOSFODNN7EXAMPLE".parse().unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !matches!(keys.lookup(&id).await, Ok(Some(_))) {
            assert!(
                std::time::Instant::now() < deadline,
                "keys file never loaded"
            );
            tokio::task::yield_now().await;
        }
        keys
    }

    fn with_key(req: &mut Req, id: &str) {
        let auth = req.headers.get("authorization").unwrap().to_str().unwrap();
        let auth = auth.replace("AKIAIOSFODNN7EXAMPLE", id);
        req.headers.insert(
            actix_web::http::header::AUTHORIZATION,
            auth.parse().unwrap(),
        );
    }

    #[test]
    fn known_unknown_malformed_and_subuser_keys() {
        let dir = tempfile::tempdir().unwrap();
        rt().block_on(async {
            let keys = cache(&dir).await;
            let cfg = AuthConfig::default();
            let now = t2013();

            let req = simple_v4();
            match authenticate(&req.parts(), &keys, &cfg, now).await.unwrap() {
                Identity::Authenticated(a) => {
                    assert_eq!(a.credential.account.login, "dev");
                    assert_eq!(a.method, AuthMethod::V4Header);
                }
                Identity::Anonymous => panic!("signed request taken as anonymous"),
            }

            let mut unknown = simple_v4();
            with_key(&mut unknown, "AKIAUNKNOWNEXAMPLE00");
            let e = authenticate(&unknown.parts(), &keys, &cfg, now)
                .await
                .unwrap_err();
            assert_eq!(e.code, S3ErrorCode::InvalidAccessKeyId);

            let mut malformed = simple_v4();
            with_key(&mut malformed, "short");
            let e = authenticate(&malformed.parts(), &keys, &cfg, now)
                .await
                .unwrap_err();
            assert_eq!(e.code, S3ErrorCode::InvalidAccessKeyId);

            // A sub-user's key, correctly signed (same secret): refused
            // unless allowed.
            let mut sub = v4_request(
                "GET",
                "/test.txt",
                "",
                &[("range", "bytes=0-9")],
                "host;range;x-amz-content-sha256;x-amz-date",
                "20130524",
                "us-east-1",
            );
            let sig_req = sub
                .headers
                .get("authorization")
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned();
            // Re-sign: the access key id is not part of the string to sign.
            sub.headers.insert(
                actix_web::http::header::AUTHORIZATION,
                sig_req
                    .replace("AKIAIOSFODNN7EXAMPLE", "AKIASUBUSEREXAMPLE01")
                    .parse()
                    .unwrap(),
            );
            let e = authenticate(&sub.parts(), &keys, &cfg, now)
                .await
                .unwrap_err();
            assert_eq!(e.code, S3ErrorCode::AccessDenied);
            let allow = AuthConfig {
                allow_subuser_keys: true,
                ..AuthConfig::default()
            };
            assert!(matches!(
                authenticate(&sub.parts(), &keys, &allow, now).await,
                Ok(Identity::Authenticated(_))
            ));

            let anon = presigned("");
            assert!(matches!(
                authenticate(&anon.parts(), &keys, &cfg, now).await,
                Ok(Identity::Anonymous)
            ));
            keys.shutdown().await;
        });
    }

    /// A directory that cannot be reached, for a key not cached: 503.
    #[test]
    fn unreachable_directory_is_service_unavailable() {
        rt().block_on(async {
            // A port nothing listens on (bound, then closed).
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let mut ldap = LdapConfig::new(
                format!("ldap://127.0.0.1:{port}"),
                "cn=s3gw,o=smartdc",
                "secret",
            );
            ldap.connect_timeout = Duration::from_secs(2);
            ldap.operation_timeout = Duration::from_secs(2);
            let keys = KeyCache::start(KeySourceConfig::Ldap(ldap)).await.unwrap();
            let e = authenticate(&simple_v4().parts(), &keys, &AuthConfig::default(), t2013())
                .await
                .unwrap_err();
            assert_eq!(e.code, S3ErrorCode::ServiceUnavailable);
            assert_eq!(e.status(), 503);
            keys.shutdown().await;
        });
    }
}

/// A request carrying a given `Authorization` header.
fn with_authorization(
    method: &'static str,
    path: &str,
    query: &str,
    pairs: &[(&str, &str)],
    auth: &str,
) -> Req {
    let mut h = headers(pairs);
    h.insert(
        actix_web::http::header::AUTHORIZATION,
        auth.parse().unwrap(),
    );
    Req {
        method,
        path: path.into(),
        query: query.into(),
        headers: h,
        vhost: Some("examplebucket"),
    }
}

/// "Signature Calculations for the Authorization Header", example "PUT
/// Object": the URI-encoding vector. The client signs `/test%24file.text`;
/// it may send the path encoded or with a literal `$`: both verify, and
/// the documented signature is exactly what the gateway computes.
#[test]
fn known_answer_put_object_test_dollar_file() {
    let pairs = [
        ("host", "examplebucket.s3.amazonaws.com"),
        ("date", "Fri, 24 May 2013 00:00:00 GMT"),
        ("x-amz-date", "20130524T000000Z"),
        ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
        (
            "x-amz-content-sha256",
            "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072",
        ),
    ];
    let auth = "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class,Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd";
    let cfg = AuthConfig::default();
    for path in ["/test%24file.text", "/test$file.text"] {
        let req = with_authorization("PUT", path, "", &pairs, auth);
        assert!(
            matches!(check(&req, &cfg, t2013()), Ok(PayloadMode::Sha256(_))),
            "{path}"
        );
    }
    // The string to sign, as the page prints it.
    let h = headers(&pairs);
    let sh = sigv4::parse_signed_headers(
        "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
    )
    .unwrap();
    let cr = CanonicalRequest {
        method: "PUT",
        canonical_uri: "/test%24file.text",
        canonical_query: "",
        headers: &h,
        signed_headers: &sh,
        payload_hash: "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072",
    }
    .build();
    let sts = sigv4::string_to_sign(
        &AmzDate::parse("20130524T000000Z").unwrap(),
        "20130524/us-east-1/s3/aws4_request",
        &cr,
    );
    assert!(sts.ends_with("9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d"));
    // A different key (`test%2524file.text`) is a different resource.
    let req = with_authorization("PUT", "/test%2524file.text", "", &pairs, auth);
    assert_eq!(
        code(check(&req, &cfg, t2013())),
        S3ErrorCode::SignatureDoesNotMatch
    );
}

/// Same page, example "GET Bucket Lifecycle": `?lifecycle` canonicalises to
/// `lifecycle=`.
#[test]
fn known_answer_get_bucket_lifecycle() {
    let pairs = [
        ("host", "examplebucket.s3.amazonaws.com"),
        ("x-amz-date", "20130524T000000Z"),
        ("x-amz-content-sha256", sigv4::EMPTY_SHA256),
    ];
    let auth = "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;x-amz-content-sha256;x-amz-date,Signature=fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543";
    let cfg = AuthConfig::default();
    for query in ["lifecycle", "lifecycle="] {
        let req = with_authorization("GET", "/", query, &pairs, auth);
        assert!(check(&req, &cfg, t2013()).is_ok(), "{query}");
    }
    // Another sub-resource under the same signature is refused.
    let req = with_authorization("GET", "/", "policy", &pairs, auth);
    assert_eq!(
        code(check(&req, &cfg, t2013())),
        S3ErrorCode::SignatureDoesNotMatch
    );
}

/// `Expires=18446744073709551615` (and anything past year 9999) is an
/// unusable date: 403, never a panic in `UNIX_EPOCH + secs`.
#[test]
fn v2_query_expires_overflow_is_access_denied() {
    let cfg = AuthConfig::default();
    for expires in [
        "18446744073709551615",
        "18446744073709551616",
        "253402300800",
        "-1",
        "1e9",
    ] {
        let req = Req {
            method: "GET",
            path: "/photos/puppy.jpg".into(),
            query: format!("AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Signature=x&Expires={expires}")
                .into(),
            headers: headers(&[("host", "johnsmith.s3.amazonaws.com")]),
            vhost: Some("johnsmith"),
        };
        let e = Claim::parse(&req.parts(), &cfg, t2007()).unwrap_err();
        assert_eq!(e.code, S3ErrorCode::AccessDenied, "{expires}");
    }
}

/// SigV2: a `Date` before 1970 or otherwise unusable is 403 AccessDenied; a
/// valid but skewed one is RequestTimeTooSkewed.
#[test]
fn v2_dates_before_1970_or_unusable_are_access_denied() {
    let cfg = AuthConfig::default();
    for date in [
        "Tue, 27 Mar 1956 19:36:42 +0000",
        "Thu, 01 Jan 1900 00:00:00 GMT",
        "",
        "not a date",
        "Tue, 27 Mar 2007 25:36:42 +0000",
    ] {
        let req = v2_request("GET", "/b/k", "", &[("date", date)], None, "x");
        assert_eq!(
            Claim::parse(&req.parts(), &cfg, t2007()).unwrap_err().code,
            S3ErrorCode::AccessDenied,
            "{date:?}"
        );
    }
    let req = v2_request(
        "GET",
        "/b/k",
        "",
        &[("date", "Tue, 27 Mar 1990 19:36:42 +0000")],
        None,
        "x",
    );
    assert_eq!(
        Claim::parse(&req.parts(), &cfg, t2007()).unwrap_err().code,
        S3ErrorCode::RequestTimeTooSkewed
    );
}

/// SigV4: `x-amz-date` is the request time; a `Date` header that is not
/// signed (valid and far off, empty, or garbage) changes nothing.
#[test]
fn v4_unsigned_date_header_is_ignored() {
    let cfg = AuthConfig::default();
    for date in ["Tue, 27 Mar 2007 19:36:42 GMT", "", "garbage"] {
        let mut req = simple_v4();
        req.headers.insert(
            actix_web::http::header::DATE,
            actix_web::http::header::HeaderValue::from_str(date).unwrap(),
        );
        assert!(check(&req, &cfg, t2013()).is_ok(), "{date:?}");
    }
}

/// SigV2: a sub-resource spelled with percent-escapes is the sub-resource
/// the router acts on, so a signature made without it does not cover it
/// (a ListObjects link cannot become ListMultipartUploads, a presigned GET
/// cannot gain a response-* override, a DELETE cannot gain an uploadId).
#[test]
fn v2_encoded_sub_resources_are_covered_by_the_signature() {
    let cfg = AuthConfig::default();
    let pairs = [("date", "Tue, 27 Mar 2007 19:36:42 +0000")];
    let list = v2_sign("GET\n\n\nTue, 27 Mar 2007 19:36:42 +0000\n/bucket/");
    let ok = v2_request("GET", "/bucket/", "", &pairs, None, &list);
    assert!(check(&ok, &cfg, t2007()).is_ok());
    for query in [
        "%75ploads",
        "%61cl",
        "%72esponse-content-type=text/html",
        "%75ploadId=abc",
    ] {
        let req = v2_request("GET", "/bucket/", query, &pairs, None, &list);
        assert_eq!(
            code(check(&req, &cfg, t2007())),
            S3ErrorCode::SignatureDoesNotMatch,
            "{query}"
        );
        let route = crate::router::Query::parse(query);
        assert!(
            ["uploads", "acl", "response-content-type", "uploadId"]
                .iter()
                .any(|n| route.has(n)),
            "the router sees the decoded name of {query}"
        );
    }
    // Signed with the decoded name, the encoded spelling verifies.
    let uploads = v2_sign("GET\n\n\nTue, 27 Mar 2007 19:36:42 +0000\n/bucket/?uploads");
    let req = v2_request("GET", "/bucket/", "%75ploads", &pairs, None, &uploads);
    assert!(check(&req, &cfg, t2007()).is_ok());
}

/// `+` in a query is one thing for the signer and the router: a space. A
/// client that signed `%20` may send `+`; one that signed a plus (`%2B`)
/// cannot have it read as a space.
#[test]
fn plus_in_query_means_the_same_to_signer_and_router() {
    let cfg = AuthConfig::default();
    let req = v4_request(
        "GET",
        "/",
        "prefix=a%20b",
        &[],
        "host;x-amz-content-sha256;x-amz-date",
        "20130524",
        "us-east-1",
    );
    let mut plus = v4_request(
        "GET",
        "/",
        "prefix=a%20b",
        &[],
        "host;x-amz-content-sha256;x-amz-date",
        "20130524",
        "us-east-1",
    );
    plus.query = "prefix=a+b".into();
    assert!(check(&req, &cfg, t2013()).is_ok());
    assert!(check(&plus, &cfg, t2013()).is_ok());
    assert_eq!(
        crate::router::Query::parse("prefix=a+b").get("prefix"),
        Some("a b")
    );
    let mut literal = req;
    literal.query = "prefix=a%2Bb".into();
    assert_eq!(
        code(check(&literal, &cfg, t2013())),
        S3ErrorCode::SignatureDoesNotMatch
    );
    assert_eq!(
        crate::router::Query::parse("prefix=a%2Bb").get("prefix"),
        Some("a+b")
    );
}
