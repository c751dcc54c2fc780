//! Every translator operation against a real buckets-lite PROCESS; each
//! case is written against `support::LiveStore`, so it can run against the
//! real Manta stack too.

mod support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures_util::{stream, StreamExt};
use md5::{Digest, Md5};
use s3gw_tests::buckets_lite::BucketsLite;
use s3gw_translator::*;
use support::*;

const MIB: usize = 1 << 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn buckets() {
    buckets_on(&BucketsLite::start()).await;
}

async fn buckets_on(lite: &impl LiveStore) {
    let b = backend(&lite);
    let cx = cx();
    b.ready().await.unwrap();
    b.create_bucket(&cx, &bucket("photos")).await.unwrap();
    assert!(matches!(
        b.create_bucket(&cx, &bucket("photos")).await,
        Err(BackendError::BucketAlreadyOwnedByYou)
    ));
    // Another tenant has its own namespace.
    b.create_bucket(&cx_for("bob"), &bucket("photos"))
        .await
        .unwrap();
    b.head_bucket(&cx, &bucket("photos")).await.unwrap();
    assert!(matches!(
        b.head_bucket(&cx, &bucket("nope")).await,
        Err(BackendError::NoSuchBucket)
    ));
    let l = b.list_buckets(&cx).await.unwrap();
    assert_eq!(
        l.buckets
            .iter()
            .map(|b| b.name.as_str())
            .collect::<Vec<_>>(),
        ["photos"]
    );
    assert!(l.buckets[0].created > SystemTime::now() - Duration::from_secs(600));

    // A real object blocks DeleteBucket; hidden leftovers (an unfinished
    // upload) do not, and are removed.
    b.put_object(&cx, put("photos", "a", "x")).await.unwrap();
    let up = b
        .create_multipart_upload(&cx, create_mpu("photos", "big"))
        .await
        .unwrap();
    let mut part = upload_part_input("photos", "big", &up.upload_id, 1, Bytes::from_static(b"p"));
    part.part_number = PartNumber::new(1).unwrap();
    b.upload_part(&cx, part).await.unwrap();
    assert!(matches!(
        b.delete_bucket(&cx, &bucket("photos")).await,
        Err(BackendError::BucketNotEmpty)
    ));
    b.delete_object(&cx, &bucket("photos"), &key("a"))
        .await
        .unwrap();
    b.delete_bucket(&cx, &bucket("photos")).await.unwrap();
    assert!(matches!(
        b.head_bucket(&cx, &bucket("photos")).await,
        Err(BackendError::NoSuchBucket)
    ));
    assert!(matches!(
        b.delete_bucket(&cx, &bucket("photos")).await,
        Err(BackendError::NoSuchBucket)
    ));
}

fn create_mpu(b: &str, k: &str) -> CreateMultipartUploadInput {
    CreateMultipartUploadInput {
        bucket: bucket(b),
        key: key(k),
        meta: ObjectMeta::default(),
        checksum_algorithm: None,
        checksum_type: None,
    }
}

fn upload_part_input(b: &str, k: &str, id: &UploadId, n: u16, data: Bytes) -> UploadPartInput {
    UploadPartInput {
        bucket: bucket(b),
        key: key(k),
        upload_id: id.clone(),
        part_number: PartNumber::new(n).unwrap(),
        body: body(data),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn objects_metadata_ranges_conditions_checksums() {
    objects_metadata_ranges_conditions_checksums_on(&BucketsLite::start()).await;
}

async fn objects_metadata_ranges_conditions_checksums_on(lite: &impl LiveStore) {
    let b = backend(&lite);
    let cx = cx();
    b.create_bucket(&cx, &bucket("bkt")).await.unwrap();
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let meta = ObjectMeta {
        content_type: Some("text/plain; charset=utf-8".into()),
        cache_control: Some("max-age=60".into()),
        content_encoding: Some("identity".into()),
        content_disposition: Some("attachment; filename=\"a b.txt\"".into()),
        content_language: Some("de".into()),
        expires: Some("Thu, 01 Dec 2094 16:00:00 GMT".into()),
        user: vec![
            ("color".into(), "blue".into()),
            ("s3gw-up".into(), "user value".into()),
        ],
        storage_class: Some(StorageClass::ReducedRedundancy),
        tagging: Some("k1=v1&k2=v2".into()),
        checksum: None,
        server_side_encryption: None,
        acl: Some(s3gw_translator::CannedAcl::PublicRead),
    };
    let nasty = "a b/ü+%&=?#\\x";
    let mut input = put("bkt", nasty, data.clone());
    input.meta = meta.clone();
    input.body.content_md5 = Some(Md5::digest(&data).into());
    input.body.checksum = ChecksumInput::Known(Checksum {
        algorithm: ChecksumAlgorithm::Crc32,
        value_b64: "AAAAAA==".into(),
        kind: ChecksumType::FullObject,
    });
    let out = b.put_object(&cx, input).await.unwrap();
    assert_eq!(out.etag.as_str(), md5_hex(&data));

    // GET: bytes, ETag (the MD5, never the native uuid), every header back.
    let g = b.get_object(&cx, get("bkt", nasty)).await.unwrap();
    assert_eq!(g.info.etag, out.etag);
    assert_eq!(g.content_length, data.len() as u64);
    assert!(g.info.meta.checksum.is_none(), "checksum only when asked");
    let mut got = g.info.meta.clone();
    got.user.sort();
    let mut want = meta.clone();
    want.user.sort();
    assert_eq!(got, want);
    assert_eq!(read_all(g.body).await, data);
    let mut asked = get("bkt", nasty);
    asked.checksum_mode = true;
    let h = b.head_object(&cx, asked.clone()).await.unwrap();
    assert_eq!(h.info.meta.checksum.as_ref().unwrap().value_b64, "AAAAAA==");
    assert_eq!(h.info.last_modified, out.last_modified);

    // Ranges.
    for (r, (a, z)) in [
        (ByteRange::FromTo(10, 19), (10u64, 19u64)),
        (ByteRange::From(99_990), (99_990, 99_999)),
        (ByteRange::Suffix(5), (99_995, 99_999)),
        (ByteRange::FromTo(99_998, 500_000), (99_998, 99_999)),
    ] {
        let mut i = get("bkt", nasty);
        i.range = Some(r);
        let g = b.get_object(&cx, i).await.unwrap();
        assert_eq!(g.content_range, Some((a, z, 100_000)));
        assert_eq!(g.info.etag, out.etag);
        assert_eq!(read_all(g.body).await, &data[a as usize..=z as usize]);
    }
    let mut i = get("bkt", nasty);
    i.range = Some(ByteRange::From(100_000));
    assert!(matches!(
        b.get_object(&cx, i).await.err().unwrap(),
        BackendError::InvalidRange { size: 100_000 }
    ));

    // Conditional reads, S3 rules against S3 ETags and whole seconds.
    let cond = |f: &dyn Fn(&mut ReadConditions)| {
        let mut i = get("bkt", nasty);
        f(&mut i.conditions);
        i
    };
    let tag = ETagMatch::Tag(out.etag.clone());
    let other = ETagMatch::Tag(ETag::from_client("\"0123\""));
    assert!(b
        .get_object(&cx, cond(&|c| c.if_match = Some(vec![tag.clone()])))
        .await
        .is_ok());
    assert!(matches!(
        b.get_object(&cx, cond(&|c| c.if_match = Some(vec![other.clone()])))
            .await
            .err()
            .unwrap(),
        BackendError::PreconditionFailed
    ));
    assert!(matches!(
        b.get_object(&cx, cond(&|c| c.if_none_match = Some(vec![tag.clone()])))
            .await
            .err()
            .unwrap(),
        BackendError::NotModified { .. }
    ));
    let lm = out.last_modified;
    assert!(matches!(
        b.head_object(&cx, cond(&|c| c.if_modified_since = Some(lm)))
            .await
            .err()
            .unwrap(),
        BackendError::NotModified { .. }
    ));
    assert!(
        b.head_object(&cx, cond(&|c| c.if_unmodified_since = Some(lm)))
            .await
            .is_ok(),
        "equal second is unmodified"
    );
    assert!(matches!(
        b.head_object(
            &cx,
            cond(&|c| c.if_unmodified_since = Some(lm - Duration::from_secs(1)))
        )
        .await
        .err()
        .unwrap(),
        BackendError::PreconditionFailed
    ));

    // An overwrite without a checksum drops the old one.
    b.put_object(&cx, put("bkt", nasty, "new")).await.unwrap();
    assert!(b
        .head_object(&cx, asked)
        .await
        .unwrap()
        .info
        .meta
        .checksum
        .is_none());

    // Metadata limits.
    let mut big = put("bkt", "m", "x");
    big.meta.user = vec![("a".into(), "v".repeat(2100).into())];
    assert!(matches!(
        b.put_object(&cx, big).await,
        Err(BackendError::MetadataTooLarge)
    ));

    // Bad digest: nothing stored (where the store checks; see
    // `LiveStore::verifies_content_md5`).
    if lite.verifies_content_md5() {
        let mut bad = put("bkt", "md5", "abc");
        bad.body.content_md5 = Some([0u8; 16]);
        assert!(matches!(
            b.put_object(&cx, bad).await,
            Err(BackendError::BadDigest)
        ));
        assert!(matches!(
            b.head_object(&cx, get("bkt", "md5")).await,
            Err(BackendError::NoSuchKey)
        ));
    }

    // Missing things.
    assert!(matches!(
        b.get_object(&cx, get("bkt", "missing"))
            .await
            .err()
            .unwrap(),
        BackendError::NoSuchKey
    ));
    assert!(matches!(
        b.get_object(&cx, get("nobkt", "k")).await.err().unwrap(),
        BackendError::NoSuchBucket
    ));
    assert!(matches!(
        b.head_object(&cx, get("nobkt", "k")).await.err().unwrap(),
        BackendError::NoSuchBucket
    ));

    // Empty object; 1024-byte key.
    let long = "k".repeat(1024);
    b.put_object(&cx, put("bkt", &long, Bytes::new()))
        .await
        .unwrap();
    let g = b.get_object(&cx, get("bkt", &long)).await.unwrap();
    assert_eq!(g.info.etag.as_str(), "d41d8cd98f00b204e9800998ecf8427e");

    // Delete (missing is fine) and DeleteObjects.
    b.delete_object(&cx, &bucket("bkt"), &key(nasty))
        .await
        .unwrap();
    b.delete_object(&cx, &bucket("bkt"), &key(nasty))
        .await
        .unwrap();
    assert!(matches!(
        b.head_object(&cx, get("bkt", nasty)).await,
        Err(BackendError::NoSuchKey)
    ));
    for k in ["d1", "d2"] {
        b.put_object(&cx, put("bkt", k, "x")).await.unwrap();
    }
    let out = b
        .delete_objects(&cx, &bucket("bkt"), vec![key("d1"), key("d2"), key("d3")])
        .await
        .unwrap();
    assert_eq!(out.results.len(), 3);
    assert!(out.results.iter().all(|(_, r)| r.is_ok()));
    assert!(matches!(
        b.head_object(&cx, get("bkt", "d1")).await,
        Err(BackendError::NoSuchKey)
    ));
    assert!(matches!(
        b.delete_objects(&cx, &bucket("nobkt"), vec![key("a")])
            .await,
        Err(BackendError::NoSuchBucket)
    ));
}

#[derive(Debug)]
struct Injected;
impl std::fmt::Display for Injected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("injected verification failure")
    }
}
impl std::error::Error for Injected {}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failed_body_stream_commits_nothing() {
    failed_body_stream_commits_nothing_on(&BucketsLite::start()).await;
}

async fn failed_body_stream_commits_nothing_on(lite: &impl LiveStore) {
    let b = backend(&lite);
    let cx = cx();
    b.create_bucket(&cx, &bucket("bkt")).await.unwrap();
    b.put_object(&cx, put("bkt", "k", "old")).await.unwrap();
    for declared in [Some(3 * MIB as u64), None] {
        let chunks: Vec<Result<Bytes, BodyError>> = vec![
            Ok(Bytes::from(vec![1u8; MIB])),
            Ok(Bytes::from(vec![2u8; MIB])),
            Err(Box::new(Injected)),
        ];
        let mut i = put("bkt", "k", "");
        i.body = Body {
            stream: Box::pin(stream::iter(chunks)),
            length: declared,
            content_md5: None,
            checksum: ChecksumInput::None,
        };
        match b.put_object(&cx, i).await {
            Err(BackendError::Body(e)) => assert!(
                e.downcast_ref::<Injected>().is_some(),
                "the stream's own error: {e}"
            ),
            other => panic!("expected Body error, got {:?}", other.map(|o| o.etag)),
        }
        let g = b.get_object(&cx, get("bkt", "k")).await.unwrap();
        assert_eq!(
            read_all(g.body).await,
            b"old",
            "the old version stays (declared {declared:?})"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conditional_writes_are_atomic() {
    conditional_writes_are_atomic_on(&BucketsLite::start()).await;
}

async fn conditional_writes_are_atomic_on(lite: &impl LiveStore) {
    let b = backend(&lite);
    let cx = cx();
    b.create_bucket(&cx, &bucket("bkt")).await.unwrap();

    // 20 concurrent create-if-absent: exactly one wins.
    let results: Vec<_> = stream::iter(0..20)
        .map(|i| {
            let b = b.clone();
            let cx = cx.clone();
            async move {
                let mut p = put("bkt", "once", format!("writer {i}"));
                p.condition = WriteCondition::IfNoneMatchAny;
                b.put_object(&cx, p).await
            }
        })
        .buffer_unordered(20)
        .collect()
        .await;
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
    assert!(results
        .iter()
        .filter_map(|r| r.as_ref().err())
        .all(|e| matches!(e, BackendError::PreconditionFailed)));

    // If-Match compare-and-swap race: 10 writers all holding the same ETag.
    let first = b.put_object(&cx, put("bkt", "cas", "v0")).await.unwrap();
    let results: Vec<_> = stream::iter(0..10)
        .map(|i| {
            let b = b.clone();
            let cx = cx.clone();
            let e = first.etag.clone();
            async move {
                let mut p = put("bkt", "cas", format!("v1 by {i}"));
                p.condition = WriteCondition::IfMatch(e);
                b.put_object(&cx, p).await
            }
        })
        .buffer_unordered(10)
        .collect()
        .await;
    let winners: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(winners.len(), 1, "exactly one CAS wins");
    let g = b.get_object(&cx, get("bkt", "cas")).await.unwrap();
    assert_eq!(g.info.etag, winners[0].etag);
    // A stale ETag, and a missing key.
    let mut p = put("bkt", "cas", "late");
    p.condition = WriteCondition::IfMatch(first.etag.clone());
    assert!(matches!(
        b.put_object(&cx, p).await,
        Err(BackendError::PreconditionFailed)
    ));
    let mut p = put("bkt", "absent", "x");
    p.condition = WriteCondition::IfMatch(first.etag);
    assert!(matches!(
        b.put_object(&cx, p).await,
        Err(BackendError::NoSuchKey)
    ));
}

/// S3 listing semantics over a sorted key set: the full sequence of entries
/// (keys and common prefixes) a paged listing must concatenate to.
fn reference(keys: &BTreeSet<String>, prefix: &str, delim: Option<&str>) -> Vec<(bool, String)> {
    let mut out: Vec<(bool, String)> = Vec::new();
    for k in keys
        .range(prefix.to_owned()..)
        .take_while(|k| k.starts_with(prefix))
    {
        match delim.and_then(|d| {
            k[prefix.len()..]
                .find(d)
                .map(|i| k[..prefix.len() + i + d.len()].to_owned())
        }) {
            Some(cp) => {
                if out.last().map(|(_, n)| n != &cp).unwrap_or(true) {
                    out.push((true, cp));
                }
            }
            None => out.push((false, k.clone())),
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn listing_equivalence() {
    listing_equivalence_on(&BucketsLite::start()).await;
}

async fn listing_equivalence_on(lite: &impl LiveStore) {
    let b = backend(&lite);
    let cx = cx();
    b.create_bucket(&cx, &bucket("bkt")).await.unwrap();
    // Names beyond Latin-1 where a page may end on them (see
    // `LiveStore::survives_non_latin1_next_marker`), Latin-1 stand-ins
    // elsewhere; the real stack gets fewer keys (every request is a real
    // authenticated round trip through PostgreSQL).
    let wide = lite.survives_non_latin1_next_marker();
    let (n_keys, n_like) = if lite.is_local() {
        (2500, 400)
    } else {
        (500, 160)
    };
    let mut keys = BTreeSet::new();
    for i in 0..n_keys {
        let k = match i % 10 {
            0..=2 => format!("dir{}/sub{}/file{i}", i % 7, i % 3),
            3 | 4 => format!("x--{}--y{i}", i % 5),
            5 => format!("ü{i}"),
            6 if wide => format!("日本/{i}"),
            6 => format!("ÿþ/{i}"),
            7 => format!("é--{}-{i}", i % 4),
            8 => match i % 4 {
                0 => format!(".a{i}"),
                1 => format!(".s3gw~x{i}"),
                2 => format!(".s3gw{i}"),
                _ => format!("-{i}"),
            },
            _ if wide => format!("😀{}/{i}", i % 3),
            _ => format!("ø{}/{i}", i % 3),
        };
        keys.insert(k);
    }
    // SQL LIKE metacharacters (the real store matches `prefix` as an
    // unescaped LIKE pattern) and look-alikes they would wrongly match.
    for i in 0..n_like {
        keys.insert(match i % 8 {
            0 => format!("p_{}/{i}", i % 3),
            1 => format!("px{}/{i}", i % 3),
            2 => format!("p%{i}"),
            3 => format!("p\\{}/{i}", i % 2),
            4 => format!("pé_{i}"),
            5 => format!("p_%\\{i}"),
            6 => format!("p{i}"),
            _ => format!("pü/{}/{i}", i % 5),
        });
    }
    let results: Vec<_> = stream::iter(keys.iter().cloned())
        .map(|k| {
            let b = b.clone();
            let cx = cx.clone();
            async move { b.put_object(&cx, put("bkt", &k, "x")).await }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    assert!(results.iter().all(|r| r.is_ok()));
    // Hidden objects in the middle of the key space: unfinished uploads.
    for k in ["dir1/zz", ".s3gw-upload", "x--1--zz"] {
        let up = b
            .create_multipart_upload(&cx, create_mpu("bkt", k))
            .await
            .unwrap();
        for n in 1..=3 {
            b.upload_part(
                &cx,
                upload_part_input("bkt", k, &up.upload_id, n, Bytes::from_static(b"part")),
            )
            .await
            .unwrap();
        }
    }
    assert_eq!(hidden_names(&lite, "alice", "bkt").await.len(), 12);

    let mut combos: Vec<(&str, Option<&str>, u32)> = Vec::new();
    let small_pages: &[u32] = if lite.is_local() { &[1, 7] } else { &[41] };
    for d in [None, Some("/"), Some("--")] {
        for &m in small_pages.iter().chain(&[1000]) {
            combos.push(("", d, m));
        }
    }
    for (p, d) in [
        ("", Some("~")),
        (".s3gw", Some("~")),
        ("dir3/", Some("/")),
        ("x--", Some("--")),
        (".", None),
        ("p_", Some("/")),
        ("p_", None),
        ("p_1/", Some("/")),
        ("p%", None),
        ("p\\", Some("/")),
        ("p\\1/", None),
        ("p_%", None),
        ("pé_", None),
        ("p", Some("/")),
        ("pü/", Some("/")),
    ] {
        for m in [if lite.is_local() { 7 } else { 13 }, 1000] {
            combos.push((p, d, m));
        }
    }
    for (prefix, delim, max) in combos {
        let want = reference(&keys, prefix, delim);
        let mut got: Vec<(bool, String)> = Vec::new();
        let mut start_after: Option<String> = None;
        loop {
            let page = b
                .list_objects(
                    &cx,
                    ListObjectsInput {
                        bucket: bucket("bkt"),
                        prefix: prefix.into(),
                        delimiter: delim.map(str::to_owned),
                        start_after: start_after.clone(),
                        max_keys: max,
                    },
                )
                .await
                .unwrap();
            let n = page.objects.len() + page.common_prefixes.len();
            assert!(n <= max as usize);
            let mut entries: Vec<(bool, String)> = page
                .objects
                .iter()
                .map(|o| (false, o.key.clone()))
                .chain(page.common_prefixes.iter().map(|p| (true, p.clone())))
                .collect();
            entries.sort_by(|a, b| a.1.cmp(&b.1));
            for o in &page.objects {
                assert_eq!(
                    o.etag.as_str(),
                    "9dd4e461268c8034f5c8564e155c67a6",
                    "listing ETag is the MD5"
                );
            }
            got.extend(entries);
            if !page.is_truncated {
                assert!(page.next_start_after.is_none());
                break;
            }
            assert_eq!(
                n, max as usize,
                "a truncated page is full ({prefix:?} {delim:?} {max})"
            );
            start_after = page.next_start_after.clone();
            assert_eq!(start_after.as_deref(), got.last().map(|e| e.1.as_str()));
        }
        if got != want {
            let i = got
                .iter()
                .zip(&want)
                .position(|(a, b)| a != b)
                .unwrap_or(got.len().min(want.len()));
            panic!(
                "prefix {prefix:?} delimiter {delim:?} max {max}: {} vs {} entries; first difference at {i}: got {:?} want {:?}",
                got.len(),
                want.len(),
                got.get(i.saturating_sub(2)..(i + 3).min(got.len())),
                want.get(i.saturating_sub(2)..(i + 3).min(want.len()))
            );
        }
        assert!(
            got == want,
            "prefix {prefix:?} delimiter {delim:?} max {max}"
        );
    }
    // max-keys 0; hidden prefix itself is never listed.
    let mut i = ListObjectsInput {
        bucket: bucket("bkt"),
        prefix: String::new(),
        delimiter: None,
        start_after: None,
        max_keys: 0,
    };
    let p = b.list_objects(&cx, i.clone()).await.unwrap();
    assert!(p.objects.is_empty() && !p.is_truncated);
    i.max_keys = 1000;
    i.prefix = HIDDEN_PREFIX.into();
    assert!(b.list_objects(&cx, i).await.unwrap().objects.is_empty());
}

fn pattern(part: u16, len: usize) -> Bytes {
    Bytes::from(
        (0..len)
            .map(|i| (i as u8) ^ (part as u8).wrapping_mul(31))
            .collect::<Vec<u8>>(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn multipart_three_parts_retry_and_second_instance() {
    multipart_three_parts_retry_and_second_instance_on(&BucketsLite::start()).await;
}

async fn multipart_three_parts_retry_and_second_instance_on(lite: &impl LiveStore) {
    let b = backend(&lite);
    let b2 = backend(&lite); // a second gateway instance
    let cx = cx();
    b.create_bucket(&cx, &bucket("bkt")).await.unwrap();
    let mut create = create_mpu("bkt", "big/obj");
    create.meta.content_type = Some("video/mp4".into());
    create.meta.user = vec![("origin".into(), "mpu".into())];
    let up = b.create_multipart_upload(&cx, create).await.unwrap();
    let parts = [pattern(1, 5 * MIB), pattern(2, 5 * MIB), pattern(3, 1000)];
    let mut completed = Vec::new();
    let mut md5s = Md5::new();
    for (i, data) in parts.iter().enumerate() {
        let n = i as u16 + 1;
        // Parts 1 and 3 through instance 1, part 2 through instance 2.
        let which = if n == 2 { &b2 } else { &b };
        let out = which
            .upload_part(
                &cx,
                upload_part_input("bkt", "big/obj", &up.upload_id, n, data.clone()),
            )
            .await
            .unwrap();
        assert_eq!(out.etag.as_str(), md5_hex(data));
        md5s.update(Md5::digest(data));
        completed.push(CompletedPart {
            part_number: PartNumber::new(n).unwrap(),
            etag: out.etag,
            checksum: None,
        });
    }
    let want_etag = format!("{}-3", hex::encode(md5s.finalize()));

    // ListParts with a marker, ListMultipartUploads.
    let lp = b2
        .list_parts(
            &cx,
            ListPartsInput {
                bucket: bucket("bkt"),
                key: key("big/obj"),
                upload_id: up.upload_id.clone(),
                part_number_marker: None,
                max_parts: 2,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        lp.parts
            .iter()
            .map(|p| p.part_number.get())
            .collect::<Vec<_>>(),
        [1, 2]
    );
    assert!(lp.is_truncated);
    assert_eq!(lp.next_part_number_marker, Some(2));
    assert_eq!(lp.parts[1].size, 5 * MIB as u64);
    let lp = b2
        .list_parts(
            &cx,
            ListPartsInput {
                bucket: bucket("bkt"),
                key: key("big/obj"),
                upload_id: up.upload_id.clone(),
                part_number_marker: Some(2),
                max_parts: 2,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        lp.parts
            .iter()
            .map(|p| p.part_number.get())
            .collect::<Vec<_>>(),
        [3]
    );
    assert!(!lp.is_truncated);
    let lu = b
        .list_multipart_uploads(
            &cx,
            ListMultipartUploadsInput {
                bucket: bucket("bkt"),
                prefix: String::new(),
                delimiter: None,
                key_marker: None,
                upload_id_marker: None,
                max_uploads: 1000,
            },
        )
        .await
        .unwrap();
    assert_eq!(lu.uploads.len(), 1);
    assert_eq!(lu.uploads[0].key, "big/obj");
    assert_eq!(lu.uploads[0].upload_id, up.upload_id);
    let lu = b
        .list_multipart_uploads(
            &cx,
            ListMultipartUploadsInput {
                bucket: bucket("bkt"),
                prefix: String::new(),
                delimiter: Some("/".into()),
                key_marker: None,
                upload_id_marker: None,
                max_uploads: 1000,
            },
        )
        .await
        .unwrap();
    assert_eq!(lu.common_prefixes, ["big/"]);

    // Complete on the second instance.
    let input = CompleteMultipartUploadInput {
        bucket: bucket("bkt"),
        key: key("big/obj"),
        upload_id: up.upload_id.clone(),
        parts: completed,
        condition: WriteCondition::IfNoneMatchAny,
        checksum: None,
    };
    let done = b2
        .complete_multipart_upload(&cx, input.clone())
        .await
        .unwrap();
    assert_eq!(done.etag.as_str(), want_etag);
    // A retried Complete answers the same.
    let again = b.complete_multipart_upload(&cx, input).await.unwrap();
    assert_eq!(again.etag.as_str(), want_etag);
    assert!(
        hidden_names(&lite, "alice", "bkt").await.is_empty(),
        "parts and record removed"
    );

    let g = b.get_object(&cx, get("bkt", "big/obj")).await.unwrap();
    assert_eq!(g.info.etag.as_str(), want_etag);
    assert_eq!(g.info.parts_count, Some(3));
    assert_eq!(g.info.meta.content_type.as_deref(), Some("video/mp4"));
    assert_eq!(
        g.info.meta.user,
        vec![("origin".to_owned(), b"mpu".to_vec())]
    );
    let all = read_all(g.body).await;
    assert_eq!(all.len(), 10 * MIB + 1000);
    assert_eq!(&all[5 * MIB..10 * MIB], &parts[1][..]);
    // partNumber reads.
    let mut i = get("bkt", "big/obj");
    i.part_number = PartNumber::new(3);
    let g = b.get_object(&cx, i).await.unwrap();
    assert_eq!(
        g.content_range,
        Some((
            10 * MIB as u64,
            10 * MIB as u64 + 999,
            10 * MIB as u64 + 1000
        ))
    );
    assert_eq!(read_all(g.body).await, &parts[2][..]);
    let mut i = get("bkt", "big/obj");
    i.part_number = PartNumber::new(4);
    assert!(matches!(
        b.head_object(&cx, i).await,
        Err(BackendError::InvalidPartNumber)
    ));
    // The listing shows the multipart ETag too.
    let l = b
        .list_objects(
            &cx,
            ListObjectsInput {
                bucket: bucket("bkt"),
                prefix: "big/".into(),
                delimiter: None,
                start_after: None,
                max_keys: 10,
            },
        )
        .await
        .unwrap();
    assert_eq!(l.objects[0].etag.as_str(), want_etag);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn multipart_validation_limits_and_abort() {
    multipart_validation_limits_and_abort_on(&BucketsLite::start()).await;
}

async fn multipart_validation_limits_and_abort_on(lite: &impl LiveStore) {
    let b = backend(&lite);
    let cx = cx();
    b.create_bucket(&cx, &bucket("bkt")).await.unwrap();
    let up = b
        .create_multipart_upload(&cx, create_mpu("bkt", "k"))
        .await
        .unwrap();
    let p1 = b
        .upload_part(
            &cx,
            upload_part_input(
                "bkt",
                "k",
                &up.upload_id,
                1,
                Bytes::from_static(b"small one"),
            ),
        )
        .await
        .unwrap();
    // The highest part number is accepted; 10001 cannot even be expressed.
    let p2 = b
        .upload_part(
            &cx,
            upload_part_input(
                "bkt",
                "k",
                &up.upload_id,
                10_000,
                Bytes::from_static(b"last"),
            ),
        )
        .await
        .unwrap();
    assert!(PartNumber::new(10_001).is_none());
    assert!(PartNumber::parse("10001").is_err());
    let part = |n: u16, e: &ETag| CompletedPart {
        part_number: PartNumber::new(n).unwrap(),
        etag: e.clone(),
        checksum: None,
    };
    let complete = |parts: Vec<CompletedPart>| CompleteMultipartUploadInput {
        bucket: bucket("bkt"),
        key: key("k"),
        upload_id: up.upload_id.clone(),
        parts,
        condition: WriteCondition::None,
        checksum: None,
    };
    assert!(matches!(
        b.complete_multipart_upload(
            &cx,
            complete(vec![part(1, &p1.etag), part(10_000, &p2.etag)])
        )
        .await,
        Err(BackendError::EntityTooSmall)
    ));
    assert!(matches!(
        b.complete_multipart_upload(
            &cx,
            complete(vec![part(10_000, &p2.etag), part(1, &p1.etag)])
        )
        .await,
        Err(BackendError::InvalidPartOrder)
    ));
    assert!(matches!(
        b.complete_multipart_upload(&cx, complete(vec![part(1, &p2.etag)]))
            .await,
        Err(BackendError::InvalidPart)
    ));
    assert!(matches!(
        b.complete_multipart_upload(&cx, complete(vec![part(2, &p1.etag)]))
            .await,
        Err(BackendError::InvalidPart)
    ));
    // Nothing was half-done by the refused completes.
    assert!(matches!(
        b.head_object(&cx, get("bkt", "k")).await,
        Err(BackendError::NoSuchKey)
    ));
    assert_eq!(hidden_names(&lite, "alice", "bkt").await.len(), 3);

    // Abort leaves nothing.
    b.abort_multipart_upload(&cx, &bucket("bkt"), &key("k"), &up.upload_id)
        .await
        .unwrap();
    assert!(hidden_names(&lite, "alice", "bkt").await.is_empty());
    assert!(matches!(
        b.upload_part(
            &cx,
            upload_part_input("bkt", "k", &up.upload_id, 2, Bytes::from_static(b"x"))
        )
        .await,
        Err(BackendError::NoSuchUpload)
    ));
    assert!(matches!(
        b.abort_multipart_upload(&cx, &bucket("bkt"), &key("k"), &up.upload_id)
            .await,
        Err(BackendError::NoSuchUpload)
    ));
    assert!(matches!(
        b.complete_multipart_upload(&cx, complete(vec![part(1, &p1.etag)]))
            .await,
        Err(BackendError::NoSuchUpload)
    ));
    // A single small part is a valid (last) part.
    let up = b
        .create_multipart_upload(&cx, create_mpu("bkt", "one"))
        .await
        .unwrap();
    let p = b
        .upload_part(
            &cx,
            upload_part_input("bkt", "one", &up.upload_id, 1, Bytes::from_static(b"tiny")),
        )
        .await
        .unwrap();
    let done = b
        .complete_multipart_upload(
            &cx,
            CompleteMultipartUploadInput {
                bucket: bucket("bkt"),
                key: key("one"),
                upload_id: up.upload_id,
                parts: vec![part(1, &p.etag)],
                condition: WriteCondition::None,
                checksum: None,
            },
        )
        .await
        .unwrap();
    assert!(done.etag.as_str().ends_with("-1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn copy_object_and_upload_part_copy() {
    copy_object_and_upload_part_copy_on(&BucketsLite::start()).await;
}

async fn copy_object_and_upload_part_copy_on(lite: &impl LiveStore) {
    let b = backend(&lite);
    let cx = cx();
    for n in ["src", "dst"] {
        b.create_bucket(&cx, &bucket(n)).await.unwrap();
    }
    let data = pattern(7, 300_000);
    let mut p = put("src", "a", data.clone());
    p.meta.content_type = Some("image/png".into());
    p.meta.user = vec![("k".into(), "v".into())];
    let src = b.put_object(&cx, p).await.unwrap();
    let copy = |dst: &str, k: &str, md: MetadataDirective| CopyObjectInput {
        source: CopySource {
            bucket: bucket("src"),
            key: key("a"),
        },
        source_conditions: ReadConditions::default(),
        bucket: bucket(dst),
        key: key(k),
        metadata: md,
        tagging: TaggingDirective::Copy,
        condition: WriteCondition::None,
        acl: None,
    };
    // Across buckets, COPY keeps the metadata.
    let out = b
        .copy_object(&cx, copy("dst", "b", MetadataDirective::Copy))
        .await
        .unwrap();
    assert_eq!(out.etag, src.etag);
    let g = b.get_object(&cx, get("dst", "b")).await.unwrap();
    assert_eq!(g.info.meta.content_type.as_deref(), Some("image/png"));
    assert_eq!(g.info.meta.user, vec![("k".to_owned(), b"v".to_vec())]);
    assert_eq!(read_all(g.body).await, &data[..]);
    // REPLACE.
    let m = ObjectMeta {
        content_type: Some("text/x".into()),
        ..Default::default()
    };
    b.copy_object(&cx, copy("dst", "c", MetadataDirective::Replace(m.clone())))
        .await
        .unwrap();
    let h = b.head_object(&cx, get("dst", "c")).await.unwrap();
    assert_eq!(h.info.meta.content_type.as_deref(), Some("text/x"));
    assert!(h.info.meta.user.is_empty());
    // Source conditions.
    let mut c = copy("dst", "d", MetadataDirective::Copy);
    c.source_conditions.if_match = Some(vec![ETagMatch::Tag(ETag::from_client("nope"))]);
    assert!(matches!(
        b.copy_object(&cx, c).await,
        Err(BackendError::PreconditionFailed)
    ));
    let mut c = copy("dst", "d", MetadataDirective::Copy);
    c.source_conditions.if_none_match = Some(vec![ETagMatch::Tag(src.etag.clone())]);
    assert!(matches!(
        b.copy_object(&cx, c).await,
        Err(BackendError::PreconditionFailed)
    ));
    assert!(matches!(
        b.head_object(&cx, get("dst", "d")).await,
        Err(BackendError::NoSuchKey)
    ));
    // Onto itself: COPY is refused, REPLACE updates metadata in place and keeps the ETag.
    let mut c = copy("src", "a", MetadataDirective::Copy);
    assert!(matches!(
        b.copy_object(&cx, c.clone()).await,
        Err(BackendError::InvalidRequest(_))
    ));
    c.metadata = MetadataDirective::Replace(ObjectMeta {
        content_type: Some("image/jpeg".into()),
        user: vec![("new".into(), "1".into())],
        ..Default::default()
    });
    let out = b.copy_object(&cx, c).await.unwrap();
    assert_eq!(out.etag, src.etag);
    let h = b.head_object(&cx, get("src", "a")).await.unwrap();
    assert_eq!(h.info.etag, src.etag);
    assert_eq!(h.info.meta.content_type.as_deref(), Some("image/jpeg"));
    assert_eq!(h.info.meta.user, vec![("new".to_owned(), b"1".to_vec())]);
    // Missing source.
    let mut c = copy("dst", "e", MetadataDirective::Copy);
    c.source.key = key("missing");
    assert!(matches!(
        b.copy_object(&cx, c).await,
        Err(BackendError::NoSuchKey)
    ));
    // Another tenant's identically named bucket is not the source.
    b.create_bucket(&cx_for("bob"), &bucket("src"))
        .await
        .unwrap();
    assert!(matches!(
        b.copy_object(&cx_for("bob"), copy("src", "x", MetadataDirective::Copy))
            .await,
        Err(BackendError::NoSuchKey)
    ));

    // UploadPartCopy with a range.
    let up = b
        .create_multipart_upload(&cx, create_mpu("dst", "m"))
        .await
        .unwrap();
    let out = b
        .upload_part_copy(
            &cx,
            UploadPartCopyInput {
                bucket: bucket("dst"),
                key: key("m"),
                upload_id: up.upload_id.clone(),
                part_number: PartNumber::new(1).unwrap(),
                source: CopySource {
                    bucket: bucket("src"),
                    key: key("a"),
                },
                source_range: Some(ByteRange::FromTo(100, 199)),
                source_conditions: ReadConditions::default(),
            },
        )
        .await
        .unwrap();
    assert_eq!(out.etag.as_str(), md5_hex(&data[100..200]));
    let done = b
        .complete_multipart_upload(
            &cx,
            CompleteMultipartUploadInput {
                bucket: bucket("dst"),
                key: key("m"),
                upload_id: up.upload_id,
                parts: vec![CompletedPart {
                    part_number: PartNumber::new(1).unwrap(),
                    etag: out.etag,
                    checksum: None,
                }],
                condition: WriteCondition::None,
                checksum: None,
            },
        )
        .await
        .unwrap();
    assert!(done.etag.as_str().ends_with("-1"));
    let g = b.get_object(&cx, get("dst", "m")).await.unwrap();
    assert_eq!(read_all(g.body).await, &data[100..200]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stale_uploads_are_swept() {
    stale_uploads_are_swept_on(&BucketsLite::start()).await;
}

async fn stale_uploads_are_swept_on(lite: &impl LiveStore) {
    let key_pem = lite.operator_key_pem();
    let mut cfg = s3gw_translator::manta::MantaConfig::new(
        lite.url(),
        lite.operator_login(),
        s3gw_httpsig::PrivateKey::from_pem_or_openssh(&key_pem).unwrap(),
    );
    cfg.upload_ttl = Duration::ZERO;
    cfg.sweep_interval = Duration::ZERO;
    let b = Arc::new(s3gw_translator::manta::MantaBackend::new(cfg).unwrap());
    let cx = cx();
    b.create_bucket(&cx, &bucket("bkt")).await.unwrap();
    let up = b
        .create_multipart_upload(&cx, create_mpu("bkt", "old"))
        .await
        .unwrap();
    b.upload_part(
        &cx,
        upload_part_input("bkt", "old", &up.upload_id, 1, Bytes::from_static(b"x")),
    )
    .await
    .unwrap();
    // Every listing of uploads triggers a background sweep (ttl 0); poll.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        tokio::time::sleep(Duration::from_millis(1100)).await; // mtimes must be strictly older than "now" in whole seconds
        let _ = b
            .list_multipart_uploads(
                &cx,
                ListMultipartUploadsInput {
                    bucket: bucket("bkt"),
                    prefix: String::new(),
                    delimiter: None,
                    key_marker: None,
                    upload_id_marker: None,
                    max_uploads: 10,
                },
            )
            .await
            .unwrap();
        if hidden_names(&lite, "alice", "bkt").await.is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "stale upload never swept"
        );
    }
}

/// `ca_file`: a store behind a private CA is reached by trusting exactly
/// that CA (here an s3gw serving HTTPS with a self-signed certificate
/// stands in for a TLS store: any answer at all proves the handshake);
/// without it the platform trust store refuses the certificate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_ca_file_for_the_native_endpoint() {
    use s3gw_tests::gateway::{wildcard_cert, Gateway, GatewayOptions};
    use s3gw_translator::manta::{MantaBackend, MantaConfig};
    let lite = BucketsLite::start();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, _) = wildcard_cert(dir.path(), "s3.test");
    let gw = Gateway::start_with(
        &lite,
        GatewayOptions {
            tls: Some((cert.clone(), key)),
            ..Default::default()
        },
    );
    assert!(gw.url.starts_with("https://"), "{}", gw.url);
    let op_key =
        || s3gw_httpsig::PrivateKey::from_pem_or_openssh(&lite.operator_key_pem()).unwrap();

    let mut cfg = MantaConfig::new(gw.url.clone(), "operator", op_key());
    cfg.ca_file = Some(cert.clone());
    let trusted = MantaBackend::new(cfg).unwrap();
    let r = trusted.ready().await;
    assert!(
        !matches!(r, Err(BackendError::ServiceUnavailable(_))),
        "the private CA is trusted: {r:?}"
    );

    let platform =
        MantaBackend::new(MantaConfig::new(gw.url.clone(), "operator", op_key())).unwrap();
    let r = platform.ready().await;
    assert!(
        matches!(r, Err(BackendError::ServiceUnavailable(_))),
        "the platform trust store does not know the private CA: {r:?}"
    );

    // A file without a certificate fails the build, naming the file.
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "not a certificate\n").unwrap();
    let mut cfg = MantaConfig::new(gw.url.clone(), "operator", op_key());
    cfg.ca_file = Some(empty);
    let e = MantaBackend::new(cfg).err().expect("no certificate");
    assert!(e.to_string().contains("empty.pem"), "{e}");
}

/// PutObjectTagging's metadata rewrite changes the tag set and nothing
/// else: every S3 field of the object (the escaped user name, a content
/// type the real server would replace, Cache-Control its HEAD drops, the
/// checksum, the storage class) reads back equal, as do the ETag and bytes;
/// removing the tags leaves no tag header; a missing key is NoSuchKey.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn object_tagging_rewrites_only_the_tags() {
    object_tagging_rewrites_only_the_tags_on(&BucketsLite::start()).await;
}

async fn object_tagging_rewrites_only_the_tags_on(lite: &impl LiveStore) {
    let b = backend(&lite);
    let cx = cx();
    b.create_bucket(&cx, &bucket("tgb")).await.unwrap();
    let mut input = put("tgb", "k", "tagged bytes");
    input.meta = ObjectMeta {
        content_type: Some("weird".into()),
        cache_control: Some("no-cache".into()),
        content_disposition: Some("inline".into()),
        user: vec![
            ("s3gw-x".into(), "escaped".into()),
            ("a".into(), "b".into()),
        ],
        storage_class: Some(StorageClass::ReducedRedundancy),
        tagging: Some("old=1".into()),
        ..Default::default()
    };
    input.body.checksum = ChecksumInput::Known(Checksum {
        algorithm: ChecksumAlgorithm::Crc32,
        value_b64: "AAAAAA==".into(),
        kind: ChecksumType::FullObject,
    });
    b.put_object(&cx, input).await.unwrap();
    let mut g = get("tgb", "k");
    g.checksum_mode = true;
    let before = b.head_object(&cx, g.clone()).await.unwrap().info;
    assert_eq!(before.meta.tagging.as_deref(), Some("old=1"));

    b.put_object_tagging(&cx, &bucket("tgb"), &key("k"), Some("new=2&x=".into()))
        .await
        .unwrap();
    let after = b.head_object(&cx, g.clone()).await.unwrap().info;
    let mut want = before.meta.clone();
    want.tagging = Some("new=2&x=".into());
    let sorted = |mut m: ObjectMeta| {
        m.user.sort();
        m
    };
    assert_eq!(sorted(after.meta.clone()), sorted(want));
    assert_eq!(after.etag, before.etag);
    assert_eq!(after.size, before.size);
    let o = b.get_object(&cx, get("tgb", "k")).await.unwrap();
    let bytes: Vec<u8> = o.body.map(|c| c.unwrap().to_vec()).concat().await;
    assert_eq!(bytes, b"tagged bytes");

    b.put_object_tagging(&cx, &bucket("tgb"), &key("k"), None)
        .await
        .unwrap();
    let cleared = b.head_object(&cx, g).await.unwrap().info;
    assert_eq!(cleared.meta.tagging, None);
    assert_eq!(cleared.meta.cache_control.as_deref(), Some("no-cache"));
    assert!(matches!(
        b.put_object_tagging(&cx, &bucket("tgb"), &key("nope"), None)
            .await,
        Err(BackendError::NoSuchKey)
    ));
    assert!(matches!(
        b.put_object_tagging(&cx, &bucket("nobucket"), &key("k"), None)
            .await,
        Err(BackendError::NoSuchBucket)
    ));
}

/// Every case above, in order, against the REAL Manta stack (the real
/// manta-buckets-api and buckets-mdapi; `scripts/real-manta.sh up`, run by
/// the harness). The stack is shared and outlives the run, so the cases
/// run one after another here, each on freshly emptied tenants `alice` and
/// `bob` (which only this test uses), and the real buckets-api must still be
/// the process it was at the start (a request that crashed it fails here).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_case_against_the_real_store() {
    use s3gw_tests::real_manta::RealManta;
    let real = RealManta::get();
    macro_rules! case {
        ($f:ident) => {{
            reset_tenants(real, &["alice", "bob"]).await;
            eprintln!("real store: {}", stringify!($f));
            $f(real).await;
            real.assert_alive();
        }};
    }
    case!(buckets_on);
    case!(objects_metadata_ranges_conditions_checksums_on);
    case!(failed_body_stream_commits_nothing_on);
    case!(conditional_writes_are_atomic_on);
    case!(listing_equivalence_on);
    case!(multipart_three_parts_retry_and_second_instance_on);
    case!(multipart_validation_limits_and_abort_on);
    case!(copy_object_and_upload_part_copy_on);
    case!(stale_uploads_are_swept_on);
    case!(object_tagging_rewrites_only_the_tags_on);
    reset_tenants(real, &["alice", "bob"]).await;
}

/// buckets-lite's `/stats` counters: (native requests, listing rows read).
async fn store_counters(lite: &BucketsLite) -> (u64, u64) {
    let r = lite.client().get("/stats", &[]).await;
    assert_eq!(r.status, 200);
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    (
        v["requests"].as_u64().unwrap(),
        v["list_rows"].as_u64().unwrap(),
    )
}

/// A delimiter listing costs the store about one row and one request per
/// group it returns, not a read of every key inside the groups: where the
/// store cannot end a page on a group (the real server) the translator
/// jumps past each group itself; where it advertises `grouped-pages`
/// (s3gw's embedded store) the store groups, one request per S3 page.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn delimiter_listing_cost_follows_the_groups_not_the_keys() {
    for grouped in [false, true] {
        let (requests, rows) = delimiter_walks_cost(grouped).await;
        if grouped {
            // 5 S3 pages, one native request each, plus the extension probe.
            assert!(
                requests <= 6,
                "{requests} native requests for 2 grouped walks"
            );
            assert!(rows <= 5 * 4, "{rows} rows read for 2 grouped walks");
        } else {
            // 7 entries per walk; the paged walk (4 S3 pages) and the whole
            // one. Reading every key would be 803 rows per walk; the bound is
            // a few rows per returned entry plus the first page's limit (64).
            assert!(rows <= 2 * (64 + 2 * 7), "{rows} rows read for 2 walks");
            assert!(
                requests <= 2 * (7 + 4),
                "{requests} native requests for 2 walks"
            );
        }
    }
}

/// Two walks (pages of 2, then one page) of a delimiter listing of 4 groups
/// of 200 keys and 3 keys: checks the answer and returns the store's
/// (requests, rows read) for both.
async fn delimiter_walks_cost(grouped: bool) -> (u64, u64) {
    let mut spec = s3gw_tests::buckets_lite::BucketsLiteConfigSpec::standard();
    spec.extra_toml.push_str(&format!(
        "\n[extensions]\nstats = true\ngrouped_pages = {grouped}\n"
    ));
    let lite = BucketsLite::start_with(spec);
    let b = backend(&lite);
    let cx = cx();
    b.create_bucket(&cx, &bucket("bkt")).await.unwrap();
    // 4 groups of 200 keys, 3 keys beside them, 2 keys outside the prefix.
    let mut keys: Vec<String> = (0..800)
        .map(|i| format!("top/g{}/k{i:04}", i % 4))
        .collect();
    keys.extend(["top/a", "top/h", "top/z", "other", "u/v"].map(String::from));
    let results: Vec<_> = stream::iter(keys)
        .map(|k| {
            let b = b.clone();
            let cx = cx.clone();
            async move { b.put_object(&cx, put("bkt", &k, "x")).await }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    assert!(results.iter().all(|r| r.is_ok()));

    let (req0, rows0) = store_counters(&lite).await;
    let mut got_prefixes = Vec::new();
    let mut got_keys = Vec::new();
    let mut start_after = None;
    // Whole walk in pages of 2 (continuations start inside a group) and
    // in one page.
    for max_keys in [2, 1000] {
        loop {
            let page = b
                .list_objects(
                    &cx,
                    ListObjectsInput {
                        bucket: bucket("bkt"),
                        prefix: "top/".into(),
                        delimiter: Some("/".into()),
                        start_after: start_after.clone(),
                        max_keys,
                    },
                )
                .await
                .unwrap();
            got_prefixes.extend(page.common_prefixes);
            got_keys.extend(page.objects.into_iter().map(|o| o.key));
            start_after = page.next_start_after;
            if !page.is_truncated {
                break;
            }
        }
    }
    let (req1, rows1) = store_counters(&lite).await;
    let want_prefixes = ["top/g0/", "top/g1/", "top/g2/", "top/g3/"];
    let want_keys = ["top/a", "top/h", "top/z"];
    got_prefixes.sort();
    got_keys.sort();
    let twice = |w: &[&str]| {
        let mut v: Vec<String> = w.iter().chain(w).map(|s| s.to_string()).collect();
        v.sort();
        v
    };
    assert_eq!(got_prefixes, twice(&want_prefixes), "grouped: {grouped}");
    assert_eq!(got_keys, twice(&want_keys), "grouped: {grouped}");
    (req1 - req0, rows1 - rows0)
}

/// Names with a control character cannot be native markers (cut before
/// it): paging one key at a time through several names that cut to the
/// same marker must still advance (a full native page that does not move
/// the marker reads more), not fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_key_pages_through_names_sharing_a_cut_marker() {
    let lite = BucketsLite::start();
    let b = backend(&lite);
    let cx = cx();
    b.create_bucket(&cx, &bucket("bkt")).await.unwrap();
    let keys = ["c", "c\tb", "c\tc", "c\td", "c\te", "d"];
    for k in keys {
        b.put_object(&cx, put("bkt", k, "x")).await.unwrap();
    }
    for delimiter in [None, Some("/".to_owned())] {
        let mut got = Vec::new();
        let mut start_after = None;
        loop {
            let page = b
                .list_objects(
                    &cx,
                    ListObjectsInput {
                        bucket: bucket("bkt"),
                        prefix: String::new(),
                        delimiter: delimiter.clone(),
                        start_after: start_after.clone(),
                        max_keys: 1,
                    },
                )
                .await
                .unwrap();
            got.extend(page.objects.into_iter().map(|o| o.key));
            start_after = page.next_start_after;
            if !page.is_truncated {
                break;
            }
        }
        assert_eq!(got, keys, "delimiter {delimiter:?}");
    }
}
