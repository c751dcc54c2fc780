//! The REAL Manta buckets stack for tests: the real manta-buckets-api,
//! buckets-mdapi over PostgreSQL, mdplacement and mahi, brought up by
//! `scripts/real-manta.sh up` from the pinned sources beside the repository
//! (`../shared/real-manta`).
//!
//! ```no_run
//! use s3gw_tests::real_manta::RealManta;
//! let real = RealManta::get(); // starts the stack once per process, or finds it up
//! let op = real.client(); // signs as the operator (ECDSA P-256)
//! let carol = op.for_account("carol"); // the operator acting for tenant carol
//! # let _ = carol;
//! real.assert_alive(); // buckets-api has not aborted since the suite began
//! ```
//!
//! - [`RealManta::get`]: runs `scripts/real-manta.sh up` once per test
//!   process (seconds when the stack is already up) and reads the identity
//!   it wrote (`$REAL_MANTA_DIR/s3gw/`). It panics with the script's
//!   message when the stack cannot start: the real-code suite is never
//!   skipped silently.
//! - The identity: one operator account (a member of `cn=operators`, an
//!   ECDSA P-256 key) and tenant accounts without keys ([`TENANTS`]), the
//!   production model: s3gw signs every native request as the operator,
//!   addressing `/:tenant/buckets`.
//! - [`RealManta::assert_alive`]: the buckets-api process found at start is
//!   still the one running and answers. A gateway request that made the real
//!   server abort (as a truncated listing page ending on a group does) fails
//!   the test that checks this.
//! - [`RealManta::gateway`]: a real `s3gw` process in front of the stack.
//! - [`unique_bucket`]: a fresh bucket name: the stack's data outlive a test
//!   process, so no test may depend on what another left behind.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};

use s3gw_httpsig::{KeyId, PrivateKey, Signer};

use crate::buckets_lite::NativeClient;
use crate::gateway::{Gateway, GatewayOptions};

/// Tenant accounts (no keys) the script loads into mahi. The translator's
/// live cases own `alice` and `bob` (they empty them between cases); the
/// gateway suite uses `carol` and `dave` with unique bucket names.
pub const TENANTS: &[&str] = &["alice", "bob", "carol", "dave"];

/// The started (or found) real stack.
#[derive(Debug)]
pub struct RealManta {
    /// `http://127.0.0.1:8081` (buckets-api).
    pub url: String,
    /// `$REAL_MANTA_DIR` (logs in `log/`, pids in `run/`).
    pub dir: PathBuf,
    pub operator_login: String,
    /// The operator's private key (SEC1 PEM, P-256).
    pub operator_key_pem: String,
    /// buckets-api's pid when this process first saw the stack.
    pub api_pid: u32,
}

static STACK: OnceLock<RealManta> = OnceLock::new();

/// The repository root (this crate lives in `<root>/tests`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// A bucket name no other test (or earlier run) uses: `<prefix>-<12 hex>`.
pub fn unique_bucket(prefix: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}-{}", &id[..12])
}

fn read_env(path: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (scripts/real-manta.sh up writes it)",
            path.display()
        )
    });
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.trim_matches('"').to_owned()))
        .collect()
}

fn pid_of(dir: &Path, svc: &str) -> Option<u32> {
    std::fs::read_to_string(dir.join("run").join(format!("{svc}.pid")))
        .ok()
        .and_then(|s| s.trim().parse().ok())
}

impl RealManta {
    /// The stack, started by `scripts/real-manta.sh up` on first use in this
    /// process (idempotent: seconds when it is already up).
    ///
    /// # Panics
    /// When the stack cannot start: the message says why and where the logs are.
    pub fn get() -> &'static RealManta {
        STACK.get_or_init(Self::start)
    }

    fn start() -> RealManta {
        let script = repo_root().join("scripts/real-manta.sh");
        let out = Command::new("bash")
            .arg(&script)
            .arg("up")
            .output()
            .unwrap_or_else(|e| panic!("running {}: {e}", script.display()));
        eprintln!("{}", String::from_utf8_lossy(&out.stdout));
        assert!(
            out.status.success(),
            "the real Manta stack could not start: `{} up` failed ({}):\n{}\n{}",
            script.display(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let dir = PathBuf::from(
            std::env::var("REAL_MANTA_DIR").unwrap_or_else(|_| "/var/tmp/real-manta".into()),
        );
        let vars = read_env(&dir.join("s3gw/identity.env"));
        let var = |k: &str| {
            vars.iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| panic!("identity.env without {k}"))
        };
        let key_path = dir.join("s3gw/operator.key");
        let operator_key_pem = std::fs::read_to_string(&key_path)
            .unwrap_or_else(|e| panic!("{}: {e}", key_path.display()));
        let api_pid = pid_of(&dir, "buckets-api").expect("buckets-api pid file");
        RealManta {
            url: var("API_URL"),
            operator_login: var("OPERATOR_LOGIN"),
            operator_key_pem,
            api_pid,
            dir,
        }
    }

    /// The operator's signer (`/<operator>/keys/<md5 fingerprint>`, ecdsa-sha256).
    pub fn operator_signer(&self) -> Arc<Signer> {
        let key = PrivateKey::from_pem_or_openssh(&self.operator_key_pem).expect("operator key");
        let id = KeyId {
            login: self.operator_login.clone(),
            subuser: None,
            fingerprint: key.public_key().md5_fingerprint(),
        };
        Arc::new(Signer::new(id, key))
    }

    /// A native client signing as the operator, addressing the operator's
    /// own namespace (`for_account` acts for a tenant).
    pub fn client(&self) -> NativeClient {
        NativeClient::new(
            &self.url,
            &self.operator_login,
            Some(self.operator_signer()),
        )
    }

    /// `s3gw` in front of the real stack, signing as the operator, with a
    /// generated S3 key for tenant `opts.account`.
    pub fn gateway(&self, opts: GatewayOptions) -> Gateway {
        Gateway::start_for_store(
            &self.url,
            &self.operator_login,
            &self.operator_key_pem,
            opts,
        )
    }

    /// Whether the buckets-api process seen at start still runs and is
    /// still the one the pid file names (not restarted since).
    pub fn is_alive(&self) -> bool {
        Path::new(&format!("/proc/{}", self.api_pid)).exists()
            && pid_of(&self.dir, "buckets-api") == Some(self.api_pid)
    }

    /// # Panics
    /// When buckets-api aborted (or was restarted) since this process first
    /// saw it; the message carries the assertion from its log.
    pub fn assert_alive(&self) {
        if self.is_alive() {
            return;
        }
        let log = std::fs::read_to_string(self.dir.join("log/buckets-api.log")).unwrap_or_default();
        let why: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("Error") || l.contains("assert"))
            .rev()
            .take(5)
            .collect();
        panic!(
            "buckets-api (pid {}) is no longer running: the real server aborted; {}/log/buckets-api.log says:\n{}",
            self.api_pid,
            self.dir.display(),
            why.join("\n")
        );
    }
}
