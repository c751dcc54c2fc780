//! A 1 GiB multipart assembly through the translator against a real
//! buckets-lite process: the composite ETag is right, the assembled bytes
//! are right, and the test process's memory stays bounded (its own binary,
//! so the peak RSS measured is this test's alone).

mod support;

use bytes::Bytes;
use futures_util::{stream, StreamExt};
use md5::{Digest, Md5};
use s3gw_tests::buckets_lite::BucketsLite;
use s3gw_translator::*;
use support::*;

const MIB: usize = 1 << 20;
const PARTS: u16 = 8;
const CHUNKS_PER_PART: usize = 128; // 8 x 128 MiB = 1 GiB

/// Peak resident set size of this process so far, in bytes.
fn vm_hwm() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = s.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<u64>()
        .unwrap()
        * 1024
}

fn chunk_of(part: u16) -> Bytes {
    Bytes::from(
        (0..MIB)
            .map(|i| ((i * 7) as u8) ^ (part as u8).wrapping_mul(53))
            .collect::<Vec<u8>>(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_gib_assembly_bounded_memory() {
    let lite = BucketsLite::start();
    let b = backend(&lite);
    let cx = cx();
    b.create_bucket(&cx, &bucket("big")).await.unwrap();
    let up = b
        .create_multipart_upload(
            &cx,
            CreateMultipartUploadInput {
                bucket: bucket("big"),
                key: key("gib"),
                meta: ObjectMeta::default(),
                checksum_algorithm: None,
                checksum_type: None,
            },
        )
        .await
        .unwrap();

    // Expected digests, computed from the same deterministic chunks.
    let mut whole = Md5::new();
    let mut md5s = Md5::new();
    let chunks: Vec<Bytes> = (1..=PARTS).map(chunk_of).collect();
    for c in &chunks {
        let mut p = Md5::new();
        for _ in 0..CHUNKS_PER_PART {
            p.update(c);
            whole.update(c);
        }
        md5s.update(p.finalize());
    }
    let want_etag = format!("{}-{}", hex::encode(md5s.finalize()), PARTS);
    let want_md5 = hex::encode(whole.finalize());

    let base = vm_hwm();
    let parts: Vec<CompletedPart> = stream::iter(1..=PARTS)
        .map(|n| {
            let (b, cx, id, c) = (
                b.clone(),
                cx.clone(),
                up.upload_id.clone(),
                chunks[n as usize - 1].clone(),
            );
            async move {
                let s =
                    stream::iter((0..CHUNKS_PER_PART).map(move |_| Ok::<_, BodyError>(c.clone())));
                let out = b
                    .upload_part(
                        &cx,
                        UploadPartInput {
                            bucket: bucket("big"),
                            key: key("gib"),
                            upload_id: id,
                            part_number: PartNumber::new(n).unwrap(),
                            body: Body {
                                stream: Box::pin(s),
                                length: Some((CHUNKS_PER_PART * MIB) as u64),
                                content_md5: None,
                                checksum: ChecksumInput::None,
                            },
                        },
                    )
                    .await
                    .unwrap();
                CompletedPart {
                    part_number: PartNumber::new(n).unwrap(),
                    etag: out.etag,
                    checksum: None,
                }
            }
        })
        .buffered(2)
        .collect()
        .await;
    let done = b
        .complete_multipart_upload(
            &cx,
            CompleteMultipartUploadInput {
                bucket: bucket("big"),
                key: key("gib"),
                upload_id: up.upload_id,
                parts,
                condition: WriteCondition::None,
                checksum: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(done.etag.as_str(), want_etag);

    let g = b.get_object(&cx, get("big", "gib")).await.unwrap();
    assert_eq!(
        g.content_length,
        u64::from(PARTS) * (CHUNKS_PER_PART * MIB) as u64
    );
    assert_eq!(g.info.etag.as_str(), want_etag);
    let mut body = g.body;
    let mut got = Md5::new();
    while let Some(c) = body.next().await {
        got.update(c.unwrap());
    }
    assert_eq!(hex::encode(got.finalize()), want_md5, "assembled bytes");
    let growth = vm_hwm().saturating_sub(base);
    eprintln!(
        "peak RSS growth during 1 GiB upload + assembly + read: {} MiB",
        growth / MIB as u64
    );
    assert!(
        growth < 256 * MIB as u64,
        "memory must stay bounded, grew {} MiB",
        growth / MIB as u64
    );
    assert!(hidden_names(&lite, "alice", "big").await.is_empty());
}
