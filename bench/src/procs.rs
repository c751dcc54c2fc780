//! Starting, watching and stopping the processes under test.
//!
//! The bench runs `buckets-lite` and `s3gw` as real child processes on
//! loopback port 0 (each prints the address it bound), in a temporary
//! directory removed at the end, and stops them by their own pid. Peak memory
//! is read from `/proc/<pid>/status` (`VmHWM`), and reset before each path's
//! run by writing `5` to `/proc/<pid>/clear_refs` (Linux >= 4.0; see proc(5)),
//! so each workload gets its own peak.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use s3gw_httpsig::{KeyId, PrivateKey, Signer};

/// How long a process may take to print its "listening" line.
pub const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a process may take to exit after SIGTERM before it is killed.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(15);

/// Tenant account whose namespace both paths use.
pub const TENANT: &str = "bench";
/// Operator account of the started buckets-lite (in the operators group).
pub const OPERATOR: &str = "operator";
/// The S3 key of the started gateway (a fixed, throwaway development key for a
/// loopback-only process: it protects nothing).
pub const ACCESS_KEY_ID: &str = "S3GWBENCHACCESSKEY01";
pub const SECRET_KEY: &str = "s3gw-bench-secret-key-not-a-real-secret-0001";

/// Where the binaries under test are.
#[derive(Debug, Clone)]
pub struct Bins {
    pub s3gw: PathBuf,
    pub buckets_lite: PathBuf,
}

impl Bins {
    /// Release builds in `target/release/` for timed runs; for smoke runs, the
    /// binaries next to the bench's own executable (debug under `cargo run`),
    /// else the release ones. `dir` overrides the search.
    pub fn locate(dir: Option<&Path>, smoke: bool) -> Result<Bins> {
        let exe = std::env::current_exe().context("locating the bench executable")?;
        let exe_dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
        let release = exe_dir
            .parent()
            .map(|t| t.join("release"))
            .unwrap_or_default();
        let candidates: Vec<PathBuf> = match dir {
            Some(d) => vec![d.to_path_buf()],
            None if smoke => vec![exe_dir, release],
            None => vec![release],
        };
        for d in &candidates {
            let (s3gw, bl) = (d.join("s3gw"), d.join("buckets-lite"));
            if s3gw.is_file() && bl.is_file() {
                return Ok(Bins {
                    s3gw,
                    buckets_lite: bl,
                });
            }
        }
        bail!(
            "s3gw and buckets-lite binaries not found in {}; build them first:\n    \
             cargo build --release -p s3gw -p buckets-lite -p s3gw-bench\n\
             (or point --bin-dir at a directory holding both)",
            candidates
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(" or ")
        )
    }
}

/// A child process stopped by its own pid on drop (SIGTERM, then SIGKILL):
/// the test harness's, shared.
pub use s3gw_tests::procs::ChildProcess;

/// Starts `cmd` (stderr to `log`) and waits for a stdout line starting with
/// `prefix`; returns the process and the rest of that line.
fn spawn(
    name: &str,
    mut cmd: Command,
    prefix: &str,
    log: PathBuf,
) -> Result<(ChildProcess, String)> {
    let err = std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
    cmd.stderr(err).stdin(Stdio::null());
    let (child, rest) = ChildProcess::spawn_until_line(cmd, prefix, START_TIMEOUT, Some(&log))
        .with_context(|| format!("starting {name}"))?;
    Ok((child.with_stop_deadline(STOP_TIMEOUT), rest))
}

/// Resets the peak RSS of `pid` to its current RSS. False when not possible
/// (another user's process, old kernel).
pub fn reset_peak_rss(pid: u32) -> bool {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}

/// Peak RSS (`VmHWM`) of `pid` in bytes.
pub fn peak_rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// CPU time (user + system, all threads) of `pid` in seconds, from fields 14
/// and 15 of `/proc/<pid>/stat`, in USER_HZ ticks (100 per second: fixed by the
/// Linux user-space ABI).
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces: count fields after its ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / 100.0)
}

/// The store's work counters at one moment (buckets-lite's `stats`
/// extension, `GET /stats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
pub struct StoreCounts {
    /// Connections accepted.
    pub connections: u64,
    /// API requests served.
    pub requests: u64,
    /// Rows read by listings.
    pub list_rows: u64,
}

/// Reads a buckets-lite's counters.
pub struct StoreStats {
    http: reqwest::Client,
    url: reqwest::Url,
}

impl StoreStats {
    pub fn new(http: reqwest::Client, native_url: &str) -> Result<StoreStats> {
        let mut url = reqwest::Url::parse(native_url)
            .with_context(|| format!("bad native endpoint {native_url}"))?;
        url.set_path("/stats");
        Ok(StoreStats { http, url })
    }

    /// The counters now; `None` when the store does not offer them.
    pub async fn read(&self) -> Option<StoreCounts> {
        let resp = self.http.get(self.url.clone()).send().await.ok()?;
        if !resp.status().is_success() {
            return None;
        }
        serde_json::from_slice(&resp.bytes().await.ok()?).ok()
    }
}

/// buckets-lite and s3gw in front of it, started in a temporary directory.
pub struct Cluster {
    // Field order is drop order: the gateway stops before its store, and the
    // temporary directory goes last.
    pub gateway: ChildProcess,
    pub store: ChildProcess,
    pub s3_url: String,
    pub native_url: String,
    pub operator: Arc<Signer>,
    /// buckets-lite's data directory (its SQLite is `meta.db` there).
    pub store_dir: PathBuf,
    _dir: tempfile::TempDir,
}

impl Cluster {
    /// Starts both processes with fresh data and keys.
    pub fn start(bins: &Bins) -> Result<Cluster> {
        let dir = tempfile::Builder::new()
            .prefix("s3gw-bench-")
            .tempdir()
            .context("creating a temporary directory")?;
        let d = dir.path();
        let key = PrivateKey::generate_ecdsa(256).expect("P-256");
        let public = key.public_key();
        let key_path = d.join("operator.key");
        std::fs::write(&key_path, key.to_openssh_pem())?;
        let key_id = KeyId {
            login: OPERATOR.into(),
            subuser: None,
            fingerprint: public.md5_fingerprint(),
        };
        let operator = Arc::new(Signer::new(key_id, key));

        let bl_config = d.join("buckets-lite.toml");
        std::fs::write(
            &bl_config,
            format!(
                // compose on, as in s3gw's embedded store: multipart-1g
                // measures the Complete the default install has; stats for
                // the per-operation store counters.
                "[extensions]\ncompose = true\ngrouped_pages = true\nstats = true\n\n\
                 [[accounts]]\nlogin = \"{OPERATOR}\"\noperator = true\nkeys = [{}]\n",
                toml_str(&public.to_openssh())
            ),
        )?;
        let mut cmd = Command::new(&bins.buckets_lite);
        cmd.arg("--config")
            .arg(&bl_config)
            .args(["--listen", "127.0.0.1:0", "--data"])
            .arg(d.join("store"))
            .env("RUST_LOG", "warn");
        let (store, addr) = spawn(
            "buckets-lite",
            cmd,
            "buckets-lite listening on ",
            d.join("buckets-lite.log"),
        )?;
        let native_url = addr;

        let keys_path = d.join("keys.toml");
        std::fs::write(
            &keys_path,
            format!(
                "[[keys]]\naccess_key_id = \"{ACCESS_KEY_ID}\"\nsecret = \"{SECRET_KEY}\"\n\
                 account_login = \"{TENANT}\"\naccount_uuid = \"6d1c3c0e-8a52-4f3e-9a57-be7c00000001\"\n"
            ),
        )?;
        let gw_config = d.join("s3gw.toml");
        std::fs::write(
            &gw_config,
            gateway_config(&native_url, &key_path, &keys_path, d),
        )?;
        let mut cmd = Command::new(&bins.s3gw);
        cmd.arg("serve")
            .arg("--config")
            .arg(&gw_config)
            .env("RUST_LOG", "warn")
            .env("S3GW__LOG__FILTER", "warn");
        let (gateway, s3_url) = spawn("s3gw", cmd, "s3gw listening on ", d.join("s3gw.log"))?;
        Ok(Cluster {
            gateway,
            store,
            s3_url,
            native_url,
            operator,
            store_dir: d.join("store"),
            _dir: dir,
        })
    }
}

/// The gateway's configuration: fronting the started store as its operator,
/// keys from a static keys file.
fn gateway_config(native_url: &str, key_path: &Path, keys_path: &Path, dir: &Path) -> String {
    format!(
        r#"[server]
listen = "127.0.0.1:0"

[backend]
url = {}
operator_login = "{OPERATOR}"
operator_key_file = {}

[keys]
source = "file"
path = {}

[embedded]
data_dir = {}

[log]
filter = "warn"

[ops]
# off: the bench reads no metrics, and a fixed port could be taken
listen = ""
"#,
        toml_str(native_url),
        toml_str(&key_path.display().to_string()),
        toml_str(&keys_path.display().to_string()),
        toml_str(&dir.join("s3gw-data").display().to_string())
    )
}

/// A TOML basic string (JSON string escaping is valid TOML).
fn toml_str(s: &str) -> String {
    serde_json::to_string(s).expect("strings serialise")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_readers_work_on_this_process() {
        let me = std::process::id();
        assert!(peak_rss(me).is_some_and(|b| b > 0));
        let before = cpu_seconds(me).expect("own /proc/self/stat");
        // Burn a little CPU so the counter has something to show.
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        assert!(x != 1);
        assert!(cpu_seconds(me).unwrap() >= before);
        assert!(reset_peak_rss(me), "clear_refs on our own process");
        assert_eq!(peak_rss(u32::MAX), None);
    }
}
