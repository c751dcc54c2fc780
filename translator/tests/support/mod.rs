//! Shared helpers of the translator's live tests: a real buckets-lite
//! process (s3gw-tests harness), a `MantaBackend` signing as its operator,
//! request contexts and bodies.
#![allow(dead_code)]

use bytes::Bytes;
use futures_util::StreamExt;
use md5::{Digest, Md5};
use s3gw_httpsig::PrivateKey;
use s3gw_tests::buckets_lite::{BucketsLite, OPERATOR};
use s3gw_translator::manta::{MantaBackend, MantaConfig};
use s3gw_translator::*;

pub fn backend(lite: &BucketsLite) -> MantaBackend {
    let key = PrivateKey::from_pem_or_openssh(&lite.operator_key_pem()).unwrap();
    MantaBackend::new(MantaConfig::new(lite.url.clone(), OPERATOR, key)).unwrap()
}

/// A request context for tenant `login` (the operator signs, addressing
/// `/:login/buckets`).
pub fn cx_for(login: &str) -> RequestContext {
    RequestContext {
        tenant: Tenant {
            login: login.into(),
            uuid: format!("uuid-{login}"),
        },
        request_id: format!("test-{}", uuid::Uuid::new_v4().simple()),
    }
}

pub fn cx() -> RequestContext {
    cx_for("alice")
}

pub fn bucket(s: &str) -> BucketName {
    BucketName::parse(s).unwrap()
}

pub fn key(s: &str) -> ObjectKey {
    ObjectKey::parse(s).unwrap()
}

pub fn body(data: impl Into<Bytes>) -> Body {
    let data: Bytes = data.into();
    Body {
        length: Some(data.len() as u64),
        stream: Box::pin(futures_util::stream::iter([Ok::<_, BodyError>(data)])),
        content_md5: None,
        checksum: ChecksumInput::None,
    }
}

pub fn put(b: &str, k: &str, data: impl Into<Bytes>) -> PutObjectInput {
    PutObjectInput {
        bucket: bucket(b),
        key: key(k),
        body: body(data),
        meta: ObjectMeta::default(),
        condition: WriteCondition::None,
    }
}

pub fn get(b: &str, k: &str) -> GetObjectInput {
    GetObjectInput {
        bucket: bucket(b),
        key: key(k),
        range: None,
        part_number: None,
        conditions: ReadConditions::default(),
        checksum_mode: false,
    }
}

pub async fn read_all(mut s: ByteStream) -> Vec<u8> {
    let mut v = Vec::new();
    while let Some(c) = s.next().await {
        v.extend_from_slice(&c.unwrap());
    }
    v
}

pub fn md5_hex(data: &[u8]) -> String {
    hex::encode(Md5::digest(data))
}

/// Native names under the gateway's hidden prefix (straight from the store).
pub async fn hidden_names(lite: &BucketsLite, login: &str, b: &str) -> Vec<String> {
    let c = lite.client().for_account(login);
    let r = c.list_objects(b, &[("prefix", HIDDEN_PREFIX)]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json_lines()
        .iter()
        .map(|v| v["name"].as_str().unwrap().to_owned())
        .collect()
}
