//! `s3gw keys ...`: tenant access-key self-service, run by the operator (or
//! by automation acting for a tenant) against the configured key source:
//! UFDS over LDAP (`[keys] source = "ldap"`) or a keys file
//! (`source = "file"`, or the embedded default's `<data_dir>/keys.toml`).
//! It is a thin front of auth-cache's [`KeyAdmin`], which keeps UFDS's own
//! rules (ufds.md): 32-hex ids, `tdc_` secrets, at most 100 keys per user,
//! Active/Inactive only, descriptions up to 150 characters.
//!
//! ```text
//! s3gw keys create   --account LOGIN [--user SUBUSER] [--description TEXT] [--json]
//! s3gw keys list     --account LOGIN [--user SUBUSER] [--json]
//! s3gw keys show     --account LOGIN [--user SUBUSER] ID [--json]
//! s3gw keys disable  --account LOGIN [--user SUBUSER] ID
//! s3gw keys enable   --account LOGIN [--user SUBUSER] ID
//! s3gw keys describe --account LOGIN [--user SUBUSER] ID TEXT
//! s3gw keys delete   --account LOGIN [--user SUBUSER] ID
//! ```
//!
//! In the embedded default, `create --account NEW` for an account without
//! keys makes that tenant ([`create_in_embedded`]).
//!
//! `create` prints the secret once; nothing else ever prints a secret. A
//! running gateway sees the change within one poll interval of its key
//! source (`[keys] poll_interval` for LDAP, `reload_interval` for a file),
//! and a new key at once through the cache's miss path.
//!
//! `s3gw accounts disable LOGIN` / `s3gw accounts enable LOGIN` set an
//! account's `disabled` flag in the directory (UFDS's attribute): every key
//! of the account and of its sub-users is refused within one poll interval.
//!
//! Writing to UFDS needs an identity allowed to write keys, which the
//! gateway's own bind identity must not be: `--bind-dn` names it, and it
//! needs its own password: `--bind-password-file` (or
//! `S3GW_KEYS_BIND_PASSWORD_FILE`), or a prompt when stdin is a terminal;
//! never the gateway's. The password is never taken on the command line,
//! where `ps` would show it. Usage errors exit 2, refused operations 1.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use s3gw_auth_cache::{
    AccessKeyId, AdminError, FileKeyAdmin, KeyAdmin, KeyInfo, KeyOwner, KeySourceConfig, KeyStatus,
    LdapKeyAdmin, NewKey, SecretKey,
};
use serde_json::json;

use crate::config::Config;

/// `s3gw keys`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct KeysArgs {
    #[command(subcommand)]
    pub action: KeysAction,
}

/// Whose keys, how to print, and the directory identity for writes.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct Who {
    /// The account's login.
    #[arg(long, value_name = "LOGIN")]
    pub account: String,
    /// A sub-user's login (the sub-user's own keys).
    #[arg(long, value_name = "SUBUSER")]
    pub user: Option<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// LDAP identity to write with, instead of `[keys] bind_dn`.
    #[arg(long, value_name = "DN")]
    pub bind_dn: Option<String>,
    /// File holding that identity's password (one line).
    #[arg(long, value_name = "FILE", env = "S3GW_KEYS_BIND_PASSWORD_FILE")]
    pub bind_password_file: Option<PathBuf>,
}

/// `s3gw accounts`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct AccountsArgs {
    #[command(subcommand)]
    pub action: AccountsAction,
    /// LDAP identity to write with, instead of `[keys] bind_dn`.
    #[arg(long, global = true, value_name = "DN")]
    pub bind_dn: Option<String>,
    /// File holding that identity's password (one line).
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        env = "S3GW_KEYS_BIND_PASSWORD_FILE"
    )]
    pub bind_password_file: Option<PathBuf>,
}

/// The account operations.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum AccountsAction {
    /// Set the account's `disabled` flag: its keys and its sub-users' keys
    /// are refused within one poll interval.
    Disable {
        /// The account's login.
        login: String,
    },
    /// Clear the account's `disabled` flag.
    Enable {
        /// The account's login.
        login: String,
    },
}

/// The key operations.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum KeysAction {
    /// Create an Active key; prints its id and secret (the only time the
    /// secret is shown).
    Create {
        #[command(flatten)]
        who: Who,
        /// Free text, up to 150 characters.
        #[arg(long)]
        description: Option<String>,
    },
    /// List keys (never secrets).
    List {
        #[command(flatten)]
        who: Who,
    },
    /// Show one key (never its secret).
    Show {
        #[command(flatten)]
        who: Who,
        id: String,
    },
    /// Set a key Inactive: refused within one poll interval.
    Disable {
        #[command(flatten)]
        who: Who,
        id: String,
    },
    /// Set a key Active again.
    Enable {
        #[command(flatten)]
        who: Who,
        id: String,
    },
    /// Replace a key's description.
    Describe {
        #[command(flatten)]
        who: Who,
        id: String,
        description: String,
    },
    /// Delete a key.
    Delete {
        #[command(flatten)]
        who: Who,
        id: String,
    },
}

impl KeysAction {
    fn who(&self) -> &Who {
        match self {
            KeysAction::Create { who, .. }
            | KeysAction::List { who }
            | KeysAction::Show { who, .. }
            | KeysAction::Disable { who, .. }
            | KeysAction::Enable { who, .. }
            | KeysAction::Describe { who, .. }
            | KeysAction::Delete { who, .. } => who,
        }
    }
}

/// Why a keys command failed.
#[derive(Debug, thiserror::Error)]
pub enum KeysCliError {
    #[error("{0:?} is not an access key id")]
    BadId(String),
    #[error(
        "{0:?} cannot name a new account: 3 to 32 letters, digits, '.', '_' or '-', a letter first"
    )]
    BadLogin(String),
    #[error("{0}")]
    Admin(#[from] AdminError),
    #[error("--bind-password-file {0}: {1}")]
    PasswordFile(PathBuf, std::io::Error),
    #[error("--bind-dn {0:?} needs its own password: give --bind-password-file FILE (or S3GW_KEYS_BIND_PASSWORD_FILE), or run on a terminal to be prompted")]
    NeedPassword(String),
    #[error("reading the password for --bind-dn {0:?}: {1}")]
    Prompt(String, std::io::Error),
    #[error("output: {0}")]
    Output(#[from] std::io::Error),
}

impl KeysCliError {
    /// A usage error (exit 2), as opposed to a refused operation (exit 1).
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            KeysCliError::BadId(_)
                | KeysCliError::BadLogin(_)
                | KeysCliError::PasswordFile(..)
                | KeysCliError::NeedPassword(_)
                | KeysCliError::Prompt(..)
        ) || matches!(
            self,
            KeysCliError::Admin(AdminError::InvalidDescription | AdminError::InvalidStatus)
        )
    }
}

/// Reads a password from the terminal without echo (`stty -echo`).
fn prompt_password(dn: &str) -> std::io::Result<String> {
    use std::io::{BufRead, IsTerminal};
    if !std::io::stdin().is_terminal() {
        return Err(std::io::Error::other("stdin is not a terminal"));
    }
    eprint!("password for {dn}: ");
    let stty = |arg: &str| {
        std::process::Command::new("stty")
            .arg(arg)
            .stdin(std::process::Stdio::inherit())
            .status()
    };
    let _ = stty("-echo");
    let mut line = String::new();
    let r = std::io::stdin().lock().read_line(&mut line);
    let _ = stty("echo");
    eprintln!();
    r?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

/// The LDAP identity the command writes with: `[keys] bind_dn` and its
/// password, or `--bind-dn` with ITS OWN password (file, else prompt; never
/// the gateway's).
fn identity(
    l: &mut s3gw_auth_cache::LdapConfig,
    bind_dn: Option<&String>,
    password_file: Option<&PathBuf>,
) -> Result<(), KeysCliError> {
    if let Some(dn) = bind_dn {
        l.bind_dn = dn.clone();
    }
    if let Some(p) = password_file {
        let text = zeroize::Zeroizing::new(
            std::fs::read_to_string(p).map_err(|e| KeysCliError::PasswordFile(p.clone(), e))?,
        );
        l.bind_password = SecretKey::new(text.trim_end_matches(['\r', '\n']).to_owned());
    } else if let Some(dn) = bind_dn {
        use std::io::IsTerminal;
        if !std::io::stdin().is_terminal() {
            return Err(KeysCliError::NeedPassword(dn.clone()));
        }
        let pw = prompt_password(dn).map_err(|e| KeysCliError::Prompt(dn.clone(), e))?;
        l.bind_password = SecretKey::new(pw);
    }
    Ok(())
}

/// The administration back end for the configured key source.
pub fn admin_for(config: &Config, who: &Who) -> Result<Box<dyn KeyAdmin>, KeysCliError> {
    admin_with(
        config,
        who.bind_dn.as_ref(),
        who.bind_password_file.as_ref(),
    )
}

fn admin_with(
    config: &Config,
    bind_dn: Option<&String>,
    password_file: Option<&PathBuf>,
) -> Result<Box<dyn KeyAdmin>, KeysCliError> {
    let source = config.keys.clone().unwrap_or_else(|| {
        KeySourceConfig::File(s3gw_auth_cache::FileSourceConfig::new(
            config.embedded.data_dir.join("keys.toml"),
        ))
    });
    Ok(match source {
        KeySourceConfig::File(f) => Box::new(FileKeyAdmin::new(f.path)),
        KeySourceConfig::Ldap(mut l) => {
            identity(&mut l, bind_dn, password_file)?;
            Box::new(LdapKeyAdmin::new(l))
        }
    })
}

fn parse_id(id: &str) -> Result<AccessKeyId, KeysCliError> {
    id.parse().map_err(|_| KeysCliError::BadId(id.to_owned()))
}

fn iso_ms(ms: Option<u64>) -> String {
    ms.and_then(|ms| {
        time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()
    })
    .and_then(|t| {
        t.format(&time::format_description::well_known::Rfc3339)
            .ok()
    })
    .unwrap_or_else(|| "-".into())
}

fn info_json(k: &KeyInfo) -> serde_json::Value {
    json!({
        "access_key_id": k.access_key_id.as_str(),
        "status": k.status.as_str(),
        "description": k.description,
        "created": k.created,
        "updated": k.updated,
        "credential_type": k.credential_type,
        "account": k.account_login,
        "user": k.subuser_login,
    })
}

fn info_text(out: &mut dyn Write, k: &KeyInfo) -> std::io::Result<()> {
    writeln!(
        out,
        "{}\t{}\t{}\t{}",
        k.access_key_id.as_str(),
        k.status.as_str(),
        iso_ms(k.created),
        k.description.as_deref().unwrap_or("")
    )
}

/// Runs one keys command against `admin`, printing to `out`.
pub async fn run_with(
    admin: &dyn KeyAdmin,
    action: &KeysAction,
    out: &mut dyn Write,
) -> Result<(), KeysCliError> {
    let who = action.who();
    let owner = match &who.user {
        Some(u) => KeyOwner::subuser(&who.account, u),
        None => KeyOwner::account(&who.account),
    };
    match action {
        KeysAction::Create { description, .. } => {
            let k = admin.create(&owner, description.as_deref()).await?;
            print_new_key(out, who.json, &k)?;
        }
        KeysAction::List { .. } => {
            let keys = admin.list(&owner).await?;
            if who.json {
                let v: Vec<_> = keys.iter().map(info_json).collect();
                writeln!(out, "{}", serde_json::Value::Array(v))?;
            } else {
                for k in &keys {
                    info_text(out, k)?;
                }
            }
        }
        KeysAction::Show { id, .. } => {
            let id = parse_id(id)?;
            let keys = admin.list(&owner).await?;
            let k = keys
                .iter()
                .find(|k| k.access_key_id == id)
                .ok_or(AdminError::NoSuchKey)?;
            if who.json {
                writeln!(out, "{}", info_json(k))?;
            } else {
                writeln!(out, "access key id: {}", k.access_key_id.as_str())?;
                writeln!(out, "status:        {}", k.status.as_str())?;
                writeln!(
                    out,
                    "description:   {}",
                    k.description.as_deref().unwrap_or("")
                )?;
                writeln!(out, "created:       {}", iso_ms(k.created))?;
                writeln!(out, "updated:       {}", iso_ms(k.updated))?;
                writeln!(out, "type:          {}", k.credential_type)?;
            }
        }
        KeysAction::Disable { id, .. } => {
            admin
                .set_status(&owner, &parse_id(id)?, KeyStatus::Inactive)
                .await?;
        }
        KeysAction::Enable { id, .. } => {
            admin
                .set_status(&owner, &parse_id(id)?, KeyStatus::Active)
                .await?;
        }
        KeysAction::Describe {
            id, description, ..
        } => {
            admin
                .set_description(&owner, &parse_id(id)?, description)
                .await?;
        }
        KeysAction::Delete { id, .. } => {
            admin.delete(&owner, &parse_id(id)?).await?;
        }
    }
    Ok(())
}

fn print_new_key(out: &mut dyn Write, json: bool, k: &NewKey) -> std::io::Result<()> {
    if json {
        let mut v = info_json(&k.info);
        v["secret_access_key"] = json!(k.secret.expose_str());
        writeln!(out, "{v}")
    } else {
        writeln!(out, "access key id:     {}", k.access_key_id.as_str())?;
        writeln!(out, "secret access key: {}", k.secret.expose_str())?;
        writeln!(out, "(the secret is shown only this once: store it now)")
    }
}

/// Whether `login` can name a new tenant account of the embedded store:
/// 3 to 32 characters, a letter first, then letters, digits, `.`, `_`,
/// `-` (UFDS's login shape, and one native path segment as it is).
fn valid_login(login: &str) -> bool {
    (3..=32).contains(&login.len())
        && login.starts_with(|c: char| c.is_ascii_alphabetic())
        && login
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// `keys create --account NEW` in the embedded default: the embedded store
/// serves every account its operator addresses, so the account's first
/// key (with a new uuid) is what makes the tenant. Other accounts' keys
/// and every other source go through [`run_with`] unchanged.
pub async fn create_in_embedded(
    admin: &FileKeyAdmin,
    action: &KeysAction,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), KeysCliError> {
    let KeysAction::Create { who, description } = action else {
        return run_with(admin, action, out).await;
    };
    match run_with(admin, action, out).await {
        Err(KeysCliError::Admin(AdminError::NoSuchUser)) if who.user.is_none() => {}
        other => return other,
    }
    if !valid_login(&who.account) {
        return Err(KeysCliError::BadLogin(who.account.clone()));
    }
    let account = s3gw_auth_cache::Account {
        uuid: uuid::Uuid::new_v4().to_string(),
        login: who.account.clone(),
    };
    let k = admin
        .create_for(&account, None, description.as_deref())
        .await?;
    writeln!(
        err,
        "new tenant account {:?} (uuid {}) in the embedded store",
        account.login, account.uuid
    )?;
    print_new_key(out, who.json, &k)?;
    Ok(())
}

/// Runs `s3gw accounts ...` against the key source of `config`.
pub async fn run_accounts(config: &Config, args: &AccountsArgs) -> Result<(), KeysCliError> {
    let admin = admin_with(
        config,
        args.bind_dn.as_ref(),
        args.bind_password_file.as_ref(),
    )?;
    match &args.action {
        AccountsAction::Disable { login } => admin.set_account_disabled(login, true).await?,
        AccountsAction::Enable { login } => admin.set_account_disabled(login, false).await?,
    }
    Ok(())
}

/// Runs `args` against the key source of `config`.
pub async fn run(
    config: &Config,
    args: &KeysArgs,
    out: &mut dyn Write,
) -> Result<(), KeysCliError> {
    if config.keys.is_none() && config.backend.is_none() {
        // The embedded default: a new account is a new tenant.
        let admin = FileKeyAdmin::new(config.embedded.data_dir.join("keys.toml"));
        return create_in_embedded(&admin, &args.action, out, &mut std::io::stderr()).await;
    }
    let admin = admin_for(config, args.action.who())?;
    run_with(admin.as_ref(), &args.action, out).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct T {
        #[command(subcommand)]
        a: KeysAction,
    }

    fn exec(admin: &FileKeyAdmin, argv: &[&str]) -> Result<String, KeysCliError> {
        let t = T::try_parse_from(std::iter::once("keys").chain(argv.iter().copied())).unwrap();
        let mut out = Vec::new();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(run_with(admin, &t.a, &mut out))?;
        Ok(String::from_utf8(out).unwrap())
    }

    #[test]
    fn file_source_round_trip_never_lists_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.toml");
        let admin = FileKeyAdmin::new(&path);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let acct = s3gw_auth_cache::Account {
            uuid: "5f9c7e4e-0000-4000-8000-000000000001".into(),
            login: "alice".into(),
        };
        rt.block_on(admin.create_for(&acct, None, None)).unwrap();
        drop(rt);

        let created = exec(&admin, &["create", "--account", "alice", "--json"]).unwrap();
        let v: serde_json::Value = serde_json::from_str(created.trim()).unwrap();
        let id = v["access_key_id"].as_str().unwrap().to_owned();
        let secret = v["secret_access_key"].as_str().unwrap().to_owned();
        assert!(s3gw_auth_cache::secret_format_ok(&secret));

        let listed = exec(&admin, &["list", "--account", "alice"]).unwrap();
        assert_eq!(listed.lines().count(), 2, "{listed}");
        assert!(listed.contains(&id) && !listed.contains(&secret));

        exec(&admin, &["disable", "--account", "alice", &id]).unwrap();
        exec(&admin, &["describe", "--account", "alice", &id, "ci"]).unwrap();
        let shown = exec(&admin, &["show", "--account", "alice", &id, "--json"]).unwrap();
        let v: serde_json::Value = serde_json::from_str(shown.trim()).unwrap();
        assert_eq!(v["status"], "Inactive");
        assert_eq!(v["description"], "ci");
        assert!(!shown.contains(&secret));
        assert!(!std::fs::read_to_string(&path).unwrap().is_empty());

        exec(&admin, &["delete", "--account", "alice", &id]).unwrap();
        assert!(matches!(
            exec(&admin, &["show", "--account", "alice", &id]),
            Err(KeysCliError::Admin(AdminError::NoSuchKey))
        ));
        assert!(matches!(
            exec(&admin, &["disable", "--account", "alice", "short"]),
            Err(KeysCliError::BadId(_))
        ));
        assert!(matches!(
            exec(&admin, &["create", "--account", "nobody"]),
            Err(KeysCliError::Admin(AdminError::NoSuchUser))
        ));
    }

    #[test]
    fn embedded_create_makes_a_new_tenant_once() {
        let dir = tempfile::tempdir().unwrap();
        let admin = FileKeyAdmin::new(dir.path().join("keys.toml"));
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let run = |argv: &[&str]| {
            let t = T::try_parse_from(std::iter::once("keys").chain(argv.iter().copied())).unwrap();
            let (mut out, mut err) = (Vec::new(), Vec::new());
            let r = rt.block_on(create_in_embedded(&admin, &t.a, &mut out, &mut err));
            r.map(|()| {
                (
                    String::from_utf8(out).unwrap(),
                    String::from_utf8(err).unwrap(),
                )
            })
        };
        let (out, err) = run(&["create", "--account", "carol", "--json"]).unwrap();
        assert!(err.contains("new tenant account \"carol\""), "{err}");
        let first: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        // The second key joins the same account (same uuid), quietly.
        let (out, err) = run(&["create", "--account", "carol", "--json"]).unwrap();
        assert!(err.is_empty(), "{err}");
        let second: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        assert_ne!(first["access_key_id"], second["access_key_id"]);
        let file: toml::Value =
            toml::from_str(&std::fs::read_to_string(dir.path().join("keys.toml")).unwrap())
                .unwrap();
        let uuids: std::collections::BTreeSet<_> = file["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["account_uuid"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(uuids.len(), 1, "{file}");
        let listed = run(&["list", "--account", "carol"]).unwrap().0;
        assert_eq!(listed.lines().count(), 2, "{listed}");
        // Sub-users of unknown accounts are not invented; logins are checked.
        assert!(matches!(
            run(&["create", "--account", "dave", "--user", "ci"]),
            Err(KeysCliError::Admin(AdminError::NoSuchUser))
        ));
        for bad in ["x", "1abc", "a/b", "a b", "../etc"] {
            assert!(
                matches!(
                    run(&["create", "--account", bad]),
                    Err(KeysCliError::BadLogin(_))
                ),
                "{bad}"
            );
        }
    }
}
