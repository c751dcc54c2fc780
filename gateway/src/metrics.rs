//! Metrics in the Prometheus text exposition format (version 0.0.4), served
//! by [`crate::ops`] on `GET /metrics`.
//!
//! The set is small and fixed, so it is kept in atomics and rendered by
//! hand rather than through a registry crate: one [`Metrics`] per gateway,
//! shared by the S3 server (requests, bytes, connections), the
//! [`MeteredBackend`] around the translator (native calls, multipart
//! uploads) and the ops server (which adds the key cache's counters from
//! [`s3gw_auth_cache::KeyCache::stats`] at scrape time).
//!
//! Label values are operation names from the router's `Endpoint` enum and a
//! handful of fixed words, so cardinality is bounded by the enum.
//!
//! "Native calls" are calls of the translator's `Backend` methods: one S3
//! request makes zero or more of them, and one call may send several native
//! HTTP requests (listing pages, multipart assembly); the translator offers
//! no per-HTTP-request hook, so latency and errors are measured per call.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use s3gw_translator::{
    Backend, BackendError, BackendResult, BucketName, CompleteMultipartUploadInput,
    CompleteMultipartUploadOutput, CopyObjectInput, CopyObjectOutput, CreateMultipartUploadInput,
    CreateMultipartUploadOutput, DeleteObjectsOutput, GetObjectInput, GetObjectOutput,
    HeadObjectOutput, ListBucketsOutput, ListMultipartUploadsInput, ListMultipartUploadsOutput,
    ListObjectsInput, ListObjectsOutput, ListPartsInput, ListPartsOutput, ObjectKey,
    PutObjectInput, PutObjectOutput, RequestContext, UploadId, UploadPartCopyInput,
    UploadPartInput, UploadPartOutput,
};

/// Upper bounds (seconds) of the latency histogram buckets: from a cached
/// HEAD on loopback to a multi-GiB PUT or a long multipart assembly.
pub const LATENCY_BUCKETS: [f64; 15] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0,
];

/// A latency histogram: per-bucket counts (not cumulative; rendering sums
/// them), the count and the sum in microseconds.
#[derive(Debug, Default)]
pub struct Histogram {
    buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    /// Records one observation.
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        if let Some(i) = LATENCY_BUCKETS.iter().position(|b| secs <= *b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        let mut acc = 0u64;
        for (i, le) in LATENCY_BUCKETS.iter().enumerate() {
            acc += self.buckets[i].load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{le}\"}} {acc}");
        }
        let count = self.count();
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {count}");
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum{{{labels}}} {sum}");
        let _ = writeln!(out, "{name}_count{{{labels}}} {count}");
    }
}

/// The class of an HTTP status: `"2xx"` ... `"5xx"`.
pub fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// Counters of one S3 operation.
#[derive(Debug, Default)]
struct OpStats {
    by_class: [AtomicU64; 5],
    duration: Histogram,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
}

/// How a native (Backend) call ended, for the `outcome` label.
fn outcome(r: &Result<(), &BackendError>) -> &'static str {
    use BackendError as B;
    match r {
        Ok(()) => "ok",
        // The store answered with an S3-meaningful refusal: not a fault of
        // the store (404s, failed conditions, bad input).
        Err(
            B::NoSuchBucket
            | B::NoSuchKey
            | B::NoSuchUpload
            | B::BucketAlreadyExists
            | B::BucketAlreadyOwnedByYou
            | B::BucketNotEmpty
            | B::InvalidBucketName
            | B::KeyTooLongError
            | B::PreconditionFailed
            | B::NotModified { .. }
            | B::InvalidRange { .. }
            | B::InvalidPart
            | B::InvalidPartOrder
            | B::EntityTooSmall
            | B::EntityTooLarge
            | B::MetadataTooLarge
            | B::BadDigest
            | B::InvalidArgument(_)
            | B::InvalidRequest(_)
            | B::ConditionalRequestConflict
            | B::NotImplemented(_)
            | B::AccessDenied,
        ) => "refused",
        Err(B::SlowDown | B::RequestTimeout | B::ServiceUnavailable(_)) => "unavailable",
        Err(B::Body(_)) => "body_failed",
        Err(B::Internal(_)) => "error",
    }
}

const OUTCOMES: [&str; 5] = ["ok", "refused", "unavailable", "body_failed", "error"];

/// Counters of one Backend method.
#[derive(Debug, Default)]
struct CallStats {
    by_outcome: [AtomicU64; 5],
    duration: Histogram,
}

/// Every counter of one gateway.
#[derive(Debug)]
pub struct Metrics {
    started: Instant,
    ops: RwLock<BTreeMap<&'static str, Arc<OpStats>>>,
    calls: RwLock<BTreeMap<&'static str, Arc<CallStats>>>,
    open_connections: AtomicI64,
    in_flight: AtomicI64,
    uploads_created: AtomicU64,
    uploads_completed: AtomicU64,
    uploads_aborted: AtomicU64,
    /// Requests being served, by request id (per-request native calls).
    pub(crate) active: crate::access_log::Active,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            started: Instant::now(),
            ops: RwLock::default(),
            calls: RwLock::default(),
            open_connections: AtomicI64::new(0),
            in_flight: AtomicI64::new(0),
            uploads_created: AtomicU64::new(0),
            uploads_completed: AtomicU64::new(0),
            uploads_aborted: AtomicU64::new(0),
            active: crate::access_log::Active::default(),
        }
    }
}

fn entry<T: Default>(map: &RwLock<BTreeMap<&'static str, Arc<T>>>, name: &'static str) -> Arc<T> {
    if let Some(s) = map.read().unwrap_or_else(|p| p.into_inner()).get(name) {
        return s.clone();
    }
    map.write()
        .unwrap_or_else(|p| p.into_inner())
        .entry(name)
        .or_default()
        .clone()
}

/// One finished S3 request, as [`Metrics::record_request`] counts it.
#[derive(Debug, Clone, Copy)]
pub struct RequestSample {
    /// The router's operation name (`"Unknown"` when routing failed).
    pub operation: &'static str,
    pub status: u16,
    pub duration: Duration,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

impl Metrics {
    /// A fresh set, shared as an `Arc`.
    pub fn new() -> Arc<Metrics> {
        Arc::new(Metrics::default())
    }

    /// Counts a finished S3 request.
    pub fn record_request(&self, s: &RequestSample) {
        let op = entry(&self.ops, s.operation);
        let i = CLASSES
            .iter()
            .position(|c| *c == status_class(s.status))
            .unwrap_or(4);
        op.by_class[i].fetch_add(1, Ordering::Relaxed);
        op.duration.observe(s.duration);
        op.bytes_in.fetch_add(s.bytes_in, Ordering::Relaxed);
        op.bytes_out.fetch_add(s.bytes_out, Ordering::Relaxed);
    }

    /// Counts a finished Backend call.
    fn record_call(&self, call: &'static str, r: Result<(), &BackendError>, d: Duration) {
        let c = entry(&self.calls, call);
        let o = outcome(&r);
        let i = OUTCOMES.iter().position(|x| *x == o).unwrap_or(4);
        c.by_outcome[i].fetch_add(1, Ordering::Relaxed);
        c.duration.observe(d);
    }

    /// A request started (in-flight gauge); pair with [`Metrics::request_done`].
    pub fn request_started(&self) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
    }

    /// A request finished (its response body was sent or dropped).
    pub fn request_done(&self) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
    }

    /// A guard that counts one open client connection while it lives
    /// (stored in the connection's extensions by `HttpServer::on_connect`,
    /// which actix drops when the connection closes).
    pub fn connection(self: &Arc<Self>) -> ConnectionGuard {
        self.open_connections.fetch_add(1, Ordering::Relaxed);
        ConnectionGuard(self.clone())
    }

    /// The Prometheus text of everything but the key cache, which
    /// [`render_key_cache`] appends.
    pub fn render(&self, out: &mut String) {
        let ops: Vec<(&'static str, Arc<OpStats>)> = self
            .ops
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(k, v)| (*k, v.clone()))
            .collect();
        header(
            out,
            "s3gw_requests_total",
            "counter",
            "S3 requests answered, by operation and status class.",
        );
        for (name, s) in &ops {
            for (i, class) in CLASSES.iter().enumerate() {
                let n = s.by_class[i].load(Ordering::Relaxed);
                if n > 0 {
                    let _ = writeln!(
                        out,
                        "s3gw_requests_total{{operation=\"{}\",status=\"{class}\"}} {n}",
                        esc(name)
                    );
                }
            }
        }
        header(
            out,
            "s3gw_request_duration_seconds",
            "histogram",
            "Time from request arrival to the last response byte, by operation.",
        );
        for (name, s) in &ops {
            s.duration.render(
                out,
                "s3gw_request_duration_seconds",
                &format!("operation=\"{}\"", esc(name)),
            );
        }
        header(
            out,
            "s3gw_request_bytes_total",
            "counter",
            "Request body bytes received from S3 clients (as sent, before de-chunking), by operation.",
        );
        for (name, s) in &ops {
            let n = s.bytes_in.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "s3gw_request_bytes_total{{operation=\"{}\"}} {n}",
                esc(name)
            );
        }
        header(
            out,
            "s3gw_response_bytes_total",
            "counter",
            "Response body bytes sent to S3 clients, by operation.",
        );
        for (name, s) in &ops {
            let n = s.bytes_out.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "s3gw_response_bytes_total{{operation=\"{}\"}} {n}",
                esc(name)
            );
        }

        let calls: Vec<(&'static str, Arc<CallStats>)> = self
            .calls
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(k, v)| (*k, v.clone()))
            .collect();
        header(
            out,
            "s3gw_native_calls_total",
            "counter",
            "Calls into the native store (translator Backend methods), by call and outcome (ok, refused, unavailable, body_failed, error).",
        );
        for (name, s) in &calls {
            for (i, o) in OUTCOMES.iter().enumerate() {
                let n = s.by_outcome[i].load(Ordering::Relaxed);
                if n > 0 {
                    let _ = writeln!(
                        out,
                        "s3gw_native_calls_total{{call=\"{}\",outcome=\"{o}\"}} {n}",
                        esc(name)
                    );
                }
            }
        }
        header(
            out,
            "s3gw_native_errors_total",
            "counter",
            "Native calls that failed through the store's fault (outcome unavailable or error), by call.",
        );
        for (name, s) in &calls {
            let n =
                s.by_outcome[2].load(Ordering::Relaxed) + s.by_outcome[4].load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "s3gw_native_errors_total{{call=\"{}\"}} {n}",
                esc(name)
            );
        }
        header(
            out,
            "s3gw_native_call_duration_seconds",
            "histogram",
            "Latency of native calls, by call (a streamed GET ends when its headers arrive).",
        );
        for (name, s) in &calls {
            s.duration.render(
                out,
                "s3gw_native_call_duration_seconds",
                &format!("call=\"{}\"", esc(name)),
            );
        }

        let gauge = |out: &mut String, name: &str, help: &str, v: i64| {
            header(out, name, "gauge", help);
            let _ = writeln!(out, "{name} {v}");
        };
        let counter = |out: &mut String, name: &str, help: &str, v: u64| {
            header(out, name, "counter", help);
            let _ = writeln!(out, "{name} {v}");
        };
        gauge(
            out,
            "s3gw_open_connections",
            "Client connections open on the S3 listener.",
            self.open_connections.load(Ordering::Relaxed),
        );
        gauge(
            out,
            "s3gw_requests_in_flight",
            "S3 requests being served (until the last response byte).",
            self.in_flight.load(Ordering::Relaxed),
        );
        let (c, d, a) = (
            self.uploads_created.load(Ordering::Relaxed),
            self.uploads_completed.load(Ordering::Relaxed),
            self.uploads_aborted.load(Ordering::Relaxed),
        );
        counter(
            out,
            "s3gw_multipart_uploads_created_total",
            "Multipart uploads created through this instance.",
            c,
        );
        counter(
            out,
            "s3gw_multipart_uploads_completed_total",
            "Multipart uploads completed through this instance.",
            d,
        );
        counter(
            out,
            "s3gw_multipart_uploads_aborted_total",
            "Multipart uploads aborted through this instance.",
            a,
        );
        // Any instance may finish any upload, so one instance's value may be
        // negative; the sum over all instances is the fleet's uploads in
        // progress (less those swept after upload_ttl_secs).
        gauge(
            out,
            "s3gw_multipart_uploads_in_progress",
            "Multipart uploads created minus completed minus aborted through this instance (sum over instances).",
            i64::try_from(c).unwrap_or(i64::MAX)
                - i64::try_from(d + a).unwrap_or(i64::MAX),
        );
        header(out, "s3gw_build_info", "gauge", "Version of this s3gw.");
        let _ = writeln!(
            out,
            "s3gw_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        );
        header(
            out,
            "s3gw_uptime_seconds",
            "gauge",
            "Seconds since this gateway started.",
        );
        let _ = writeln!(
            out,
            "s3gw_uptime_seconds {}",
            self.started.elapsed().as_secs_f64()
        );
    }

    fn upload_created(&self) {
        self.uploads_created.fetch_add(1, Ordering::Relaxed);
    }
    fn upload_finished(&self, completed: bool) {
        if completed {
            self.uploads_completed.fetch_add(1, Ordering::Relaxed);
        } else {
            self.uploads_aborted.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Appends the key cache's counters ([`s3gw_auth_cache::CacheStats`]).
pub fn render_key_cache(out: &mut String, s: &s3gw_auth_cache::CacheStats) {
    let mut one = |name: &str, kind: &str, help: &str, v: String| {
        header(out, name, kind, help);
        let _ = writeln!(out, "{name} {v}");
    };
    one(
        "s3gw_keycache_keys",
        "gauge",
        "Access keys held in memory (any status).",
        s.keys_cached.to_string(),
    );
    one(
        "s3gw_keycache_duplicate_key_ids",
        "gauge",
        "Access key ids present more than once in the key source (each authenticates nobody).",
        s.duplicate_key_ids.to_string(),
    );
    one(
        "s3gw_keycache_ambiguous_lookups_total",
        "counter",
        "Lookups refused because the access key id is present more than once.",
        s.ambiguous_lookups.to_string(),
    );
    one(
        "s3gw_keycache_directory_ok",
        "gauge",
        "1 while the key directory answered within its grace period (always 1 for a keys file).",
        u8::from(s.directory_ok).to_string(),
    );
    one(
        "s3gw_keycache_hits_total",
        "counter",
        "Key lookups answered from memory.",
        s.hits.to_string(),
    );
    one(
        "s3gw_keycache_misses_total",
        "counter",
        "Key lookups of ids not in memory.",
        s.misses.to_string(),
    );
    one(
        "s3gw_keycache_negative_hits_total",
        "counter",
        "Misses answered by the negative cache.",
        s.negative_hits.to_string(),
    );
    one(
        "s3gw_keycache_misses_rate_limited_total",
        "counter",
        "Misses answered unknown without a directory query (miss rate limit).",
        s.misses_rate_limited.to_string(),
    );
    one(
        "s3gw_keycache_ldap_queries_total",
        "counter",
        "LDAP operations sent by the key cache.",
        s.ldap_queries.to_string(),
    );
    one(
        "s3gw_keycache_ldap_errors_total",
        "counter",
        "LDAP operations that failed or timed out.",
        s.ldap_errors.to_string(),
    );
    if let Some(n) = s.last_changenumber {
        one(
            "s3gw_keycache_last_changenumber",
            "gauge",
            "Last UFDS changelog number applied.",
            n.to_string(),
        );
    }
    if let Some(d) = s.since_last_poll {
        one(
            "s3gw_keycache_seconds_since_last_poll",
            "gauge",
            "Seconds since the last successful changelog poll or keys-file check.",
            d.as_secs_f64().to_string(),
        );
    }
    one(
        "s3gw_keycache_ready",
        "gauge",
        "1 once the initial key load is done.",
        u8::from(s.ready).to_string(),
    );
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// Escapes a label value (exposition format: `\\`, `\"`, `\n`).
fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Counts one open connection until dropped.
#[derive(Debug)]
pub struct ConnectionGuard(Arc<Metrics>);

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.open_connections.fetch_sub(1, Ordering::Relaxed);
    }
}

// ------------------------------------------------------------ the backend

/// The translator's `Backend` with every call timed and counted (and
/// counted for the access-log line of the request named by the call's
/// `RequestContext::request_id`).
pub struct MeteredBackend {
    inner: Arc<dyn Backend>,
    metrics: Arc<Metrics>,
}

impl MeteredBackend {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn Backend>, metrics: Arc<Metrics>) -> MeteredBackend {
        MeteredBackend { inner, metrics }
    }

    async fn call<T>(
        &self,
        cx: &RequestContext,
        name: &'static str,
        fut: impl std::future::Future<Output = BackendResult<T>>,
    ) -> BackendResult<T> {
        // By request id, not a task-local: handlers may run a call in a
        // task of its own (CompleteMultipartUpload's keep-alive).
        self.metrics.active.native_call(&cx.request_id);
        let t = Instant::now();
        let r = fut.await;
        self.metrics
            .record_call(name, r.as_ref().map(|_| ()), t.elapsed());
        r
    }
}

#[async_trait]
impl Backend for MeteredBackend {
    async fn ready(&self) -> BackendResult<()> {
        self.inner.ready().await
    }
    async fn list_buckets(&self, cx: &RequestContext) -> BackendResult<ListBucketsOutput> {
        self.call(cx, "ListBuckets", self.inner.list_buckets(cx))
            .await
    }
    async fn create_bucket(&self, cx: &RequestContext, bucket: &BucketName) -> BackendResult<()> {
        self.call(cx, "CreateBucket", self.inner.create_bucket(cx, bucket))
            .await
    }
    async fn head_bucket(&self, cx: &RequestContext, bucket: &BucketName) -> BackendResult<()> {
        self.call(cx, "HeadBucket", self.inner.head_bucket(cx, bucket))
            .await
    }
    async fn delete_bucket(&self, cx: &RequestContext, bucket: &BucketName) -> BackendResult<()> {
        self.call(cx, "DeleteBucket", self.inner.delete_bucket(cx, bucket))
            .await
    }
    async fn list_objects(
        &self,
        cx: &RequestContext,
        input: ListObjectsInput,
    ) -> BackendResult<ListObjectsOutput> {
        self.call(cx, "ListObjects", self.inner.list_objects(cx, input))
            .await
    }
    async fn put_object(
        &self,
        cx: &RequestContext,
        input: PutObjectInput,
    ) -> BackendResult<PutObjectOutput> {
        self.call(cx, "PutObject", self.inner.put_object(cx, input))
            .await
    }
    async fn get_object(
        &self,
        cx: &RequestContext,
        input: GetObjectInput,
    ) -> BackendResult<GetObjectOutput> {
        self.call(cx, "GetObject", self.inner.get_object(cx, input))
            .await
    }
    async fn head_object(
        &self,
        cx: &RequestContext,
        input: GetObjectInput,
    ) -> BackendResult<HeadObjectOutput> {
        self.call(cx, "HeadObject", self.inner.head_object(cx, input))
            .await
    }
    async fn delete_object(
        &self,
        cx: &RequestContext,
        bucket: &BucketName,
        key: &ObjectKey,
    ) -> BackendResult<()> {
        self.call(
            cx,
            "DeleteObject",
            self.inner.delete_object(cx, bucket, key),
        )
        .await
    }
    async fn delete_objects(
        &self,
        cx: &RequestContext,
        bucket: &BucketName,
        keys: Vec<ObjectKey>,
    ) -> BackendResult<DeleteObjectsOutput> {
        self.call(
            cx,
            "DeleteObjects",
            self.inner.delete_objects(cx, bucket, keys),
        )
        .await
    }
    async fn copy_object(
        &self,
        cx: &RequestContext,
        input: CopyObjectInput,
    ) -> BackendResult<CopyObjectOutput> {
        self.call(cx, "CopyObject", self.inner.copy_object(cx, input))
            .await
    }
    async fn create_multipart_upload(
        &self,
        cx: &RequestContext,
        input: CreateMultipartUploadInput,
    ) -> BackendResult<CreateMultipartUploadOutput> {
        let r = self
            .call(
                cx,
                "CreateMultipartUpload",
                self.inner.create_multipart_upload(cx, input),
            )
            .await;
        if r.is_ok() {
            self.metrics.upload_created();
        }
        r
    }
    async fn upload_part(
        &self,
        cx: &RequestContext,
        input: UploadPartInput,
    ) -> BackendResult<UploadPartOutput> {
        self.call(cx, "UploadPart", self.inner.upload_part(cx, input))
            .await
    }
    async fn upload_part_copy(
        &self,
        cx: &RequestContext,
        input: UploadPartCopyInput,
    ) -> BackendResult<CopyObjectOutput> {
        self.call(cx, "UploadPartCopy", self.inner.upload_part_copy(cx, input))
            .await
    }
    async fn complete_multipart_upload(
        &self,
        cx: &RequestContext,
        input: CompleteMultipartUploadInput,
    ) -> BackendResult<CompleteMultipartUploadOutput> {
        let r = self
            .call(
                cx,
                "CompleteMultipartUpload",
                self.inner.complete_multipart_upload(cx, input),
            )
            .await;
        if r.is_ok() {
            self.metrics.upload_finished(true);
        }
        r
    }
    async fn abort_multipart_upload(
        &self,
        cx: &RequestContext,
        bucket: &BucketName,
        key: &ObjectKey,
        upload_id: &UploadId,
    ) -> BackendResult<()> {
        let r = self
            .call(
                cx,
                "AbortMultipartUpload",
                self.inner
                    .abort_multipart_upload(cx, bucket, key, upload_id),
            )
            .await;
        if r.is_ok() {
            self.metrics.upload_finished(false);
        }
        r
    }
    async fn list_parts(
        &self,
        cx: &RequestContext,
        input: ListPartsInput,
    ) -> BackendResult<ListPartsOutput> {
        self.call(cx, "ListParts", self.inner.list_parts(cx, input))
            .await
    }
    async fn list_multipart_uploads(
        &self,
        cx: &RequestContext,
        input: ListMultipartUploadsInput,
    ) -> BackendResult<ListMultipartUploadsOutput> {
        self.call(
            cx,
            "ListMultipartUploads",
            self.inner.list_multipart_uploads(cx, input),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_cumulative_histograms() {
        let m = Metrics::new();
        for (status, ms) in [(200, 3), (200, 700), (404, 1), (503, 2)] {
            m.record_request(&RequestSample {
                operation: "GetObject",
                status,
                duration: Duration::from_millis(ms),
                bytes_in: 0,
                bytes_out: 10,
            });
        }
        m.record_call("GetObject", Err(&BackendError::NoSuchKey), Duration::ZERO);
        m.record_call(
            "GetObject",
            Err(&BackendError::ServiceUnavailable("x".into())),
            Duration::ZERO,
        );
        let _c = m.connection();
        let mut out = String::new();
        m.render(&mut out);
        assert!(out.contains("s3gw_requests_total{operation=\"GetObject\",status=\"2xx\"} 2\n"));
        assert!(out.contains("s3gw_requests_total{operation=\"GetObject\",status=\"4xx\"} 1\n"));
        assert!(out.contains("s3gw_requests_total{operation=\"GetObject\",status=\"5xx\"} 1\n"));
        assert!(out.contains(
            "s3gw_request_duration_seconds_bucket{operation=\"GetObject\",le=\"0.005\"} 3\n"
        ));
        assert!(out.contains(
            "s3gw_request_duration_seconds_bucket{operation=\"GetObject\",le=\"+Inf\"} 4\n"
        ));
        assert!(out.contains("s3gw_response_bytes_total{operation=\"GetObject\"} 40\n"));
        assert!(out.contains("s3gw_native_calls_total{call=\"GetObject\",outcome=\"refused\"} 1\n"));
        assert!(out.contains("s3gw_native_errors_total{call=\"GetObject\"} 1\n"));
        assert!(out.contains("s3gw_open_connections 1\n"));
        drop(_c);
        let mut out = String::new();
        m.render(&mut out);
        assert!(out.contains("s3gw_open_connections 0\n"));
        // Every sample line is `name{labels} value` or `name value`.
        for line in out.lines().filter(|l| !l.starts_with('#')) {
            let v = line.rsplit(' ').next().unwrap();
            assert!(v.parse::<f64>().is_ok(), "{line}");
        }
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(esc("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
