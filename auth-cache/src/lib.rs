//! s3gw-auth-cache: access keys for the S3 gateway, from UFDS over LDAP or
//! from a static keys file.
//!
//! The gateway holds one [`KeyCache`] and calls [`KeyCache::lookup`] for
//! every signed request. The LDAP source loads every person and key at
//! start, follows UFDS's `cn=changelog` (or, on a directory without one,
//! RFC 4533 syncrepl, else a `modifyTimestamp` poll), re-reads everything
//! every `reconcile_interval`, asks the directory once for an id it does not
//! hold (single-flight, negative cache, rate limit, `miss_timeout`), keeps
//! answering from memory for a grace period when the directory is down, and
//! fails fast with [`LookupError::Unavailable`] (503) when it cannot answer.
//! An id present more than once (two owners) authenticates nobody.
//! Secrets are [`SecretKey`]s: zeroized, never printed, compared in
//! constant time. [`KeyAdmin`] creates and manages keys in UFDS's format.
//!
//! # Layout
//! - [`types`]: `AccessKeyId`, `SecretKey`, `KeyStatus`, `Credential`.
//! - [`config`]: `KeySourceConfig` (serde, TOML), `LdapConfig`,
//!   `FileSourceConfig`, every limit and its default.
//! - `cache`: `KeyCache`, lookups, negative cache, single flight, counters.
//! - `ldap`: the LDAP source: connect, pick the follower (changelog,
//!   syncrepl, poll), full loads and reconciles, miss queries, reconnect
//!   with backoff, timeouts.
//! - `ufds`: UFDS's data model: DNs, entries, changelog changes (pure).
//! - `store`: the in-memory people and keys; who may authenticate.
//! - `file`: the static keys file source (format in its docs).
//! - [`format`]: UFDS key id and secret format (`tdc_` + CRC-32).
//! - [`admin`]: `KeyAdmin` for tenant self-service, LDAP and file.

pub mod admin;
mod cache;
pub mod config;
mod file;
pub mod format;
mod ldap;
mod store;
pub mod types;
mod ufds;

pub use admin::{AdminError, FileKeyAdmin, KeyAdmin, KeyInfo, KeyOwner, LdapKeyAdmin, NewKey};
pub use cache::{CacheStats, KeyCache, LookupError, StartError};
pub use config::{FileSourceConfig, KeySourceConfig, LdapConfig};
pub use format::{generate_access_key_id, generate_secret, secret_format_ok};
pub use types::{
    AccessKeyId, Account, Credential, InvalidAccessKeyId, KeyStatus, SecretKey, SubUser,
};
