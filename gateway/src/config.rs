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

use serde::{Deserialize, Deserializer};

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
    /// and `s3.localhost`. Default empty. A list, or one comma-separated
    /// string (`S3GW__SERVER__DOMAINS=a.example,b.example`).
    #[serde(deserialize_with = "list_or_csv")]
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
    /// More regions buckets may be created in (`LocationConstraint` at
    /// CreateBucket), besides `region`, which is where a bucket created
    /// without one lives. Any other constraint is refused as S3 refuses it.
    /// Default empty.
    pub regions: Vec<String>,
    /// How stale a bucket's cached configuration (its location; later ACL,
    /// CORS, tags) may be in this instance, in milliseconds: a change made
    /// through another instance is seen within this bound. Default 2000.
    pub bucket_config_cache_ms: u64,
    /// Declares that the store encrypts every object at rest (e.g. Manta on
    /// encrypted pools). On: `x-amz-server-side-encryption: AES256` is
    /// accepted and echoed, and GetBucketEncryption answers the AES256
    /// default. Off: every server-side-encryption header is refused (501),
    /// since nothing would encrypt the data. Default false.
    pub store_encrypts_at_rest: bool,
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
            regions: Vec::new(),
            bucket_config_cache_ms: 2000,
            store_encrypts_at_rest: false,
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
    /// Longest wait, in milliseconds, for the next bytes of a request body;
    /// beyond it: 400 RequestTimeout and the upload is aborted (S3 uses
    /// about 20 s). Default 20000.
    pub body_idle_timeout_ms: u64,
    /// Longest time, in milliseconds, a client may take to send a
    /// connection's first request head; beyond it: 400 RequestTimeout (the
    /// HTTP layer's 408 as S3 answers it) and the connection closes.
    /// Default 10000.
    pub header_timeout_ms: u64,
    /// Seconds an idle keep-alive connection stays open. Default 5.
    pub keep_alive_secs: u64,
    /// Most connections per worker thread at once (more wait in the listen
    /// backlog). Default 4096.
    pub max_connections: usize,
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
            body_idle_timeout_ms: 20_000,
            header_timeout_ms: 10_000,
            keep_alive_secs: 5,
            max_connections: 4096,
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

/// A list of strings, or one comma-separated string (what an environment
/// variable can say).
fn list_or_csv<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum ListOrCsv {
        List(Vec<String>),
        Csv(String),
    }
    Ok(match ListOrCsv::deserialize(d)? {
        ListOrCsv::List(v) => v,
        ListOrCsv::Csv(s) => s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
    })
}

impl Config {
    /// Loads `file` (if any) layered with `S3GW__SECTION__KEY` environment
    /// variables, then validates. `S3GW__SERVER__DOMAINS` takes a
    /// comma-separated list.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        Self::load_with_env(file, None)
    }

    /// As [`Config::load`], reading the variables from `env` instead of
    /// the process's environment when given.
    ///
    /// A variable's value is never reinterpreted: it reaches each key as
    /// the string it is and is converted to that key's type (so
    /// `S3GW__KEYS__BIND_PASSWORD=0123` is the password `0123`, and
    /// `S3GW__SERVER__WORKERS=4` the number 4). The `config` crate's
    /// `try_parsing` guesses a type from the text instead, which turns
    /// such a password into the number 123.
    pub fn load_with_env(
        file: Option<&Path>,
        env: Option<std::collections::HashMap<String, String>>,
    ) -> Result<Config, ConfigError> {
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
                .try_parsing(false)
                .source(env),
        );
        Self::from_built(b.build()?)
    }

    /// Parses a TOML document (no environment), then validates.
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        Self::from_built(
            config::Config::builder()
                .add_source(config::File::from_str(text, config::FileFormat::Toml))
                .build()?,
        )
    }

    /// Deserialises and validates. `[keys]` is read by its `source` tag
    /// here: serde buffers an internally tagged enum, and a buffered string
    /// (every value from the environment) no longer converts to a number
    /// or a boolean.
    fn from_built(built: config::Config) -> Result<Config, ConfigError> {
        let mut root: config::Map<String, config::Value> = built.try_deserialize()?;
        let keys = match root.remove("keys") {
            None => None,
            Some(v) => Some(key_source(v)?),
        };
        let mut cfg: Config =
            config::Value::new(None, config::ValueKind::Table(root)).try_deserialize()?;
        cfg.keys = keys;
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
        if l.body_idle_timeout_ms == 0 || l.header_timeout_ms == 0 || l.max_connections == 0 {
            return Err(invalid(
                "limits.body_idle_timeout_ms",
                "body_idle_timeout_ms, header_timeout_ms and max_connections must be above 0",
            ));
        }
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

    /// The listen address.
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

/// `[keys]`: the table of the variant its `source` names.
fn key_source(v: config::Value) -> Result<s3gw_auth_cache::KeySourceConfig, ConfigError> {
    use s3gw_auth_cache::KeySourceConfig as K;
    let mut t = v.into_table()?;
    let source = match t.remove("source") {
        Some(s) => s.into_string()?,
        None => return Err(invalid("keys.source", "required: \"ldap\" or \"file\"")),
    };
    let v = config::Value::new(None, config::ValueKind::Table(t));
    let in_keys = |e: config::ConfigError| invalid("keys", e.to_string());
    match source.as_str() {
        "ldap" => v.try_deserialize().map(K::Ldap).map_err(in_keys),
        "file" => v.try_deserialize().map(K::File).map_err(in_keys),
        other => Err(invalid(
            "keys.source",
            format!("{other:?} is not \"ldap\" or \"file\""),
        )),
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

    fn env(vars: &[(&str, &str)]) -> Option<std::collections::HashMap<String, String>> {
        Some(
            vars.iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    #[test]
    fn environment_values_keep_their_text_and_convert_to_the_key_type() {
        for pw in ["0123", "true", "123456", "1e3", " spaced "] {
            let c = Config::load_with_env(
                None,
                env(&[
                    ("S3GW__KEYS__SOURCE", "ldap"),
                    ("S3GW__KEYS__URL", "ldap://127.0.0.1:389"),
                    ("S3GW__KEYS__BIND_DN", "cn=root"),
                    ("S3GW__KEYS__BIND_PASSWORD", pw),
                    // a number and a boolean inside [keys] still convert
                    ("S3GW__KEYS__POLL_BATCH", "50"),
                    ("S3GW__KEYS__STARTTLS", "true"),
                    ("S3GW__KEYS__POLL_INTERVAL", "2.5"),
                ]),
            )
            .unwrap();
            let Some(s3gw_auth_cache::KeySourceConfig::Ldap(l)) = c.keys else {
                panic!("not ldap: {:?}", c.keys)
            };
            assert_eq!(l.bind_password.expose_str(), pw);
            assert_eq!(l.poll_batch, 50);
            assert!(l.starttls);
            assert_eq!(l.poll_interval, Duration::from_millis(2500));
        }
        let c = Config::load_with_env(
            None,
            env(&[
                ("S3GW__SERVER__WORKERS", "4"),
                ("S3GW__AUTH__SIGV2_ENABLED", "false"),
                ("S3GW__AUTH__REGION", "0123"),
                ("S3GW__SERVER__DOMAINS", "s3.example.com, s3.internal"),
                ("S3GW__LIMITS__MAX_DELETE_KEYS", "10"),
                ("S3GW__LOG__FORMAT", "json"),
            ]),
        )
        .unwrap();
        assert_eq!(c.server.workers, 4);
        assert!(!c.auth.sigv2_enabled);
        assert_eq!(c.auth.region.as_deref(), Some("0123"));
        assert_eq!(c.server.domains, vec!["s3.example.com", "s3.internal"]);
        assert_eq!(c.limits.max_delete_keys, 10);
        assert_eq!(c.log.format, LogFormat::Json);
        let e = Config::load_with_env(None, env(&[("S3GW__SERVER__WORKERS", "many")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("workers"), "{e}");
        let e = Config::load_with_env(None, env(&[("S3GW__KEYS__SOURCE", "nis")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("keys.source"), "{e}");
    }
}
