//! The Manta buckets-API implementation of [`crate::Backend`].
//!
//! # Layout
//! - `config`: [`MantaConfig`], every tunable with its default.
//! - `client`: the signed, pooled native HTTP client; body taps that break a
//!   native write when the S3 body fails.
//! - `wire`: the native wire model (listing lines, error JSON, headers).
//! - `error`: [`NativeFailure`] and [`map_native`], THE one mapping from
//!   native answers to [`BackendError`].
//! - `meta`: S3 metadata, ETags and checksums <-> native headers; read
//!   precondition evaluation.
//! - `list`: ListObjects over native pages (hidden range, delimiters).
//! - `object`: Put/Get/Head/Delete/Copy, conditional writes.
//! - `multipart`: multipart uploads as hidden objects in the bucket.
//! - `bucket_config`: the bucket-configuration record, one hidden object
//!   per bucket written with create-if-absent / compare-and-swap.
//!
//! Nothing here keeps state between requests except the connection pool,
//! the per-bucket time of the last stale-upload sweep and what the store
//! advertised of its extensions (asked once, `Inner::composes`): any
//! gateway instance can continue anything another one started.

mod bucket_config;
mod client;
mod config;
mod error;
mod list;
mod meta;
mod multipart;
mod object;
mod wire;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_trait::async_trait;
use futures_util::{stream, StreamExt};
use reqwest::Method;

pub use client::ClientBuildError;
pub use config::{check_operator_key, MantaConfig};
pub use error::{map_native, NativeFailure, TransportKind};
pub use meta::{MAX_NATIVE_METADATA_BYTES, MAX_USER_METADATA_BYTES};
pub use multipart::{MAX_MULTIPART_KEY_BYTES, MIN_PART_SIZE};

use crate::backend::*;
use crate::types::*;
use client::{MantaConfigRest, NativeClient};

/// The translator over one native store. Cheap to clone (shared state).
#[derive(Clone)]
pub struct MantaBackend {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub client: NativeClient,
    pub cfg: MantaConfigRest,
    /// When this instance last swept each (tenant, bucket) for stale uploads.
    pub swept: Mutex<HashMap<(String, String), Instant>>,
    /// The buckets-lite extensions the store serves ([`EXT_KNOWN`] once
    /// asked; see [`Inner::extensions`]).
    extensions: AtomicU8,
}

/// [`Inner::extensions`] bits: asked already, and what the store serves.
const EXT_KNOWN: u8 = 0x80;
const EXT_COMPOSE: u8 = 1;
const EXT_GROUPED_PAGES: u8 = 2;
const EXT_COMPOSE_LINKS: u8 = 4;
/// Header of the store's `OPTIONS /:account/buckets` answer listing its
/// extensions (buckets-lite only; the real server sends none).
const H_EXTENSIONS: &str = "buckets-lite-extensions";
/// Longest wait for the store's answer to the extensions probe.
const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

impl MantaBackend {
    /// Builds the native client (TLS with the ring provider and the
    /// platform's trust store, connection pool, operator signer).
    pub fn new(config: MantaConfig) -> Result<Self, ClientBuildError> {
        let (client, cfg) = NativeClient::new(config)?;
        Ok(MantaBackend {
            inner: Arc::new(Inner {
                client,
                cfg,
                swept: Mutex::new(HashMap::new()),
                extensions: AtomicU8::new(0),
            }),
        })
    }
}

/// `.native()`: a native result in S3 terms, through [`map_native`].
pub(crate) trait Native<T> {
    fn native(self) -> BackendResult<T>;
}

impl<T> Native<T> for Result<T, NativeFailure> {
    fn native(self) -> BackendResult<T> {
        self.map_err(map_native)
    }
}

impl Inner {
    /// Whether the store serves the compose extension (docs/buckets-lite.md
    /// "Extensions"): see [`Inner::extensions`].
    pub async fn composes(&self, request_id: &str) -> bool {
        self.extensions(request_id).await & EXT_COMPOSE != 0
    }

    /// Whether the store's compose links the parts (`compose-links`): its
    /// time then follows the part count, not the bytes, so no object is
    /// too large to compose within the native idle timeout.
    pub async fn compose_links(&self, request_id: &str) -> bool {
        self.extensions(request_id).await & EXT_COMPOSE_LINKS != 0
    }

    /// Whether a truncated native listing page may end on a delimiter group
    /// (the `grouped-pages` extension): only then may a listing let the
    /// store group (list.rs); the real server aborts on such a page.
    pub async fn groups_pages(&self, request_id: &str) -> bool {
        self.extensions(request_id).await & EXT_GROUPED_PAGES != 0
    }

    /// The store's extensions (docs/buckets-lite.md "Extensions"). Asked
    /// once per process with `OPTIONS /:operator/buckets` (its
    /// `Buckets-Lite-Extensions` header names them), then cached. A store
    /// that answers with an error, or never answers within
    /// [`PROBE_TIMEOUT`] (the real server's master branch leaves a plain
    /// OPTIONS unanswered), has none: cached too, since the plain paths
    /// (streaming assembly, grouping here) are always correct. A connection
    /// failure is not cached (asked again next time, none meanwhile).
    async fn extensions(&self, request_id: &str) -> u8 {
        let known = self.extensions.load(Ordering::Relaxed);
        if known & EXT_KNOWN != 0 {
            return known;
        }
        let c = &self.client;
        let url = c.buckets_url(&self.cfg.operator_login);
        let found = match c
            .send(true, || {
                c.signed(Method::OPTIONS, &url, request_id)
                    .timeout(PROBE_TIMEOUT)
            })
            .await
        {
            Ok(resp) => client::header_str(resp.headers(), H_EXTENSIONS)
                .map(|v| {
                    v.split(',').fold(0, |f, e| match e.trim() {
                        "compose" => f | EXT_COMPOSE,
                        "grouped-pages" => f | EXT_GROUPED_PAGES,
                        "compose-links" => f | EXT_COMPOSE_LINKS,
                        _ => f,
                    })
                })
                .unwrap_or(0),
            Err(
                NativeFailure::Status { .. }
                | NativeFailure::Transport {
                    kind: TransportKind::Timeout,
                    ..
                },
            ) => 0,
            Err(f) => {
                tracing::debug!(error = %f, "asking the store for its extensions failed");
                return 0;
            }
        };
        tracing::info!(
            compose = found & EXT_COMPOSE != 0,
            compose_links = found & EXT_COMPOSE_LINKS != 0,
            grouped_pages = found & EXT_GROUPED_PAGES != 0,
            "native store extensions detected"
        );
        self.extensions.store(found | EXT_KNOWN, Ordering::Relaxed);
        found | EXT_KNOWN
    }

    /// The store refused a compose as an unknown route (its extension was
    /// turned off since it was detected): stream from now on.
    pub fn compose_gone(&self) {
        tracing::warn!("the native store no longer serves compose; assembling by streaming");
        self.extensions
            .fetch_and(!(EXT_COMPOSE | EXT_COMPOSE_LINKS), Ordering::Relaxed);
    }

    /// Deletes native objects by name with bounded concurrency; a missing
    /// object counts as deleted. Results in input order.
    pub async fn delete_names(
        &self,
        cx: &RequestContext,
        bucket: &str,
        names: impl IntoIterator<Item = String>,
    ) -> Vec<BackendResult<()>> {
        stream::iter(names)
            .map(|name| async move {
                let url = self.client.object_url(&cx.tenant.login, bucket, &name);
                match self
                    .client
                    .send(false, || {
                        self.client.signed(Method::DELETE, &url, &cx.request_id)
                    })
                    .await
                {
                    Ok(_) => Ok(()),
                    Err(f) if f.code() == Some("ObjectNotFound") => Ok(()),
                    Err(f) => Err(map_native(f)),
                }
            })
            .buffered(self.cfg.fanout)
            .collect()
            .await
    }

    /// Every native name under `prefix` (hidden objects, bounded by what the
    /// gateway itself creates).
    pub async fn names_under(
        &self,
        cx: &RequestContext,
        bucket: &str,
        prefix: &str,
    ) -> BackendResult<Vec<wire::ListEntry>> {
        let url = format!(
            "{}/objects",
            self.client.bucket_url(&cx.tenant.login, bucket)
        );
        let mut out = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let page = self
                .client
                .list_page(
                    &url,
                    &cx.request_id,
                    prefix,
                    marker.as_deref(),
                    None,
                    wire::MAX_NATIVE_LIMIT,
                )
                .await
                .native()?;
            out.extend(page.entries);
            match page.next_marker {
                Some(m) if Some(&m) != marker.as_ref() => marker = Some(m),
                _ => return Ok(out),
            }
        }
    }
}

#[async_trait]
impl Backend for MantaBackend {
    async fn ready(&self) -> BackendResult<()> {
        let c = &self.inner.client;
        let url = c.buckets_url(&self.inner.cfg.operator_login);
        c.send(true, || c.signed(Method::OPTIONS, &url, "s3gw-ready"))
            .await
            .native()?;
        Ok(())
    }

    async fn list_buckets(&self, cx: &RequestContext) -> BackendResult<ListBucketsOutput> {
        let c = &self.inner.client;
        let url = c.buckets_url(&cx.tenant.login);
        let mut buckets = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let page = c
                .list_page(
                    &url,
                    &cx.request_id,
                    "",
                    marker.as_deref(),
                    None,
                    wire::MAX_NATIVE_LIMIT,
                )
                .await
                .native()?;
            for e in &page.entries {
                if e.kind != wire::EntryKind::Bucket {
                    continue;
                }
                let created = e
                    .mtime
                    .as_deref()
                    .and_then(wire::parse_mtime)
                    .ok_or_else(|| {
                        map_native(NativeFailure::Protocol("bucket entry without mtime".into()))
                    })?;
                buckets.push(BucketInfo {
                    name: e.name.clone(),
                    created,
                });
            }
            match page.next_marker {
                Some(m) if Some(&m) != marker.as_ref() => marker = Some(m),
                _ => break,
            }
        }
        Ok(ListBucketsOutput { buckets })
    }

    async fn create_bucket(&self, cx: &RequestContext, bucket: &BucketName) -> BackendResult<()> {
        let c = &self.inner.client;
        let url = c.bucket_url(&cx.tenant.login, bucket.as_str());
        c.send(false, || c.signed(Method::PUT, &url, &cx.request_id))
            .await
            .native()?;
        Ok(())
    }

    async fn head_bucket(&self, cx: &RequestContext, bucket: &BucketName) -> BackendResult<()> {
        let c = &self.inner.client;
        let url = c.bucket_url(&cx.tenant.login, bucket.as_str());
        match c
            .send(true, || c.signed(Method::HEAD, &url, &cx.request_id))
            .await
        {
            Ok(_) => Ok(()),
            // A HEAD error has no body: the status names it.
            Err(NativeFailure::Status { status: 404, .. }) => Err(BackendError::NoSuchBucket),
            Err(f) => Err(map_native(f)),
        }
    }

    /// BucketNotEmpty only for objects S3 can see: leftovers of the
    /// gateway's hidden objects (unfinished uploads) are removed first.
    async fn delete_bucket(&self, cx: &RequestContext, bucket: &BucketName) -> BackendResult<()> {
        let c = &self.inner.client;
        let url = c.bucket_url(&cx.tenant.login, bucket.as_str());
        for attempt in 0..2 {
            match c
                .send(false, || c.signed(Method::DELETE, &url, &cx.request_id))
                .await
            {
                Ok(_) => return Ok(()),
                Err(f) if f.code() == Some("BucketNotEmpty") && attempt == 0 => {
                    let visible = list::list_objects(
                        &self.inner,
                        cx,
                        ListObjectsInput {
                            bucket: bucket.clone(),
                            prefix: String::new(),
                            delimiter: None,
                            start_after: None,
                            max_keys: 1,
                        },
                    )
                    .await?;
                    if !visible.objects.is_empty() {
                        return Err(BackendError::BucketNotEmpty);
                    }
                    let hidden = self
                        .inner
                        .names_under(cx, bucket.as_str(), HIDDEN_PREFIX)
                        .await?;
                    for r in self
                        .inner
                        .delete_names(cx, bucket.as_str(), hidden.into_iter().map(|e| e.name))
                        .await
                    {
                        r?;
                    }
                }
                Err(f) => return Err(map_native(f)),
            }
        }
        Err(BackendError::BucketNotEmpty)
    }

    async fn list_objects(
        &self,
        cx: &RequestContext,
        input: ListObjectsInput,
    ) -> BackendResult<ListObjectsOutput> {
        list::list_objects(&self.inner, cx, input).await
    }

    async fn get_bucket_config(
        &self,
        cx: &RequestContext,
        bucket: &BucketName,
    ) -> BackendResult<Option<crate::StoredBucketConfig>> {
        bucket_config::get(&self.inner, cx, bucket).await
    }

    async fn put_bucket_config(
        &self,
        cx: &RequestContext,
        bucket: &BucketName,
        config: &crate::BucketConfig,
        expected: Option<&str>,
    ) -> BackendResult<String> {
        bucket_config::put(&self.inner, cx, bucket, config, expected).await
    }

    async fn put_object(
        &self,
        cx: &RequestContext,
        input: PutObjectInput,
    ) -> BackendResult<PutObjectOutput> {
        object::put_object(&self.inner, cx, input).await
    }

    async fn get_object(
        &self,
        cx: &RequestContext,
        input: GetObjectInput,
    ) -> BackendResult<GetObjectOutput> {
        object::get_object(&self.inner, cx, input, true)
            .await
            .map(|(o, body)| GetObjectOutput {
                info: o.info,
                content_range: o.content_range,
                content_length: o.content_length,
                body: body.unwrap_or_else(|| Box::pin(stream::empty())),
            })
    }

    async fn head_object(
        &self,
        cx: &RequestContext,
        input: GetObjectInput,
    ) -> BackendResult<HeadObjectOutput> {
        object::get_object(&self.inner, cx, input, false)
            .await
            .map(|(o, _)| o)
    }

    async fn delete_object(
        &self,
        cx: &RequestContext,
        bucket: &BucketName,
        key: &ObjectKey,
    ) -> BackendResult<()> {
        object::delete_object(&self.inner, cx, bucket, key).await
    }

    async fn delete_objects(
        &self,
        cx: &RequestContext,
        bucket: &BucketName,
        keys: Vec<ObjectKey>,
    ) -> BackendResult<DeleteObjectsOutput> {
        object::delete_objects(&self.inner, cx, bucket, keys).await
    }

    async fn copy_object(
        &self,
        cx: &RequestContext,
        input: CopyObjectInput,
    ) -> BackendResult<CopyObjectOutput> {
        object::copy_object(&self.inner, cx, input).await
    }

    async fn put_object_tagging(
        &self,
        cx: &RequestContext,
        bucket: &BucketName,
        key: &ObjectKey,
        tagging: Option<String>,
    ) -> BackendResult<()> {
        object::put_object_tagging(&self.inner, cx, bucket, key, tagging).await
    }

    async fn put_object_acl(
        &self,
        cx: &RequestContext,
        bucket: &BucketName,
        key: &ObjectKey,
        acl: Option<crate::acl::CannedAcl>,
    ) -> BackendResult<()> {
        object::put_object_acl(&self.inner, cx, bucket, key, acl).await
    }

    async fn create_multipart_upload(
        &self,
        cx: &RequestContext,
        input: CreateMultipartUploadInput,
    ) -> BackendResult<CreateMultipartUploadOutput> {
        let bucket = input.bucket.clone();
        let out = multipart::create(&self.inner, cx, input).await?;
        multipart::maybe_sweep(&self.inner, cx, &bucket);
        Ok(out)
    }

    async fn upload_part(
        &self,
        cx: &RequestContext,
        input: UploadPartInput,
    ) -> BackendResult<UploadPartOutput> {
        multipart::upload_part(&self.inner, cx, input).await
    }

    async fn upload_part_copy(
        &self,
        cx: &RequestContext,
        input: UploadPartCopyInput,
    ) -> BackendResult<CopyObjectOutput> {
        multipart::upload_part_copy(&self.inner, cx, input).await
    }

    async fn complete_multipart_upload(
        &self,
        cx: &RequestContext,
        input: CompleteMultipartUploadInput,
    ) -> BackendResult<CompleteMultipartUploadOutput> {
        multipart::complete(&self.inner, cx, input).await
    }

    async fn abort_multipart_upload(
        &self,
        cx: &RequestContext,
        bucket: &BucketName,
        key: &ObjectKey,
        upload_id: &UploadId,
    ) -> BackendResult<()> {
        multipart::abort(&self.inner, cx, bucket, key, upload_id).await
    }

    async fn list_parts(
        &self,
        cx: &RequestContext,
        input: ListPartsInput,
    ) -> BackendResult<ListPartsOutput> {
        multipart::list_parts(&self.inner, cx, input).await
    }

    async fn list_multipart_uploads(
        &self,
        cx: &RequestContext,
        input: ListMultipartUploadsInput,
    ) -> BackendResult<ListMultipartUploadsOutput> {
        let bucket = input.bucket.clone();
        let out = multipart::list_uploads(&self.inner, cx, input).await?;
        multipart::maybe_sweep(&self.inner, cx, &bucket);
        Ok(out)
    }
}
