//! A real OpenLDAP `slapd` with a UFDS-shaped schema, for tests.
//!
//! [`Slapd::start`] renders the project's own config (`tests/ldap/`) into a
//! fresh temporary directory, checks it with `slaptest`, starts `slapd` in
//! the foreground on a free loopback port (so the child's pid is the server's
//! pid), loads `tests/ldap/base.ldif` and waits until a RootDSE search
//! answers. Dropping the [`Slapd`] stops that pid.
//!
//! UFDS keeps its own change feed, `cn=changelog`, which OpenLDAP does not
//! write. So every writer here ([`Slapd::add_account`], [`Slapd::add_key`],
//! [`Slapd::set_key_status`], [`Slapd::modify_key`], ...) does what UFDS does
//! for one change: apply it to the tree, add the matching
//! `changenumber=N, cn=changelog` record (`changes` JSON: the whole entry for
//! add and delete, the modification list for modify, plus the entry after a
//! modify in `ufdsEntry`, UFDS's `entry`), and raise the `count` of
//! `cn=latestchangenumber`. Numbers are handed out under one lock, so the
//! feed is gap-free and ordered like UFDS's.
//!
//! Every directory is built from docs/operations.md: its skeleton LDIF (the
//! gateway's read identity [`GATEWAY_DN`] and the key administrator
//! [`KEYADMIN_DN`]) and EXACTLY its ACL ([`documented_block`]), so the tests
//! prove the documentation. [`Slapd::start_plain`] starts a plain OpenLDAP
//! with syncprov and no change feed at all: its writers write only the tree.
//!
//! slapd runs with `loglevel stats` into `<dir>/slapd.log`: one `SRCH` line
//! per search, which [`Slapd::search_count`] counts, so tests can bound the
//! searches a client made, at the source.
//!
//! [`BlackHole`] is a TCP listener that accepts and never answers, for
//! timeout tests.

use std::collections::HashMap;
use std::collections::HashSet;
use std::net::TcpListener as StdListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ldap3::{LdapConnAsync, LdapConnSettings, Mod, Scope, SearchEntry};
use serde_json::{json, Value};
use tokio::sync::Mutex;

use crate::procs::{ChildProcess, Signal};

/// Base of the people (accounts and sub-users) and their keys.
pub const USERS_BASE: &str = "ou=users, o=smartdc";
/// The rootdn (may write everything, including the logs).
pub const ROOT_DN: &str = "cn=root,o=smartdc";
/// The rootdn's password.
pub const ROOT_PW: &str = "secret";
/// The gateway's read-only identity (may read secrets and the changelog).
pub const GATEWAY_DN: &str = "cn=s3gw,o=smartdc";
/// The gateway identity's password.
pub const GATEWAY_PW: &str = "s3gwsecret";
/// The key administrator's identity (docs/operations.md): writes keys and
/// an account's `disabled` flag, nothing else.
pub const KEYADMIN_DN: &str = "cn=s3gw-keyadmin,o=smartdc";
/// The key administrator's password.
pub const KEYADMIN_PW: &str = "keyadminsecret";

/// How long a starting slapd may take to answer a RootDSE search.
const START_DEADLINE: Duration = Duration::from_secs(30);
/// How long a stopping slapd may take before it gets SIGKILL.
const STOP_DEADLINE: Duration = Duration::from_secs(10);

/// DN of an account.
pub fn account_dn(account_uuid: &str) -> String {
    format!("uuid={account_uuid}, {USERS_BASE}")
}

/// DN of a sub-user of an account.
pub fn subuser_dn(account_uuid: &str, subuser_uuid: &str) -> String {
    format!("uuid={subuser_uuid}, uuid={account_uuid}, {USERS_BASE}")
}

/// DN of an access key under its owner (an account or sub-user DN).
pub fn key_dn(owner_dn: &str, access_key_id: &str) -> String {
    format!("accesskeyid={access_key_id}, {owner_dn}")
}

/// The directory holding this crate's `tests/ldap/` files.
fn ldap_files() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("ldap")
}

/// The fenced block that follows `<!-- test-directory:NAME -->` in
/// docs/operations.md: the test directory is built from the documented
/// LDIF and ACL verbatim, so the documentation cannot drift from what the
/// tests prove.
pub fn documented_block(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/operations.md");
    let doc = std::fs::read_to_string(&path).expect("docs/operations.md");
    let marker = format!("<!-- test-directory:{name} -->");
    let after = doc
        .split_once(&marker)
        .unwrap_or_else(|| panic!("{marker} not in docs/operations.md"))
        .1;
    let mut lines = after.lines().skip_while(|l| l.trim().is_empty());
    let fence = lines.next().expect("a fenced block after the marker");
    assert!(
        fence.starts_with("```"),
        "{marker} must be followed by a fenced block"
    );
    let body: Vec<&str> = lines.take_while(|l| !l.starts_with("```")).collect();
    body.join("\n") + "\n"
}

/// A running throw-away slapd. Stopped (by its pid) on drop.
pub struct Slapd {
    dir: tempfile::TempDir,
    port: u16,
    /// The `ldaps://` port, for [`Slapd::start_tls`].
    tls_port: Option<u16>,
    child: Option<ChildProcess>,
    /// The last changenumber written; the lock also orders whole changes.
    changes: Mutex<u64>,
    /// Whether writers add UFDS's change-feed records (false: a plain
    /// directory with syncprov and no changelog at all).
    feed: bool,
}

/// One key to write with [`Slapd::add_key`].
#[derive(Clone, Debug)]
pub struct KeySpec<'a> {
    /// DN of the owner (see [`account_dn`], [`subuser_dn`]).
    pub owner_dn: &'a str,
    /// The access key id.
    pub id: &'a str,
    /// The secret, stored in plain text as UFDS does.
    pub secret: &'a str,
    /// `Active`, `Inactive`, `Expired`.
    pub status: &'a str,
}

impl Slapd {
    /// Starts a fresh slapd with the base entries loaded. Panics (with the
    /// server's own log) when it cannot.
    pub async fn start() -> Slapd {
        Slapd::start_with(false, true).await
    }

    /// A plain OpenLDAP: the same tree, schema and documented ACL, with the
    /// syncprov overlay (RFC 4533) and NO change feed: no `cn=changelog`,
    /// no `cn=latestchangenumber`, and the writers write only the tree.
    pub async fn start_plain() -> Slapd {
        Slapd::start_with(false, false).await
    }

    /// Like [`Slapd::start`], and also TLS: StartTLS on [`Slapd::url`] and
    /// `ldaps://` on [`Slapd::ldaps_url`], with a fresh self-signed
    /// certificate for `127.0.0.1` whose PEM is at [`Slapd::ca_file`].
    pub async fn start_tls() -> Slapd {
        Slapd::start_with(true, true).await
    }

    async fn start_with(tls: bool, feed: bool) -> Slapd {
        let dir = tempfile::Builder::new()
            .prefix("s3gw-slapd-")
            .tempdir()
            .expect("temp dir");
        for db in ["db-smartdc", "db-changelog", "db-latest"] {
            std::fs::create_dir(dir.path().join(db)).expect("db dir");
        }
        let template =
            std::fs::read_to_string(ldap_files().join("slapd.conf.in")).expect("slapd.conf.in");
        let tls_conf = if tls {
            let ck = rcgen::generate_simple_self_signed(vec![
                "127.0.0.1".to_string(),
                "localhost".to_string(),
            ])
            .expect("rcgen certificate");
            std::fs::write(dir.path().join("cert.pem"), ck.cert.pem()).expect("cert.pem");
            std::fs::write(dir.path().join("key.pem"), ck.key_pair.serialize_pem())
                .expect("key.pem");
            let d = dir.path().display();
            format!(
                "TLSCACertificateFile {d}/cert.pem\nTLSCertificateFile {d}/cert.pem\nTLSCertificateKeyFile {d}/key.pem\n"
            )
        } else {
            String::new()
        };
        let template = if feed {
            template
        } else {
            let (head, rest) = template.split_once("# feed:begin").expect("feed:begin");
            let (_, tail) = rest.split_once("# feed:end").expect("feed:end");
            format!("{head}{tail}")
        };
        let (modules, syncprov) = if feed {
            ("", "")
        } else {
            ("moduleload      syncprov", "overlay         syncprov")
        };
        let conf = template
            .replace("@ACL@", &documented_block("acl"))
            .replace("@MODULES@", modules)
            .replace("@SYNCPROV@", syncprov)
            .replace("@TLS@", &tls_conf)
            .replace("@DIR@", dir.path().to_str().expect("utf-8 temp dir"))
            .replace("@SCHEMADIR@", ldap_files().to_str().expect("utf-8 path"));
        std::fs::write(dir.path().join("slapd.conf"), conf).expect("write slapd.conf");
        let status = Command::new("slaptest")
            .args(["-Q", "-u", "-f"])
            .arg(dir.path().join("slapd.conf"))
            .status()
            .expect("slaptest (install slapd and ldap-utils)");
        assert!(status.success(), "slaptest rejected the test config");

        let mut slapd = Slapd {
            dir,
            port: 0,
            tls_port: None,
            child: None,
            changes: Mutex::new(0),
            feed,
        };
        // A free port can be taken between our probe and slapd's bind: retry.
        let mut last_err = String::new();
        for _ in 0..5 {
            slapd.port = free_port();
            slapd.tls_port = tls.then(free_port);
            match slapd.spawn().await {
                Ok(()) => {
                    slapd.load_base().await;
                    return slapd;
                }
                Err(e) => last_err = e,
            }
        }
        panic!("slapd did not start: {last_err}");
    }

    /// `ldap://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.port)
    }

    /// `ldaps://127.0.0.1:PORT` (only for [`Slapd::start_tls`]).
    pub fn ldaps_url(&self) -> String {
        format!(
            "ldaps://127.0.0.1:{}",
            self.tls_port.expect("started with start_tls()")
        )
    }

    /// The PEM of the server's self-signed certificate (only for
    /// [`Slapd::start_tls`]): the CA file a client must trust.
    pub fn ca_file(&self) -> PathBuf {
        self.dir().join("cert.pem")
    }

    /// The loopback port slapd listens on (kept across [`Slapd::restart`]).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The temporary directory (config, databases, log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The server's pid, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(ChildProcess::pid)
    }

    /// Stops the server (SIGTERM to its pid, SIGKILL after a deadline) and
    /// waits until it has exited. The data stays for [`Slapd::restart`].
    pub fn kill(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        // A paused server cannot act on SIGTERM.
        let _ = child.try_signal(Signal::CONT);
        // A clean shutdown (SIGTERM) so mdb is consistent for restart().
        child.stop();
    }

    /// Freezes the server (SIGSTOP): it keeps its connections and its port
    /// but answers nothing, like a stuck directory. [`Slapd::resume`] undoes it.
    ///
    /// Returns only once every thread of slapd is stopped: a signal is
    /// delivered asynchronously, and on a busy machine a thread that was
    /// mid-request could otherwise still answer one more search.
    pub fn pause(&self) {
        if let Some(child) = &self.child {
            child.signal(Signal::STOP);
            assert!(
                crate::procs::wait_until(Duration::from_secs(10), || threads_stopped(child.pid())
                    == Some(true)),
                "slapd {} did not stop after SIGSTOP",
                child.pid()
            );
        }
    }

    /// Lets a paused server run again (SIGCONT).
    pub fn resume(&self) {
        if let Some(child) = &self.child {
            child.signal(Signal::CONT);
            assert!(
                crate::procs::wait_until(Duration::from_secs(10), || threads_stopped(child.pid())
                    == Some(false)),
                "slapd {} did not continue after SIGCONT",
                child.pid()
            );
        }
    }

    /// Starts the server again on the same port with the same data.
    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "restart() needs kill() first");
        let mut last_err = String::new();
        // The port was ours a moment ago; slapd sets SO_REUSEADDR, but be
        // patient with a loaded machine.
        for _ in 0..5 {
            match self.spawn().await {
                Ok(()) => return,
                Err(e) => last_err = e,
            }
        }
        panic!("slapd did not restart: {last_err}");
    }

    /// Number of searches logged so far whose log line contains `needle`
    /// (e.g. `"accesskeyid="` for key lookups). slapd writes
    /// `conn=N op=M SRCH base="..." scope=S deref=D filter="..."`; the
    /// filter is logged normalised (lower-case attribute names, no spaces).
    pub fn search_count(&self, needle: &str) -> usize {
        let Ok(dir) = std::fs::read_dir(self.dir()) else {
            return 0;
        };
        dir.filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with("slapd.log"))
            .map(|e| {
                let log = std::fs::read_to_string(e.path()).unwrap_or_default();
                log.lines()
                    .filter(|l| l.contains(" SRCH base=") && l.contains(needle))
                    .count()
            })
            .sum()
    }

    /// The last changenumber written.
    pub async fn latest_changenumber(&self) -> u64 {
        *self.changes.lock().await
    }

    async fn spawn(&mut self) -> Result<(), String> {
        let conf = self.dir().join("slapd.conf");
        // slapd truncates its log file when it starts: keep the previous
        // run's log beside it, so search_count() covers every run.
        let log = self.dir().join("slapd.log");
        if log.exists() {
            let runs = std::fs::read_dir(self.dir())
                .map(|d| d.count())
                .unwrap_or(0);
            let _ = std::fs::rename(&log, self.dir().join(format!("slapd.log.{runs}")));
        }
        let stderr =
            std::fs::File::create(self.dir().join("slapd.stderr")).map_err(|e| e.to_string())?;
        // -d 256 (stats): stay in the foreground, so the child pid is the
        // server's, and write the log file (slapd 2.5 writes `logfile` only
        // for debug output).
        let mut urls = format!("ldap://127.0.0.1:{}/", self.port);
        if let Some(p) = self.tls_port {
            urls.push_str(&format!(" ldaps://127.0.0.1:{p}/"));
        }
        let child = Command::new("slapd")
            .args(["-d", "256", "-h"])
            .arg(urls)
            .arg("-f")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("spawn slapd: {e}"))?;
        let mut child = ChildProcess::new(child, "slapd")
            .with_log(self.dir().join("slapd.stderr"))
            .with_stop_deadline(STOP_DEADLINE);
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            if let Err(e) = child.check_alive() {
                return Err(e.to_string());
            }
            if root_dse_answers(&self.url()).await {
                self.child = Some(child);
                return Ok(());
            }
            if Instant::now() > deadline {
                child.kill9();
                return Err("no RootDSE answer before the deadline".into());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn load_base(&self) {
        self.load_ldif(&documented_block("base")).await;
        if self.feed {
            let ldif = std::fs::read_to_string(ldap_files().join("base.ldif")).expect("base.ldif");
            self.load_ldif(&ldif).await;
        }
    }

    /// Whether this directory has UFDS's change feed.
    pub fn has_feed(&self) -> bool {
        self.feed
    }

    /// Adds the entries of an LDIF text as the rootdn, WITHOUT change-feed
    /// records (e.g. the documented sample tenant before a cache starts).
    pub async fn load_ldif(&self, ldif: &str) {
        let mut ldap = self.root().await;
        for entry in parse_ldif(ldif) {
            let attrs: Vec<(&str, HashSet<&str>)> = entry
                .attrs
                .iter()
                .map(|(k, v)| (k.as_str(), v.iter().map(String::as_str).collect()))
                .collect();
            ldap.add(&entry.dn, attrs)
                .await
                .and_then(|r| r.success())
                .unwrap_or_else(|e| panic!("add {}: {e}", entry.dn));
        }
        let _ = ldap.unbind().await;
    }

    /// A bound root connection (the connection task is spawned on the
    /// current runtime).
    pub async fn root(&self) -> ldap3::Ldap {
        self.bind(ROOT_DN, ROOT_PW).await
    }

    /// A connection bound as `dn`.
    pub async fn bind(&self, dn: &str, pw: &str) -> ldap3::Ldap {
        let settings = LdapConnSettings::new().set_conn_timeout(Duration::from_secs(10));
        let (conn, mut ldap) = LdapConnAsync::with_settings(settings, &self.url())
            .await
            .expect("connect to slapd");
        ldap3::drive!(conn);
        ldap.simple_bind(dn, pw)
            .await
            .and_then(|r| r.success())
            .expect("bind");
        ldap
    }

    /// Adds an account (`sdcPerson`) the way UFDS does, with its changelog
    /// record. Returns the changenumber.
    pub async fn add_account(&self, uuid: &str, login: &str) -> u64 {
        let entry = person_entry(uuid, login, None);
        self.add_entry(&account_dn(uuid), entry).await
    }

    /// Adds a sub-user (`sdcPerson` + `sdcAccountUser`) of an account. As
    /// UFDS stores it, `login` is `<account-uuid>/<login>` and `alias` the
    /// bare login.
    pub async fn add_subuser(&self, account_uuid: &str, uuid: &str, login: &str) -> u64 {
        let entry = person_entry(uuid, login, Some(account_uuid));
        self.add_entry(&subuser_dn(account_uuid, uuid), entry).await
    }

    /// Adds one access key with its changelog record.
    pub async fn add_key(&self, key: &KeySpec<'_>) -> u64 {
        self.add_entry(&key_dn(key.owner_dn, key.id), key_entry(key))
            .await
    }

    /// Adds many keys over one connection, each with its changelog record
    /// (initial-load tests). Returns the last changenumber.
    pub async fn add_keys(&self, keys: &[KeySpec<'_>]) -> u64 {
        let mut ldap = self.root().await;
        let mut n = self.changes.lock().await;
        for key in keys {
            let dn = key_dn(key.owner_dn, key.id);
            add_raw(&mut ldap, &dn, &key_entry(key)).await;
            if self.feed {
                *n += 1;
                let changes = entry_json(&key_entry(key));
                write_changelog(&mut ldap, *n, &dn, "add", &changes, None).await;
            }
        }
        if self.feed {
            set_latest(&mut ldap, *n).await;
        }
        let _ = ldap.unbind().await;
        *n
    }

    /// Sets a key's status with one `replace: status` modification (and
    /// `updated`), as the cloud API does.
    pub async fn set_key_status(&self, key_dn: &str, status: &str) -> u64 {
        let updated = now_ms().to_string();
        self.modify_key(key_dn, &[("status", status), ("updated", &updated)])
            .await
    }

    /// Replaces attributes of an entry in the given order (one `replace` per
    /// pair), with the changelog record listing them in that order.
    pub async fn modify_key(&self, dn: &str, mods: &[(&str, &str)]) -> u64 {
        self.modify_entry(dn, mods).await
    }

    /// Deletes a key (any leaf entry) with its changelog record.
    pub async fn delete_key(&self, key_dn: &str) -> u64 {
        let mut ldap = self.root().await;
        let mut n = self.changes.lock().await;
        let before = read_entry(&mut ldap, key_dn).await;
        ldap.delete(key_dn)
            .await
            .and_then(|r| r.success())
            .unwrap_or_else(|e| panic!("delete {key_dn}: {e}"));
        if self.feed {
            *n += 1;
            write_changelog(&mut ldap, *n, key_dn, "delete", &entry_json(&before), None).await;
            set_latest(&mut ldap, *n).await;
        }
        let _ = ldap.unbind().await;
        *n
    }

    /// Sets an account's (or sub-user's) `disabled` attribute.
    pub async fn disable_account(&self, person_dn: &str, disabled: bool) -> u64 {
        let v = if disabled { "true" } else { "false" };
        self.modify_entry(person_dn, &[("disabled", v)]).await
    }

    /// Renames an account (replaces `login`).
    pub async fn rename_account(&self, person_dn: &str, login: &str) -> u64 {
        self.modify_entry(person_dn, &[("login", login)]).await
    }

    /// Removes `cn=latestchangenumber`, for a directory that lacks it
    /// (clients must then find the newest number in the changelog).
    pub async fn remove_latest_changenumber(&self) {
        let mut ldap = self.root().await;
        let _n = self.changes.lock().await;
        ldap.delete("cn=latestchangenumber")
            .await
            .and_then(|r| r.success())
            .expect("delete cn=latestchangenumber");
        let _ = ldap.unbind().await;
    }

    /// Writes a changelog record that does not concern people or keys (the
    /// reference filter must skip it), e.g. `vm=...` or `amon=...` targets.
    pub async fn add_unrelated_change(&self, targetdn: &str) -> u64 {
        let mut ldap = self.root().await;
        let mut n = self.changes.lock().await;
        *n += 1;
        write_changelog(&mut ldap, *n, targetdn, "add", "{}", None).await;
        set_latest(&mut ldap, *n).await;
        let _ = ldap.unbind().await;
        *n
    }

    /// Writes a raw changelog record (e.g. a malformed one) without touching
    /// the tree.
    pub async fn add_raw_change(&self, targetdn: &str, changetype: &str, changes: &str) -> u64 {
        let mut ldap = self.root().await;
        let mut n = self.changes.lock().await;
        *n += 1;
        write_changelog(&mut ldap, *n, targetdn, changetype, changes, None).await;
        set_latest(&mut ldap, *n).await;
        let _ = ldap.unbind().await;
        *n
    }

    async fn add_entry(&self, dn: &str, entry: Vec<(String, Vec<String>)>) -> u64 {
        let mut ldap = self.root().await;
        let mut n = self.changes.lock().await;
        add_raw(&mut ldap, dn, &entry).await;
        if self.feed {
            *n += 1;
            write_changelog(&mut ldap, *n, dn, "add", &entry_json(&entry), None).await;
            set_latest(&mut ldap, *n).await;
        }
        let _ = ldap.unbind().await;
        *n
    }

    async fn modify_entry(&self, dn: &str, mods: &[(&str, &str)]) -> u64 {
        let mut ldap = self.root().await;
        let mut n = self.changes.lock().await;
        let ldap_mods: Vec<Mod<&str>> = mods
            .iter()
            .map(|(k, v)| Mod::Replace(*k, HashSet::from([*v])))
            .collect();
        ldap.modify(dn, ldap_mods)
            .await
            .and_then(|r| r.success())
            .unwrap_or_else(|e| panic!("modify {dn}: {e}"));
        if !self.feed {
            let _ = ldap.unbind().await;
            return *n;
        }
        let after = read_entry(&mut ldap, dn).await;
        let changes: Vec<Value> = mods
            .iter()
            .map(|(k, v)| json!({"operation": "replace", "modification": {"type": k, "vals": [v]}}))
            .collect();
        *n += 1;
        write_changelog(
            &mut ldap,
            *n,
            dn,
            "modify",
            &Value::Array(changes).to_string(),
            Some(&entry_json(&after)),
        )
        .await;
        set_latest(&mut ldap, *n).await;
        let _ = ldap.unbind().await;
        *n
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Whether all threads of `pid` are in the stopped state (`T` in
/// `/proc/<pid>/task/*/stat`): `Some(true)` all stopped, `Some(false)` none
/// stopped, `None` in between or unreadable.
fn threads_stopped(pid: u32) -> Option<bool> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let (mut stopped, mut running) = (0, 0);
    for task in tasks.flatten() {
        let stat = std::fs::read_to_string(task.path().join("stat")).ok()?;
        // The state follows the parenthesised command name.
        let state = stat.rsplit_once(") ")?.1.chars().next()?;
        if state == 'T' || state == 't' {
            stopped += 1;
        } else {
            running += 1;
        }
    }
    match (stopped, running) {
        (s, 0) if s > 0 => Some(true),
        (0, r) if r > 0 => Some(false),
        _ => None,
    }
}

fn free_port() -> u16 {
    let l = StdListener::bind("127.0.0.1:0").expect("bind probe port");
    l.local_addr().expect("local addr").port()
}

async fn root_dse_answers(url: &str) -> bool {
    let settings = LdapConnSettings::new().set_conn_timeout(Duration::from_secs(2));
    let Ok((conn, mut ldap)) = LdapConnAsync::with_settings(settings, url).await else {
        return false;
    };
    ldap3::drive!(conn);
    let ok = ldap
        .with_timeout(Duration::from_secs(2))
        .search("", Scope::Base, "(objectClass=*)", vec!["namingContexts"])
        .await
        .and_then(|r| r.success())
        .is_ok();
    let _ = ldap.unbind().await;
    ok
}

fn now_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis()
}

fn person_entry(uuid: &str, login: &str, account: Option<&str>) -> Vec<(String, Vec<String>)> {
    let mut e = vec![
        ("uuid".to_string(), vec![uuid.to_string()]),
        ("email".to_string(), vec![format!("{login}@example.com")]),
        ("userPassword".to_string(), vec!["secret123".to_string()]),
    ];
    match account {
        None => {
            e.push(("objectClass".into(), vec!["sdcPerson".into()]));
            e.push(("login".into(), vec![login.to_string()]));
        }
        Some(acct) => {
            e.push((
                "objectClass".into(),
                vec!["sdcPerson".into(), "sdcAccountUser".into()],
            ));
            e.push(("login".into(), vec![format!("{acct}/{login}")]));
            e.push(("alias".into(), vec![login.to_string()]));
            e.push(("account".into(), vec![acct.to_string()]));
        }
    }
    e
}

fn key_entry(key: &KeySpec<'_>) -> Vec<(String, Vec<String>)> {
    let now = now_ms().to_string();
    vec![
        ("objectClass".into(), vec!["accesskey".into()]),
        ("accesskeyid".into(), vec![key.id.to_string()]),
        ("accesskeysecret".into(), vec![key.secret.to_string()]),
        ("status".into(), vec![key.status.to_string()]),
        ("created".into(), vec![now.clone()]),
        ("updated".into(), vec![now]),
        ("credentialtype".into(), vec!["permanent".into()]),
    ]
}

/// UFDS's JSON form of an entry: lower-case attribute names, every value a
/// list of strings.
fn entry_json(entry: &[(String, Vec<String>)]) -> String {
    let map: serde_json::Map<String, Value> = entry
        .iter()
        .map(|(k, v)| (k.to_lowercase(), json!(v)))
        .collect();
    Value::Object(map).to_string()
}

async fn add_raw(ldap: &mut ldap3::Ldap, dn: &str, entry: &[(String, Vec<String>)]) {
    let attrs: Vec<(&str, HashSet<&str>)> = entry
        .iter()
        .map(|(k, v)| (k.as_str(), v.iter().map(String::as_str).collect()))
        .collect();
    ldap.add(dn, attrs)
        .await
        .and_then(|r| r.success())
        .unwrap_or_else(|e| panic!("add {dn}: {e}"));
}

async fn read_entry(ldap: &mut ldap3::Ldap, dn: &str) -> Vec<(String, Vec<String>)> {
    let (entries, _) = ldap
        .search(dn, Scope::Base, "(objectClass=*)", vec!["*"])
        .await
        .and_then(|r| r.success())
        .unwrap_or_else(|e| panic!("read {dn}: {e}"));
    let entry = SearchEntry::construct(entries.into_iter().next().expect("entry"));
    entry.attrs.into_iter().collect()
}

async fn write_changelog(
    ldap: &mut ldap3::Ldap,
    n: u64,
    targetdn: &str,
    changetype: &str,
    changes: &str,
    entry_after: Option<&str>,
) {
    let n_s = n.to_string();
    let time = format!("{}", now_ms());
    let mut attrs: Vec<(&str, HashSet<&str>)> = vec![
        ("objectClass", HashSet::from(["changeLogEntry"])),
        ("changenumber", HashSet::from([n_s.as_str()])),
        ("targetdn", HashSet::from([targetdn])),
        ("changetype", HashSet::from([changetype])),
        ("changetime", HashSet::from([time.as_str()])),
        ("changes", HashSet::from([changes])),
    ];
    if let Some(e) = entry_after {
        attrs.push(("ufdsEntry", HashSet::from([e])));
    }
    let dn = format!("changenumber={n}, cn=changelog");
    ldap.add(&dn, attrs)
        .await
        .and_then(|r| r.success())
        .unwrap_or_else(|e| panic!("add {dn}: {e}"));
}

/// Raises `cn=latestchangenumber`'s count; a test that removed the entry
/// (see [`Slapd::remove_latest_changenumber`]) keeps it removed.
async fn set_latest(ldap: &mut ldap3::Ldap, n: u64) {
    let n_s = n.to_string();
    let r = ldap
        .modify(
            "cn=latestchangenumber",
            vec![Mod::Replace("count", HashSet::from([n_s.as_str()]))],
        )
        .await
        .expect("set cn=latestchangenumber");
    assert!(
        r.rc == 0 || r.rc == RC_NO_SUCH_OBJECT,
        "set cn=latestchangenumber: {r}"
    );
}

/// LDAP result code noSuchObject.
const RC_NO_SUCH_OBJECT: u32 = 32;

struct LdifEntry {
    dn: String,
    attrs: Vec<(String, Vec<String>)>,
}

/// Just enough LDIF for `base.ldif`: `attr: value` lines, blank-line
/// separated entries, `#` comments; no folding, no base64.
fn parse_ldif(text: &str) -> Vec<LdifEntry> {
    let mut out = Vec::new();
    for block in text.split("\n\n") {
        let mut dn = None;
        let mut attrs: HashMap<String, Vec<String>> = HashMap::new();
        let mut order = Vec::new();
        for line in block.lines() {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let (k, v) = line.split_once(": ").expect("attr: value");
            if k == "dn" {
                dn = Some(v.to_string());
            } else {
                if !attrs.contains_key(k) {
                    order.push(k.to_string());
                }
                attrs.entry(k.to_string()).or_default().push(v.to_string());
            }
        }
        if let Some(dn) = dn {
            let attrs = order
                .into_iter()
                .map(|k| {
                    let v = attrs.remove(&k).unwrap_or_default();
                    (k, v)
                })
                .collect();
            out.push(LdifEntry { dn, attrs });
        }
    }
    out
}

/// A TCP listener on a loopback port that accepts connections and never
/// answers (a stuck LDAP server). Stops accepting when dropped.
pub struct BlackHole {
    addr: std::net::SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl BlackHole {
    /// Starts listening (needs a tokio runtime).
    pub async fn start() -> BlackHole {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind black hole");
        let addr = listener.local_addr().expect("local addr");
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((sock, _)) = listener.accept().await {
                // Keep the socket open, read nothing, answer nothing.
                held.push(sock);
            }
        });
        BlackHole { addr, task }
    }

    /// `ldap://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("ldap://{}", self.addr)
    }
}

impl Drop for BlackHole {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The PEM of a fresh self-signed certificate that no test server uses: a
/// CA file that makes TLS verification fail.
pub fn unrelated_ca_pem() -> String {
    rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()])
        .expect("rcgen certificate")
        .cert
        .pem()
}
