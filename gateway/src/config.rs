//! Configuration: `s3gw.toml` layered with `S3GW__SECTION__KEY` environment
//! variables (the `config` crate, as zero-to-production's
//! `configuration.rs`), typed, and validated at start with messages that
//! name the key at fault. Every key, its meaning and its default are in
//! `etc/s3gw.toml`; a test checks that file parses to [`Config::default`].
//!
//! Sections: `[server]`, `[auth]` ([`crate::auth::AuthConfig`]), `[limits]`,
//! `[keys]` (auth-cache `KeySourceConfig`; absent: the embedded keys file),
//! `[backend]` (absent: the embedded buckets-lite), `[embedded]`, `[log]`,
//! `[ops]` ([`crate::ops::OpsConfig`]: metrics and health listener).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::auth::AuthConfig;
use crate::body::BodyLimits;

/// Why the configuration was refused. The message names the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Load(#[from] config::ConfigError),
    #[error("configuration: {key}: {message}")]
    Invalid { key: &'static str, message: String },
}

fn invalid(key: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        message: message.into(),
    }
}

/// The whole configuration.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub auth: AuthConfig,
    pub limits: Limits,
    /// Where access keys come from. Absent: `<embedded.data_dir>/keys.toml`,
    /// created with one development key on first start.
    pub keys: Option<s3gw_auth_cache::KeySourceConfig>,
    /// The native buckets-API store. Absent: an embedded buckets-lite.
    pub backend: Option<BackendConfig>,
    pub embedded: EmbeddedConfig,
    pub log: LogConfig,
    pub ops: crate::ops::OpsConfig,
}

/// `[server]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on; port 0 picks a free port (printed at start).
    /// Default `127.0.0.1:7480`.
    pub listen: String,
    /// Service domains for virtual-host addressing: `Host: <bucket>.<domain>`
    /// names a bucket. Empty with the embedded default means `localhost`
    /// and `s3.localhost`. Default empty.
    pub domains: Vec<String>,
    /// TLS certificate chain (PEM). With `tls_key`, the server speaks HTTPS
    /// only. A wildcard certificate (`*.s3.example.com` plus
    /// `s3.example.com`) serves every bucket subdomain. Default none.
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM: PKCS#8, PKCS#1 or SEC1). Default none.
    pub tls_key: Option<PathBuf>,
    /// Seconds in-flight requests get to finish after SIGTERM/SIGINT before
    /// connections are closed. Default 30.
    pub shutdown_timeout_secs: u64,
    /// Worker threads; 0 = one per CPU. Default 0.
    pub workers: usize,
    /// The region GetBucketLocation reports (empty for us-east-1, as S3).
    /// Default `us-east-1`.
    pub region: String,
    /// CompleteMultipartUpload: if assembly takes longer than this many
    /// milliseconds, answer 200 at once and keep the connection alive with
    /// whitespace, then send the result or an `<Error>` document, as S3
    /// does. Default 2000.
    pub complete_keepalive_after_ms: u64,
    /// Interval between keep-alive whitespace bytes, in milliseconds.
    /// Default 5000.
    pub complete_keepalive_interval_ms: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: "127.0.0.1:7480".into(),
            domains: Vec::new(),
            tls_cert: None,
            tls_key: None,
            shutdown_timeout_secs: 30,
            workers: 0,
            region: "us-east-1".into(),
            complete_keepalive_after_ms: 2000,
            complete_keepalive_interval_ms: 5000,
        }
    }
}

/// `[limits]`: every input has a named limit (style.md habit 5).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Most bytes of request header names and values together; beyond it:
    /// 400 RequestHeaderSectionTooLarge. S3 allows 8 KiB of headers plus
    /// 2 KiB of user metadata; presigned-looking SDK requests stay far
    /// below. Default 16384.
    pub max_header_bytes: usize,
    /// Largest XML request body (DeleteObjects, CompleteMultipartUpload,
    /// CreateBucketConfiguration): MaxMessageLengthExceeded beyond it. A
    /// 10,000-part Complete is about 1 MiB. Default 2097152.
    pub max_xml_body_bytes: usize,
    /// Most keys one DeleteObjects may name (S3: 1000). Default 1000.
    pub max_delete_keys: usize,
    /// Largest object one PutObject may write (S3: 5 TiB).
    pub max_object_size: u64,
    /// Largest part one UploadPart may write (S3: 5 GiB).
    pub max_part_size: u64,
    /// Most bytes of `x-amz-meta-*` names and values (S3: 2 KiB); beyond it:
    /// MetadataTooLarge. Default 2048.
    pub max_user_metadata_bytes: usize,
    /// Largest aws-chunked chunk (held until its signature verifies).
    /// Default 16 MiB.
    pub max_chunk_size: usize,
    /// Smallest signed aws-chunked chunk but the last (S3: 8192).
    pub min_chunk_size: usize,
    /// Longest aws-chunked chunk header line. Default 4096.
    pub max_chunk_header_bytes: usize,
    /// Most bytes of aws-chunked trailer lines. Default 16384.
    pub max_trailer_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        let b = BodyLimits::default();
        Limits {
            max_header_bytes: 16 << 10,
            max_xml_body_bytes: 2 << 20,
            max_delete_keys: 1000,
            max_object_size: 5 << 40,
            max_part_size: 5 << 30,
            max_user_metadata_bytes: 2048,
            max_chunk_size: b.max_chunk_size,
            min_chunk_size: b.min_chunk_size,
            max_chunk_header_bytes: b.max_chunk_header_bytes,
            max_trailer_bytes: b.max_trailer_bytes,
        }
    }
}

impl Limits {
    /// The body verifier's limits for a write of at most `max_object_size`.
    pub fn body_limits(&self, max_object_size: u64) -> BodyLimits {
        BodyLimits {
            max_chunk_size: self.max_chunk_size,
            min_chunk_size: self.min_chunk_size,
            max_object_size,
            max_chunk_header_bytes: self.max_chunk_header_bytes,
            max_trailer_bytes: self.max_trailer_bytes,
        }
    }
}

/// `[backend]`: an external native buckets-API store.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendConfig {
    /// Base URL of the store, e.g. `https://manta.example.com`. Required.
    pub url: String,
    /// Login of the operator account (in the store's `operators` group)
    /// that signs every native request. Required.
    pub operator_login: String,
    /// The operator's private key file (OpenSSH or PEM). Required. ECDSA
    /// P-256 (or P-521, RSA): a real buckets-api refuses the signatures of
    /// Ed25519 and P-384 keys, so those fail the start.
    pub operator_key_file: PathBuf,
    /// PEM file of the CA that signs an `https://` store's certificate (a
    /// private CA). Default: the platform's trust store.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Seconds to open a connection to the store. Default 5.
    #[serde(default = "d_connect")]
    pub connect_timeout_secs: u64,
    /// Longest silence, in seconds, while waiting for or reading a native
    /// response. Default 60.
    #[serde(default = "d_request")]
    pub request_timeout_secs: u64,
    /// Age in seconds after which an unfinished multipart upload is swept.
    /// Default 604800 (7 days).
    #[serde(default = "d_upload_ttl")]
    pub upload_ttl_secs: u64,
}

fn d_connect() -> u64 {
    5
}
fn d_request() -> u64 {
    60
}
fn d_upload_ttl() -> u64 {
    7 * 24 * 3600
}

/// `[embedded]`: the in-process buckets-lite used when `[backend]` is absent.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmbeddedConfig {
    /// Data directory: `store/` (objects and metadata), `operator.key`,
    /// `keys.toml`. Default `./s3gw-data`.
    pub data_dir: PathBuf,
}

impl Default for EmbeddedConfig {
    fn default() -> Self {
        EmbeddedConfig {
            data_dir: PathBuf::from("./s3gw-data"),
        }
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// `[log]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `text` or `json` (one object per line), on stderr. Default `text`.
    pub format: LogFormat,
    /// A `tracing` filter (`info`, `s3gw=debug,info`, ...); `RUST_LOG`
    /// overrides it. Default `info`.
    pub filter: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Text,
            filter: "info".into(),
        }
    }
}

impl Config {
    /// Loads `file` (if any) layered with `S3GW__SECTION__KEY` environment
    /// variables, then validates. `S3GW__SERVER__DOMAINS` takes a
    /// comma-separated list.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let mut b = config::Config::builder();
        if let Some(f) = file {
            b = b.add_source(
                config::File::from(f)
                    .format(config::FileFormat::Toml)
                    .required(true),
            );
        }
        b = b.add_source(
            config::Environment::with_prefix("S3GW")
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true)
                .list_separator(",")
                .with_list_parse_key("server.domains"),
        );
        let cfg: Config = b.build()?.try_deserialize()?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Parses a TOML document (no environment), then validates.
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        let cfg: Config = config::Config::builder()
            .add_source(config::File::from_str(text, config::FileFormat::Toml))
            .build()?
            .try_deserialize()?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks what types cannot: addresses, file pairs, ranges.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.listen_addr()?;
        match (&self.server.tls_cert, &self.server.tls_key) {
            (Some(c), Some(k)) => {
                for (key, p) in [("server.tls_cert", c), ("server.tls_key", k)] {
                    if !p.is_file() {
                        return Err(invalid(
                            key,
                            format!("{} is not a readable file", p.display()),
                        ));
                    }
                }
            }
            (None, None) => {}
            _ => {
                return Err(invalid(
                    "server.tls_cert",
                    "tls_cert and tls_key must be set together",
                ))
            }
        }
        for d in &self.server.domains {
            let ok = !d.is_empty()
                && d.split('.').all(|l| {
                    !l.is_empty() && l.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
                });
            if !ok {
                return Err(invalid(
                    "server.domains",
                    format!("{d:?} is not a DNS name"),
                ));
            }
        }
        let l = &self.limits;
        if l.max_delete_keys == 0 || l.max_delete_keys > 1000 {
            return Err(invalid(
                "limits.max_delete_keys",
                "must be between 1 and 1000",
            ));
        }
        if l.min_chunk_size > l.max_chunk_size {
            return Err(invalid(
                "limits.min_chunk_size",
                "must not exceed limits.max_chunk_size",
            ));
        }
        if l.max_xml_body_bytes < 1024 {
            return Err(invalid(
                "limits.max_xml_body_bytes",
                "must be at least 1024",
            ));
        }
        if self.auth.max_presign_lifetime > Duration::from_secs(7 * 24 * 3600) {
            return Err(invalid(
                "auth.max_presign_lifetime",
                "must not exceed 604800 (7 days)",
            ));
        }
        if let Some(b) = &self.backend {
            if !(b.url.starts_with("http://") || b.url.starts_with("https://")) {
                return Err(invalid(
                    "backend.url",
                    format!("{:?} is not an http(s) URL", b.url),
                ));
            }
            if !b.operator_key_file.is_file() {
                return Err(invalid(
                    "backend.operator_key_file",
                    format!("{} is not a readable file", b.operator_key_file.display()),
                ));
            }
        }
        self.ops.validate()?;
        if self.server.complete_keepalive_interval_ms == 0 {
            return Err(invalid(
                "server.complete_keepalive_interval_ms",
                "must be positive",
            ));
        }
        Ok(())
    }

    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.server.listen.parse().map_err(|e| {
            invalid(
                "server.listen",
                format!(
                    "{:?} is not an address like 127.0.0.1:7480: {e}",
                    self.server.listen
                ),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_example_parses_to_the_defaults() {
        let text = include_str!("../../etc/s3gw.toml");
        let c = Config::from_toml(text).unwrap();
        let d = Config::default();
        assert_eq!(c.server.listen, d.server.listen);
        assert_eq!(c.server.domains, d.server.domains);
        assert_eq!(
            c.server.shutdown_timeout_secs,
            d.server.shutdown_timeout_secs
        );
        assert_eq!(c.server.region, d.server.region);
        assert_eq!(c.limits, d.limits);
        assert_eq!(c.auth.max_clock_skew, d.auth.max_clock_skew);
        assert_eq!(c.auth.sigv2_enabled, d.auth.sigv2_enabled);
        assert_eq!(c.embedded.data_dir, d.embedded.data_dir);
        assert_eq!(c.log.filter, d.log.filter);
        assert_eq!(c.ops, d.ops);
        assert!(c.backend.is_none() && c.keys.is_none());
    }

    #[test]
    fn errors_name_the_key() {
        let e = Config::from_toml("[server]\nlisten = \"nope\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("server.listen"), "{e}");
        let e = Config::from_toml("[server]\ntls_cert = \"/nonexistent\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("server.tls_cert"), "{e}");
        let e = Config::from_toml("[limits]\nmax_delete_keys = 5000\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("limits.max_delete_keys"), "{e}");
        let e = Config::from_toml("[server]\nlisten_typo = 1\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("listen_typo"), "{e}");
        let e = Config::from_toml("[server]\ndomains = [\"bad domain\"]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("server.domains"), "{e}");
    }

    #[test]
    fn sections_parse() {
        let c = Config::from_toml(
            "[server]\nlisten = \"0.0.0.0:0\"\ndomains = [\"s3.example.com\"]\n\
             [auth]\nsigv2_enabled = false\nmax_clock_skew = 60\n\
             [limits]\nmax_delete_keys = 10\n\
             [keys]\nsource = \"file\"\npath = \"/tmp/keys.toml\"\n\
             [log]\nformat = \"json\"\n",
        )
        .unwrap();
        assert_eq!(c.listen_addr().unwrap().port(), 0);
        assert!(!c.auth.sigv2_enabled);
        assert_eq!(c.auth.max_clock_skew, Duration::from_secs(60));
        assert_eq!(c.limits.max_delete_keys, 10);
        assert_eq!(c.log.format, LogFormat::Json);
        assert!(matches!(
            c.keys,
            Some(s3gw_auth_cache::KeySourceConfig::File(_))
        ));
    }
}
