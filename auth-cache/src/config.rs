//! Where keys come from, as the gateway's TOML config says.
//!
//! The gateway embeds a [`KeySourceConfig`]; its `source` field picks the
//! variant. Durations are humantime strings (`"500ms"`, `"10s"`, `"15m"`)
//! or bare numbers of seconds (fractions allowed), as everywhere in the
//! configuration (the `s3gw-duration` crate). Every field but the ones
//! marked required has a default.
//!
//! ```toml
//! [keys]
//! source = "ldap"
//! url = "ldaps://ufds.example.com"             # required; ldap:// ldaps://
//! bind_dn = "cn=s3gw, o=smartdc"               # required
//! bind_password = "..."                        # required
//! # users_base = "ou=users, o=smartdc"
//! # changelog_base = "cn=changelog"
//! # latest_changenumber_dn = "cn=latestchangenumber"
//! # follow = "auto"                           # auto | changelog | syncrepl | poll
//! # poll_interval = "10s"
//! # reconcile_interval = "5m"
//! # miss_timeout = "2s"
//! # poll_batch = 1000
//! # page_size = 500
//! # negative_ttl = "10s"
//! # negative_max_entries = 10000
//! # miss_queries_per_second = 20.0
//! # miss_burst = 20
//! # grace = "15m"
//! # connect_timeout = "5s"
//! # operation_timeout = "10s"
//! # backoff_min = "500ms"
//! # backoff_max = "30s"
//! # starttls = false
//! # ca_file = "/etc/ssl/certs/ufds-ca.pem"
//! ```
//!
//! ```toml
//! [keys]
//! source = "file"
//! path = "/var/lib/s3gw/keys.toml"             # required
//! # reload_interval = "2s"
//! ```

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::types::SecretKey;

/// Which source feeds the cache.
// Built once at start-up: boxing the LDAP variant would only make the
// gateway's code noisier.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "source", rename_all = "lowercase")]
pub enum KeySourceConfig {
    /// A static TOML keys file (development, tests, the embedded default).
    File(FileSourceConfig),
    /// UFDS over LDAP.
    Ldap(LdapConfig),
}

/// The static keys file source.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSourceConfig {
    /// The keys file (format in the crate docs).
    pub path: PathBuf,
    /// How often the file's modification time and size are checked for a
    /// reload.
    #[serde(default = "d_reload", deserialize_with = "s3gw_duration::deserialize")]
    pub reload_interval: Duration,
}

impl FileSourceConfig {
    /// A config for `path` with default settings.
    pub fn new(path: impl Into<PathBuf>) -> FileSourceConfig {
        FileSourceConfig {
            path: path.into(),
            reload_interval: d_reload(),
        }
    }
}

/// The UFDS (LDAP) source.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LdapConfig {
    /// `ldap://host[:port]` or `ldaps://host[:port]`.
    pub url: String,
    /// The identity the cache binds as. It must be allowed to read
    /// `accesskeysecret` and `cn=changelog` (ufds.md) and nothing more.
    pub bind_dn: String,
    /// Its password (never logged).
    #[serde(deserialize_with = "secret")]
    pub bind_password: SecretKey,
    /// Base of the people and their keys.
    #[serde(default = "d_users_base")]
    pub users_base: String,
    /// Base of UFDS's change feed.
    #[serde(default = "d_changelog_base")]
    pub changelog_base: String,
    /// The entry whose `count` is the newest changenumber.
    #[serde(default = "d_latest")]
    pub latest_changenumber_dn: String,
    /// How changes are followed: `auto` (the default) uses UFDS's
    /// `cn=changelog` when the directory has one, else RFC 4533 syncrepl
    /// when the directory offers it (OpenLDAP's syncprov), else a
    /// `modifyTimestamp` poll; the choice is logged at start.
    #[serde(default)]
    pub follow: FollowMode,
    /// Pause between changelog (or `modifyTimestamp`) polls when the last
    /// one was empty, and between liveness probes under syncrepl.
    /// A revocation takes effect within this time. Default 10 s (as mahi).
    #[serde(default = "d_poll", deserialize_with = "s3gw_duration::deserialize")]
    pub poll_interval: Duration,
    /// At this interval the whole directory is read again and
    /// replaces the cache: heals anything a follower missed (and, under
    /// the `modifyTimestamp` poll, is what catches deletes). Default 300.
    #[serde(
        default = "d_reconcile",
        deserialize_with = "s3gw_duration::deserialize"
    )]
    pub reconcile_interval: Duration,
    /// Timeout of the directory query for an id the cache does not hold
    /// (a request waits for it). Default 2 s. Once the directory is
    /// known to be unreachable, such lookups fail at once.
    #[serde(
        default = "d_miss_timeout",
        deserialize_with = "s3gw_duration::deserialize"
    )]
    pub miss_timeout: Duration,
    /// Size limit of one changelog poll (mahi: 1000). A full batch is
    /// followed by another poll at once.
    #[serde(default = "d_poll_batch")]
    pub poll_batch: u32,
    /// Page size of the initial paged search of people and keys.
    #[serde(default = "d_page_size")]
    pub page_size: u32,
    /// How long an id that LDAP does not know is answered from memory
    /// without asking again.
    #[serde(
        default = "d_negative_ttl",
        deserialize_with = "s3gw_duration::deserialize"
    )]
    pub negative_ttl: Duration,
    /// Most ids remembered as unknown (memory bound under a flood).
    #[serde(default = "d_negative_max")]
    pub negative_max_entries: usize,
    /// Sustained rate of miss queries (lookups of ids not cached) sent to
    /// LDAP, per second. Above it a miss is answered "unknown" without a
    /// query, so a flood of random ids costs the directory a bounded number
    /// of searches; the poller still brings in new keys.
    #[serde(default = "d_miss_rate")]
    pub miss_queries_per_second: f64,
    /// Miss queries allowed in a burst above that rate.
    #[serde(default = "d_miss_burst")]
    pub miss_burst: u32,
    /// How long cached keys keep authenticating while the directory cannot
    /// be reached (since the last successful poll). Default 15 min.
    #[serde(default = "d_grace", deserialize_with = "s3gw_duration::deserialize")]
    pub grace: Duration,
    /// TCP (and TLS) connect timeout.
    #[serde(
        default = "d_connect_timeout",
        deserialize_with = "s3gw_duration::deserialize"
    )]
    pub connect_timeout: Duration,
    /// Timeout of every LDAP operation (bind, search, one page, write): a
    /// server that accepts and never answers costs this much.
    #[serde(
        default = "d_op_timeout",
        deserialize_with = "s3gw_duration::deserialize"
    )]
    pub operation_timeout: Duration,
    /// First pause before reconnecting; doubles up to
    /// `backoff_max`.
    #[serde(
        default = "d_backoff_min",
        deserialize_with = "s3gw_duration::deserialize"
    )]
    pub backoff_min: Duration,
    /// Longest pause between reconnect attempts.
    #[serde(
        default = "d_backoff_max",
        deserialize_with = "s3gw_duration::deserialize"
    )]
    pub backoff_max: Duration,
    /// Upgrade an `ldap://` connection with StartTLS.
    #[serde(default)]
    pub starttls: bool,
    /// PEM CA bundle to verify the server with (TLS only). Without it the
    /// system bundle `/etc/ssl/certs/ca-certificates.crt` is used.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

impl LdapConfig {
    /// A config with every default, for `url` and a bind identity.
    pub fn new(url: impl Into<String>, bind_dn: impl Into<String>, bind_password: &str) -> Self {
        LdapConfig {
            url: url.into(),
            bind_dn: bind_dn.into(),
            bind_password: SecretKey::new(bind_password.to_owned()),
            users_base: d_users_base(),
            changelog_base: d_changelog_base(),
            latest_changenumber_dn: d_latest(),
            follow: FollowMode::Auto,
            poll_interval: d_poll(),
            reconcile_interval: d_reconcile(),
            miss_timeout: d_miss_timeout(),
            poll_batch: d_poll_batch(),
            page_size: d_page_size(),
            negative_ttl: d_negative_ttl(),
            negative_max_entries: d_negative_max(),
            miss_queries_per_second: d_miss_rate(),
            miss_burst: d_miss_burst(),
            grace: d_grace(),
            connect_timeout: d_connect_timeout(),
            operation_timeout: d_op_timeout(),
            backoff_min: d_backoff_min(),
            backoff_max: d_backoff_max(),
            starttls: false,
            ca_file: None,
        }
    }
}

/// How the LDAP source follows changes (`[keys] follow`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FollowMode {
    /// Changelog if present, else syncrepl if offered, else poll.
    #[default]
    Auto,
    /// UFDS's `cn=changelog` (what UFDS offers; mahi does the same).
    Changelog,
    /// RFC 4533 content synchronisation, refreshAndPersist.
    Syncrepl,
    /// A `modifyTimestamp` poll; deletes are caught by the reconcile.
    Poll,
}

impl KeySourceConfig {
    /// Checks what can be checked without a network: the URL's scheme and
    /// host, the CA file, the timings; for a keys file, that it reads and
    /// parses exactly as `serve` will load it. The error names the key.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            KeySourceConfig::File(f) => crate::file::read_keys_file(&f.path)
                .map(|_| ())
                .map_err(|e| format!("keys.path: {e}")),
            KeySourceConfig::Ldap(l) => l.validate(),
        }
    }
}

impl LdapConfig {
    /// See [`KeySourceConfig::validate`].
    pub fn validate(&self) -> Result<(), String> {
        let lower = self.url.to_ascii_lowercase();
        let rest = lower
            .strip_prefix("ldap://")
            .or_else(|| lower.strip_prefix("ldaps://"))
            .ok_or_else(|| format!("keys.url: {:?} is not an ldap:// or ldaps:// URL", self.url))?;
        let hostport = rest.split('/').next().unwrap_or("");
        let host = match hostport.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || hostport.starts_with('[') => {
                if p.parse::<u16>().map_or(true, |p| p == 0) {
                    return Err(format!("keys.url: {:?} has no valid port", self.url));
                }
                h
            }
            _ => hostport,
        };
        if host.is_empty() || host.contains(['@', '?', '#', ' ']) {
            return Err(format!("keys.url: {:?} names no host", self.url));
        }
        if self.bind_dn.trim().is_empty() {
            return Err("keys.bind_dn: must not be empty".into());
        }
        if self.starttls && lower.starts_with("ldaps://") {
            return Err("keys.starttls: not with an ldaps:// URL".into());
        }
        if lower.starts_with("ldaps://") || self.starttls || self.ca_file.is_some() {
            crate::ldap::tls_config(self).map_err(|e| match e {
                crate::cache::StartError::Config(m) | crate::cache::StartError::KeysFile(m) => {
                    format!("keys.{m}")
                }
            })?;
        }
        if self.page_size == 0 || self.poll_batch == 0 {
            return Err("keys.page_size and keys.poll_batch must be > 0".into());
        }
        for (k, d) in [
            ("keys.poll_interval", self.poll_interval),
            ("keys.reconcile_interval", self.reconcile_interval),
            ("keys.miss_timeout", self.miss_timeout),
            ("keys.operation_timeout", self.operation_timeout),
            ("keys.connect_timeout", self.connect_timeout),
        ] {
            if d.is_zero() {
                return Err(format!("{k}: must be positive"));
            }
        }
        Ok(())
    }
}

fn d_reload() -> Duration {
    Duration::from_secs(2)
}
fn d_users_base() -> String {
    "ou=users, o=smartdc".into()
}
fn d_changelog_base() -> String {
    "cn=changelog".into()
}
fn d_latest() -> String {
    "cn=latestchangenumber".into()
}
fn d_poll() -> Duration {
    Duration::from_secs(10)
}
fn d_reconcile() -> Duration {
    Duration::from_secs(300)
}
fn d_miss_timeout() -> Duration {
    Duration::from_secs(2)
}
fn d_poll_batch() -> u32 {
    1000
}
fn d_page_size() -> u32 {
    500
}
fn d_negative_ttl() -> Duration {
    Duration::from_secs(10)
}
fn d_negative_max() -> usize {
    10_000
}
fn d_miss_rate() -> f64 {
    20.0
}
fn d_miss_burst() -> u32 {
    20
}
fn d_grace() -> Duration {
    Duration::from_secs(15 * 60)
}
fn d_connect_timeout() -> Duration {
    Duration::from_secs(5)
}
fn d_op_timeout() -> Duration {
    Duration::from_secs(10)
}
fn d_backoff_min() -> Duration {
    Duration::from_millis(500)
}
fn d_backoff_max() -> Duration {
    Duration::from_secs(30)
}

fn secret<'de, D: Deserializer<'de>>(d: D) -> Result<SecretKey, D::Error> {
    String::deserialize(d).map(SecretKey::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Gw {
        keys: KeySourceConfig,
    }

    #[test]
    fn toml_ldap_with_defaults() {
        let gw: Gw = toml::from_str(
            r#"
            [keys]
            source = "ldap"
            url = "ldap://127.0.0.1:389"
            bind_dn = "cn=s3gw, o=smartdc"
            bind_password = "pw"
            poll_interval = 0.2
            grace = "1h 30m"
            backoff_min = "250ms"
            reconcile_interval = 60
            "#,
        )
        .unwrap();
        let KeySourceConfig::Ldap(c) = gw.keys else {
            panic!("ldap")
        };
        assert_eq!(c.poll_interval, Duration::from_millis(200));
        assert_eq!(c.grace, Duration::from_secs(5400));
        assert_eq!(c.backoff_min, Duration::from_millis(250));
        assert_eq!(c.reconcile_interval, Duration::from_secs(60));
        assert_eq!(c.negative_ttl, Duration::from_secs(10));
        assert_eq!(c.users_base, "ou=users, o=smartdc");
        assert!(!format!("{c:?}").contains("\"pw\""));
    }

    #[test]
    fn validation_names_the_key() {
        let ok = LdapConfig::new("ldap://127.0.0.1:389", "cn=x", "p");
        assert_eq!(ok.validate(), Ok(()));
        assert_eq!(
            LdapConfig::new("ldaps://ufds.example.com", "cn=x", "p").validate(),
            Ok(())
        );
        for bad in [
            "http://127.0.0.1:389",
            "127.0.0.1:389",
            "ldap://",
            "ldap://:389",
            "ldap://h:0",
            "ldap://h:x",
        ] {
            let e = LdapConfig::new(bad, "cn=x", "p").validate().unwrap_err();
            assert!(e.starts_with("keys.url"), "{bad}: {e}");
        }
        let mut c = ok.clone();
        c.ca_file = Some("/nonexistent/ca.pem".into());
        assert!(c.validate().unwrap_err().contains("ca_file"));
        let mut c = ok;
        c.miss_timeout = Duration::ZERO;
        assert!(c.validate().unwrap_err().contains("keys.miss_timeout"));
    }

    #[test]
    fn a_garbage_duration_is_refused_naming_the_key() {
        // The variant's table, as the gateway reads it (by its `source`).
        let e =
            toml::from_str::<FileSourceConfig>("path = \"/k.toml\"\nreload_interval = \"often\"\n")
                .expect_err("refused")
                .to_string();
        assert!(
            e.contains("reload_interval") && e.contains("not a duration"),
            "{e}"
        );
    }

    #[test]
    fn toml_file() {
        let gw: Gw = toml::from_str("[keys]\nsource = \"file\"\npath = \"/k.toml\"\n").unwrap();
        let KeySourceConfig::File(c) = gw.keys else {
            panic!("file")
        };
        assert_eq!(c.path, PathBuf::from("/k.toml"));
        assert_eq!(c.reload_interval, Duration::from_secs(2));
    }
}
