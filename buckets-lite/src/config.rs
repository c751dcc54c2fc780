//! The TOML configuration: listen address, data directory, accounts and
//! limits. Keys are parsed here, at the edge, so a bad key fails the start
//! with a message naming the account.
//!
//! ```toml
//! listen = "127.0.0.1:6080"      # optional; --listen overrides
//! data_dir = "/var/lib/buckets"  # optional here, then --data is required
//!
//! [[accounts]]
//! login = "operator"
//! operator = true                # member of the `operators` group
//! keys = ["ecdsa-sha2-nistp256 AAAA... comment"]
//!
//! [[accounts]]
//! login = "alice"
//! uuid = "5f2c..."               # optional, informational
//! keys = ["ecdsa-sha2-nistp256 AAAA..."]
//! [[accounts.subusers]]
//! login = "ci"
//! granted = true                 # an RBAC rule grants it alice's buckets
//! keys = ["ecdsa-sha2-nistp256 AAAA..."]
//!
//! [limits]
//! clock_skew = "5m"              # a duration: "500ms", "30s", "5m", or seconds
//!
//! [extensions]                   # beyond the real server; all off by default
//! ed25519_signatures = false
//! compose = false
//! grouped_pages = false
//! ```
//!
//! Durations are written as everywhere in the workspace (`s3gw-duration`):
//! a humantime string or a bare number of seconds. The old `*_secs` keys
//! ([`RENAMED`]) still read, in seconds, with a deprecation warning.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use s3gw_duration::{Renamed, Unit};
use s3gw_httpsig::PublicKey;
use serde::Deserialize;

/// A configuration could not be read or is invalid.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("parsing {path}: {source}")]
    Parse {
        path: PathBuf,
        source: Box<toml::de::Error>,
    },
    #[error("account {login}: key {index}: {source}")]
    Key {
        login: String,
        index: usize,
        source: s3gw_httpsig::KeyError,
    },
    #[error("account {0} is configured twice")]
    DuplicateAccount(String),
    #[error("invalid login {0:?}: use 1..=64 characters of [A-Za-z0-9._-]")]
    InvalidLogin(String),
    #[error("no data directory: set data_dir in the file or pass --data")]
    NoDataDir,
    #[error("{0}")]
    Invalid(String),
}

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address to bind; port 0 picks a free port (see [`crate::Server::local_addr`]).
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Where `meta.db`, `objects/` and `tmp/` live.
    #[serde(default)]
    pub data_dir: Option<PathBuf>,
    /// `x-server-name` on every response (default: a UUID chosen at start).
    #[serde(default)]
    pub server_name: Option<String>,
    #[serde(default)]
    pub accounts: Vec<AccountConfig>,
    #[serde(default)]
    pub limits: Limits,
    /// Behaviour beyond the real server's, each off unless set.
    #[serde(default)]
    pub extensions: Extensions,
}

/// buckets-lite extensions: what the real buckets-api does NOT do. Each is
/// off by default, so the default server is as strict as the real one.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Extensions {
    /// Accept `algorithm="ed25519"` HTTP Signatures. The real server's
    /// verifier (http-signature 1.1.0) refuses them with 400 `InvalidHeader`.
    pub ed25519_signatures: bool,
    /// Serve `GET /stats` (no authentication): JSON counters of connections
    /// accepted, requests served and rows read by listings, for benchmarks.
    /// The real server has no such path (404).
    pub stats: bool,
    /// Serve `POST /:account/buckets/:bucket/objects/:object` (compose: a
    /// new object made server-side from stored objects, see `compose.rs`)
    /// and advertise it on `OPTIONS /:account/buckets`. The real server has
    /// no such route (405).
    pub compose: bool,
    /// Let a truncated delimiter listing page end on a group: its
    /// `Next-Marker` names the group, and a marker naming a group resumes
    /// after it. Advertised as `grouped-pages`. The real server aborts its
    /// process on such a page (buckets-api.md), so a client may let the
    /// store group only where this is advertised.
    pub grouped_pages: bool,
}

impl Extensions {
    /// The names advertised in `Buckets-Lite-Extensions` (empty: none on).
    /// `compose_links`: the data directory takes hard links, so a compose
    /// links its parts in time proportional to their count, not their
    /// bytes (advertised as `compose-links` beside `compose`).
    pub fn advertised(&self, compose_links: bool) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.compose {
            v.push("compose");
            if compose_links {
                v.push("compose-links");
            }
        }
        if self.grouped_pages {
            v.push("grouped-pages");
        }
        if self.ed25519_signatures {
            v.push("ed25519-signatures");
        }
        v
    }
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 6080))
}

/// One account: its login, its public keys and whether it is an operator.
///
/// Requests on `/:account/...` for an account that is NOT configured are
/// served to operators: the account's namespace exists implicitly, because
/// the gateway's tenants come from LDAP, not from this file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountConfig {
    pub login: String,
    #[serde(default)]
    pub uuid: Option<String>,
    /// OpenSSH public key lines (`ssh-ed25519 AAAA... comment`).
    #[serde(default)]
    pub keys: Vec<String>,
    /// Member of the `operators` group: may act on any account's buckets.
    #[serde(default)]
    pub operator: bool,
    /// A blocked account's requests fail with 403 `AccountBlocked`.
    #[serde(default)]
    pub blocked: bool,
    #[serde(default)]
    pub subusers: Vec<SubuserConfig>,
}

/// A sub-user, signing as `/<account>/<subuser>/keys/<fp>`. As in node-mahi,
/// a sub-user goes through RBAC (never the operator bypass, also for an
/// operator account's sub-users): it is refused with 403
/// `AuthorizationFailed` unless `granted` (standing for an RBAC rule that
/// grants it its account's buckets).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubuserConfig {
    pub login: String,
    #[serde(default)]
    pub keys: Vec<String>,
    #[serde(default)]
    pub granted: bool,
}

/// Named, configurable limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest accepted difference between a request's `Date` and the server
    /// clock (buckets-api.md: 300 s).
    #[serde(deserialize_with = "s3gw_duration::deserialize")]
    pub clock_skew: Duration,
    /// `max-content-length` when a chunked PUT does not send one
    /// (buckets-api.md: 51200 MB).
    pub default_max_content_length: u64,
    /// Total bytes of stored `m-*` values; headers past it are dropped
    /// (buckets-api.md: under 4 KiB).
    pub max_metadata_bytes: usize,
    /// Buffer for streaming bodies to and from disk.
    pub io_buffer_bytes: usize,
    /// An upload that sends nothing for this long fails with 408 `UploadTimeout`.
    #[serde(deserialize_with = "s3gw_duration::deserialize")]
    pub upload_idle_timeout: Duration,
    /// HTTP worker threads (default: the number of CPUs).
    pub workers: Option<usize>,
    /// SQLite reader connections kept open.
    pub reader_connections: usize,
    /// How long an idle keep-alive connection stays open. Longer than a
    /// client's pool idle timeout, so a client never reuses a connection the
    /// server is closing.
    #[serde(deserialize_with = "s3gw_duration::deserialize")]
    pub keep_alive: Duration,
    /// Most parts one compose request may name (S3's multipart maximum).
    pub max_compose_parts: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            clock_skew: Duration::from_secs(300),
            default_max_content_length: 51_200 * 1024 * 1024,
            max_metadata_bytes: 4096,
            io_buffer_bytes: 256 * 1024,
            upload_idle_timeout: Duration::from_secs(60),
            workers: None,
            reader_connections: 8,
            keep_alive: Duration::from_secs(120),
            max_compose_parts: 10_000,
        }
    }
}

/// The deprecated duration keys, each read in its old unit.
pub const RENAMED: &[Renamed] = &[
    Renamed {
        old: "limits.clock_skew_secs",
        new: "limits.clock_skew",
        unit: Unit::Secs,
    },
    Renamed {
        old: "limits.upload_idle_timeout_secs",
        new: "limits.upload_idle_timeout",
        unit: Unit::Secs,
    },
    Renamed {
        old: "limits.keep_alive_secs",
        new: "limits.keep_alive",
        unit: Unit::Secs,
    },
];

/// Moves each deprecated key's value in `doc` to its new key (as a
/// duration string), returning one warning per key moved. Both set: an
/// error.
fn apply_renames(doc: &mut toml::Table) -> Result<Vec<String>, ConfigError> {
    let mut warnings = Vec::new();
    for r in RENAMED {
        let Some(toml::Value::Table(t)) = doc.get_mut(r.section()) else {
            continue;
        };
        let (old, new) = r.leaf_names();
        let Some(v) = t.remove(old) else { continue };
        if t.contains_key(new) {
            return Err(ConfigError::Invalid(r.both_set()));
        }
        let d = r
            .convert(v.as_integer(), None)
            .map_err(ConfigError::Invalid)?;
        warnings.push(r.warning(d));
        t.insert(
            new.to_owned(),
            toml::Value::String(s3gw_duration::format(d)),
        );
    }
    Ok(warnings)
}

impl Config {
    /// Reads and validates a TOML file (keys included).
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml(&text).map_err(|e| match e {
            ConfigError::Parse { source, .. } => ConfigError::Parse {
                path: path.to_owned(),
                source,
            },
            other => other,
        })
    }

    /// Parses and validates TOML text; logs a warning per deprecated key.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let (config, warnings) = Self::from_toml_with_deprecations(text)?;
        for w in warnings {
            tracing::warn!("{w}");
        }
        Ok(config)
    }

    /// As [`Config::from_toml`], returning the deprecation warnings.
    pub fn from_toml_with_deprecations(text: &str) -> Result<(Self, Vec<String>), ConfigError> {
        let parse = |source| ConfigError::Parse {
            path: PathBuf::from("<config>"),
            source: Box::new(source),
        };
        let mut doc: toml::Table = toml::from_str(text).map_err(parse)?;
        let warnings = apply_renames(&mut doc)?;
        // Without renames, parse the text itself: its errors point at a line.
        let config: Config = if warnings.is_empty() {
            toml::from_str(text)
        } else {
            toml::Value::Table(doc).try_into()
        }
        .map_err(parse)?;
        Accounts::build(&config.accounts)?;
        Ok((config, warnings))
    }
}

fn valid_login(login: &str) -> bool {
    (1..=64).contains(&login.len())
        && login
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// One identity's keys, by MD5 fingerprint.
#[derive(Debug, Default)]
pub(crate) struct Identity {
    pub keys: HashMap<String, PublicKey>,
    /// Sub-users only: an RBAC rule grants access to the account's buckets.
    pub granted: bool,
}

/// A configured account, ready for authentication.
#[derive(Debug)]
pub(crate) struct Account {
    pub operator: bool,
    pub blocked: bool,
    pub own: Identity,
    pub subusers: HashMap<String, Identity>,
}

/// Every configured account by login.
#[derive(Debug, Default)]
pub(crate) struct Accounts {
    pub by_login: HashMap<String, Account>,
}

fn parse_keys(login: &str, keys: &[String]) -> Result<Identity, ConfigError> {
    let mut id = Identity::default();
    for (index, line) in keys.iter().enumerate() {
        let key = PublicKey::from_openssh(line).map_err(|source| ConfigError::Key {
            login: login.to_owned(),
            index,
            source,
        })?;
        id.keys.insert(key.md5_fingerprint(), key);
    }
    Ok(id)
}

impl Accounts {
    pub fn build(configs: &[AccountConfig]) -> Result<Self, ConfigError> {
        let mut by_login = HashMap::new();
        for a in configs {
            if !valid_login(&a.login) {
                return Err(ConfigError::InvalidLogin(a.login.clone()));
            }
            let mut subusers = HashMap::new();
            for s in &a.subusers {
                if !valid_login(&s.login) {
                    return Err(ConfigError::InvalidLogin(s.login.clone()));
                }
                let name = format!("{}/{}", a.login, s.login);
                let mut id = parse_keys(&name, &s.keys)?;
                id.granted = s.granted;
                subusers.insert(s.login.clone(), id);
            }
            let account = Account {
                operator: a.operator,
                blocked: a.blocked,
                own: parse_keys(&a.login, &a.keys)?,
                subusers,
            };
            if by_login.insert(a.login.clone(), account).is_some() {
                return Err(ConfigError::DuplicateAccount(a.login.clone()));
            }
        }
        Ok(Accounts { by_login })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_full_file() {
        let key = s3gw_httpsig::PrivateKey::generate_ecdsa(256)
            .unwrap()
            .public_key()
            .to_openssh();
        let text = format!(
            "listen = \"127.0.0.1:0\"\n[[accounts]]\nlogin = \"op\"\noperator = true\nkeys = [\"{key}\"]\n\
             [[accounts.subusers]]\nlogin = \"s\"\nkeys = [\"{key}\"]\n[limits]\nclock_skew = \"10s\"\nkeep_alive = 5\n"
        );
        let c = Config::from_toml(&text).unwrap();
        assert_eq!(c.listen.port(), 0);
        assert!(c.accounts[0].operator);
        assert_eq!(c.limits.clock_skew, Duration::from_secs(10));
        assert_eq!(c.limits.keep_alive, Duration::from_secs(5));
        assert_eq!(c.limits.upload_idle_timeout, Duration::from_secs(60));
        assert_eq!(c.limits.max_metadata_bytes, 4096);
        let a = Accounts::build(&c.accounts).unwrap();
        assert_eq!(a.by_login["op"].own.keys.len(), 1);
        assert!(a.by_login["op"].subusers.contains_key("s"));
    }

    #[test]
    fn rejects_bad_files() {
        assert!(matches!(
            Config::from_toml("[[accounts]]\nlogin = \"a\"\nkeys = [\"ssh-ed25519 nope\"]\n"),
            Err(ConfigError::Key { .. })
        ));
        assert!(matches!(
            Config::from_toml("bogus = 1\n"),
            Err(ConfigError::Parse { .. })
        ));
        assert!(matches!(
            Config::from_toml("[[accounts]]\nlogin = \"a/b\"\n"),
            Err(ConfigError::InvalidLogin(_))
        ));
        assert!(matches!(
            Config::from_toml("[[accounts]]\nlogin = \"a\"\n[[accounts]]\nlogin = \"a\"\n"),
            Err(ConfigError::DuplicateAccount(_))
        ));
    }

    #[test]
    fn the_example_file_states_the_default_durations() {
        // Its account keys are placeholders: read its [limits] only.
        let mut doc: toml::Table =
            toml::from_str(include_str!("../../etc/buckets-lite.example.toml")).unwrap();
        assert_eq!(apply_renames(&mut doc).unwrap(), Vec::<String>::new());
        let l: Limits = doc["limits"].clone().try_into().unwrap();
        let d = Limits::default();
        assert_eq!(l.clock_skew, d.clock_skew);
        assert_eq!(l.upload_idle_timeout, d.upload_idle_timeout);
        assert_eq!(l.keep_alive, d.keep_alive);
    }

    #[test]
    fn durations_old_keys_both_set_and_garbage() {
        let (c, w) = Config::from_toml_with_deprecations(
            "[limits]\nclock_skew = \"1m 30s\"\nupload_idle_timeout = \"1500ms\"\n",
        )
        .unwrap();
        assert_eq!(c.limits.clock_skew, Duration::from_secs(90));
        assert_eq!(c.limits.upload_idle_timeout, Duration::from_millis(1500));
        assert!(w.is_empty());

        let (c, w) = Config::from_toml_with_deprecations(
            "[limits]\nclock_skew_secs = 10\nupload_idle_timeout_secs = 2\n",
        )
        .unwrap();
        assert_eq!(c.limits.clock_skew, Duration::from_secs(10));
        assert_eq!(c.limits.upload_idle_timeout, Duration::from_secs(2));
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(
            w[0].contains("limits.clock_skew_secs") && w[0].contains("limits.clock_skew = \"10s\""),
            "{w:?}"
        );

        let e = Config::from_toml("[limits]\nkeep_alive_secs = 1\nkeep_alive = \"1s\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("limits.keep_alive_secs") && e.contains("both set"),
            "{e}"
        );
        let e = Config::from_toml("[limits]\nkeep_alive_secs = \"1s\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("limits.keep_alive_secs"), "{e}");
        let e = Config::from_toml("[limits]\nclock_skew = \"a while\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("clock_skew") && e.contains("not a duration"),
            "{e}"
        );
    }
}
