//! s3gw end to end over buckets-lite in its strict form (as quirky as the
//! real buckets-api: HEAD without Cache-Control, LIKE prefixes, aborts
//! imitated as 500s, nested 409 bodies, the Latin-1 metadata budget): what
//! an S3 client sees must not depend on any of it.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use aws_sdk_s3::Client;
use s3gw_tests::buckets_lite::BucketsLite;
use s3gw_tests::gateway::{Gateway, GatewayOptions};

mod common;
use common::{code_of, s3_config};

fn client(gw: &Gateway) -> Client {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::AwsLc,
        ))
        .build_https();
    let conf = s3_config(&gw.url, &gw.key.access_key_id, &gw.key.secret)
        .http_client(http)
        .build();
    Client::from_conf(conf)
}

/// Cache-Control and a Content-Type without `/` survive a store whose HEAD
/// drops the one and whose PUT would replace the other; the multipart ETag
/// does not depend on the Content-Type either, and the final multipart
/// object keeps its Cache-Control.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_the_real_head_drops_survive() {
    let lite = BucketsLite::start();
    let gw = Gateway::start_with(&lite, GatewayOptions::default());
    let s3 = client(&gw);
    s3.create_bucket().bucket("qqq").send().await.unwrap();
    s3.put_object()
        .bucket("qqq")
        .key("doc")
        .cache_control("max-age=60")
        .content_type("weird")
        .body(ByteStream::from_static(b"hello"))
        .send()
        .await
        .unwrap();
    let h = s3
        .head_object()
        .bucket("qqq")
        .key("doc")
        .send()
        .await
        .unwrap();
    assert_eq!(h.cache_control(), Some("max-age=60"));
    assert_eq!(h.content_type(), Some("weird"));

    let up = s3
        .create_multipart_upload()
        .bucket("qqq")
        .key("big")
        .cache_control("no-store")
        .content_type("noslash")
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap();
    let mut parts = Vec::new();
    for n in 1..=2 {
        let body = vec![n as u8; if n == 1 { 5 << 20 } else { 10 }];
        let p = s3
            .upload_part()
            .bucket("qqq")
            .key("big")
            .upload_id(id)
            .part_number(n)
            .body(ByteStream::from(body))
            .send()
            .await
            .unwrap();
        parts.push(
            CompletedPart::builder()
                .part_number(n)
                .e_tag(p.e_tag().unwrap())
                .build(),
        );
    }
    let done = s3
        .complete_multipart_upload()
        .bucket("qqq")
        .key("big")
        .upload_id(id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let etag = done.e_tag().unwrap().to_owned();
    assert!(etag.trim_matches('"').ends_with("-2"), "{etag}");
    let h = s3
        .head_object()
        .bucket("qqq")
        .key("big")
        .send()
        .await
        .unwrap();
    assert_eq!(h.e_tag(), Some(etag.as_str()));
    assert_eq!(h.cache_control(), Some("no-store"));
    assert_eq!(h.content_type(), Some("noslash"));
    let l = s3
        .list_objects_v2()
        .bucket("qqq")
        .prefix("big")
        .send()
        .await
        .unwrap();
    assert_eq!(l.contents()[0].e_tag(), Some(etag.as_str()));

    // DeleteBucket of a non-empty bucket: the store's nested 409 body.
    let e = s3.delete_bucket().bucket("qqq").send().await.unwrap_err();
    assert_eq!(code_of(&e).as_deref(), Some("BucketNotEmpty"));
}

/// Non-ASCII metadata counts twice against the store's budget: refused with
/// MetadataTooLarge before sending, never dropped silently.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_ascii_metadata_is_refused_before_the_store_drops_it() {
    let lite = BucketsLite::start();
    let gw = Gateway::start_with(&lite, GatewayOptions::default());
    let s3 = client(&gw);
    s3.create_bucket().bucket("mmm").send().await.unwrap();
    // 1000 'é': 2000 bytes (under S3's 2 KiB), 4000 against the store's
    // budget; with a Content-Disposition the total passes 4 KiB.
    let e = s3
        .put_object()
        .bucket("mmm")
        .key("k")
        .metadata("a", "é".repeat(1000))
        .content_disposition("x".repeat(200))
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_of(&e).as_deref(), Some("MetadataTooLarge"));
    // The same bytes in ASCII fit, and come back whole.
    s3.put_object()
        .bucket("mmm")
        .key("k")
        .metadata("a", "e".repeat(1000))
        .content_disposition("x".repeat(200))
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    let h = s3
        .head_object()
        .bucket("mmm")
        .key("k")
        .send()
        .await
        .unwrap();
    assert_eq!(h.metadata().unwrap()["a"].len(), 1000);
    assert_eq!(h.content_disposition().map(str::len), Some(200));
}

/// S3 prefixes are literal, also with `_`, `%`, `\` and a delimiter, and
/// pages that end on a common prefix continue past it (a store asked to
/// group would abort there: buckets-lite answers 500 in its place).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listings_with_like_metacharacters_and_group_ended_pages() {
    let lite = BucketsLite::start();
    let gw = Gateway::start_with(&lite, GatewayOptions::default());
    let s3 = client(&gw);
    s3.create_bucket().bucket("lll").send().await.unwrap();
    let keys = [
        "a_/1", "a_/2", "a_x", "ab/1", "ab/2", "a%/1", "a%b", "a\\/1", "a\\c", "a1/x", "a2/x",
        "a3/x", "z",
    ];
    for k in keys {
        s3.put_object()
            .bucket("lll")
            .key(k)
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .unwrap();
    }
    for (prefix, want) in [
        ("a_", vec!["a_/", "a_x"]),
        ("a%", vec!["a%/", "a%b"]),
        ("a\\", vec!["a\\/", "a\\c"]),
        (
            "a",
            vec![
                "a%/", "a%b", "a1/", "a2/", "a3/", "a\\/", "a\\c", "a_/", "a_x", "ab/",
            ],
        ),
    ] {
        // One key per page: every other page ends on a common prefix.
        let mut got: Vec<String> = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = s3
                .list_objects_v2()
                .bucket("lll")
                .prefix(prefix)
                .delimiter("/")
                .max_keys(1)
                .set_continuation_token(token.clone())
                .send()
                .await
                .unwrap_or_else(|e| panic!("{prefix:?}: {e:?}"));
            got.extend(page.contents().iter().map(|o| o.key().unwrap().to_owned()));
            got.extend(
                page.common_prefixes()
                    .iter()
                    .map(|p| p.prefix().unwrap().to_owned()),
            );
            match page.next_continuation_token() {
                Some(t) => token = Some(t.to_owned()),
                None => break,
            }
        }
        got.sort();
        let mut want: Vec<String> = want.into_iter().map(str::to_owned).collect();
        want.sort();
        assert_eq!(got, want, "prefix {prefix:?}");
    }
    assert!(
        !lite.log_text().contains("aborts here"),
        "{}",
        lite.log_text()
    );
}

/// A configuration for a real store with an operator key whose signatures
/// the real buckets-api refuses (Ed25519, P-384) fails at start, and in
/// `check-config`, saying why; a P-256 key passes that check.
#[test]
fn operator_keys_the_real_store_refuses_fail_the_start() {
    use s3gw_httpsig::PrivateKey;
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let q = |p: &std::path::Path| serde_json::to_string(p.to_str().unwrap()).unwrap();
    let keys = dir.path().join("keys.toml");
    std::fs::write(&keys, "").unwrap();
    for (name, key, why) in [
        ("ed", PrivateKey::generate_ed25519(), Some("Ed25519")),
        (
            "p384",
            PrivateKey::generate_ecdsa(384).unwrap(),
            Some("P-384"),
        ),
        ("p256", PrivateKey::generate_ecdsa(256).unwrap(), None),
    ] {
        let key_path = dir.path().join(format!("{name}.key"));
        std::fs::write(&key_path, key.to_openssh_pem()).unwrap();
        let cfg = dir.path().join(format!("{name}.toml"));
        std::fs::write(
            &cfg,
            format!(
                "[server]\nlisten = \"127.0.0.1:0\"\n[keys]\nsource = \"file\"\npath = {}\n\
                 [backend]\nurl = \"http://127.0.0.1:1\"\noperator_login = \"op\"\noperator_key_file = {}\n",
                q(&keys),
                q(&key_path)
            ),
        )
        .unwrap();
        let run = |args: &[&str]| {
            Command::new(s3gw_tests::procs::workspace_bin("s3gw"))
                .arg("--config")
                .arg(&cfg)
                .args(args)
                .env_remove("S3GW_CONFIG")
                .env("RUST_LOG", "error")
                .stdin(Stdio::null())
                .output()
                .unwrap()
        };
        let check = run(&["check-config"]);
        let stderr = String::from_utf8_lossy(&check.stderr).into_owned();
        match why {
            Some(why) => {
                assert_eq!(check.status.code(), Some(2), "{name}: {stderr}");
                assert!(
                    stderr.contains(why) && stderr.contains("P-256"),
                    "{name}: {stderr}"
                );
                // `serve` refuses it before binding anything.
                let serve = run(&[]);
                let stderr = String::from_utf8_lossy(&serve.stderr).into_owned();
                assert!(!serve.status.success(), "{name}: {stderr}");
                assert!(stderr.contains(why), "{name}: {stderr}");
            }
            None => assert!(!stderr.contains("operator_key_file"), "{name}: {stderr}"),
        }
    }
}
