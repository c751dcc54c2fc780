//! The real-code suite: `s3gw` end to end in front of the REAL Manta buckets
//! stack (the real manta-buckets-api, buckets-mdapi over PostgreSQL,
//! mdplacement and mahi; `scripts/real-manta.sh`), in the production model:
//! s3gw signs every native request as an operator account (a member of
//! `cn=operators`, ECDSA P-256 key) acting for tenants that have no keys.
//!
//! Clients: aws-sdk-s3 with default settings, the aws cli, and a raw SigV2
//! requester. Every test uses its own buckets (the stack's data outlive a
//! run) and ends by checking that buckets-api is still the process that was
//! running when the suite began: a request that makes the real server abort
//! fails the test.
//!
//! The stack is started once per test process (or found up); when it cannot
//! start the tests fail with the script's message, they are never skipped.
//! Needs the binaries: `cargo build --workspace --bins` first.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::SystemTime;

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, Delete, ObjectIdentifier};
use aws_sdk_s3::Client;
use futures_util::{stream, StreamExt};
use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use s3gw_httpsig::{KeyId, PrivateKey, Signer};
use s3gw_tests::buckets_lite::NativeClient;
use s3gw_tests::gateway::{Gateway, GatewayKey, GatewayOptions};
use s3gw_tests::real_manta::{repo_root, unique_bucket, RealManta};

mod common;
use common::{body_bytes, code_of, data, status_of, StaticDns};

// ------------------------------------------------------------------ setup

/// aws-sdk-s3 with default settings against `endpoint`.
fn sdk(key: &GatewayKey, endpoint: &str, path_style: bool) -> Client {
    use aws_smithy_http_client::tls;
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::AwsLc,
        ))
        .build_with_resolver(StaticDns(IpAddr::from([127, 0, 0, 1])));
    let creds = Credentials::new(&key.access_key_id, &key.secret, None, None, "test");
    let conf = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(creds)
        .force_path_style(path_style)
        .http_client(http)
        .build();
    Client::from_conf(conf)
}

fn client(gw: &Gateway) -> Client {
    sdk(&gw.key, &gw.url, true)
}

/// The tenants of this suite (the translator's live cases own `alice` and
/// `bob`, s3gw_tests::real_manta::TENANTS).
const TENANT: &str = "carol";
const OTHER_TENANT: &str = "dave";

/// The real stack and a gateway in front of it for tenant [`TENANT`].
fn start() -> (&'static RealManta, Gateway) {
    let real = RealManta::get();
    let gw = real.gateway(GatewayOptions {
        account: TENANT.into(),
        ..GatewayOptions::default()
    });
    (real, gw)
}

fn md5_hex(b: &[u8]) -> String {
    hex::encode(Md5::digest(b))
}

/// The gateway must not have logged a panic or a 500 for anything the
/// real store answered.
fn assert_clean_log(gw: &Gateway) {
    let log = gw.log_text();
    assert!(!log.contains("panicked"), "s3gw panicked:\n{log}");
}

// ------------------------------------------------------------------ aws cli

/// The aws cli from PATH (scripts/test-all.sh puts target/venv/bin there),
/// else the repository's `target/venv/bin/aws`.
fn aws_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("aws"))
            .find(|p| p.is_file())
    }) {
        return p;
    }
    let p = repo_root().join("target/venv/bin/aws");
    assert!(
        p.is_file(),
        "the aws cli is needed (scripts/test-all.sh installs it into target/venv)"
    );
    p
}

/// Runs the aws cli against the gateway; returns stdout, asserting success.
fn aws(gw: &Gateway, args: &[&str]) -> String {
    let out = aws_try(gw, args);
    assert!(
        out.status.success(),
        "aws {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

fn aws_try(gw: &Gateway, args: &[&str]) -> std::process::Output {
    Command::new(aws_bin())
        .args(args)
        .arg("--endpoint-url")
        .arg(&gw.url)
        .env("AWS_ACCESS_KEY_ID", &gw.key.access_key_id)
        .env("AWS_SECRET_ACCESS_KEY", &gw.key.secret)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .output()
        .expect("running the aws cli")
}

// ------------------------------------------------------------------ tests

/// Buckets, PUT/GET/HEAD/DELETE, ranges, metadata and Cache-Control (the
/// real HEAD drops Cache-Control), copy with both metadata directives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_ranges_metadata_cache_control_and_copy() {
    let (real, gw) = start();
    let s3 = client(&gw);
    let b = unique_bucket("objects");
    s3.create_bucket().bucket(&b).send().await.unwrap();
    s3.head_bucket().bucket(&b).send().await.unwrap();
    let listed = s3.list_buckets().send().await.unwrap();
    assert!(listed.buckets().iter().any(|x| x.name() == Some(&b)));
    // Re-creating a bucket one owns is 200 in us-east-1 (S3's legacy
    // behaviour; other regions answer 409, tests/tests/s3_names.rs).
    s3.create_bucket().bucket(&b).send().await.unwrap();

    let body = data(300_000, 7);
    let key = "dir/ü ñ+%&=\\ x.bin";
    let put = s3
        .put_object()
        .bucket(&b)
        .key(key)
        .content_type("application/x-test")
        .cache_control("max-age=300, public")
        .content_disposition("attachment; filename=\"x.bin\"")
        .metadata("color", "blue")
        .metadata("shape", "round")
        .body(ByteStream::from(body.clone()))
        .send()
        .await
        .unwrap();
    let etag = format!("\"{}\"", md5_hex(&body));
    assert_eq!(put.e_tag(), Some(etag.as_str()));

    let h = s3.head_object().bucket(&b).key(key).send().await.unwrap();
    assert_eq!(h.e_tag(), Some(etag.as_str()));
    assert_eq!(h.content_length(), Some(body.len() as i64));
    assert_eq!(h.content_type(), Some("application/x-test"));
    assert_eq!(h.cache_control(), Some("max-age=300, public"), "HEAD");
    assert_eq!(
        h.content_disposition(),
        Some("attachment; filename=\"x.bin\"")
    );
    let meta = h.metadata().unwrap();
    assert_eq!(meta.get("color").map(String::as_str), Some("blue"));
    assert_eq!(meta.get("shape").map(String::as_str), Some("round"));

    let g = s3.get_object().bucket(&b).key(key).send().await.unwrap();
    assert_eq!(g.cache_control(), Some("max-age=300, public"), "GET");
    assert_eq!(g.e_tag(), Some(etag.as_str()));
    assert_eq!(body_bytes(g).await, body);

    for (range, lo, hi) in [
        ("bytes=10-19", 10usize, 19usize),
        ("bytes=299990-", 299_990, 299_999),
        ("bytes=-5", 299_995, 299_999),
        ("bytes=299998-999999", 299_998, 299_999),
    ] {
        let g = s3
            .get_object()
            .bucket(&b)
            .key(key)
            .range(range)
            .send()
            .await
            .unwrap();
        assert_eq!(
            g.content_range(),
            Some(format!("bytes {lo}-{hi}/300000").as_str()),
            "{range}"
        );
        assert_eq!(body_bytes(g).await, &body[lo..=hi], "{range}");
    }
    let e = s3
        .get_object()
        .bucket(&b)
        .key(key)
        .range("bytes=300000-")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_of(&e).as_deref(), Some("InvalidRange"));

    // Copy: metadata and Cache-Control come along (COPY) or are replaced.
    let src = format!("{b}/dir/%C3%BC%20%C3%B1%2B%25%26%3D%5C%20x.bin");
    s3.copy_object()
        .bucket(&b)
        .key("copy-same")
        .copy_source(&src)
        .send()
        .await
        .unwrap();
    let h = s3
        .head_object()
        .bucket(&b)
        .key("copy-same")
        .send()
        .await
        .unwrap();
    assert_eq!(h.e_tag(), Some(etag.as_str()));
    assert_eq!(h.cache_control(), Some("max-age=300, public"));
    assert_eq!(
        h.metadata().unwrap().get("color").map(String::as_str),
        Some("blue")
    );
    s3.copy_object()
        .bucket(&b)
        .key("copy-replaced")
        .copy_source(&src)
        .metadata_directive(aws_sdk_s3::types::MetadataDirective::Replace)
        .content_type("text/plain")
        .cache_control("no-cache")
        .metadata("color", "red")
        .send()
        .await
        .unwrap();
    let g = s3
        .get_object()
        .bucket(&b)
        .key("copy-replaced")
        .send()
        .await
        .unwrap();
    assert_eq!(g.content_type(), Some("text/plain"));
    assert_eq!(g.cache_control(), Some("no-cache"));
    let m = g.metadata().unwrap().clone();
    assert_eq!(m.get("color").map(String::as_str), Some("red"));
    assert!(!m.contains_key("shape"));
    assert_eq!(body_bytes(g).await, body);

    // DELETE, then the object is gone; deleting again is still 204.
    for k in [key, "copy-same", "copy-replaced"] {
        s3.delete_object().bucket(&b).key(k).send().await.unwrap();
    }
    let e = s3
        .get_object()
        .bucket(&b)
        .key(key)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_of(&e).as_deref(), Some("NoSuchKey"));
    s3.delete_object().bucket(&b).key(key).send().await.unwrap();
    s3.delete_bucket().bucket(&b).send().await.unwrap();
    let e = s3.head_bucket().bucket(&b).send().await.unwrap_err();
    assert_eq!(status_of(&e), Some(404));
    assert_clean_log(&gw);
    real.assert_alive();
}

/// Conditional PUT: If-None-Match `*` creates only once, If-Match replaces
/// only the version it names.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conditional_put() {
    let (real, gw) = start();
    let s3 = client(&gw);
    let b = unique_bucket("cond");
    s3.create_bucket().bucket(&b).send().await.unwrap();
    let first = s3
        .put_object()
        .bucket(&b)
        .key("k")
        .if_none_match("*")
        .body(ByteStream::from_static(b"first"))
        .send()
        .await
        .unwrap();
    let e = s3
        .put_object()
        .bucket(&b)
        .key("k")
        .if_none_match("*")
        .body(ByteStream::from_static(b"second"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(status_of(&e), Some(412));
    assert_eq!(code_of(&e).as_deref(), Some("PreconditionFailed"));
    let e = s3
        .put_object()
        .bucket(&b)
        .key("k")
        .if_match("\"00000000000000000000000000000000\"")
        .body(ByteStream::from_static(b"third"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(status_of(&e), Some(412));
    s3.put_object()
        .bucket(&b)
        .key("k")
        .if_match(first.e_tag().unwrap())
        .body(ByteStream::from_static(b"fourth"))
        .send()
        .await
        .unwrap();
    let g = s3.get_object().bucket(&b).key("k").send().await.unwrap();
    assert_eq!(body_bytes(g).await, b"fourth");
    // If-Match on a missing key: 404 NoSuchKey, nothing written.
    let e = s3
        .put_object()
        .bucket(&b)
        .key("missing")
        .if_match(first.e_tag().unwrap())
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(status_of(&e), Some(404));
    let e = s3
        .head_object()
        .bucket(&b)
        .key("missing")
        .send()
        .await
        .unwrap_err();
    assert_eq!(status_of(&e), Some(404));
    assert_clean_log(&gw);
    real.assert_alive();
}

/// Multipart of several parts: the S3 multipart ETag, the whole body, a
/// ranged read across a part boundary, Cache-Control and metadata on the
/// final object; an aborted upload leaves nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_of_several_parts() {
    let (real, gw) = start();
    let s3 = client(&gw);
    let b = unique_bucket("mpu");
    s3.create_bucket().bucket(&b).send().await.unwrap();
    let parts = [
        data(5 << 20, 1),
        data(5 << 20, 2),
        data(5 << 20, 3),
        data(777, 4),
    ];
    let up = s3
        .create_multipart_upload()
        .bucket(&b)
        .key("big")
        .content_type("video/mp4")
        .cache_control("max-age=86400")
        .metadata("origin", "camera")
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap().to_owned();
    let mut done = Vec::new();
    let mut md5s = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        let n = i as i32 + 1;
        let r = s3
            .upload_part()
            .bucket(&b)
            .key("big")
            .upload_id(&id)
            .part_number(n)
            .body(ByteStream::from(p.clone()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.e_tag(), Some(format!("\"{}\"", md5_hex(p)).as_str()));
        md5s.extend_from_slice(&Md5::digest(p));
        done.push(
            CompletedPart::builder()
                .part_number(n)
                .e_tag(r.e_tag().unwrap())
                .build(),
        );
    }
    let listed = s3
        .list_parts()
        .bucket(&b)
        .key("big")
        .upload_id(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.parts().len(), 4);
    let c = s3
        .complete_multipart_upload()
        .bucket(&b)
        .key("big")
        .upload_id(&id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(done))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let want_etag = format!("\"{}-4\"", md5_hex(&md5s));
    assert_eq!(c.e_tag(), Some(want_etag.as_str()));
    let whole: Vec<u8> = parts.concat();
    let h = s3.head_object().bucket(&b).key("big").send().await.unwrap();
    assert_eq!(h.e_tag(), Some(want_etag.as_str()), "HEAD multipart ETag");
    assert_eq!(h.content_length(), Some(whole.len() as i64));
    assert_eq!(h.content_type(), Some("video/mp4"));
    assert_eq!(h.cache_control(), Some("max-age=86400"));
    assert_eq!(
        h.metadata().unwrap().get("origin").map(String::as_str),
        Some("camera")
    );
    let g = s3.get_object().bucket(&b).key("big").send().await.unwrap();
    assert_eq!(g.e_tag(), Some(want_etag.as_str()), "GET multipart ETag");
    assert_eq!(md5_hex(&body_bytes(g).await), md5_hex(&whole));
    let lo = (5 << 20) - 10;
    let g = s3
        .get_object()
        .bucket(&b)
        .key("big")
        .range(format!("bytes={lo}-{}", lo + 19))
        .send()
        .await
        .unwrap();
    assert_eq!(body_bytes(g).await, &whole[lo..lo + 20]);
    // The listing shows the S3 ETag and size, and no upload internals.
    let l = s3.list_objects_v2().bucket(&b).send().await.unwrap();
    let keys: Vec<_> = l.contents().iter().map(|o| o.key().unwrap()).collect();
    assert_eq!(keys, ["big"]);
    assert_eq!(l.contents()[0].e_tag(), Some(want_etag.as_str()));
    assert_eq!(l.contents()[0].size(), Some(whole.len() as i64));

    // An aborted upload: gone from ListMultipartUploads, no object.
    let up = s3
        .create_multipart_upload()
        .bucket(&b)
        .key("aborted")
        .send()
        .await
        .unwrap();
    let id2 = up.upload_id().unwrap();
    s3.upload_part()
        .bucket(&b)
        .key("aborted")
        .upload_id(id2)
        .part_number(1)
        .body(ByteStream::from_static(b"part"))
        .send()
        .await
        .unwrap();
    let ups = s3.list_multipart_uploads().bucket(&b).send().await.unwrap();
    assert_eq!(ups.uploads().len(), 1);
    s3.abort_multipart_upload()
        .bucket(&b)
        .key("aborted")
        .upload_id(id2)
        .send()
        .await
        .unwrap();
    let ups = s3.list_multipart_uploads().bucket(&b).send().await.unwrap();
    assert!(ups.uploads().is_empty());
    let e = s3
        .head_object()
        .bucket(&b)
        .key("aborted")
        .send()
        .await
        .unwrap_err();
    assert_eq!(status_of(&e), Some(404));
    assert_clean_log(&gw);
    real.assert_alive();
}

/// One listing entry, in S3 order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Entry {
    Key(String),
    Prefix(String),
}

impl Entry {
    fn name(&self) -> &str {
        match self {
            Entry::Key(s) | Entry::Prefix(s) => s,
        }
    }
}

/// What S3 lists: keys starting with `prefix` literally, grouped at the
/// first `delimiter` after the prefix, in UTF-8 byte order.
fn model(keys: &BTreeSet<String>, prefix: &str, delimiter: Option<&str>) -> Vec<Entry> {
    let mut out: Vec<Entry> = Vec::new();
    for k in keys.iter().filter(|k| k.starts_with(prefix)) {
        let rest = &k[prefix.len()..];
        let e = match delimiter.and_then(|d| rest.find(d).map(|i| i + d.len())) {
            Some(end) => Entry::Prefix(format!("{prefix}{}", &rest[..end])),
            None => Entry::Key(k.clone()),
        };
        if out.last() != Some(&e) {
            out.push(e);
        }
    }
    out.sort_by(|a, b| a.name().cmp(b.name()));
    out.dedup();
    out
}

/// Every page of a ListObjectsV2 (continuation tokens) or ListObjects
/// (markers): the entries in order and the page sizes.
async fn list_all(
    s3: &Client,
    b: &str,
    prefix: &str,
    delimiter: Option<&str>,
    max_keys: i32,
    v1: bool,
) -> (Vec<Entry>, Vec<usize>) {
    let mut all = Vec::new();
    let mut sizes = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let (mut page, truncated, next): (Vec<Entry>, bool, Option<String>) = if v1 {
            let r = s3
                .list_objects()
                .bucket(b)
                .prefix(prefix)
                .set_delimiter(delimiter.map(str::to_owned))
                .max_keys(max_keys)
                .set_marker(token.clone())
                .send()
                .await
                .unwrap_or_else(|e| panic!("ListObjects {prefix:?} {delimiter:?}: {e:?}"));
            let mut page: Vec<Entry> = r
                .contents()
                .iter()
                .map(|o| Entry::Key(o.key().unwrap().to_owned()))
                .collect();
            page.extend(
                r.common_prefixes()
                    .iter()
                    .map(|p| Entry::Prefix(p.prefix().unwrap().to_owned())),
            );
            page.sort_by(|a, b| a.name().cmp(b.name()));
            let truncated = r.is_truncated() == Some(true);
            // NextMarker is returned with a delimiter; without one the
            // last key is the marker (S3's rule for V1).
            let next = r
                .next_marker()
                .map(str::to_owned)
                .or_else(|| page.last().map(|e| e.name().to_owned()));
            (page, truncated, next)
        } else {
            let r = s3
                .list_objects_v2()
                .bucket(b)
                .prefix(prefix)
                .set_delimiter(delimiter.map(str::to_owned))
                .max_keys(max_keys)
                .set_continuation_token(token.clone())
                .send()
                .await
                .unwrap_or_else(|e| panic!("ListObjectsV2 {prefix:?} {delimiter:?}: {e:?}"));
            let mut page: Vec<Entry> = r
                .contents()
                .iter()
                .map(|o| Entry::Key(o.key().unwrap().to_owned()))
                .collect();
            page.extend(
                r.common_prefixes()
                    .iter()
                    .map(|p| Entry::Prefix(p.prefix().unwrap().to_owned())),
            );
            page.sort_by(|a, b| a.name().cmp(b.name()));
            assert_eq!(
                r.key_count(),
                Some(page.len() as i32),
                "KeyCount {prefix:?}"
            );
            let truncated = r.is_truncated() == Some(true);
            (
                page,
                truncated,
                r.next_continuation_token().map(str::to_owned),
            )
        };
        assert!(page.len() <= max_keys as usize, "page over max-keys");
        sizes.push(page.len());
        all.append(&mut page);
        if !truncated {
            break;
        }
        assert!(next.is_some(), "a truncated page names where to go on");
        assert!(sizes.len() < 2000, "listing does not end");
        token = next;
    }
    (all, sizes)
}

/// Prefix and delimiter listings over a few thousand keys full of `_`, `%`,
/// `\` and non-Latin-1 names: an S3 prefix is literal (the real server's
/// LIKE pattern is not), groups are formed as S3 forms them, pages that end
/// on a group go on after it, and no listing makes the real server abort
/// (a truncated native page ending on a group does; so does a Next-Marker
/// with a name outside Latin-1).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn listings_with_prefixes_delimiters_and_pages_ending_on_groups() {
    let (real, gw) = start();
    let s3 = client(&gw);
    let b = unique_bucket("list");
    s3.create_bucket().bucket(&b).send().await.unwrap();

    let mut keys = BTreeSet::new();
    // Prefixes that the real server's LIKE would mis-match: `a_` vs `ab`,
    // `a%` vs `aX`, `a\` (an escape there), and Latin-1 letters (two
    // UTF-8 bytes each).
    for g in ["a_", "a%", "a\\", "ab", "aX", "a", "ü", "ñé"] {
        for i in 0..25 {
            keys.insert(format!("{g}/{i:03}"));
            keys.insert(format!("{g}{i:03}"));
        }
        keys.insert(format!("{g}/sub/deeper/x"));
    }
    // 1100 groups of one key each: a 1000-entry page of groups is full and
    // ends on a group, and so does every small page below.
    for i in 0..1100 {
        keys.insert(format!("g/{i:04}/k"));
    }
    // Flat keys for page boundaries without groups.
    for i in 0..600 {
        keys.insert(format!("h/{i:04}-ü"));
    }
    // Names outside Latin-1 only where no truncated native page can end on
    // them (the greatest names of the bucket): the real server aborts
    // setting Next-Marker to such a name, a defect no client can avoid
    // (docs/operations.md).
    keys.insert("日本/最後".to_owned());
    let total = keys.len();
    assert!(total > 2000);

    stream::iter(keys.iter().cloned())
        .map(|k| {
            let s3 = s3.clone();
            let b = b.clone();
            async move {
                s3.put_object()
                    .bucket(&b)
                    .key(&k)
                    .body(ByteStream::from(k.clone().into_bytes()))
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("PUT {k:?}: {e:?}"));
            }
        })
        .buffer_unordered(12)
        .collect::<Vec<()>>()
        .await;

    // (prefix, delimiter, max-keys, V1?)
    let cases: &[(&str, Option<&str>, i32, bool)] = &[
        ("", None, 1000, false),
        ("", Some("/"), 1000, false),
        ("", Some("/"), 4, false),
        ("", Some("/"), 5, true),
        ("a_", None, 1000, false),
        ("a_", Some("/"), 1000, false),
        ("a_", Some("/"), 3, true),
        ("a%", None, 1000, false),
        ("a%", Some("/"), 7, false),
        ("a\\", None, 1000, false),
        ("a\\", Some("/"), 6, true),
        ("a\\/", Some("/"), 1000, false),
        ("a_/", Some("/"), 10, false),
        ("a_/sub/", Some("/"), 1000, true),
        ("a", Some("/"), 1000, false),
        ("a", Some("/"), 9, false),
        ("ü", Some("/"), 4, false),
        ("ñ", None, 5, true),
        ("日", Some("/"), 1000, true),
        ("日本", None, 1000, false),
        ("g/", Some("/"), 1000, false),
        ("g/", Some("/"), 1000, true),
        ("g/00", Some("/"), 7, false),
        ("g/", None, 1000, false),
        ("h/", None, 1000, true),
        ("h/", None, 250, false),
        ("h/05", Some("-"), 3, false),
        ("zz", Some("/"), 1000, false),
        ("%", None, 1000, false),
        ("_", Some("/"), 1000, false),
    ];
    for &(prefix, delimiter, max_keys, v1) in cases {
        let want = model(&keys, prefix, delimiter);
        let (got, sizes) = list_all(&s3, &b, prefix, delimiter, max_keys, v1).await;
        let label =
            format!("prefix {prefix:?} delimiter {delimiter:?} max-keys {max_keys} v1 {v1}");
        assert_eq!(got.len(), want.len(), "{label}: count (pages {sizes:?})");
        assert_eq!(got, want, "{label}");
        real.assert_alive();
    }

    // The aws cli (encoding-type=url, decoded by the cli) agrees.
    let out = aws(
        &gw,
        &[
            "s3api",
            "list-objects-v2",
            "--bucket",
            &b,
            "--prefix",
            "a_",
            "--delimiter",
            "/",
            "--output",
            "json",
        ],
    );
    let v: serde_json::Value = serde_json::from_str(&out).expect("cli JSON");
    let cli_keys: Vec<&str> = v["Contents"]
        .as_array()
        .map(|a| a.iter().map(|o| o["Key"].as_str().unwrap()).collect())
        .unwrap_or_default();
    let cli_prefixes: Vec<&str> = v["CommonPrefixes"]
        .as_array()
        .map(|a| a.iter().map(|o| o["Prefix"].as_str().unwrap()).collect())
        .unwrap_or_default();
    let want = model(&keys, "a_", Some("/"));
    let want_keys: Vec<&str> = want
        .iter()
        .filter_map(|e| match e {
            Entry::Key(k) => Some(k.as_str()),
            Entry::Prefix(_) => None,
        })
        .collect();
    assert_eq!(cli_keys, want_keys);
    assert_eq!(cli_prefixes, ["a_/"]);
    let out = aws(&gw, &["s3", "ls", &format!("s3://{b}/ü/")]);
    assert_eq!(out.lines().count(), 26, "{out}");
    assert!(out.contains("PRE sub/"), "{out}");

    // Clean up through DeleteObjects, 1000 keys a request.
    let all: Vec<String> = keys.iter().cloned().collect();
    for chunk in all.chunks(1000) {
        let ids: Vec<ObjectIdentifier> = chunk
            .iter()
            .map(|k| ObjectIdentifier::builder().key(k).build().unwrap())
            .collect();
        let r = s3
            .delete_objects()
            .bucket(&b)
            .delete(
                Delete::builder()
                    .set_objects(Some(ids))
                    .quiet(true)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
        assert!(r.errors().is_empty(), "{:?}", r.errors());
    }
    s3.delete_bucket().bucket(&b).send().await.unwrap();
    assert_clean_log(&gw);
    real.assert_alive();
}

/// DeleteBucket of a non-empty bucket is S3's 409 BucketNotEmpty (the real
/// 409 body is nested); DeleteObjects deletes present and missing keys.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_objects_and_delete_bucket_not_empty() {
    let (real, gw) = start();
    let s3 = client(&gw);
    let b = unique_bucket("del");
    s3.create_bucket().bucket(&b).send().await.unwrap();
    for k in ["one", "two", "dir/three"] {
        s3.put_object()
            .bucket(&b)
            .key(k)
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .unwrap();
    }
    let e = s3.delete_bucket().bucket(&b).send().await.unwrap_err();
    assert_eq!(status_of(&e), Some(409));
    assert_eq!(code_of(&e).as_deref(), Some("BucketNotEmpty"));
    s3.head_bucket().bucket(&b).send().await.unwrap();

    let ids: Vec<ObjectIdentifier> = ["one", "dir/three", "never-was"]
        .iter()
        .map(|k| ObjectIdentifier::builder().key(*k).build().unwrap())
        .collect();
    let r = s3
        .delete_objects()
        .bucket(&b)
        .delete(Delete::builder().set_objects(Some(ids)).build().unwrap())
        .send()
        .await
        .unwrap();
    let mut deleted: Vec<_> = r.deleted().iter().map(|d| d.key().unwrap()).collect();
    deleted.sort_unstable();
    assert_eq!(deleted, ["dir/three", "never-was", "one"]);
    assert!(r.errors().is_empty());
    let l = s3.list_objects_v2().bucket(&b).send().await.unwrap();
    let keys: Vec<_> = l.contents().iter().map(|o| o.key().unwrap()).collect();
    assert_eq!(keys, ["two"]);
    s3.delete_object()
        .bucket(&b)
        .key("two")
        .send()
        .await
        .unwrap();
    s3.delete_bucket().bucket(&b).send().await.unwrap();
    let e = s3.delete_bucket().bucket(&b).send().await.unwrap_err();
    assert_eq!(code_of(&e).as_deref(), Some("NoSuchBucket"));
    assert_clean_log(&gw);
    real.assert_alive();
}

fn sigv2(secret: &str, string_to_sign: &str) -> String {
    use base64::Engine;
    let mut m = Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes()).unwrap();
    m.update(string_to_sign.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(m.finalize().into_bytes())
}

/// Virtual-host addressing (aws-sdk-s3 and raw requests) and SigV2 (header
/// and query authentication) reach the same objects as path-style SigV4.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigv2_and_virtual_host() {
    let (real, gw) = start();
    let port = gw.addr.port();
    let b = unique_bucket("vh");
    let vh = sdk(&gw.key, &format!("http://s3.test:{port}"), false);
    vh.create_bucket().bucket(&b).send().await.unwrap();
    vh.put_object()
        .bucket(&b)
        .key("a b/c.txt")
        .body(ByteStream::from_static(b"virtual host"))
        .send()
        .await
        .unwrap();
    let path = client(&gw);
    let g = path
        .get_object()
        .bucket(&b)
        .key("a b/c.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(body_bytes(g).await, b"virtual host");
    let l = vh.list_objects_v2().bucket(&b).send().await.unwrap();
    assert_eq!(l.contents()[0].key(), Some("a b/c.txt"));

    let vhost = format!("{b}.s3.test");
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    let http = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .resolve(&vhost, gw.addr)
        .no_proxy()
        .build()
        .unwrap();
    let id = &gw.key.access_key_id;
    let resource = format!("/{b}/a%20b/c.txt");
    // PUT with SigV2 (header), path-style.
    let date = httpdate::fmt_http_date(SystemTime::now());
    let sig = sigv2(
        &gw.key.secret,
        &format!("PUT\n\ntext/plain\n{date}\nx-amz-meta-v:2\n{resource}"),
    );
    let r = http
        .put(format!("{}{resource}", gw.url))
        .header("date", &date)
        .header("content-type", "text/plain")
        .header("x-amz-meta-v", "2")
        .header("authorization", format!("AWS {id}:{sig}"))
        .body("signed the old way")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    for url_host in [format!("127.0.0.1:{port}"), format!("{vhost}:{port}")] {
        let path = if url_host.starts_with(&b) {
            "/a%20b/c.txt".to_owned()
        } else {
            resource.clone()
        };
        let date = httpdate::fmt_http_date(SystemTime::now());
        let sig = sigv2(&gw.key.secret, &format!("GET\n\n\n{date}\n{resource}"));
        let r = http
            .get(format!("http://{url_host}{path}"))
            .header("date", &date)
            .header("authorization", format!("AWS {id}:{sig}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "SigV2 header via {url_host}");
        assert_eq!(r.headers()["x-amz-meta-v"], "2");
        assert_eq!(r.text().await.unwrap(), "signed the old way");
        let expires = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 300;
        let sig = sigv2(&gw.key.secret, &format!("GET\n\n\n{expires}\n{resource}"));
        let sig = percent_encoding::utf8_percent_encode(&sig, percent_encoding::NON_ALPHANUMERIC);
        let r = http
            .get(format!(
                "http://{url_host}{path}?AWSAccessKeyId={id}&Expires={expires}&Signature={sig}"
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "SigV2 query via {url_host}");
        assert_eq!(r.text().await.unwrap(), "signed the old way");
    }
    for k in ["a b/c.txt"] {
        vh.delete_object().bucket(&b).key(k).send().await.unwrap();
    }
    vh.delete_bucket().bucket(&b).send().await.unwrap();
    assert_clean_log(&gw);
    real.assert_alive();
}

/// The aws cli end to end: mb, cp up and down (a multipart upload at the
/// cli's 8 MiB threshold), ls, head-object, rm, rb.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_cli_round_trip() {
    let (real, gw) = start();
    let b = unique_bucket("cli");
    let tmp = tempfile::tempdir().unwrap();
    let small = tmp.path().join("small.txt");
    let big = tmp.path().join("big.bin");
    std::fs::write(&small, b"hello from the aws cli").unwrap();
    let big_data = data(9 << 20, 5);
    std::fs::write(&big, &big_data).unwrap();
    aws(&gw, &["s3", "mb", &format!("s3://{b}")]);
    aws(
        &gw,
        &[
            "s3",
            "cp",
            small.to_str().unwrap(),
            &format!("s3://{b}/docs/small file.txt"),
            "--cache-control",
            "max-age=60",
        ],
    );
    aws(
        &gw,
        &[
            "s3",
            "cp",
            big.to_str().unwrap(),
            &format!("s3://{b}/big.bin"),
        ],
    );
    let out = aws(&gw, &["s3", "ls", "--recursive", &format!("s3://{b}")]);
    assert!(out.contains("docs/small file.txt"), "{out}");
    assert!(out.contains("big.bin"), "{out}");
    let head = aws(
        &gw,
        &[
            "s3api",
            "head-object",
            "--bucket",
            &b,
            "--key",
            "docs/small file.txt",
        ],
    );
    let v: serde_json::Value = serde_json::from_str(&head).unwrap();
    assert_eq!(v["CacheControl"], "max-age=60");
    assert_eq!(v["ContentLength"], 22);
    let back = tmp.path().join("back.bin");
    aws(
        &gw,
        &[
            "s3",
            "cp",
            &format!("s3://{b}/big.bin"),
            back.to_str().unwrap(),
        ],
    );
    assert_eq!(md5_hex(&std::fs::read(&back).unwrap()), md5_hex(&big_data));
    let head = aws(
        &gw,
        &["s3api", "head-object", "--bucket", &b, "--key", "big.bin"],
    );
    let v: serde_json::Value = serde_json::from_str(&head).unwrap();
    assert!(
        v["ETag"].as_str().unwrap().ends_with("-2\""),
        "the cli uploads 9 MiB in two parts: {v}"
    );
    let rb = aws_try(&gw, &["s3", "rb", &format!("s3://{b}")]);
    assert!(!rb.status.success(), "rb of a non-empty bucket must fail");
    assert!(
        String::from_utf8_lossy(&rb.stderr).contains("BucketNotEmpty"),
        "{}",
        String::from_utf8_lossy(&rb.stderr)
    );
    aws(&gw, &["s3", "rm", "--recursive", &format!("s3://{b}")]);
    aws(&gw, &["s3", "rb", &format!("s3://{b}")]);
    assert_clean_log(&gw);
    real.assert_alive();
}

/// The production model: one operator identity acts for many tenants. Each
/// tenant has its own bucket namespace under `/:tenant/buckets` in the real
/// store; the real authorizer lets the operator (cn=operators) act for a
/// tenant, and refuses an ordinary account doing the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_acts_for_tenants() {
    let real = RealManta::get();
    let bob = GatewayKey::generate(OTHER_TENANT);
    let gw = real.gateway(GatewayOptions {
        account: TENANT.into(),
        extra_keys: vec![bob.clone()],
        ..GatewayOptions::default()
    });
    let alice_s3 = client(&gw);
    let bob_s3 = sdk(&bob, &gw.url, true);
    let b = unique_bucket("tenant");
    // The same bucket name in two tenants' namespaces.
    alice_s3.create_bucket().bucket(&b).send().await.unwrap();
    bob_s3.create_bucket().bucket(&b).send().await.unwrap();
    alice_s3
        .put_object()
        .bucket(&b)
        .key("k")
        .body(ByteStream::from_static(b"alice's"))
        .send()
        .await
        .unwrap();
    bob_s3
        .put_object()
        .bucket(&b)
        .key("k")
        .body(ByteStream::from_static(b"bob's"))
        .send()
        .await
        .unwrap();
    let g = alice_s3
        .get_object()
        .bucket(&b)
        .key("k")
        .send()
        .await
        .unwrap();
    assert_eq!(body_bytes(g).await, b"alice's");
    let g = bob_s3
        .get_object()
        .bucket(&b)
        .key("k")
        .send()
        .await
        .unwrap();
    assert_eq!(body_bytes(g).await, b"bob's");

    // Natively: the bucket lives under /<tenant>/buckets, signed by the operator.
    let op = real.client();
    let alice_native = op.for_account(TENANT);
    let r = alice_native.get_object(&b, "k", &[]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(&r.body[..], b"alice's");
    let r = op.for_account(OTHER_TENANT).get_object(&b, "k", &[]).await;
    assert_eq!(&r.body[..], b"bob's");

    // An ordinary account (up.sh's `spike`, with its own key) may not act
    // for a tenant: the real authorizer allows that to operators only.
    let spike = spike_client(real);
    let r = spike.for_account(TENANT).get_object(&b, "k", &[]).await;
    assert_eq!(
        r.status,
        403,
        "a non-operator acting for a tenant: {}",
        r.text()
    );
    let r = spike.list_buckets(&[]).await;
    assert_eq!(r.status, 200, "spike in its own namespace: {}", r.text());

    for s3 in [&alice_s3, &bob_s3] {
        s3.delete_object().bucket(&b).key("k").send().await.unwrap();
        s3.delete_bucket().bucket(&b).send().await.unwrap();
    }
    assert_clean_log(&gw);
    real.assert_alive();
}

/// A native client signing as up.sh's own account `spike` (RSA key).
fn spike_client(real: &RealManta) -> NativeClient {
    let pem = std::fs::read_to_string(real.dir.join("etc/id_rsa")).expect("spike's key");
    let key = PrivateKey::from_pem_or_openssh(&pem).expect("RSA key");
    let id = KeyId {
        login: "spike".into(),
        subuser: None,
        fingerprint: key.public_key().md5_fingerprint(),
    };
    NativeClient::new(
        &real.url,
        "spike",
        Some(std::sync::Arc::new(Signer::new(id, key))),
    )
}
