//! buckets-lite: a single-node server of the native Manta buckets API
//! (`shared/buckets-api.md`), for development, tests, small installs and the
//! gateway's embedded default.
//!
//! Metadata lives in SQLite (WAL), bodies in files; a PUT streams to a temp
//! file while computing its MD5, fsyncs it, and commits the row in the same
//! transaction that re-checks the request's conditions, so a crash at any
//! moment leaves each object as it was or as the completed write. Requests
//! are authenticated with HTTP Signatures ([`s3gw_httpsig`]) against the
//! accounts of the TOML configuration; operators may act on any account,
//! including accounts the file does not list (their namespace exists
//! implicitly, since the gateway's tenants come from LDAP).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let config = buckets_lite::Config::from_file(std::path::Path::new("buckets-lite.toml"))?;
//! let server = buckets_lite::start(config).await?;
//! println!("listening on {}", server.local_addr());
//! server.stop().await;
//! # Ok(()) }
//! ```
//!
//! # Layout
//! - [`config`]: the TOML file (accounts, keys, named limits).
//! - [`server`]: [`start`] / [`Server`] for embedding; the binary wraps it.
//! - `handlers`: routing and one function per API row.
//! - `auth`: HTTP Signature verification and the operators rule.
//! - `conditions`: If-* headers and Range.
//! - `compose`: the compose extension (an object made server-side from
//!   stored objects; off unless `[extensions] compose = true`).
//! - `store`: SQLite metadata, body files, crash cleanup, listing walk.
//! - [`names`]: bucket and object name newtypes.
//! - [`error`]: the native error table.

pub mod config;
pub mod error;
pub mod names;
pub mod server;

mod auth;
mod bodies;
mod compose;
mod conditions;
mod handlers;
mod store;

pub use config::{Config, ConfigError, Extensions, Limits};
pub use server::{start, Server, StartError};
