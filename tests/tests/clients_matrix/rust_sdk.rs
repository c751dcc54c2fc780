//! aws-sdk-s3 for Rust with its default settings (request checksums on:
//! aws-chunked bodies with a CRC32 trailer) against a started s3gw: one end
//! to end round trip, bytes and listing checked.

use aws_credential_types::Credentials;
use aws_sdk_s3::config::{BehaviorVersion, Region};
use aws_sdk_s3::primitives::ByteStream;

use crate::support::{unique_bucket, Gateway};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_sdk_default_settings_round_trip() {
    let gw = tokio::task::spawn_blocking(|| Gateway::start_embedded(&[]))
        .await
        .expect("start gateway");
    let conf = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(&gw.url)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            gw.access_key.clone(),
            gw.secret_key.clone(),
            None,
            None,
            "s3gw-test",
        ))
        .force_path_style(true)
        .build();
    let s3 = aws_sdk_s3::Client::from_conf(conf);
    let bucket = unique_bucket("rust-sdk");
    s3.create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("CreateBucket");
    let key = "sdk/a b/ü+%&=.bin";
    let body: Vec<u8> = (0..3_000_001u32).map(|i| (i % 251) as u8).collect();
    let put = s3
        .put_object()
        .bucket(&bucket)
        .key(key)
        .body(ByteStream::from(body.clone()))
        .send()
        .await
        .expect("PutObject with the SDK's default checksum");
    let want_etag = format!(
        "\"{}\"",
        hex::encode(<md5::Md5 as md5::Digest>::digest(&body))
    );
    assert_eq!(put.e_tag(), Some(want_etag.as_str()), "PutObject ETag");
    let got = s3
        .get_object()
        .bucket(&bucket)
        .key(key)
        .send()
        .await
        .expect("GetObject")
        .body
        .collect()
        .await
        .expect("read body")
        .into_bytes();
    assert!(got.as_ref() == body.as_slice(), "downloaded bytes differ");
    let listed = s3
        .list_objects_v2()
        .bucket(&bucket)
        .send()
        .await
        .expect("ListObjectsV2");
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, vec![key], "listing");
    s3.delete_object()
        .bucket(&bucket)
        .key(key)
        .send()
        .await
        .expect("DeleteObject");
    s3.delete_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("DeleteBucket");
    tokio::task::spawn_blocking(move || drop(gw))
        .await
        .expect("stop gateway");
}
