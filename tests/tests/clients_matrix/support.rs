//! Shared helpers for the real-client matrix.
//!
//! Every client test starts its own `s3gw` process (fresh data directory,
//! its own keys), runs a real client program as a subprocess with a
//! deadline, and then CHECKS the outcome (bytes, listings), never only the
//! exit code.
//!
//! Client programs are looked up in `<workspace>/target/venv/bin` first
//! (where `scripts/test-all.sh` installs awscli and boto3), then on `PATH`.
//! A missing client is a test FAILURE with a message saying how to install
//! it: the matrix is part of the README test command and must never pass by
//! silently skipping a client.
//!

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use md5::{Digest, Md5};
use rand::Rng;

/// Deadline for one client command. Generous: the machine has 2 cores
/// shared with parallel tests and the gateway is a debug build.
pub const CLIENT_DEADLINE: Duration = Duration::from_secs(240);

/// Size of the big file in the 200-file tree: above every client's
/// multipart threshold (aws cli: 8 MiB) so the tree exercises multipart.
pub const TREE_BIG_FILE: u64 = 64 * 1024 * 1024;

/// Number of files in the generated tree (issue 6: "a tree of 200 files").
pub const TREE_FILES: usize = 200;

/// The workspace root (the parent of this crate's manifest directory).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// Locate a client program: `target/venv/bin/NAME`, then `PATH`.
/// Panics (fails the test) with an installation hint when it is missing.
pub fn client_program(name: &str) -> PathBuf {
    let venv = workspace_root().join("target/venv/bin").join(name);
    if venv.is_file() {
        return venv;
    }
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!(
        "client program `{name}` is not installed (looked in target/venv/bin and PATH). \
         The client matrix needs it; run scripts/test-all.sh, or install it by hand: \
         `apt-get install -y s3cmd rclone curl slapd ldap-utils` and \
         `python3 -m venv target/venv && target/venv/bin/pip install -r tests/clients/requirements.txt`"
    );
}

/// The Python interpreter that has boto3 (the venv's, else `python3`),
/// checked to import boto3 so a missing package fails with a clear message.
pub fn python_with_boto3() -> PathBuf {
    let venv = workspace_root().join("target/venv/bin/python");
    let python = if venv.is_file() {
        venv
    } else {
        client_program("python3")
    };
    let ok = Command::new(&python)
        .args(["-c", "import boto3"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok,
        "boto3 is not importable by {}: run `python3 -m venv target/venv && \
         target/venv/bin/pip install -r tests/clients/requirements.txt`",
        python.display()
    );
    python
}

/// A client script under `tests/clients/`.
pub fn client_script(name: &str) -> PathBuf {
    workspace_root().join("tests/clients").join(name)
}

/// What a finished client command printed.
pub struct Ran {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

static RUN_SEQ: AtomicU64 = AtomicU64::new(0);

/// Run `cmd` to completion within `deadline`; stdout and stderr go to
/// files (no pipe can fill up and block the child). A command that
/// overruns is killed by its own pid and fails the test.
pub fn run_raw(cmd: &mut Command, deadline: Duration) -> Ran {
    let dir = tempfile::tempdir().expect("temp dir for command output");
    let n = RUN_SEQ.fetch_add(1, Ordering::Relaxed);
    let out_path = dir.path().join(format!("out-{n}"));
    let err_path = dir.path().join(format!("err-{n}"));
    let described = describe(cmd);
    let child = cmd
        .stdin(Stdio::null())
        .stdout(fs::File::create(&out_path).expect("stdout file"))
        .stderr(fs::File::create(&err_path).expect("stderr file"))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start `{described}`: {e}"));
    let mut child = s3gw_tests::procs::ChildProcess::new(child, described.clone());
    let Some(status) = child.wait_timeout(deadline) else {
        // Stop exactly that process (its own pid), then report.
        child.kill9();
        panic!(
            "`{described}` did not finish within {deadline:?}; stdout:\n{}\nstderr:\n{}",
            read_lossy(&out_path),
            read_lossy(&err_path)
        );
    };
    Ran {
        status,
        stdout: read_lossy(&out_path),
        stderr: read_lossy(&err_path),
    }
}

/// Run a client command that must succeed; returns its stdout.
pub fn run_ok(cmd: &mut Command) -> Ran {
    let described = describe(cmd);
    let ran = run_raw(cmd, CLIENT_DEADLINE);
    assert!(
        ran.status.success(),
        "`{described}` failed ({}):\nstdout:\n{}\nstderr:\n{}",
        ran.status,
        tail(&ran.stdout),
        tail(&ran.stderr)
    );
    ran
}

/// Run a client command that must FAIL; returns what it printed.
pub fn run_fails(cmd: &mut Command) -> Ran {
    let described = describe(cmd);
    let ran = run_raw(cmd, CLIENT_DEADLINE);
    assert!(
        !ran.status.success(),
        "`{described}` was expected to fail but succeeded:\nstdout:\n{}\nstderr:\n{}",
        tail(&ran.stdout),
        tail(&ran.stderr)
    );
    ran
}

fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

fn read_lossy(path: &Path) -> String {
    String::from_utf8_lossy(&fs::read(path).unwrap_or_default()).into_owned()
}

/// The last ~8 KB of a (possibly huge, e.g. `--debug`) output.
fn tail(s: &str) -> &str {
    let mut start = s.len().saturating_sub(8000);
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

/// A fresh access key id: 32 lower-case hex characters, as UFDS makes them.
pub fn random_access_key() -> String {
    let bytes: [u8; 16] = rand::thread_rng().gen();
    hex::encode(bytes)
}

/// A fresh secret (40 URL-safe characters).
pub fn random_secret() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::thread_rng();
    (0..40)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

/// A bucket name unique to this process and call (lower case, DNS-safe, so
/// it also works as a virtual-host label).
pub fn unique_bucket(prefix: &str) -> String {
    let n = RUN_SEQ.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}-{}-{n}", std::process::id())
}

// ------------------------------------------------------------------ data

/// Deterministic pseudo-random bytes (xorshift64*), so big files need no
/// RNG state in memory and every run writes the same content.
pub fn write_pseudo_random(path: &Path, len: u64, seed: u64) {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).expect("create parent dir");
    }
    let mut f =
        std::io::BufWriter::with_capacity(1 << 20, fs::File::create(path).expect("create file"));
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut buf = vec![0u8; 1 << 16];
    let mut left = len;
    while left > 0 {
        for chunk in buf.chunks_mut(8) {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            let v = state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
        let n = left.min(buf.len() as u64) as usize;
        f.write_all(&buf[..n]).expect("write file");
        left -= n as u64;
    }
    f.flush().expect("flush file");
}

/// Hex MD5 of a file, streamed.
pub fn md5_file(path: &Path) -> String {
    let mut f = fs::File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let mut h = Md5::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).expect("read file");
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    hex::encode(h.finalize())
}

/// One file of the generated tree.
#[derive(Debug, Clone)]
pub struct TreeFile {
    /// Relative path with `/` separators: the S3 key under the tree prefix.
    pub rel: String,
    pub size: u64,
    pub md5: String,
}

/// Names that break naive clients and servers: spaces, `+`, `%` (also as
/// a would-be escape), `&`, `=`, non-ASCII (2-, 3- and 4-byte UTF-8),
/// deep paths.
const NASTY_NAMES: &[&str] = &[
    "space name.txt",
    "plus+sign.txt",
    "a+b c+d.txt",
    "percent%.txt",
    "percent%20literal.txt",
    "percent%2Fslash.txt",
    "amp&ersand.txt",
    "query&a=b.txt",
    "equals=sign.txt",
    "ünïcödé.txt",
    "日本語/ファイル 名.txt",
    "emoji-😀.txt",
    "a b/ü+%&=c.txt",
    "mixed (1) [2] {3} ~!@$,;'.txt",
    "d0/d1/d2/d3/d4/d5/d6/d7/d8/d9/deep file.txt",
    "d0/d1/d2/sibling+%&.txt",
    "trailing.dot.",
    "-leading-dash.txt",
];

/// Write the 200-file tree under `root`: the nasty names above, a 0-byte
/// file, one [`TREE_BIG_FILE`]-byte file (multipart for every client) and
/// small files of varied sizes in nested directories. Returns the files
/// sorted by relative path.
pub fn make_tree(root: &Path) -> Vec<TreeFile> {
    let mut specs: Vec<(String, u64)> = Vec::new();
    for (i, name) in NASTY_NAMES.iter().enumerate() {
        specs.push(((*name).to_string(), 100 + 37 * i as u64));
    }
    specs.push(("empty-0-bytes.bin".to_string(), 0));
    specs.push(("big/multipart 64MiB.bin".to_string(), TREE_BIG_FILE));
    let mut i = 0u64;
    while specs.len() < TREE_FILES {
        let dir = i % 7;
        specs.push((
            format!("dir {dir}/sub+{}/file-{i:03} ü&%.dat", i % 3),
            (i * 997) % 20_000,
        ));
        i += 1;
    }
    let mut files = Vec::with_capacity(specs.len());
    for (seed, (rel, size)) in specs.into_iter().enumerate() {
        let path = root.join(&rel);
        write_pseudo_random(&path, size, seed as u64 + 1);
        files.push(TreeFile {
            md5: md5_file(&path),
            rel,
            size,
        });
    }
    files.sort_by(|a, b| a.rel.cmp(&b.rel));
    files
}

/// Every regular file under `root`, by relative `/`-separated path, with
/// its size and MD5.
pub fn scan_tree(root: &Path) -> BTreeMap<String, (u64, String)> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, (u64, String)>) {
        let entries =
            fs::read_dir(dir).unwrap_or_else(|e| panic!("read_dir {}: {e}", dir.display()));
        for entry in entries {
            let entry = entry.expect("dir entry");
            let path = entry.path();
            let ft = entry.file_type().expect("file type");
            if ft.is_dir() {
                walk(root, &path, out);
            } else if ft.is_file() {
                let rel = path
                    .strip_prefix(root)
                    .expect("under root")
                    .to_str()
                    .expect("UTF-8 file name")
                    .to_string();
                let size = entry.metadata().expect("metadata").len();
                out.insert(rel, (size, md5_file(&path)));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// Assert that the directory `got` holds exactly the files of `want`
/// (names, sizes, bytes via MD5).
pub fn assert_same_tree(want: &Path, got: &Path) {
    let a = scan_tree(want);
    let b = scan_tree(got);
    let missing: Vec<_> = a.keys().filter(|k| !b.contains_key(*k)).collect();
    let extra: Vec<_> = b.keys().filter(|k| !a.contains_key(*k)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "trees differ: missing from {}: {missing:?}; unexpected: {extra:?}",
        got.display()
    );
    for (rel, (size, md5)) in &a {
        let (gsize, gmd5) = &b[rel];
        assert_eq!(
            (size, md5),
            (gsize, gmd5),
            "{rel:?}: size/MD5 differ between {} and {}",
            want.display(),
            got.display()
        );
    }
}

/// Assert two files have the same bytes.
pub fn assert_same_file(want: &Path, got: &Path) {
    let (a, b) = (fs::metadata(want), fs::metadata(got));
    assert_eq!(
        a.map(|m| m.len()).ok(),
        b.map(|m| m.len()).ok(),
        "sizes of {} and {} differ",
        want.display(),
        got.display()
    );
    assert_eq!(
        md5_file(want),
        md5_file(got),
        "bytes of {} and {} differ",
        want.display(),
        got.display()
    );
}

// ------------------------------------------------------------- /etc/hosts

static HOSTS_SEQ: AtomicU64 = AtomicU64::new(0);
static HOSTS_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// `/etc/hosts` entries mapping exact host names to 127.0.0.1 for the life
/// of the guard. Virtual-host addressing needs `<bucket>.<domain>` to
/// resolve, and glibc does not resolve `*.localhost`; clients without a
/// resolver override (aws cli, curl in scripts) go through the system
/// resolver. Each line carries a marker unique to this guard; Drop removes
/// exactly those lines, leaving the file as it was. The file is rewritten in
/// place (it is often a bind mount that cannot be renamed over).
pub struct HostsGuard {
    marker: String,
}

const HOSTS_FILE: &str = "/etc/hosts";

impl HostsGuard {
    pub fn add(names: &[&str]) -> HostsGuard {
        let _lock = HOSTS_LOCK.lock().unwrap_or_else(|p| p.into_inner());
        let marker = format!(
            "# s3gw-tests {}-{}",
            std::process::id(),
            HOSTS_SEQ.fetch_add(1, Ordering::Relaxed)
        );
        let mut text = fs::read_to_string(HOSTS_FILE)
            .unwrap_or_else(|e| panic!("cannot read {HOSTS_FILE}: {e}"));
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        for name in names {
            text.push_str(&format!("127.0.0.1 {name} {marker}\n"));
        }
        fs::write(HOSTS_FILE, text).unwrap_or_else(|e| {
            panic!(
                "virtual-host test needs to add {names:?} to {HOSTS_FILE} (removed again \
                 afterwards) but cannot write it: {e}. Run the tests as root (CI does) or \
                 make {HOSTS_FILE} writable."
            )
        });
        HostsGuard { marker }
    }
}

impl Drop for HostsGuard {
    fn drop(&mut self) {
        let _lock = HOSTS_LOCK.lock().unwrap_or_else(|p| p.into_inner());
        if let Ok(text) = fs::read_to_string(HOSTS_FILE) {
            let kept: String = text
                .lines()
                .filter(|l| !l.ends_with(&self.marker))
                .map(|l| format!("{l}\n"))
                .collect();
            let _ = fs::write(HOSTS_FILE, kept);
        }
    }
}

/// Remove every `AWS_*` and `RCLONE_*` variable this process inherited
/// (profiles, endpoints, CA bundles of the machine or a developer's shell)
/// from a client's environment: each test sets exactly what it means.
pub fn clean_client_env(c: &mut Command) -> &mut Command {
    for (name, _) in std::env::vars_os() {
        let n = name.to_string_lossy();
        if n.starts_with("AWS_") || n.starts_with("RCLONE_") || n == "S3CMD_CONFIG" {
            c.env_remove(&name);
        }
    }
    c
}

// ---------------------------------------------------------------- gateway

/// How long `s3gw` may take to print its "listening" line (a loaded
/// 2-core machine, a debug build, an embedded store creating its files).
pub const GATEWAY_START_DEADLINE: Duration = Duration::from_secs(60);

/// What `s3gw` prints once bound (the rest of the line is the URL).
pub const GATEWAY_LISTENING_PREFIX: &str = "s3gw listening on ";

/// A started `s3gw` process with a fresh data directory, stopped by its own
/// pid on Drop (SIGTERM, then SIGKILL; [`s3gw_tests::procs::ChildProcess`]).
pub struct Gateway {
    /// `http://127.0.0.1:PORT`
    pub url: String,
    /// The port it bound.
    pub port: u16,
    pub access_key: String,
    pub secret_key: String,
    log: PathBuf,
    // Field order: the process stops before its data directory goes.
    _child: s3gw_tests::procs::ChildProcess,
    _data: tempfile::TempDir,
}

impl Gateway {
    /// The embedded default (buckets-lite in the same process, keys from
    /// its keys file) with a development key given by
    /// `S3GW_ROOT_ACCESS_KEY`/`S3GW_ROOT_SECRET_KEY`, as the README's
    /// one-line start does, and the given extra `serve` arguments.
    pub fn start_embedded(extra_args: &[&str]) -> Gateway {
        let data = tempfile::tempdir().expect("gateway data dir");
        let access_key = random_access_key();
        let secret_key = random_secret();
        let mut c = Command::new(s3gw_tests::procs::workspace_bin("s3gw"));
        c.arg("serve")
            .args(["--listen", "127.0.0.1:0", "--data"])
            .arg(data.path().join("data"))
            .args(extra_args)
            .env("S3GW_ROOT_ACCESS_KEY", &access_key)
            .env("S3GW_ROOT_SECRET_KEY", &secret_key);
        Gateway::spawn(c, data, access_key, secret_key)
    }

    /// Start `s3gw` from a prepared command (config, environment) whose
    /// files live in `data`; waits for its "listening" line. Its stderr
    /// goes to `data/s3gw.log`.
    pub fn spawn(
        mut c: Command,
        data: tempfile::TempDir,
        access_key: String,
        secret_key: String,
    ) -> Gateway {
        let log = data.path().join("s3gw.log");
        // Many gateways run at once: each its own ops port (the default is
        // a fixed one), unless the caller chose one.
        if !c.get_envs().any(|(k, _)| k == "S3GW__OPS__LISTEN") {
            c.env("S3GW__OPS__LISTEN", "127.0.0.1:0");
        }
        c.stdin(Stdio::null())
            .stderr(fs::File::create(&log).expect("gateway log file"));
        if std::env::var_os("RUST_LOG").is_none() {
            c.env("RUST_LOG", "info");
        }
        let (child, url) = s3gw_tests::procs::spawn_and_wait_for_line(
            c,
            GATEWAY_LISTENING_PREFIX,
            GATEWAY_START_DEADLINE,
        );
        let url = url.trim_end_matches('/').to_string();
        let port = url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in listening address {url:?}"));
        Gateway {
            url,
            port,
            access_key,
            secret_key,
            log,
            _child: child,
            _data: data,
        }
    }

    /// The gateway's log so far (for failure messages).
    pub fn log(&self) -> String {
        read_lossy(&self.log)
    }
}
