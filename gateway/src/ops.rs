//! The operations listener: a second, small actix server on `[ops] listen`,
//! apart from the S3 listener so that metrics and probes are never exposed
//! to S3 clients nor confused with bucket names:
//!
//! - `GET /metrics`: OpenMetrics text ([`crate::metrics`]) plus the key
//!   cache's counters.
//! - `GET /health/live`: 200 while the process serves (liveness: restart it
//!   when this fails).
//! - `GET /health/ready`: 200 when the access keys are loaded AND the native
//!   store answers a probe within `[ops] ready_timeout` AND the key
//!   directory answered within its grace period (`[keys] grace`; a keys
//!   file always counts); else 503 with the reason (readiness: take the
//!   instance out of the load balancer). Past the grace every signed
//!   request is answered 503, so such an instance must not look ready.
//!   From the moment a graceful drain starts (SIGTERM) it answers 503
//!   `{"ready":false,"draining":true}` while in-flight requests finish.
//!
//! No authentication: bind it to a private or loopback address.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{web, App, HttpResponse, HttpServer};
use anyhow::Context as _;
use s3gw_translator::Backend;

use crate::config::ConfigError;
use crate::metrics::Metrics;

/// `[ops]`: the operations listener.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OpsConfig {
    /// Address of the ops listener (`/metrics`, `/health/live`,
    /// `/health/ready`), e.g. `10.0.0.5:9480`; port 0 picks a free port
    /// (logged at start). Empty: no ops listener. Default `127.0.0.1:9480`
    /// (loopback: no authentication); a second instance on the same host
    /// must pick another address or `""`, or it refuses to start with an
    /// error naming `ops.listen`.
    pub listen: String,
    /// How long `/health/ready` waits for the native store's answer before
    /// it reports not ready. Default `"2s"` (the deprecated
    /// `ready_timeout_ms` still reads, in milliseconds).
    #[serde(deserialize_with = "s3gw_duration::deserialize")]
    pub ready_timeout: Duration,
}

/// The ops listener's default address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9480";

impl Default for OpsConfig {
    fn default() -> Self {
        OpsConfig {
            listen: DEFAULT_LISTEN.into(),
            ready_timeout: Duration::from_secs(2),
        }
    }
}

impl OpsConfig {
    /// The listen address, if the ops listener is enabled.
    pub fn listen_addr(&self) -> Result<Option<SocketAddr>, ConfigError> {
        if self.listen.is_empty() {
            return Ok(None);
        }
        self.listen
            .parse()
            .map(Some)
            .map_err(|e| ConfigError::Invalid {
                key: "ops.listen",
                message: format!(
                    "{:?} is not an address like 127.0.0.1:9480: {e}",
                    self.listen
                ),
            })
    }

    /// Checks the address and the timeout.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.listen_addr()?;
        if self.ready_timeout.is_zero() {
            return Err(ConfigError::Invalid {
                key: "ops.ready_timeout",
                message: "must be positive".into(),
            });
        }
        Ok(())
    }
}

/// What the ops handlers read.
struct OpsState {
    metrics: Arc<Metrics>,
    keys: s3gw_auth_cache::KeyCache,
    backend: Arc<dyn Backend>,
    ready_timeout: Duration,
    /// Set when a graceful drain starts: readiness answers 503 from then on.
    draining: Arc<AtomicBool>,
}

/// A running ops listener.
pub struct OpsServer {
    addr: SocketAddr,
    handle: actix_web::dev::ServerHandle,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    draining: Arc<AtomicBool>,
}

impl OpsServer {
    /// The bound address (port 0 resolved).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// A graceful drain has started: `/health/ready` answers 503 from now
    /// on (a load balancer stops sending new requests), while the ops
    /// listener stays up for probes and scrapes until [`OpsServer::stop`].
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    /// Stops at once (probes and scrapes are short and idempotent).
    pub async fn stop(self) {
        self.handle.stop(false).await;
        let _ = self.task.await;
    }
}

/// Binds `listen` and serves the ops endpoints on one worker.
///
/// `backend` should be the unmetered one: probes are not S3 traffic.
pub fn start(
    listen: SocketAddr,
    metrics: Arc<Metrics>,
    keys: s3gw_auth_cache::KeyCache,
    backend: Arc<dyn Backend>,
    ready_timeout: Duration,
) -> anyhow::Result<OpsServer> {
    let draining = Arc::new(AtomicBool::new(false));
    let state = web::Data::new(OpsState {
        metrics,
        keys,
        backend,
        ready_timeout,
        draining: draining.clone(),
    });
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .route("/metrics", web::get().to(metrics_text))
            .route("/health/live", web::get().to(live))
            .route("/health/ready", web::get().to(ready))
    })
    .workers(1)
    .shutdown_timeout(1)
    .disable_signals()
    .bind(listen)
    .with_context(|| {
        format!(
            "binding ops.listen {listen} (another s3gw on this host? set ops.listen \
             (S3GW__OPS__LISTEN) to a free address, or to \"\" to turn the ops listener off)"
        )
    })?;
    let addr = *server.addrs().first().context("ops: no address bound")?;
    let srv = server.run();
    let handle = srv.handle();
    let task = tokio::spawn(srv);
    tracing::info!(target: "s3gw::ops", "ops server listening on http://{addr}");
    Ok(OpsServer {
        addr,
        handle,
        task,
        draining,
    })
}

async fn metrics_text(st: web::Data<OpsState>) -> HttpResponse {
    let mut out = String::with_capacity(16 << 10);
    st.metrics.render(&mut out);
    crate::metrics::render_key_cache(&mut out, &st.keys.stats());
    crate::metrics::finish(&mut out);
    HttpResponse::Ok()
        .content_type(crate::metrics::CONTENT_TYPE)
        .body(out)
}

async fn live() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("live\n")
}

async fn ready(st: web::Data<OpsState>) -> HttpResponse {
    if st.draining.load(Ordering::SeqCst) {
        return HttpResponse::ServiceUnavailable()
            .content_type("application/json")
            .body(r#"{"ready":false,"draining":true}"#);
    }
    let keys = st.keys.is_ready();
    let store = match tokio::time::timeout(st.ready_timeout, st.backend.ready()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {:?}", st.ready_timeout)),
    };
    let directory = st.keys.directory_ok();
    let ok = keys && store.is_ok() && directory;
    if !ok {
        // The reason goes to the log; the body only says which check failed.
        tracing::debug!(target: "s3gw::ops", keys_loaded = keys, store = ?store, directory_within_grace = directory, "not ready");
    }
    let body = serde_json::json!({
        "ready": ok,
        "keys_loaded": keys,
        "store_reachable": store.is_ok(),
        "directory_within_grace": directory,
    });
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    HttpResponse::build(status)
        .content_type("application/json")
        .body(body.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use s3gw_translator::{BackendError, BackendResult};
    use std::sync::atomic::{AtomicBool, Ordering};

    /// A store whose readiness the test switches.
    struct Switch(AtomicBool);

    #[async_trait::async_trait]
    impl Backend for Switch {
        async fn ready(&self) -> BackendResult<()> {
            if self.0.load(Ordering::SeqCst) {
                Ok(())
            } else {
                Err(BackendError::ServiceUnavailable("stopped".into()))
            }
        }
    }

    #[test]
    fn config_errors_name_the_key() {
        let c = OpsConfig {
            listen: "nope".into(),
            ..OpsConfig::default()
        };
        assert!(c.validate().unwrap_err().to_string().contains("ops.listen"));
        let c = OpsConfig {
            ready_timeout: Duration::ZERO,
            ..OpsConfig::default()
        };
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("ops.ready_timeout"));
        assert_eq!(
            OpsConfig::default().listen_addr().unwrap(),
            Some("127.0.0.1:9480".parse().unwrap())
        );
        let off = OpsConfig {
            listen: String::new(),
            ..OpsConfig::default()
        };
        assert_eq!(off.listen_addr().unwrap(), None);
    }

    #[actix_web::test]
    async fn endpoints_follow_the_store_and_the_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.toml");
        std::fs::write(&path, "").unwrap();
        let keys = s3gw_auth_cache::KeyCache::start(s3gw_auth_cache::KeySourceConfig::File(
            s3gw_auth_cache::FileSourceConfig::new(&path),
        ))
        .await
        .unwrap();
        let store = Arc::new(Switch(AtomicBool::new(false)));
        let ops = start(
            "127.0.0.1:0".parse().unwrap(),
            Metrics::new(),
            keys.clone(),
            store.clone(),
            Duration::from_secs(5),
        )
        .unwrap();
        let base = format!("http://{}", ops.local_addr());
        let http = s3gw_tests::buckets_lite::http_client();
        let get = |path: &str| {
            let req = http.get(format!("{base}{path}"));
            async move {
                let r = req.send().await.unwrap();
                let status = r.status().as_u16();
                let ctype = r
                    .headers()
                    .get("content-type")
                    .map(|v| v.to_str().unwrap().to_owned())
                    .unwrap_or_default();
                (status, ctype, r.text().await.unwrap())
            }
        };
        assert_eq!(get("/health/live").await.0, 200);
        let (status, _, body) = get("/health/ready").await;
        assert_eq!(status, 503, "{body}");
        assert!(body.contains("\"store_reachable\":false"), "{body}");
        store.0.store(true, Ordering::SeqCst);
        assert_eq!(get("/health/ready").await.0, 200);
        let (status, ctype, m) = get("/metrics").await;
        assert_eq!(status, 200);
        assert_eq!(ctype, crate::metrics::CONTENT_TYPE);
        assert!(m.contains("s3gw_keycache_ready 1\n"), "{m}");
        assert_eq!(get("/nothing").await.0, 404);
        ops.stop().await;
        keys.shutdown().await;
    }

    /// Ready = store reachable AND (directory reachable or within grace):
    /// a frozen directory makes the instance unready once the grace runs
    /// out, and ready again when it answers.
    #[actix_web::test]
    async fn readiness_follows_the_directory_grace() {
        use s3gw_tests::slapd::{Slapd, GATEWAY_DN, GATEWAY_PW};
        let slapd = Slapd::start_plain().await;
        let mut cfg = s3gw_auth_cache::LdapConfig::new(slapd.url(), GATEWAY_DN, GATEWAY_PW);
        cfg.poll_interval = Duration::from_millis(300);
        cfg.operation_timeout = Duration::from_secs(30);
        cfg.grace = Duration::from_secs(2);
        let keys = s3gw_auth_cache::KeyCache::start(s3gw_auth_cache::KeySourceConfig::Ldap(cfg))
            .await
            .unwrap();
        let store = Arc::new(Switch(AtomicBool::new(true)));
        let ops = start(
            "127.0.0.1:0".parse().unwrap(),
            Metrics::new(),
            keys.clone(),
            store,
            Duration::from_secs(5),
        )
        .unwrap();
        let url = format!("http://{}/health/ready", ops.local_addr());
        let http = s3gw_tests::buckets_lite::http_client();
        let status = || {
            let req = http.get(&url);
            async move {
                let r = req.send().await.unwrap();
                (r.status().as_u16(), r.text().await.unwrap())
            }
        };
        let deadline = Duration::from_secs(60);
        let t0 = std::time::Instant::now();
        while status().await.0 != 200 {
            assert!(t0.elapsed() < deadline, "never ready");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        slapd.pause();
        let t0 = std::time::Instant::now();
        let body = loop {
            let (code, body) = status().await;
            if code == 503 {
                break body;
            }
            assert!(t0.elapsed() < deadline, "still ready past the grace");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert!(body.contains("\"directory_within_grace\":false"), "{body}");
        assert!(body.contains("\"store_reachable\":true"), "{body}");
        slapd.resume();
        let t0 = std::time::Instant::now();
        while status().await.0 != 200 {
            assert!(
                t0.elapsed() < deadline,
                "not ready after the directory came back"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        ops.stop().await;
        keys.shutdown().await;
    }
}
