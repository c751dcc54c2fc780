//! Issue 11, "names" half, end to end: real `s3gw` processes in front of a
//! real buckets-lite process. aws-sdk-s3 where it can express the request;
//! a raw SigV4 requester (bytes, not strings: non-ASCII header values) where
//! it cannot.
//!
//! - listing: `encoding-type=url` (`%20`, every field S3 encodes), prefix /
//!   delimiter / marker with control characters, v1 NextMarker rule;
//! - ListBuckets pagination (`max-buckets`, `continuation-token`, `prefix`,
//!   `bucket-region`);
//! - CreateBucket location (validation, BucketAlreadyOwnedByYou, location
//!   stored in the bucket-configuration record and seen by a second
//!   instance within its staleness bound, DeleteBucket with only hidden
//!   configuration left);
//! - user metadata bytes round trip;
//! - SSE setting (off: refusal saying why; on: AES256 acknowledged, echoed,
//!   GetBucketEncryption; aws:kms 400; SSE-C refused).
//!
//! Needs the binaries: `cargo build --workspace --bins` first.

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration, EncodingType};
use aws_sdk_s3::Client;
use hmac::{Hmac, Mac};
use s3gw_tests::buckets_lite::BucketsLite;
use s3gw_tests::gateway::{Gateway, GatewayKey, GatewayOptions};
use sha2::{Digest, Sha256};

mod common;
use common::{code_of, error_code, s3_client, status_of};

// ------------------------------------------------------------------ setup

/// Polls `cond` until it holds or `deadline` passes (never a fixed sleep).
async fn eventually<F, Fut>(deadline: Duration, mut cond: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let end = Instant::now() + deadline;
    loop {
        if cond().await {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ------------------------------------------------------------------ raw SigV4 over bytes

type HmacSha256 = Hmac<Sha256>;

fn hmac(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut m = HmacSha256::new_from_slice(key).expect("any key length");
    m.update(msg);
    m.finalize().into_bytes().to_vec()
}

fn sha_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// A hand-signing SigV4 requester (path-style, `127.0.0.1:PORT`), written
/// from the AWS documentation; header values are bytes.
struct Raw {
    http: reqwest::Client,
    addr: SocketAddr,
    key: GatewayKey,
}

struct RawAnswer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Raw {
    fn new(gw: &Gateway) -> Raw {
        // reqwest needs a TLS configuration even for plain HTTP.
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth();
        Raw {
            http: reqwest::Client::builder()
                .tls_backend_preconfigured(tls)
                .http1_only()
                .no_proxy()
                .timeout(Duration::from_secs(120))
                .build()
                .expect("client"),
            addr: gw.addr,
            key: gw.key.clone(),
        }
    }

    /// `path` and `query` are already canonical (encoded, sorted).
    async fn send(
        &self,
        method: &str,
        path: &str,
        query: &str,
        extra: &[(&str, &[u8])],
        body: &[u8],
    ) -> RawAnswer {
        let t = time::OffsetDateTime::from(SystemTime::now());
        let date = format!("{:04}{:02}{:02}", t.year(), t.month() as u8, t.day());
        let amz = format!("{date}T{:02}{:02}{:02}Z", t.hour(), t.minute(), t.second());
        let host = format!("127.0.0.1:{}", self.addr.port());
        let payload = sha_hex(body);
        let mut headers: Vec<(String, Vec<u8>)> = extra
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.to_vec()))
            .collect();
        headers.push(("host".into(), host.clone().into_bytes()));
        headers.push(("x-amz-date".into(), amz.clone().into_bytes()));
        headers.push(("x-amz-content-sha256".into(), payload.clone().into_bytes()));
        headers.sort();
        let mut creq: Vec<u8> = Vec::new();
        creq.extend_from_slice(format!("{method}\n{path}\n{query}\n").as_bytes());
        for (k, v) in &headers {
            creq.extend_from_slice(k.as_bytes());
            creq.push(b':');
            creq.extend_from_slice(v.trim_ascii());
            creq.push(b'\n');
        }
        let signed: Vec<&str> = headers.iter().map(|(k, _)| k.as_str()).collect();
        let signed = signed.join(";");
        creq.extend_from_slice(format!("\n{signed}\n{payload}").as_bytes());
        let scope = format!("{date}/us-east-1/s3/aws4_request");
        let sts = format!("AWS4-HMAC-SHA256\n{amz}\n{scope}\n{}", sha_hex(&creq));
        let k = hmac(
            format!("AWS4{}", self.key.secret).as_bytes(),
            date.as_bytes(),
        );
        let k = hmac(&k, b"us-east-1");
        let k = hmac(&k, b"s3");
        let k = hmac(&k, b"aws4_request");
        let sig = hex::encode(hmac(&k, sts.as_bytes()));
        let auth = format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope},SignedHeaders={signed},Signature={sig}",
            self.key.access_key_id
        );
        let q = if query.is_empty() {
            String::new()
        } else {
            format!("?{query}")
        };
        let mut b = self
            .http
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                format!("http://{host}{path}{q}"),
            )
            .header("authorization", auth);
        for (k, v) in &headers {
            if k != "host" {
                b = b.header(
                    k.as_str(),
                    reqwest::header::HeaderValue::from_bytes(v).expect("header value"),
                );
            }
        }
        let resp = b.body(body.to_vec()).send().await.expect("request sent");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.text().await.unwrap_or_default();
        RawAnswer {
            status,
            headers,
            body,
        }
    }
}

fn between(body: &str, open: &str, close: &str) -> Option<String> {
    body.split(open)
        .nth(1)
        .and_then(|s| s.split(close).next())
        .map(str::to_owned)
}

async fn put(s3: &Client, bucket: &str, key: &str) {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("put {key:?}: {e:?}"));
}

// ------------------------------------------------------------------ listing

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_encodes_every_field_and_survives_control_characters() {
    let lite = BucketsLite::start();
    let gw = Gateway::start_with(&lite, GatewayOptions::default());
    let s3 = s3_client(&gw);
    let raw = Raw::new(&gw);
    s3.create_bucket().bucket("enc").send().await.unwrap();
    for k in ["a b/1", "a b/2", "a+b", "plain", "z é/x"] {
        put(&s3, "enc", k).await;
    }

    // v2: Key, Prefix, Delimiter, StartAfter, CommonPrefixes encoded with
    // %20 for space (the Rust SDK does not decode).
    let out = s3
        .list_objects_v2()
        .bucket("enc")
        .encoding_type(EncodingType::Url)
        .delimiter(" ")
        .start_after("a\t")
        .send()
        .await
        .unwrap();
    let cps: Vec<_> = out
        .common_prefixes()
        .iter()
        .filter_map(|p| p.prefix())
        .collect();
    assert_eq!(cps, vec!["a%20", "z%20"], "common prefixes");
    assert_eq!(out.delimiter(), Some("%20"));
    assert_eq!(out.start_after(), Some("a%09"));
    let keys: Vec<_> = out.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, vec!["a%2Bb", "plain"]);

    let out = s3
        .list_objects_v2()
        .bucket("enc")
        .encoding_type(EncodingType::Url)
        .prefix("a b/")
        .send()
        .await
        .unwrap();
    assert_eq!(out.prefix(), Some("a%20b/"));
    let keys: Vec<_> = out.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, vec!["a%20b/1", "a%20b/2"]);

    // v1: Marker, NextMarker (only with a delimiter), Prefix, Delimiter.
    let out = s3
        .list_objects()
        .bucket("enc")
        .encoding_type(EncodingType::Url)
        .marker("a b/1")
        .delimiter("/")
        .max_keys(1)
        .send()
        .await
        .unwrap();
    assert_eq!(out.marker(), Some("a%20b/1"));
    assert_eq!(out.is_truncated(), Some(true));
    assert_eq!(out.next_marker(), Some("a%2Bb"));
    let out = s3
        .list_objects()
        .bucket("enc")
        .max_keys(1)
        .send()
        .await
        .unwrap();
    assert_eq!(out.is_truncated(), Some(true));
    assert_eq!(out.next_marker(), None, "no delimiter, no NextMarker");

    // ListObjectVersions and ListMultipartUploads encode too.
    let out = s3
        .list_object_versions()
        .bucket("enc")
        .encoding_type(EncodingType::Url)
        .prefix("z ")
        .send()
        .await
        .unwrap();
    assert_eq!(out.prefix(), Some("z%20"));
    let keys: Vec<_> = out.versions().iter().filter_map(|v| v.key()).collect();
    assert_eq!(keys, vec!["z%20%C3%A9/x"]);
    let up = s3
        .create_multipart_upload()
        .bucket("enc")
        .key("up load")
        .send()
        .await
        .unwrap();
    let out = s3
        .list_multipart_uploads()
        .bucket("enc")
        .encoding_type(EncodingType::Url)
        .prefix("up ")
        .send()
        .await
        .unwrap();
    assert_eq!(out.prefix(), Some("up%20"));
    let keys: Vec<_> = out.uploads().iter().filter_map(|u| u.key()).collect();
    assert_eq!(keys, vec!["up%20load"]);
    s3.abort_multipart_upload()
        .bucket("enc")
        .key("up load")
        .upload_id(up.upload_id().unwrap())
        .send()
        .await
        .unwrap();

    // Control characters (and other odd bytes) in prefix, delimiter and
    // markers: answered, never a 500; the prefix is echoed.
    for (q, want_keys) in [
        ("encoding-type=url&list-type=2&prefix=%01", vec![]),
        ("encoding-type=url&list-type=2&prefix=a%09b", vec![]),
        ("encoding-type=url&list-type=2&prefix=%7F", vec![]),
        (
            "encoding-type=url&list-type=2&start-after=a%01",
            vec!["a%20b/1", "a%20b/2", "a%2Bb", "plain", "z%20%C3%A9/x"],
        ),
        (
            "encoding-type=url&list-type=2&start-after=b%0A",
            vec!["plain", "z%20%C3%A9/x"],
        ),
        (
            "delimiter=%01&encoding-type=url",
            vec!["a%20b/1", "a%20b/2", "a%2Bb", "plain", "z%20%C3%A9/x"],
        ),
        (
            "encoding-type=url&marker=p%02",
            vec!["plain", "z%20%C3%A9/x"],
        ),
        ("encoding-type=url&prefix=pl%1Fain", vec![]),
    ] {
        let a = raw.send("GET", "/enc", q, &[], b"").await;
        assert_eq!(a.status, 200, "{q}: {}", a.body);
        let keys: Vec<String> = a
            .body
            .split("<Key>")
            .skip(1)
            .filter_map(|s| s.split("</Key>").next())
            .map(str::to_owned)
            .collect();
        assert_eq!(keys, want_keys, "{q}");
    }
    let a = raw
        .send(
            "GET",
            "/enc",
            "encoding-type=url&list-type=2&prefix=%01x",
            &[],
            b"",
        )
        .await;
    assert_eq!(
        between(&a.body, "<Prefix>", "</Prefix>").as_deref(),
        Some("%01x")
    );
    let a = raw
        .send("GET", "/enc", "prefix=%01&uploads=", &[], b"")
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(!gw.log_text().contains("panicked"));
}

// ------------------------------------------------------------------ ListBuckets

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_buckets_paginates_filters_and_reports_regions() {
    let lite = BucketsLite::start();
    let gw = Gateway::start_with(&lite, GatewayOptions::default());
    let s3 = s3_client(&gw);
    let names = ["pg-a", "pg-b", "pg-c", "pg-d", "pg-e", "zz-other"];
    for b in names {
        s3.create_bucket().bucket(b).send().await.unwrap();
    }

    // Unpaginated: everything, no token.
    let all = s3.list_buckets().send().await.unwrap();
    let got: Vec<_> = all.buckets().iter().filter_map(|b| b.name()).collect();
    assert_eq!(got, names.to_vec());
    assert_eq!(all.continuation_token(), None);
    assert!(all
        .buckets()
        .iter()
        .all(|b| b.bucket_region() == Some("us-east-1")));

    // Pages of two, following the token; ContinuationToken only while
    // more remain.
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let out = s3
            .list_buckets()
            .max_buckets(2)
            .set_continuation_token(token.clone())
            .send()
            .await
            .unwrap();
        pages += 1;
        assert!(out.buckets().len() <= 2);
        seen.extend(
            out.buckets()
                .iter()
                .filter_map(|b| b.name())
                .map(str::to_owned),
        );
        match out.continuation_token() {
            Some(t) => token = Some(t.to_owned()),
            None => break,
        }
        assert!(pages < 10, "pagination does not end");
    }
    assert_eq!(seen, names.to_vec());
    assert_eq!(pages, 3);

    // prefix, echoed; with max-buckets exactly the remaining count: no token.
    let out = s3
        .list_buckets()
        .prefix("pg-")
        .max_buckets(5)
        .send()
        .await
        .unwrap();
    assert_eq!(out.buckets().len(), 5);
    assert_eq!(out.prefix(), Some("pg-"));
    assert_eq!(out.continuation_token(), None);

    // bucket-region
    let out = s3
        .list_buckets()
        .bucket_region("us-east-1")
        .send()
        .await
        .unwrap();
    assert_eq!(out.buckets().len(), names.len());
    let out = s3
        .list_buckets()
        .bucket_region("eu-nowhere-1")
        .send()
        .await
        .unwrap();
    assert!(out.buckets().is_empty());

    // S3's limits: 1..=10000; a bad token is refused.
    for m in [0, 10001, -1] {
        let e = s3.list_buckets().max_buckets(m).send().await.unwrap_err();
        assert_eq!(code_of(&e).as_deref(), Some("InvalidArgument"), "{m}");
        assert_eq!(status_of(&e), Some(400));
    }
    let e = s3
        .list_buckets()
        .continuation_token("%%%not base64")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_of(&e).as_deref(), Some("InvalidArgument"));
}

// ------------------------------------------------------------------ buckets

fn regional(lite: &BucketsLite, cache_ms: u64) -> Gateway {
    Gateway::start_with(
        lite,
        GatewayOptions {
            server_toml: format!(
                "region = \"us-east-1\"\nregions = [\"eu-test-1\"]\nbucket_config_cache_ms = {cache_ms}\n"
            ),
            ..Default::default()
        },
    )
}

async fn create_in(
    s3: &Client,
    bucket: &str,
    region: &str,
) -> Result<(), (Option<String>, Option<u16>)> {
    s3.create_bucket()
        .bucket(bucket)
        .create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(region))
                .build(),
        )
        .send()
        .await
        .map(|_| ())
        .map_err(|e| (code_of(&e), status_of(&e)))
}

async fn location(s3: &Client, bucket: &str) -> String {
    s3.get_bucket_location()
        .bucket(bucket)
        .send()
        .await
        .unwrap()
        .location_constraint()
        .map(|c| c.as_str().to_owned())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_bucket_location_is_validated_stored_and_shared() {
    let lite = BucketsLite::start();
    let a = regional(&lite, 300);
    let b = regional(&lite, 300);
    let (s3a, s3b) = (s3_client(&a), s3_client(&b));

    // Default region: empty constraint (us-east-1), and S3's legacy 200 for
    // a bucket the caller already owns there.
    s3a.create_bucket().bucket("loc-home").send().await.unwrap();
    s3a.create_bucket().bucket("loc-home").send().await.unwrap();
    assert_eq!(location(&s3a, "loc-home").await, "");
    let h = s3a.head_bucket().bucket("loc-home").send().await.unwrap();
    assert_eq!(h.bucket_region(), Some("us-east-1"));

    // Another configured region: stored, reported, and 409 when owned.
    create_in(&s3a, "loc-eu", "eu-test-1").await.unwrap();
    assert_eq!(location(&s3a, "loc-eu").await, "eu-test-1");
    let h = s3a.head_bucket().bucket("loc-eu").send().await.unwrap();
    assert_eq!(h.bucket_region(), Some("eu-test-1"));
    assert_eq!(
        create_in(&s3a, "loc-eu", "eu-test-1").await.unwrap_err(),
        (Some("BucketAlreadyOwnedByYou".into()), Some(409))
    );

    // Refused constraints: unknown region, explicit us-east-1, malformed.
    assert_eq!(
        create_in(&s3a, "loc-bad", "ap-nowhere-9")
            .await
            .unwrap_err(),
        (Some("IllegalLocationConstraintException".into()), Some(400))
    );
    assert_eq!(
        create_in(&s3a, "loc-bad", "us-east-1").await.unwrap_err(),
        (Some("InvalidLocationConstraint".into()), Some(400))
    );
    assert_eq!(
        create_in(&s3a, "loc-bad", "Not A Region")
            .await
            .unwrap_err(),
        (Some("InvalidLocationConstraint".into()), Some(400))
    );
    let e = s3a
        .head_bucket()
        .bucket("loc-bad")
        .send()
        .await
        .unwrap_err();
    assert_eq!(status_of(&e), Some(404), "a refused create leaves nothing");

    // A second instance reads the location from the store.
    assert_eq!(location(&s3b, "loc-eu").await, "eu-test-1");
    let out = s3b
        .list_buckets()
        .bucket_region("eu-test-1")
        .send()
        .await
        .unwrap();
    let got: Vec<_> = out.buckets().iter().filter_map(|b| b.name()).collect();
    assert_eq!(got, vec!["loc-eu"]);

    // The record is hidden: never listed, not addressable, and the bucket
    // counts as empty for DeleteBucket.
    let out = s3a.list_objects_v2().bucket("loc-eu").send().await.unwrap();
    assert_eq!(out.key_count(), Some(0));
    let e = s3a
        .get_object()
        .bucket("loc-eu")
        .key(".s3gw~/bucket-config")
        .send()
        .await
        .unwrap_err();
    assert!(matches!(status_of(&e), Some(400..=404)), "{e:?}");

    // B cached loc-home as us-east-1; A re-creates it in eu-test-1: B sees
    // the change within its staleness bound.
    assert_eq!(location(&s3b, "loc-home").await, "");
    s3a.delete_bucket().bucket("loc-home").send().await.unwrap();
    create_in(&s3a, "loc-home", "eu-test-1").await.unwrap();
    assert_eq!(location(&s3a, "loc-home").await, "eu-test-1");
    let seen = eventually(Duration::from_secs(30), || {
        let s3b = s3b.clone();
        async move { location(&s3b, "loc-home").await == "eu-test-1" }
    })
    .await;
    assert!(seen, "second instance never saw the new location");

    // DeleteBucket of a bucket whose only native object is its record.
    s3a.delete_bucket().bucket("loc-eu").send().await.unwrap();
    let e = s3b.head_bucket().bucket("loc-eu").send().await.unwrap_err();
    assert_eq!(status_of(&e), Some(404));
    // ...and BucketNotEmpty still counts visible objects only.
    put(&s3a, "loc-home", "k").await;
    let e = s3a
        .delete_bucket()
        .bucket("loc-home")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_of(&e).as_deref(), Some("BucketNotEmpty"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_owned_bucket_in_another_default_region_is_409() {
    let lite = BucketsLite::start();
    let gw = Gateway::start_with(
        &lite,
        GatewayOptions {
            server_toml: "region = \"eu-home-1\"\n".into(),
            ..Default::default()
        },
    );
    let s3 = s3_client(&gw);
    s3.create_bucket().bucket("owned").send().await.unwrap();
    let e = s3.create_bucket().bucket("owned").send().await.unwrap_err();
    assert_eq!(code_of(&e).as_deref(), Some("BucketAlreadyOwnedByYou"));
    assert_eq!(status_of(&e), Some(409));
    assert_eq!(location(&s3, "owned").await, "eu-home-1");
    create_in(&s3, "owned-2", "eu-home-1").await.unwrap();
}

// ------------------------------------------------------------------ metadata bytes

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_metadata_bytes_round_trip() {
    let lite = BucketsLite::start();
    let gw = Gateway::start_with(&lite, GatewayOptions::default());
    let raw = Raw::new(&gw);
    assert_eq!(raw.send("PUT", "/meta", "", &[], b"").await.status, 200);
    let latin1: &[u8] = b"caf\xe9 \xff";
    let utf8 = "Zoë 日本".as_bytes();
    let a = raw
        .send(
            "PUT",
            "/meta/k",
            "",
            &[("x-amz-meta-l1", latin1), ("x-amz-meta-u8", utf8)],
            b"body",
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    for method in ["GET", "HEAD"] {
        let a = raw.send(method, "/meta/k", "", &[], b"").await;
        assert_eq!(a.status, 200);
        assert_eq!(a.headers["x-amz-meta-l1"].as_bytes(), latin1, "{method}");
        assert_eq!(a.headers["x-amz-meta-u8"].as_bytes(), utf8, "{method}");
    }
    // Through CopyObject (metadata copied) too.
    let a = raw
        .send(
            "PUT",
            "/meta/k2",
            "",
            &[("x-amz-copy-source", b"/meta/k")],
            b"",
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let a = raw.send("HEAD", "/meta/k2", "", &[], b"").await;
    assert_eq!(a.headers["x-amz-meta-l1"].as_bytes(), latin1);
}

// ------------------------------------------------------------------ SSE

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_headers_refused_when_the_store_is_not_declared_encrypting() {
    let lite = BucketsLite::start();
    let gw = Gateway::start_with(&lite, GatewayOptions::default());
    let s3 = s3_client(&gw);
    s3.create_bucket().bucket("plain").send().await.unwrap();
    let e = s3
        .put_object()
        .bucket("plain")
        .key("k")
        .server_side_encryption(aws_sdk_s3::types::ServerSideEncryption::Aes256)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(status_of(&e), Some(501));
    let msg = e
        .as_service_error()
        .and_then(|s| aws_sdk_s3::error::ProvideErrorMetadata::message(s))
        .unwrap_or_default()
        .to_owned();
    assert!(msg.contains("store_encrypts_at_rest"), "{msg}");
    let e = s3
        .get_bucket_encryption()
        .bucket("plain")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        code_of(&e).as_deref(),
        Some("ServerSideEncryptionConfigurationNotFoundError")
    );
    // A plain write carries no SSE header.
    let out = s3
        .put_object()
        .bucket("plain")
        .key("k")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    assert_eq!(out.server_side_encryption(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_s3_acknowledged_and_echoed_when_the_store_encrypts() {
    use aws_sdk_s3::types::ServerSideEncryption as Sse;
    let lite = BucketsLite::start();
    let gw = Gateway::start_with(
        &lite,
        GatewayOptions {
            server_toml: "store_encrypts_at_rest = true\n".into(),
            ..Default::default()
        },
    );
    let s3 = s3_client(&gw);
    let raw = Raw::new(&gw);
    s3.create_bucket().bucket("enc").send().await.unwrap();
    let out = s3
        .put_object()
        .bucket("enc")
        .key("k")
        .server_side_encryption(Sse::Aes256)
        .body(ByteStream::from_static(b"secret"))
        .send()
        .await
        .unwrap();
    assert_eq!(out.server_side_encryption(), Some(&Sse::Aes256));
    let g = s3.get_object().bucket("enc").key("k").send().await.unwrap();
    assert_eq!(g.server_side_encryption(), Some(&Sse::Aes256));
    // The fact is stored with the object, in reserved native metadata.
    let op = lite.client().for_account("alice");
    let n = op.head(&op.object_path("enc", "k"), &[]).await;
    assert_eq!(
        n.headers.get("m-s3gw-sse").map(|v| v.as_bytes()),
        Some(&b"AES256"[..])
    );
    let h = s3
        .head_object()
        .bucket("enc")
        .key("k")
        .send()
        .await
        .unwrap();
    assert_eq!(h.server_side_encryption(), Some(&Sse::Aes256));
    let c = s3
        .copy_object()
        .bucket("enc")
        .key("k2")
        .copy_source("enc/k")
        .server_side_encryption(Sse::Aes256)
        .send()
        .await
        .unwrap();
    assert_eq!(c.server_side_encryption(), Some(&Sse::Aes256));
    let m = s3
        .create_multipart_upload()
        .bucket("enc")
        .key("mp")
        .server_side_encryption(Sse::Aes256)
        .send()
        .await
        .unwrap();
    assert_eq!(m.server_side_encryption(), Some(&Sse::Aes256));
    s3.abort_multipart_upload()
        .bucket("enc")
        .key("mp")
        .upload_id(m.upload_id().unwrap())
        .send()
        .await
        .unwrap();

    let cfg = s3
        .get_bucket_encryption()
        .bucket("enc")
        .send()
        .await
        .unwrap();
    let rule = &cfg.server_side_encryption_configuration().unwrap().rules()[0];
    assert_eq!(
        rule.apply_server_side_encryption_by_default()
            .unwrap()
            .sse_algorithm(),
        &Sse::Aes256
    );

    // aws:kms with a key that is not configured: 400.
    let e = s3
        .put_object()
        .bucket("enc")
        .key("kms")
        .server_side_encryption(Sse::AwsKms)
        .ssekms_key_id("arn:aws:kms:us-east-1:1:key/none")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(status_of(&e), Some(400));
    assert_eq!(code_of(&e).as_deref(), Some("InvalidArgument"));

    // SSE-C: refused, clearly, and nothing stored.
    let a = raw
        .send(
            "PUT",
            "/enc/ssec",
            "",
            &[
                ("x-amz-server-side-encryption-customer-algorithm", b"AES256"),
                (
                    "x-amz-server-side-encryption-customer-key",
                    b"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
                ),
                (
                    "x-amz-server-side-encryption-customer-key-md5",
                    b"zZ5FnqcIqUjVwvWmyog4zw==",
                ),
            ],
            b"x",
        )
        .await;
    assert_eq!(a.status, 501, "{}", a.body);
    assert!(a.body.contains("SSE-C"), "{}", a.body);
    assert_eq!(error_code(&a.body), "NotImplemented");
    let e = s3
        .head_object()
        .bucket("enc")
        .key("ssec")
        .send()
        .await
        .unwrap_err();
    assert_eq!(status_of(&e), Some(404));
}
