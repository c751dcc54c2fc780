//! S3 write semantics through the gateway in front of a real buckets-lite
//! process (issue 11): conditional writes (PutObject, CopyObject's
//! destination, CompleteMultipartUpload) and their atomicity under 16
//! racing writers, part and object checksums (COMPOSITE, FULL_OBJECT by
//! CRC combine), reads by part number, and multipart details.
//!
//! Every request goes through aws-sdk-s3 (it can express all of them).
//! Needs the binaries: `cargo build --workspace --bins` first.

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::types::{
    ChecksumAlgorithm, ChecksumMode, ChecksumType, CompletedMultipartUpload, CompletedPart,
};
use aws_sdk_s3::Client;
use base64::Engine as _;
use futures_util::future::join_all;
use futures_util::StreamExt as _;
use md5::Digest as _;
use s3gw_tests::buckets_lite::BucketsLite;
use s3gw_tests::gateway::{Gateway, GatewayOptions};

mod common;
use common::{data, failure, s3_client};

const MIB: usize = 1 << 20;
const WRITERS: usize = 16;

struct Env {
    s3: Client,
    _gw: Gateway,
    _lite: BucketsLite,
}

async fn start(bucket: &str) -> Env {
    let lite = BucketsLite::start();
    let gw = Gateway::start_with(&lite, GatewayOptions::default());
    let s3 = s3_client(&gw);
    s3.create_bucket().bucket(bucket).send().await.unwrap();
    Env {
        s3,
        _gw: gw,
        _lite: lite,
    }
}

fn md5_etag(b: &[u8]) -> String {
    format!("\"{}\"", hex::encode(md5::Md5::digest(b)))
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn crc32(b: &[u8]) -> Vec<u8> {
    (crc_fast::checksum(crc_fast::CrcAlgorithm::Crc32IsoHdlc, b) as u32)
        .to_be_bytes()
        .to_vec()
}

fn crc64nvme(b: &[u8]) -> Vec<u8> {
    crc_fast::checksum(crc_fast::CrcAlgorithm::Crc64Nvme, b)
        .to_be_bytes()
        .to_vec()
}

async fn body_of(s3: &Client, b: &str, k: &str) -> Option<Vec<u8>> {
    let o = s3.get_object().bucket(b).key(k).send().await.ok()?;
    Some(o.body.collect().await.unwrap().into_bytes().to_vec())
}

/// A PutObject with an optional `If-Match` / `If-None-Match`.
async fn put(
    s3: &Client,
    k: &str,
    body: Vec<u8>,
    if_match: Option<&str>,
    if_none_match: Option<&str>,
) -> Result<String, (u16, String)> {
    let mut req = s3.put_object().bucket("wbk").key(k).body(body.into());
    if let Some(m) = if_match {
        req = req.if_match(m);
    }
    if let Some(m) = if_none_match {
        req = req.if_none_match(m);
    }
    req.send()
        .await
        .map(|o| o.e_tag().unwrap_or_default().to_owned())
        .map_err(|e| failure(&e))
}

fn tally(results: &[Result<String, (u16, String)>]) -> (usize, Vec<(u16, String)>) {
    let ok = results.iter().filter(|r| r.is_ok()).count();
    let errs = results
        .iter()
        .filter_map(|r| r.as_ref().err().cloned())
        .collect();
    (ok, errs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conditional_put_answers_as_s3() {
    let env = start("wbk").await;
    let s3 = &env.s3;
    let a = data(100, 1);
    let b = data(100, 2);
    let pf = (412, "PreconditionFailed".to_owned());
    let nsk = (404, "NoSuchKey".to_owned());

    // Absent key.
    assert_eq!(
        put(s3, "k", a.clone(), Some("*"), None).await,
        Err(nsk.clone())
    );
    assert_eq!(
        put(s3, "k", a.clone(), Some(&md5_etag(&a)), None).await,
        Err(nsk.clone())
    );
    assert!(body_of(s3, "wbk", "k").await.is_none(), "nothing stored");
    // If-None-Match with an ETag also writes when the key is absent.
    let ea = put(s3, "k", a.clone(), None, Some(&md5_etag(&b)))
        .await
        .unwrap();
    assert_eq!(ea, md5_etag(&a));

    // Present with ETag(a).
    assert_eq!(
        put(s3, "k", b.clone(), None, Some("*")).await,
        Err(pf.clone())
    );
    assert_eq!(
        put(s3, "k", b.clone(), None, Some(&md5_etag(&a))).await,
        Err(pf.clone()),
        "If-None-Match naming the current ETag"
    );
    assert_eq!(
        put(s3, "k", b.clone(), Some(&md5_etag(&b)), None).await,
        Err(pf.clone()),
        "If-Match naming another ETag"
    );
    assert_eq!(
        body_of(s3, "wbk", "k").await.unwrap(),
        a,
        "refusals stored nothing"
    );
    // Unquoted ETags compare the same.
    put(
        s3,
        "k",
        b.clone(),
        Some(md5_etag(&a).trim_matches('"')),
        None,
    )
    .await
    .unwrap();
    assert_eq!(body_of(s3, "wbk", "k").await.unwrap(), b);
    put(s3, "k", a.clone(), Some("*"), None).await.unwrap();
    put(s3, "k", b.clone(), None, Some(&md5_etag(&b)))
        .await
        .unwrap();
    assert_eq!(body_of(s3, "wbk", "k").await.unwrap(), b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conditional_put_races_have_exactly_the_s3_winners() {
    let env = start("wbk").await;
    let s3 = &env.s3;
    let race = |k: &'static str, same_body: bool, im: Option<String>, inm: Option<String>| {
        join_all((0..WRITERS).map(move |i| {
            let (im, inm) = (im.clone(), inm.clone());
            let body = if same_body {
                data(1000, 200)
            } else {
                data(1000, i as u8)
            };
            async move { put(s3, k, body, im.as_deref(), inm.as_deref()).await }
        }))
    };
    let pf = (412, "PreconditionFailed".to_owned());

    // If-None-Match: * on an absent key: one creates, 15 are refused.
    let r = race("create", false, None, Some("*".into())).await;
    let (ok, errs) = tally(&r);
    assert_eq!(ok, 1, "{errs:?}");
    assert!(errs.iter().all(|e| *e == pf), "{errs:?}");
    let winner = r.iter().find_map(|r| r.as_ref().ok()).unwrap();
    assert_eq!(
        &md5_etag(&body_of(s3, "wbk", "create").await.unwrap()),
        winner
    );

    // If-Match: "<etag>" by 16 writers holding the same ETag: one swap.
    let e0 = put(s3, "cas", data(10, 0), None, None).await.unwrap();
    let r = race("cas", false, Some(e0), None).await;
    let (ok, errs) = tally(&r);
    assert_eq!(ok, 1, "{errs:?}");
    assert!(errs.iter().all(|e| *e == pf), "{errs:?}");
    let winner = r.iter().find_map(|r| r.as_ref().ok()).unwrap();
    assert_eq!(&md5_etag(&body_of(s3, "wbk", "cas").await.unwrap()), winner);

    // If-None-Match: "<etag of the body>" on an absent key, all writing
    // that body: the first creates it, then it exists with that ETag.
    let same = data(1000, 200);
    let r = race("same", true, None, Some(md5_etag(&same))).await;
    let (ok, errs) = tally(&r);
    assert_eq!(ok, 1, "{errs:?}");
    assert!(errs.iter().all(|e| *e == pf), "{errs:?}");

    // If-Match: * on an existing key: every writer goes ahead.
    let r = race("cas", false, Some("*".into()), None).await;
    let (ok, errs) = tally(&r);
    assert_eq!(ok, WRITERS, "{errs:?}");
    let last = md5_etag(&body_of(s3, "wbk", "cas").await.unwrap());
    assert!(r.iter().any(|r| r.as_ref().ok() == Some(&last)));
    // ... and on an absent one none does.
    let r = race("never", false, Some("*".into()), None).await;
    let (ok, errs) = tally(&r);
    assert_eq!(ok, 0);
    assert!(errs.iter().all(|e| e.1 == "NoSuchKey"), "{errs:?}");
    assert!(body_of(s3, "wbk", "never").await.is_none());
}

async fn copy(
    s3: &Client,
    src: &str,
    dst: &str,
    if_match: Option<&str>,
    if_none_match: Option<&str>,
) -> Result<String, (u16, String)> {
    let mut req = s3
        .copy_object()
        .bucket("wbk")
        .key(dst)
        .copy_source(format!("wbk/{src}"));
    if let Some(m) = if_match {
        req = req.if_match(m);
    }
    if let Some(m) = if_none_match {
        req = req.if_none_match(m);
    }
    req.send()
        .await
        .map(|o| {
            o.copy_object_result()
                .and_then(|r| r.e_tag())
                .unwrap_or_default()
                .to_owned()
        })
        .map_err(|e| failure(&e))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conditional_copy_destination() {
    let env = start("wbk").await;
    let s3 = &env.s3;
    let (a, b) = (data(300, 1), data(300, 2));
    put(s3, "a", a.clone(), None, None).await.unwrap();
    put(s3, "b", b.clone(), None, None).await.unwrap();
    let pf = (412, "PreconditionFailed".to_owned());

    assert_eq!(
        copy(s3, "a", "d", Some("*"), None).await,
        Err((404, "NoSuchKey".into()))
    );
    assert_eq!(
        copy(s3, "a", "d", Some(&md5_etag(&a)), None).await,
        Err((404, "NoSuchKey".into()))
    );
    copy(s3, "a", "d", None, Some("*")).await.unwrap();
    assert_eq!(copy(s3, "b", "d", None, Some("*")).await, Err(pf.clone()));
    assert_eq!(
        copy(s3, "b", "d", None, Some(&md5_etag(&a))).await,
        Err(pf.clone())
    );
    assert_eq!(
        copy(s3, "b", "d", Some(&md5_etag(&b)), None).await,
        Err(pf.clone())
    );
    assert_eq!(body_of(s3, "wbk", "d").await.unwrap(), a);
    copy(s3, "b", "d", Some(&md5_etag(&a)), None).await.unwrap();
    assert_eq!(body_of(s3, "wbk", "d").await.unwrap(), b);

    // 16 copies racing to create one destination: one wins.
    for i in 0..WRITERS {
        put(s3, &format!("src{i}"), data(200, i as u8), None, None)
            .await
            .unwrap();
    }
    let r = join_all((0..WRITERS).map(|i| {
        let src = format!("src{i}");
        async move { copy(s3, &src, "once", None, Some("*")).await }
    }))
    .await;
    let (ok, errs) = tally(&r);
    assert_eq!(ok, 1, "{errs:?}");
    assert!(errs.iter().all(|e| *e == pf), "{errs:?}");
    let winner = r.iter().find_map(|r| r.as_ref().ok()).unwrap();
    assert_eq!(
        &md5_etag(&body_of(s3, "wbk", "once").await.unwrap()),
        winner
    );

    // 16 copies all holding the destination's ETag, each from a source
    // with other bytes: one swap.
    let w = r.iter().position(|r| r.is_ok()).unwrap();
    put(s3, &format!("src{w}"), data(200, 99), None, None)
        .await
        .unwrap();
    let r = join_all((0..WRITERS).map(|i| {
        let (src, e) = (format!("src{i}"), winner.clone());
        async move { copy(s3, &src, "once", Some(&e), None).await }
    }))
    .await;
    let (ok, errs) = tally(&r);
    assert_eq!(ok, 1, "{errs:?}");
    assert!(errs.iter().all(|e| *e == pf), "{errs:?}");
    let now = md5_etag(&body_of(s3, "wbk", "once").await.unwrap());
    assert!(r.iter().any(|r| r.as_ref().ok() == Some(&now)));
}

/// Creates an upload with one small part; returns (upload id, part ETag).
async fn one_part_upload(s3: &Client, k: &str, body: Vec<u8>) -> (String, String) {
    let up = s3
        .create_multipart_upload()
        .bucket("wbk")
        .key(k)
        .send()
        .await
        .unwrap();
    let uid = up.upload_id().unwrap().to_owned();
    let p = s3
        .upload_part()
        .bucket("wbk")
        .key(k)
        .upload_id(&uid)
        .part_number(1)
        .body(body.into())
        .send()
        .await
        .unwrap();
    (uid, p.e_tag().unwrap().to_owned())
}

async fn complete(
    s3: &Client,
    k: &str,
    uid: &str,
    parts: Vec<CompletedPart>,
    if_match: Option<&str>,
    if_none_match: Option<&str>,
) -> Result<String, (u16, String)> {
    let mut req = s3
        .complete_multipart_upload()
        .bucket("wbk")
        .key(k)
        .upload_id(uid)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        );
    if let Some(m) = if_match {
        req = req.if_match(m);
    }
    if let Some(m) = if_none_match {
        req = req.if_none_match(m);
    }
    req.send()
        .await
        .map(|o| o.e_tag().unwrap_or_default().to_owned())
        .map_err(|e| failure(&e))
}

fn part(n: i32, etag: &str) -> CompletedPart {
    CompletedPart::builder().part_number(n).e_tag(etag).build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conditional_complete_and_its_race() {
    let env = start("wbk").await;
    let s3 = &env.s3;
    let (uid, e) = one_part_upload(s3, "m", data(100, 1)).await;
    assert_eq!(
        complete(s3, "m", &uid, vec![part(1, &e)], Some("*"), None).await,
        Err((404, "NoSuchKey".into()))
    );
    put(s3, "m", data(10, 9), None, None).await.unwrap();
    assert_eq!(
        complete(s3, "m", &uid, vec![part(1, &e)], None, Some("*")).await,
        Err((412, "PreconditionFailed".into()))
    );
    assert_eq!(
        complete(
            s3,
            "m",
            &uid,
            vec![part(1, &e)],
            Some(&md5_etag(b"x")),
            None
        )
        .await,
        Err((412, "PreconditionFailed".into()))
    );
    // The upload survived the refusals.
    complete(
        s3,
        "m",
        &uid,
        vec![part(1, &e)],
        Some(&md5_etag(&data(10, 9))),
        None,
    )
    .await
    .unwrap();
    assert_eq!(body_of(s3, "wbk", "m").await.unwrap(), data(100, 1));

    // 16 uploads racing to create one key.
    let mut ups = Vec::new();
    for i in 0..WRITERS {
        ups.push(one_part_upload(s3, "race", data(100, i as u8)).await);
    }
    let r = join_all(ups.iter().map(|(uid, e)| async move {
        complete(s3, "race", uid, vec![part(1, e)], None, Some("*")).await
    }))
    .await;
    let (ok, errs) = tally(&r);
    assert_eq!(ok, 1, "{errs:?}");
    assert!(errs.iter().all(|e| e.1 == "PreconditionFailed"), "{errs:?}");
    let got = body_of(s3, "wbk", "race").await.unwrap();
    let i = r.iter().position(|r| r.is_ok()).unwrap();
    assert_eq!(got, data(100, i as u8), "the winner's bytes, whole");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn part_checksums_and_composite_object_checksum() {
    let env = start("wbk").await;
    let s3 = &env.s3;
    let (p1, p2) = (data(5 * MIB, 1), data(1234, 2));
    let up = s3
        .create_multipart_upload()
        .bucket("wbk")
        .key("c")
        .checksum_algorithm(ChecksumAlgorithm::Crc32)
        .send()
        .await
        .unwrap();
    let uid = up.upload_id().unwrap();
    // Part 1 with the checksum in a header, part 2 computed by the SDK
    // (sent as an aws-chunked trailer).
    let r1 = s3
        .upload_part()
        .bucket("wbk")
        .key("c")
        .upload_id(uid)
        .part_number(1)
        .checksum_crc32(b64(&crc32(&p1)))
        .body(p1.clone().into())
        .send()
        .await
        .unwrap();
    let r2 = s3
        .upload_part()
        .bucket("wbk")
        .key("c")
        .upload_id(uid)
        .part_number(2)
        .checksum_algorithm(ChecksumAlgorithm::Crc32)
        .body(p2.clone().into())
        .send()
        .await
        .unwrap();
    assert_eq!(r2.checksum_crc32(), Some(b64(&crc32(&p2)).as_str()));
    let lp = s3
        .list_parts()
        .bucket("wbk")
        .key("c")
        .upload_id(uid)
        .send()
        .await
        .unwrap();
    let listed: Vec<Option<&str>> = lp.parts().iter().map(|p| p.checksum_crc32()).collect();
    assert_eq!(
        listed,
        [
            Some(b64(&crc32(&p1)).as_str()),
            Some(b64(&crc32(&p2)).as_str())
        ]
    );

    let e1 = r1.e_tag().unwrap();
    let e2 = r2.e_tag().unwrap();
    let with_ck = |n: i32, e: &str, ck: &str| {
        CompletedPart::builder()
            .part_number(n)
            .e_tag(e)
            .checksum_crc32(ck)
            .build()
    };
    // A part checksum that is not the stored one: InvalidPart.
    let bad = complete(
        s3,
        "c",
        uid,
        vec![
            with_ck(1, e1, &b64(&crc32(&p1))),
            with_ck(2, e2, &b64(&crc32(b"other"))),
        ],
        None,
        None,
    )
    .await;
    assert_eq!(bad, Err((400, "InvalidPart".into())));
    let composite = format!("{}-2", b64(&crc32(&[crc32(&p1), crc32(&p2)].concat())));
    // The object's checksum on the Complete request itself is checked.
    let parts = vec![
        with_ck(1, e1, &b64(&crc32(&p1))),
        with_ck(2, e2, &b64(&crc32(&p2))),
    ];
    let e = s3
        .complete_multipart_upload()
        .bucket("wbk")
        .key("c")
        .upload_id(uid)
        .checksum_crc32("AAAAAA==-2")
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts.clone()))
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(failure(&e), (400, "BadDigest".into()));
    let e = s3
        .complete_multipart_upload()
        .bucket("wbk")
        .key("c")
        .upload_id(uid)
        .checksum_crc32("not base64!")
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts.clone()))
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(failure(&e), (400, "InvalidArgument".into()));
    let done = s3
        .complete_multipart_upload()
        .bucket("wbk")
        .key("c")
        .upload_id(uid)
        .checksum_crc32(&composite)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(done.checksum_crc32(), Some(composite.as_str()));
    // CompleteMultipartUploadResult names the type of the checksum it carries.
    assert_eq!(done.checksum_type(), Some(&ChecksumType::Composite));

    let h = s3
        .head_object()
        .bucket("wbk")
        .key("c")
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    assert_eq!(h.checksum_crc32(), Some(composite.as_str()));
    assert_eq!(h.checksum_type(), Some(&ChecksumType::Composite));
    // Without the mode: no checksum.
    let h = s3
        .head_object()
        .bucket("wbk")
        .key("c")
        .send()
        .await
        .unwrap();
    assert_eq!(h.checksum_crc32(), None);
    // A part's own checksum with partNumber (the SDK validates the part's
    // bytes against it, too).
    let g = s3
        .get_object()
        .bucket("wbk")
        .key("c")
        .part_number(2)
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    assert_eq!(g.checksum_crc32(), Some(b64(&crc32(&p2)).as_str()));
    assert_eq!(g.parts_count(), Some(2));
    assert_eq!(g.body.collect().await.unwrap().into_bytes().to_vec(), p2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn full_object_checksums_by_crc_combine() {
    let env = start("wbk").await;
    let s3 = &env.s3;
    let parts = [data(5 * MIB + 3, 7), data(5 * MIB, 8), data(777, 9)];
    let whole = parts.concat();
    for (alg, ty) in [
        (ChecksumAlgorithm::Crc64Nvme, None),
        (ChecksumAlgorithm::Crc32, Some(ChecksumType::FullObject)),
    ] {
        let k = format!("full-{}", alg.as_str());
        let up = s3
            .create_multipart_upload()
            .bucket("wbk")
            .key(&k)
            .checksum_algorithm(alg.clone())
            .set_checksum_type(ty)
            .send()
            .await
            .unwrap();
        let uid = up.upload_id().unwrap();
        let mut done = Vec::new();
        for (i, p) in parts.iter().enumerate() {
            let r = s3
                .upload_part()
                .bucket("wbk")
                .key(&k)
                .upload_id(uid)
                .part_number(i as i32 + 1)
                .checksum_algorithm(alg.clone())
                .body(p.clone().into())
                .send()
                .await
                .unwrap();
            done.push(part(i as i32 + 1, r.e_tag().unwrap()));
        }
        complete(s3, &k, uid, done, None, None).await.unwrap();
        let h = s3
            .head_object()
            .bucket("wbk")
            .key(&k)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .unwrap();
        assert_eq!(h.checksum_type(), Some(&ChecksumType::FullObject), "{k}");
        let got = h.checksum_crc64_nvme().or(h.checksum_crc32());
        let want = match alg {
            ChecksumAlgorithm::Crc64Nvme => b64(&crc64nvme(&whole)),
            _ => b64(&crc32(&whole)),
        };
        assert_eq!(got, Some(want.as_str()), "{k}");
        // The SDK validates the whole body against the full-object CRC.
        let g = s3
            .get_object()
            .bucket("wbk")
            .key(&k)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .unwrap();
        assert_eq!(
            g.body.collect().await.unwrap().into_bytes().len(),
            whole.len()
        );
    }
    // S3's impossible combinations are refused at Create.
    let e = s3
        .create_multipart_upload()
        .bucket("wbk")
        .key("x")
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .checksum_type(ChecksumType::FullObject)
        .send()
        .await
        .unwrap_err();
    assert_eq!(failure(&e), (400, "InvalidRequest".into()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn put_checksum_mismatch_and_malformed_store_nothing() {
    let env = start("wbk").await;
    let s3 = &env.s3;
    let body = data(4096, 3);
    let e = s3
        .put_object()
        .bucket("wbk")
        .key("k")
        .checksum_crc32(b64(&crc32(b"something else")))
        .body(body.clone().into())
        .send()
        .await
        .unwrap_err();
    assert_eq!(failure(&e), (400, "BadDigest".into()));
    for bad in ["AAAA", "not base64!", "AAAAAAAAAAA="] {
        let e = s3
            .put_object()
            .bucket("wbk")
            .key("k")
            .checksum_crc32(bad)
            .body(body.clone().into())
            .send()
            .await
            .unwrap_err();
        assert_eq!(failure(&e), (400, "InvalidArgument".into()), "{bad}");
    }
    assert!(body_of(s3, "wbk", "k").await.is_none(), "nothing stored");
    // A well-formed, matching one is stored and returned.
    s3.put_object()
        .bucket("wbk")
        .key("k")
        .checksum_crc32(b64(&crc32(&body)))
        .body(body.clone().into())
        .send()
        .await
        .unwrap();
    let h = s3
        .head_object()
        .bucket("wbk")
        .key("k")
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    assert_eq!(h.checksum_crc32(), Some(b64(&crc32(&body)).as_str()));
    assert_eq!(h.checksum_type(), Some(&ChecksumType::FullObject));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reads_by_part_number() {
    let env = start("wbk").await;
    let s3 = &env.s3;
    // A simple object: part 1 is all of it, part 2 does not exist.
    let simple = data(1000, 4);
    put(s3, "simple", simple.clone(), None, None).await.unwrap();
    let g = s3
        .get_object()
        .bucket("wbk")
        .key("simple")
        .part_number(1)
        .send()
        .await
        .unwrap();
    assert_eq!(
        g.body.collect().await.unwrap().into_bytes().to_vec(),
        simple
    );
    let e = s3
        .head_object()
        .bucket("wbk")
        .key("simple")
        .part_number(2)
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.raw_response().map(|r| r.status().as_u16()), Some(400));
    let e = s3
        .get_object()
        .bucket("wbk")
        .key("simple")
        .part_number(2)
        .send()
        .await
        .unwrap_err();
    assert_eq!(failure(&e), (400, "InvalidPartNumber".into()));

    // A multipart object of three parts, each of another size.
    let parts = [data(5 * MIB + 1, 1), data(5 * MIB + 333, 2), data(10, 3)];
    let up = s3
        .create_multipart_upload()
        .bucket("wbk")
        .key("mp")
        .send()
        .await
        .unwrap();
    let uid = up.upload_id().unwrap();
    let mut done = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        let r = s3
            .upload_part()
            .bucket("wbk")
            .key("mp")
            .upload_id(uid)
            .part_number(i as i32 + 1)
            .body(p.clone().into())
            .send()
            .await
            .unwrap();
        done.push(part(i as i32 + 1, r.e_tag().unwrap()));
    }
    complete(s3, "mp", uid, done, None, None).await.unwrap();
    for (i, p) in parts.iter().enumerate() {
        let g = s3
            .get_object()
            .bucket("wbk")
            .key("mp")
            .part_number(i as i32 + 1)
            .send()
            .await
            .unwrap();
        assert_eq!(g.parts_count(), Some(3));
        assert_eq!(g.content_length(), Some(p.len() as i64));
        assert_eq!(&g.body.collect().await.unwrap().into_bytes().to_vec(), p);
    }
    let h = s3
        .head_object()
        .bucket("wbk")
        .key("mp")
        .part_number(2)
        .send()
        .await
        .unwrap();
    assert_eq!(h.parts_count(), Some(3));
    assert_eq!(h.content_length(), Some(parts[1].len() as i64));
    let e = s3
        .get_object()
        .bucket("wbk")
        .key("mp")
        .part_number(4)
        .send()
        .await
        .unwrap_err();
    assert_eq!(failure(&e), (400, "InvalidPartNumber".into()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn multipart_details() {
    let env = start("wbk").await;
    let s3 = &env.s3;
    put(s3, "src", data(100, 5), None, None).await.unwrap();
    let up = s3
        .create_multipart_upload()
        .bucket("wbk")
        .key("d")
        .send()
        .await
        .unwrap();
    let uid = up.upload_id().unwrap();

    // UploadPartCopy with a range outside the source: 400 InvalidRange.
    for range in ["bytes=50-100", "bytes=100-120"] {
        let e = s3
            .upload_part_copy()
            .bucket("wbk")
            .key("d")
            .upload_id(uid)
            .part_number(1)
            .copy_source("wbk/src")
            .copy_source_range(range)
            .send()
            .await
            .unwrap_err();
        assert_eq!(failure(&e), (400, "InvalidRange".into()), "{range}");
    }
    let c = s3
        .upload_part_copy()
        .bucket("wbk")
        .key("d")
        .upload_id(uid)
        .part_number(2)
        .copy_source("wbk/src")
        .copy_source_range("bytes=0-99")
        .send()
        .await
        .unwrap();
    let e2 = c.copy_part_result().unwrap().e_tag().unwrap().to_owned();

    // Part 1 uploaded by 8 writers at once: it ends as one of them, whole.
    let p1s: Vec<Vec<u8>> = (0..8).map(|i| data(5 * MIB, 50 + i)).collect();
    let r = join_all(p1s.iter().map(|b| {
        s3.upload_part()
            .bucket("wbk")
            .key("d")
            .upload_id(uid)
            .part_number(1)
            .body(b.clone().into())
            .send()
    }))
    .await;
    assert!(r.iter().all(|r| r.is_ok()));
    let lp = s3
        .list_parts()
        .bucket("wbk")
        .key("d")
        .upload_id(uid)
        .send()
        .await
        .unwrap();
    let e1 = lp.parts()[0].e_tag().unwrap().to_owned();
    let stored = p1s
        .iter()
        .find(|b| md5_etag(b) == e1)
        .expect("the stored part is one upload's body")
        .clone();

    // A stale ETag for a repeated number: InvalidPart.
    let stale = p1s.iter().map(|b| md5_etag(b)).find(|e| *e != e1).unwrap();
    assert_eq!(
        complete(
            s3,
            "d",
            uid,
            vec![part(1, &e1), part(1, &stale), part(2, &e2)],
            None,
            None
        )
        .await,
        Err((400, "InvalidPart".into()))
    );
    // Decreasing order stays InvalidPartOrder.
    assert_eq!(
        complete(s3, "d", uid, vec![part(2, &e2), part(1, &e1)], None, None).await,
        Err((400, "InvalidPartOrder".into()))
    );
    // The same number twice, in order: the stored part, used once.
    complete(
        s3,
        "d",
        uid,
        vec![part(1, &e1), part(1, &e1), part(2, &e2)],
        None,
        None,
    )
    .await
    .unwrap();
    let got = body_of(s3, "wbk", "d").await.unwrap();
    assert_eq!(got, [stored, data(100, 5)].concat());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn part_number_reads_with_many_distinct_part_sizes() {
    // More distinct part sizes than fit the object's metadata: the sizes go
    // to a hidden side object. The parts are copied server-side from one
    // source (UploadPartCopy ranges), so the client moves no part bytes.
    const PARTS: usize = 105;
    let env = start("wbk").await;
    let s3 = &env.s3;
    let src = data(5 * MIB + PARTS, 11);
    put(s3, "src", src.clone(), None, None).await.unwrap();
    let up = s3
        .create_multipart_upload()
        .bucket("wbk")
        .key("many")
        .send()
        .await
        .unwrap();
    let uid = up.upload_id().unwrap();
    let size = |i: usize| 5 * MIB + i;
    // Four copies in flight; `buffered` keeps part order.
    let done: Vec<CompletedPart> = futures_util::stream::iter(0..PARTS)
        .map(|i| async move {
            let c = s3
                .upload_part_copy()
                .bucket("wbk")
                .key("many")
                .upload_id(uid)
                .part_number(i as i32 + 1)
                .copy_source("wbk/src")
                .copy_source_range(format!("bytes=0-{}", size(i) - 1))
                .send()
                .await
                .unwrap();
            part(i as i32 + 1, c.copy_part_result().unwrap().e_tag().unwrap())
        })
        .buffered(4)
        .collect()
        .await;
    complete(s3, "many", uid, done, None, None).await.unwrap();
    for n in [1usize, 2, 77, PARTS] {
        let h = s3
            .head_object()
            .bucket("wbk")
            .key("many")
            .part_number(n as i32)
            .send()
            .await
            .unwrap();
        assert_eq!(h.parts_count(), Some(PARTS as i32));
        assert_eq!(h.content_length(), Some(size(n - 1) as i64), "part {n}");
    }
    let g = s3
        .get_object()
        .bucket("wbk")
        .key("many")
        .part_number(PARTS as i32)
        .send()
        .await
        .unwrap();
    let first: u64 = (0..PARTS - 1).map(|i| size(i) as u64).sum();
    let range = g.content_range().unwrap().to_owned();
    assert_eq!(
        range,
        format!(
            "bytes {first}-{}/{}",
            first + size(PARTS - 1) as u64 - 1,
            first + size(PARTS - 1) as u64
        )
    );
    assert_eq!(
        g.body.collect().await.unwrap().into_bytes().to_vec(),
        src[..size(PARTS - 1)]
    );
    let e = s3
        .get_object()
        .bucket("wbk")
        .key("many")
        .part_number(PARTS as i32 + 1)
        .send()
        .await
        .unwrap_err();
    assert_eq!(failure(&e), (400, "InvalidPartNumber".into()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn copied_parts_carry_the_uploads_checksum() {
    let env = start("wbk").await;
    let s3 = &env.s3;
    let src = data(5 * MIB + 17, 21);
    put(s3, "src", src.clone(), None, None).await.unwrap();
    let up = s3
        .create_multipart_upload()
        .bucket("wbk")
        .key("cp")
        .checksum_algorithm(ChecksumAlgorithm::Crc32)
        .send()
        .await
        .unwrap();
    let uid = up.upload_id().unwrap();
    let c = s3
        .upload_part_copy()
        .bucket("wbk")
        .key("cp")
        .upload_id(uid)
        .part_number(1)
        .copy_source("wbk/src")
        .send()
        .await
        .unwrap();
    let e1 = c.copy_part_result().unwrap().e_tag().unwrap().to_owned();
    let c = s3
        .upload_part_copy()
        .bucket("wbk")
        .key("cp")
        .upload_id(uid)
        .part_number(2)
        .copy_source("wbk/src")
        .copy_source_range("bytes=3-12")
        .send()
        .await
        .unwrap();
    let e2 = c.copy_part_result().unwrap().e_tag().unwrap().to_owned();
    let lp = s3
        .list_parts()
        .bucket("wbk")
        .key("cp")
        .upload_id(uid)
        .send()
        .await
        .unwrap();
    let listed: Vec<Option<&str>> = lp.parts().iter().map(|p| p.checksum_crc32()).collect();
    let (c1, c2) = (crc32(&src), crc32(&src[3..13]));
    assert_eq!(listed, [Some(b64(&c1).as_str()), Some(b64(&c2).as_str())]);
    let done = complete(s3, "cp", uid, vec![part(1, &e1), part(2, &e2)], None, None).await;
    assert!(done.is_ok(), "{done:?}");
    let h = s3
        .head_object()
        .bucket("wbk")
        .key("cp")
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    let want = format!("{}-2", b64(&crc32(&[c1, c2].concat())));
    assert_eq!(h.checksum_crc32(), Some(want.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn part_checksums_beyond_the_metadata_budget() {
    // 25 SHA256 part digests do not fit the object's metadata: they go to
    // the hidden side object, and partNumber reads still return them.
    const PARTS: usize = 25;
    let env = start("wbk").await;
    let s3 = &env.s3;
    let src = data(5 * MIB + PARTS, 31);
    put(s3, "src", src.clone(), None, None).await.unwrap();
    let up = s3
        .create_multipart_upload()
        .bucket("wbk")
        .key("sha")
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .send()
        .await
        .unwrap();
    let uid = up.upload_id().unwrap();
    let size = |i: usize| 5 * MIB + i;
    let done: Vec<CompletedPart> = futures_util::stream::iter(0..PARTS)
        .map(|i| async move {
            let c = s3
                .upload_part_copy()
                .bucket("wbk")
                .key("sha")
                .upload_id(uid)
                .part_number(i as i32 + 1)
                .copy_source("wbk/src")
                .copy_source_range(format!("bytes=0-{}", size(i) - 1))
                .send()
                .await
                .unwrap();
            part(i as i32 + 1, c.copy_part_result().unwrap().e_tag().unwrap())
        })
        .buffered(4)
        .collect()
        .await;
    complete(s3, "sha", uid, done, None, None).await.unwrap();
    let sha = |b: &[u8]| b64(&sha2::Sha256::digest(b));
    let h = s3
        .head_object()
        .bucket("wbk")
        .key("sha")
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    let digests: Vec<u8> = (0..PARTS)
        .flat_map(|i| sha2::Sha256::digest(&src[..size(i)]).to_vec())
        .collect();
    let want = format!("{}-{PARTS}", sha(&digests));
    assert_eq!(h.checksum_sha256(), Some(want.as_str()));
    for n in [1usize, 13, PARTS] {
        let h = s3
            .head_object()
            .bucket("wbk")
            .key("sha")
            .part_number(n as i32)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .unwrap();
        assert_eq!(
            h.checksum_sha256(),
            Some(sha(&src[..size(n - 1)]).as_str()),
            "part {n}"
        );
        assert_eq!(h.content_length(), Some(size(n - 1) as i64));
    }
}

/// ListParts names the upload's checksum type (the one given at Create, or
/// S3's default for the algorithm), and an `x-amz-checksum-type` on
/// Complete that differs from it is 400 InvalidRequest, the upload left
/// as it was; the same type completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checksum_type_in_list_parts_and_checked_on_complete() {
    let env = start("wbk").await;
    let s3 = &env.s3;
    for (k, alg, given, want) in [
        (
            "ct-crc32",
            ChecksumAlgorithm::Crc32,
            None,
            ChecksumType::Composite,
        ),
        (
            "ct-crc32-full",
            ChecksumAlgorithm::Crc32,
            Some(ChecksumType::FullObject),
            ChecksumType::FullObject,
        ),
        (
            "ct-crc64",
            ChecksumAlgorithm::Crc64Nvme,
            None,
            ChecksumType::FullObject,
        ),
    ] {
        let up = s3
            .create_multipart_upload()
            .bucket("wbk")
            .key(k)
            .checksum_algorithm(alg.clone())
            .set_checksum_type(given)
            .send()
            .await
            .unwrap();
        let uid = up.upload_id().unwrap();
        let r = s3
            .upload_part()
            .bucket("wbk")
            .key(k)
            .upload_id(uid)
            .part_number(1)
            .checksum_algorithm(alg.clone())
            .body(data(1000, 4).into())
            .send()
            .await
            .unwrap();
        let lp = s3
            .list_parts()
            .bucket("wbk")
            .key(k)
            .upload_id(uid)
            .send()
            .await
            .unwrap();
        assert_eq!(lp.checksum_type(), Some(&want), "{k}");
        let other = match want {
            ChecksumType::Composite => ChecksumType::FullObject,
            _ => ChecksumType::Composite,
        };
        let done = || {
            CompletedMultipartUpload::builder()
                .parts(part(1, r.e_tag().unwrap()))
                .build()
        };
        let e = s3
            .complete_multipart_upload()
            .bucket("wbk")
            .key(k)
            .upload_id(uid)
            .checksum_type(other)
            .multipart_upload(done())
            .send()
            .await
            .unwrap_err();
        assert_eq!(failure(&e), (400, "InvalidRequest".into()), "{k}");
        assert!(body_of(s3, "wbk", k).await.is_none(), "{k}: nothing stored");
        s3.complete_multipart_upload()
            .bucket("wbk")
            .key(k)
            .upload_id(uid)
            .checksum_type(want.clone())
            .multipart_upload(done())
            .send()
            .await
            .unwrap_or_else(|e| panic!("{k}: {e:?}"));
        assert_eq!(body_of(s3, "wbk", k).await, Some(data(1000, 4)), "{k}");
    }
}

/// The SSE-S3 answer follows what is stored with the object: an object
/// written with AES256 while the store was declared encrypting still says
/// so after the setting is turned off; one written without says nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_echo_follows_the_stored_object() {
    use aws_sdk_s3::types::ServerSideEncryption as Sse;
    let lite = BucketsLite::start();
    let client = |gw: &Gateway| {
        let creds = Credentials::new(&gw.key.access_key_id, &gw.key.secret, None, None, "t");
        Client::from_conf(
            aws_sdk_s3::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new("us-east-1"))
                .endpoint_url(&gw.url)
                .credentials_provider(creds)
                .force_path_style(true)
                .build(),
        )
    };
    {
        let on = Gateway::start_with(
            &lite,
            GatewayOptions {
                server_toml: "store_encrypts_at_rest = true\n".into(),
                ..Default::default()
            },
        );
        let s3 = client(&on);
        s3.create_bucket().bucket("sse").send().await.unwrap();
        s3.put_object()
            .bucket("sse")
            .key("enc")
            .server_side_encryption(Sse::Aes256)
            .body(b"secret".to_vec().into())
            .send()
            .await
            .unwrap();
    }
    let off = Gateway::start_with(&lite, GatewayOptions::default());
    let s3 = client(&off);
    s3.put_object()
        .bucket("sse")
        .key("plain")
        .body(b"plain".to_vec().into())
        .send()
        .await
        .unwrap();
    let g = s3
        .get_object()
        .bucket("sse")
        .key("enc")
        .send()
        .await
        .unwrap();
    assert_eq!(g.server_side_encryption(), Some(&Sse::Aes256));
    let h = s3
        .head_object()
        .bucket("sse")
        .key("enc")
        .send()
        .await
        .unwrap();
    assert_eq!(h.server_side_encryption(), Some(&Sse::Aes256));
    let h = s3
        .head_object()
        .bucket("sse")
        .key("plain")
        .send()
        .await
        .unwrap();
    assert_eq!(h.server_side_encryption(), None);
}

/// DeleteObjects removes keys holding the characters XML treats as line
/// ends (CR, NEL U+0085, LINE SEPARATOR U+2028): the SDK writes them as
/// character references, and they reach the store as the key itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_objects_with_line_end_characters_in_keys() {
    use aws_sdk_s3::types::{Delete, ObjectIdentifier};
    let env = start("wbk").await;
    let s3 = &env.s3;
    let keys = ["a\rb", "c\u{85}d", "e\u{2028}f", "g\r\nh"];
    for k in keys {
        s3.put_object()
            .bucket("wbk")
            .key(k)
            .body(b"x".to_vec().into())
            .send()
            .await
            .unwrap_or_else(|e| panic!("{k:?}: {e:?}"));
    }
    let d = s3
        .delete_objects()
        .bucket("wbk")
        .delete(
            Delete::builder()
                .set_objects(Some(
                    keys.iter()
                        .map(|k| ObjectIdentifier::builder().key(*k).build().unwrap())
                        .collect(),
                ))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(d.deleted().len(), keys.len());
    assert!(d.errors().is_empty(), "{:?}", d.errors());
    let left = s3.list_objects_v2().bucket("wbk").send().await.unwrap();
    assert_eq!(left.key_count(), Some(0), "{:?}", left.contents());
}
