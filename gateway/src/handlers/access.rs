//! Who may act on a bucket: unsigned requests, signed requests from an
//! account that does not own the addressed name, and the public-name
//! registry both rely on (docs/architecture.md "Sharing").
//!
//! S3's bucket names are global; the store's are per account. A name
//! becomes reachable from outside its account only through the public
//! registry: one record per bucket name, kept in the store under the
//! operator's account (bucket [`REGISTRY_BUCKET`], object = the bucket
//! name), saying which account owns it and why it is exposed (a public
//! bucket ACL, a public object ACL, CORS rules). Records are claimed
//! create-if-absent and changed compare-and-swap, so the first account to
//! expose a name holds it; another account asking gets 409. Each instance
//! caches records for the bucket-configuration staleness bound.
//!
//! Whether a request from outside the owning account is served is then
//! decided by the ACLs alone ([`allows`]).

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::*;

/// The operator-account bucket holding the public-name registry.
pub const REGISTRY_BUCKET: &str = "s3gw-public-names";

/// Attempts of a registry read-modify-write against concurrent writers.
const REGISTRY_ATTEMPTS: usize = 8;

/// Registry records one instance keeps cached at most.
const MAX_CACHED_NAMES: usize = 100_000;

/// Largest registry record read back.
const MAX_RECORD_BYTES: usize = 64 * 1024;

/// Why a bucket name is in the public registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(super) enum Exposure {
    /// The bucket's ACL grants access beyond its owner.
    Acl,
    /// The bucket has CORS rules (preflights are unsigned).
    Cors,
    /// An object in the bucket was given an ACL granting access beyond its
    /// owner. Kept until the bucket is deleted (objects are not tracked one
    /// by one).
    ObjectAcl,
}

/// One registry record (JSON in the store).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct PublicName {
    /// Owner account login.
    pub login: String,
    /// Owner account uuid (its canonical id in ACL documents).
    #[serde(default)]
    pub uuid: String,
    /// The reasons the name is exposed; empty: free for anyone to claim.
    #[serde(default)]
    pub why: BTreeSet<Exposure>,
    /// Fields written by other (newer) gateway versions, kept as they are.
    #[serde(flatten)]
    pub other: std::collections::BTreeMap<String, serde_json::Value>,
}

impl PublicName {
    fn owner(&self) -> Option<Tenant> {
        (!self.why.is_empty()).then(|| Tenant {
            login: self.login.clone(),
            uuid: self.uuid.clone(),
        })
    }
}

/// This instance's cache of registry records.
pub struct PublicRegistry {
    ttl: Duration,
    operator: String,
    entries: Mutex<HashMap<String, (Instant, Option<PublicName>)>>,
}

impl PublicRegistry {
    pub fn new(ttl: Duration, operator_login: String) -> Self {
        PublicRegistry {
            ttl,
            operator: operator_login,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn cached(&self, name: &str) -> Option<Option<PublicName>> {
        let m = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        m.get(name)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, v)| v.clone())
    }

    fn remember(&self, name: &str, v: Option<PublicName>) {
        let mut m = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if m.len() >= MAX_CACHED_NAMES {
            m.clear();
        }
        m.insert(name.to_owned(), (Instant::now(), v));
    }

    fn operator_cx(&self, request_id: &str) -> RequestContext {
        RequestContext {
            tenant: Tenant {
                login: self.operator.clone(),
                uuid: String::new(),
            },
            request_id: request_id.to_owned(),
        }
    }

    fn registry_bucket() -> BucketName {
        BucketName::parse(REGISTRY_BUCKET).expect("the registry bucket name is valid")
    }

    /// The stored record and its ETag (for compare-and-swap), never cached.
    async fn read(
        &self,
        backend: &dyn Backend,
        request_id: &str,
        name: &BucketName,
    ) -> Result<Option<(PublicName, ETag)>, BackendError> {
        let input = GetObjectInput {
            bucket: Self::registry_bucket(),
            key: record_key(name)?,
            range: None,
            part_number: None,
            conditions: ReadConditions::default(),
            checksum_mode: false,
        };
        let out = match backend
            .get_object(&self.operator_cx(request_id), input)
            .await
        {
            Ok(out) => out,
            // (A backend without objects has no registry.)
            Err(BackendError::NoSuchKey)
            | Err(BackendError::NoSuchBucket)
            | Err(BackendError::NotImplemented(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        let etag = out.info.etag.clone();
        let mut body = out.body;
        let mut bytes = Vec::new();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| BackendError::Internal(format!("registry read: {e}")))?;
            if bytes.len() + chunk.len() > MAX_RECORD_BYTES {
                return Err(BackendError::Internal("registry record too large".into()));
            }
            bytes.extend_from_slice(&chunk);
        }
        let rec: PublicName = serde_json::from_slice(&bytes)
            .map_err(|e| BackendError::Internal(format!("registry record {name}: {e}")))?;
        Ok(Some((rec, etag)))
    }

    /// Writes a record: create-if-absent (`expected: None`) or
    /// compare-and-swap. PreconditionFailed when another writer was first.
    async fn write(
        &self,
        backend: &dyn Backend,
        request_id: &str,
        name: &BucketName,
        rec: &PublicName,
        expected: Option<&ETag>,
    ) -> Result<(), BackendError> {
        let cx = self.operator_cx(request_id);
        let doc = Bytes::from(serde_json::to_vec(rec).expect("a registry record serialises"));
        let put = |condition: WriteCondition| PutObjectInput {
            bucket: Self::registry_bucket(),
            key: record_key(name).expect("checked by read"),
            body: Body {
                length: Some(doc.len() as u64),
                stream: Box::pin(futures_util::stream::once(std::future::ready(Ok(
                    doc.clone()
                )))),
                content_md5: None,
                checksum: ChecksumInput::None,
            },
            meta: ObjectMeta {
                content_type: Some("application/json".into()),
                ..Default::default()
            },
            condition,
        };
        let condition = || match expected {
            Some(e) => WriteCondition::IfMatch(e.clone()),
            None => WriteCondition::IfNoneMatchAny,
        };
        match backend.put_object(&cx, put(condition())).await {
            Err(BackendError::NoSuchBucket) => {
                // First use of the registry on this store.
                match backend.create_bucket(&cx, &Self::registry_bucket()).await {
                    Ok(()) | Err(BackendError::BucketAlreadyOwnedByYou) => {}
                    Err(e) => return Err(e),
                }
                backend.put_object(&cx, put(condition())).await.map(|_| ())
            }
            // A compare-and-swap whose record vanished: someone else changed it.
            Err(BackendError::NoSuchKey) => Err(BackendError::PreconditionFailed),
            other => other.map(|_| ()),
        }
    }
}

/// The registry object naming a bucket.
fn record_key(name: &BucketName) -> Result<ObjectKey, BackendError> {
    ObjectKey::parse(name.as_str())
        .map_err(|_| BackendError::Internal(format!("bucket name {name} as a registry key")))
}

/// How a signed request falls back to the public registry when the
/// signer's account has no bucket of that name.
pub(super) struct ForeignFallback {
    bucket: BucketName,
    signer: String,
    request_id: String,
    /// The request again (without a body), for the operations another
    /// account can be granted.
    again: Option<S3Request>,
}

/// What a caller from outside the bucket's account asks to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Access {
    /// GET/HEAD of an object, listing, HeadBucket.
    Read,
    /// PUT/DELETE of an object.
    Write,
}

/// Whether a canned ACL lets a caller who does not own the resource do
/// `what` (`authenticated`: the request carries a valid signature of some
/// account). As S3 documents the canned ACLs: `public-read` grants
/// AllUsers READ, `public-read-write` AllUsers READ and WRITE,
/// `authenticated-read` AuthenticatedUsers READ; the rest grant only the
/// owner (and, for objects, the bucket owner, who is the owner here).
pub(super) fn allows(acl: CannedAcl, what: Access, authenticated: bool) -> bool {
    match (acl, what) {
        (CannedAcl::PublicRead, Access::Read) => true,
        (CannedAcl::PublicReadWrite, _) => true,
        (CannedAcl::AuthenticatedRead, Access::Read) => authenticated,
        _ => false,
    }
}

/// What an endpoint needs from a non-owner, when a non-owner may do it at
/// all (`None`: owner only).
fn access_needed(endpoint: Endpoint) -> Option<(Access, bool)> {
    use Endpoint as E;
    // (access, whether an object's own ACL can grant it)
    match endpoint {
        E::GetObject | E::HeadObject => Some((Access::Read, true)),
        E::ListObjects | E::ListObjectsV2 | E::HeadBucket => Some((Access::Read, false)),
        E::PutObject | E::DeleteObject => Some((Access::Write, false)),
        _ => None,
    }
}

fn access_denied() -> S3Error {
    S3ErrorCode::AccessDenied.into()
}

impl Handlers {
    /// Admits an unsigned request: sets `r.cx.tenant` to the account that
    /// owns the addressed bucket, or refuses with AccessDenied. Requests
    /// that authenticate themselves (a POST form's signed policy) or need
    /// no account (a CORS preflight) pass to their handler.
    pub(super) async fn admit_anonymous(&self, r: &mut S3Request) -> Result<(), S3Error> {
        match r.endpoint {
            Endpoint::PostObject | Endpoint::OptionsObject => return Ok(()),
            _ => {}
        }
        let Some(bucket) = r.bucket.clone() else {
            return Err(access_denied());
        };
        let Some((what, object_acl)) = access_needed(r.endpoint) else {
            return Err(access_denied());
        };
        let Some(owner) = self.public_owner(&r.cx.request_id, &bucket).await? else {
            return Err(access_denied());
        };
        r.cx.tenant = owner;
        self.check_acl(r, &bucket, what, object_acl, false).await?;
        // S3: response header overrides need a signature.
        if r.endpoint == Endpoint::GetObject
            && r.query
                .pairs()
                .iter()
                .any(|(k, _)| k.starts_with("response-"))
        {
            return Err(S3Error::with_message(
                S3ErrorCode::InvalidRequest,
                "Request specific response headers cannot be used for anonymous GET requests.",
            ));
        }
        Ok(())
    }

    /// A signed request. Most run in the signer's account and consult the
    /// public registry only when the signer has no bucket of that name
    /// ([`Handlers::foreign_fallback`]), so the common path costs nothing;
    /// CreateBucket (which would make the name in the signer's account)
    /// and PutObject (whose body cannot be replayed) consult it first.
    pub(super) async fn admit_signed(
        &self,
        r: &mut S3Request,
    ) -> Result<Option<ForeignFallback>, S3Error> {
        let Some(bucket) = r.bucket.clone() else {
            return Ok(None);
        };
        // The registry is the gateway's own: not even the operator
        // account's S3 keys may read or change it.
        if r.cx.tenant.login == self.public_names.operator && bucket.as_str() == REGISTRY_BUCKET {
            return Err(access_denied());
        }
        if matches!(r.endpoint, Endpoint::CreateBucket | Endpoint::PutObject) {
            self.admit_foreign(r).await?;
            return Ok(None);
        }
        let again = access_needed(r.endpoint).map(|_| S3Request {
            endpoint: r.endpoint,
            method: r.method.clone(),
            bucket: r.bucket.clone(),
            key: r.key.clone(),
            query: r.query.clone(),
            headers: r.headers.clone(),
            auth: r.auth.clone(),
            cx: r.cx.clone(),
            body: None,
            origin: r.origin.clone(),
        });
        Ok(Some(ForeignFallback {
            bucket,
            signer: r.cx.tenant.login.clone(),
            request_id: r.cx.request_id.clone(),
            again,
        }))
    }

    /// A signed request that found no such bucket in the signer's account:
    /// when the public registry gives the name to another account, it is
    /// served there as that bucket's ACLs allow, or AccessDenied.
    pub(super) async fn foreign_fallback(
        &self,
        res: HResult,
        fallback: Option<ForeignFallback>,
    ) -> HResult {
        let Some(fb) = fallback else {
            return res;
        };
        match &res {
            Err(e) if e.code == S3ErrorCode::NoSuchBucket => {}
            _ => return res,
        }
        let Some(owner) = self.public_owner(&fb.request_id, &fb.bucket).await? else {
            return res;
        };
        if owner.login == fb.signer {
            return res;
        }
        let Some(mut again) = fb.again else {
            return Err(access_denied());
        };
        let Some((what, object_acl)) = access_needed(again.endpoint) else {
            return Err(access_denied());
        };
        again.cx.tenant = owner;
        self.check_acl(&again, &fb.bucket, what, object_acl, true)
            .await?;
        self.dispatch(again).await
    }

    /// A signed request for a bucket name the public registry gives to
    /// another account: served as that bucket's ACLs allow (S3's names are
    /// global), unless the signer owns a bucket of that name itself.
    /// CreateBucket of such a name is BucketAlreadyExists.
    pub(super) async fn admit_foreign(&self, r: &mut S3Request) -> Result<(), S3Error> {
        let Some(bucket) = r.bucket.clone() else {
            return Ok(());
        };
        let Some(owner) = self.public_owner(&r.cx.request_id, &bucket).await? else {
            return Ok(());
        };
        if owner.login == r.cx.tenant.login {
            return Ok(());
        }
        if r.endpoint == Endpoint::CreateBucket {
            return Err(S3ErrorCode::BucketAlreadyExists.into());
        }
        // The signer's own bucket of the same name (made before the other
        // account published it) stays theirs.
        match self
            .bucket_configs
            .get(self.backend.as_ref(), &r.cx, &bucket)
            .await
        {
            Ok(_) => return Ok(()),
            Err(BackendError::NoSuchBucket) => {}
            Err(e) => return Err(backend_error(e)),
        }
        let Some((what, object_acl)) = access_needed(r.endpoint) else {
            return Err(access_denied());
        };
        r.cx.tenant = owner;
        self.check_acl(r, &bucket, what, object_acl, true).await
    }

    /// AccessDenied unless the bucket's ACL (or, for object reads, the
    /// object's) grants `what` to a non-owner. `r.cx` is the owner's.
    async fn check_acl(
        &self,
        r: &S3Request,
        bucket: &BucketName,
        what: Access,
        object_acl: bool,
        authenticated: bool,
    ) -> Result<(), S3Error> {
        let config = match self
            .bucket_configs
            .get(self.backend.as_ref(), &r.cx, bucket)
            .await
        {
            Ok(c) => c,
            // A registered name whose bucket is gone: nothing to reveal.
            Err(BackendError::NoSuchBucket) => return Err(access_denied()),
            Err(e) => return Err(backend_error(e)),
        };
        if allows(config.acl.unwrap_or_default(), what, authenticated) {
            return Ok(());
        }
        if object_acl {
            if let Some(key) = &r.key {
                let input = GetObjectInput {
                    bucket: bucket.clone(),
                    key: key.clone(),
                    range: None,
                    part_number: None,
                    conditions: ReadConditions::default(),
                    checksum_mode: false,
                };
                match self.backend.head_object(&r.cx, input).await {
                    Ok(h) => {
                        if allows(h.info.meta.acl.unwrap_or_default(), what, authenticated) {
                            return Ok(());
                        }
                    }
                    // Without list access a missing key is AccessDenied (S3).
                    Err(BackendError::NoSuchKey) | Err(BackendError::NoSuchBucket) => {}
                    Err(e) => return Err(backend_error(e)),
                }
            }
        }
        Err(access_denied())
    }

    /// The account owning `bucket` as the public registry records it
    /// (`None`: the name is not reachable without a signature). Cached with
    /// the bucket-configuration staleness bound.
    pub(super) async fn public_owner(
        &self,
        request_id: &str,
        bucket: &BucketName,
    ) -> Result<Option<Tenant>, S3Error> {
        if let Some(v) = self.public_names.cached(bucket.as_str()) {
            return Ok(v.and_then(|r| r.owner()));
        }
        let rec = self
            .public_names
            .read(self.backend.as_ref(), request_id, bucket)
            .await
            .map_err(backend_error)?
            .map(|(r, _)| r);
        self.public_names.remember(bucket.as_str(), rec.clone());
        Ok(rec.and_then(|r| r.owner()))
    }

    /// Records (`on`) or withdraws the reason a bucket name must be
    /// reachable without a signature; the name stays in the public registry
    /// while any reason holds. 409 when the name is already registered by
    /// another account.
    pub(super) async fn expose(
        &self,
        cx: &RequestContext,
        bucket: &BucketName,
        why: Exposure,
        on: bool,
    ) -> Result<(), S3Error> {
        self.change_exposure(cx, bucket, |set| {
            if on {
                set.insert(why);
            } else {
                set.remove(&why);
            }
        })
        .await
    }

    /// Withdraws every reason (the bucket is deleted): the name is free.
    pub(super) async fn unexpose_all(
        &self,
        cx: &RequestContext,
        bucket: &BucketName,
    ) -> Result<(), S3Error> {
        self.change_exposure(cx, bucket, |set| set.clear()).await
    }

    async fn change_exposure(
        &self,
        cx: &RequestContext,
        bucket: &BucketName,
        change: impl Fn(&mut BTreeSet<Exposure>),
    ) -> Result<(), S3Error> {
        let reg = &self.public_names;
        let backend = self.backend.as_ref();
        for _ in 0..REGISTRY_ATTEMPTS {
            let cur = reg
                .read(backend, &cx.request_id, bucket)
                .await
                .map_err(backend_error)?;
            let mine = |r: &PublicName| r.login == cx.tenant.login;
            let mut why = match &cur {
                Some((r, _)) if mine(r) => r.why.clone(),
                Some((r, _)) if !r.why.is_empty() => {
                    let mut probe = BTreeSet::new();
                    change(&mut probe);
                    if probe.is_empty() {
                        // Withdrawing from a name we do not hold: nothing to do.
                        reg.remember(bucket.as_str(), Some(r.clone()));
                        return Ok(());
                    }
                    reg.remember(bucket.as_str(), Some(r.clone()));
                    return Err(S3Error::with_message(
                        S3ErrorCode::BucketAlreadyExists,
                        format!(
                            "The bucket name {bucket} is already public for another account: \
                             bucket names reachable without a signature are shared by all \
                             accounts of this endpoint. Use another bucket name."
                        ),
                    ));
                }
                _ => BTreeSet::new(),
            };
            let before = why.clone();
            change(&mut why);
            if why == before && cur.as_ref().is_some_and(|(r, _)| mine(r)) {
                reg.remember(bucket.as_str(), cur.map(|(r, _)| r));
                return Ok(());
            }
            if why.is_empty() && !cur.as_ref().is_some_and(|(r, _)| mine(r)) {
                reg.remember(bucket.as_str(), cur.map(|(r, _)| r));
                return Ok(());
            }
            let rec = PublicName {
                login: cx.tenant.login.clone(),
                uuid: cx.tenant.uuid.clone(),
                why,
                other: match &cur {
                    Some((r, _)) if mine(r) => r.other.clone(),
                    _ => Default::default(),
                },
            };
            let expected = cur.as_ref().map(|(_, e)| e);
            match reg
                .write(backend, &cx.request_id, bucket, &rec, expected)
                .await
            {
                Ok(()) => {
                    reg.remember(bucket.as_str(), Some(rec));
                    return Ok(());
                }
                Err(BackendError::PreconditionFailed) => continue,
                Err(e) => return Err(backend_error(e)),
            }
        }
        Err(backend_error(BackendError::ConditionalRequestConflict))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canned_acls_grant_what_aws_documents() {
        use Access::*;
        use CannedAcl as A;
        for (acl, anon_read, anon_write, auth_read, auth_write) in [
            (A::Private, false, false, false, false),
            (A::PublicRead, true, false, true, false),
            (A::PublicReadWrite, true, true, true, true),
            (A::AuthenticatedRead, false, false, true, false),
            (A::BucketOwnerRead, false, false, false, false),
            (A::BucketOwnerFullControl, false, false, false, false),
        ] {
            assert_eq!(allows(acl, Read, false), anon_read, "{acl:?}");
            assert_eq!(allows(acl, Write, false), anon_write, "{acl:?}");
            assert_eq!(allows(acl, Read, true), auth_read, "{acl:?}");
            assert_eq!(allows(acl, Write, true), auth_write, "{acl:?}");
        }
    }

    /// (account, bucket, key).
    type ObjectId = (String, String, String);

    /// Objects in memory with the store's conditional writes: enough for
    /// the registry.
    #[derive(Default)]
    struct Mem {
        buckets: Mutex<BTreeSet<(String, String)>>,
        objects: Mutex<HashMap<ObjectId, (Bytes, ETag)>>,
        writes: std::sync::atomic::AtomicU64,
    }

    #[async_trait::async_trait]
    impl Backend for Mem {
        async fn create_bucket(&self, cx: &RequestContext, b: &BucketName) -> BackendResult<()> {
            let mut m = self.buckets.lock().unwrap();
            if !m.insert((cx.tenant.login.clone(), b.to_string())) {
                return Err(BackendError::BucketAlreadyOwnedByYou);
            }
            Ok(())
        }
        async fn get_object(
            &self,
            cx: &RequestContext,
            i: GetObjectInput,
        ) -> BackendResult<GetObjectOutput> {
            let k = (
                cx.tenant.login.clone(),
                i.bucket.to_string(),
                i.key.to_string(),
            );
            let (data, etag) = self
                .objects
                .lock()
                .unwrap()
                .get(&k)
                .cloned()
                .ok_or(BackendError::NoSuchKey)?;
            // Let concurrent callers interleave between read and write.
            tokio::task::yield_now().await;
            Ok(GetObjectOutput {
                info: ObjectInfo {
                    key: k.2,
                    size: data.len() as u64,
                    etag,
                    last_modified: SystemTime::UNIX_EPOCH,
                    meta: ObjectMeta::default(),
                    parts_count: None,
                },
                content_range: None,
                content_length: data.len() as u64,
                body: Box::pin(futures_util::stream::iter([Ok(data)])),
            })
        }
        async fn put_object(
            &self,
            cx: &RequestContext,
            i: PutObjectInput,
        ) -> BackendResult<PutObjectOutput> {
            let b = (cx.tenant.login.clone(), i.bucket.to_string());
            if !self.buckets.lock().unwrap().contains(&b) {
                return Err(BackendError::NoSuchBucket);
            }
            let mut body = i.body.stream;
            let mut data = Vec::new();
            while let Some(c) = body.next().await {
                data.extend_from_slice(&c.unwrap());
            }
            let k = (b.0, b.1, i.key.to_string());
            let mut m = self.objects.lock().unwrap();
            match (&i.condition, m.get(&k)) {
                (WriteCondition::IfNoneMatchAny, Some(_)) => {
                    return Err(BackendError::PreconditionFailed)
                }
                (WriteCondition::IfMatch(_), None) => return Err(BackendError::NoSuchKey),
                (WriteCondition::IfMatch(e), Some((_, cur))) if e != cur => {
                    return Err(BackendError::PreconditionFailed)
                }
                _ => {}
            }
            let n = self
                .writes
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let etag = ETag::from_client(&format!("{n:032x}"));
            m.insert(k, (Bytes::from(data), etag.clone()));
            Ok(PutObjectOutput {
                etag,
                last_modified: SystemTime::UNIX_EPOCH,
                checksum: None,
            })
        }
    }

    fn cx(login: &str) -> RequestContext {
        RequestContext {
            tenant: Tenant {
                login: login.into(),
                uuid: format!("uuid-{login}"),
            },
            request_id: "REQ".into(),
        }
    }

    fn instance(store: &Arc<Mem>, cache_ms: u64) -> Handlers {
        let mut config = Config::default();
        config.server.bucket_config_cache = Duration::from_millis(cache_ms);
        Handlers::new(store.clone(), Arc::new(config))
    }

    #[tokio::test]
    async fn public_names_first_come_first_served_while_any_reason_holds() {
        let store = Arc::new(Mem::default());
        // Long cache on `one` (its own writes refresh it), none on `two`
        // (another instance reading the store).
        let (one, two) = (instance(&store, 60_000), instance(&store, 0));
        let name = BucketName::parse("photos").unwrap();
        async fn owner_of(h: &Handlers, name: &BucketName) -> Option<(String, String)> {
            h.public_owner("REQ", name)
                .await
                .unwrap()
                .map(|t| (t.login, t.uuid))
        }
        assert_eq!(owner_of(&one, &name).await, None);
        one.expose(&cx("alice"), &name, Exposure::Acl, true)
            .await
            .unwrap();
        let alice = Some(("alice".to_owned(), "uuid-alice".to_owned()));
        assert_eq!(owner_of(&one, &name).await, alice);
        assert_eq!(owner_of(&two, &name).await, alice);
        // Kept in the operator's account.
        assert!(store
            .buckets
            .lock()
            .unwrap()
            .contains(&("operator".to_owned(), REGISTRY_BUCKET.to_owned())));

        // Another account cannot take the name, and withdrawing a reason
        // it never had changes nothing.
        let e = two
            .expose(&cx("bob"), &name, Exposure::Cors, true)
            .await
            .unwrap_err();
        assert_eq!(e.status(), 409);
        assert!(e.message.contains("already public for another account"));
        two.expose(&cx("bob"), &name, Exposure::Acl, false)
            .await
            .unwrap();
        assert_eq!(owner_of(&two, &name).await, alice);

        // The name stays while any reason holds.
        two.expose(&cx("alice"), &name, Exposure::Cors, true)
            .await
            .unwrap();
        two.expose(&cx("alice"), &name, Exposure::Acl, false)
            .await
            .unwrap();
        assert_eq!(owner_of(&two, &name).await, alice);
        one.expose(&cx("alice"), &name, Exposure::Cors, false)
            .await
            .unwrap();
        assert_eq!(owner_of(&one, &name).await, None);
        assert_eq!(owner_of(&two, &name).await, None);

        // Free again: first come first served.
        two.expose(&cx("bob"), &name, Exposure::ObjectAcl, true)
            .await
            .unwrap();
        assert_eq!(
            owner_of(&two, &name).await,
            Some(("bob".to_owned(), "uuid-bob".to_owned()))
        );
        two.unexpose_all(&cx("bob"), &name).await.unwrap();
        assert_eq!(owner_of(&two, &name).await, None);
    }

    #[tokio::test]
    async fn racing_claims_leave_exactly_one_owner() {
        let store = Arc::new(Mem::default());
        let name = BucketName::parse("race").unwrap();
        let hs: Vec<_> = (0..8).map(|_| instance(&store, 0)).collect();
        let results = futures_util::future::join_all(hs.iter().enumerate().map(|(i, h)| {
            let name = name.clone();
            async move {
                h.expose(&cx(&format!("t{i}")), &name, Exposure::Acl, true)
                    .await
            }
        }))
        .await;
        let wins = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(wins, 1, "{results:?}");
        let owner = hs[0].public_owner("REQ", &name).await.unwrap().unwrap();
        let winner = results.iter().position(|r| r.is_ok()).unwrap();
        assert_eq!(owner.login, format!("t{winner}"));
    }

    fn signed(login: &str, endpoint: Endpoint, bucket: &str, key: Option<&str>) -> S3Request {
        let credential = s3gw_auth_cache::Credential {
            access_key_id: "AKIAIOSFODNN7EXAMPLE".parse().unwrap(),
            secret: s3gw_auth_cache::SecretKey::new("secret".into()),
            account: s3gw_auth_cache::Account {
                uuid: format!("uuid-{login}"),
                login: login.into(),
            },
            subuser: None,
            status: s3gw_auth_cache::KeyStatus::Active,
        };
        S3Request {
            endpoint,
            method: Method::GET,
            bucket: Some(BucketName::parse(bucket).unwrap()),
            key: key.map(|k| ObjectKey::parse(k).unwrap()),
            query: crate::router::Query::parse(""),
            headers: HeaderMap::new(),
            auth: Some(Authenticated {
                credential: Arc::new(credential),
                method: crate::auth::AuthMethod::V4Header,
                payload: crate::auth::PayloadMode::Unsigned,
            }),
            cx: cx(login),
            body: None,
            origin: "http://h".into(),
        }
    }

    #[tokio::test]
    async fn the_registry_is_not_reachable_through_s3() {
        let store = Arc::new(Mem::default());
        let h = instance(&store, 0);
        h.expose(
            &cx("alice"),
            &BucketName::parse("photos").unwrap(),
            Exposure::Acl,
            true,
        )
        .await
        .unwrap();
        for (endpoint, key) in [
            (Endpoint::GetObject, Some("photos")),
            (Endpoint::PutObject, Some("photos")),
            (Endpoint::ListObjectsV2, None),
            (Endpoint::DeleteBucket, None),
        ] {
            let e = h
                .handle(signed("operator", endpoint, REGISTRY_BUCKET, key))
                .await
                .unwrap_err();
            assert_eq!(e.code, S3ErrorCode::AccessDenied, "{endpoint:?}");
        }
    }

    #[test]
    fn registry_record_keeps_unknown_fields_and_empty_means_free() {
        let doc = br#"{"login":"alice","uuid":"u1","why":["acl","cors"],"future":1}"#;
        let r: PublicName = serde_json::from_slice(doc).unwrap();
        assert_eq!(r.owner().unwrap().login, "alice");
        let back: serde_json::Value = serde_json::to_value(&r).unwrap();
        assert_eq!(back["future"], 1);
        assert_eq!(back["why"], serde_json::json!(["acl", "cors"]));
        let free: PublicName = serde_json::from_slice(br#"{"login":"alice","why":[]}"#).unwrap();
        assert!(free.owner().is_none());
    }
}
