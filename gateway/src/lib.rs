//! s3gw: the S3 face of the gateway.
//!
//! # Layout
//! - [`config`]: `s3gw.toml` + `S3GW__SECTION__KEY`, typed and validated.
//! - [`cli`]: the `s3gw` command line.
//! - [`server`]: actix-web with one default service, TLS, request ids,
//!   spans, graceful shutdown; [`server::start`] runs a gateway in-process.
//! - [`http_layer`]: the connection wrapper that turns the answers
//!   actix-http writes itself (unparseable or late request heads) into S3
//!   error documents with request ids.
//! - [`embedded`]: the embedded default (buckets-lite in-process, operator
//!   key, development keys file).
//! - [`addressing`]: Host + raw path -> bucket and key (path-style and
//!   virtual-host from the configured service domains).
//! - [`router`]: the one [`router::Endpoint`] enum and the pure function
//!   that picks it.
//! - [`auth`]: SigV2 / SigV4 signatures -> the caller's identity.
//! - [`body`]: request bodies verified while streaming (aws-chunked,
//!   digests, checksums).
//! - [`handlers`]: one match over `Endpoint` calling the translator's
//!   `Backend`, and the one backend-error mapping.
//! - [`post_policy`]: browser POST uploads: form fields, the POST policy
//!   and its conditions, the form's signature.
//! - [`xml`]: request documents (parsed with limits) and every response
//!   document.
//! - [`error`]: the one S3 error table.
//! - [`metrics`]: counters and histograms (Prometheus text), and the
//!   metered `Backend` wrapper.
//! - [`access_log`]: the per-request meter and the `s3gw::access` line.
//! - [`ops`]: the `[ops]` listener: `/metrics`, `/health/live`,
//!   `/health/ready`.
//! - [`keys_cli`]: `s3gw keys ...`, tenant key administration.

pub mod access_log;
pub mod addressing;
pub mod auth;
pub mod body;
pub mod cli;
pub mod config;
pub mod embedded;
pub mod error;
pub mod handlers;
pub mod http_layer;
pub mod keys_cli;
pub mod metrics;
pub mod ops;
pub mod post_policy;
pub mod router;
pub mod server;
pub mod xml;

#[cfg(test)]
mod fuzz;
