//! The static keys file source (development, tests, the embedded default).
//!
//! ```toml
//! [[keys]]
//! access_key_id = "0123456789abcdef0123456789abcdef"
//! secret = "tdc_..."
//! account_login = "dev"
//! account_uuid = "5f9c7e4e-...."
//! # optional: subuser_login, subuser_uuid, status = "Active" (default),
//! # description, created, updated (ms since the epoch)
//! ```
//!
//! The file is checked every `reload_interval` (modification time and
//! size) and re-read when it changed; a file that no longer parses is
//! logged and the previous keys stay. Entries that are invalid (bad id,
//! empty secret) are skipped and logged.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::SystemTime;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::cache::{Inner, StartError};
use crate::config::FileSourceConfig;
use crate::store::{KeyRecord, Person, Store};
use crate::types::{AccessKeyId, KeyStatus, SecretKey};

/// The keys file.
#[derive(Debug, Default, Deserialize, Serialize)]
pub(crate) struct KeysFile {
    #[serde(default)]
    pub keys: Vec<FileKey>,
}

/// One `[[keys]]` entry.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileKey {
    pub access_key_id: String,
    #[serde(deserialize_with = "de_secret", serialize_with = "ser_secret")]
    pub secret: SecretKey,
    pub account_login: String,
    pub account_uuid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subuser_login: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subuser_uuid: Option<String>,
    #[serde(default = "active")]
    pub status: KeyStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated: Option<u64>,
}

fn active() -> KeyStatus {
    KeyStatus::Active
}

fn de_secret<'de, D: Deserializer<'de>>(d: D) -> Result<SecretKey, D::Error> {
    String::deserialize(d).map(SecretKey::new)
}

fn ser_secret<S: Serializer>(s: &SecretKey, ser: S) -> Result<S::Ok, S::Error> {
    ser.serialize_str(s.expose_str())
}

/// Reads and parses a keys file (a missing file is an empty one).
pub(crate) fn read_keys_file(path: &Path) -> Result<KeysFile, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => zeroize::Zeroizing::new(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(KeysFile::default()),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Builds the store from the file's entries, skipping invalid ones.
pub(crate) fn to_store(file: &KeysFile, path: &Path) -> Store {
    let mut store = Store::default();
    for k in &file.keys {
        let id: AccessKeyId = match k.access_key_id.parse() {
            Ok(id) => id,
            Err(e) => {
                tracing::warn!(file = %path.display(), id = %k.access_key_id, error = %e, "skipping key");
                continue;
            }
        };
        if k.secret.expose_bytes().is_empty()
            || k.account_uuid.is_empty()
            || k.account_login.is_empty()
        {
            tracing::warn!(file = %path.display(), access_key_id = %id, "skipping key with empty fields");
            continue;
        }
        if k.subuser_login.is_some() != k.subuser_uuid.is_some() {
            tracing::warn!(file = %path.display(), access_key_id = %id, "skipping key: subuser_login and subuser_uuid go together");
            continue;
        }
        store.people.insert(
            k.account_uuid.clone(),
            Person {
                login: k.account_login.clone(),
                disabled: false,
            },
        );
        if let (Some(login), Some(uuid)) = (&k.subuser_login, &k.subuser_uuid) {
            store.people.insert(
                uuid.clone(),
                Person {
                    login: login.clone(),
                    disabled: false,
                },
            );
        }
        let id_s = id.to_string();
        let others = store.insert_key(KeyRecord {
            id,
            secret: k.secret.clone(),
            status: k.status,
            account_uuid: k.account_uuid.clone(),
            subuser_uuid: k.subuser_uuid.clone(),
            description: k.description.clone(),
            updated: k.updated,
            temporary: false,
        });
        if !others.is_empty() {
            tracing::error!(
                file = %path.display(), access_key_id = %id_s,
                "access key id listed for more than one owner: it authenticates nobody"
            );
        }
    }
    store
}

fn fingerprint(path: &Path) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

/// Loads the file now and spawns the reload task.
pub(crate) fn start(
    inner: Arc<Inner>,
    cfg: FileSourceConfig,
) -> Result<tokio::task::JoinHandle<()>, StartError> {
    let mut seen = fingerprint(&cfg.path);
    let file = read_keys_file(&cfg.path).map_err(StartError::KeysFile)?;
    *inner.store.write().expect("lock") = to_store(&file, &cfg.path);
    inner.ready.store(true, Ordering::Release);
    inner.mark_success();
    Ok(tokio::spawn(async move {
        let mut tick = tokio::time::interval(cfg.reload_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let now = fingerprint(&cfg.path);
            if now != seen {
                match read_keys_file(&cfg.path) {
                    Ok(file) => {
                        let store = to_store(&file, &cfg.path);
                        tracing::info!(file = %cfg.path.display(), keys = store.key_count(), "keys file reloaded");
                        *inner.store.write().expect("lock") = store;
                        seen = now;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "keys file unreadable; keeping the previous keys")
                    }
                }
            }
            inner.mark_success();
        }
    }))
}
