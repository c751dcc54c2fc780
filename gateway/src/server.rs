//! The HTTP server: actix-web with ONE default service (no routing table,
//! no path normalisation: the signature covers the raw path, so the path
//! must reach [`crate::addressing`] exactly as the client sent it), TLS with
//! rustls (ring), a request id and a tracing span per request, graceful
//! shutdown. [`start`] is usable in-process (tests, embedding) and by the
//! `s3gw` binary.
//!
//! A request's way (design.md): request id + span -> addressing -> router
//! -> signature -> body bridge + verification -> handler -> S3 response,
//! with every failure rendered by [`error_response`] from the one table.
//! Around it: per-request metrics and the access-log line
//! ([`crate::access_log`]), and the ops listener ([`crate::ops`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use anyhow::Context;
use base64::Engine;
use bytes::Bytes;
use futures_util::StreamExt;
use s3gw_translator::{
    Backend, BodyError, BucketName, ByteStream, ObjectKey, ParseError, RequestContext, Tenant,
};
use tracing::Instrument;

use crate::addressing::Addressing;
use crate::auth::{self, Identity, RequestParts};
use crate::config::Config;
use crate::embedded::{self, Embedded};
use crate::error::{S3Error, S3ErrorCode};
use crate::handlers::{not_implemented, Handlers, S3Request};
use crate::router::{self, Query};
use crate::xml;

/// What every worker shares.
struct AppState {
    handlers: Handlers,
    keys: s3gw_auth_cache::KeyCache,
    addressing: Addressing,
    config: Arc<Config>,
    scheme: &'static str,
    metrics: Arc<crate::metrics::Metrics>,
}

/// A started gateway.
pub struct RunningGateway {
    addr: SocketAddr,
    tls: bool,
    handle: actix_web::dev::ServerHandle,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    keys: s3gw_auth_cache::KeyCache,
    embedded: Option<Embedded>,
    ops: Option<crate::ops::OpsServer>,
}

impl RunningGateway {
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
    /// The ops listener's address (`[ops] listen`), when enabled.
    pub fn ops_addr(&self) -> Option<SocketAddr> {
        self.ops.as_ref().map(|o| o.local_addr())
    }
    /// `http://ADDR` or `https://ADDR`.
    pub fn url(&self) -> String {
        format!(
            "{}://{}",
            if self.tls { "https" } else { "http" },
            self.addr
        )
    }
    /// The development key created by the embedded default on this start,
    /// if one was created (printed once by the binary).
    pub fn new_dev_key(&self) -> Option<&embedded::DevKey> {
        self.embedded.as_ref().and_then(|e| e.new_dev_key.as_ref())
    }
    /// Graceful stop: stop accepting, let in-flight requests finish (up to
    /// `server.shutdown_timeout_secs`), then stop the key cache and the
    /// embedded store.
    pub async fn stop(self) {
        if let Some(o) = self.ops {
            o.stop().await;
        }
        self.handle.stop(true).await;
        let _ = self.task.await;
        self.keys.shutdown().await;
        if let Some(e) = self.embedded {
            e.stop().await;
        }
    }
    /// Waits until the server ends on its own (it does not, short of an error).
    pub async fn wait(&mut self) -> std::io::Result<()> {
        match (&mut self.task).await {
            Ok(r) => r,
            Err(e) => Err(std::io::Error::other(e)),
        }
    }
}

/// Starts the gateway: the backend (external or embedded), the key cache,
/// and the HTTP(S) server bound to `server.listen` (port 0 allowed).
pub async fn start(config: Config) -> anyhow::Result<RunningGateway> {
    config.validate()?;
    let mut config = config;
    let (backend, keys_source, embedded): (Arc<dyn Backend>, _, Option<Embedded>) =
        match &config.backend {
            Some(b) => {
                let pem = std::fs::read_to_string(&b.operator_key_file).with_context(|| {
                    format!(
                        "reading backend.operator_key_file {}",
                        b.operator_key_file.display()
                    )
                })?;
                let key = s3gw_httpsig::PrivateKey::from_pem_or_openssh(&pem)
                    .map_err(|e| anyhow::anyhow!("backend.operator_key_file: {e}"))?;
                s3gw_translator::manta::check_operator_key(&key)
                    .map_err(|e| anyhow::anyhow!("backend.operator_key_file: {e}"))?;
                let mut mc = s3gw_translator::manta::MantaConfig::new(
                    b.url.clone(),
                    b.operator_login.clone(),
                    key,
                );
                mc.connect_timeout = Duration::from_secs(b.connect_timeout_secs);
                mc.request_timeout = Duration::from_secs(b.request_timeout_secs);
                mc.upload_ttl = Duration::from_secs(b.upload_ttl_secs);
                mc.ca_file = b.ca_file.clone();
                let backend = s3gw_translator::manta::MantaBackend::new(mc)
                    .map_err(|e| anyhow::anyhow!("backend: {e}"))?;
                let keys = config.keys.clone().context(
                    "[keys] is required with [backend]: where do access keys come from?",
                )?;
                (Arc::new(backend), keys, None)
            }
            None => {
                let e = embedded::start(&config).await?;
                if config.server.domains.is_empty() {
                    config.server.domains = vec!["localhost".into(), "s3.localhost".into()];
                }
                let keys = config.keys.clone().unwrap_or_else(|| e.keys_source());
                (e.backend.clone(), keys, Some(e))
            }
        };
    let keys = s3gw_auth_cache::KeyCache::start(keys_source)
        .await
        .map_err(|e| anyhow::anyhow!("keys: {e}"))?;

    // Every backend call is timed and counted; readiness probes use the
    // unmetered backend (they are not S3 traffic).
    let metrics = crate::metrics::Metrics::new();
    let probe_backend = backend.clone();
    let backend: Arc<dyn Backend> = Arc::new(crate::metrics::MeteredBackend::new(
        backend,
        metrics.clone(),
    ));
    let config = Arc::new(config);
    let tls = load_tls(&config)?;
    let state = web::Data::new(AppState {
        handlers: Handlers {
            backend,
            config: config.clone(),
        },
        keys: keys.clone(),
        addressing: Addressing::new(config.server.domains.clone()),
        config: config.clone(),
        scheme: if tls.is_some() { "https" } else { "http" },
        metrics: metrics.clone(),
    });
    let conn_metrics = metrics.clone();
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .default_service(web::to(entry))
    })
    // The guard lives in the connection's extensions, dropped with it.
    .on_connect(move |_, ext| {
        ext.insert(conn_metrics.connection());
    })
    .shutdown_timeout(config.server.shutdown_timeout_secs)
    .disable_signals();
    if config.server.workers > 0 {
        server = server.workers(config.server.workers);
    }
    let listen = config.listen_addr()?;
    let is_tls = tls.is_some();
    server = match tls {
        Some(t) => server.bind_rustls_0_23(listen, t),
        None => server.bind(listen),
    }
    .with_context(|| format!("binding server.listen {listen}"))?;
    let addr = *server.addrs().first().context("no address bound")?;
    let ops = match config.ops.listen_addr()? {
        Some(listen) => Some(crate::ops::start(
            listen,
            metrics,
            keys.clone(),
            probe_backend,
            Duration::from_millis(config.ops.ready_timeout_ms),
        )?),
        None => None,
    };
    let srv = server.run();
    let handle = srv.handle();
    let task = tokio::spawn(srv);
    Ok(RunningGateway {
        addr,
        tls: is_tls,
        handle,
        task,
        keys,
        embedded,
        ops,
    })
}

/// rustls with the ring provider, explicitly (aws-lc may also be compiled
/// in through test dependencies; common.md). One certificate chain serves
/// every name it covers, so a `*.s3.example.com` wildcard serves every
/// virtual-host bucket.
/// The TLS configuration `[server] tls_cert`/`tls_key` describe, loaded
/// and checked (certificates parse, the key matches); `None` without TLS.
/// `s3gw check-config` calls it too, so a bad PEM is caught before a start.
pub fn load_tls(config: &Config) -> anyhow::Result<Option<rustls::ServerConfig>> {
    match (&config.server.tls_cert, &config.server.tls_key) {
        (Some(c), Some(k)) => tls_config(c, k).map(Some),
        _ => Ok(None),
    }
}

fn tls_config(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> anyhow::Result<rustls::ServerConfig> {
    let certs = rustls_pemfile::certs(&mut std::io::BufReader::new(
        std::fs::File::open(cert).with_context(|| format!("server.tls_cert {}", cert.display()))?,
    ))
    .collect::<Result<Vec<_>, _>>()
    .with_context(|| format!("server.tls_cert {}: not PEM certificates", cert.display()))?;
    if certs.is_empty() {
        anyhow::bail!("server.tls_cert {}: no certificate found", cert.display());
    }
    let key = rustls_pemfile::private_key(&mut std::io::BufReader::new(
        std::fs::File::open(key).with_context(|| format!("server.tls_key {}", key.display()))?,
    ))
    .with_context(|| format!("server.tls_key {}", key.display()))?
    .with_context(|| format!("server.tls_key {}: no private key found", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("server.tls_cert/tls_key do not match")?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(cfg)
}

/// S3-style request ids: 16 upper-case hex digits, and a longer opaque
/// `x-amz-id-2`.
fn request_ids() -> (String, String) {
    let u = uuid::Uuid::new_v4();
    let id = u.simple().to_string()[..16].to_ascii_uppercase();
    let id2 = base64::engine::general_purpose::STANDARD.encode(uuid::Uuid::new_v4().as_bytes());
    (id, id2)
}

/// THE entry: every request comes here.
async fn entry(req: HttpRequest, payload: web::Payload, st: web::Data<AppState>) -> HttpResponse {
    let (request_id, id2) = request_ids();
    let meter =
        crate::access_log::InFlight::start(&request_id, req.method().as_str(), st.metrics.clone());
    let span = tracing::info_span!(
        "s3",
        request_id = %request_id,
        operation = tracing::field::Empty,
        bucket = tracing::field::Empty,
        access_key_id = tracing::field::Empty,
    );
    let is_head = req.method() == Method::HEAD;
    let result = meter
        .scope(serve(&req, payload, &st, &request_id, &span))
        .instrument(span.clone())
        .await;
    let mut resp = match result {
        Ok(r) => r,
        Err(e) => error_response(&e, is_head, req.uri().path(), &request_id),
    };
    let status = resp.status();
    span.in_scope(|| {
        if status.is_server_error() {
            tracing::warn!(status = status.as_u16(), method = %req.method(), "request failed");
        } else if status.is_client_error() {
            tracing::debug!(status = status.as_u16(), method = %req.method(), "request refused");
        } else {
            tracing::debug!(status = status.as_u16(), method = %req.method(), "request served");
        }
    });
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        h.insert(HeaderName::from_static("x-amz-request-id"), v);
    }
    if let Ok(v) = HeaderValue::from_str(&id2) {
        h.insert(HeaderName::from_static("x-amz-id-2"), v);
    }
    h.insert(
        HeaderName::from_static("server"),
        HeaderValue::from_static("s3gw"),
    );
    crate::access_log::finish(resp, meter)
}

/// Renders an S3 error: the `<Error>` document, or no body for HEAD (and
/// 304), as S3 does.
pub fn error_response(
    e: &S3Error,
    is_head: bool,
    resource: &str,
    request_id: &str,
) -> HttpResponse {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut b = HttpResponse::build(status);
    if is_head || status == StatusCode::NOT_MODIFIED {
        return b.finish();
    }
    if status == StatusCode::SERVICE_UNAVAILABLE {
        b.insert_header(("Retry-After", "1"));
    }
    b.content_type("application/xml")
        .body(xml::error_document(e, resource, request_id, true))
}

async fn serve(
    req: &HttpRequest,
    payload: web::Payload,
    st: &AppState,
    request_id: &str,
    span: &tracing::Span,
) -> Result<HttpResponse, S3Error> {
    let headers = req.headers();
    let header_bytes: usize = headers
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum();
    if header_bytes > st.config.limits.max_header_bytes {
        return Err(S3ErrorCode::RequestHeaderSectionTooLarge.into());
    }
    let host = req
        .uri()
        .authority()
        .map(|a| a.as_str())
        .or_else(|| headers.get("host").and_then(|h| h.to_str().ok()))
        .unwrap_or("");
    let raw_path = req.uri().path();
    let raw_query = req.uri().query().unwrap_or("");
    let target = st.addressing.resolve(host, raw_path)?;
    crate::access_log::note_target(target.bucket.as_deref(), target.key.as_deref());
    let query = Query::parse(raw_query);
    let endpoint = router::route(
        req.method(),
        target.bucket.as_deref(),
        target.key.as_deref(),
        &query,
        headers,
    )?;
    span.record("operation", endpoint.name());
    crate::access_log::note_operation(endpoint.name());
    if let Some(b) = &target.bucket {
        span.record("bucket", b.as_str());
    }

    let parts = RequestParts {
        method: req.method().as_str(),
        raw_path,
        raw_query,
        headers,
        vhost_bucket: target.vhost_bucket(),
    };
    let auth =
        match auth::authenticate(&parts, &st.keys, &st.config.auth, SystemTime::now()).await? {
            Identity::Authenticated(a) => a,
            // s3gw has nothing public.
            Identity::Anonymous => return Err(S3ErrorCode::AccessDenied.into()),
        };
    span.record("access_key_id", auth.credential.access_key_id.as_str());
    crate::access_log::note_access_key(auth.credential.access_key_id.as_str());
    if !endpoint.is_supported() {
        return Err(not_implemented(endpoint.name()));
    }

    let bucket = target
        .bucket
        .as_deref()
        .map(|b| {
            BucketName::parse(b)
                .map_err(|_| S3Error::new(S3ErrorCode::InvalidBucketName).extra("BucketName", b))
        })
        .transpose()?;
    let key = target
        .key
        .as_deref()
        .map(|k| {
            ObjectKey::parse(k).map_err(|e| match e {
                ParseError::ReservedKey => S3Error::with_message(
                    S3ErrorCode::AccessDenied,
                    "Keys under this prefix are reserved by the gateway.",
                ),
                _ if k.len() > s3gw_translator::MAX_KEY_BYTES => {
                    S3ErrorCode::KeyTooLongError.into()
                }
                _ => S3Error::with_message(S3ErrorCode::InvalidArgument, "Invalid object key"),
            })
        })
        .transpose()?;
    let body = matches!(*req.method(), Method::PUT | Method::POST)
        .then(|| crate::access_log::count_in(bridge(payload)));
    let account = &auth.credential.account;
    let cx = RequestContext {
        tenant: Tenant {
            login: account.login.clone(),
            uuid: account.uuid.clone(),
        },
        request_id: request_id.to_owned(),
    };
    let origin = format!("{}://{}", st.scheme, host);
    let r = S3Request {
        endpoint,
        method: req.method().clone(),
        bucket,
        key,
        query,
        headers: headers.clone(),
        auth,
        cx,
        body,
        origin,
    };
    st.handlers.handle(r).await
}

/// Bridges actix's payload (not `Send`: it lives on this worker's thread)
/// into the `Send` stream the verifier and the backend consume: a local
/// task pumps it into a small bounded channel, so memory stays bounded and
/// back-pressure reaches the client's TCP window.
fn bridge(mut payload: web::Payload) -> ByteStream {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, BodyError>>(4);
    actix_rt::spawn(async move {
        while let Some(item) = payload.next().await {
            let item =
                item.map_err(|e| -> BodyError { Box::new(std::io::Error::other(e.to_string())) });
            let failed = item.is_err();
            if tx.send(item).await.is_err() || failed {
                break;
            }
        }
    });
    Box::pin(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|i| (i, rx))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_look_like_s3_ones() {
        let (id, id2) = request_ids();
        assert_eq!(id.len(), 16);
        assert!(id
            .bytes()
            .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase()));
        assert!(base64::engine::general_purpose::STANDARD
            .decode(&id2)
            .is_ok());
        assert_ne!(request_ids().0, id);
    }

    #[actix_rt::test]
    async fn error_responses_have_xml_except_for_head() {
        let e = S3Error::new(S3ErrorCode::NoSuchKey);
        let r = error_response(&e, false, "/b/k", "REQ");
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        assert_eq!(r.headers().get("content-type").unwrap(), "application/xml");
        let body = actix_web::body::to_bytes(r.into_body()).await.ok().unwrap();
        let body = String::from_utf8(body.to_vec()).unwrap();
        assert!(
            body.contains("<Code>NoSuchKey</Code>") && body.contains("<Resource>/b/k</Resource>")
        );
        let r = error_response(&e, true, "/b/k", "REQ");
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        let body = actix_web::body::to_bytes(r.into_body()).await.ok().unwrap();
        assert!(body.is_empty(), "HEAD: no body");
        let r = error_response(
            &S3Error::new(S3ErrorCode::ServiceUnavailable),
            false,
            "/",
            "R",
        );
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.headers().get("retry-after").unwrap(), "1");
    }
}
