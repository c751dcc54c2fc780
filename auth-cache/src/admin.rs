//! Key administration for tenant self-service (issue 3, item 6), in UFDS's
//! own format and rules (ufds.md): a new key gets a 32-hex id, a `tdc_`
//! secret with its CRC-32, status Active, `created`/`updated` in ms; at
//! most [`MAX_KEYS_PER_USER`] keys per user; the secret is returned once, at
//! creation, and never listed; an owner may switch a key Active/Inactive,
//! change its description, or delete it.
//!
//! [`LdapKeyAdmin`] writes to the directory (UFDS then records the change in
//! its changelog, which every cache follows); [`FileKeyAdmin`] rewrites the
//! keys file atomically (temporary file, mode 0600, rename), which the file
//! source reloads.

use std::collections::HashSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use ldap3::{ldap_escape, Ldap, LdapConnAsync, LdapConnSettings, Mod, Scope, SearchEntry};

use crate::config::LdapConfig;
use crate::file::{read_keys_file, FileKey, KeysFile};
use crate::format::{generate_access_key_id, generate_secret};
use crate::types::{AccessKeyId, Account, KeyStatus, SecretKey, SubUser};
use crate::ufds::{self, Target};

/// Most keys one user (account or sub-user) may hold (Triton's cloud API).
pub const MAX_KEYS_PER_USER: usize = 100;
/// Longest description UFDS accepts.
pub const MAX_DESCRIPTION_CHARS: usize = 150;

/// Whose keys: an account, or one of its sub-users, by login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyOwner {
    /// The account's login.
    pub account_login: String,
    /// A sub-user's bare login, for the sub-user's own keys.
    pub subuser_login: Option<String>,
}

impl KeyOwner {
    /// The account's own keys.
    pub fn account(login: &str) -> KeyOwner {
        KeyOwner {
            account_login: login.to_owned(),
            subuser_login: None,
        }
    }

    /// A sub-user's keys.
    pub fn subuser(account_login: &str, login: &str) -> KeyOwner {
        KeyOwner {
            account_login: account_login.to_owned(),
            subuser_login: Some(login.to_owned()),
        }
    }
}

/// A key as listed: everything but the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    /// The key id.
    pub access_key_id: AccessKeyId,
    /// Its status.
    pub status: KeyStatus,
    /// Free text (<= 150 characters).
    pub description: Option<String>,
    /// Creation time, ms since the epoch.
    pub created: Option<u64>,
    /// Last change, ms since the epoch.
    pub updated: Option<u64>,
    /// `permanent` or `temporary`.
    pub credential_type: String,
    /// The owning account's login.
    pub account_login: String,
    /// The owning sub-user's login.
    pub subuser_login: Option<String>,
}

/// A key just created: the only time its secret is handed out.
#[derive(Debug, Clone)]
pub struct NewKey {
    /// The new id.
    pub access_key_id: AccessKeyId,
    /// The secret: show it once, then forget it.
    pub secret: SecretKey,
    /// The key as it will be listed.
    pub info: KeyInfo,
}

/// Why an administration call failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// No such account or sub-user.
    #[error("no such user")]
    NoSuchUser,
    /// The owner has no key with that id.
    #[error("no such access key")]
    NoSuchKey,
    /// The owner already has the maximum number of keys.
    #[error("at most {MAX_KEYS_PER_USER} access keys per user")]
    TooManyKeys,
    /// Description too long.
    #[error("description longer than {MAX_DESCRIPTION_CHARS} characters")]
    InvalidDescription,
    /// Only Active and Inactive can be set.
    #[error("a key can only be set Active or Inactive")]
    InvalidStatus,
    /// The directory failed or cannot be reached.
    #[error("directory: {0}")]
    Directory(String),
    /// The keys file cannot be read or written.
    #[error("keys file: {0}")]
    File(String),
    /// The key source cannot do this.
    #[error("{0}")]
    Unsupported(&'static str),
}

/// Tenant self-service on access keys, for both sources.
#[async_trait]
pub trait KeyAdmin: Send + Sync {
    /// Creates an Active key for `owner`.
    async fn create(
        &self,
        owner: &KeyOwner,
        description: Option<&str>,
    ) -> Result<NewKey, AdminError>;
    /// Lists `owner`'s keys (no secrets), sorted by id.
    async fn list(&self, owner: &KeyOwner) -> Result<Vec<KeyInfo>, AdminError>;
    /// Switches a key Active or Inactive.
    async fn set_status(
        &self,
        owner: &KeyOwner,
        id: &AccessKeyId,
        status: KeyStatus,
    ) -> Result<(), AdminError>;
    /// Replaces a key's description.
    async fn set_description(
        &self,
        owner: &KeyOwner,
        id: &AccessKeyId,
        description: &str,
    ) -> Result<(), AdminError>;
    /// Deletes a key.
    async fn delete(&self, owner: &KeyOwner, id: &AccessKeyId) -> Result<(), AdminError>;
    /// Sets an account's `disabled` flag (a directory only).
    async fn set_account_disabled(
        &self,
        _account_login: &str,
        _disabled: bool,
    ) -> Result<(), AdminError> {
        Err(AdminError::Unsupported(
            "accounts can be disabled only in a directory ([keys] source = \"ldap\")",
        ))
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

fn check_description(d: &str) -> Result<(), AdminError> {
    if d.chars().count() > MAX_DESCRIPTION_CHARS {
        Err(AdminError::InvalidDescription)
    } else {
        Ok(())
    }
}

fn check_settable(status: KeyStatus) -> Result<(), AdminError> {
    match status {
        KeyStatus::Active | KeyStatus::Inactive => Ok(()),
        KeyStatus::Expired => Err(AdminError::InvalidStatus),
    }
}

// ------------------------------------------------------------------ LDAP

/// Administration through the directory. Its bind identity must be allowed
/// to write keys (not the gateway's read-only one).
pub struct LdapKeyAdmin {
    cfg: LdapConfig,
}

/// Result code noSuchObject.
const RC_NO_SUCH_OBJECT: u32 = 32;

impl LdapKeyAdmin {
    /// Uses `cfg`'s URL, bind identity, users base and timeouts.
    pub fn new(cfg: LdapConfig) -> LdapKeyAdmin {
        LdapKeyAdmin { cfg }
    }

    /// Runs one operation under the operation timeout; an error names the
    /// operation and the directory's URL.
    async fn timed<T>(
        &self,
        what: &str,
        fut: impl std::future::Future<Output = ldap3::result::Result<T>>,
    ) -> Result<T, AdminError> {
        let url = &self.cfg.url;
        match tokio::time::timeout(self.cfg.operation_timeout, fut).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(AdminError::Directory(format!("{what} at {url}: {e}"))),
            Err(_) => Err(AdminError::Directory(format!(
                "{what} at {url}: no answer within {:?}",
                self.cfg.operation_timeout
            ))),
        }
    }

    async fn connect(&self) -> Result<Ldap, AdminError> {
        let mut settings = LdapConnSettings::new().set_conn_timeout(self.cfg.connect_timeout);
        let url = self.cfg.url.to_ascii_lowercase();
        if url.starts_with("ldaps://") || self.cfg.starttls {
            let tls = crate::ldap::tls_config(&self.cfg)
                .map_err(|e| AdminError::Directory(e.to_string()))?;
            settings = settings
                .set_config(std::sync::Arc::new(tls))
                .set_starttls(self.cfg.starttls);
        }
        let (conn, mut ldap) = self
            .timed(
                "connect",
                LdapConnAsync::with_settings(settings, &self.cfg.url),
            )
            .await?;
        ldap3::drive!(conn);
        let (dn, pw) = (&self.cfg.bind_dn, self.cfg.bind_password.expose_str());
        self.timed(&format!("bind as {dn:?}"), async {
            ldap.simple_bind(dn, pw).await?.success()
        })
        .await?;
        Ok(ldap)
    }

    /// The owner's DN, account uuid and sub-user uuid.
    async fn owner_dn(
        &self,
        ldap: &mut Ldap,
        owner: &KeyOwner,
    ) -> Result<(String, String, Option<String>), AdminError> {
        let base = &self.cfg.users_base;
        let filter = format!(
            "(&(objectclass=sdcperson)(login={}))",
            ldap_escape(owner.account_login.as_str())
        );
        let (entries, _) = self
            .timed("find account", async {
                ldap.search(base, Scope::OneLevel, &filter, vec!["uuid"])
                    .await?
                    .success()
            })
            .await?;
        let acct = entries
            .into_iter()
            .next()
            .map(SearchEntry::construct)
            .ok_or(AdminError::NoSuchUser)?;
        let Target::Person {
            uuid: acct_uuid, ..
        } = ufds::classify(&acct.dn, base)
        else {
            return Err(AdminError::NoSuchUser);
        };
        let Some(sub) = &owner.subuser_login else {
            return Ok((acct.dn, acct_uuid, None));
        };
        let sub_e = ldap_escape(sub.as_str());
        let prefixed = format!("{acct_uuid}/{sub}");
        let filter = format!(
            "(&(objectclass=sdcperson)(|(alias={sub_e})(login={sub_e})(login={})))",
            ldap_escape(prefixed.as_str())
        );
        let (entries, _) = self
            .timed("find sub-user", async {
                ldap.search(&acct.dn, Scope::OneLevel, &filter, vec!["uuid"])
                    .await?
                    .success()
            })
            .await?;
        let e = entries
            .into_iter()
            .next()
            .map(SearchEntry::construct)
            .ok_or(AdminError::NoSuchUser)?;
        let Target::Person { uuid, .. } = ufds::classify(&e.dn, base) else {
            return Err(AdminError::NoSuchUser);
        };
        Ok((e.dn, acct_uuid, Some(uuid)))
    }

    async fn list_under(
        &self,
        ldap: &mut Ldap,
        owner: &KeyOwner,
        dn: &str,
    ) -> Result<Vec<KeyInfo>, AdminError> {
        Ok(self
            .list_ranked(ldap, owner, dn)
            .await?
            .into_iter()
            .map(|(k, _)| k)
            .collect())
    }

    /// The owner's keys sorted by id, each with its rank in creation order:
    /// the directory's own change sequence number (`entryCSN`, assigned by
    /// the server, so later writes rank later) where it has one, else
    /// `created` and then the id.
    async fn list_ranked(
        &self,
        ldap: &mut Ldap,
        owner: &KeyOwner,
        dn: &str,
    ) -> Result<Vec<(KeyInfo, usize)>, AdminError> {
        let attrs = vec![
            "accesskeyid",
            "status",
            "description",
            "created",
            "updated",
            "credentialtype",
            "entryCSN",
        ];
        let (entries, _) = self
            .timed("list keys", async {
                ldap.search(dn, Scope::OneLevel, "(objectclass=accesskey)", attrs)
                    .await?
                    .success()
            })
            .await?;
        let mut out: Vec<(KeyInfo, Option<String>)> = entries
            .into_iter()
            .map(SearchEntry::construct)
            .filter_map(|e| {
                let a = ufds::normalise(e.attrs);
                let get = |k: &str| a.get(k).and_then(|v| v.first()).cloned();
                let csn = get("entrycsn");
                Some((
                    KeyInfo {
                        access_key_id: get("accesskeyid")?.parse().ok()?,
                        status: get("status")
                            .and_then(|s| KeyStatus::parse(&s))
                            .unwrap_or(KeyStatus::Inactive),
                        description: get("description"),
                        created: get("created").and_then(|v| v.parse().ok()),
                        updated: get("updated").and_then(|v| v.parse().ok()),
                        credential_type: get("credentialtype")
                            .unwrap_or_else(|| "permanent".into()),
                        account_login: owner.account_login.clone(),
                        subuser_login: owner.subuser_login.clone(),
                    },
                    csn,
                ))
            })
            .collect();
        let all_csn = out.iter().all(|(_, c)| c.is_some());
        out.sort_by(|(a, ac), (b, bc)| {
            let by_csn = if all_csn {
                ac.cmp(bc)
            } else {
                std::cmp::Ordering::Equal
            };
            by_csn
                .then(a.created.cmp(&b.created))
                .then(a.access_key_id.cmp(&b.access_key_id))
        });
        let mut ranked: Vec<(KeyInfo, usize)> = out
            .into_iter()
            .enumerate()
            .map(|(i, (k, _))| (k, i + 1))
            .collect();
        ranked.sort_by(|a, b| a.0.access_key_id.cmp(&b.0.access_key_id));
        Ok(ranked)
    }

    /// Whether a key with this id exists anywhere under the users base.
    async fn id_exists(&self, ldap: &mut Ldap, id: &AccessKeyId) -> Result<bool, AdminError> {
        let filter = format!(
            "(&(objectclass=accesskey)(accesskeyid={}))",
            ldap_escape(id.as_str())
        );
        let base = &self.cfg.users_base;
        let (entries, _) = self
            .timed("look for the key id", async {
                ldap.search(base, Scope::Subtree, &filter, vec!["1.1"])
                    .await?
                    .success()
            })
            .await?;
        Ok(!entries.is_empty())
    }

    /// Sets an account's `disabled` attribute (UFDS's spelling: the strings
    /// `true` / `false`): every key of the account and of its sub-users
    /// stops (or starts again) authenticating within one poll interval.
    async fn account_disabled(
        &self,
        account_login: &str,
        disabled: bool,
    ) -> Result<(), AdminError> {
        let mut ldap = self.connect().await?;
        let (dn, ..) = self
            .owner_dn(&mut ldap, &KeyOwner::account(account_login))
            .await?;
        let v = if disabled { "true" } else { "false" };
        let res = self
            .timed(
                "modify account",
                ldap.modify(&dn, vec![Mod::Replace("disabled", HashSet::from([v]))]),
            )
            .await?;
        let _ = ldap.unbind().await;
        match res.rc {
            0 => Ok(()),
            RC_NO_SUCH_OBJECT => Err(AdminError::NoSuchUser),
            _ => Err(AdminError::Directory(format!(
                "modify account at {}: {res}",
                self.cfg.url
            ))),
        }
    }

    async fn modify(
        &self,
        owner: &KeyOwner,
        id: &AccessKeyId,
        attr: &str,
        value: &str,
    ) -> Result<(), AdminError> {
        let mut ldap = self.connect().await?;
        let (dn, ..) = self.owner_dn(&mut ldap, owner).await?;
        let key_dn = format!("accesskeyid={}, {dn}", ldap3::dn_escape(id.as_str()));
        let updated = now_ms().to_string();
        let mods = vec![
            Mod::Replace(attr, HashSet::from([value])),
            Mod::Replace("updated", HashSet::from([updated.as_str()])),
        ];
        let res = self.timed("modify key", ldap.modify(&key_dn, mods)).await?;
        let _ = ldap.unbind().await;
        match res.rc {
            0 => Ok(()),
            RC_NO_SUCH_OBJECT => Err(AdminError::NoSuchKey),
            _ => Err(AdminError::Directory(format!("at {}: {res}", self.cfg.url))),
        }
    }
}

#[async_trait]
impl KeyAdmin for LdapKeyAdmin {
    async fn create(
        &self,
        owner: &KeyOwner,
        description: Option<&str>,
    ) -> Result<NewKey, AdminError> {
        if let Some(d) = description {
            check_description(d)?;
        }
        let mut ldap = self.connect().await?;
        let (dn, ..) = self.owner_dn(&mut ldap, owner).await?;
        if self.list_under(&mut ldap, owner, &dn).await?.len() >= MAX_KEYS_PER_USER {
            return Err(AdminError::TooManyKeys);
        }
        // An id that exists anywhere (under any owner) is never created a
        // second time: a duplicate authenticates nobody.
        let mut id = generate_access_key_id();
        let mut tries = 0;
        while self.id_exists(&mut ldap, &id).await? {
            tries += 1;
            if tries >= 3 {
                return Err(AdminError::Directory(format!(
                    "create key at {}: generated ids keep colliding with existing ones",
                    self.cfg.url
                )));
            }
            id = generate_access_key_id();
        }
        let secret = generate_secret();
        let now = now_ms();
        let now_s = now.to_string();
        let mut attrs: Vec<(&str, HashSet<&str>)> = vec![
            ("objectclass", HashSet::from(["accesskey"])),
            ("accesskeyid", HashSet::from([id.as_str()])),
            ("accesskeysecret", HashSet::from([secret.expose_str()])),
            ("status", HashSet::from(["Active"])),
            ("created", HashSet::from([now_s.as_str()])),
            ("updated", HashSet::from([now_s.as_str()])),
            ("credentialtype", HashSet::from(["permanent"])),
        ];
        if let Some(d) = description {
            attrs.push(("description", HashSet::from([d])));
        }
        let key_dn = format!("accesskeyid={}, {dn}", id.as_str());
        self.timed("add key", async {
            ldap.add(&key_dn, attrs).await?.success()
        })
        .await?;
        // The limit under concurrent creates: the directory is the
        // arbiter. Count after the add; a key that ranks past the limit in
        // the server's own order (entryCSN) is rolled back. Later writes
        // rank later, so the first MAX_KEYS_PER_USER keep theirs and every
        // other creator removes its own.
        let ranked = self.list_ranked(&mut ldap, owner, &dn).await;
        let rank = match &ranked {
            Ok(r) => r
                .iter()
                .find(|(k, _)| k.access_key_id == id)
                .map(|(_, n)| *n),
            Err(_) => None,
        };
        if rank.is_none_or(|n| n > MAX_KEYS_PER_USER) {
            let del = self.timed("roll back key", ldap.delete(&key_dn)).await;
            let _ = ldap.unbind().await;
            ranked?;
            del?;
            return Err(if rank.is_some() {
                AdminError::TooManyKeys
            } else {
                AdminError::Directory(format!(
                    "create key at {}: the new key is not listed",
                    self.cfg.url
                ))
            });
        }
        let _ = ldap.unbind().await;
        Ok(NewKey {
            access_key_id: id.clone(),
            secret,
            info: KeyInfo {
                access_key_id: id,
                status: KeyStatus::Active,
                description: description.map(str::to_owned),
                created: Some(now),
                updated: Some(now),
                credential_type: "permanent".into(),
                account_login: owner.account_login.clone(),
                subuser_login: owner.subuser_login.clone(),
            },
        })
    }

    async fn list(&self, owner: &KeyOwner) -> Result<Vec<KeyInfo>, AdminError> {
        let mut ldap = self.connect().await?;
        let (dn, ..) = self.owner_dn(&mut ldap, owner).await?;
        let out = self.list_under(&mut ldap, owner, &dn).await;
        let _ = ldap.unbind().await;
        out
    }

    async fn set_status(
        &self,
        owner: &KeyOwner,
        id: &AccessKeyId,
        status: KeyStatus,
    ) -> Result<(), AdminError> {
        check_settable(status)?;
        self.modify(owner, id, "status", status.as_str()).await
    }

    async fn set_description(
        &self,
        owner: &KeyOwner,
        id: &AccessKeyId,
        description: &str,
    ) -> Result<(), AdminError> {
        check_description(description)?;
        self.modify(owner, id, "description", description).await
    }

    async fn set_account_disabled(
        &self,
        account_login: &str,
        disabled: bool,
    ) -> Result<(), AdminError> {
        self.account_disabled(account_login, disabled).await
    }

    async fn delete(&self, owner: &KeyOwner, id: &AccessKeyId) -> Result<(), AdminError> {
        let mut ldap = self.connect().await?;
        let (dn, ..) = self.owner_dn(&mut ldap, owner).await?;
        let key_dn = format!("accesskeyid={}, {dn}", id.as_str());
        let res = self.timed("delete key", ldap.delete(&key_dn)).await?;
        let _ = ldap.unbind().await;
        match res.rc {
            0 => Ok(()),
            RC_NO_SUCH_OBJECT => Err(AdminError::NoSuchKey),
            _ => Err(AdminError::Directory(format!("at {}: {res}", self.cfg.url))),
        }
    }
}

// ------------------------------------------------------------------ file

/// Administration of a keys file. Writes are serialised in this process and
/// atomic on disk (temporary file with mode 0600, then rename).
pub struct FileKeyAdmin {
    path: PathBuf,
    lock: tokio::sync::Mutex<()>,
}

impl FileKeyAdmin {
    /// Administers the keys file at `path` (created on the first write).
    pub fn new(path: impl Into<PathBuf>) -> FileKeyAdmin {
        FileKeyAdmin {
            path: path.into(),
            lock: tokio::sync::Mutex::new(()),
        }
    }

    /// Creates a key for an account (and sub-user) that need not be in the
    /// file yet: how the embedded default makes its first development key.
    pub async fn create_for(
        &self,
        account: &Account,
        subuser: Option<&SubUser>,
        description: Option<&str>,
    ) -> Result<NewKey, AdminError> {
        if let Some(d) = description {
            check_description(d)?;
        }
        let _g = self.lock.lock().await;
        let mut file = read_keys_file(&self.path).map_err(AdminError::File)?;
        let mine = file
            .keys
            .iter()
            .filter(|k| {
                k.account_uuid == account.uuid
                    && k.subuser_uuid.as_deref() == subuser.map(|s| s.uuid.as_str())
            })
            .count();
        if mine >= MAX_KEYS_PER_USER {
            return Err(AdminError::TooManyKeys);
        }
        let id = generate_access_key_id();
        let secret = generate_secret();
        let now = now_ms();
        let key = FileKey {
            access_key_id: id.as_str().to_owned(),
            secret: secret.clone(),
            account_login: account.login.clone(),
            account_uuid: account.uuid.clone(),
            subuser_login: subuser.map(|s| s.login.clone()),
            subuser_uuid: subuser.map(|s| s.uuid.clone()),
            status: KeyStatus::Active,
            description: description.map(str::to_owned),
            created: Some(now),
            updated: Some(now),
        };
        let info = info_of(&key).ok_or_else(|| AdminError::File("generated key invalid".into()))?;
        file.keys.push(key);
        write_atomic(&self.path, &file)?;
        Ok(NewKey {
            access_key_id: id,
            secret,
            info,
        })
    }

    fn owns(k: &FileKey, owner: &KeyOwner) -> bool {
        k.account_login == owner.account_login && k.subuser_login == owner.subuser_login
    }

    async fn update(
        &self,
        owner: &KeyOwner,
        id: &AccessKeyId,
        f: impl FnOnce(&mut Vec<FileKey>, usize),
    ) -> Result<(), AdminError> {
        let _g = self.lock.lock().await;
        let mut file = read_keys_file(&self.path).map_err(AdminError::File)?;
        let pos = file
            .keys
            .iter()
            .position(|k| k.access_key_id == id.as_str() && Self::owns(k, owner))
            .ok_or(AdminError::NoSuchKey)?;
        f(&mut file.keys, pos);
        write_atomic(&self.path, &file)
    }
}

fn info_of(k: &FileKey) -> Option<KeyInfo> {
    Some(KeyInfo {
        access_key_id: k.access_key_id.parse().ok()?,
        status: k.status,
        description: k.description.clone(),
        created: k.created,
        updated: k.updated,
        credential_type: "permanent".into(),
        account_login: k.account_login.clone(),
        subuser_login: k.subuser_login.clone(),
    })
}

fn write_atomic(path: &Path, file: &KeysFile) -> Result<(), AdminError> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let text = zeroize::Zeroizing::new(
        toml::to_string(file).map_err(|e| AdminError::File(e.to_string()))?,
    );
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| AdminError::File("no file name".into()))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let io = |e: std::io::Error| AdminError::File(format!("{}: {e}", path.display()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io)?;
    f.write_all(text.as_bytes()).map_err(io)?;
    f.sync_all().map_err(io)?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(io)
}

#[async_trait]
impl KeyAdmin for FileKeyAdmin {
    async fn create(
        &self,
        owner: &KeyOwner,
        description: Option<&str>,
    ) -> Result<NewKey, AdminError> {
        // The file knows users only through their keys.
        let file = read_keys_file(&self.path).map_err(AdminError::File)?;
        let known = file
            .keys
            .iter()
            .find(|k| Self::owns(k, owner))
            .ok_or(AdminError::NoSuchUser)?;
        let account = Account {
            uuid: known.account_uuid.clone(),
            login: known.account_login.clone(),
        };
        let subuser = match (&known.subuser_uuid, &known.subuser_login) {
            (Some(uuid), Some(login)) => Some(SubUser {
                uuid: uuid.clone(),
                login: login.clone(),
            }),
            _ => None,
        };
        self.create_for(&account, subuser.as_ref(), description)
            .await
    }

    async fn list(&self, owner: &KeyOwner) -> Result<Vec<KeyInfo>, AdminError> {
        let file = read_keys_file(&self.path).map_err(AdminError::File)?;
        let mut out: Vec<KeyInfo> = file
            .keys
            .iter()
            .filter(|k| Self::owns(k, owner))
            .filter_map(info_of)
            .collect();
        out.sort_by(|a, b| a.access_key_id.cmp(&b.access_key_id));
        Ok(out)
    }

    async fn set_status(
        &self,
        owner: &KeyOwner,
        id: &AccessKeyId,
        status: KeyStatus,
    ) -> Result<(), AdminError> {
        check_settable(status)?;
        self.update(owner, id, |keys, i| {
            keys[i].status = status;
            keys[i].updated = Some(now_ms());
        })
        .await
    }

    async fn set_description(
        &self,
        owner: &KeyOwner,
        id: &AccessKeyId,
        description: &str,
    ) -> Result<(), AdminError> {
        check_description(description)?;
        self.update(owner, id, |keys, i| {
            keys[i].description = Some(description.to_owned());
            keys[i].updated = Some(now_ms());
        })
        .await
    }

    async fn delete(&self, owner: &KeyOwner, id: &AccessKeyId) -> Result<(), AdminError> {
        self.update(owner, id, |keys, i| {
            keys.remove(i);
        })
        .await
    }
}
