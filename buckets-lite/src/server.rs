//! Starting and stopping the HTTP server (library API for embedding).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use actix_web::{web, App, HttpServer};

use crate::config::{Accounts, Config, ConfigError};
use crate::handlers::{dispatch, State};
use crate::store::Store;

/// The server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("opening the data directory {path}: {source}")]
    Store {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("binding {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// A running server.
pub struct Server {
    addr: SocketAddr,
    handle: actix_web::dev::ServerHandle,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Server {
    /// The bound address (the real port when the config said port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Graceful stop: stop accepting, finish in-flight requests, return.
    pub async fn stop(self) {
        self.handle.stop(true).await;
        let _ = self.task.await;
    }
}

/// Opens the store (cleaning `tmp/` and orphan bodies), binds, and runs the
/// server on the current tokio runtime (actix workers on their own threads).
pub async fn start(config: Config) -> Result<Server, StartError> {
    let data_dir = config.data_dir.clone().ok_or(ConfigError::NoDataDir)?;
    let accounts = Accounts::build(&config.accounts)?;
    let readers = config.limits.reader_connections;
    let dir = data_dir.clone();
    let store = tokio::task::spawn_blocking(move || Store::open(&dir, readers))
        .await
        .map_err(|e| StartError::Store {
            path: data_dir.clone(),
            source: std::io::Error::other(e.to_string()),
        })?
        .map_err(|source| StartError::Store {
            path: data_dir.clone(),
            source,
        })?;
    let counters = Arc::new(crate::handlers::Counters::default());
    let accepted = counters.clone();
    let state = web::Data::new(State {
        store: Arc::new(store),
        accounts,
        limits: config.limits.clone(),
        extensions: config.extensions.clone(),
        server_name: config
            .server_name
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        counters,
    });
    let listener =
        std::net::TcpListener::bind(config.listen).map_err(|source| StartError::Bind {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| StartError::Bind {
        addr: config.listen,
        source,
    })?;
    let mut http = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .default_service(web::to(dispatch))
    })
    .on_connect(move |_, _| {
        accepted
            .connections
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    })
    .keep_alive(config.limits.keep_alive)
    // Headers and a small body go out as separate writes; without NODELAY
    // the body waits for the client's delayed ACK (~40 ms per request).
    .tcp_nodelay(true)
    .disable_signals()
    .shutdown_timeout(30);
    if let Some(w) = config.limits.workers {
        http = http.workers(w.max(1));
    }
    let server = http
        .listen(listener)
        .map_err(|source| StartError::Bind {
            addr: config.listen,
            source,
        })?
        .run();
    let handle = server.handle();
    let task = tokio::spawn(server);
    tracing::info!(%addr, data_dir = %data_dir.display(), "buckets-lite started");
    Ok(Server { addr, handle, task })
}
