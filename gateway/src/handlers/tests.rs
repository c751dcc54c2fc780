use super::*;
use super::{list::*, object::*};
use actix_web::http::header::{HeaderName, HeaderValue};

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    h
}

#[test]
fn ranges_as_s3_reads_them() {
    assert_eq!(parse_range("bytes=0-9"), Some(ByteRange::FromTo(0, 9)));
    assert_eq!(parse_range("bytes=10-"), Some(ByteRange::From(10)));
    assert_eq!(parse_range("bytes=-5"), Some(ByteRange::Suffix(5)));
    // several ranges, garbage, reversed: ignored (whole object served)
    assert_eq!(parse_range("bytes=0-1,5-6"), None);
    assert_eq!(parse_range("bytes=x-1"), None);
    assert_eq!(parse_range("bytes=9-1"), None);
    assert_eq!(parse_range("items=0-1"), None);
}

#[test]
fn conditions_parse_lists_star_and_dates() {
    let h = headers(&[
        ("if-match", "\"abc\", \"def\""),
        ("if-none-match", "*"),
        ("if-modified-since", "Sun, 06 Nov 1994 08:49:37 GMT"),
        ("if-unmodified-since", "not a date"),
    ]);
    let c = read_conditions(&h, "").unwrap();
    assert_eq!(
        c.if_match,
        Some(vec![
            ETagMatch::Tag(ETag::from_client("abc")),
            ETagMatch::Tag(ETag::from_client("def"))
        ])
    );
    assert_eq!(c.if_none_match, Some(vec![ETagMatch::Any]));
    assert_eq!(
        c.if_modified_since,
        Some(SystemTime::UNIX_EPOCH + Duration::from_secs(784111777))
    );
    assert_eq!(c.if_unmodified_since, None);
    let h = headers(&[("x-amz-copy-source-if-match", "\"abc\"")]);
    let c = read_conditions(&h, "x-amz-copy-source-").unwrap();
    assert_eq!(
        c.if_match,
        Some(vec![ETagMatch::Tag(ETag::from_client("abc"))])
    );
}

#[test]
fn write_conditions() {
    assert_eq!(
        write_condition(&headers(&[("if-none-match", "*")])).unwrap(),
        WriteCondition::IfNoneMatchAny
    );
    assert_eq!(
        write_condition(&headers(&[("if-match", "\"abc\"")])).unwrap(),
        WriteCondition::IfMatch(ETag::from_client("abc"))
    );
    assert_eq!(
        write_condition(&HeaderMap::new()).unwrap(),
        WriteCondition::None
    );
    assert_eq!(
        write_condition(&headers(&[("if-none-match", "\"abc\"")])).unwrap(),
        WriteCondition::IfNoneMatch(ETag::from_client("abc"))
    );
    assert_eq!(
        write_condition(&headers(&[("if-match", "*")])).unwrap(),
        WriteCondition::IfMatchAny
    );
    let e = write_condition(&headers(&[("if-match", "\"a\", \"b\"")])).unwrap_err();
    assert_eq!(e.code, S3ErrorCode::NotImplemented);
    let e = write_condition(&headers(&[("if-match", "*"), ("if-none-match", "*")])).unwrap_err();
    assert_eq!(e.code, S3ErrorCode::NotImplemented);
    let e = write_condition(&headers(&[("if-match", "\"\"")])).unwrap_err();
    assert_eq!(e.code, S3ErrorCode::InvalidArgument);
}

#[test]
fn copy_source_forms() {
    for v in [
        "src/a%20b/c%C3%BC",
        "/src/a%20b/c%C3%BC",
        "src/a%20b/c%C3%BC?versionId=null",
    ] {
        let s = copy_source(&headers(&[("x-amz-copy-source", v)])).unwrap();
        assert_eq!(
            (s.bucket.as_str(), s.key.as_str()),
            ("src", "a b/cü"),
            "{v}"
        );
    }
    for v in ["src", "/src/", "NOT_A_BUCKET/k"] {
        assert!(
            copy_source(&headers(&[("x-amz-copy-source", v)])).is_err(),
            "{v}"
        );
    }
    let e = copy_source(&headers(&[("x-amz-copy-source", "src/k?versionId=abc")])).unwrap_err();
    assert_eq!(e.code, S3ErrorCode::NotImplemented);
}

#[test]
fn metadata_is_collected_and_limited() {
    let limits = Limits::default();
    let m = object_meta(
        &headers(&[
            ("x-amz-meta-color", "blue"),
            ("content-type", "text/plain"),
            ("content-encoding", "aws-chunked,gzip"),
            ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
        ]),
        &limits,
    )
    .unwrap();
    assert_eq!(m.user, vec![("color".to_owned(), b"blue".to_vec())]);
    // Non-ASCII bytes are kept exactly: a Latin-1 byte and UTF-8 text.
    let mut h = HeaderMap::new();
    h.insert(
        actix_web::http::header::HeaderName::from_static("x-amz-meta-l1"),
        actix_web::http::header::HeaderValue::from_bytes(b"caf\xe9").unwrap(),
    );
    h.insert(
        actix_web::http::header::HeaderName::from_static("x-amz-meta-u8"),
        actix_web::http::header::HeaderValue::from_bytes("café".as_bytes()).unwrap(),
    );
    let mut got = object_meta(&h, &limits).unwrap().user;
    got.sort();
    assert_eq!(
        got,
        vec![
            ("l1".to_owned(), b"caf\xe9".to_vec()),
            ("u8".to_owned(), "café".as_bytes().to_vec())
        ]
    );
    assert_eq!(m.content_type.as_deref(), Some("text/plain"));
    assert_eq!(m.content_encoding.as_deref(), Some("gzip"));
    assert_eq!(m.storage_class, Some(StorageClass::ReducedRedundancy));
    let big = "x".repeat(2100);
    let e = object_meta(&headers(&[("x-amz-meta-big", &big)]), &limits).unwrap_err();
    assert_eq!(e.code, S3ErrorCode::MetadataTooLarge);
    let e = object_meta(&headers(&[("x-amz-storage-class", "FANCY")]), &limits).unwrap_err();
    assert_eq!(e.code, S3ErrorCode::InvalidStorageClass);
}

#[test]
fn tokens_round_trip_and_bad_ones_are_refused() {
    let t = encode_token("a/ü key");
    assert_eq!(decode_token(&t).unwrap(), "a/ü key");
    assert_eq!(
        decode_token("!!!").unwrap_err().code,
        S3ErrorCode::InvalidArgument
    );
}

#[test]
fn max_params() {
    let q = Query::parse("max-keys=5000&max-parts=-1&max-uploads=x");
    assert_eq!(max_param(&q, "max-keys").unwrap(), 1000);
    assert!(max_param(&q, "max-parts").is_err());
    assert!(max_param(&q, "max-uploads").is_err());
    assert_eq!(max_param(&Query::parse(""), "max-keys").unwrap(), 1000);
    assert_eq!(
        max_param(&Query::parse("max-keys=0"), "max-keys").unwrap(),
        0
    );
}

/// A backend whose Complete takes `delay` and then answers `ok`.
struct SlowComplete {
    delay: Duration,
    ok: bool,
}

#[async_trait::async_trait]
impl Backend for SlowComplete {
    async fn complete_multipart_upload(
        &self,
        _cx: &RequestContext,
        _input: CompleteMultipartUploadInput,
    ) -> BackendResult<CompleteMultipartUploadOutput> {
        tokio::time::sleep(self.delay).await;
        if self.ok {
            Ok(CompleteMultipartUploadOutput {
                etag: ETag::from_client("\"0123456789abcdef0123456789abcdef-2\""),
                checksum: None,
            })
        } else {
            Err(BackendError::InvalidPart)
        }
    }
}

fn complete_request() -> S3Request {
    let credential = s3gw_auth_cache::Credential {
        access_key_id: "AKIAIOSFODNN7EXAMPLE".parse().unwrap(),
        secret: s3gw_auth_cache::SecretKey::new("secret".into()),
        account: s3gw_auth_cache::Account {
            uuid: "u-1".into(),
            login: "alice".into(),
        },
        subuser: None,
        status: s3gw_auth_cache::KeyStatus::Active,
    };
    let xml = "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>\"a\"</ETag></Part></CompleteMultipartUpload>";
    let body: ByteStream = Box::pin(futures_util::stream::iter([Ok(Bytes::from(xml))]));
    S3Request {
        endpoint: Endpoint::CompleteMultipartUpload,
        method: Method::POST,
        bucket: Some(BucketName::parse("bkt").unwrap()),
        key: Some(ObjectKey::parse("k").unwrap()),
        query: Query::parse("uploadId=abc"),
        headers: HeaderMap::new(),
        auth: Some(Authenticated {
            credential: Arc::new(credential),
            method: crate::auth::AuthMethod::V4Header,
            payload: crate::auth::PayloadMode::Unsigned,
        }),
        cx: RequestContext {
            tenant: Tenant {
                login: "alice".into(),
                uuid: "u-1".into(),
            },
            request_id: "REQ".into(),
        },
        body: Some(body),
        origin: "http://h".into(),
    }
}

async fn complete_with(delay_ms: u64, ok: bool, after_ms: u64) -> (u16, String) {
    let mut config = Config::default();
    config.server.complete_keepalive_after = Duration::from_millis(after_ms);
    config.server.complete_keepalive_interval = Duration::from_millis(50);
    let h = Handlers::new(
        Arc::new(SlowComplete {
            delay: Duration::from_millis(delay_ms),
            ok,
        }),
        Arc::new(config),
    );
    let resp = match h.handle(complete_request()).await {
        Ok(r) => r,
        Err(e) => return (e.status(), e.code.as_str().to_owned()),
    };
    let status = resp.status().as_u16();
    let body = actix_web::body::to_bytes(resp.into_body())
        .await
        .ok()
        .unwrap();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test]
async fn slow_completes_answer_200_keep_alive_then_the_result() {
    // fast (well under the threshold): the real status
    let (status, body) = complete_with(0, true, 60_000).await;
    assert_eq!(status, 200);
    assert!(
        body.starts_with("<?xml") && body.contains("<ETag>"),
        "{body}"
    );
    let (status, code) = complete_with(0, false, 60_000).await;
    assert_eq!((status, code.as_str()), (400, "InvalidPart"));
    // slow: 200 at once, whitespace while waiting, then the document
    let (status, body) = complete_with(600, true, 50).await;
    assert_eq!(status, 200);
    let decl = xml::declaration();
    assert!(body.starts_with(decl), "{body}");
    let rest = &body[decl.len()..];
    assert!(
        rest.starts_with(' '),
        "keep-alive whitespace first: {body:?}"
    );
    assert!(
        rest.trim_start()
            .starts_with("<CompleteMultipartUploadResult"),
        "{body}"
    );
    assert!(
        body.contains("-2&quot;</ETag>") || body.contains("-2\"</ETag>"),
        "{body}"
    );
    // slow failure: 200 with an <Error> document, as S3
    let (status, body) = complete_with(600, false, 50).await;
    assert_eq!(status, 200);
    assert!(
        body[decl.len()..]
            .trim_start()
            .starts_with("<Error><Code>InvalidPart</Code>"),
        "{body}"
    );
    assert!(body.contains("<RequestId>REQ</RequestId>"), "{body}");
}

#[test]
fn object_headers_carry_non_ascii_values() {
    let info = ObjectInfo {
        key: "k".into(),
        size: 3,
        etag: ETag::from_client("abc"),
        last_modified: SystemTime::UNIX_EPOCH,
        meta: ObjectMeta {
            content_disposition: Some("attachment; filename=\"ü.txt\"".into()),
            user: vec![("name".into(), "Zoë".into())],
            ..Default::default()
        },
        parts_count: None,
    };
    let resp = object_response(&info, Some((0, 1, 3)), false, false, &Query::parse(""))
        .unwrap()
        .finish();
    assert_eq!(resp.status(), StatusCode::PARTIAL_CONTENT);
    let h = resp.headers();
    assert_eq!(
        h.get("x-amz-meta-name").unwrap().as_bytes(),
        "Zoë".as_bytes()
    );
    assert_eq!(h.get("content-range").unwrap(), "bytes 0-1/3");
    assert_eq!(h.get("etag").unwrap(), "\"abc\"");
    assert_eq!(h.get("content-type").unwrap(), "binary/octet-stream");
    assert_eq!(h.get("accept-ranges").unwrap(), "bytes");
}

#[test]
fn encryption_headers_off_refused_on_acknowledged() {
    use super::bucket_config::encryption;
    use Endpoint as E;
    let plain = headers(&[("content-type", "x/y")]);
    assert_eq!(encryption(false, E::PutObject, &plain), Ok(false));
    assert_eq!(encryption(true, E::PutObject, &plain), Ok(true));
    assert_eq!(encryption(true, E::GetObject, &plain), Ok(true));
    assert_eq!(encryption(true, E::ListObjects, &plain), Ok(false));
    // Off: the refusal stays, saying why.
    for h in [
        ("x-amz-server-side-encryption", "AES256"),
        ("x-amz-server-side-encryption", "aws:kms"),
    ] {
        let e = encryption(false, E::PutObject, &headers(&[h])).unwrap_err();
        assert_eq!(e.code, S3ErrorCode::NotImplemented, "{h:?}");
        assert!(
            e.message.contains("store_encrypts_at_rest"),
            "{}",
            e.message
        );
    }
    // On: AES256 acknowledged on the three writes.
    let aes = headers(&[("x-amz-server-side-encryption", "AES256")]);
    for ep in [E::PutObject, E::CopyObject, E::CreateMultipartUpload] {
        assert_eq!(encryption(true, ep, &aes), Ok(true), "{ep:?}");
    }
    assert_eq!(
        encryption(true, E::GetObject, &aes).unwrap_err().code,
        S3ErrorCode::InvalidArgument
    );
    let kms = headers(&[
        ("x-amz-server-side-encryption", "aws:kms"),
        ("x-amz-server-side-encryption-aws-kms-key-id", "k-1"),
    ]);
    let e = encryption(true, E::PutObject, &kms).unwrap_err();
    assert_eq!((e.status(), e.code), (400, S3ErrorCode::InvalidArgument));
    let odd = headers(&[("x-amz-server-side-encryption", "ROT13")]);
    assert_eq!(
        encryption(true, E::PutObject, &odd).unwrap_err().code,
        S3ErrorCode::InvalidArgument
    );
    // SSE-C: always refused, on or off, on every operation.
    for on in [false, true] {
        for ep in [E::PutObject, E::GetObject, E::UploadPart] {
            let c = headers(&[("x-amz-server-side-encryption-customer-algorithm", "AES256")]);
            let e = encryption(on, ep, &c).unwrap_err();
            assert_eq!(e.code, S3ErrorCode::NotImplemented);
            assert!(e.message.contains("SSE-C"));
        }
    }
}

#[test]
fn backend_errors_map_through_one_function() {
    assert_eq!(
        backend_error(BackendError::NoSuchKey).code,
        S3ErrorCode::NoSuchKey
    );
    assert_eq!(
        backend_error(BackendError::Internal("secret detail".into())).message,
        S3ErrorCode::InternalError.default_message()
    );
    let boxed: BodyError = Box::new(S3Error::new(S3ErrorCode::BadDigest));
    assert_eq!(
        backend_error(BackendError::Body(boxed)).code,
        S3ErrorCode::BadDigest
    );
    let other: BodyError = "client went away".into();
    assert_eq!(
        backend_error(BackendError::Body(other)).code,
        S3ErrorCode::IncompleteBody
    );
    let e = backend_error(BackendError::NotImplemented("PutBucketPolicy"));
    assert_eq!(e.code, S3ErrorCode::NotImplemented);
    assert!(e.message.contains("PutBucketPolicy"));
}
