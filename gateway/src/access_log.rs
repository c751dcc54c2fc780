//! The access log: one `tracing` event per S3 request at target
//! `s3gw::access`, emitted when the response's last byte has been handed to
//! the connection (or the client went away), so bytes out and the duration
//! are the real ones. The subscriber renders it as text or JSON
//! (`[log] format`) and `RUST_LOG` / `[log] filter` select it like any
//! target (`s3gw::access=off` silences it).
//!
//! Fields: `request_id`, `access_key_id` (never the secret, never the
//! `Authorization` header), `method`, `operation`, `bucket`, `key`
//! (quoted and escaped: a key may hold newlines), `status`, `bytes_in`,
//! `bytes_out`, `duration_ms`, `native_calls`.
//!
//! How the pieces meet: the S3 server runs each request inside an
//! [`InFlight`] ([`InFlight::scope`]); the server notes what it learns
//! ([`note_operation`], [`note_target`], [`note_access_key`]), the
//! [`crate::metrics::MeteredBackend`] counts native calls by request id
//! ([`Active::native_call`]), the request body is counted by [`count_in`], and
//! [`finish`] wraps the response body in [`MeteredBody`], whose drop emits
//! the line and the request metrics.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::HttpResponse;
use bytes::Bytes;
use futures_util::StreamExt;
use s3gw_translator::ByteStream;

use crate::metrics::{Metrics, RequestSample};

/// The `tracing` target of access-log events.
pub const TARGET: &str = "s3gw::access";

/// What is known about a request so far.
#[derive(Debug, Default)]
struct Notes {
    operation: Option<&'static str>,
    bucket: Option<String>,
    key: Option<String>,
    access_key_id: Option<String>,
}

/// Per-request counters and notes, shared by the server, the backend
/// wrapper and the body wrappers.
#[derive(Debug)]
pub struct RequestMeter {
    start: Instant,
    request_id: String,
    method: String,
    bytes_in: AtomicU64,
    native_calls: AtomicU64,
    notes: Mutex<Notes>,
}

tokio::task_local! {
    static CURRENT: Arc<RequestMeter>;
}

impl RequestMeter {
    /// Starts the clock of a request.
    fn new(request_id: &str, method: &str) -> Arc<RequestMeter> {
        Arc::new(RequestMeter {
            start: Instant::now(),
            request_id: request_id.to_owned(),
            method: method.to_owned(),
            bytes_in: AtomicU64::new(0),
            native_calls: AtomicU64::new(0),
            notes: Mutex::new(Notes::default()),
        })
    }

    /// Runs `fut` (the request's handling) with this meter as the current
    /// one, so the `note_*` functions reach it.
    async fn scope<F: std::future::Future>(self: &Arc<Self>, fut: F) -> F::Output {
        CURRENT.scope(self.clone(), fut).await
    }

    fn notes(&self) -> std::sync::MutexGuard<'_, Notes> {
        self.notes.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn with_current(f: impl FnOnce(&RequestMeter)) {
    let _ = CURRENT.try_with(|m| f(m));
}

/// The router's operation name.
pub fn note_operation(name: &'static str) {
    with_current(|m| m.notes().operation = Some(name));
}

/// The bucket and key as addressed (before validation).
pub fn note_target(bucket: Option<&str>, key: Option<&str>) {
    with_current(|m| {
        let mut n = m.notes();
        n.bucket = bucket.map(str::to_owned);
        n.key = key.map(str::to_owned);
    });
}

/// The verified access key id.
pub fn note_access_key(id: &str) {
    with_current(|m| m.notes().access_key_id = Some(id.to_owned()));
}

/// The requests being served, by request id: how a native call made in any
/// task (handlers may spawn one) finds its request's meter.
#[derive(Debug, Default)]
pub struct Active(Mutex<HashMap<String, Arc<RequestMeter>>>);

impl Active {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<RequestMeter>>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn insert(&self, m: &Arc<RequestMeter>) {
        self.map().insert(m.request_id.clone(), m.clone());
    }

    fn remove(&self, request_id: &str) {
        self.map().remove(request_id);
    }

    /// One native (Backend) call made for request `request_id`.
    pub fn native_call(&self, request_id: &str) {
        if let Some(m) = self.map().get(request_id) {
            m.native_calls.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Counts the request body's bytes (as received from the client) into the
/// current request's meter. Call it where the body stream is made: the
/// stream is then consumed wherever the backend polls it.
pub fn count_in(body: ByteStream) -> ByteStream {
    let Ok(meter) = CURRENT.try_with(Arc::clone) else {
        return body;
    };
    Box::pin(body.inspect(move |item| {
        if let Ok(b) = item {
            meter.bytes_in.fetch_add(b.len() as u64, Ordering::Relaxed);
        }
    }))
}

/// The status logged and counted for a request whose client went away
/// before a response existed (nginx's "client closed request").
pub const CLIENT_CLOSED: u16 = 499;

/// A request being served: counted in flight from [`InFlight::start`] until
/// its response body ends ([`finish`]) or, if the client goes away before a
/// response exists (actix then drops the handler's future), until this is
/// dropped; either way exactly one access-log line is written.
pub struct InFlight {
    meter: Arc<RequestMeter>,
    metrics: Arc<Metrics>,
    armed: bool,
}

impl InFlight {
    /// Starts the clock and the in-flight count of a request.
    pub fn start(request_id: &str, method: &str, metrics: Arc<Metrics>) -> InFlight {
        metrics.request_started();
        let meter = RequestMeter::new(request_id, method);
        metrics.active.insert(&meter);
        InFlight {
            meter,
            metrics,
            armed: true,
        }
    }

    /// Runs `fut` (the request's handling) with this request's meter as the
    /// current one, so the `note_*` functions reach it.
    pub async fn scope<F: std::future::Future>(&self, fut: F) -> F::Output {
        self.meter.scope(fut).await
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.armed {
            report(&self.meter, &self.metrics, CLIENT_CLOSED, 0);
        }
    }
}

/// Wraps `resp`'s body so that, when it has been sent (or dropped), the
/// access-log line is emitted and the request is counted.
pub fn finish(resp: HttpResponse, mut flight: InFlight) -> HttpResponse {
    flight.armed = false;
    let status = resp.status().as_u16();
    let (meter, metrics) = (flight.meter.clone(), flight.metrics.clone());
    resp.map_body(move |_, body| {
        BoxBody::new(MeteredBody {
            inner: body,
            sent: 0,
            status,
            meter,
            metrics,
        })
    })
}

/// A response body that reports the request when it ends.
pub struct MeteredBody {
    inner: BoxBody,
    sent: u64,
    status: u16,
    meter: Arc<RequestMeter>,
    metrics: Arc<Metrics>,
}

impl MessageBody for MeteredBody {
    type Error = Box<dyn std::error::Error>;

    fn size(&self) -> BodySize {
        self.inner.size()
    }

    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let r = Pin::new(&mut self.inner).poll_next(cx);
        if let Poll::Ready(Some(Ok(b))) = &r {
            self.sent += b.len() as u64;
        }
        r
    }
}

impl Drop for MeteredBody {
    fn drop(&mut self) {
        report(&self.meter, &self.metrics, self.status, self.sent);
    }
}

/// Counts a finished request and writes its access-log line.
fn report(m: &RequestMeter, metrics: &Metrics, status: u16, bytes_out: u64) {
    let duration = m.start.elapsed();
    let bytes_in = m.bytes_in.load(Ordering::Relaxed);
    let native_calls = m.native_calls.load(Ordering::Relaxed);
    let n = m.notes();
    let operation = n.operation.unwrap_or("Unknown");
    metrics.record_request(&RequestSample {
        operation,
        status,
        duration,
        bytes_in,
        bytes_out,
    });
    metrics.request_done();
    metrics.active.remove(&m.request_id);
    // Keys are arbitrary (newlines included): recorded as string values,
    // which the text formatter prints quoted and escaped and the JSON
    // formatter as JSON strings, so a key cannot forge a log line.
    tracing::info!(
        target: TARGET,
        request_id = %m.request_id,
        access_key_id = n.access_key_id.as_deref().unwrap_or("-"),
        method = %m.method,
        operation,
        bucket = n.bucket.as_deref().unwrap_or("-"),
        key = n.key.as_deref().unwrap_or("-"),
        status,
        bytes_in,
        bytes_out,
        duration_ms = duration.as_secs_f64() * 1000.0,
        native_calls,
        "access"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_web::test]
    async fn a_finished_response_is_counted_once_with_its_bytes() {
        let metrics = Metrics::new();
        let flight = InFlight::start("REQ1", "GET", metrics.clone());
        let meter = flight.meter.clone();
        flight
            .scope(async {
                note_operation("GetObject");
                note_target(Some("b"), Some("k\nx"));
                note_access_key("AKID");
                metrics.active.native_call("REQ1");
                let body: ByteStream = Box::pin(futures_util::stream::iter(vec![Ok(
                    Bytes::from_static(b"abc"),
                )]));
                let mut s = count_in(body);
                while s.next().await.is_some() {}
            })
            .await;
        let resp = finish(HttpResponse::Ok().body("hello"), flight);
        let body = actix_web::body::to_bytes(resp.into_body()).await.unwrap();
        assert_eq!(&body[..], b"hello");
        assert_eq!(meter.bytes_in.load(Ordering::Relaxed), 3);
        assert_eq!(meter.native_calls.load(Ordering::Relaxed), 1);
        let mut out = String::new();
        metrics.render(&mut out);
        assert!(out.contains("s3gw_requests_total{operation=\"GetObject\",status=\"2xx\"} 1\n"));
        assert!(out.contains("s3gw_response_bytes_total{operation=\"GetObject\"} 5\n"));
        assert!(out.contains("s3gw_request_bytes_total{operation=\"GetObject\"} 3\n"));
        assert!(out.contains("s3gw_requests_in_flight 0\n"));
    }

    #[test]
    fn a_request_dropped_before_its_response_is_logged_as_client_closed() {
        let metrics = Metrics::new();
        let flight = InFlight::start("REQ2", "PUT", metrics.clone());
        let mut out = String::new();
        metrics.render(&mut out);
        assert!(out.contains("s3gw_requests_in_flight 1\n"));
        drop(flight);
        let mut out = String::new();
        metrics.render(&mut out);
        assert!(out.contains("s3gw_requests_in_flight 0\n"));
        assert!(out.contains("s3gw_requests_total{operation=\"Unknown\",status=\"4xx\"} 1\n"));
    }
}
