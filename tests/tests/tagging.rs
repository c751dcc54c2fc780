//! Object and bucket tagging through the gateway in front of a real
//! buckets-lite process (issue 12): Put/Get/DeleteObjectTagging (the tag
//! set rides with the object in native metadata, `m-s3gw-tg`, and a
//! tagging update keeps everything else about the object), `x-amz-tagging`
//! on PutObject / CreateMultipartUpload / CopyObject with
//! `x-amz-tagging-directive`, `x-amz-tagging-count` on GET/HEAD,
//! Put/Get/DeleteBucketTagging (the bucket's configuration record, seen by
//! a second instance), and S3's limits and error codes; with aws-sdk-s3,
//! raw SigV4 requests (what an SDK cannot send) and boto3.
//!
//! Needs the binaries: `cargo build --workspace --bins` first.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    ChecksumAlgorithm, ChecksumMode, CompletedMultipartUpload, CompletedPart, MetadataDirective,
    StorageClass, Tag, Tagging, TaggingDirective,
};
use aws_sdk_s3::Client;
use base64::Engine as _;
use md5::Digest as _;
use s3gw_tests::buckets_lite::BucketsLite;
use s3gw_tests::gateway::{Gateway, GatewayOptions};
use s3gw_tests::raw::RawSigner;

mod common;
use common::s3_client;

const B: &str = "tagbk";

struct Env {
    s3: Client,
    gw: Gateway,
    lite: BucketsLite,
}

async fn start() -> Env {
    let lite = BucketsLite::start();
    let gw = Gateway::start_with(&lite, GatewayOptions::default());
    let s3 = s3_client(&gw);
    s3.create_bucket().bucket(B).send().await.unwrap();
    Env { s3, gw, lite }
}

fn tag(k: &str, v: &str) -> Tag {
    Tag::builder().key(k).value(v).build().unwrap()
}

fn tagging(tags: &[(&str, &str)]) -> Tagging {
    Tagging::builder()
        .set_tag_set(Some(tags.iter().map(|(k, v)| tag(k, v)).collect()))
        .build()
        .unwrap()
}

/// The object's tags as GetObjectTagging lists them.
async fn tags_of(s3: &Client, k: &str) -> Vec<(String, String)> {
    s3.get_object_tagging()
        .bucket(B)
        .key(k)
        .send()
        .await
        .unwrap()
        .tag_set()
        .iter()
        .map(|t| (t.key().to_owned(), t.value().to_owned()))
        .collect()
}

fn owned(tags: &[(&str, &str)]) -> Vec<(String, String)> {
    tags.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// (status, S3 code, message) of a failed SDK call.
fn failure<E>(
    e: &aws_sdk_s3::error::SdkError<E, aws_smithy_runtime_api::http::Response>,
) -> (u16, String, String)
where
    E: aws_sdk_s3::error::ProvideErrorMetadata,
{
    let status = e.raw_response().map(|r| r.status().as_u16()).unwrap_or(0);
    let svc = e.as_service_error();
    (
        status,
        svc.and_then(|s| s.code().map(str::to_owned))
            .unwrap_or_default(),
        svc.and_then(|s| s.message().map(str::to_owned))
            .unwrap_or_default(),
    )
}

async fn put_tags_err(s3: &Client, k: &str, tags: Vec<Tag>) -> (u16, String, String) {
    let t = Tagging::builder().set_tag_set(Some(tags)).build().unwrap();
    let e = s3
        .put_object_tagging()
        .bucket(B)
        .key(k)
        .tagging(t)
        .send()
        .await
        .unwrap_err();
    failure(&e)
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// A PutObjectTagging update leaves the object as it was (bytes, ETag,
/// metadata, headers, storage class, checksum, multipart ETag and parts)
/// but for its tags; a native reader sees the tags in `m-s3gw-tg`;
/// DeleteObjectTagging removes them; missing keys and buckets are S3's
/// 404s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_tagging_keeps_everything_else() {
    let env = start().await;
    let s3 = &env.s3;
    s3.put_object()
        .bucket(B)
        .key("doc")
        .content_type("text/plain")
        .cache_control("max-age=60")
        .content_disposition("attachment")
        .metadata("color", "blue")
        .storage_class(StorageClass::ReducedRedundancy)
        .checksum_algorithm(ChecksumAlgorithm::Crc32)
        .body(ByteStream::from_static(b"hello tags"))
        .send()
        .await
        .unwrap();
    let before = s3
        .head_object()
        .bucket(B)
        .key("doc")
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    assert_eq!(before.tag_count(), None, "no tags, no x-amz-tagging-count");
    assert!(tags_of(s3, "doc").await.is_empty(), "S3: an empty TagSet");

    let set = [
        ("project", "blue sky"),
        ("clé", "välue/+=:@"),
        ("empty", ""),
    ];
    s3.put_object_tagging()
        .bucket(B)
        .key("doc")
        .tagging(tagging(&set))
        .send()
        .await
        .unwrap();
    assert_eq!(tags_of(s3, "doc").await, owned(&set));
    let after = s3
        .get_object()
        .bucket(B)
        .key("doc")
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    assert_eq!(after.tag_count(), Some(3));
    assert_eq!(after.e_tag(), before.e_tag());
    assert_eq!(after.content_type(), Some("text/plain"));
    assert_eq!(after.cache_control(), Some("max-age=60"));
    assert_eq!(after.content_disposition(), Some("attachment"));
    assert_eq!(
        after.metadata().unwrap().get("color").map(String::as_str),
        Some("blue")
    );
    assert_eq!(
        after.storage_class(),
        Some(&StorageClass::ReducedRedundancy)
    );
    assert_eq!(after.checksum_crc32(), before.checksum_crc32());
    assert!(after.checksum_crc32().is_some());
    assert_eq!(
        after.body.collect().await.unwrap().into_bytes().as_ref(),
        b"hello tags"
    );

    // A native reader sees the tag set in the object's own metadata.
    let native = env.lite.client_as("alice").get_object(B, "doc", &[]).await;
    assert_eq!(native.status, 200);
    assert_eq!(
        native.header("m-s3gw-tg").as_deref(),
        Some("project=blue%20sky&cl%C3%A9=v%C3%A4lue%2F%2B%3D%3A%40&empty=")
    );

    // Replacing is whole-set; an empty set removes every tag.
    s3.put_object_tagging()
        .bucket(B)
        .key("doc")
        .tagging(tagging(&[("only", "one")]))
        .send()
        .await
        .unwrap();
    assert_eq!(tags_of(s3, "doc").await, owned(&[("only", "one")]));
    s3.delete_object_tagging()
        .bucket(B)
        .key("doc")
        .send()
        .await
        .unwrap();
    assert!(tags_of(s3, "doc").await.is_empty());
    let h = s3.head_object().bucket(B).key("doc").send().await.unwrap();
    assert_eq!(h.tag_count(), None);
    assert_eq!(h.e_tag(), before.e_tag());
    let native = env.lite.client_as("alice").get_object(B, "doc", &[]).await;
    assert_eq!(native.header("m-s3gw-tg"), None);

    // A multipart object keeps its multipart ETag and parts.
    let up = s3
        .create_multipart_upload()
        .bucket(B)
        .key("mp")
        .send()
        .await
        .unwrap();
    let uid = up.upload_id().unwrap();
    let p1 = s3
        .upload_part()
        .bucket(B)
        .key("mp")
        .upload_id(uid)
        .part_number(1)
        .body(ByteStream::from(vec![7u8; 5 << 20]))
        .send()
        .await
        .unwrap();
    let p2 = s3
        .upload_part()
        .bucket(B)
        .key("mp")
        .upload_id(uid)
        .part_number(2)
        .body(ByteStream::from_static(b"tail"))
        .send()
        .await
        .unwrap();
    let done = s3
        .complete_multipart_upload()
        .bucket(B)
        .key("mp")
        .upload_id(uid)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(
                    CompletedPart::builder()
                        .part_number(1)
                        .e_tag(p1.e_tag().unwrap())
                        .build(),
                )
                .parts(
                    CompletedPart::builder()
                        .part_number(2)
                        .e_tag(p2.e_tag().unwrap())
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    s3.put_object_tagging()
        .bucket(B)
        .key("mp")
        .tagging(tagging(&[("k", "v")]))
        .send()
        .await
        .unwrap();
    let part2 = s3
        .head_object()
        .bucket(B)
        .key("mp")
        .part_number(2)
        .send()
        .await
        .unwrap();
    assert_eq!(part2.e_tag(), done.e_tag());
    assert!(part2.e_tag().unwrap().ends_with("-2\""));
    assert_eq!(part2.parts_count(), Some(2));
    assert_eq!(part2.content_length(), Some(4));
    assert_eq!(part2.tag_count(), Some(1));

    // 404s.
    let e = s3.get_object_tagging().bucket(B).key("nope").send().await;
    assert_eq!(failure(&e.unwrap_err()).1, "NoSuchKey");
    assert_eq!(
        put_tags_err(s3, "nope", vec![tag("a", "b")]).await.1,
        "NoSuchKey"
    );
    let e = s3
        .delete_object_tagging()
        .bucket(B)
        .key("nope")
        .send()
        .await;
    assert_eq!(failure(&e.unwrap_err()).1, "NoSuchKey");
    let e = s3
        .get_object_tagging()
        .bucket("no-such-bucket")
        .key("k")
        .send()
        .await;
    assert_eq!(failure(&e.unwrap_err()).1, "NoSuchBucket");
}

/// `x-amz-tagging` on PutObject and CreateMultipartUpload; CopyObject
/// copies the source's tags by default (also when the metadata is
/// replaced) and takes the request's with `x-amz-tagging-directive:
/// REPLACE`; an overwrite without tags drops the old ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tagging_headers_on_put_copy_and_multipart() {
    let env = start().await;
    let s3 = &env.s3;
    s3.put_object()
        .bucket(B)
        .key("src")
        .tagging("a=1&b%20c=d+e")
        .metadata("m", "1")
        .body(ByteStream::from_static(b"source"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        tags_of(s3, "src").await,
        owned(&[("a", "1"), ("b c", "d e")])
    );

    // COPY (default), same metadata.
    s3.copy_object()
        .bucket(B)
        .key("c1")
        .copy_source(format!("{B}/src"))
        .send()
        .await
        .unwrap();
    assert_eq!(tags_of(s3, "c1").await, tags_of(s3, "src").await);
    // Metadata REPLACE does not touch the tags (their own directive).
    s3.copy_object()
        .bucket(B)
        .key("c2")
        .copy_source(format!("{B}/src"))
        .metadata_directive(MetadataDirective::Replace)
        .metadata("m", "2")
        .send()
        .await
        .unwrap();
    assert_eq!(tags_of(s3, "c2").await, tags_of(s3, "src").await);
    // COPY ignores a tagging header.
    s3.copy_object()
        .bucket(B)
        .key("c3")
        .copy_source(format!("{B}/src"))
        .tagging_directive(TaggingDirective::Copy)
        .tagging("ignored=yes")
        .send()
        .await
        .unwrap();
    assert_eq!(tags_of(s3, "c3").await, tags_of(s3, "src").await);
    // REPLACE takes the request's tags, or none.
    s3.copy_object()
        .bucket(B)
        .key("c4")
        .copy_source(format!("{B}/src"))
        .tagging_directive(TaggingDirective::Replace)
        .tagging("new=tag")
        .send()
        .await
        .unwrap();
    assert_eq!(tags_of(s3, "c4").await, owned(&[("new", "tag")]));
    s3.copy_object()
        .bucket(B)
        .key("c5")
        .copy_source(format!("{B}/src"))
        .tagging_directive(TaggingDirective::Replace)
        .send()
        .await
        .unwrap();
    assert!(tags_of(s3, "c5").await.is_empty());
    // Onto itself (metadata REPLACE): the tags stay unless replaced.
    s3.copy_object()
        .bucket(B)
        .key("src")
        .copy_source(format!("{B}/src"))
        .metadata_directive(MetadataDirective::Replace)
        .metadata("m", "3")
        .send()
        .await
        .unwrap();
    assert_eq!(
        tags_of(s3, "src").await,
        owned(&[("a", "1"), ("b c", "d e")])
    );
    s3.copy_object()
        .bucket(B)
        .key("src")
        .copy_source(format!("{B}/src"))
        .metadata_directive(MetadataDirective::Replace)
        .tagging_directive(TaggingDirective::Replace)
        .tagging("self=replaced")
        .send()
        .await
        .unwrap();
    assert_eq!(tags_of(s3, "src").await, owned(&[("self", "replaced")]));
    let e = s3
        .copy_object()
        .bucket(B)
        .key("c6")
        .copy_source(format!("{B}/src"))
        .tagging_directive(TaggingDirective::from("MOVE"))
        .send()
        .await
        .unwrap_err();
    let (status, code, _) = failure(&e);
    assert_eq!((status, code.as_str()), (400, "InvalidArgument"));

    // Multipart: the upload's tags land on the completed object.
    let up = s3
        .create_multipart_upload()
        .bucket(B)
        .key("mp")
        .tagging("x=1&y=2&z=3")
        .send()
        .await
        .unwrap();
    let uid = up.upload_id().unwrap();
    let p = s3
        .upload_part()
        .bucket(B)
        .key("mp")
        .upload_id(uid)
        .part_number(1)
        .body(ByteStream::from_static(b"only part"))
        .send()
        .await
        .unwrap();
    s3.complete_multipart_upload()
        .bucket(B)
        .key("mp")
        .upload_id(uid)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(
                    CompletedPart::builder()
                        .part_number(1)
                        .e_tag(p.e_tag().unwrap())
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        tags_of(s3, "mp").await,
        owned(&[("x", "1"), ("y", "2"), ("z", "3")])
    );
    let g = s3.get_object().bucket(B).key("mp").send().await.unwrap();
    assert_eq!(g.tag_count(), Some(3));

    // An overwrite without tags drops the old ones (S3 replaces the object).
    s3.put_object()
        .bucket(B)
        .key("mp")
        .body(ByteStream::from_static(b"new bytes"))
        .send()
        .await
        .unwrap();
    assert!(tags_of(s3, "mp").await.is_empty());
    let h = s3.head_object().bucket(B).key("mp").send().await.unwrap();
    assert_eq!(h.tag_count(), None);
}

/// S3's limits and error codes, for tag documents (aws-sdk-s3), the
/// `x-amz-tagging` header, and what an SDK cannot send (raw SigV4: a broken
/// document, no integrity header).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tag_limits_and_errors() {
    let env = start().await;
    let s3 = &env.s3;
    s3.put_object()
        .bucket(B)
        .key("k")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    let n_tags = |n: usize| {
        (0..n)
            .map(|i| tag(&format!("k{i}"), "v"))
            .collect::<Vec<_>>()
    };

    // Counts: 10 per object, 50 per bucket.
    s3.put_object_tagging()
        .bucket(B)
        .key("k")
        .tagging(
            Tagging::builder()
                .set_tag_set(Some(n_tags(10)))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let (status, code, msg) = put_tags_err(s3, "k", n_tags(11)).await;
    assert_eq!((status, code.as_str()), (400, "BadRequest"));
    assert_eq!(msg, "Object tags cannot be greater than 10");
    assert_eq!(
        tags_of(s3, "k").await.len(),
        10,
        "a refused set changes nothing"
    );

    // Lengths are Unicode characters: 128 / 256 fit, one more does not.
    let long_ok = tag(&"é".repeat(128), &"ü".repeat(256));
    s3.put_object_tagging()
        .bucket(B)
        .key("k")
        .tagging(Tagging::builder().tag_set(long_ok).build().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(tags_of(s3, "k").await[0].0.chars().count(), 128);
    let (status, code, msg) = put_tags_err(s3, "k", vec![tag(&"k".repeat(129), "v")]).await;
    assert_eq!((status, code.as_str()), (400, "InvalidTag"));
    assert_eq!(msg, "The TagKey you have provided is invalid");
    let (_, code, msg) = put_tags_err(s3, "k", vec![tag("k", &"v".repeat(257))]).await;
    assert_eq!(code, "InvalidTag");
    assert_eq!(msg, "The TagValue you have provided is invalid");
    let (_, code, _) = put_tags_err(s3, "k", vec![tag("", "v")]).await;
    assert_eq!(code, "InvalidTag");
    // Unique keys, no aws: prefix, only the characters AWS documents.
    let (status, code, msg) = put_tags_err(s3, "k", vec![tag("d", "1"), tag("d", "2")]).await;
    assert_eq!((status, code.as_str()), (400, "InvalidTag"));
    assert_eq!(msg, "Cannot provide multiple Tags with the same key");
    let (_, code, _) = put_tags_err(s3, "k", vec![tag("aws:cost", "1")]).await;
    assert_eq!(code, "InvalidTag");
    let (_, code, _) = put_tags_err(s3, "k", vec![tag("a*b", "1")]).await;
    assert_eq!(code, "InvalidTag");
    let (_, code, _) = put_tags_err(s3, "k", vec![tag("a", "semi;colon")]).await;
    assert_eq!(code, "InvalidTag");

    // Tags share the store's 4 KiB metadata budget with the object's other
    // metadata: a set that does not fit is refused precisely, unchanged.
    s3.put_object()
        .bucket(B)
        .key("full")
        .metadata("big", "m".repeat(2000))
        .content_disposition("d".repeat(1500))
        .tagging("t=1")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    let fat: Vec<Tag> = (0..10)
        .map(|i| tag(&format!("k{i}"), &"v".repeat(256)))
        .collect();
    let (status, code, _) = put_tags_err(s3, "full", fat).await;
    assert_eq!((status, code.as_str()), (400, "MetadataTooLarge"));
    assert_eq!(tags_of(s3, "full").await, owned(&[("t", "1")]));

    // The x-amz-tagging header.
    for (hdr, want_status, want_code) in [
        ("a=b=c", 400, "InvalidArgument"),
        ("a=1&a=2", 400, "InvalidArgument"),
        ("=v", 400, "InvalidArgument"),
        ("a=%FF", 400, "InvalidArgument"),
        ("aws%3Ax=1", 400, "InvalidTag"),
        ("a=%3C", 400, "InvalidTag"),
    ] {
        let e = s3
            .put_object()
            .bucket(B)
            .key("h")
            .tagging(hdr)
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .unwrap_err();
        let (status, code, _) = failure(&e);
        assert_eq!((status, code.as_str()), (want_status, want_code), "{hdr}");
    }
    let eleven = (0..11)
        .map(|i| format!("k{i}=v"))
        .collect::<Vec<_>>()
        .join("&");
    let e = s3
        .create_multipart_upload()
        .bucket(B)
        .key("h")
        .tagging(eleven)
        .send()
        .await
        .unwrap_err();
    assert_eq!(failure(&e).1, "BadRequest");
    let e = s3
        .head_object()
        .bucket(B)
        .key("h")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        e.raw_response().unwrap().status().as_u16(),
        404,
        "nothing written"
    );

    // Buckets: 50 fit, 51 do not; the same per-tag rules.
    let fifty = Tagging::builder()
        .set_tag_set(Some(n_tags(50)))
        .build()
        .unwrap();
    s3.put_bucket_tagging()
        .bucket(B)
        .tagging(fifty)
        .send()
        .await
        .unwrap();
    let e = s3
        .put_bucket_tagging()
        .bucket(B)
        .tagging(
            Tagging::builder()
                .set_tag_set(Some(n_tags(51)))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap_err();
    let (status, code, msg) = failure(&e);
    assert_eq!((status, code.as_str()), (400, "BadRequest"));
    assert_eq!(msg, "Bucket tag count cannot be greater than 50");
    let e = s3
        .put_bucket_tagging()
        .bucket(B)
        .tagging(tagging(&[("aws:x", "1")]))
        .send()
        .await
        .unwrap_err();
    assert_eq!(failure(&e).1, "InvalidTag");
    let e = s3
        .put_bucket_tagging()
        .bucket(B)
        .tagging(tagging(&[("d", "1"), ("d", "1")]))
        .send()
        .await
        .unwrap_err();
    assert_eq!(failure(&e).1, "InvalidTag");
    let got = s3.get_bucket_tagging().bucket(B).send().await.unwrap();
    assert_eq!(got.tag_set().len(), 50, "refused sets change nothing");

    // What no SDK sends: a broken document, and no integrity header.
    let signer = RawSigner::new(&env.gw);
    let host = signer.host(None);
    let doc = b"<Tagging><TagSet><Tag><Key>a</Key></TagSet></Tagging>";
    let md5 = b64(&md5::Md5::digest(doc));
    for path in [format!("/{B}/k"), format!("/{B}")] {
        let r = signer.v4(
            "PUT",
            &host,
            &path,
            &[("tagging", "")],
            &[("content-md5", &md5)],
            doc,
        );
        signer.send(&r).assert_s3_error(400, "MalformedXML");
        let good = b"<Tagging><TagSet><Tag><Key>a</Key><Value>b</Value></Tag></TagSet></Tagging>";
        let r = signer.v4("PUT", &host, &path, &[("tagging", "")], &[], good);
        let resp = signer.send(&r);
        resp.assert_s3_error(400, "InvalidRequest");
        assert!(resp.text().contains("Content-MD5"), "{}", resp.text());
        // A Content-MD5 that does not match the document.
        let r = signer.v4(
            "PUT",
            &host,
            &path,
            &[("tagging", "")],
            &[("content-md5", &md5)],
            good,
        );
        signer.send(&r).assert_s3_error(400, "BadDigest");
        // With a right one, a plain (SDK-less) client is served.
        let good_md5 = b64(&md5::Md5::digest(good));
        let r = signer.v4(
            "PUT",
            &host,
            &path,
            &[("tagging", "")],
            &[("content-md5", &good_md5)],
            good,
        );
        let resp = signer.send(&r);
        assert!(resp.status == 200 || resp.status == 204, "{resp:?}");
    }
    assert_eq!(tags_of(s3, "k").await, owned(&[("a", "b")]));
}

/// Bucket tags live in the bucket's configuration record: NoSuchTagSet
/// until set, seen by a second gateway instance within the staleness
/// bound, removed by DeleteBucketTagging; they never make the bucket
/// non-empty.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bucket_tagging_across_instances() {
    let env = start().await;
    let s3 = &env.s3;
    let gw2 = Gateway::start_with(&env.lite, GatewayOptions::default());
    let s3b = s3_client(&gw2);
    let e = s3.get_bucket_tagging().bucket(B).send().await.unwrap_err();
    let (status, code, _) = failure(&e);
    assert_eq!((status, code.as_str()), (404, "NoSuchTagSet"));
    let e = s3b.get_bucket_tagging().bucket(B).send().await.unwrap_err();
    assert_eq!(
        failure(&e).1,
        "NoSuchTagSet",
        "instance 2 caches the absence"
    );

    let set = [("team", "storage"), ("cost center", "42")];
    s3.put_bucket_tagging()
        .bucket(B)
        .tagging(tagging(&set))
        .send()
        .await
        .unwrap();
    let listed = |o: &aws_sdk_s3::operation::get_bucket_tagging::GetBucketTaggingOutput| {
        o.tag_set()
            .iter()
            .map(|t| (t.key().to_owned(), t.value().to_owned()))
            .collect::<Vec<_>>()
    };
    let got = s3.get_bucket_tagging().bucket(B).send().await.unwrap();
    assert_eq!(
        listed(&got),
        owned(&set),
        "the writer sees its write at once"
    );
    // Instance 2 within its staleness bound (2 s by default).
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        match s3b.get_bucket_tagging().bucket(B).send().await {
            Ok(o) => {
                assert_eq!(listed(&o), owned(&set));
                break;
            }
            Err(e) => {
                assert_eq!(failure(&e).1, "NoSuchTagSet");
                assert!(std::time::Instant::now() < deadline, "never seen");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    // The record is not an object: listings stay empty.
    let l = s3.list_objects_v2().bucket(B).send().await.unwrap();
    assert_eq!(l.key_count(), Some(0));

    // Deleted through instance 2.
    s3b.delete_bucket_tagging().bucket(B).send().await.unwrap();
    let e = s3b.get_bucket_tagging().bucket(B).send().await.unwrap_err();
    assert_eq!(failure(&e).1, "NoSuchTagSet");
    // Deleting again is fine (S3: 204).
    s3b.delete_bucket_tagging().bucket(B).send().await.unwrap();

    // A bucket with tags can be deleted (the record is not content).
    s3.put_bucket_tagging()
        .bucket(B)
        .tagging(tagging(&[("a", "b")]))
        .send()
        .await
        .unwrap();
    s3.delete_bucket().bucket(B).send().await.unwrap();
    let e = s3
        .put_bucket_tagging()
        .bucket(B)
        .tagging(tagging(&[("a", "b")]))
        .send()
        .await
        .unwrap_err();
    assert_eq!(failure(&e).1, "NoSuchBucket");
}

/// The venv's Python (with boto3), else `python3` from PATH.
fn python() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf();
    let venv = root.join("target/venv/bin/python3");
    if venv.is_file() {
        venv
    } else {
        PathBuf::from("python3")
    }
}

const BOTO3_SCRIPT: &str = r#"
import os, sys
import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

s3 = boto3.client("s3", endpoint_url=os.environ["EP"], region_name="us-east-1",
                  aws_access_key_id=os.environ["AK"], aws_secret_access_key=os.environ["SK"],
                  config=Config(s3={"addressing_style": "path"}))
b = "tagbk"

def check(name, got, want):
    if got != want:
        print(f"FAIL {name}: got {got!r}, want {want!r}")
        sys.exit(1)
    print(f"PASS {name}")

def code(fn):
    try:
        fn()
    except ClientError as e:
        return (e.response["ResponseMetadata"]["HTTPStatusCode"], e.response["Error"]["Code"])
    return None

s3.put_object(Bucket=b, Key="o", Body=b"data", Tagging="k1=v1&k2=v%202")
check("put tagging", s3.get_object_tagging(Bucket=b, Key="o")["TagSet"],
      [{"Key": "k1", "Value": "v1"}, {"Key": "k2", "Value": "v 2"}])
check("head count", s3.head_object(Bucket=b, Key="o")["ResponseMetadata"]["HTTPHeaders"]["x-amz-tagging-count"], "2")
check("get count", s3.get_object(Bucket=b, Key="o")["TagCount"], 2)
s3.put_object_tagging(Bucket=b, Key="o", Tagging={"TagSet": [{"Key": "new", "Value": "ü"}]})
check("put_object_tagging", s3.get_object_tagging(Bucket=b, Key="o")["TagSet"], [{"Key": "new", "Value": "ü"}])
check("bytes kept", s3.get_object(Bucket=b, Key="o")["Body"].read(), b"data")
s3.copy_object(Bucket=b, Key="c", CopySource={"Bucket": b, "Key": "o"})
check("copy COPY", s3.get_object_tagging(Bucket=b, Key="c")["TagSet"], [{"Key": "new", "Value": "ü"}])
s3.copy_object(Bucket=b, Key="r", CopySource={"Bucket": b, "Key": "o"}, TaggingDirective="REPLACE", Tagging="r=1")
check("copy REPLACE", s3.get_object_tagging(Bucket=b, Key="r")["TagSet"], [{"Key": "r", "Value": "1"}])
up = s3.create_multipart_upload(Bucket=b, Key="m", Tagging="mp=yes")
p = s3.upload_part(Bucket=b, Key="m", UploadId=up["UploadId"], PartNumber=1, Body=b"part")
s3.complete_multipart_upload(Bucket=b, Key="m", UploadId=up["UploadId"],
                             MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": p["ETag"]}]})
check("multipart", s3.get_object_tagging(Bucket=b, Key="m")["TagSet"], [{"Key": "mp", "Value": "yes"}])
s3.delete_object_tagging(Bucket=b, Key="o")
check("delete_object_tagging", s3.get_object_tagging(Bucket=b, Key="o")["TagSet"], [])
check("no count", "x-amz-tagging-count" in s3.head_object(Bucket=b, Key="o")["ResponseMetadata"]["HTTPHeaders"], False)
many = [{"Key": f"k{i}", "Value": "v"} for i in range(11)]
check("11 tags", code(lambda: s3.put_object_tagging(Bucket=b, Key="o", Tagging={"TagSet": many})), (400, "BadRequest"))
dup = [{"Key": "d", "Value": "1"}, {"Key": "d", "Value": "2"}]
check("duplicate", code(lambda: s3.put_object_tagging(Bucket=b, Key="o", Tagging={"TagSet": dup})), (400, "InvalidTag"))
check("aws prefix", code(lambda: s3.put_object(Bucket=b, Key="x", Body=b"", Tagging="aws:a=1")), (400, "InvalidTag"))
check("no bucket tags", code(lambda: s3.get_bucket_tagging(Bucket=b)), (404, "NoSuchTagSet"))
s3.put_bucket_tagging(Bucket=b, Tagging={"TagSet": [{"Key": "env", "Value": "test"}]})
check("bucket tags", s3.get_bucket_tagging(Bucket=b)["TagSet"], [{"Key": "env", "Value": "test"}])
check("51 bucket tags", code(lambda: s3.put_bucket_tagging(Bucket=b, Tagging={"TagSet": [{"Key": f"k{i}", "Value": ""} for i in range(51)]})), (400, "BadRequest"))
s3.delete_bucket_tagging(Bucket=b)
check("bucket tags deleted", code(lambda: s3.get_bucket_tagging(Bucket=b)), (404, "NoSuchTagSet"))
print("DONE")
"#;

/// Every tagging operation, the headers and the main errors with boto3.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_tagging() {
    let env = start().await;
    let out = Command::new(python())
        .args(["-c", BOTO3_SCRIPT])
        .env("EP", &env.gw.url)
        .env("AK", &env.gw.key.access_key_id)
        .env("SK", &env.gw.key.secret)
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .expect("python3 with boto3 (tests/clients/requirements.txt)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("DONE"),
        "boto3 tagging failed ({}):\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}
