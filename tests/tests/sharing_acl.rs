//! Canned ACLs, anonymous access and the public-name registry (issue 12),
//! end to end: real buckets-lite processes, real s3gw processes (two on
//! one store for the staleness bound), aws-sdk-s3 and boto3 for every ACL
//! operation, plain HTTP (reqwest, no credentials) in both addressing
//! styles, and a second tenant account whose keys come from the keys file
//! and from LDAP (slapd).
//!
//! Needs the binaries: `cargo build --workspace --bins` first.

use std::time::Duration;

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    AccessControlPolicy, BucketCannedAcl, CompletedMultipartUpload, CompletedPart, Grant, Grantee,
    ObjectCannedAcl, Owner, Permission, Type,
};
use aws_sdk_s3::Client;
use s3gw_tests::buckets_lite::BucketsLite;
use s3gw_tests::gateway::{Gateway, GatewayKey, GatewayOptions};

mod common;
use common::s3_client_for;

const ALL_USERS: &str = "http://acs.amazonaws.com/groups/global/AllUsers";
const AUTHENTICATED_USERS: &str = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers";

/// The bucket-configuration staleness bound the gateways run with (the
/// default) and how long a test waits for another instance to see a
/// change: the bound plus generous slack for a loaded machine.
const SEEN_DEADLINE: Duration = Duration::from_secs(20);

fn code_of<E: aws_sdk_s3::error::ProvideErrorMetadata, R>(
    r: Result<impl std::fmt::Debug, aws_sdk_s3::error::SdkError<E, R>>,
) -> String {
    match r {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => e
            .as_service_error()
            .and_then(|s| s.code().map(str::to_owned))
            .unwrap_or_else(|| "<no code>".into()),
    }
}

/// An unsigned HTTP exchange: status, `<Code>` of an error body, body.
#[derive(Debug)]
struct Anon {
    status: u16,
    code: Option<String>,
    body: Vec<u8>,
}

/// `method` on `/bucket/key` without credentials, path-style or (with
/// `vhost`) as `key` on `Host: bucket.s3.test`.
async fn anon(
    gw: &Gateway,
    method: reqwest::Method,
    bucket: &str,
    key: &str,
    vhost: bool,
    body: Option<&[u8]>,
) -> Anon {
    let http = s3gw_tests::buckets_lite::http_client();
    let mut req = if vhost {
        http.request(method, format!("{}/{key}", gw.url))
            .header("Host", format!("{bucket}.s3.test"))
    } else {
        let path = if key.is_empty() {
            bucket.to_owned()
        } else {
            format!("{bucket}/{key}")
        };
        http.request(method, format!("{}/{path}", gw.url))
    };
    if let Some(b) = body {
        req = req.body(b.to_vec());
    }
    let resp = req.send().await.expect("unsigned request");
    let status = resp.status().as_u16();
    let body = resp.bytes().await.expect("body").to_vec();
    let text = String::from_utf8_lossy(&body);
    let code = text
        .split_once("<Code>")
        .and_then(|(_, r)| r.split_once("</Code>"))
        .map(|(c, _)| c.to_owned());
    Anon { status, code, body }
}

async fn anon_get(gw: &Gateway, bucket: &str, key: &str, vhost: bool) -> Anon {
    anon(gw, reqwest::Method::GET, bucket, key, vhost, None).await
}

fn assert_denied(a: &Anon, what: &str) {
    assert_eq!(
        (a.status, a.code.as_deref()),
        (403, Some("AccessDenied")),
        "{what}: {a:?}"
    );
}

/// Expected grants, in [`grants`]' order.
fn want(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v: Vec<_> = pairs
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    v.sort();
    v
}

/// The (grantee URI or ID, permission) pairs of an ACL answer.
fn grants(g: &[Grant]) -> Vec<(String, String)> {
    let mut v: Vec<_> = g
        .iter()
        .map(|g| {
            let who = g.grantee().expect("grantee");
            let id = who
                .uri()
                .or(who.id())
                .expect("grantee uri or id")
                .to_owned();
            (id, g.permission().expect("permission").as_str().to_owned())
        })
        .collect();
    v.sort();
    v
}

async fn put(s3: &Client, bucket: &str, key: &str, body: &str, acl: Option<ObjectCannedAcl>) {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(body.as_bytes().to_vec()))
        .set_acl(acl)
        .send()
        .await
        .unwrap_or_else(|e| panic!("put {bucket}/{key}: {e:?}"));
}

struct Env {
    lite: BucketsLite,
    gw: Gateway,
    alice: Client,
    bob: Client,
    bob_key: GatewayKey,
}

fn start() -> Env {
    let lite = BucketsLite::start();
    let bob_key = GatewayKey::generate("bob");
    let gw = Gateway::start_with(
        &lite,
        GatewayOptions {
            extra_keys: vec![bob_key.clone()],
            ..GatewayOptions::default()
        },
    );
    let alice = s3_client_for(&gw.url, &gw.key);
    let bob = s3_client_for(&gw.url, &bob_key);
    Env {
        lite,
        gw,
        alice,
        bob,
        bob_key,
    }
}

/// Every ACL operation through aws-sdk-s3, and what an unsigned client
/// may then do, path-style and virtual-host.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canned_acls_through_the_sdk_and_anonymous_access() {
    // (`lite` bound: the store lives as long as the test.)
    let Env {
        lite: _lite,
        gw,
        alice: s3,
        ..
    } = tokio::task::block_in_place(start);
    let owner_id = s3
        .list_buckets()
        .send()
        .await
        .unwrap()
        .owner()
        .and_then(|o| o.id())
        .expect("owner id")
        .to_owned();

    // ---- a public-read bucket, made so at CreateBucket
    s3.create_bucket()
        .bucket("pub-1")
        .acl(BucketCannedAcl::PublicRead)
        .send()
        .await
        .unwrap();
    let acl = s3.get_bucket_acl().bucket("pub-1").send().await.unwrap();
    assert_eq!(acl.owner().and_then(|o| o.id()), Some(owner_id.as_str()));
    assert_eq!(acl.owner().and_then(|o| o.display_name()), Some("alice"));
    assert_eq!(
        grants(acl.grants()),
        want(&[(ALL_USERS, "READ"), (&owner_id, "FULL_CONTROL")])
    );
    let status = s3
        .get_bucket_policy_status()
        .bucket("pub-1")
        .send()
        .await
        .unwrap();
    assert_eq!(
        status.policy_status().and_then(|p| p.is_public()),
        Some(true)
    );
    put(&s3, "pub-1", "hello.txt", "hello world", None).await;
    for vhost in [false, true] {
        let a = anon_get(&gw, "pub-1", "hello.txt", vhost).await;
        assert_eq!(
            (a.status, a.body.as_slice()),
            (200, &b"hello world"[..]),
            "{a:?}"
        );
        let h = anon(
            &gw,
            reqwest::Method::HEAD,
            "pub-1",
            "hello.txt",
            vhost,
            None,
        )
        .await;
        assert_eq!(h.status, 200);
        let l = anon_get(&gw, "pub-1", "", vhost).await;
        assert_eq!(l.status, 200, "{l:?}");
        assert!(String::from_utf8_lossy(&l.body).contains("<Key>hello.txt</Key>"));
        let l2 = anon_get(&gw, "pub-1", "?list-type=2", vhost).await;
        assert_eq!(l2.status, 200, "{l2:?}");
        // Response overrides need a signature (S3: 400 InvalidRequest).
        let o = anon_get(&gw, "pub-1", "hello.txt?response-content-type=x/y", vhost).await;
        assert_eq!(
            (o.status, o.code.as_deref()),
            (400, Some("InvalidRequest")),
            "{o:?}"
        );
        let missing = anon_get(&gw, "pub-1", "nope", vhost).await;
        assert_eq!(
            (missing.status, missing.code.as_deref()),
            (404, Some("NoSuchKey"))
        );
        // Reading is all public-read grants.
        let w = anon(&gw, reqwest::Method::PUT, "pub-1", "x", vhost, Some(b"x")).await;
        assert_denied(&w, "anonymous PUT into public-read");
        let d = anon(
            &gw,
            reqwest::Method::DELETE,
            "pub-1",
            "hello.txt",
            vhost,
            None,
        )
        .await;
        assert_denied(&d, "anonymous DELETE in public-read");
        assert_denied(
            &anon_get(&gw, "pub-1", "?acl", vhost).await,
            "anonymous GetBucketAcl",
        );
    }

    // ---- turned private: anonymous access ends at once on this instance
    s3.put_bucket_acl()
        .bucket("pub-1")
        .acl(BucketCannedAcl::Private)
        .send()
        .await
        .unwrap();
    assert_denied(
        &anon_get(&gw, "pub-1", "hello.txt", false).await,
        "private again",
    );
    assert_denied(&anon_get(&gw, "pub-1", "", true).await, "private listing");
    let status = s3
        .get_bucket_policy_status()
        .bucket("pub-1")
        .send()
        .await
        .unwrap();
    assert_eq!(
        status.policy_status().and_then(|p| p.is_public()),
        Some(false)
    );
    let acl = s3.get_bucket_acl().bucket("pub-1").send().await.unwrap();
    assert_eq!(
        grants(acl.grants()),
        vec![(owner_id.clone(), "FULL_CONTROL".to_owned())]
    );

    // ---- a private bucket with one public object
    s3.create_bucket().bucket("priv-1").send().await.unwrap();
    put(
        &s3,
        "priv-1",
        "open",
        "open data",
        Some(ObjectCannedAcl::PublicRead),
    )
    .await;
    put(&s3, "priv-1", "closed", "closed data", None).await;
    for vhost in [false, true] {
        let a = anon_get(&gw, "priv-1", "open", vhost).await;
        assert_eq!(
            (a.status, a.body.as_slice()),
            (200, &b"open data"[..]),
            "{a:?}"
        );
        assert_denied(
            &anon_get(&gw, "priv-1", "closed", vhost).await,
            "private object",
        );
        assert_denied(
            &anon_get(&gw, "priv-1", "", vhost).await,
            "private bucket listing",
        );
        // Without list access a missing key is AccessDenied, as in S3.
        assert_denied(&anon_get(&gw, "priv-1", "nope", vhost).await, "missing key");
    }
    let oacl = s3
        .get_object_acl()
        .bucket("priv-1")
        .key("open")
        .send()
        .await
        .unwrap();
    assert_eq!(
        grants(oacl.grants()),
        want(&[(ALL_USERS, "READ"), (&owner_id, "FULL_CONTROL")])
    );
    // PutObjectAcl with the header, then with a document; bytes and ETag stay.
    let etag = s3
        .head_object()
        .bucket("priv-1")
        .key("closed")
        .send()
        .await
        .unwrap()
        .e_tag()
        .map(str::to_owned);
    s3.put_object_acl()
        .bucket("priv-1")
        .key("closed")
        .acl(ObjectCannedAcl::PublicRead)
        .send()
        .await
        .unwrap();
    let a = anon_get(&gw, "priv-1", "closed", true).await;
    assert_eq!((a.status, a.body.as_slice()), (200, &b"closed data"[..]));
    let head = s3
        .head_object()
        .bucket("priv-1")
        .key("closed")
        .send()
        .await
        .unwrap();
    assert_eq!(head.e_tag().map(str::to_owned), etag);
    let owner = Owner::builder().id(&owner_id).display_name("alice").build();
    let owner_grant = Grant::builder()
        .grantee(
            Grantee::builder()
                .r#type(Type::CanonicalUser)
                .id(&owner_id)
                .build()
                .unwrap(),
        )
        .permission(Permission::FullControl)
        .build();
    s3.put_object_acl()
        .bucket("priv-1")
        .key("closed")
        .access_control_policy(
            AccessControlPolicy::builder()
                .owner(owner.clone())
                .grants(owner_grant.clone())
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_denied(
        &anon_get(&gw, "priv-1", "closed", false).await,
        "document: private",
    );
    // A document granting another account: 501 naming it.
    let other = Grant::builder()
        .grantee(
            Grantee::builder()
                .r#type(Type::CanonicalUser)
                .id("someone-else")
                .build()
                .unwrap(),
        )
        .permission(Permission::Read)
        .build();
    let e = s3
        .put_object_acl()
        .bucket("priv-1")
        .key("closed")
        .access_control_policy(
            AccessControlPolicy::builder()
                .owner(owner.clone())
                .grants(owner_grant.clone())
                .grants(other)
                .build(),
        )
        .send()
        .await;
    assert_eq!(code_of(e), "NotImplemented");
    let e = s3
        .put_object_acl()
        .bucket("priv-1")
        .key("closed")
        .grant_read("id=someone-else")
        .send()
        .await;
    assert_eq!(code_of(e), "NotImplemented");
    let e = s3
        .put_object_acl()
        .bucket("priv-1")
        .key("missing")
        .acl(ObjectCannedAcl::Private)
        .send()
        .await;
    assert_eq!(code_of(e), "NoSuchKey");

    // ---- a copy takes its own x-amz-acl, never the source's
    s3.copy_object()
        .bucket("priv-1")
        .key("copy-plain")
        .copy_source("priv-1/open")
        .send()
        .await
        .unwrap();
    assert_denied(
        &anon_get(&gw, "priv-1", "copy-plain", false).await,
        "copy of public",
    );
    s3.copy_object()
        .bucket("priv-1")
        .key("copy-public")
        .copy_source("priv-1/closed")
        .acl(ObjectCannedAcl::PublicRead)
        .send()
        .await
        .unwrap();
    assert_eq!(
        anon_get(&gw, "priv-1", "copy-public", false).await.status,
        200
    );

    // ---- a multipart upload's ACL lands on the completed object
    let up = s3
        .create_multipart_upload()
        .bucket("priv-1")
        .key("mp")
        .acl(ObjectCannedAcl::PublicRead)
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap();
    let part = s3
        .upload_part()
        .bucket("priv-1")
        .key("mp")
        .upload_id(id)
        .part_number(1)
        .body(ByteStream::from_static(b"multipart body"))
        .send()
        .await
        .unwrap();
    s3.complete_multipart_upload()
        .bucket("priv-1")
        .key("mp")
        .upload_id(id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(
                    CompletedPart::builder()
                        .part_number(1)
                        .e_tag(part.e_tag().unwrap())
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let a = anon_get(&gw, "priv-1", "mp", true).await;
    assert_eq!((a.status, a.body.as_slice()), (200, &b"multipart body"[..]));

    // ---- public-read-write: anonymous PUT and DELETE
    s3.create_bucket().bucket("drop-1").send().await.unwrap();
    s3.put_bucket_acl()
        .bucket("drop-1")
        .acl(BucketCannedAcl::PublicReadWrite)
        .send()
        .await
        .unwrap();
    for vhost in [false, true] {
        let w = anon(
            &gw,
            reqwest::Method::PUT,
            "drop-1",
            "up.txt",
            vhost,
            Some(b"dropped"),
        )
        .await;
        assert_eq!(w.status, 200, "{w:?}");
        let got = s3
            .get_object()
            .bucket("drop-1")
            .key("up.txt")
            .send()
            .await
            .unwrap();
        assert_eq!(got.body.collect().await.unwrap().to_vec(), b"dropped");
        let d = anon(
            &gw,
            reqwest::Method::DELETE,
            "drop-1",
            "up.txt",
            vhost,
            None,
        )
        .await;
        assert_eq!(d.status, 204, "{d:?}");
        let e = s3.head_object().bucket("drop-1").key("up.txt").send().await;
        assert_eq!(code_of(e), "NotFound");
        // Still not the owner: no bucket administration.
        let e = anon(&gw, reqwest::Method::PUT, "drop-1", "?acl", vhost, None).await;
        assert_denied(&e, "anonymous PutBucketAcl");
        let e = anon(&gw, reqwest::Method::DELETE, "drop-1", "", vhost, None).await;
        assert_denied(&e, "anonymous DeleteBucket");
    }

    // ---- names never made public, and bad ACL requests
    assert_denied(
        &anon_get(&gw, "nobody-bucket", "k", false).await,
        "unknown bucket",
    );
    let e = s3
        .put_bucket_acl()
        .bucket("priv-1")
        .grant_read("uri=http://acs.amazonaws.com/groups/global/AllUsers")
        .send()
        .await;
    assert_eq!(code_of(e), "NotImplemented");
    let e = s3
        .put_bucket_acl()
        .bucket("no-such-bucket-x")
        .acl(BucketCannedAcl::PublicRead)
        .send()
        .await;
    assert_eq!(code_of(e), "NoSuchBucket");
    let e = s3.put_bucket_acl().bucket("priv-1").send().await;
    assert_eq!(code_of(e), "MissingSecurityHeader");
}

/// A second tenant (its key in the keys file): denied on the first
/// account's buckets, served as their ACLs allow (authenticated-read
/// grants any valid key read access), unable to take a public name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_tenant_from_the_keys_file() {
    let Env {
        lite: _lite,
        gw,
        alice,
        bob,
        ..
    } = tokio::task::block_in_place(start);
    second_tenant_checks(&gw, &alice, &bob).await;
}

async fn second_tenant_checks(gw: &Gateway, alice: &Client, bob: &Client) {
    // authenticated-read: any valid key reads, unsigned requests do not.
    alice
        .create_bucket()
        .bucket("auth-1")
        .acl(BucketCannedAcl::AuthenticatedRead)
        .send()
        .await
        .unwrap();
    put(alice, "auth-1", "doc", "for members", None).await;
    let got = bob
        .get_object()
        .bucket("auth-1")
        .key("doc")
        .send()
        .await
        .unwrap();
    assert_eq!(got.body.collect().await.unwrap().to_vec(), b"for members");
    let listed = bob.list_objects_v2().bucket("auth-1").send().await.unwrap();
    assert_eq!(listed.contents().len(), 1);
    assert_denied(
        &anon_get(gw, "auth-1", "doc", false).await,
        "authenticated-read, unsigned",
    );
    let acl = alice
        .get_bucket_acl()
        .bucket("auth-1")
        .send()
        .await
        .unwrap();
    assert!(grants(acl.grants()).contains(&(AUTHENTICATED_USERS.to_owned(), "READ".to_owned())));
    // ... but writes and administration stay the owner's.
    let e = bob
        .put_object()
        .bucket("auth-1")
        .key("x")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await;
    assert_eq!(code_of(e), "AccessDenied");
    let e = bob.delete_object().bucket("auth-1").key("doc").send().await;
    assert_eq!(code_of(e), "AccessDenied");
    let e = bob.get_bucket_acl().bucket("auth-1").send().await;
    assert_eq!(code_of(e), "AccessDenied");
    let e = bob
        .put_bucket_acl()
        .bucket("auth-1")
        .acl(BucketCannedAcl::PublicReadWrite)
        .send()
        .await;
    assert_eq!(code_of(e), "AccessDenied");
    let e = bob.delete_bucket().bucket("auth-1").send().await;
    assert_eq!(code_of(e), "AccessDenied");

    // A private bucket whose name is public only through one object: the
    // rest of it is AccessDenied to the other account.
    alice
        .create_bucket()
        .bucket("mixed-1")
        .send()
        .await
        .unwrap();
    put(
        alice,
        "mixed-1",
        "pub",
        "pub",
        Some(ObjectCannedAcl::PublicRead),
    )
    .await;
    put(alice, "mixed-1", "secret", "secret", None).await;
    let got = bob
        .get_object()
        .bucket("mixed-1")
        .key("pub")
        .send()
        .await
        .unwrap();
    assert_eq!(got.body.collect().await.unwrap().to_vec(), b"pub");
    let e = bob
        .get_object()
        .bucket("mixed-1")
        .key("secret")
        .send()
        .await;
    assert_eq!(code_of(e), "AccessDenied");
    let e = bob.list_objects_v2().bucket("mixed-1").send().await;
    assert_eq!(code_of(e), "AccessDenied");
    let e = bob
        .put_object()
        .bucket("mixed-1")
        .key("secret")
        .body(ByteStream::from_static(b"overwritten"))
        .send()
        .await;
    assert_eq!(code_of(e), "AccessDenied");
    let e = bob
        .put_object_acl()
        .bucket("mixed-1")
        .key("secret")
        .acl(ObjectCannedAcl::PublicRead)
        .send()
        .await;
    assert_eq!(code_of(e), "AccessDenied");
    // The name is taken: bob cannot create it.
    let e = bob.create_bucket().bucket("mixed-1").send().await;
    assert_eq!(code_of(e), "BucketAlreadyExists");
    let secret = alice
        .get_object()
        .bucket("mixed-1")
        .key("secret")
        .send()
        .await
        .unwrap();
    assert_eq!(secret.body.collect().await.unwrap().to_vec(), b"secret");

    // Names are per account until one is made public: then first come,
    // first served (409 with a clear message), and the other account's own
    // bucket of that name stays its own.
    bob.create_bucket()
        .bucket("same-name")
        .send()
        .await
        .unwrap();
    put(bob, "same-name", "bobs", "bob's", None).await;
    alice
        .create_bucket()
        .bucket("same-name")
        .send()
        .await
        .unwrap();
    alice
        .put_bucket_acl()
        .bucket("same-name")
        .acl(BucketCannedAcl::PublicRead)
        .send()
        .await
        .unwrap();
    let e = bob
        .put_bucket_acl()
        .bucket("same-name")
        .acl(BucketCannedAcl::PublicRead)
        .send()
        .await
        .unwrap_err();
    let svc = e.as_service_error().expect("service error");
    assert_eq!(svc.code(), Some("BucketAlreadyExists"));
    assert!(
        svc.message()
            .unwrap_or_default()
            .contains("already public for another account"),
        "{svc:?}"
    );
    let got = bob
        .get_object()
        .bucket("same-name")
        .key("bobs")
        .send()
        .await
        .unwrap();
    assert_eq!(got.body.collect().await.unwrap().to_vec(), b"bob's");
    // Alice gives the name back; bob may now publish his.
    alice
        .put_bucket_acl()
        .bucket("same-name")
        .acl(BucketCannedAcl::Private)
        .send()
        .await
        .unwrap();
    bob.put_bucket_acl()
        .bucket("same-name")
        .acl(BucketCannedAcl::PublicRead)
        .send()
        .await
        .unwrap();
    let a = anon_get(gw, "same-name", "bobs", false).await;
    assert_eq!((a.status, a.body.as_slice()), (200, &b"bob's"[..]), "{a:?}");

    // A deleted bucket's name leaves the registry: free for anyone.
    alice
        .delete_object()
        .bucket("auth-1")
        .key("doc")
        .send()
        .await
        .unwrap();
    alice.delete_bucket().bucket("auth-1").send().await.unwrap();
    assert_denied(&anon_get(gw, "auth-1", "", false).await, "deleted bucket");
    bob.create_bucket()
        .bucket("auth-1")
        .acl(BucketCannedAcl::PublicRead)
        .send()
        .await
        .unwrap();
    put(bob, "auth-1", "b", "bob now", None).await;
    let a = anon_get(gw, "auth-1", "b", false).await;
    assert_eq!(
        (a.status, a.body.as_slice()),
        (200, &b"bob now"[..]),
        "{a:?}"
    );
}

/// The same with both tenants' keys in a real LDAP directory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_tenant_from_ldap() {
    use s3gw_tests::slapd::{account_dn, KeySpec, Slapd, GATEWAY_DN, GATEWAY_PW};
    let slapd = Slapd::start().await;
    let mut keys = Vec::new();
    for login in ["alice", "bob"] {
        let uuid = uuid::Uuid::new_v4().to_string();
        slapd.add_account(&uuid, login).await;
        let key = GatewayKey::generate(login);
        slapd
            .add_key(&KeySpec {
                owner_dn: &account_dn(&uuid),
                id: &key.access_key_id,
                secret: &key.secret,
                status: "Active",
            })
            .await;
        keys.push(key);
    }
    let keys_section = format!(
        "[keys]\nsource = \"ldap\"\nurl = \"{}\"\nbind_dn = \"{GATEWAY_DN}\"\nbind_password = \"{GATEWAY_PW}\"\n",
        slapd.url()
    );
    let (lite, gw) = tokio::task::block_in_place(|| {
        let lite = BucketsLite::start();
        let gw = Gateway::start_with(
            &lite,
            GatewayOptions {
                keys_section: Some(keys_section),
                ..GatewayOptions::default()
            },
        );
        (lite, gw)
    });
    let alice = s3_client_for(&gw.url, &keys[0]);
    let bob = s3_client_for(&gw.url, &keys[1]);
    second_tenant_checks(&gw, &alice, &bob).await;
    drop(gw);
    drop(lite);
}

/// Two gateway instances on one store: a change made through one is seen
/// through the other within the staleness bound (polled with a deadline).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_through_one_instance_is_seen_through_another() {
    let Env {
        lite,
        gw: one,
        alice,
        bob_key,
        ..
    } = tokio::task::block_in_place(start);
    let two = tokio::task::block_in_place(|| {
        Gateway::start_with(
            &lite,
            GatewayOptions {
                extra_keys: vec![bob_key.clone()],
                ..GatewayOptions::default()
            },
        )
    });
    alice
        .create_bucket()
        .bucket("shared-1")
        .send()
        .await
        .unwrap();
    put(&alice, "shared-1", "k", "v", None).await;
    // Instance two has looked and cached "not public".
    assert_denied(&anon_get(&two, "shared-1", "k", false).await, "before");

    alice
        .put_bucket_acl()
        .bucket("shared-1")
        .acl(BucketCannedAcl::PublicRead)
        .send()
        .await
        .unwrap();
    // (One sees its own write at once.)
    assert_eq!(anon_get(&one, "shared-1", "k", false).await.status, 200);
    let seen = poll_status(&two, "shared-1", "k", 200).await;
    assert!(seen, "instance two never served the bucket made public");

    alice
        .put_bucket_acl()
        .bucket("shared-1")
        .acl(BucketCannedAcl::Private)
        .send()
        .await
        .unwrap();
    assert_denied(
        &anon_get(&one, "shared-1", "k", false).await,
        "private on one",
    );
    let seen = poll_status(&two, "shared-1", "k", 403).await;
    assert!(seen, "instance two kept serving the bucket made private");

    // Another account's view through instance two follows too.
    let bob_two = s3_client_for(&two.url, &bob_key);
    alice
        .put_bucket_acl()
        .bucket("shared-1")
        .acl(BucketCannedAcl::AuthenticatedRead)
        .send()
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + SEEN_DEADLINE;
    loop {
        if bob_two
            .get_object()
            .bucket("shared-1")
            .key("k")
            .send()
            .await
            .is_ok()
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "bob never read through instance two"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Polls an anonymous GET through `gw` until it answers `status`.
async fn poll_status(gw: &Gateway, bucket: &str, key: &str, status: u16) -> bool {
    let deadline = std::time::Instant::now() + SEEN_DEADLINE;
    loop {
        if anon_get(gw, bucket, key, false).await.status == status {
            return true;
        }
        if std::time::Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// boto3: every ACL operation, and the public bucket read with urllib
/// (no credentials).
#[test]
fn boto3_acl_operations() {
    let python = python3_with_boto3();
    let lite = BucketsLite::start();
    let gw = Gateway::start_with(&lite, GatewayOptions::default());
    let script = r#"
import os, sys, urllib.request, urllib.error, boto3
from botocore.config import Config
ep = os.environ["S3GW_ENDPOINT"]
s3 = boto3.client("s3", endpoint_url=ep, region_name="us-east-1",
    aws_access_key_id=os.environ["S3GW_ACCESS_KEY"],
    aws_secret_access_key=os.environ["S3GW_SECRET_KEY"],
    config=Config(s3={"addressing_style": "path"}))
ALL = "http://acs.amazonaws.com/groups/global/AllUsers"
def anon(path):
    try:
        with urllib.request.urlopen(ep + path) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
def check(name, cond):
    print(("PASS " if cond else "FAIL ") + name)
    if not cond:
        sys.exit(1)
s3.create_bucket(Bucket="boto-acl", ACL="private")
s3.put_object(Bucket="boto-acl", Key="k", Body=b"boto body")
check("private by default", anon("/boto-acl/k")[0] == 403)
s3.put_bucket_acl(Bucket="boto-acl", ACL="public-read")
g = s3.get_bucket_acl(Bucket="boto-acl")
check("bucket grants", {(x["Grantee"].get("URI"), x["Permission"]) for x in g["Grants"]} >= {(ALL, "READ")})
check("owner", g["Owner"]["DisplayName"] == "alice")
check("policy status", s3.get_bucket_policy_status(Bucket="boto-acl")["PolicyStatus"]["IsPublic"] is True)
check("anonymous read", anon("/boto-acl/k") == (200, b"boto body"))
# Back to private with the document GetBucketAcl gave (minus AllUsers).
g["Grants"] = [x for x in g["Grants"] if x["Grantee"].get("URI") != ALL]
del g["ResponseMetadata"]
s3.put_bucket_acl(Bucket="boto-acl", AccessControlPolicy=g)
check("private by document", anon("/boto-acl/k")[0] == 403)
s3.put_object(Bucket="boto-acl", Key="o", Body=b"obj", ACL="public-read")
check("object grants", any(x["Grantee"].get("URI") == ALL for x in s3.get_object_acl(Bucket="boto-acl", Key="o")["Grants"]))
check("anonymous object read", anon("/boto-acl/o") == (200, b"obj"))
s3.put_object_acl(Bucket="boto-acl", Key="o", ACL="private")
check("object private again", anon("/boto-acl/o")[0] == 403)
try:
    s3.put_object_acl(Bucket="boto-acl", Key="o", GrantRead='id="other"')
    check("grants refused", False)
except s3.exceptions.ClientError as e:
    check("grants refused", e.response["Error"]["Code"] == "NotImplemented")
"#;
    let out = std::process::Command::new(python)
        .arg("-c")
        .arg(script)
        .env("S3GW_ENDPOINT", &gw.url)
        .env("S3GW_ACCESS_KEY", &gw.key.access_key_id)
        .env("S3GW_SECRET_KEY", &gw.key.secret)
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && !stdout.contains("FAIL"),
        "boto3 ACL checks failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.matches("PASS ").count(), 10, "{stdout}");
}

/// The test venv's python3 (scripts/test-all.sh installs boto3 there and
/// puts it on PATH), else `python3` from PATH.
fn python3_with_boto3() -> std::path::PathBuf {
    let venv = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/venv/bin/python3");
    if venv.is_file() {
        venv
    } else {
        "python3".into()
    }
}

/// The embedded default holds several tenants: `s3gw keys create
/// --account NEW` makes one (its key works on the running gateway), and
/// the two accounts share only through ACLs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_keys_create_makes_a_new_tenant() {
    let gw = tokio::task::block_in_place(Gateway::start_embedded);
    let out = std::process::Command::new(s3gw_tests::procs::workspace_bin("s3gw"))
        .args(["keys", "create", "--account", "carol", "--json", "--data"])
        .arg(&gw.dir)
        .env_remove("S3GW_CONFIG")
        .output()
        .expect("run s3gw keys create");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("new tenant account \"carol\""));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let carol_key = GatewayKey {
        access_key_id: v["access_key_id"].as_str().unwrap().to_owned(),
        secret: v["secret_access_key"].as_str().unwrap().to_owned(),
        account: "carol".into(),
    };
    let dev = s3_client_for(&gw.url, &gw.key);
    let carol = s3_client_for(&gw.url, &carol_key);
    // The running gateway takes the new key at its next keys-file reload.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let owner = loop {
        match carol.list_buckets().send().await {
            Ok(o) => break o,
            Err(e) => assert!(
                std::time::Instant::now() < deadline,
                "carol's key never worked: {e:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(owner.owner().and_then(|o| o.display_name()), Some("carol"));

    dev.create_bucket().bucket("dev-own").send().await.unwrap();
    carol
        .create_bucket()
        .bucket("carol-pub")
        .acl(BucketCannedAcl::PublicRead)
        .send()
        .await
        .unwrap();
    put(&carol, "carol-pub", "hi", "from carol", None).await;
    // Separate namespaces...
    let names = |l: aws_sdk_s3::operation::list_buckets::ListBucketsOutput| {
        l.buckets()
            .iter()
            .filter_map(|b| b.name().map(str::to_owned))
            .collect::<Vec<_>>()
    };
    assert_eq!(names(dev.list_buckets().send().await.unwrap()), ["dev-own"]);
    assert_eq!(
        names(carol.list_buckets().send().await.unwrap()),
        ["carol-pub"]
    );
    let e = carol.list_objects_v2().bucket("dev-own").send().await;
    assert_eq!(code_of(e), "NoSuchBucket");
    // ... shared through the ACL: dev and anonymous read carol's bucket.
    let got = dev
        .get_object()
        .bucket("carol-pub")
        .key("hi")
        .send()
        .await
        .unwrap();
    assert_eq!(got.body.collect().await.unwrap().to_vec(), b"from carol");
    let a = anon_get(&gw, "carol-pub", "hi", false).await;
    assert_eq!((a.status, a.body.as_slice()), (200, &b"from carol"[..]));
    let e = dev
        .put_object()
        .bucket("carol-pub")
        .key("x")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await;
    assert_eq!(code_of(e), "AccessDenied");
}
