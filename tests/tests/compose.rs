//! Multipart Complete on both assembly paths (issue 13 item 5), and the
//! buckets-lite compose extension's own contract, on and off.
//!
//! - Contract: `POST /:account/buckets/:bucket/objects/:object` against a
//!   real buckets-lite process with `[extensions] compose = true` (every
//!   rule of docs/buckets-lite.md "Extensions") and without it (405, no
//!   advertisement: the real contract).
//! - S3 (aws-sdk-s3 through a real s3gw): a 1 GiB object in 128 parts
//!   completed in front of a store WITH compose and one WITHOUT (streaming),
//!   the GET stream hashed part by part (never held in memory) and the ETag
//!   checked; which path ran is read natively (a composed object has no
//!   Content-MD5). Then conditions, a wrong or missing part and concurrent
//!   Completes on both paths, and the embedded default detecting compose.
//!
//! Needs the binaries: `cargo build --workspace --bins` first.

use aws_sdk_s3::config::{RequestChecksumCalculation, ResponseChecksumValidation};
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use aws_sdk_s3::Client;
use futures_util::{stream, StreamExt as _};
use md5::Digest as _;
use s3gw_tests::buckets_lite::{BucketsLite, BucketsLiteConfigSpec, NativeResponse};
use s3gw_tests::gateway::{Gateway, GatewayOptions};

mod common;
use common::{failure, s3_config};

const MIB: usize = 1 << 20;

fn lite(compose: bool) -> BucketsLite {
    let mut spec = BucketsLiteConfigSpec::standard();
    if compose {
        spec.extra_toml.push_str("\n[extensions]\ncompose = true\n");
    }
    BucketsLite::start_with(spec)
}

fn s3_client(gw: &Gateway) -> Client {
    let conf = s3_config(&gw.url, &gw.key.access_key_id, &gw.key.secret)
        // No CRC per part: this file is about assembly, and the 2-core
        // machine has better uses for the cycles.
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
        .build();
    Client::from_conf(conf)
}

struct Env {
    s3: Client,
    lite: BucketsLite,
    _gw: Gateway,
}

async fn start(compose: bool, bucket: &str) -> Env {
    let lite = lite(compose);
    let gw = Gateway::start_with(&lite, GatewayOptions::default());
    let s3 = s3_client(&gw);
    s3.create_bucket().bucket(bucket).send().await.unwrap();
    Env { s3, lite, _gw: gw }
}

/// Deterministic bytes of part `n` (xorshift seeded by the part number).
fn part_bytes(n: u32, len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15 ^ (u64::from(n) << 32 | u64::from(n));
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

fn crc64(b: &[u8]) -> u64 {
    crc_fast::checksum(crc_fast::CrcAlgorithm::Crc64Nvme, b)
}

/// What a test knows of an uploaded part.
struct Uploaded {
    number: i32,
    etag: String,
    md5: [u8; 16],
    crc: u64,
    len: usize,
}

/// Uploads parts `1..=count` of `part_len` bytes (the last `last_len`)
/// with 8 in flight; returns them in part order.
async fn upload_parts(
    s3: &Client,
    bucket: &str,
    key: &str,
    uid: &str,
    count: u32,
    part_len: usize,
    last_len: usize,
) -> Vec<Uploaded> {
    let mut parts: Vec<Uploaded> = stream::iter(1..=count)
        .map(|n| async move {
            let len = if n == count { last_len } else { part_len };
            let bytes = part_bytes(n, len);
            let md5: [u8; 16] = md5::Md5::digest(&bytes).into();
            let crc = crc64(&bytes);
            let out = s3
                .upload_part()
                .bucket(bucket)
                .key(key)
                .upload_id(uid)
                .part_number(n as i32)
                .body(bytes.clone().into())
                .send()
                .await
                .unwrap_or_else(|e| panic!("part {n}: {e:?}"));
            Uploaded {
                number: n as i32,
                etag: out.e_tag().unwrap().to_owned(),
                md5,
                crc,
                len,
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    parts.sort_by_key(|p| p.number);
    for p in &parts {
        assert_eq!(p.etag, format!("\"{}\"", hex::encode(p.md5)));
    }
    parts
}

/// The S3 multipart ETag: md5 of the concatenated part MD5s, `-N`.
fn multipart_etag(parts: &[Uploaded]) -> String {
    let mut all = md5::Md5::new();
    for p in parts {
        all.update(p.md5);
    }
    format!("\"{}-{}\"", hex::encode(all.finalize()), parts.len())
}

fn listed(parts: &[Uploaded]) -> Vec<CompletedPart> {
    parts
        .iter()
        .map(|p| {
            CompletedPart::builder()
                .part_number(p.number)
                .e_tag(&p.etag)
                .build()
        })
        .collect()
}

async fn complete(
    s3: &Client,
    bucket: &str,
    key: &str,
    uid: &str,
    parts: Vec<CompletedPart>,
    if_match: Option<&str>,
    if_none_match: Option<&str>,
) -> Result<String, (u16, String)> {
    s3.complete_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(uid)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .set_if_match(if_match.map(str::to_owned))
        .set_if_none_match(if_none_match.map(str::to_owned))
        .send()
        .await
        .map(|o| o.e_tag().unwrap_or_default().to_owned())
        .map_err(|e| failure(&e))
}

/// GETs `key` and checks it is exactly `parts` in order: the stream is cut
/// at the part boundaries and each piece's CRC-64 compared, so nothing
/// larger than one network chunk is held. Returns the ETag header.
async fn check_object(s3: &Client, bucket: &str, key: &str, parts: &[Uploaded]) -> String {
    let total: usize = parts.iter().map(|p| p.len).sum();
    let out = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap();
    assert_eq!(out.content_length(), Some(total as i64));
    let etag = out.e_tag().unwrap().to_owned();
    let mut body = out.body;
    let mut i = 0usize;
    let mut in_part = 0usize;
    let mut digest = crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc64Nvme);
    let mut seen = 0usize;
    while let Some(chunk) = body.try_next().await.unwrap() {
        seen += chunk.len();
        let mut rest = &chunk[..];
        while !rest.is_empty() {
            assert!(i < parts.len(), "more bytes than the parts hold");
            let take = rest.len().min(parts[i].len - in_part);
            digest.update(&rest[..take]);
            in_part += take;
            rest = &rest[take..];
            if in_part == parts[i].len {
                assert_eq!(digest.finalize(), parts[i].crc, "bytes of part {}", i + 1);
                digest = crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc64Nvme);
                in_part = 0;
                i += 1;
            }
        }
    }
    assert_eq!(seen, total);
    assert_eq!(i, parts.len());
    etag
}

/// The native object behind `key` (tenant alice, as GatewayOptions::default).
async fn native_head(lite: &BucketsLite, bucket: &str, key: &str) -> NativeResponse {
    let c = lite.client().for_account("alice");
    let r = c.head(&c.object_path(bucket, key), &[]).await;
    assert_eq!(r.status, 200, "{key}");
    r
}

async fn no_uploads_left(s3: &Client, bucket: &str) {
    let l = s3
        .list_multipart_uploads()
        .bucket(bucket)
        .send()
        .await
        .unwrap();
    assert!(l.uploads().is_empty(), "{:?}", l.uploads());
}

/// 1 GiB in 128 parts of 8 MiB, completed on one path; bytes and ETag.
async fn gib_in_128_parts(compose: bool) {
    let env = start(compose, "big").await;
    let s3 = &env.s3;
    let up = s3
        .create_multipart_upload()
        .bucket("big")
        .key("gib")
        .content_type("application/x-test")
        .send()
        .await
        .unwrap();
    let uid = up.upload_id().unwrap().to_owned();
    // Phase times are printed for the curious (never asserted).
    let t = std::time::Instant::now();
    let parts = upload_parts(s3, "big", "gib", &uid, 128, 8 * MIB, 8 * MIB).await;
    assert_eq!(parts.iter().map(|p| p.len).sum::<usize>(), 1 << 30);
    eprintln!("compose={compose}: 128 parts uploaded in {:?}", t.elapsed());
    let want = multipart_etag(&parts);
    let t = std::time::Instant::now();
    let got = complete(s3, "big", "gib", &uid, listed(&parts), None, None)
        .await
        .unwrap();
    eprintln!("compose={compose}: Complete took {:?}", t.elapsed());
    assert_eq!(got, want);
    // Which path made it: a composed object has no native Content-MD5; a
    // streamed one has the MD5 the store computed while receiving it.
    let native = native_head(&env.lite, "big", "gib").await;
    assert_eq!(
        native.header("content-md5").is_none(),
        compose,
        "{:?}",
        native.headers
    );
    assert_eq!(
        native.header("content-length").as_deref(),
        Some("1073741824")
    );
    let t = std::time::Instant::now();
    assert_eq!(check_object(s3, "big", "gib", &parts).await, want);
    eprintln!("compose={compose}: 1 GiB GET checked in {:?}", t.elapsed());
    let head = s3
        .head_object()
        .bucket("big")
        .key("gib")
        .send()
        .await
        .unwrap();
    assert_eq!(head.e_tag(), Some(want.as_str()));
    assert_eq!(head.content_type(), Some("application/x-test"));
    no_uploads_left(s3, "big").await;
    // The parts are gone from the store too: only the object remains.
    let c = env.lite.client().for_account("alice");
    let l = c.list_objects("big", &[]).await;
    let names: Vec<String> = l
        .json_lines()
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, vec!["gib".to_owned()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gib_in_128_parts_composed() {
    gib_in_128_parts(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gib_in_128_parts_streamed() {
    gib_in_128_parts(false).await;
}

/// Conditions, a wrong or missing part, and four concurrent Completes of
/// one upload, on one path.
async fn complete_rules(compose: bool) {
    let env = start(compose, "rules").await;
    let s3 = &env.s3;
    let up = s3
        .create_multipart_upload()
        .bucket("rules")
        .key("k")
        .send()
        .await
        .unwrap();
    let uid = up.upload_id().unwrap().to_owned();
    let parts = upload_parts(s3, "rules", "k", &uid, 3, 5 * MIB, 1000).await;
    let want = multipart_etag(&parts);

    // A part never uploaded, a part with another ETag: InvalidPart, and
    // the upload is still there.
    let mut missing = listed(&parts);
    missing.push(
        CompletedPart::builder()
            .part_number(4)
            .e_tag(&parts[0].etag)
            .build(),
    );
    let invalid = (400, "InvalidPart".to_owned());
    assert_eq!(
        complete(s3, "rules", "k", &uid, missing, None, None).await,
        Err(invalid.clone())
    );
    let mut wrong = listed(&parts);
    wrong[1] = CompletedPart::builder()
        .part_number(2)
        .e_tag(&parts[0].etag)
        .build();
    assert_eq!(
        complete(s3, "rules", "k", &uid, wrong, None, None).await,
        Err(invalid)
    );

    // Conditions on the target, checked by the store at commit.
    assert_eq!(
        complete(s3, "rules", "k", &uid, listed(&parts), Some("*"), None).await,
        Err((404, "NoSuchKey".into()))
    );
    let old = s3
        .put_object()
        .bucket("rules")
        .key("k")
        .body(b"old".to_vec().into())
        .send()
        .await
        .unwrap()
        .e_tag()
        .unwrap()
        .to_owned();
    let pf = (412, "PreconditionFailed".to_owned());
    assert_eq!(
        complete(s3, "rules", "k", &uid, listed(&parts), None, Some("*")).await,
        Err(pf.clone())
    );
    assert_eq!(
        complete(
            s3,
            "rules",
            "k",
            &uid,
            listed(&parts),
            Some("\"0123456789abcdef0123456789abcdef\""),
            None
        )
        .await,
        Err(pf)
    );
    let kept = s3
        .get_object()
        .bucket("rules")
        .key("k")
        .send()
        .await
        .unwrap();
    assert_eq!(kept.e_tag(), Some(old.as_str()), "a refused Complete wrote");

    // Four Completes at once: every one answers the object this upload
    // made (a loser finds its parts gone, or its record, and the object).
    let racers = (0..4).map(|_| {
        let (uid, parts) = (uid.clone(), listed(&parts));
        async move { complete(s3, "rules", "k", &uid, parts, None, None).await }
    });
    let results = futures_util::future::join_all(racers).await;
    for r in &results {
        assert_eq!(r.as_ref(), Ok(&want), "{results:?}");
    }
    assert_eq!(check_object(s3, "rules", "k", &parts).await, want);
    // A retried Complete of the finished upload answers the same.
    assert_eq!(
        complete(s3, "rules", "k", &uid, listed(&parts), None, None).await,
        Ok(want.clone())
    );
    no_uploads_left(s3, "rules").await;
    let native = native_head(&env.lite, "rules", "k").await;
    assert_eq!(native.header("content-md5").is_none(), compose);

    // The object reads like any multipart object (a composed one has no
    // native MD5 to lean on): listing ETag, a part read, a copy of it.
    let l = s3.list_objects_v2().bucket("rules").send().await.unwrap();
    assert_eq!(l.contents()[0].e_tag(), Some(want.as_str()));
    let p2 = s3
        .get_object()
        .bucket("rules")
        .key("k")
        .part_number(2)
        .send()
        .await
        .unwrap();
    assert_eq!(p2.parts_count(), Some(3));
    let p2 = p2.body.collect().await.unwrap().into_bytes();
    assert_eq!(crc64(&p2), parts[1].crc);
    s3.copy_object()
        .bucket("rules")
        .key("k-copy")
        .copy_source("rules/k")
        .send()
        .await
        .unwrap();
    check_object(s3, "rules", "k-copy", &parts).await;
    s3.delete_object()
        .bucket("rules")
        .key("k-copy")
        .send()
        .await
        .unwrap();

    // If-Match holding the current ETag: the compare-and-swap succeeds.
    let up = s3
        .create_multipart_upload()
        .bucket("rules")
        .key("k")
        .send()
        .await
        .unwrap();
    let uid2 = up.upload_id().unwrap().to_owned();
    let second = upload_parts(s3, "rules", "k", &uid2, 1, 0, 4321).await;
    let want2 = multipart_etag(&second);
    assert_eq!(
        complete(s3, "rules", "k", &uid2, listed(&second), Some(&want), None).await,
        Ok(want2.clone())
    );
    assert_eq!(check_object(s3, "rules", "k", &second).await, want2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn complete_rules_composed() {
    complete_rules(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn complete_rules_streamed() {
    complete_rules(false).await;
}

/// Creates `bucket`, uploads key `k` in `count` parts and completes it;
/// checks the ETag and the bytes read back.
async fn uploaded_and_completed(
    s3: &Client,
    bucket: &str,
    count: u32,
    part_len: usize,
    last_len: usize,
) {
    s3.create_bucket().bucket(bucket).send().await.unwrap();
    let up = s3
        .create_multipart_upload()
        .bucket(bucket)
        .key("k")
        .send()
        .await
        .unwrap();
    let uid = up.upload_id().unwrap().to_owned();
    let parts = upload_parts(s3, bucket, "k", &uid, count, part_len, last_len).await;
    let want = multipart_etag(&parts);
    assert_eq!(
        complete(s3, bucket, "k", &uid, listed(&parts), None, None).await,
        Ok(want.clone())
    );
    assert_eq!(check_object(s3, bucket, "k", &parts).await, want);
}

/// s3gw's embedded default turns compose on and detects it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_default_composes() {
    let gw = Gateway::start_embedded();
    let s3 = s3_client(&gw);
    uploaded_and_completed(&s3, "emb", 2, 5 * MIB, 7).await;
    let log = gw.log_text();
    assert!(
        log.contains("native store extensions detected") && log.contains("compose=true"),
        "{log}"
    );
}

/// A store whose compose links its parts (`compose-links`) composes an
/// object of any size: the size cap that keeps a COPYING compose within
/// the native idle timeout (32 MiB/s times `request_timeout`) does not
/// apply. Here the cap is 32 MiB (`request_timeout = 1s`) and the object
/// 40 MiB: composed, not streamed (no native Content-MD5).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_linking_store_composes_past_the_copy_size_cap() {
    let lite = lite(true);
    let gw = Gateway::start_with(
        &lite,
        GatewayOptions {
            backend_toml: "request_timeout = \"1s\"\n".into(),
            ..GatewayOptions::default()
        },
    );
    let s3 = s3_client(&gw);
    uploaded_and_completed(&s3, "big", 8, 5 * MIB, 5 * MIB).await;
    let native = native_head(&lite, "big", "k").await;
    assert!(
        native.header("content-md5").is_none(),
        "composed, not streamed: {:?}",
        native.headers
    );
    let log = gw.log_text();
    assert!(log.contains("compose_links=true"), "{log}");
}

// ---- the extension's native contract ----

fn compose_body(parts: &[(&str, Option<&str>)]) -> reqwest::Body {
    let parts: Vec<serde_json::Value> = parts
        .iter()
        .map(|(n, e)| match e {
            Some(e) => serde_json::json!({"name": n, "etag": e}),
            None => serde_json::json!({"name": n}),
        })
        .collect();
    serde_json::json!({ "parts": parts }).to_string().into()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extension_on_contract() {
    let lite = lite(true);
    let alice = lite.client_as("alice");
    assert_eq!(alice.create_bucket("bkt").await.status, 204);
    let put = |name: &'static str, body: &'static [u8]| {
        let alice = alice.clone();
        async move {
            let r = alice
                .put(&alice.object_path("bkt", name), &[], body.to_vec())
                .await;
            assert_eq!(r.status, 204, "{}", r.text());
            r.header("etag").unwrap()
        }
    };
    let id1 = put("p1", b"hello ").await;
    put("p2", b"world").await;

    let opts = alice
        .send("OPTIONS", &alice.buckets_path(), &[], None)
        .await;
    assert_eq!(opts.status, 204);
    // compose-links: the data directory (ext4/tmpfs here) takes hard links.
    assert_eq!(
        opts.header("buckets-lite-extensions").as_deref(),
        Some("compose, compose-links")
    );

    let whole = alice.object_path("bkt", "whole");
    let post = |headers: Vec<(&'static str, String)>, body: reqwest::Body| {
        let (alice, whole) = (alice.clone(), whole.clone());
        async move {
            let h: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
            alice.send("POST", &whole, &h, Some(body)).await
        }
    };
    let r = post(
        vec![
            ("content-type", "text/plain".into()),
            ("m-color", "blue".into()),
            ("durability-level", "3".into()),
        ],
        compose_body(&[("p1", Some(&id1)), ("p2", None), ("p1", None)]),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text());
    let id = r.header("etag").unwrap();
    assert!(r.header("last-modified").is_some());
    assert!(r.header("computed-md5").is_none());

    let g = alice.get(&whole, &[]).await;
    assert_eq!(g.status, 200);
    assert_eq!(&g.body[..], b"hello worldhello ");
    assert_eq!(g.header("etag").as_deref(), Some(id.as_str()));
    assert_eq!(g.header("content-type").as_deref(), Some("text/plain"));
    assert_eq!(g.header("m-color").as_deref(), Some("blue"));
    assert_eq!(g.header("durability-level").as_deref(), Some("3"));
    assert!(
        g.header("content-md5").is_none(),
        "no MD5 of a composed body"
    );
    let h = alice.head(&whole, &[]).await;
    assert_eq!(h.header("content-length").as_deref(), Some("17"));
    assert!(h.header("content-md5").is_none());
    let ranged = alice.get(&whole, &[("range", "bytes=4-7")]).await;
    assert_eq!((ranged.status, &ranged.body[..]), (206, &b"o wo"[..]));
    let lines = alice.list_objects("bkt", &[]).await.json_lines();
    let entry = |n: &str| lines.iter().find(|e| e["name"] == n).unwrap().clone();
    assert_eq!(entry("whole")["size"], 17);
    assert!(entry("whole").get("contentMD5").is_none());
    assert!(entry("p1").get("contentMD5").is_some());

    // Conditions on the target, as a PUT's.
    let r = post(
        vec![("if-none-match", "*".into())],
        compose_body(&[("p2", None)]),
    )
    .await;
    assert_eq!(
        (r.status, r.error_code().as_deref()),
        (412, Some("PreconditionFailed"))
    );
    let r = post(
        vec![("if-match", "not-the-id".into())],
        compose_body(&[("p2", None)]),
    )
    .await;
    assert_eq!(r.status, 412);
    let r = post(
        vec![("if-match", id.clone())],
        compose_body(&[("p2", None)]),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(&alice.get(&whole, &[]).await.body[..], b"world");
    let absent = alice.object_path("bkt", "absent");
    let r = alice
        .send(
            "POST",
            &absent,
            &[("if-match", "x")],
            Some(compose_body(&[("p2", None)])),
        )
        .await;
    assert_eq!(
        (r.status, r.error_code().as_deref()),
        (404, Some("ObjectNotFound"))
    );

    // Parts: missing, or not the pinned id.
    for body in [
        compose_body(&[("p2", None), ("nope", None)]),
        compose_body(&[("p1", Some("0000-not-its-id"))]),
    ] {
        let r = post(vec![], body).await;
        assert_eq!(
            (r.status, r.error_code().as_deref()),
            (409, Some("InvalidComposePart")),
            "{}",
            r.text()
        );
    }
    // Malformed requests.
    for (headers, body) in [
        (vec![], reqwest::Body::from("{}")),
        (vec![], reqwest::Body::from("{\"parts\":[]}")),
        (vec![], reqwest::Body::from("not json")),
        (
            vec![("content-md5", "1B2M2Y8AsgTpgAmY7PhCfg==".to_owned())],
            compose_body(&[("p2", None)]),
        ),
    ] {
        let r = post(headers, body).await;
        assert_eq!(
            (r.status, r.error_code().as_deref()),
            (400, Some("InvalidParameter")),
            "{}",
            r.text()
        );
    }
    let r = post(
        vec![("durability-level", "9".into())],
        compose_body(&[("p2", None)]),
    )
    .await;
    assert_eq!(r.error_code().as_deref(), Some("InvalidDurabilityLevel"));
    // None of the refused requests touched the object.
    assert_eq!(&alice.get(&whole, &[]).await.body[..], b"world");

    // Missing bucket; another account's bucket.
    let r = alice
        .send(
            "POST",
            &alice.object_path("nobucket", "x"),
            &[],
            Some(compose_body(&[("p2", None)])),
        )
        .await;
    assert_eq!(
        (r.status, r.error_code().as_deref()),
        (404, Some("BucketNotFound"))
    );
    let bob = lite.client_as("bob").for_account("alice");
    let r = bob
        .send("POST", &whole, &[], Some(compose_body(&[("p2", None)])))
        .await;
    assert_eq!(r.status, 403);

    // The composed object owns its bytes: removing the parts leaves it.
    let a = lite.client_as("alice");
    assert_eq!(a.delete(&a.object_path("bkt", "p1"), &[]).await.status, 204);
    assert_eq!(a.delete(&a.object_path("bkt", "p2"), &[]).await.status, 204);
    assert_eq!(&alice.get(&whole, &[]).await.body[..], b"world");

    // POST is in Allow (a method outside the route shows it).
    let r = alice.send("PATCH", &whole, &[], None).await;
    assert_eq!(r.status, 405);
    assert!(r.header("allow").unwrap().contains("POST"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extension_off_is_the_real_contract() {
    let lite = lite(false);
    let alice = lite.client_as("alice");
    assert_eq!(alice.create_bucket("bkt").await.status, 204);
    let r = alice
        .put(&alice.object_path("bkt", "p1"), &[], b"x".to_vec())
        .await;
    assert_eq!(r.status, 204);
    let opts = alice
        .send("OPTIONS", &alice.buckets_path(), &[], None)
        .await;
    assert_eq!(opts.status, 204);
    assert!(opts.header("buckets-lite-extensions").is_none());
    let whole = alice.object_path("bkt", "whole");
    let r = alice
        .send("POST", &whole, &[], Some(compose_body(&[("p1", None)])))
        .await;
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow").as_deref(), Some("PUT, GET, HEAD, DELETE"));
    assert_eq!(alice.get(&whole, &[]).await.status, 404);
}

/// A composed body is read one segment at a time (bodies.rs), so a GET
/// that is streaming it when the object is deleted (and its parts too)
/// must still get every byte: the reader's lease keeps the segments until
/// it is done, then the body goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_get_streaming_a_composed_object_outlives_its_delete() {
    let lite = lite(true);
    let alice = lite.client_as("alice");
    assert_eq!(alice.create_bucket("bkt").await.status, 204);
    // 40 parts of 1 MiB: far more than loopback socket buffers hold, so
    // the store opens most segments after the DELETE below.
    let mut want = Vec::with_capacity(40 * MIB);
    let mut names = Vec::new();
    for i in 0..40u8 {
        let part = vec![i; MIB];
        want.extend_from_slice(&part);
        let name = format!("p{i:02}");
        let r = alice.put(&alice.object_path("bkt", &name), &[], part).await;
        assert_eq!(r.status, 204, "{}", r.text());
        names.push(name);
    }
    let refs: Vec<(&str, Option<&str>)> = names.iter().map(|n| (n.as_str(), None)).collect();
    let whole = alice.object_path("bkt", "whole");
    let r = alice
        .send("POST", &whole, &[], Some(compose_body(&refs)))
        .await;
    assert_eq!(r.status, 204, "{}", r.text());
    let id = r.header("etag").unwrap();
    let body_dir = lite.data_dir.join("objects").join(&id[..2]).join(&id);
    assert!(body_dir.is_dir(), "a composed body is a segment directory");

    let mut get = alice.send_raw("GET", &whole, &[], None).await;
    assert_eq!(get.status(), 200);
    let mut got = get.chunk().await.unwrap().expect("a first chunk").to_vec();
    // Delete the object and every part while the GET is mid-stream.
    assert_eq!(alice.delete(&whole, &[]).await.status, 204);
    for n in &names {
        assert_eq!(
            alice.delete(&alice.object_path("bkt", n), &[]).await.status,
            204
        );
    }
    assert_eq!(alice.get(&whole, &[]).await.status, 404);
    while let Some(c) = get.chunk().await.expect("the stream is not cut short") {
        got.extend_from_slice(&c);
    }
    assert_eq!(got.len(), want.len());
    assert!(got == want, "the bytes of the deleted object, in order");
    drop(get);
    // The last reader out removed the segments.
    assert!(
        s3gw_tests::procs::wait_until(std::time::Duration::from_secs(10), || !body_dir.exists()),
        "{} still exists",
        body_dir.display()
    );
}
