//! Shared helpers of the translator's live tests: the store they run
//! against ([`LiveStore`]: a real buckets-lite process, or the real Manta
//! stack of `scripts/real-manta.sh`), a `MantaBackend` signing as its
//! operator, request contexts and bodies.
#![allow(dead_code)]

use bytes::Bytes;
use futures_util::StreamExt;
use md5::{Digest, Md5};
use s3gw_httpsig::PrivateKey;
use s3gw_tests::buckets_lite::{BucketsLite, NativeClient, OPERATOR};
use s3gw_tests::real_manta::RealManta;
use s3gw_translator::manta::{MantaBackend, MantaConfig};
use s3gw_translator::*;

/// A native store the live cases run against, with its operator identity.
pub trait LiveStore {
    fn url(&self) -> String;
    fn operator_login(&self) -> String;
    fn operator_key_pem(&self) -> String;
    /// A native client signing as the operator (`for_account` acts for a tenant).
    fn native(&self) -> NativeClient;
    /// Whether the store refuses a body that does not match its Content-MD5
    /// (real Manta: mako answers 469 and buckets-api ContentMD5Mismatch).
    /// The real-code stack's storage nodes are an nginx stand-in that does
    /// not check (../shared/real-manta/README.md, "Stand-ins"), so there
    /// the check is the gateway's body verifier alone.
    fn verifies_content_md5(&self) -> bool {
        true
    }
    /// Whether a truncated native listing page may end on a name outside
    /// Latin-1. The real buckets-api aborts its process when it puts such a
    /// name in `Next-Marker` (buckets-api.md "Where the real server
    /// differs"), which no client can prevent; cases on the real stack keep
    /// their names inside Latin-1 so the run tests the translator, not that
    /// upstream crash.
    fn survives_non_latin1_next_marker(&self) -> bool {
        true
    }
    /// Whether the store is cheap enough per request for listing cases that
    /// page one key at a time over thousands of keys (a local process);
    /// the real stack is listed with fewer keys and larger pages.
    fn is_local(&self) -> bool {
        true
    }
}

impl LiveStore for BucketsLite {
    fn url(&self) -> String {
        self.url.clone()
    }
    fn operator_login(&self) -> String {
        OPERATOR.to_owned()
    }
    fn operator_key_pem(&self) -> String {
        BucketsLite::operator_key_pem(self)
    }
    fn native(&self) -> NativeClient {
        self.client()
    }
}

impl LiveStore for RealManta {
    fn url(&self) -> String {
        self.url.clone()
    }
    fn verifies_content_md5(&self) -> bool {
        false
    }
    fn survives_non_latin1_next_marker(&self) -> bool {
        false
    }
    fn is_local(&self) -> bool {
        false
    }
    fn operator_login(&self) -> String {
        self.operator_login.clone()
    }
    fn operator_key_pem(&self) -> String {
        self.operator_key_pem.clone()
    }
    fn native(&self) -> NativeClient {
        self.client()
    }
}

impl<T: LiveStore + ?Sized> LiveStore for &T {
    fn url(&self) -> String {
        (**self).url()
    }
    fn operator_login(&self) -> String {
        (**self).operator_login()
    }
    fn operator_key_pem(&self) -> String {
        (**self).operator_key_pem()
    }
    fn native(&self) -> NativeClient {
        (**self).native()
    }
    fn verifies_content_md5(&self) -> bool {
        (**self).verifies_content_md5()
    }
    fn survives_non_latin1_next_marker(&self) -> bool {
        (**self).survives_non_latin1_next_marker()
    }
    fn is_local(&self) -> bool {
        (**self).is_local()
    }
}

pub fn backend(store: &impl LiveStore) -> MantaBackend {
    let key = PrivateKey::from_pem_or_openssh(&store.operator_key_pem()).unwrap();
    MantaBackend::new(MantaConfig::new(store.url(), store.operator_login(), key)).unwrap()
}

/// Deletes every bucket (and every object in it, hidden ones too) of the
/// tenants `logins`: the real store's data outlive a run, and the live
/// cases use fixed names in the tenants `alice` and `bob`.
pub async fn reset_tenants(store: &impl LiveStore, logins: &[&str]) {
    for login in logins {
        let c = store.native().for_account(login);
        let r = c.list_buckets(&[]).await;
        assert_eq!(r.status, 200, "{}", r.text());
        for bkt in r.json_lines() {
            let name = bkt["name"].as_str().unwrap().to_owned();
            loop {
                let r = c.list_objects(&name, &[("limit", "1024")]).await;
                assert_eq!(r.status, 200, "{}", r.text());
                let objs = r.json_lines();
                if objs.is_empty() {
                    break;
                }
                for o in objs {
                    let n = o["name"].as_str().unwrap();
                    let d = c.delete(&c.object_path(&name, n), &[]).await;
                    assert!(d.status == 204 || d.status == 404, "{}", d.text());
                }
            }
            let d = c.delete(&c.bucket_path(&name), &[]).await;
            assert_eq!(d.status, 204, "{}", d.text());
        }
    }
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
pub async fn hidden_names(store: &impl LiveStore, login: &str, b: &str) -> Vec<String> {
    let c = store.native().for_account(login);
    let r = c.list_objects(b, &[("prefix", HIDDEN_PREFIX)]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json_lines()
        .iter()
        .map(|v| v["name"].as_str().unwrap().to_owned())
        .collect()
}
