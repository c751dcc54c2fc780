//! The embedded default (issue 6 item 2): with no `[backend]`, s3gw runs a
//! buckets-lite store in its own process on a loopback port, with its data
//! under `<data_dir>/store`, signing with an ECDSA P-256 operator key
//! generated once (`<data_dir>/operator.key`, mode 0600) for an `operator`
//! account in the operators group (P-256: a key the real buckets-api also
//! accepts). An Ed25519 key written by an older release keeps working: the
//! embedded store then enables its `ed25519_signatures` extension. With no `[keys]`, access keys come from
//! `<data_dir>/keys.toml`, created on first start with one development key
//! (or the key `S3GW_ROOT_ACCESS_KEY` / `S3GW_ROOT_SECRET_KEY` /
//! `S3GW_ROOT_ACCOUNT` define; the secret may come from the file
//! `S3GW_ROOT_SECRET_KEY_FILE` names instead). A restart finds the same data and keys.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use s3gw_translator::Backend;

use crate::config::Config;

/// Login of the embedded store's operator account.
pub const OPERATOR_LOGIN: &str = "operator";
/// Account login of the development key unless `S3GW_ROOT_ACCOUNT` says
/// otherwise.
pub const DEFAULT_DEV_ACCOUNT: &str = "dev";

/// A development key written to the keys file on this start.
#[derive(Clone)]
pub struct DevKey {
    pub access_key_id: String,
    pub secret: String,
    pub account: String,
}

impl std::fmt::Debug for DevKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevKey")
            .field("access_key_id", &self.access_key_id)
            .field("secret", &"<redacted>")
            .field("account", &self.account)
            .finish()
    }
}

/// The running embedded store and what the gateway needs from it.
pub struct Embedded {
    pub backend: Arc<dyn Backend>,
    #[cfg(feature = "embedded")]
    server: buckets_lite::Server,
    keys_file: PathBuf,
    /// Set when this start created the development key (print it once).
    pub new_dev_key: Option<DevKey>,
}

impl Embedded {
    /// The keys source for the embedded keys file.
    pub fn keys_source(&self) -> s3gw_auth_cache::KeySourceConfig {
        s3gw_auth_cache::KeySourceConfig::File(s3gw_auth_cache::FileSourceConfig::new(
            &self.keys_file,
        ))
    }
    pub async fn stop(self) {
        #[cfg(feature = "embedded")]
        self.server.stop().await;
    }
}

/// Without the `embedded` cargo feature there is no embedded store:
/// `[backend]` is required.
#[cfg(not(feature = "embedded"))]
pub async fn start(_config: &Config) -> anyhow::Result<Embedded> {
    anyhow::bail!(
        "no [backend] configured, and this s3gw was built without the embedded store \
         (cargo feature `embedded`): configure [backend] and [keys]"
    )
}

/// Starts the embedded store (and, when `[keys]` is absent, makes sure the
/// keys file exists).
#[cfg(feature = "embedded")]
pub async fn start(config: &Config) -> anyhow::Result<Embedded> {
    let data = &config.embedded.data_dir;
    std::fs::create_dir_all(data)
        .with_context(|| format!("creating embedded.data_dir {}", data.display()))?;
    let key = operator_key(&data.join("operator.key"))?;
    let store_dir = data.join("store");
    std::fs::create_dir_all(&store_dir)
        .with_context(|| format!("creating {}", store_dir.display()))?;

    let lite_cfg = buckets_lite_config(&store_dir, &key)?;
    let server = buckets_lite::start(lite_cfg)
        .await
        .map_err(|e| anyhow::anyhow!("starting the embedded store: {e}"))?;
    let url = format!("http://{}", server.local_addr());
    let mc = s3gw_translator::manta::MantaConfig::new(url, OPERATOR_LOGIN, key);
    let backend = s3gw_translator::manta::MantaBackend::new(mc)
        .map_err(|e| anyhow::anyhow!("embedded backend: {e}"))?;

    let keys_file = data.join("keys.toml");
    let new_dev_key = if config.keys.is_none() {
        ensure_keys_file(&keys_file, &RootKeyEnv::from_env()?)?
    } else {
        None
    };
    Ok(Embedded {
        backend: Arc::new(backend),
        server,
        keys_file,
        new_dev_key,
    })
}

/// The buckets-lite configuration: loopback, port 0, one operator account.
#[cfg(feature = "embedded")]
fn buckets_lite_config(
    store_dir: &Path,
    key: &s3gw_httpsig::PrivateKey,
) -> anyhow::Result<buckets_lite::Config> {
    #[derive(serde::Serialize)]
    struct Account<'a> {
        login: &'a str,
        keys: Vec<String>,
        operator: bool,
    }
    #[derive(serde::Serialize)]
    struct LiteToml<'a> {
        listen: &'a str,
        data_dir: &'a Path,
        accounts: Vec<Account<'a>>,
    }
    let text = toml::to_string(&LiteToml {
        listen: "127.0.0.1:0",
        data_dir: store_dir,
        accounts: vec![Account {
            login: OPERATOR_LOGIN,
            keys: vec![key.public_key().to_openssh()],
            operator: true,
        }],
    })?;
    let mut cfg = buckets_lite::Config::from_toml(&text)
        .map_err(|e| anyhow::anyhow!("embedded store configuration: {e}"))?;
    // Only our own store may take an Ed25519 key (one generated by an older
    // release); the real server refuses such signatures.
    cfg.extensions.ed25519_signatures = key.public_key().kind() == "ed25519";
    // Our own store: multipart Complete composes the object server-side
    // (docs/buckets-lite.md "Extensions") instead of streaming it twice.
    cfg.extensions.compose = true;
    // ... and groups delimiter listings itself (pages may end on a group).
    cfg.extensions.grouped_pages = true;
    Ok(cfg)
}

/// Loads the operator key, generating it (mode 0600) on first start.
#[cfg(feature = "embedded")]
fn operator_key(path: &Path) -> anyhow::Result<s3gw_httpsig::PrivateKey> {
    if path.exists() {
        let pem =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        return s3gw_httpsig::PrivateKey::from_pem_or_openssh(&pem)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()));
    }
    let key = s3gw_httpsig::PrivateKey::generate_ecdsa(256)
        .map_err(|e| anyhow::anyhow!("generating the operator key: {e}"))?;
    write_private(path, key.to_openssh_pem().as_bytes())?;
    Ok(key)
}

/// Writes a secret file atomically with mode 0600.
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// `S3GW_ROOT_ACCESS_KEY`, `S3GW_ROOT_SECRET_KEY` (or the file
/// `S3GW_ROOT_SECRET_KEY_FILE` names), `S3GW_ROOT_ACCOUNT`.
#[derive(Debug, Default, Clone)]
pub struct RootKeyEnv {
    pub access_key: Option<String>,
    pub secret_key: Option<String>,
    pub account: Option<String>,
}

impl RootKeyEnv {
    pub fn from_env() -> anyhow::Result<RootKeyEnv> {
        let get = |n: &str| std::env::var(n).ok().filter(|v| !v.is_empty());
        Ok(RootKeyEnv {
            access_key: get("S3GW_ROOT_ACCESS_KEY"),
            secret_key: secret_value(
                get("S3GW_ROOT_SECRET_KEY"),
                get("S3GW_ROOT_SECRET_KEY_FILE").map(PathBuf::from),
            )?,
            account: get("S3GW_ROOT_ACCOUNT"),
        })
    }
}

/// A secret given either as a value or as a file holding it (one trailing
/// newline dropped); both at once is refused.
pub fn secret_value(
    value: Option<String>,
    file: Option<PathBuf>,
) -> anyhow::Result<Option<String>> {
    match (value, file) {
        (Some(_), Some(_)) => anyhow::bail!(
            "S3GW_ROOT_SECRET_KEY and S3GW_ROOT_SECRET_KEY_FILE are both set: set one"
        ),
        (v, None) => Ok(v),
        (None, Some(p)) => {
            let text = std::fs::read_to_string(&p)
                .with_context(|| format!("reading S3GW_ROOT_SECRET_KEY_FILE {}", p.display()))?;
            let s = text.strip_suffix('\n').unwrap_or(&text);
            let s = s.strip_suffix('\r').unwrap_or(s);
            anyhow::ensure!(
                !s.is_empty(),
                "S3GW_ROOT_SECRET_KEY_FILE {} is empty",
                p.display()
            );
            Ok(Some(s.to_owned()))
        }
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct KeysFile {
    keys: Vec<KeyEntry>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct KeyEntry {
    access_key_id: String,
    secret: String,
    account_login: String,
    account_uuid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    description: Option<String>,
}

/// Makes sure the keys file holds the development key. The environment's
/// key, when given, is (re)written so that changing the variables changes
/// the key; otherwise an existing file is left alone and a missing one is
/// created with a generated key, returned so it can be printed once.
pub fn ensure_keys_file(path: &Path, env: &RootKeyEnv) -> anyhow::Result<Option<DevKey>> {
    let account = env
        .account
        .clone()
        .unwrap_or_else(|| DEFAULT_DEV_ACCOUNT.to_owned());
    let (id, secret, generated) = match (&env.access_key, &env.secret_key) {
        (Some(a), Some(s)) => {
            a.parse::<s3gw_auth_cache::AccessKeyId>().map_err(|_| {
                anyhow::anyhow!(
                    "S3GW_ROOT_ACCESS_KEY must be 16 to 128 letters, digits or underscores"
                )
            })?;
            if s.len() < 8 {
                anyhow::bail!("S3GW_ROOT_SECRET_KEY must be at least 8 characters");
            }
            (a.clone(), s.clone(), false)
        }
        (None, None) if path.exists() => return Ok(None),
        (None, None) => (
            s3gw_auth_cache::generate_access_key_id()
                .as_str()
                .to_owned(),
            s3gw_auth_cache::generate_secret().expose_str().to_owned(),
            true,
        ),
        _ => anyhow::bail!("S3GW_ROOT_ACCESS_KEY and S3GW_ROOT_SECRET_KEY must be set together"),
    };
    // Keep the account uuid stable across restarts.
    let old: Option<KeysFile> = std::fs::read_to_string(path)
        .ok()
        .and_then(|t| toml::from_str(&t).ok());
    let account_uuid = old
        .as_ref()
        .and_then(|f| f.keys.iter().find(|k| k.account_login == account))
        .map(|k| k.account_uuid.clone())
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    if let Some(f) = &old {
        if f.keys.len() == 1
            && f.keys[0].access_key_id == id
            && f.keys[0].secret == secret
            && f.keys[0].account_login == account
        {
            return Ok(None);
        }
    }
    let file = KeysFile {
        keys: vec![KeyEntry {
            access_key_id: id.clone(),
            secret: secret.clone(),
            account_login: account.clone(),
            account_uuid,
            description: Some("s3gw development key".into()),
        }],
    };
    write_private(path, toml::to_string(&file)?.as_bytes())?;
    Ok(generated.then_some(DevKey {
        access_key_id: id,
        secret,
        account,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_file_is_created_once_and_env_defines_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.toml");
        let k = ensure_keys_file(&path, &RootKeyEnv::default())
            .unwrap()
            .expect("created");
        assert_eq!(k.account, "dev");
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&path).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(&k.access_key_id) && text.contains(&k.secret));
        // second start: nothing new, same file
        assert!(ensure_keys_file(&path, &RootKeyEnv::default())
            .unwrap()
            .is_none());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
        // the environment replaces it (not printed: the user chose it)
        let env = RootKeyEnv {
            access_key: Some("ROOTKEY_0123456789".into()),
            secret_key: Some("rootsecret-123".into()),
            account: Some("alice".into()),
        };
        assert!(ensure_keys_file(&path, &env).unwrap().is_none());
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("ROOTKEY_0123456789") && text.contains("alice"));
        let bad = RootKeyEnv {
            access_key: Some("short".into()),
            secret_key: Some("rootsecret-123".into()),
            account: None,
        };
        assert!(ensure_keys_file(&path, &bad).is_err());
    }

    #[test]
    fn the_root_secret_comes_from_a_value_or_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("secret");
        std::fs::write(&f, "0123 secret\n").unwrap();
        let got = secret_value(None, Some(f.clone())).unwrap();
        assert_eq!(got.as_deref(), Some("0123 secret"));
        assert_eq!(
            secret_value(Some("v".into()), None).unwrap().as_deref(),
            Some("v")
        );
        assert!(secret_value(Some("v".into()), Some(f)).is_err());
        let e = secret_value(None, Some(dir.path().join("missing"))).unwrap_err();
        assert!(
            format!("{e:#}").contains("S3GW_ROOT_SECRET_KEY_FILE"),
            "{e:#}"
        );
    }
}
