//! Bucket configuration: versioning, the configurations s3gw answers as
//! absent (lifecycle, policy, encryption), the bucket-configuration store
//! and server-side encryption. ACLs, CORS and tagging have their own
//! modules (acl.rs, cors.rs, tagging.rs).

use super::*;

impl Handlers {
    pub(super) async fn get_bucket_versioning(&self, r: S3Request) -> HResult {
        let bucket = bucket(&r)?;
        self.backend
            .head_bucket(&r.cx, &bucket)
            .await
            .map_err(backend_error)?;
        let doc = xml::VersioningConfiguration { xmlns: NS };
        Ok(xml_ok(xml::to_xml("VersioningConfiguration", &doc)))
    }

    /// Versioning never enabled: `Suspended` is what the bucket already is,
    /// `Enabled` is not something the store can do.
    pub(super) async fn put_bucket_versioning(&self, mut r: S3Request) -> HResult {
        let bucket = bucket(&r)?;
        let body = self.read_xml_body(&mut r).await?;
        let v: xml::VersioningConfigurationIn = xml::parse(&body)?;
        self.backend
            .head_bucket(&r.cx, &bucket)
            .await
            .map_err(backend_error)?;
        match v.status.as_deref() {
            Some("Suspended") | None => Ok(HttpResponse::Ok().finish()),
            Some("Enabled") => Err(not_implemented("PutBucketVersioning (Enabled)")),
            Some(_) => Err(S3ErrorCode::MalformedXML.into()),
        }
    }

    /// A bucket sub-resource that was never configured (and cannot be):
    /// S3's "no such configuration" answer for an existing bucket.
    pub(super) async fn unconfigured(&self, r: S3Request, code: S3ErrorCode) -> HResult {
        let bucket = bucket(&r)?;
        self.backend
            .head_bucket(&r.cx, &bucket)
            .await
            .map_err(backend_error)?;
        Err(S3Error::new(code).extra("BucketName", bucket.as_str()))
    }

    /// Deleting a configuration that does not exist succeeds in S3.
    pub(super) async fn delete_unconfigured(&self, r: S3Request) -> HResult {
        let bucket = bucket(&r)?;
        self.backend
            .head_bucket(&r.cx, &bucket)
            .await
            .map_err(backend_error)?;
        Ok(HttpResponse::NoContent().finish())
    }
}

// ------------------------------------------------ bucket-configuration store

/// (account login, bucket name).
type CacheKey = (String, String);
/// When it was read, and the record (`None`: never written).
type CacheEntry = (std::time::Instant, Option<StoredBucketConfig>);

/// How many (account, bucket) records one instance keeps cached at most;
/// past it the cache starts afresh (records are re-read on miss).
const MAX_CACHED_CONFIGS: usize = 100_000;

/// Attempts of a read-modify-write against concurrent writers.
const UPDATE_ATTEMPTS: usize = 8;

/// This instance's cache of bucket-configuration records (design.md
/// "Bucket configuration"): the record lives in the store, inside the
/// bucket's hidden namespace; an entry here is trusted for at most the
/// configured staleness bound, then re-read. Writes go to the store with
/// compare-and-swap and refresh the entry, so this instance sees its own
/// writes at once and other instances within the bound.
pub struct BucketConfigCache {
    ttl: Duration,
    entries: std::sync::Mutex<std::collections::HashMap<CacheKey, CacheEntry>>,
}

impl BucketConfigCache {
    pub fn new(ttl: Duration) -> Self {
        BucketConfigCache {
            ttl,
            entries: std::sync::Mutex::new(std::collections::HashMap::new()),
        }
    }

    fn key(cx: &RequestContext, bucket: &BucketName) -> CacheKey {
        (cx.tenant.login.clone(), bucket.as_str().to_owned())
    }

    fn cached(&self, k: &CacheKey) -> Option<Option<StoredBucketConfig>> {
        let m = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        m.get(k)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, v)| v.clone())
    }

    fn remember(&self, k: CacheKey, v: Option<StoredBucketConfig>) {
        let mut m = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if m.len() >= MAX_CACHED_CONFIGS {
            m.clear();
        }
        m.insert(k, (std::time::Instant::now(), v));
    }

    /// Forgets a bucket (deleted, or re-created).
    pub fn forget(&self, cx: &RequestContext, bucket: &BucketName) {
        let mut m = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        m.remove(&Self::key(cx, bucket));
    }

    /// The bucket's configuration, at most `ttl` old. NoSuchBucket for a
    /// missing bucket (on a miss).
    pub async fn get(
        &self,
        backend: &dyn Backend,
        cx: &RequestContext,
        bucket: &BucketName,
    ) -> Result<BucketConfig, BackendError> {
        let k = Self::key(cx, bucket);
        if let Some(v) = self.cached(&k) {
            return Ok(v.map(|s| s.config).unwrap_or_default());
        }
        let v = backend.get_bucket_config(cx, bucket).await?;
        self.remember(k, v.clone());
        Ok(v.map(|s| s.config).unwrap_or_default())
    }

    /// Read-modify-write against the stored record (never the cache):
    /// `change` is applied to the current record and the result written
    /// with compare-and-swap, retried when another writer got there first.
    pub async fn update(
        &self,
        backend: &dyn Backend,
        cx: &RequestContext,
        bucket: &BucketName,
        change: impl Fn(&mut BucketConfig),
    ) -> Result<BucketConfig, BackendError> {
        for _ in 0..UPDATE_ATTEMPTS {
            let cur = backend.get_bucket_config(cx, bucket).await?;
            let mut config = cur.as_ref().map(|s| s.config.clone()).unwrap_or_default();
            change(&mut config);
            let expected = cur.as_ref().map(|s| s.version.as_str());
            match backend
                .put_bucket_config(cx, bucket, &config, expected)
                .await
            {
                Ok(version) => {
                    self.remember(
                        Self::key(cx, bucket),
                        Some(StoredBucketConfig {
                            config: config.clone(),
                            version,
                        }),
                    );
                    return Ok(config);
                }
                Err(BackendError::PreconditionFailed) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(BackendError::ConditionalRequestConflict)
    }
}

// ------------------------------------------------ server-side encryption

/// The SSE-C headers: customer-provided keys, which the gateway never
/// accepts (it would have to hold every client's keys).
fn sse_c_header(name: &str) -> bool {
    name.starts_with("x-amz-server-side-encryption-customer-")
        || name.starts_with("x-amz-copy-source-server-side-encryption-customer-")
}

/// What a request's server-side-encryption headers mean here, given
/// whether the store is declared to encrypt at rest (`[server]
/// store_encrypts_at_rest`): `Ok(true)` when the answer carries
/// `x-amz-server-side-encryption: AES256` (every object write and read,
/// as S3 answers with default encryption), `Ok(false)` when it carries
/// nothing, or S3's refusal.
pub(super) fn encryption(
    store_encrypts: bool,
    endpoint: Endpoint,
    h: &HeaderMap,
) -> Result<bool, S3Error> {
    use Endpoint as E;
    if let Some(n) = h.keys().map(|k| k.as_str()).find(|n| sse_c_header(n)) {
        return Err(S3Error::with_message(
            S3ErrorCode::NotImplemented,
            format!(
                "Server-side encryption with customer-provided keys (SSE-C, {n}) is not supported: \
                 the gateway does not hold clients' keys."
            ),
        ));
    }
    let writes = matches!(
        endpoint,
        E::PutObject | E::CopyObject | E::CreateMultipartUpload
    );
    let object_io = writes
        || matches!(
            endpoint,
            E::GetObject
                | E::HeadObject
                | E::UploadPart
                | E::UploadPartCopy
                | E::CompleteMultipartUpload
        );
    let asked = header(h, "x-amz-server-side-encryption");
    let kms_key = header(h, "x-amz-server-side-encryption-aws-kms-key-id");
    if asked.is_none() && kms_key.is_none() {
        return Ok(store_encrypts && object_io);
    }
    if !writes {
        return Err(S3Error::with_message(
            S3ErrorCode::InvalidArgument,
            "x-amz-server-side-encryption header is not supported for this operation.",
        ));
    }
    if !store_encrypts {
        return Err(S3Error::with_message(
            S3ErrorCode::NotImplemented,
            "Server-side encryption is not available: this endpoint's store is not declared to \
             encrypt data at rest ([server] store_encrypts_at_rest), so nothing would encrypt \
             the object.",
        ));
    }
    match asked {
        Some("AES256") if kms_key.is_none() => Ok(true),
        Some("aws:kms") | Some("aws:kms:dsse") => Err(S3Error::with_message(
            S3ErrorCode::InvalidArgument,
            format!(
                "Invalid KMS key {:?}: no KMS key is configured on this endpoint (use AES256).",
                kms_key.unwrap_or("")
            ),
        )
        .extra(
            "ArgumentName",
            "x-amz-server-side-encryption-aws-kms-key-id",
        )),
        Some("AES256") | None => Err(S3Error::with_message(
            S3ErrorCode::InvalidArgument,
            "Specifying a KMS key id requires x-amz-server-side-encryption: aws:kms.",
        )),
        Some(_) => Err(S3Error::with_message(
            S3ErrorCode::InvalidArgument,
            "The encryption method specified is not supported",
        )
        .extra("ArgumentName", "x-amz-server-side-encryption")),
    }
}

impl Handlers {
    /// See [`encryption`].
    pub(super) fn check_encryption(&self, r: &S3Request) -> Result<bool, S3Error> {
        encryption(
            self.config.server.store_encrypts_at_rest,
            r.endpoint,
            &r.headers,
        )
    }

    /// With the store declared to encrypt at rest, every bucket has S3's
    /// default: SSE-S3 (AES256). Otherwise there is no configuration.
    pub(super) async fn get_bucket_encryption(&self, r: S3Request) -> HResult {
        if !self.config.server.store_encrypts_at_rest {
            return self
                .unconfigured(
                    r,
                    S3ErrorCode::ServerSideEncryptionConfigurationNotFoundError,
                )
                .await;
        }
        let bucket = bucket(&r)?;
        self.backend
            .head_bucket(&r.cx, &bucket)
            .await
            .map_err(backend_error)?;
        Ok(xml_ok(xml::sse_s3_default_configuration()))
    }
}
