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
//!
//! Every duration is written one way (the `s3gw-duration` crate): a
//! humantime string (`"500ms"`, `"30s"`, `"15m"`, `"1h 30m"`) or a bare
//! number of seconds. The keys that carried their unit in their name
//! (`*_ms`, `*_secs`, listed in [`RENAMED`]) are still read, in their old
//! unit, with one deprecation warning each; setting both forms is an error.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use s3gw_duration::{Renamed, Unit};
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
    /// One warning per deprecated key that was read, logged by
    /// [`Config::log_deprecations`] once logging is set up.
    #[serde(skip)]
    pub deprecations: Vec<String>,
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
    /// Time in-flight requests get to finish after SIGTERM/SIGINT before
    /// connections are closed (whole seconds; a fraction rounds up).
    /// Default `"30s"`.
    #[serde(deserialize_with = "s3gw_duration::deserialize")]
    pub shutdown_timeout: Duration,
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
    /// CORS, tags) may be in this instance: a change made through another
    /// instance is seen within this bound. Default `"2s"`.
    #[serde(deserialize_with = "s3gw_duration::deserialize")]
    pub bucket_config_cache: Duration,
    /// Declares that the store encrypts every object at rest (e.g. Manta on
    /// encrypted pools). On: `x-amz-server-side-encryption: AES256` is
    /// accepted and echoed, and GetBucketEncryption answers the AES256
    /// default. Off: every server-side-encryption header is refused (501),
    /// since nothing would encrypt the data. Default false.
    pub store_encrypts_at_rest: bool,
    /// CompleteMultipartUpload: if assembly takes longer than this, answer
    /// 200 at once and keep the connection alive with whitespace, then send
    /// the result or an `<Error>` document, as S3 does. Default `"2s"`.
    #[serde(deserialize_with = "s3gw_duration::deserialize")]
    pub complete_keepalive_after: Duration,
    /// Interval between keep-alive whitespace bytes. Default `"5s"`.
    #[serde(deserialize_with = "s3gw_duration::deserialize")]
    pub complete_keepalive_interval: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: "127.0.0.1:7480".into(),
            domains: Vec::new(),
            tls_cert: None,
            tls_key: None,
            shutdown_timeout: Duration::from_secs(30),
            workers: 0,
            region: "us-east-1".into(),
            regions: Vec::new(),
            bucket_config_cache: Duration::from_secs(2),
            store_encrypts_at_rest: false,
            complete_keepalive_after: Duration::from_secs(2),
            complete_keepalive_interval: Duration::from_secs(5),
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
    /// Longest wait for the next bytes of a request body; beyond it: 400
    /// RequestTimeout and the upload is aborted (S3 uses about 20 s).
    /// Default `"20s"`.
    #[serde(deserialize_with = "s3gw_duration::deserialize")]
    pub body_idle_timeout: Duration,
    /// Longest time a client may take to send a connection's first request
    /// head; beyond it: 400 RequestTimeout (the HTTP layer's 408 as S3
    /// answers it) and the connection closes. Default `"10s"`.
    #[serde(deserialize_with = "s3gw_duration::deserialize")]
    pub header_timeout: Duration,
    /// How long an idle keep-alive connection stays open. Default `"5s"`.
    #[serde(deserialize_with = "s3gw_duration::deserialize")]
    pub keep_alive: Duration,
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
            body_idle_timeout: Duration::from_secs(20),
            header_timeout: Duration::from_secs(10),
            keep_alive: Duration::from_secs(5),
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
    /// Time to open a connection to the store. Default `"5s"`.
    #[serde(default = "d_connect", deserialize_with = "s3gw_duration::deserialize")]
    pub connect_timeout: Duration,
    /// Longest silence while waiting for or reading a native response.
    /// Default `"60s"`.
    #[serde(default = "d_request", deserialize_with = "s3gw_duration::deserialize")]
    pub request_timeout: Duration,
    /// Age after which an unfinished multipart upload is swept. Default
    /// `"7days"`.
    #[serde(
        default = "d_upload_ttl",
        deserialize_with = "s3gw_duration::deserialize"
    )]
    pub upload_ttl: Duration,
}

fn d_connect() -> Duration {
    Duration::from_secs(5)
}
fn d_request() -> Duration {
    Duration::from_secs(60)
}
fn d_upload_ttl() -> Duration {
    Duration::from_secs(7 * 24 * 3600)
}

/// The deprecated duration keys, each read in its old unit.
pub const RENAMED: &[Renamed] = &[
    renamed(
        "server.shutdown_timeout_secs",
        "server.shutdown_timeout",
        Unit::Secs,
    ),
    renamed(
        "server.bucket_config_cache_ms",
        "server.bucket_config_cache",
        Unit::Millis,
    ),
    renamed(
        "server.complete_keepalive_after_ms",
        "server.complete_keepalive_after",
        Unit::Millis,
    ),
    renamed(
        "server.complete_keepalive_interval_ms",
        "server.complete_keepalive_interval",
        Unit::Millis,
    ),
    renamed(
        "limits.body_idle_timeout_ms",
        "limits.body_idle_timeout",
        Unit::Millis,
    ),
    renamed(
        "limits.header_timeout_ms",
        "limits.header_timeout",
        Unit::Millis,
    ),
    renamed("limits.keep_alive_secs", "limits.keep_alive", Unit::Secs),
    renamed(
        "backend.connect_timeout_secs",
        "backend.connect_timeout",
        Unit::Secs,
    ),
    renamed(
        "backend.request_timeout_secs",
        "backend.request_timeout",
        Unit::Secs,
    ),
    renamed("backend.upload_ttl_secs", "backend.upload_ttl", Unit::Secs),
    renamed("ops.ready_timeout_ms", "ops.ready_timeout", Unit::Millis),
];

const fn renamed(old: &'static str, new: &'static str, unit: Unit) -> Renamed {
    Renamed { old, new, unit }
}

/// Moves each deprecated key's value to its new key (as a duration
/// string), returning one warning per key moved. Both set: an error.
fn apply_renames(
    root: &mut config::Map<String, config::Value>,
) -> Result<Vec<String>, ConfigError> {
    let mut warnings = Vec::new();
    for r in RENAMED {
        let Some(section) = root.get_mut(r.section()) else {
            continue;
        };
        let config::ValueKind::Table(t) = &mut section.kind else {
            continue;
        };
        let (old, new) = r.leaf_names();
        let Some(v) = t.remove(old) else { continue };
        if t.contains_key(new) {
            return Err(invalid(r.new, r.both_set()));
        }
        let d = match &v.kind {
            config::ValueKind::I64(n) => r.convert(Some(*n), None),
            config::ValueKind::U64(n) => r.convert(Some(i64::try_from(*n).unwrap_or(-1)), None),
            config::ValueKind::String(s) => r.convert(None, Some(s)),
            _ => r.convert(None, None),
        }
        .map_err(|m| invalid(r.old, m))?;
        warnings.push(r.warning(d));
        t.insert(
            new.to_owned(),
            config::Value::new(None, config::ValueKind::String(s3gw_duration::format(d))),
        );
    }
    Ok(warnings)
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
        let deprecations = apply_renames(&mut root)?;
        let keys = match root.remove("keys") {
            None => None,
            Some(v) => Some(key_source(v)?),
        };
        let mut cfg: Config =
            config::Value::new(None, config::ValueKind::Table(root)).try_deserialize()?;
        cfg.keys = keys;
        cfg.deprecations = deprecations;
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
        for (key, zero) in [
            ("limits.body_idle_timeout", l.body_idle_timeout.is_zero()),
            ("limits.header_timeout", l.header_timeout.is_zero()),
            ("limits.max_connections", l.max_connections == 0),
        ] {
            if zero {
                return Err(invalid(key, "must be above 0"));
            }
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
        if self.server.complete_keepalive_interval.is_zero() {
            return Err(invalid(
                "server.complete_keepalive_interval",
                "must be positive",
            ));
        }
        Ok(())
    }

    /// Logs one warning per deprecated key read (call once logging is set
    /// up: the configuration is read before, as it says how to log).
    pub fn log_deprecations(&self) {
        for w in &self.deprecations {
            tracing::warn!("{w}");
        }
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
        assert_eq!(c.server.shutdown_timeout, d.server.shutdown_timeout);
        assert_eq!(c.server.bucket_config_cache, d.server.bucket_config_cache);
        assert_eq!(
            c.server.complete_keepalive_after,
            d.server.complete_keepalive_after
        );
        assert_eq!(
            c.server.complete_keepalive_interval,
            d.server.complete_keepalive_interval
        );
        assert_eq!(c.auth.max_presign_lifetime, d.auth.max_presign_lifetime);
        assert!(c.deprecations.is_empty(), "{:?}", c.deprecations);
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

    #[test]
    fn durations_take_humantime_strings_and_bare_seconds() {
        let c = Config::from_toml(
            "[server]\nshutdown_timeout = \"1m 30s\"\nbucket_config_cache = \"250ms\"\n\
             complete_keepalive_after = \"1s\"\ncomplete_keepalive_interval = 0.5\n\
             [auth]\nmax_clock_skew = \"5m\"\nmax_presign_lifetime = 3600\n\
             [limits]\nbody_idle_timeout = \"20s\"\nheader_timeout = \"1h 30m\"\nkeep_alive = 7\n\
             [ops]\nready_timeout = \"750ms\"\n",
        )
        .unwrap();
        let s = Duration::from_secs;
        let ms = Duration::from_millis;
        assert_eq!(c.server.shutdown_timeout, s(90));
        assert_eq!(c.server.bucket_config_cache, ms(250));
        assert_eq!(c.server.complete_keepalive_after, s(1));
        assert_eq!(c.server.complete_keepalive_interval, ms(500));
        assert_eq!(c.auth.max_clock_skew, s(300));
        assert_eq!(c.auth.max_presign_lifetime, s(3600));
        assert_eq!(c.limits.body_idle_timeout, s(20));
        assert_eq!(c.limits.header_timeout, s(5400));
        assert_eq!(c.limits.keep_alive, s(7));
        assert_eq!(c.ops.ready_timeout, ms(750));
        assert!(c.deprecations.is_empty());
    }

    #[test]
    fn deprecated_unit_keys_are_read_in_their_unit_with_one_warning_each() {
        let c = Config::from_toml(
            "[server]\nshutdown_timeout_secs = 7\nbucket_config_cache_ms = 1500\n\
             complete_keepalive_after_ms = 100\ncomplete_keepalive_interval_ms = 50\n\
             [limits]\nbody_idle_timeout_ms = 1000\nheader_timeout_ms = 2000\nkeep_alive_secs = 3\n\
             [ops]\nready_timeout_ms = 900\n",
        )
        .unwrap();
        let s = Duration::from_secs;
        let ms = Duration::from_millis;
        assert_eq!(c.server.shutdown_timeout, s(7));
        assert_eq!(c.server.bucket_config_cache, ms(1500));
        assert_eq!(c.server.complete_keepalive_after, ms(100));
        assert_eq!(c.server.complete_keepalive_interval, ms(50));
        assert_eq!(c.limits.body_idle_timeout, s(1));
        assert_eq!(c.limits.header_timeout, s(2));
        assert_eq!(c.limits.keep_alive, s(3));
        assert_eq!(c.ops.ready_timeout, ms(900));
        assert_eq!(c.deprecations.len(), 8, "{:?}", c.deprecations);
        assert!(c.deprecations.contains(
            &"configuration key server.bucket_config_cache_ms is deprecated: \
              write server.bucket_config_cache = \"1s 500ms\" instead"
                .to_owned()
        ));

        let dir = std::env::temp_dir().join(format!("s3gw-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let key = dir.join("operator.key");
        std::fs::write(&key, "not read by validate").unwrap();
        let c = Config::from_toml(&format!(
            "[backend]\nurl = \"http://127.0.0.1:1\"\noperator_login = \"op\"\n\
             operator_key_file = {key:?}\nconnect_timeout_secs = 2\nrequest_timeout = \"90s\"\n\
             upload_ttl_secs = 86400\n"
        ))
        .unwrap();
        let b = c.backend.unwrap();
        assert_eq!(b.connect_timeout, s(2));
        assert_eq!(b.request_timeout, s(90));
        assert_eq!(b.upload_ttl, s(86_400));
        assert_eq!(c.deprecations.len(), 2, "{:?}", c.deprecations);
        let d = Config::from_toml(&format!(
            "[backend]\nurl = \"http://127.0.0.1:1\"\noperator_login = \"op\"\n\
             operator_key_file = {key:?}\n"
        ))
        .unwrap()
        .backend
        .unwrap();
        assert_eq!((d.connect_timeout, d.request_timeout), (s(5), s(60)));
        assert_eq!(d.upload_ttl, s(7 * 86_400));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_duration_set_twice_or_garbage_is_refused_naming_the_key() {
        let e = Config::from_toml("[limits]\nheader_timeout_ms = 1000\nheader_timeout = \"1s\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("limits.header_timeout_ms") && e.contains("both set"),
            "{e}"
        );
        for (toml, key) in [
            (
                "[limits]\nbody_idle_timeout = \"soon\"\n",
                "limits.body_idle_timeout",
            ),
            (
                "[limits]\nbody_idle_timeout = \"-1s\"\n",
                "limits.body_idle_timeout",
            ),
            (
                "[server]\nshutdown_timeout = -5\n",
                "server.shutdown_timeout",
            ),
            (
                "[auth]\nmax_clock_skew = \"15 minutes ago\"\n",
                "auth.max_clock_skew",
            ),
            ("[ops]\nready_timeout = true\n", "ops.ready_timeout"),
            (
                "[limits]\nbody_idle_timeout_ms = \"20s\"\n",
                "limits.body_idle_timeout_ms",
            ),
            (
                "[limits]\nbody_idle_timeout = \"0s\"\n",
                "limits.body_idle_timeout",
            ),
            (
                "[keys]\nsource = \"file\"\npath = \"/k\"\nreload_interval = \"x\"\n",
                "reload_interval",
            ),
        ] {
            let e = Config::from_toml(toml).unwrap_err().to_string();
            assert!(e.contains(key), "{toml}: {e}");
        }
    }

    #[test]
    fn environment_durations_take_humantime_strings_and_old_keys() {
        let c = Config::load_with_env(
            None,
            env(&[
                ("S3GW__LIMITS__BODY_IDLE_TIMEOUT", "1500ms"),
                ("S3GW__SERVER__SHUTDOWN_TIMEOUT", "1h 30m"),
                ("S3GW__AUTH__MAX_CLOCK_SKEW", "0123"),
                ("S3GW__OPS__READY_TIMEOUT_MS", "900"),
                ("S3GW__KEYS__SOURCE", "ldap"),
                ("S3GW__KEYS__URL", "ldap://127.0.0.1:389"),
                ("S3GW__KEYS__BIND_DN", "cn=root"),
                ("S3GW__KEYS__BIND_PASSWORD", "0123"),
                ("S3GW__KEYS__GRACE", "2h"),
            ]),
        )
        .unwrap();
        assert_eq!(c.limits.body_idle_timeout, Duration::from_millis(1500));
        assert_eq!(c.server.shutdown_timeout, Duration::from_secs(5400));
        assert_eq!(c.auth.max_clock_skew, Duration::from_secs(123));
        assert_eq!(c.ops.ready_timeout, Duration::from_millis(900));
        assert_eq!(c.deprecations.len(), 1, "{:?}", c.deprecations);
        let Some(s3gw_auth_cache::KeySourceConfig::Ldap(l)) = c.keys else {
            panic!("not ldap")
        };
        assert_eq!(l.grace, Duration::from_secs(7200));
        assert_eq!(l.bind_password.expose_str(), "0123");
        let e = Config::load_with_env(None, env(&[("S3GW__LIMITS__KEEP_ALIVE", "forever")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("limits.keep_alive"), "{e}");
    }
}
