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
//! Under actix-http, [`crate::http_layer::S3Io`] wraps each connection so
//! that the answers actix-http writes on its own (unparseable, oversized or
//! late request heads) are S3 error documents with request ids too.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use actix_service::{IntoServiceFactory, ServiceFactoryExt};
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{web, App, HttpRequest, HttpResponse};
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
use crate::http_layer::{ConnTap, S3Io};
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
    /// `server.shutdown_timeout`), then stop the key cache and the
    /// embedded store.
    /// Readiness (`/health/ready`) answers 503 from the moment the drain
    /// starts; the ops listener stays up until the drain has finished.
    pub async fn stop(self) {
        if let Some(o) = &self.ops {
            o.start_draining();
        }
        self.handle.stop(true).await;
        let _ = self.task.await;
        if let Some(o) = self.ops {
            o.stop().await;
        }
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
                mc.connect_timeout = b.connect_timeout;
                mc.request_timeout = b.request_timeout;
                mc.upload_ttl = b.upload_ttl;
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
        handlers: Handlers::new(backend, config.clone()).with_keys(keys.clone()),
        keys: keys.clone(),
        addressing: Addressing::new(config.server.domains.clone()),
        config: config.clone(),
        scheme: if tls.is_some() { "https" } else { "http" },
        metrics: metrics.clone(),
    });
    // actix-web's HttpServer cannot take an expect service (it sends
    // `100 Continue` before any handler runs), so the server is assembled
    // from its parts: actix-server accepts, actix-http speaks HTTP/1.1 with
    // OUR expect service, the actix-web App serves. Explicit limits: the
    // request head must arrive within `limits.header_timeout` (else 408,
    // answered as S3's 400 RequestTimeout by `S3Io`, and close; a connection
    // that sent no byte is closed without an answer), idle keep-alive connections close after
    // `limits.keep_alive`, and each worker holds at most
    // `limits.max_connections` connections (more wait in the backlog).
    let listen = config.listen_addr()?;
    let listener = std::net::TcpListener::bind(listen)
        .with_context(|| format!("binding server.listen {listen}"))?;
    let addr = listener.local_addr().context("no address bound")?;
    let limits = config.limits.clone();
    let mut builder = actix_server::Server::build()
        // actix counts whole seconds: a fraction rounds up, never to none.
        .shutdown_timeout(config.server.shutdown_timeout.as_secs_f64().ceil() as u64)
        .max_concurrent_connections(limits.max_connections)
        .disable_signals();
    if config.server.workers > 0 {
        builder = builder.workers(config.server.workers);
    }
    let server_metrics = metrics.clone();
    // Between actix-http and the connection (TCP, or TLS after the
    // handshake) sits `S3Io`: it turns the answers actix-http writes itself
    // (a head it cannot parse, a late or oversized head) into S3 error
    // documents with request ids (crate::http_layer). Its tap, in the
    // connection data, is told which answers are to HEAD requests.
    macro_rules! http_service {
        () => {{
            let st = state.clone();
            let expect_st = state.clone();
            let conn_metrics = server_metrics.clone();
            let app = App::new()
                .app_data(st)
                .default_service(web::to(entry))
                .into_factory()
                .map_err(|e| e.error_response());
            actix_http::HttpService::build()
                .keep_alive(limits.keep_alive)
                .client_request_timeout(limits.header_timeout)
                .client_disconnect_timeout(Duration::from_secs(1))
                // Large GET bodies: keep one write buffer across chunks (actix
                // drops it after each flush above max(this, 128 KiB), and the
                // re-growth faulted pages in per chunk): docs/benchmarks.md,
                // "Issue 13 items 2 and 4".
                .h1_write_buffer_size(512 << 10)
                .local_addr(addr)
                // The guard lives in the connection's extensions, dropped with it.
                .on_connect_ext(move |io: &S3Io<_>, ext| {
                    ext.insert(conn_metrics.connection());
                    ext.insert(io.tap());
                })
                .expect(actix_service::fn_service(
                    move |req: actix_http::Request| expect_continue(req, expect_st.clone()),
                ))
                .finish(actix_service::map_config(app, |_| {
                    actix_web::dev::AppConfig::default()
                }))
        }};
    }
    let is_tls = tls.is_some();
    builder = match tls {
        Some(t) => builder.listen("s3gw-https", listener, move || {
            actix_tls::accept::rustls_0_23::Acceptor::new(t.clone())
                    .map_err(|e| match e {
                        actix_tls::accept::TlsError::Timeout => {
                            actix_http::error::DispatchError::Io(std::io::Error::new(
                                std::io::ErrorKind::TimedOut,
                                "TLS handshake timed out",
                            ))
                        }
                        actix_tls::accept::TlsError::Tls(e) => {
                            actix_http::error::DispatchError::Io(e)
                        }
                        actix_tls::accept::TlsError::Service(never) => match never {},
                    })
                    .and_then(actix_service::fn_service(
                        |io: actix_tls::accept::rustls_0_23::TlsStream<
                            actix_rt::net::TcpStream,
                        >| async move {
                            let peer = io.get_ref().0.peer_addr().ok();
                            Ok::<_, actix_http::error::DispatchError>((
                                S3Io::new(io),
                                actix_http::Protocol::Http1,
                                peer,
                            ))
                        },
                    ))
                    .and_then(http_service!())
        }),
        None => builder.listen("s3gw-http", listener, move || {
            actix_service::fn_service(|io: actix_rt::net::TcpStream| async move {
                let peer = io.peer_addr().ok();
                Ok::<_, actix_http::error::DispatchError>((
                    S3Io::new(io),
                    actix_http::Protocol::Http1,
                    peer,
                ))
            })
            .and_then(http_service!())
        }),
    }
    .with_context(|| format!("serving on {addr}"))?;
    let ops = match config.ops.listen_addr()? {
        Some(listen) => Some(crate::ops::start(
            listen,
            metrics,
            keys.clone(),
            probe_backend,
            config.ops.ready_timeout,
        )?),
        None => None,
    };
    let srv = builder.run();
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
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("server.tls_cert {}", cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("server.tls_cert {}: not PEM certificates", cert.display()))?;
    if certs.is_empty() {
        anyhow::bail!("server.tls_cert {}: no certificate found", cert.display());
    }
    let key = match PrivateKeyDer::from_pem_file(key) {
        Ok(k) => k,
        Err(rustls::pki_types::pem::Error::NoItemsFound) => {
            anyhow::bail!("server.tls_key {}: no private key found", key.display())
        }
        Err(e) => return Err(e).with_context(|| format!("server.tls_key {}", key.display())),
    };
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
pub(crate) fn request_ids() -> (String, String) {
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
    if is_head {
        if let Some(tap) = req.conn_data::<std::rc::Rc<ConnTap>>() {
            tap.note_head_answer(&request_id);
        }
    }
    let result = meter
        .scope(catch_panics(serve(&req, payload, &st, &request_id, &span)))
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

/// A panic while serving a request is a bug, not a dropped connection: it
/// is caught here, logged (inside the request's span, so with its request
/// id) and answered 500 InternalError with an S3 error document. The panic
/// text goes to the log only.
async fn catch_panics<F>(serve: F) -> Result<HttpResponse, S3Error>
where
    F: std::future::Future<Output = Result<HttpResponse, S3Error>>,
{
    use futures_util::FutureExt;
    match std::panic::AssertUnwindSafe(serve).catch_unwind().await {
        Ok(r) => r,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-string panic payload".into());
            tracing::error!(panic = %what, "request handler panicked; answered 500 InternalError");
            Err(S3ErrorCode::InternalError.into())
        }
    }
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
    for (name, value) in &e.headers {
        b.insert_header((*name, value.as_str()));
    }
    if is_head || status == StatusCode::NOT_MODIFIED {
        return b.finish();
    }
    if status == StatusCode::SERVICE_UNAVAILABLE {
        b.insert_header(("Retry-After", "1"));
    }
    b.content_type("application/xml")
        .body(xml::error_document(e, resource, request_id, true))
}

/// What every request must pass before its body is read: header size,
/// the one signed host, addressing, the query decoded once, routing, the
/// signature and key, the operation served, bucket name and key. Run for
/// every request by [`serve`], and before `100 Continue` by
/// [`expect_continue`], so a request that will fail is answered without
/// its body ever being asked for.
struct Admitted {
    host: String,
    query: Query,
    endpoint: router::Endpoint,
    /// `None`: an unsigned request; the handlers decide what it may do
    /// ([`crate::handlers::Handlers::handle`]).
    auth: Option<auth::Authenticated>,
    bucket: Option<BucketName>,
    key: Option<ObjectKey>,
}

async fn admit(
    method: &Method,
    uri: &actix_web::http::Uri,
    headers: &HeaderMap,
    st: &AppState,
    span: &tracing::Span,
) -> Result<Admitted, S3Error> {
    let header_bytes: usize = headers
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum();
    if header_bytes > st.config.limits.max_header_bytes {
        return Err(S3ErrorCode::RequestHeaderSectionTooLarge.into());
    }
    let host = signed_host(uri, headers)?;
    let raw_path = uri.path();
    let raw_query = uri.query().unwrap_or("");
    let target = st.addressing.resolve(host, raw_path)?;
    crate::access_log::note_target(target.bucket.as_deref(), target.key.as_deref());
    let query = Query::parse(raw_query);
    check_response_overrides(&query)?;
    let endpoint = router::route(
        method,
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
        method: method.as_str(),
        raw_path,
        query: &query,
        headers,
        vhost_bucket: target.vhost_bucket(),
    };
    // A CORS preflight is never authenticated: a browser sends it to the
    // URL of the request it prepares, a presigned one included, whose
    // signature covers that request, not the OPTIONS (S3 does the same).
    let preflight = endpoint == router::Endpoint::OptionsObject;
    let identity = if preflight {
        Identity::Anonymous
    } else {
        auth::authenticate(&parts, &st.keys, &st.config.auth, SystemTime::now()).await?
    };
    let auth = match identity {
        Identity::Authenticated(a) => {
            span.record("access_key_id", a.credential.access_key_id.as_str());
            crate::access_log::note_access_key(a.credential.access_key_id.as_str());
            Some(a)
        }
        // Unsigned: served only where a bucket's or object's ACL, its
        // CORS rules or a signed POST policy allows it (handlers).
        Identity::Anonymous => None,
    };
    if !endpoint.is_supported() {
        // An unsigned caller learns nothing about what is served.
        return Err(match auth {
            Some(_) => not_implemented(endpoint.name()),
            None => S3ErrorCode::AccessDenied.into(),
        });
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
                // S3 refuses a NUL in a key as an unparseable URI.
                _ if k.contains('\0') => S3ErrorCode::InvalidURI.into(),
                _ if s3gw_translator::types::is_dot_segment(k) => S3Error::with_message(
                    S3ErrorCode::InvalidArgument,
                    "The object keys \".\" and \"..\" are not supported by this endpoint.",
                ),
                _ => S3Error::with_message(S3ErrorCode::InvalidArgument, "Invalid object key"),
            })
        })
        .transpose()?;
    Ok(Admitted {
        host: host.to_owned(),
        query,
        endpoint,
        auth,
        bucket,
        key,
    })
}

async fn serve(
    req: &HttpRequest,
    payload: web::Payload,
    st: &AppState,
    request_id: &str,
    span: &tracing::Span,
) -> Result<HttpResponse, S3Error> {
    let headers = req.headers();
    let Admitted {
        host,
        query,
        endpoint,
        auth,
        bucket,
        key,
    } = admit(req.method(), req.uri(), headers, st, span).await?;
    let idle = st.config.limits.body_idle_timeout;
    let body = matches!(*req.method(), Method::PUT | Method::POST)
        .then(|| crate::access_log::count_in(bridge(payload, idle)));
    // The requester's own account; an unsigned request's account (the
    // bucket owner's) is resolved by the handlers.
    let tenant = match &auth {
        Some(a) => Tenant {
            login: a.credential.account.login.clone(),
            uuid: a.credential.account.uuid.clone(),
        },
        None => Tenant {
            login: String::new(),
            uuid: String::new(),
        },
    };
    let cx = RequestContext {
        tenant,
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

/// The `Expect: 100-continue` service: actix-http sends `100 Continue` as
/// soon as this answers Ok, so the request is admitted ([`admit`]:
/// signature, key, bucket name, key, operation) and, for uploads, its
/// body headers are checked (declared lengths, Content-MD5 and checksum
/// header shapes, the bucket's existence) BEFORE the client is told to
/// send its body. A request
/// that fails gets its final S3 error answer (with a request id) and its
/// body is never read. The request is admitted again by [`serve`] (a cached
/// key and one HMAC): the two never disagree, because they run the same
/// function on the same head.
async fn expect_continue(
    req: actix_http::Request,
    st: web::Data<AppState>,
) -> Result<actix_http::Request, actix_web::Error> {
    let (request_id, id2) = request_ids();
    let span = tracing::info_span!(
        "s3",
        request_id = %request_id,
        phase = "expect",
        operation = tracing::field::Empty,
        bucket = tracing::field::Empty,
        access_key_id = tracing::field::Empty,
    );
    let head = req.head();
    let checked = async {
        let a = admit(&head.method, &head.uri, &head.headers, &st, &span).await?;
        if matches!(
            a.endpoint,
            router::Endpoint::PutObject | router::Endpoint::UploadPart
        ) {
            let limits = st
                .config
                .limits
                .body_limits(st.config.limits.max_object_size);
            let empty: s3gw_translator::ByteStream = Box::pin(futures_util::stream::empty());
            crate::body::verified_body(empty, a.auth.as_ref(), &head.headers, &limits)?;
            // The bucket must exist (one native HEAD, only for signed
            // requests that asked to be told before sending their body).
            if let (Some(bucket), Some(auth)) = (&a.bucket, &a.auth) {
                let account = &auth.credential.account;
                let cx = RequestContext {
                    tenant: Tenant {
                        login: account.login.clone(),
                        uuid: account.uuid.clone(),
                    },
                    request_id: request_id.clone(),
                };
                st.handlers
                    .backend
                    .head_bucket(&cx, bucket)
                    .await
                    .map_err(crate::handlers::backend_error)?;
            }
        }
        Ok::<(), S3Error>(())
    }
    .instrument(span.clone())
    .await;
    let Err(e) = checked else {
        return Ok(req);
    };
    span.in_scope(|| {
        tracing::debug!(
            status = e.status(),
            code = e.code.as_str(),
            "refused before 100 Continue"
        )
    });
    let is_head = head.method == Method::HEAD;
    if is_head {
        if let Some(tap) = req.conn_data::<std::rc::Rc<ConnTap>>() {
            tap.note_head_answer(&request_id);
        }
    }
    let mut resp = error_response(&e, is_head, head.uri.path(), &request_id);
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
    // The body was never asked for: the connection cannot be reused.
    h.insert(
        actix_web::http::header::CONNECTION,
        HeaderValue::from_static("close"),
    );
    Err(actix_web::error::InternalError::from_response("refused before 100 Continue", resp).into())
}

/// The ONE host a request names, for addressing AND signatures: the `Host`
/// header the signature covers. An absolute-form request target
/// (`PUT http://other-bucket.domain/key`) must name the same authority,
/// else 400: otherwise a request signed for one bucket could act on another.
/// Several `Host` headers are refused too (RFC 9112: 400).
fn signed_host<'r>(
    uri: &'r actix_web::http::Uri,
    headers: &'r HeaderMap,
) -> Result<&'r str, S3Error> {
    let mut hosts = headers.get_all("host");
    let host = match (hosts.next(), hosts.next()) {
        (_, Some(_)) => {
            return Err(S3Error::with_message(
                S3ErrorCode::InvalidRequest,
                "A request may carry only one Host header.",
            ))
        }
        (Some(h), None) => Some(h.to_str().map_err(|_| {
            S3Error::with_message(S3ErrorCode::InvalidRequest, "The Host header is not valid.")
        })?),
        (None, None) => None,
    };
    match (uri.authority(), host) {
        (Some(a), Some(h)) if a.as_str().eq_ignore_ascii_case(h.trim()) => Ok(h.trim()),
        (Some(_), _) => Err(S3Error::with_message(
            S3ErrorCode::InvalidRequest,
            "The authority of an absolute request target must equal the Host header.",
        )),
        (None, h) => Ok(h.map(str::trim).unwrap_or("")),
    }
}

/// `response-*` overrides become response headers: a control character in
/// one (which no header may carry) is 400 InvalidArgument, never a 500.
fn check_response_overrides(query: &Query) -> Result<(), S3Error> {
    for p in query.pairs() {
        if !p.name.starts_with("response-") {
            continue;
        }
        let bad = p
            .value
            .as_deref()
            .unwrap_or("")
            .bytes()
            .any(|b| (b < b' ' && b != b'\t') || b == 0x7f);
        if bad {
            return Err(S3Error::with_message(
                S3ErrorCode::InvalidArgument,
                "A response header override contains a control character.",
            )
            .extra("ArgumentName", p.name.clone()));
        }
    }
    Ok(())
}

/// Bridges actix's payload (not `Send`: it lives on this worker's thread)
/// into the `Send` stream the verifier and the backend consume: a local
/// task pumps it into a small bounded channel, so memory stays bounded and
/// back-pressure reaches the client's TCP window.
///
/// Each read from the client has an idle deadline (`limits.body_idle_timeout`,
/// S3 uses about 20 s): a client that stops sending (or trickles a byte at
/// a time slower than that) fails the body with 400 RequestTimeout, which
/// aborts the native write, instead of holding a connection and an upload
/// open for ever. Only waiting for the client counts: time spent waiting
/// for the store to take a piece (back-pressure) does not.
fn bridge(mut payload: web::Payload, idle: Duration) -> ByteStream {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, BodyError>>(4);
    actix_rt::spawn(async move {
        loop {
            let item = match tokio::time::timeout(idle, payload.next()).await {
                Ok(Some(item)) => item
                    .map_err(|e| -> BodyError { Box::new(std::io::Error::other(e.to_string())) }),
                Ok(None) => break,
                Err(_) => {
                    tracing::debug!(
                        idle_ms = idle.as_millis() as u64,
                        "request body idle: RequestTimeout"
                    );
                    let _ = tx
                        .send(Err(Box::new(S3Error::new(S3ErrorCode::RequestTimeout))))
                        .await;
                    break;
                }
            };
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

    /// A panic inside the service is caught at the boundary: 500
    /// InternalError, and the panic text never reaches the client.
    #[actix_rt::test]
    async fn a_panicking_handler_is_answered_500_internal_error() {
        let e = catch_panics(async {
            if true {
                panic!("secret detail of a bug");
            }
            Ok(HttpResponse::Ok().finish())
        })
        .await
        .unwrap_err();
        assert_eq!(e.code, S3ErrorCode::InternalError);
        assert!(!e.message.contains("secret detail"));
        let r = error_response(&e, false, "/b/k", "REQ");
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = actix_web::body::to_bytes(r.into_body()).await.ok().unwrap();
        let body = String::from_utf8(body.to_vec()).unwrap();
        assert!(body.contains("<Code>InternalError</Code>"), "{body}");
        assert!(!body.contains("secret detail"));
        let ok = catch_panics(async { Ok(HttpResponse::Ok().finish()) }).await;
        assert_eq!(ok.unwrap().status(), StatusCode::OK);
    }

    #[test]
    fn one_host_for_addressing_and_signing() {
        let h = |pairs: &[(&str, &str)]| crate::auth::test_support::headers(pairs);
        let uri = |s: &str| s.parse::<actix_web::http::Uri>().unwrap();
        // Origin form: the Host header.
        assert_eq!(
            signed_host(&uri("/k"), &h(&[("host", "a.s3.test")])).unwrap(),
            "a.s3.test"
        );
        // Absolute form naming the same authority (any case): fine.
        assert_eq!(
            signed_host(&uri("http://A.s3.test/k"), &h(&[("host", "a.s3.test")])).unwrap(),
            "a.s3.test"
        );
        // Another authority than the signed Host: 400, whichever style.
        for (target, host) in [
            ("http://b.s3.test/k", "a.s3.test"),
            ("http://s3.test/k", "a.s3.test"),
            ("http://s3.test/b/k", "s3.test:80"),
            ("http://127.0.0.1:1/b/k", "127.0.0.1:2"),
        ] {
            let e = signed_host(&uri(target), &h(&[("host", host)])).unwrap_err();
            assert_eq!(e.code, S3ErrorCode::InvalidRequest, "{target} {host}");
        }
        assert!(signed_host(&uri("http://b.s3.test/k"), &h(&[])).is_err());
        let two = h(&[("host", "a.s3.test"), ("host", "b.s3.test")]);
        assert!(signed_host(&uri("/k"), &two).is_err());
    }

    #[test]
    fn control_characters_in_response_overrides_are_invalid_argument() {
        for raw in [
            "response-content-type=a%0Db",
            "response-content-disposition=%00",
            "response-expires=x%0A",
            "response-cache-control=%7F",
        ] {
            let e = check_response_overrides(&Query::parse(raw)).unwrap_err();
            assert_eq!(e.code, S3ErrorCode::InvalidArgument, "{raw}");
        }
        for raw in [
            "response-content-type=text%2Fplain",
            "response-content-disposition=attachment%3B%20filename%3D%22%C3%BC.txt%22",
            "prefix=%0A",
        ] {
            assert!(
                check_response_overrides(&Query::parse(raw)).is_ok(),
                "{raw}"
            );
        }
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
