//! The native HTTP client: one pooled reqwest client, every request signed
//! with the operator key (HTTP Signature over `date`), `x-request-id`
//! forwarded, idempotent reads retried on connection errors only.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::SystemTime;

use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use reqwest::header::{HeaderMap, AUTHORIZATION, DATE};
use reqwest::{Method, RequestBuilder, Response};
use s3gw_httpsig::{http_date, KeyId, Signer};

use super::config::MantaConfig;
use super::error::NativeFailure;
use super::wire::{self, ErrorBody, Page, H_NEXT_MARKER, H_REQUEST_ID};
use crate::backend::{BodyError, ByteStream};

/// Every byte outside RFC 3986 "unreserved" is percent-encoded, so an object
/// name (which may hold `/`, `%`, `?`, `#`, spaces, UTF-8) travels as ONE
/// path segment (buckets-api.md "Paths"); query values use the same set.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

pub(crate) fn enc(s: &str) -> percent_encoding::PercentEncode<'_> {
    utf8_percent_encode(s, SEGMENT)
}

/// Why the client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientBuildError {
    #[error("TLS setup: {0}")]
    Tls(String),
    #[error("HTTP client: {0}")]
    Http(#[from] reqwest::Error),
    #[error("invalid store URL {0:?}")]
    Url(String),
}

pub(crate) struct NativeClient {
    http: reqwest::Client,
    /// Base URL without a trailing slash.
    base: String,
    signer: Signer,
    read_retries: u32,
    max_error_body: usize,
    max_page: usize,
}

impl NativeClient {
    pub fn new(cfg: MantaConfig) -> Result<(Self, MantaConfigRest), ClientBuildError> {
        let url = cfg.url.trim_end_matches('/').to_owned();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(ClientBuildError::Url(cfg.url));
        }
        // Explicit ring provider: both ring and aws-lc-rs may be compiled in
        // (common.md), so never rely on a process-default provider.
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ClientBuildError::Tls(e.to_string()))?;
        let tls = match &cfg.ca_file {
            // A private CA: trust exactly its certificates.
            Some(path) => builder
                .with_root_certificates(ca_roots(path)?)
                .with_no_client_auth(),
            None => {
                use rustls_platform_verifier::BuilderVerifierExt;
                builder
                    .with_platform_verifier()
                    .map_err(|e| ClientBuildError::Tls(e.to_string()))?
                    .with_no_client_auth()
            }
        };
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .connect_timeout(cfg.connect_timeout)
            .read_timeout(cfg.request_timeout)
            .pool_idle_timeout(cfg.pool_idle_timeout)
            .pool_max_idle_per_host(cfg.pool_max_idle_per_host)
            .tcp_nodelay(true)
            .build()?;
        let key_id = KeyId {
            login: cfg.operator_login.clone(),
            subuser: None,
            fingerprint: cfg.operator_key.public_key().md5_fingerprint(),
        };
        let client = NativeClient {
            http,
            base: url,
            signer: Signer::new(key_id, cfg.operator_key),
            read_retries: cfg.read_retries,
            max_error_body: cfg.max_error_body_bytes,
            max_page: cfg.max_list_page_bytes,
        };
        let rest = MantaConfigRest {
            request_timeout: cfg.request_timeout,
            upload_ttl: cfg.upload_ttl,
            sweep_interval: cfg.sweep_interval,
            fanout: cfg.fanout_concurrency.max(1),
            operator_login: cfg.operator_login,
        };
        Ok((client, rest))
    }

    /// `<base>/:account/buckets`
    pub fn buckets_url(&self, account: &str) -> String {
        format!("{}/{}/buckets", self.base, enc(account))
    }
    /// `<base>/:account/buckets/:bucket`
    pub fn bucket_url(&self, account: &str, bucket: &str) -> String {
        format!("{}/{}/buckets/{}", self.base, enc(account), enc(bucket))
    }
    /// `<base>/:account/buckets/:bucket/objects/:object` (object name as one
    /// percent-encoded segment).
    pub fn object_url(&self, account: &str, bucket: &str, name: &str) -> String {
        let mut s = String::with_capacity(
            self.base.len() + account.len() + bucket.len() + name.len() * 3 + 24,
        );
        use std::fmt::Write;
        let _ = write!(
            s,
            "{}/{}/buckets/{}/objects/{}",
            self.base,
            enc(account),
            enc(bucket),
            enc(name)
        );
        s
    }

    /// A request with `Date`, `Authorization` and `x-request-id` set.
    pub fn signed(&self, method: Method, url: &str, request_id: &str) -> RequestBuilder {
        let date = http_date(SystemTime::now());
        let auth = self.signer.sign_date(&date);
        self.http
            .request(method, url)
            .header(DATE, date)
            .header(AUTHORIZATION, auth)
            .header(H_REQUEST_ID, request_id)
    }

    /// Sends a request built by `build` (called again per attempt). Only
    /// `idempotent` requests are retried, and only when the failure happened
    /// before any answer (connect error, pooled connection found dead) or
    /// the store answered 408 (it did not read our request in time).
    /// Error statuses become [`NativeFailure::Status`] with the JSON code.
    pub async fn send(
        &self,
        idempotent: bool,
        build: impl Fn() -> RequestBuilder,
    ) -> Result<Response, NativeFailure> {
        let mut attempt = 0;
        loop {
            match build().send().await {
                Ok(resp)
                    if idempotent
                        && attempt < self.read_retries
                        && resp.status() == reqwest::StatusCode::REQUEST_TIMEOUT =>
                {
                    attempt += 1;
                    tracing::debug!(attempt, "native 408, retrying read");
                }
                Ok(resp) => return self.check(resp).await,
                Err(e)
                    if idempotent
                        && attempt < self.read_retries
                        && (e.is_connect() || (e.is_request() && !e.is_timeout())) =>
                {
                    attempt += 1;
                    tracing::debug!(error = %e, attempt, "retrying native read");
                }
                Err(e) => return Err(NativeFailure::transport(&e)),
            }
        }
    }

    /// Sends a write whose body is a tapped stream: when the stream failed,
    /// the stream's own error wins over whatever transport error it caused.
    pub async fn send_body(
        &self,
        rb: RequestBuilder,
        slot: &ErrSlot,
    ) -> Result<Response, NativeFailure> {
        let res = rb.send().await;
        if let Some(e) = slot.take() {
            return Err(NativeFailure::Body(e));
        }
        match res {
            Ok(resp) => self.check(resp).await,
            Err(e) => Err(NativeFailure::transport(&e)),
        }
    }

    async fn check(&self, resp: Response) -> Result<Response, NativeFailure> {
        let status = resp.status();
        if status.as_u16() < 400 {
            return Ok(resp);
        }
        let status = status.as_u16();
        let body = read_limited(resp, self.max_error_body)
            .await
            .unwrap_or_default();
        let (code, message) = match ErrorBody::parse(&body) {
            Some(parsed) => parsed,
            // HEAD errors have no body: name them by status.
            None => (
                match status {
                    404 => "ObjectNotFound",
                    412 => "PreconditionFailed",
                    503 => "ServiceUnavailable",
                    _ => "Unknown",
                }
                .to_owned(),
                String::from_utf8_lossy(&body[..body.len().min(256)]).into_owned(),
            ),
        };
        Err(NativeFailure::Status {
            status,
            code,
            message,
        })
    }

    /// One native listing page.
    pub async fn list_page(
        &self,
        url: &str,
        request_id: &str,
        prefix: &str,
        marker: Option<&str>,
        delimiter: Option<char>,
        limit: usize,
    ) -> Result<Page, NativeFailure> {
        use std::fmt::Write;
        let mut full = String::with_capacity(url.len() + prefix.len() * 3 + 64);
        let _ = write!(
            full,
            "{url}?limit={}",
            limit.clamp(1, wire::MAX_NATIVE_LIMIT)
        );
        // The store matches `prefix` as an unescaped SQL LIKE pattern: send
        // only its literal part and filter below (list.rs).
        let sent_prefix = super::list::native_prefix(prefix);
        let cut = sent_prefix.len() < prefix.len();
        if !sent_prefix.is_empty() {
            let _ = write!(full, "&prefix={}", enc(sent_prefix));
        }
        // Start just below the literal prefix when that is further on.
        let below = super::list::below(prefix)
            .filter(|b| cut && !b.contains(|c: char| c.is_control()) && b.len() <= 1024);
        let marker = match (marker, below) {
            (Some(m), Some(b)) if m < b => Some(b),
            (None, Some(b)) => Some(b),
            (m, _) => m,
        };
        if let Some(m) = marker {
            let _ = write!(full, "&marker={}", enc(m));
        }
        if let Some(d) = delimiter {
            let mut b = [0u8; 4];
            let _ = write!(full, "&delimiter={}", enc(d.encode_utf8(&mut b)));
        }
        let resp = self
            .send(true, || self.signed(Method::GET, &full, request_id))
            .await?;
        // Only the header's presence is trusted: its value is the last
        // entry's name by contract, and a header cannot carry every name
        // faithfully (non-ASCII bytes), so the name is taken from the line.
        let more = resp
            .headers()
            .get(H_NEXT_MARKER)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let body = read_limited(resp, self.max_page)
            .await
            .map_err(|e| match e {
                ReadError::TooLarge => NativeFailure::Protocol("listing page too large".into()),
                ReadError::Transport(f) => f,
            })?;
        let mut entries = wire::parse_lines(&body).map_err(NativeFailure::Protocol)?;
        let mut next_marker = more.map(|h| entries.last().map(|e| e.name.clone()).unwrap_or(h));
        if cut {
            // Names are in byte order: one past the literal prefix ends it.
            if entries
                .iter()
                .any(|e| e.name.as_str() > prefix && !e.name.starts_with(prefix))
            {
                next_marker = None;
            }
            entries.retain(|e| e.name.starts_with(prefix));
        }
        Ok(Page {
            entries,
            next_marker,
        })
    }
}

/// The certificates of a CA file (PEM), for a store behind a private CA.
fn ca_roots(path: &std::path::Path) -> Result<rustls::RootCertStore, ClientBuildError> {
    let err = |e: String| ClientBuildError::Tls(format!("ca_file {}: {e}", path.display()));
    let pem = std::fs::read(path).map_err(|e| err(e.to_string()))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in
        <rustls::pki_types::CertificateDer as rustls::pki_types::pem::PemObject>::pem_slice_iter(
            &pem,
        )
    {
        roots
            .add(cert.map_err(|e| err(e.to_string()))?)
            .map_err(|e| err(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(err("no certificate in the file".into()));
    }
    Ok(roots)
}

/// Settings the backend keeps after the client took the connection ones.
pub(crate) struct MantaConfigRest {
    /// The native idle timeout (also given to the HTTP client).
    pub request_timeout: std::time::Duration,
    pub upload_ttl: std::time::Duration,
    pub sweep_interval: std::time::Duration,
    pub fanout: usize,
    pub operator_login: String,
}

pub(crate) enum ReadError {
    TooLarge,
    Transport(NativeFailure),
}

/// Reads a (small) body whole, refusing more than `limit` bytes.
pub(crate) async fn read_limited(resp: Response, limit: usize) -> Result<Bytes, ReadError> {
    let mut buf = BytesMut::new();
    let mut s = resp.bytes_stream();
    while let Some(chunk) = s.next().await {
        let chunk = chunk.map_err(|e| ReadError::Transport(NativeFailure::transport(&e)))?;
        if buf.len() + chunk.len() > limit {
            return Err(ReadError::TooLarge);
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

pub(crate) fn header_str<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// Where a tapped body stream leaves its error for the caller.
#[derive(Clone, Default)]
pub(crate) struct ErrSlot(Arc<Mutex<Option<BodyError>>>);

impl ErrSlot {
    pub fn take(&self) -> Option<BodyError> {
        self.0.lock().map(|mut g| g.take()).unwrap_or(None)
    }
    fn put(&self, e: BodyError) {
        if let Ok(mut g) = self.0.lock() {
            g.get_or_insert(e);
        }
    }
}

/// A body stream handed to reqwest for a native write. When the inner
/// stream fails (client gone, or the gateway's verifier rejected the body),
/// the error is parked in the slot and reqwest gets an I/O error, on which
/// hyper drops the connection WITHOUT finishing the body (no final chunk,
/// fewer bytes than Content-Length), so the store never commits the object
/// (buckets-api.md: a partial body is never stored). Dropping the whole
/// request future (the S3 client vanished) has the same effect: that is the
/// write's drop guard.
pub(crate) struct Tapped {
    inner: ByteStream,
    slot: ErrSlot,
}

impl Tapped {
    pub fn new(inner: ByteStream, slot: ErrSlot) -> Self {
        Tapped { inner, slot }
    }
    pub fn into_body(self) -> reqwest::Body {
        reqwest::Body::wrap_stream(self)
    }
}

impl Stream for Tapped {
    type Item = Result<Bytes, std::io::Error>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match self.inner.as_mut().poll_next(cx) {
            Poll::Ready(Some(Err(e))) => {
                self.slot.put(e);
                Poll::Ready(Some(Err(std::io::Error::other("request body failed"))))
            }
            Poll::Ready(Some(Ok(b))) => Poll::Ready(Some(Ok(b))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// A native response body as a [`ByteStream`] (no copies: reqwest's own
/// `Bytes` pass straight through).
pub(crate) fn response_stream(resp: Response) -> ByteStream {
    Box::pin(
        resp.bytes_stream()
            .map(|r| r.map_err(|e| Box::new(e) as BodyError)),
    )
}

#[cfg(test)]
mod tests {
    use super::enc;
    use crate::types::ObjectKey;

    /// The path reqwest sends for a key (it parses the URL it is given),
    /// decoded: `Some(name)` when the key stayed ONE segment after
    /// `/objects/`, `None` when the parser moved the request elsewhere.
    fn native_name(key: &str) -> Option<String> {
        let url = format!("http://store.test/acct/buckets/bkt/objects/{}", enc(key));
        let parsed = reqwest::Url::parse(&url).ok()?;
        let rest = parsed.path().strip_prefix("/acct/buckets/bkt/objects/")?;
        if rest.contains('/') || parsed.query().is_some() || parsed.fragment().is_some() {
            return None;
        }
        percent_encoding::percent_decode_str(rest)
            .decode_utf8()
            .ok()
            .map(|s| s.into_owned())
    }

    /// Property: every key `ObjectKey::parse` accepts reaches the store as
    /// exactly that name (never a dot-segment resolved into the bucket or
    /// the object list). Exhaustive over every key of up to 4 characters
    /// from the characters URL parsers treat specially, then 20,000
    /// pseudo-random longer keys (a fixed xorshift seed: reproducible).
    #[test]
    fn every_accepted_key_is_the_native_path_verbatim() {
        const SPECIAL: &[char] = &['.', '/', '%', '2', 'e', 'E', '\\', '?', '#', ' ', 'a', ';'];
        let mut keys: Vec<String> = vec![String::new()];
        let mut frontier = keys.clone();
        for _ in 0..4 {
            let mut next = Vec::new();
            for k in &frontier {
                for c in SPECIAL {
                    next.push(format!("{k}{c}"));
                }
            }
            keys.extend(next.iter().cloned());
            frontier = next;
        }
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut rand = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        const POOL: &[&str] = &[
            ".", "..", "/", "%2e", "%2E", "%", "\\", "?", "#", "a", "ü", "\u{1}", "\t", " ", "+",
            "~", "%2f", "\u{7f}", "🙂", ":", "@", "&", "=",
        ];
        for _ in 0..20_000 {
            let n = 1 + (rand() % 12) as usize;
            let k: String = (0..n)
                .map(|_| POOL[(rand() % POOL.len() as u64) as usize])
                .collect();
            keys.push(k);
        }
        let mut accepted = 0;
        for key in keys {
            if ObjectKey::parse(&key).is_err() {
                continue;
            }
            accepted += 1;
            assert_eq!(native_name(&key).as_deref(), Some(key.as_str()), "{key:?}");
        }
        assert!(accepted > 20_000, "the property ran on {accepted} keys");
        // The two keys the URL cannot carry are refused at the edge.
        for key in [".", ".."] {
            assert_ne!(
                native_name(key).as_deref(),
                Some(key),
                "{key} is normalised away"
            );
            assert!(ObjectKey::parse(key).is_err());
        }
        for key in ["...", "./", "../", "a/..", "%2e", ".%2e", "..a"] {
            assert!(ObjectKey::parse(key).is_ok(), "{key} is an ordinary key");
        }
    }
}
