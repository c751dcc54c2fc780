//! Metrics through the Prometheus project's own Rust client
//! (`prometheus-client`), served by [`crate::ops`] on `GET /metrics` in the
//! OpenMetrics text format (which Prometheus scrapes natively).
//!
//! One [`Metrics`] per gateway holds one [`Registry`], shared by the S3
//! server (requests, bytes, connections), the [`MeteredBackend`] around the
//! translator (native calls, multipart uploads) and the ops server, which
//! adds the key cache's counters from [`s3gw_auth_cache::KeyCache::stats`]
//! and the uptime at scrape time ([`render_key_cache`], [`finish`]).
//!
//! The crate's histogram updates its buckets, sum and count under one lock,
//! so a scrape never sees `+Inf` below a finite bucket or `_count`.
//!
//! Label values are operation names from the router's `Endpoint` enum and a
//! handful of fixed words, so cardinality is bounded by the enum.
//!
//! "Native calls" are calls of the translator's `Backend` methods: one S3
//! request makes zero or more of them, and one call may send several native
//! HTTP requests (listing pages, multipart assembly); the translator offers
//! no per-HTTP-request hook, so latency and errors are measured per call.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use s3gw_translator::{
    Backend, BackendError, BackendResult, BucketName, CompleteMultipartUploadInput,
    CompleteMultipartUploadOutput, CopyObjectInput, CopyObjectOutput, CreateMultipartUploadInput,
    CreateMultipartUploadOutput, DeleteObjectsOutput, GetObjectInput, GetObjectOutput,
    HeadObjectOutput, ListBucketsOutput, ListMultipartUploadsInput, ListMultipartUploadsOutput,
    ListObjectsInput, ListObjectsOutput, ListPartsInput, ListPartsOutput, ObjectKey,
    PutObjectInput, PutObjectOutput, RequestContext, UploadId, UploadPartCopyInput,
    UploadPartInput, UploadPartOutput,
};

/// The content type of what [`Metrics::render`] + [`finish`] produce.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Upper bounds (seconds) of the latency histogram buckets: from a cached
/// HEAD on loopback to a multi-GiB PUT or a long multipart assembly.
pub const LATENCY_BUCKETS: [f64; 15] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0,
];

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
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
            | B::InvalidPartNumber
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

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OpStatus {
    operation: &'static str,
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Op {
    operation: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallOutcome {
    call: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Call {
    call: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Build {
    version: &'static str,
    commit: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// Every metric of one gateway, registered once in `registry`.
#[derive(Debug)]
pub struct Metrics {
    started: Instant,
    registry: Registry,
    requests: Family<OpStatus, Counter>,
    request_duration: HistogramFamily<Op>,
    request_bytes: Family<Op, Counter>,
    response_bytes: Family<Op, Counter>,
    native_calls: Family<CallOutcome, Counter>,
    native_errors: Family<Call, Counter>,
    native_duration: HistogramFamily<Call>,
    open_connections: Gauge,
    in_flight: Gauge,
    uploads_created: Counter,
    uploads_completed: Counter,
    uploads_aborted: Counter,
    uploads_in_progress: Gauge,
    /// Requests being served, by request id (per-request native calls).
    pub(crate) active: crate::access_log::Active,
}

impl Default for Metrics {
    fn default() -> Self {
        // The client appends a full stop to every help text.
        let mut r = Registry::default();
        let requests = Family::<OpStatus, Counter>::default();
        r.register(
            "s3gw_requests",
            "S3 requests answered, by operation and status class",
            requests.clone(),
        );
        let request_duration: HistogramFamily<Op> = Family::new_with_constructor(latency_histogram);
        r.register(
            "s3gw_request_duration_seconds",
            "Time from request arrival to the last response byte, by operation",
            request_duration.clone(),
        );
        let request_bytes = Family::<Op, Counter>::default();
        r.register(
            "s3gw_request_bytes",
            "Request body bytes received from S3 clients (as sent, before de-chunking), by operation",
            request_bytes.clone(),
        );
        let response_bytes = Family::<Op, Counter>::default();
        r.register(
            "s3gw_response_bytes",
            "Response body bytes sent to S3 clients, by operation",
            response_bytes.clone(),
        );
        let native_calls = Family::<CallOutcome, Counter>::default();
        r.register(
            "s3gw_native_calls",
            "Calls into the native store (translator Backend methods), by call and outcome (ok, refused, unavailable, body_failed, error)",
            native_calls.clone(),
        );
        let native_errors = Family::<Call, Counter>::default();
        r.register(
            "s3gw_native_errors",
            "Native calls that failed through the store's fault (outcome unavailable or error), by call",
            native_errors.clone(),
        );
        let native_duration: HistogramFamily<Call> =
            Family::new_with_constructor(latency_histogram);
        r.register(
            "s3gw_native_call_duration_seconds",
            "Latency of native calls, by call (a streamed GET ends when its headers arrive)",
            native_duration.clone(),
        );
        let open_connections = Gauge::default();
        r.register(
            "s3gw_open_connections",
            "Client connections open on the S3 listener",
            open_connections.clone(),
        );
        let in_flight = Gauge::default();
        r.register(
            "s3gw_requests_in_flight",
            "S3 requests being served (until the last response byte)",
            in_flight.clone(),
        );
        let uploads_created = Counter::default();
        r.register(
            "s3gw_multipart_uploads_created",
            "Multipart uploads created through this instance",
            uploads_created.clone(),
        );
        let uploads_completed = Counter::default();
        r.register(
            "s3gw_multipart_uploads_completed",
            "Multipart uploads completed through this instance",
            uploads_completed.clone(),
        );
        let uploads_aborted = Counter::default();
        r.register(
            "s3gw_multipart_uploads_aborted",
            "Multipart uploads aborted through this instance",
            uploads_aborted.clone(),
        );
        // Any instance may finish any upload, so one instance's value may be
        // negative; the sum over all instances is the fleet's uploads in
        // progress (less those swept after upload_ttl).
        let uploads_in_progress = Gauge::default();
        r.register(
            "s3gw_multipart_uploads_in_progress",
            "Multipart uploads created minus completed minus aborted through this instance (sum over instances)",
            uploads_in_progress.clone(),
        );
        let build = Family::<Build, Gauge>::default();
        build
            .get_or_create(&Build {
                version: env!("CARGO_PKG_VERSION"),
                commit: crate::cli::GIT_COMMIT,
            })
            .set(1);
        r.register("s3gw_build_info", "Version of this s3gw", build);
        Metrics {
            started: Instant::now(),
            registry: r,
            requests,
            request_duration,
            request_bytes,
            response_bytes,
            native_calls,
            native_errors,
            native_duration,
            open_connections,
            in_flight,
            uploads_created,
            uploads_completed,
            uploads_aborted,
            uploads_in_progress,
            active: crate::access_log::Active::default(),
        }
    }
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
        let op = Op {
            operation: s.operation,
        };
        self.requests
            .get_or_create(&OpStatus {
                operation: s.operation,
                status: status_class(s.status),
            })
            .inc();
        self.request_duration
            .get_or_create(&op)
            .observe(s.duration.as_secs_f64());
        self.request_bytes.get_or_create(&op).inc_by(s.bytes_in);
        self.response_bytes.get_or_create(&op).inc_by(s.bytes_out);
    }

    /// Counts a finished Backend call.
    fn record_call(&self, call: &'static str, r: Result<(), &BackendError>, d: Duration) {
        let o = outcome(&r);
        self.native_calls
            .get_or_create(&CallOutcome { call, outcome: o })
            .inc();
        // Present (0) for every call made, so a rate() exists before the
        // first error.
        let errors = self.native_errors.get_or_create(&Call { call });
        if matches!(o, "unavailable" | "error") {
            errors.inc();
        }
        self.native_duration
            .get_or_create(&Call { call })
            .observe(d.as_secs_f64());
    }

    /// A request started (in-flight gauge); pair with [`Metrics::request_done`].
    pub fn request_started(&self) {
        self.in_flight.inc();
    }

    /// A request finished (its response body was sent or dropped).
    pub fn request_done(&self) {
        self.in_flight.dec();
    }

    /// A guard that counts one open client connection while it lives
    /// (stored in the connection's extensions by `HttpServer::on_connect`,
    /// which actix drops when the connection closes).
    pub fn connection(self: &Arc<Self>) -> ConnectionGuard {
        self.open_connections.inc();
        ConnectionGuard(self.clone())
    }

    /// The exposition of everything but the key cache ([`render_key_cache`]
    /// appends it) and the end marker ([`finish`]).
    pub fn render(&self, out: &mut String) {
        let _ = encode_registry(out, &self.registry);
        let mut r = Registry::default();
        r.register(
            "s3gw_uptime_seconds",
            "Seconds since this gateway started",
            ConstGauge::new(self.started.elapsed().as_secs_f64()),
        );
        let _ = encode_registry(out, &r);
    }

    fn upload_created(&self) {
        self.uploads_created.inc();
        self.uploads_in_progress.inc();
    }
    fn upload_finished(&self, completed: bool) {
        if completed {
            self.uploads_completed.inc();
        } else {
            self.uploads_aborted.inc();
        }
        self.uploads_in_progress.dec();
    }
}

/// Appends the key cache's counters ([`s3gw_auth_cache::CacheStats`]), read
/// at scrape time.
pub fn render_key_cache(out: &mut String, s: &s3gw_auth_cache::CacheStats) {
    let mut r = Registry::default();
    fn gauge<N>(r: &mut Registry, name: &str, help: &str, v: N)
    where
        N: prometheus_client::encoding::EncodeGaugeValue + std::fmt::Debug + Send + Sync + 'static,
    {
        r.register(name, help, ConstGauge::new(v));
    }
    let counter = |r: &mut Registry, name: &str, help: &str, v: u64| {
        r.register(name, help, ConstCounter::new(v));
    };
    gauge(
        &mut r,
        "s3gw_keycache_keys",
        "Access keys held in memory (any status)",
        s.keys_cached,
    );
    gauge(
        &mut r,
        "s3gw_keycache_duplicate_key_ids",
        "Access key ids present more than once in the key source (each authenticates nobody)",
        s.duplicate_key_ids,
    );
    counter(
        &mut r,
        "s3gw_keycache_ambiguous_lookups",
        "Lookups refused because the access key id is present more than once",
        s.ambiguous_lookups,
    );
    gauge(
        &mut r,
        "s3gw_keycache_directory_ok",
        "1 while the key directory answered within its grace period (always 1 for a keys file)",
        u64::from(s.directory_ok),
    );
    counter(
        &mut r,
        "s3gw_keycache_hits",
        "Key lookups answered from memory",
        s.hits,
    );
    counter(
        &mut r,
        "s3gw_keycache_misses",
        "Key lookups of ids not in memory",
        s.misses,
    );
    counter(
        &mut r,
        "s3gw_keycache_negative_hits",
        "Misses answered by the negative cache",
        s.negative_hits,
    );
    counter(
        &mut r,
        "s3gw_keycache_misses_rate_limited",
        "Misses answered unknown without a directory query (miss rate limit)",
        s.misses_rate_limited,
    );
    counter(
        &mut r,
        "s3gw_keycache_ldap_queries",
        "LDAP operations sent by the key cache",
        s.ldap_queries,
    );
    counter(
        &mut r,
        "s3gw_keycache_ldap_errors",
        "LDAP operations that failed or timed out",
        s.ldap_errors,
    );
    if let Some(n) = s.last_changenumber {
        gauge(
            &mut r,
            "s3gw_keycache_last_changenumber",
            "Last UFDS changelog number applied",
            n,
        );
    }
    if let Some(d) = s.since_last_poll {
        gauge(
            &mut r,
            "s3gw_keycache_seconds_since_last_poll",
            "Seconds since the last successful changelog poll or keys-file check",
            d.as_secs_f64(),
        );
    }
    gauge(
        &mut r,
        "s3gw_keycache_ready",
        "1 once the initial key load is done",
        u64::from(s.ready),
    );
    let _ = encode_registry(out, &r);
}

/// Ends the exposition (OpenMetrics' `# EOF`).
pub fn finish(out: &mut String) {
    let _ = encode_eof(out);
}

/// Counts one open connection until dropped.
#[derive(Debug)]
pub struct ConnectionGuard(Arc<Metrics>);

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.open_connections.dec();
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
    async fn get_bucket_config(
        &self,
        cx: &RequestContext,
        bucket: &BucketName,
    ) -> BackendResult<Option<s3gw_translator::StoredBucketConfig>> {
        self.call(
            cx,
            "GetBucketConfig",
            self.inner.get_bucket_config(cx, bucket),
        )
        .await
    }
    async fn put_bucket_config(
        &self,
        cx: &RequestContext,
        bucket: &BucketName,
        config: &s3gw_translator::BucketConfig,
        expected: Option<&str>,
    ) -> BackendResult<String> {
        self.call(
            cx,
            "PutBucketConfig",
            self.inner.put_bucket_config(cx, bucket, config, expected),
        )
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
    async fn put_object_tagging(
        &self,
        cx: &RequestContext,
        bucket: &BucketName,
        key: &ObjectKey,
        tagging: Option<String>,
    ) -> BackendResult<()> {
        self.call(
            cx,
            "PutObjectTagging",
            self.inner.put_object_tagging(cx, bucket, key, tagging),
        )
        .await
    }
    async fn put_object_acl(
        &self,
        cx: &RequestContext,
        bucket: &BucketName,
        key: &ObjectKey,
        acl: Option<s3gw_translator::CannedAcl>,
    ) -> BackendResult<()> {
        self.call(
            cx,
            "PutObjectAcl",
            self.inner.put_object_acl(cx, bucket, key, acl),
        )
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
            "s3gw_request_duration_seconds_bucket{le=\"0.005\",operation=\"GetObject\"} 3\n"
        ));
        assert!(out.contains(
            "s3gw_request_duration_seconds_bucket{le=\"+Inf\",operation=\"GetObject\"} 4\n"
        ));
        assert!(out.contains("s3gw_response_bytes_total{operation=\"GetObject\"} 40\n"));
        assert!(out.contains("s3gw_native_calls_total{call=\"GetObject\",outcome=\"refused\"} 1\n"));
        assert!(out.contains("s3gw_native_errors_total{call=\"GetObject\"} 1\n"));
        assert!(out.contains("s3gw_open_connections 1\n"));
        assert!(out.contains("# TYPE s3gw_request_duration_seconds histogram\n"));
        assert!(out.contains("s3gw_build_info{version=\""));
        drop(_c);
        let mut out = String::new();
        m.render(&mut out);
        render_key_cache(&mut out, &s3gw_auth_cache::CacheStats::default());
        finish(&mut out);
        assert!(out.contains("s3gw_open_connections 0\n"));
        assert!(out.contains("s3gw_keycache_ready 0\n"));
        assert!(out.ends_with("# EOF\n"), "{out}");
        assert_eq!(out.matches("# EOF").count(), 1);
        // Every sample line is `name{labels} value` or `name value`.
        for line in out.lines().filter(|l| !l.starts_with('#')) {
            let v = line.rsplit(' ').next().unwrap();
            assert!(v.parse::<f64>().is_ok(), "{line}");
        }
    }

    #[test]
    fn uploads_in_progress_follow_create_complete_abort() {
        let m = Metrics::new();
        m.upload_created();
        m.upload_created();
        m.upload_finished(true);
        let mut out = String::new();
        m.render(&mut out);
        assert!(
            out.contains("s3gw_multipart_uploads_in_progress 1\n"),
            "{out}"
        );
        assert!(
            out.contains("s3gw_multipart_uploads_created_total 2\n"),
            "{out}"
        );
        m.upload_finished(false);
        m.upload_finished(false);
        let mut out = String::new();
        m.render(&mut out);
        assert!(
            out.contains("s3gw_multipart_uploads_in_progress -1\n"),
            "{out}"
        );
        assert!(
            out.contains("s3gw_multipart_uploads_aborted_total 2\n"),
            "{out}"
        );
    }
}
