//! A real `s3gw` PROCESS for end-to-end tests.
//!
//! ```no_run
//! use s3gw_tests::buckets_lite::BucketsLite;
//! use s3gw_tests::gateway::{Gateway, GatewayOptions};
//! let lite = BucketsLite::start();
//! let gw = Gateway::start_with(&lite, GatewayOptions::default());
//! println!("{} {} {}", gw.url, gw.key.access_key_id, gw.key.secret);
//! ```
//!
//! - [`Gateway::start_with`]: `s3gw` in front of a started buckets-lite
//!   process (`[backend]` signs as its operator with the harness's key),
//!   port 0, a keys file with one generated key for an account of that
//!   buckets-lite (`alice` by default), fresh temp dir for config and keys.
//! - [`Gateway::start_embedded`]: `s3gw` with no configuration but
//!   `--listen 127.0.0.1:0 --data <tmp>`: the embedded default; the
//!   development key is read back from `<data>/keys.toml`.
//! - [`wildcard_cert`]: an rcgen self-signed certificate for
//!   `*.<domain>` + `<domain>` + `127.0.0.1`, for TLS tests.
//!
//! The process's stderr goes to `<dir>/s3gw.log` ([`Gateway::log_text`]);
//! it is stopped by its own pid on drop (SIGTERM, then SIGKILL).
//!
//! A panic is a bug report: when a [`Gateway`] is dropped or stopped, its
//! log is checked and the test fails if the gateway panicked (see
//! [`panics_in`]), unless the test said it provokes one
//! ([`Gateway::expect_panics`]). No test file can forget the check.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use rand::Rng;

use crate::buckets_lite::{BucketsLite, OPERATOR};
use crate::procs::{spawn_and_wait_for_line, workspace_bin, ChildProcess};

/// What `s3gw` prints on stdout once bound (followed by the URL).
pub const LISTENING_PREFIX: &str = "s3gw listening on ";

/// How long a start may take on a loaded 2-core machine.
pub const START_DEADLINE: Duration = Duration::from_secs(90);

/// An access key the gateway accepts.
#[derive(Debug, Clone)]
pub struct GatewayKey {
    pub access_key_id: String,
    pub secret: String,
    pub account: String,
}

impl GatewayKey {
    /// A fresh random key for `account`: 20 upper-case letters and digits
    /// (AWS-shaped) and a 40-character secret.
    pub fn generate(account: &str) -> GatewayKey {
        let mut rng = rand::thread_rng();
        const UP: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        const ANY: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let id: String = (0..20)
            .map(|_| UP[rng.gen_range(0..UP.len())] as char)
            .collect();
        let secret: String = (0..40)
            .map(|_| ANY[rng.gen_range(0..ANY.len())] as char)
            .collect();
        GatewayKey {
            access_key_id: id,
            secret,
            account: account.to_owned(),
        }
    }
}

/// Options of [`Gateway::start_with`].
#[derive(Debug, Clone)]
pub struct GatewayOptions {
    /// Service domains for virtual-host addressing.
    pub domains: Vec<String>,
    /// `(cert.pem, key.pem)` to serve HTTPS.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// The buckets-lite account the generated key belongs to.
    pub account: String,
    /// More keys to put in the keys file.
    pub extra_keys: Vec<GatewayKey>,
    /// Appended verbatim to the generated s3gw.toml.
    pub extra_toml: String,
    /// Appended verbatim inside its `[server]` section (e.g. `regions = [..]`).
    pub server_toml: String,
    /// Appended verbatim inside its `[backend]` section (e.g. timeouts).
    pub backend_toml: String,
    /// `RUST_LOG` for the gateway.
    pub log_filter: String,
    /// Replaces the generated `[keys]` section (e.g. an LDAP source); the
    /// generated key is then unknown to the gateway.
    pub keys_section: Option<String>,
}

impl Default for GatewayOptions {
    fn default() -> Self {
        GatewayOptions {
            domains: vec!["s3.test".into()],
            tls: None,
            account: "alice".into(),
            extra_keys: Vec::new(),
            extra_toml: String::new(),
            server_toml: String::new(),
            backend_toml: String::new(),
            log_filter: "s3gw=debug,info".into(),
            keys_section: None,
        }
    }
}

/// A running `s3gw` process.
pub struct Gateway {
    /// `http://127.0.0.1:PORT` or `https://...`.
    pub url: String,
    pub addr: SocketAddr,
    /// Config, keys file and log live here.
    pub dir: PathBuf,
    /// The key the tests sign with.
    pub key: GatewayKey,
    child: ChildProcess,
    /// Set by [`Gateway::expect_panics`]: the drop-time log check is off.
    panics_expected: bool,
    _tmp: Option<tempfile::TempDir>,
}

fn keys_toml(keys: &[GatewayKey]) -> String {
    let q = |s: &str| serde_json::to_string(s).expect("strings serialise");
    let mut out = String::new();
    for k in keys {
        out.push_str("[[keys]]\n");
        out.push_str(&format!("access_key_id = {}\n", q(&k.access_key_id)));
        out.push_str(&format!("secret = {}\n", q(&k.secret)));
        out.push_str(&format!("account_login = {}\n", q(&k.account)));
        out.push_str(&format!("account_uuid = {}\n\n", q(&uuid_for(&k.account))));
    }
    out
}

/// A stable uuid per account login (the owner ID in listings).
fn uuid_for(login: &str) -> String {
    use md5::Digest;
    let d: [u8; 16] = md5::Md5::digest(login.as_bytes()).into();
    uuid::Uuid::from_bytes(d).to_string()
}

impl Gateway {
    /// `s3gw` in front of `lite`, with a generated key for `opts.account`.
    pub fn start_with(lite: &BucketsLite, opts: GatewayOptions) -> Gateway {
        Self::start_for_store(&lite.url, OPERATOR, &lite.operator_key_pem(), opts)
    }

    /// `s3gw` in front of any native store at `url` (buckets-lite or the
    /// real stack, `crate::real_manta`), signing as `operator_login` with
    /// `operator_key_pem`, with a generated key for `opts.account`.
    pub fn start_for_store(
        url: &str,
        operator_login: &str,
        operator_key_pem: &str,
        opts: GatewayOptions,
    ) -> Gateway {
        let tmp = tempfile::tempdir().expect("temp dir");
        let dir = tmp.path().to_path_buf();
        let key = GatewayKey::generate(&opts.account);
        let mut keys = vec![key.clone()];
        keys.extend(opts.extra_keys.iter().cloned());
        std::fs::write(dir.join("keys.toml"), keys_toml(&keys)).expect("keys file");
        std::fs::write(dir.join("operator.key"), operator_key_pem).expect("operator key");
        let q = |s: &str| serde_json::to_string(s).expect("strings serialise");
        let mut toml = String::new();
        toml.push_str("[server]\nlisten = \"127.0.0.1:0\"\n");
        let domains: Vec<String> = opts.domains.iter().map(|d| q(d)).collect();
        toml.push_str(&format!("domains = [{}]\n", domains.join(", ")));
        toml.push_str("shutdown_timeout = \"5s\"\n");
        toml.push_str(&opts.server_toml);
        toml.push('\n');
        if let Some((c, k)) = &opts.tls {
            toml.push_str(&format!(
                "tls_cert = {}\ntls_key = {}\n",
                q(&c.to_string_lossy()),
                q(&k.to_string_lossy())
            ));
        }
        match &opts.keys_section {
            Some(keys) => toml.push_str(&format!("\n{keys}\n")),
            None => toml.push_str(&format!(
                "\n[keys]\nsource = \"file\"\npath = {}\n",
                q(&dir.join("keys.toml").to_string_lossy())
            )),
        }
        toml.push_str(&format!(
            "\n[backend]\nurl = {}\noperator_login = {}\noperator_key_file = {}\n",
            q(url),
            q(operator_login),
            q(&dir.join("operator.key").to_string_lossy())
        ));
        toml.push_str(&opts.backend_toml);
        toml.push('\n');
        // Many gateways run at once: each its own ops port (the default is
        // a fixed one), unless the test configures [ops] itself.
        if !opts.extra_toml.contains("[ops]") {
            toml.push_str("[ops]\nlisten = \"127.0.0.1:0\"\n\n");
        }
        toml.push_str(&opts.extra_toml);
        let config = dir.join("s3gw.toml");
        std::fs::write(&config, toml).expect("s3gw.toml");
        let mut cmd = Command::new(workspace_bin("s3gw"));
        cmd.arg("--config").arg(&config);
        Self::launch(cmd, dir, key, &opts.log_filter, Some(tmp))
    }

    /// `s3gw` in its embedded default over a fresh data directory.
    pub fn start_embedded() -> Gateway {
        let tmp = tempfile::tempdir().expect("temp dir");
        let dir = tmp.path().to_path_buf();
        Self::start_embedded_in(&dir, Some(tmp))
    }

    /// The embedded default over `data` (kept by the caller: restart tests).
    pub fn start_embedded_in(data: &Path, tmp: Option<tempfile::TempDir>) -> Gateway {
        Self::start_embedded_with(data, tmp, &[], &[])
    }

    /// The embedded default with extra command-line arguments (e.g.
    /// `--domain NAME`) and environment (e.g. `S3GW_ROOT_ACCESS_KEY`). The
    /// key is read back from `<data>/keys.toml`.
    pub fn start_embedded_with(
        data: &Path,
        tmp: Option<tempfile::TempDir>,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Gateway {
        let mut cmd = Command::new(workspace_bin("s3gw"));
        cmd.arg("serve")
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data")
            .arg(data)
            .args(args)
            .env_remove("S3GW_ROOT_ACCESS_KEY")
            .env_remove("S3GW_ROOT_SECRET_KEY")
            .env_remove("S3GW_ROOT_SECRET_KEY_FILE")
            .env_remove("S3GW_ROOT_ACCOUNT")
            .env_remove("S3GW_CONFIG")
            // its own ops port (the default is a fixed one); env may override
            .env("S3GW__OPS__LISTEN", "127.0.0.1:0");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut gw = Self::launch(
            cmd,
            data.to_path_buf(),
            GatewayKey::generate("dev"),
            "s3gw=debug,info",
            tmp,
        );
        gw.key = read_first_key(&data.join("keys.toml"));
        gw
    }

    fn launch(
        mut cmd: Command,
        dir: PathBuf,
        key: GatewayKey,
        log_filter: &str,
        tmp: Option<tempfile::TempDir>,
    ) -> Gateway {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("s3gw.log"))
            .expect("log file");
        cmd.env("RUST_LOG", log_filter)
            .stdin(Stdio::null())
            .stderr(log);
        let (child, url) = spawn_and_wait_for_line(cmd, LISTENING_PREFIX, START_DEADLINE);
        let addr: SocketAddr = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("https://"))
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("unexpected listening line: {url}"));
        Gateway {
            url,
            addr,
            dir,
            key,
            child,
            panics_expected: false,
            _tmp: tmp,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.pid()
    }

    /// `http://ADDR` of the ops listener (`/metrics`, `/health/*`), from
    /// the line s3gw logs when it binds (the harness gives each gateway
    /// port 0 there).
    ///
    /// # Panics
    /// When no such line appears within [`START_DEADLINE`].
    pub fn ops_url(&self) -> String {
        const NEEDLE: &str = "ops server listening on http://";
        let mut found = None;
        let ok = crate::procs::wait_until(START_DEADLINE, || {
            let log = self.log_text();
            found = log.find(NEEDLE).map(|i| {
                let rest = &log[i + NEEDLE.len()..];
                let end = rest
                    .find(|c: char| c.is_whitespace() || c == '"')
                    .unwrap_or(rest.len());
                format!("http://{}", &rest[..end])
            });
            found.is_some()
        });
        assert!(ok, "no ops listening line in the log:\n{}", self.log_text());
        found.expect("found")
    }

    /// The endpoint URL (`http://127.0.0.1:PORT`).
    pub fn endpoint(&self) -> &str {
        &self.url
    }

    /// The gateway's stderr so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.dir.join("s3gw.log")).unwrap_or_default()
    }

    /// SIGTERM and wait for the exit (graceful shutdown); the status.
    /// The log is then checked for panics (as on drop).
    pub fn stop(mut self) -> Option<std::process::ExitStatus> {
        self.child.signal(crate::procs::Signal::TERM);
        self.child.wait_timeout(crate::procs::STOP_DEADLINE)
    }

    /// For a test that provokes a panic on purpose (the service boundary's
    /// catch): its log is not checked for panics when it stops.
    pub fn expect_panics(&mut self) {
        self.panics_expected = true;
    }

    /// Fails the test now if the gateway's log shows a panic so far.
    pub fn assert_no_panic(&self) {
        let panics = panics_in(&self.log_text());
        assert!(
            panics.is_empty(),
            "the gateway panicked (a panic is a bug report); log {}:\n{}",
            self.dir.join("s3gw.log").display(),
            panics.join("\n")
        );
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        // A failing test already reports its own failure; a second panic
        // while unwinding would abort the test binary.
        if self.panics_expected || std::thread::panicking() {
            return;
        }
        self.assert_no_panic();
    }
}

/// The lines of a gateway log that report a panic: the standard panic
/// hook's `thread '...' panicked at file:line:col:` and a line logged by
/// the service boundary's catch (any line saying `panicked`), each with the
/// line after it (the message).
pub fn panics_in(log: &str) -> Vec<String> {
    let lines: Vec<&str> = log.lines().collect();
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        if l.contains("panicked") {
            let next = lines.get(i + 1).copied().unwrap_or("");
            out.push(format!("{l}\n{next}"));
        }
    }
    out
}

/// The first key of a keys file (the embedded default's development key).
pub fn read_first_key(path: &Path) -> GatewayKey {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let v: toml::Value = toml::from_str(&text).expect("keys file is TOML");
    let k = &v["keys"][0];
    let s = |n: &str| {
        k[n].as_str()
            .unwrap_or_else(|| panic!("keys file without {n}"))
            .to_owned()
    };
    GatewayKey {
        access_key_id: s("access_key_id"),
        secret: s("secret"),
        account: s("account_login"),
    }
}

/// A self-signed certificate for `*.<domain>`, `<domain>` and 127.0.0.1,
/// written as `cert.pem` / `key.pem` in `dir`; returns the paths and the
/// certificate PEM (to trust it in a client).
pub fn wildcard_cert(dir: &Path, domain: &str) -> (PathBuf, PathBuf, String) {
    let names = vec![
        format!("*.{domain}"),
        domain.to_owned(),
        "127.0.0.1".to_owned(),
    ];
    let ck = rcgen::generate_simple_self_signed(names).expect("rcgen certificate");
    let cert_pem = ck.cert.pem();
    let (c, k) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&c, &cert_pem).expect("cert.pem");
    std::fs::write(&k, ck.key_pair.serialize_pem()).expect("key.pem");
    (c, k, cert_pem)
}

#[cfg(test)]
mod tests {
    use super::panics_in;

    #[test]
    fn panics_in_finds_the_hook_and_the_boundary_lines_only() {
        let log = "INFO s3gw: request done\n\
                   thread 'actix-rt|system:0|arbiter:0' panicked at gateway/src/x.rs:1:2:\n\
                   boom\n\
                   ERROR s3gw: request handler panicked; answered 500 InternalError panic=boom\n\
                   INFO s3gw: key \"panic-room\" stored\n";
        let found = panics_in(log);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].contains("panicked at") && found[0].ends_with("boom"));
        assert!(panics_in("INFO all good\n").is_empty());
    }
}
