//! The UFDS source: connect, initial load, changelog follower, miss queries.
//!
//! Start-up (ufds.md): read `cn=latestchangenumber` (its `count`), load every
//! person and key under the users base with one paged search, then follow
//! `cn=changelog` from that number with mahi's filter. Overlap between the
//! load and the feed is harmless: every change is idempotent per entry. If
//! the directory has no `cn=latestchangenumber` entry, the highest
//! `changenumber` under the changelog base is used instead (one search).
//!
//! ldap3 does not reconnect: every failure drops the connection, and the
//! follower reconnects with exponential backoff, binds again and resumes
//! from the last applied changenumber. Every operation runs under
//! `operation_timeout`, so a server that accepts and never answers costs
//! timeouts, never a hang.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use ldap3::adapters::{Adapter, EntriesOnly, PagedResults};
use ldap3::controls::{parse_syncinfo, EntryState, RefreshMode, SyncInfo, SyncRequest, SyncState};
use ldap3::{
    ldap_escape, Ldap, LdapConnAsync, LdapConnSettings, Scope, SearchEntry, SearchOptions,
};
use tokio::sync::Notify;

use crate::cache::{Inner, Kind, LookupError, LookupResult, NegativeCache, StartError};
use crate::config::{FollowMode, LdapConfig};
use crate::store::{Resolved, Store};
use crate::types::AccessKeyId;
use crate::ufds::{self, Target};

/// Attributes read from people and keys.
const ENTRY_ATTRS: &[&str] = &[
    "objectclass",
    "uuid",
    "login",
    "alias",
    "disabled",
    "account",
    "accesskeyid",
    "accesskeysecret",
    "status",
    "description",
    "created",
    "updated",
    "credentialtype",
];

/// The people and keys.
const LOAD_FILTER: &str = "(|(objectclass=sdcperson)(objectclass=accesskey))";

/// RFC 4533 Sync Request control (listed in a RootDSE's supportedControl).
const SYNC_REQUEST_OID: &str = "1.3.6.1.4.1.4203.1.9.1.1";
/// RFC 4533 Sync State control (on every entry of a sync search).
const SYNC_STATE_OID: &str = "1.3.6.1.4.1.4203.1.9.1.2";

/// Attributes read from changelog records.
const CHANGE_ATTRS: &[&str] = &["changenumber", "targetdn", "changetype", "changes"];

/// LDAP result code sizeLimitExceeded: a full poll batch, not an error.
const RC_SIZE_LIMIT: u32 = 4;
/// LDAP result code noSuchObject.
const RC_NO_SUCH_OBJECT: u32 = 32;

/// Token bucket for miss queries.
struct Bucket {
    tokens: f64,
    last: Instant,
    rate: f64,
    burst: f64,
}

impl Bucket {
    fn take(&mut self) -> bool {
        let now = Instant::now();
        let dt = now.duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + dt * self.rate).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

pub(crate) struct LdapState {
    cfg: LdapConfig,
    tls: Option<Arc<rustls::ClientConfig>>,
    /// The live connection, shared by the follower and miss queries.
    conn: Mutex<Option<Ldap>>,
    /// Wakes the follower when a miss query found the connection broken.
    broken: Notify,
    pub negative: Mutex<NegativeCache>,
    limiter: Mutex<Bucket>,
    /// The mechanism in use (set at the first connect).
    pub mode: Mutex<Option<Mode>>,
    /// When the last full load / reconcile finished.
    last_reconcile: Mutex<Instant>,
    /// Poll mode: the newest `modifyTimestamp` seen.
    newest_modified: Mutex<Option<String>>,
}

impl LdapState {
    pub fn new(cfg: LdapConfig) -> Result<LdapState, StartError> {
        let url = cfg.url.to_ascii_lowercase();
        let tls = if url.starts_with("ldaps://") || cfg.starttls {
            Some(Arc::new(tls_config(&cfg)?))
        } else if url.starts_with("ldap://") {
            None
        } else {
            return Err(StartError::Config(format!(
                "url must be ldap:// or ldaps://, got {}",
                cfg.url
            )));
        };
        if cfg.page_size == 0 || cfg.poll_batch == 0 {
            return Err(StartError::Config(
                "page_size and poll_batch must be > 0".into(),
            ));
        }
        Ok(LdapState {
            negative: Mutex::new(NegativeCache::new(
                cfg.negative_ttl,
                cfg.negative_max_entries,
            )),
            limiter: Mutex::new(Bucket {
                tokens: f64::from(cfg.miss_burst),
                last: Instant::now(),
                rate: cfg.miss_queries_per_second.max(0.0),
                burst: f64::from(cfg.miss_burst.max(1)),
            }),
            tls,
            conn: Mutex::new(None),
            broken: Notify::new(),
            mode: Mutex::new(None),
            last_reconcile: Mutex::new(Instant::now()),
            newest_modified: Mutex::new(None),
            cfg,
        })
    }

    /// Cached keys authenticate for `grace` after the last successful poll.
    pub fn check_grace(&self, inner: &Inner) -> Result<(), LookupError> {
        if !inner.ready.load(Ordering::Acquire) {
            return Ok(());
        }
        match *inner.last_success.lock().expect("lock") {
            Some(t) if t.elapsed() > self.cfg.grace => Err(LookupError::Unavailable(
                "directory unreachable for longer than the grace period".into(),
            )),
            _ => Ok(()),
        }
    }

    /// Whether the directory answered within the grace period (always
    /// true before the first load: readiness then waits for the load).
    pub fn within_grace(&self, inner: &Inner) -> bool {
        self.check_grace(inner).is_ok()
    }

    pub fn drop_connection(&self) {
        *self.conn.lock().expect("lock") = None;
    }

    fn current(&self) -> Option<Ldap> {
        self.conn.lock().expect("lock").clone()
    }
}

pub(crate) fn tls_config(cfg: &LdapConfig) -> Result<rustls::ClientConfig, StartError> {
    let path = cfg
        .ca_file
        .clone()
        .unwrap_or_else(|| "/etc/ssl/certs/ca-certificates.crt".into());
    let pem = std::fs::read(&path)
        .map_err(|e| StartError::Config(format!("ca_file {}: {e}", path.display())))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in
        <rustls::pki_types::CertificateDer as rustls::pki_types::pem::PemObject>::pem_slice_iter(
            &pem,
        )
    {
        let cert =
            cert.map_err(|e| StartError::Config(format!("ca_file {}: {e}", path.display())))?;
        roots
            .add(cert)
            .map_err(|e| StartError::Config(format!("ca_file {}: {e}", path.display())))?;
    }
    // Explicit provider: both ring and aws-lc-rs may be compiled in.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| StartError::Config(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

fn state(inner: &Inner) -> &LdapState {
    match &inner.kind {
        Kind::Ldap(s) => s,
        Kind::File => unreachable!("LDAP task on a file cache"),
    }
}

/// Runs `fut` under the operation timeout, counting it.
async fn op<T>(
    inner: &Inner,
    what: &str,
    fut: impl std::future::Future<Output = ldap3::result::Result<T>>,
) -> Result<T, String> {
    let st = state(inner);
    inner.counters.ldap_queries.fetch_add(1, Ordering::Relaxed);
    let r = match tokio::time::timeout(st.cfg.operation_timeout, fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(format!("{what}: {e}")),
        Err(_) => Err(format!(
            "{what}: timed out after {:?}",
            st.cfg.operation_timeout
        )),
    };
    if r.is_err() {
        inner.counters.ldap_errors.fetch_add(1, Ordering::Relaxed);
    }
    r
}

async fn connect(inner: &Inner) -> Result<Ldap, String> {
    let st = state(inner);
    let cfg = &st.cfg;
    let mut settings = LdapConnSettings::new().set_conn_timeout(cfg.connect_timeout);
    if let Some(tls) = &st.tls {
        settings = settings.set_config(tls.clone()).set_starttls(cfg.starttls);
    }
    // The TLS handshake (ldaps, StartTLS) happens inside; bound it too.
    let limit = cfg.connect_timeout + cfg.operation_timeout;
    let (conn, mut ldap) =
        match tokio::time::timeout(limit, LdapConnAsync::with_settings(settings, &cfg.url)).await {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => {
                inner.counters.ldap_errors.fetch_add(1, Ordering::Relaxed);
                return Err(format!("connect {}: {e}", cfg.url));
            }
            Err(_) => {
                inner.counters.ldap_errors.fetch_add(1, Ordering::Relaxed);
                return Err(format!("connect {}: timed out", cfg.url));
            }
        };
    ldap3::drive!(conn);
    let pw = cfg.bind_password.expose_str();
    op(inner, "bind", async {
        ldap.simple_bind(&cfg.bind_dn, pw).await?.success()
    })
    .await?;
    Ok(ldap)
}

/// How this directory's changes are followed (see `FollowMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Changelog,
    Syncrepl,
    Poll,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Changelog => "changelog",
            Mode::Syncrepl => "syncrepl",
            Mode::Poll => "poll",
        }
    }
}

/// Picks the mechanism: the configured one, or (auto) the changelog when
/// the directory has one, else syncrepl when its RootDSE lists the Sync
/// Request control, else the `modifyTimestamp` poll.
async fn detect(inner: &Inner, mut ldap: Ldap) -> Result<Mode, String> {
    let cfg = &state(inner).cfg;
    match cfg.follow {
        FollowMode::Changelog => return Ok(Mode::Changelog),
        FollowMode::Syncrepl => return Ok(Mode::Syncrepl),
        FollowMode::Poll => return Ok(Mode::Poll),
        FollowMode::Auto => {}
    }
    let r = op(inner, "look for the changelog", async {
        ldap.search(
            &cfg.changelog_base,
            Scope::Base,
            "(objectclass=*)",
            vec!["1.1"],
        )
        .await
    })
    .await?;
    match r.1.rc {
        0 => return Ok(Mode::Changelog),
        RC_NO_SUCH_OBJECT => {}
        _ => return Err(format!("look for the changelog: {}", r.1)),
    }
    let r = op(inner, "read the RootDSE", async {
        ldap.search("", Scope::Base, "(objectclass=*)", vec!["supportedControl"])
            .await?
            .success()
    })
    .await?;
    let syncrepl = r.0.into_iter().map(SearchEntry::construct).any(|e| {
        ufds::normalise(e.attrs)
            .get("supportedcontrol")
            .is_some_and(|v| v.iter().any(|c| c == SYNC_REQUEST_OID))
    });
    Ok(if syncrepl { Mode::Syncrepl } else { Mode::Poll })
}

/// A reconnect pause: uniformly random in `[backoff / 2, backoff]`
/// ("equal jitter"), so that many gateway instances that lost the directory
/// at the same moment do not reconnect in lockstep and stampede it.
fn jittered(backoff: std::time::Duration) -> std::time::Duration {
    use rand::Rng as _;
    let half = backoff / 2;
    half + half.mul_f64(rand::thread_rng().gen_range(0.0..=1.0))
}

/// The background follower: connect, pick the mechanism, load, follow;
/// reconnect with (jittered) exponential backoff on any failure.
pub(crate) async fn follow(inner: Arc<Inner>) {
    let st = state(&inner);
    let cfg = &st.cfg;
    let mut backoff = cfg.backoff_min;
    loop {
        let ldap = match connect(&inner).await {
            Ok(l) => l,
            Err(e) => {
                let pause = jittered(backoff);
                tracing::warn!(error = %e, retry_in = ?pause, "LDAP connect failed");
                tokio::time::sleep(pause).await;
                backoff = (backoff * 2).min(cfg.backoff_max);
                continue;
            }
        };
        *st.conn.lock().expect("lock") = Some(ldap.clone());
        tracing::info!(url = %cfg.url, "LDAP connected");
        let r = match detect(&inner, ldap.clone()).await {
            Ok(mode) => {
                let before = st.mode.lock().expect("lock").replace(mode);
                if before != Some(mode) {
                    match mode {
                        Mode::Changelog => tracing::info!(
                            url = %cfg.url, changelog = %cfg.changelog_base,
                            "following the directory's changelog (UFDS)"
                        ),
                        Mode::Syncrepl => tracing::info!(
                            url = %cfg.url, changelog = %cfg.changelog_base,
                            "the directory has no changelog: following changes with RFC 4533 syncrepl (refreshAndPersist)"
                        ),
                        Mode::Poll => tracing::warn!(
                            url = %cfg.url, changelog = %cfg.changelog_base,
                            reconcile_interval = ?cfg.reconcile_interval,
                            "the directory has neither a changelog nor syncrepl: polling modifyTimestamp; deletes take effect at the next full reconcile"
                        ),
                    }
                }
                match mode {
                    Mode::Changelog | Mode::Poll => {
                        follow_polling(&inner, ldap, mode, &mut backoff).await
                    }
                    Mode::Syncrepl => follow_syncrepl(&inner, ldap, &mut backoff).await,
                }
            }
            Err(e) => Err(e),
        };
        let pause = jittered(backoff);
        if let Err(e) = r {
            tracing::warn!(url = %cfg.url, error = %e, retry_in = ?pause, "LDAP follower failed; reconnecting");
        }
        st.drop_connection();
        tokio::time::sleep(pause).await;
        backoff = (backoff * 2).min(cfg.backoff_max);
    }
}

/// The changelog follower (UFDS) or the `modifyTimestamp` poll: a full load
/// at start, on reconnect (poll mode: deletes may have been missed) and
/// every `reconcile_interval`; polls in between. Returns on failure.
async fn follow_polling(
    inner: &Inner,
    ldap: Ldap,
    mode: Mode,
    backoff: &mut std::time::Duration,
) -> Result<(), String> {
    let st = state(inner);
    let cfg = &st.cfg;
    let mut loaded: Option<Instant> = None;
    let need_load = !inner.ready.load(Ordering::Acquire) || mode == Mode::Poll;
    if !need_load {
        loaded = Some(*st.last_reconcile.lock().expect("lock"));
    }
    loop {
        if loaded.is_none_or(|t| t.elapsed() >= cfg.reconcile_interval) {
            let t0 = Instant::now();
            let keys = full_load(inner, ldap.clone(), mode)
                .await
                .map_err(|e| format!("full load: {e}"))?;
            let first = !inner.ready.swap(true, Ordering::AcqRel);
            inner.mark_success();
            let now = Instant::now();
            *st.last_reconcile.lock().expect("lock") = now;
            loaded = Some(now);
            *backoff = cfg.backoff_min;
            if first {
                tracing::info!(keys, elapsed = ?t0.elapsed(), mode = mode.as_str(), "initial key load done");
            } else {
                tracing::info!(keys, elapsed = ?t0.elapsed(), mode = mode.as_str(), "full reconcile done");
            }
        }
        let r = match mode {
            Mode::Poll => poll_modified(inner, ldap.clone()).await.map(|()| 0),
            _ => poll_once(inner, ldap.clone()).await,
        };
        if r.is_ok() {
            // A miss query that timed out (e.g. a server paused for a
            // moment) withdraws the connection so later misses fail
            // fast; a poll that works on it puts it back.
            st.conn
                .lock()
                .expect("lock")
                .get_or_insert_with(|| ldap.clone());
        }
        match r {
            Ok(0) => {
                inner.mark_success();
                tokio::select! {
                    _ = tokio::time::sleep(cfg.poll_interval) => {}
                    _ = st.broken.notified() => {}
                }
            }
            // A non-empty batch: poll again at once (mahi does too).
            Ok(_) => inner.mark_success(),
            Err(e) => return Err(format!("{} poll: {e}", mode.as_str())),
        }
    }
}

/// A cheap round trip on the connection (RootDSE), under the operation
/// timeout: the liveness probe of the syncrepl follower.
async fn probe(inner: &Inner, mut ldap: Ldap) -> Result<(), String> {
    op(inner, "probe", async {
        ldap.search("", Scope::Base, "(objectclass=*)", vec!["1.1"])
            .await?
            .success()
    })
    .await
    .map(|_| ())
}

/// The syncrepl follower: one refreshAndPersist search without a cookie;
/// its refresh phase is a full load (swapped in when the server says the
/// refresh is done), then every add, modify and delete is pushed by the
/// server. A probe every `poll_interval` proves the directory answers (a
/// silent persistent search cannot); every `reconcile_interval` the search
/// is abandoned and started again (a full reconcile). Returns on failure.
async fn follow_syncrepl(
    inner: &Inner,
    ldap: Ldap,
    backoff: &mut std::time::Duration,
) -> Result<(), String> {
    let st = state(inner);
    let cfg = &st.cfg;
    loop {
        let mut search = ldap.clone();
        let mut attrs: Vec<&str> = ENTRY_ATTRS.to_vec();
        attrs.push("entryUUID");
        let ctrl = SyncRequest {
            mode: RefreshMode::RefreshAndPersist,
            cookie: None,
            reload_hint: false,
        };
        let mut stream = op(inner, "syncrepl search", async {
            search
                .with_controls(ctrl)
                .streaming_search(&cfg.users_base, Scope::Subtree, LOAD_FILTER, attrs)
                .await
        })
        .await?;
        let t0 = Instant::now();
        // entryUUID -> DN: deletes arrive as entryUUIDs.
        let mut uuids: HashMap<Vec<u8>, String> = HashMap::new();
        let mut fresh: Option<Store> = Some(Store::default());
        let mut last_entry = Instant::now();
        let mut next_probe = Instant::now() + cfg.poll_interval;
        let restart = loop {
            let refreshing = fresh.is_some();
            let wake = if refreshing {
                (last_entry + cfg.operation_timeout).min(next_probe)
            } else {
                next_probe
            };
            let item = tokio::select! {
                r = stream.next() => Some(r),
                _ = tokio::time::sleep_until(wake.into()) => None,
                _ = st.broken.notified() => { next_probe = Instant::now(); None }
            };
            let Some(item) = item else {
                if refreshing && last_entry.elapsed() >= cfg.operation_timeout {
                    return Err("syncrepl refresh: timed out".into());
                }
                if Instant::now() >= next_probe {
                    probe(inner, ldap.clone()).await?;
                    next_probe = Instant::now() + cfg.poll_interval;
                    if !refreshing {
                        inner.mark_success();
                        st.conn
                            .lock()
                            .expect("lock")
                            .get_or_insert_with(|| ldap.clone());
                        if st.last_reconcile.lock().expect("lock").elapsed()
                            >= cfg.reconcile_interval
                        {
                            break true;
                        }
                    }
                }
                continue;
            };
            let entry = match item {
                Ok(Some(e)) => e,
                Ok(None) => {
                    let res = stream.finish().await;
                    return Err(format!("syncrepl search ended: {res}"));
                }
                Err(e) => {
                    inner.counters.ldap_errors.fetch_add(1, Ordering::Relaxed);
                    return Err(format!("syncrepl search: {e}"));
                }
            };
            last_entry = Instant::now();
            if entry.is_intermediate() {
                let info = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    parse_syncinfo(entry)
                }))
                .map_err(|_| "malformed syncInfo message".to_string())?;
                let done = match info {
                    SyncInfo::RefreshDelete { refresh_done, .. }
                    | SyncInfo::RefreshPresent { refresh_done, .. } => refresh_done,
                    SyncInfo::NewCookie(_) | SyncInfo::SyncIdSet { .. } => false,
                };
                if done {
                    if let Some(store) = fresh.take() {
                        finish_refresh(inner, store, t0, backoff);
                    }
                }
                continue;
            }
            if entry.is_ref() {
                continue;
            }
            let sync_state = entry
                .1
                .iter()
                .find(|c| c.1.ctype == SYNC_STATE_OID)
                .and_then(|c| {
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        c.1.parse::<SyncState>()
                    }))
                    .ok()
                });
            let e = SearchEntry::construct(entry);
            let Some(sync_state) = sync_state else {
                tracing::warn!(dn = %e.dn, "syncrepl entry without a sync state; skipped");
                continue;
            };
            apply_synced(inner, &mut fresh, &mut uuids, sync_state, e);
        };
        if restart {
            let id = stream.ldap_handle().last_id();
            let _ = stream.finish().await;
            let mut l = ldap.clone();
            let _ = op(inner, "abandon syncrepl search", l.abandon(id)).await;
            tracing::debug!("syncrepl: starting a full reconcile");
        }
    }
}
/// The refresh phase is over: its store replaces the cache's.
fn finish_refresh(inner: &Inner, store: Store, t0: Instant, backoff: &mut std::time::Duration) {
    let st = state(inner);
    let keys = store.key_count();
    *inner.store.write().expect("lock") = store;
    let first = !inner.ready.swap(true, Ordering::AcqRel);
    inner.mark_success();
    *st.last_reconcile.lock().expect("lock") = Instant::now();
    *backoff = st.cfg.backoff_min;
    if first {
        tracing::info!(keys, elapsed = ?t0.elapsed(), mode = "syncrepl", "initial key load done");
    } else {
        tracing::info!(keys, elapsed = ?t0.elapsed(), mode = "syncrepl", "full reconcile done");
    }
}

/// Applies one entry of the sync search: to the refresh's store while the
/// refresh runs, to the cache's afterwards.
fn apply_synced(
    inner: &Inner,
    fresh: &mut Option<Store>,
    uuids: &mut HashMap<Vec<u8>, String>,
    ss: SyncState,
    e: SearchEntry,
) {
    let st = state(inner);
    let base = &st.cfg.users_base;
    let mut guard;
    let store: &mut Store = match fresh {
        Some(s) => s,
        None => {
            guard = inner.store.write().expect("lock");
            &mut guard
        }
    };
    if matches!(ss.state, EntryState::Delete) {
        let dn = uuids
            .remove(&ss.entry_uuid)
            .or_else(|| (!e.dn.is_empty()).then(|| e.dn.clone()));
        match dn {
            Some(dn) => remove_dn(st, store, &dn),
            None => tracing::warn!(
                "syncrepl delete of an unknown entryUUID; the next reconcile heals it"
            ),
        }
        return;
    }
    uuids.insert(ss.entry_uuid, e.dn.clone());
    let attrs = ufds::normalise(e.attrs);
    if let Target::Key { id, .. } = ufds::classify(&e.dn, base) {
        st.negative.lock().expect("lock").remove(&id);
    }
    // An add or a modify carries the whole entry: it replaces ours.
    if let Err(why) = ufds::insert_entry(store, &e.dn, &attrs, base) {
        tracing::warn!(dn = %e.dn, %why, "skipping malformed entry");
    }
}

/// Removes the person or key at `dn`. A revoked key that keeps being tried
/// must not become a miss query per request: it goes to the negative cache.
fn remove_dn(st: &LdapState, store: &mut Store, dn: &str) {
    match ufds::classify(dn, &st.cfg.users_base) {
        Target::Key {
            id,
            account,
            subuser,
        } => {
            store.remove_key(&id, &account, subuser.as_deref());
            st.negative.lock().expect("lock").insert(id, Instant::now());
        }
        Target::Person { uuid, .. } => {
            store.people.remove(&uuid);
        }
        Target::Other => {}
    }
}

async fn latest_changenumber(inner: &Inner, mut ldap: Ldap) -> Result<u64, String> {
    let cfg = &state(inner).cfg;
    let r = op(inner, "read latest changenumber", async {
        ldap.search(
            &cfg.latest_changenumber_dn,
            Scope::Base,
            "(objectclass=*)",
            vec!["count"],
        )
        .await
    })
    .await?;
    if r.1.rc == 0 {
        let n = r.0.into_iter().map(SearchEntry::construct).find_map(|e| {
            ufds::normalise(e.attrs)
                .get("count")
                .and_then(|v| v.first())
                .and_then(|v| v.parse::<u64>().ok())
        });
        return n.ok_or_else(|| format!("{} has no numeric count", cfg.latest_changenumber_dn));
    }
    if r.1.rc != RC_NO_SUCH_OBJECT {
        return Err(format!("read latest changenumber: {}", r.1));
    }
    // No cn=latestchangenumber: fall back to the highest changenumber.
    let r = op(inner, "scan changelog", async {
        ldap.search(
            &cfg.changelog_base,
            Scope::Subtree,
            "(changenumber>=0)",
            vec!["changenumber"],
        )
        .await?
        .success()
    })
    .await?;
    Ok(r.0
        .into_iter()
        .map(SearchEntry::construct)
        .filter_map(|e| {
            ufds::normalise(e.attrs)
                .get("changenumber")
                .and_then(|v| v.first())
                .and_then(|v| v.parse::<u64>().ok())
        })
        .max()
        .unwrap_or(0))
}

/// Loads everything into a fresh store that then replaces the cache's;
/// returns the number of keys. Changelog mode: the changelog is followed
/// from the number read before the load (overlap is harmless). Poll mode:
/// from the newest `modifyTimestamp` loaded.
async fn full_load(inner: &Inner, ldap: Ldap, mode: Mode) -> Result<usize, String> {
    let cfg = &state(inner).cfg;
    let latest = match mode {
        Mode::Changelog => Some(latest_changenumber(inner, ldap.clone()).await?),
        _ => None,
    };
    let mut newest_modified: Option<String> = None;
    let mut attrs = ENTRY_ATTRS.to_vec();
    if mode == Mode::Poll {
        attrs.push("modifyTimestamp");
    }
    let mut store = Store::default();
    let mut ldap = ldap;
    let adapters: Vec<Box<dyn Adapter<'_, &str, Vec<&str>>>> = vec![
        Box::new(EntriesOnly::new()),
        Box::new(PagedResults::new(
            i32::try_from(cfg.page_size).unwrap_or(i32::MAX),
        )),
    ];
    let mut stream = op(inner, "load search", async {
        ldap.streaming_search_with(
            adapters,
            &cfg.users_base,
            Scope::Subtree,
            LOAD_FILTER,
            attrs,
        )
        .await
    })
    .await?;
    let mut skipped = 0usize;
    loop {
        // The timeout is per entry (and so per page request): a stuck
        // server stops the load, a big directory does not.
        let next = tokio::time::timeout(cfg.operation_timeout, stream.next()).await;
        let entry = match next {
            Ok(Ok(Some(e))) => SearchEntry::construct(e),
            Ok(Ok(None)) => break,
            Ok(Err(e)) => {
                inner.counters.ldap_errors.fetch_add(1, Ordering::Relaxed);
                return Err(format!("load search: {e}"));
            }
            Err(_) => {
                inner.counters.ldap_errors.fetch_add(1, Ordering::Relaxed);
                return Err("load search: timed out".into());
            }
        };
        let attrs = ufds::normalise(entry.attrs);
        if let Some(t) = attrs.get("modifytimestamp").and_then(|v| v.first()) {
            if newest_modified.as_ref().is_none_or(|n| t > n) {
                newest_modified = Some(t.clone());
            }
        }
        if let Err(why) = ufds::insert_entry(&mut store, &entry.dn, &attrs, &cfg.users_base) {
            skipped += 1;
            tracing::warn!(dn = %entry.dn, %why, "skipping malformed entry");
        }
    }
    let res = stream.finish().await;
    if res.rc != 0 {
        inner.counters.ldap_errors.fetch_add(1, Ordering::Relaxed);
        return Err(format!("load search: {res}"));
    }
    let keys = store.key_count();
    tracing::debug!(
        keys,
        people = store.people.len(),
        skipped,
        ?latest,
        "loaded"
    );
    *inner.store.write().expect("lock") = store;
    if let Some(latest) = latest {
        *inner.last_changenumber.lock().expect("lock") = Some(latest);
    }
    if newest_modified.is_some() {
        *state(inner).newest_modified.lock().expect("lock") = newest_modified;
    }
    Ok(keys)
}

/// One `modifyTimestamp` poll: every person and key changed since the
/// newest change seen (`>=`: timestamps have one-second resolution, and
/// re-applying an entry is harmless). Deletes are not seen here: the
/// periodic full reconcile catches them.
async fn poll_modified(inner: &Inner, mut ldap: Ldap) -> Result<(), String> {
    let st = state(inner);
    let cfg = &st.cfg;
    let since = st
        .newest_modified
        .lock()
        .expect("lock")
        .clone()
        .unwrap_or_else(|| "19700101000000Z".into());
    let filter = format!(
        "(&{LOAD_FILTER}(modifyTimestamp>={}))",
        ldap_escape(since.as_str())
    );
    let mut attrs = ENTRY_ATTRS.to_vec();
    attrs.push("modifyTimestamp");
    let (entries, _) = op(inner, "modifyTimestamp poll", async {
        ldap.search(&cfg.users_base, Scope::Subtree, &filter, attrs)
            .await?
            .success()
    })
    .await?;
    let mut newest = since;
    let mut store = inner.store.write().expect("lock");
    for e in entries.into_iter().map(SearchEntry::construct) {
        let attrs = ufds::normalise(e.attrs);
        if let Some(t) = attrs.get("modifytimestamp").and_then(|v| v.first()) {
            if *t > newest {
                newest = t.clone();
            }
        }
        if let Target::Key { id, .. } = ufds::classify(&e.dn, &cfg.users_base) {
            st.negative.lock().expect("lock").remove(&id);
        }
        if let Err(why) = ufds::insert_entry(&mut store, &e.dn, &attrs, &cfg.users_base) {
            tracing::warn!(dn = %e.dn, %why, "skipping malformed entry");
        }
    }
    *st.newest_modified.lock().expect("lock") = Some(newest);
    Ok(())
}

struct Change {
    number: u64,
    targetdn: String,
    changetype: String,
    changes: String,
}

/// One changelog poll; returns how many new records it applied.
async fn poll_once(inner: &Inner, mut ldap: Ldap) -> Result<usize, String> {
    let cfg = &state(inner).cfg;
    let last = inner.last_changenumber.lock().expect("lock").unwrap_or(0);
    // mahi's filter (ufds.md), from the next number.
    let filter = format!(
        "(&(changenumber>={})(|(targetdn=*ou=users*)(targetdn=*ou=groups*))(!(targetdn=vm*))(!(targetdn=amon*)))",
        last + 1
    );
    let limit = i32::try_from(cfg.poll_batch).unwrap_or(i32::MAX);
    let (entries, res) = op(inner, "changelog poll", async {
        ldap.with_search_options(SearchOptions::new().sizelimit(limit))
            .search(
                &cfg.changelog_base,
                Scope::Subtree,
                &filter,
                CHANGE_ATTRS.to_vec(),
            )
            .await
    })
    .await
    .map(|r| (r.0, r.1))?;
    if res.rc != 0 && res.rc != RC_SIZE_LIMIT {
        inner.counters.ldap_errors.fetch_add(1, Ordering::Relaxed);
        return Err(format!("changelog poll: {res}"));
    }
    let mut changes = Vec::with_capacity(entries.len());
    for e in entries.into_iter().map(SearchEntry::construct) {
        // Attribute names come back as the server spells them.
        let attrs = ufds::normalise(e.attrs);
        let get = |k: &str| attrs.get(k).and_then(|v| v.first()).cloned();
        let Some(number) = get("changenumber").and_then(|n| n.parse::<u64>().ok()) else {
            tracing::warn!(dn = %e.dn, "changelog record without a numeric changenumber; skipped");
            continue;
        };
        changes.push(Change {
            number,
            targetdn: get("targetdn").unwrap_or_default(),
            changetype: get("changetype").unwrap_or_default().to_ascii_lowercase(),
            changes: get("changes").unwrap_or_default(),
        });
    }
    // Never out of order: apply ascending, only numbers past the last one.
    changes.sort_by_key(|c| c.number);
    let mut applied = 0;
    for c in changes {
        if c.number <= last {
            continue;
        }
        match apply_change(inner, &c) {
            Ok(None) => {}
            Ok(Some(dn)) => refetch(inner, ldap.clone(), &dn).await?,
            Err(why) => tracing::warn!(
                changenumber = c.number, targetdn = %c.targetdn, %why,
                "skipping malformed changelog record"
            ),
        }
        *inner.last_changenumber.lock().expect("lock") = Some(c.number);
        applied += 1;
    }
    Ok(applied)
}

/// Applies one change to the store. `Ok(Some(dn))`: a modify of an entry
/// the store does not hold; read it whole from the directory.
fn apply_change(inner: &Inner, c: &Change) -> Result<Option<String>, String> {
    let st = state(inner);
    let target = ufds::classify(&c.targetdn, &st.cfg.users_base);
    if target == Target::Other {
        return Ok(None);
    }
    let mut store = inner.store.write().expect("lock");
    match (c.changetype.as_str(), target) {
        ("add", target) => {
            let v: serde_json::Value =
                serde_json::from_str(&c.changes).map_err(|e| format!("changes JSON: {e}"))?;
            let attrs = ufds::attrs_from_json(&v)?;
            if let Target::Key { id, .. } = &target {
                st.negative.lock().expect("lock").remove(id);
            }
            ufds::insert_entry(&mut store, &c.targetdn, &attrs, &st.cfg.users_base)?;
        }
        ("delete", _) => remove_dn(st, &mut store, &c.targetdn),
        (
            "modify",
            Target::Key {
                id,
                account,
                subuser,
            },
        ) => {
            let mods = ufds::parse_modifications(&c.changes)?;
            match store.key_mut(&id, &account, subuser.as_deref()) {
                Some(k) => ufds::modify_key(k, &mods)?,
                None => return Ok(Some(c.targetdn.clone())),
            }
        }
        ("modify", Target::Person { uuid, account }) => {
            let mods = ufds::parse_modifications(&c.changes)?;
            match store.people.get_mut(&uuid) {
                Some(p) => ufds::modify_person(p, account.as_deref(), &mods)?,
                None => return Ok(Some(c.targetdn.clone())),
            }
        }
        // modrdn is not used for people or keys by UFDS.
        (other, _) => return Err(format!("unsupported changetype {other:?}")),
    }
    Ok(None)
}

/// Reads one entry by DN into the store (or removes it if it is gone).
async fn refetch(inner: &Inner, mut ldap: Ldap, dn: &str) -> Result<(), String> {
    let st = state(inner);
    let r = op(inner, "read entry", async {
        ldap.search(dn, Scope::Base, "(objectclass=*)", ENTRY_ATTRS.to_vec())
            .await
    })
    .await?;
    let mut store = inner.store.write().expect("lock");
    match r.1.rc {
        0 => {
            for e in r.0.into_iter().map(SearchEntry::construct) {
                let attrs = ufds::normalise(e.attrs);
                if let Err(why) = ufds::insert_entry(&mut store, &e.dn, &attrs, &st.cfg.users_base)
                {
                    tracing::warn!(dn = %e.dn, %why, "skipping malformed entry");
                }
            }
        }
        RC_NO_SUCH_OBJECT => remove_dn(st, &mut store, dn),
        _ => return Err(format!("read entry: {}", r.1)),
    }
    Ok(())
}

/// The miss path: one LDAP search for an id not in the cache (run once per
/// id at a time, see `KeyCache::lookup`).
pub(crate) async fn miss_query(inner: Arc<Inner>, id: AccessKeyId) -> LookupResult {
    let result = miss_query_inner(&inner, &id).await;
    // Remove the in-flight marker only after the store / negative cache
    // hold the answer, so a later caller sees it there.
    inner.inflight.lock().expect("lock").remove(&id);
    result
}

async fn miss_query_inner(inner: &Inner, id: &AccessKeyId) -> LookupResult {
    let st = state(inner);
    // Fail fast when the directory is down: never make a request wait for
    // a reconnect.
    let Some(mut ldap) = st.current() else {
        return Err(LookupError::Unavailable("directory not connected".into()));
    };
    if !st.limiter.lock().expect("lock").take() {
        inner.counters.rate_limited.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(access_key_id = %id, "miss query rate limit reached");
        return Ok(None);
    }
    let filter = format!(
        "(&(objectclass=accesskey)(accesskeyid={}))",
        ldap_escape(id.as_str())
    );
    let base = st.cfg.users_base.clone();
    // Its own, short timeout: a request is waiting (the follower's
    // operations use operation_timeout).
    inner.counters.ldap_queries.fetch_add(1, Ordering::Relaxed);
    let r = match tokio::time::timeout(st.cfg.miss_timeout, async {
        ldap.search(&base, Scope::Subtree, &filter, ENTRY_ATTRS.to_vec())
            .await?
            .success()
    })
    .await
    {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(format!("key lookup at {}: {e}", st.cfg.url)),
        Err(_) => Err(format!(
            "key lookup at {}: no answer within {:?} (miss_timeout)",
            st.cfg.url, st.cfg.miss_timeout
        )),
    };
    let entries = match r {
        Ok((entries, _)) => entries,
        Err(e) => {
            inner.counters.ldap_errors.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(error = %e, access_key_id = %id, "LDAP key lookup failed; directory marked unreachable");
            // Later misses fail at once until the follower proves the
            // directory answers again.
            st.drop_connection();
            st.broken.notify_one();
            return Err(LookupError::Unavailable(e));
        }
    };
    let mut found = Vec::new();
    for e in entries.into_iter().map(SearchEntry::construct) {
        if let Target::Key {
            id: kid,
            account,
            subuser,
        } = ufds::classify(&e.dn, &st.cfg.users_base)
        {
            if kid == *id {
                let attrs = ufds::normalise(e.attrs);
                match ufds::key_from_attrs(&attrs, id, &account, subuser.as_deref()) {
                    Ok(_) => found.push((e.dn, attrs)),
                    Err(why) => tracing::warn!(dn = %e.dn, %why, "skipping malformed entry"),
                }
            }
        }
    }
    if found.is_empty() {
        st.negative
            .lock()
            .expect("lock")
            .insert(id.clone(), Instant::now());
        return Ok(None);
    }
    // The owners may be new too (an account created a moment ago).
    for (dn, _) in &found {
        let Target::Key {
            account, subuser, ..
        } = ufds::classify(dn, &st.cfg.users_base)
        else {
            continue;
        };
        let mut owners = vec![(account.clone(), account_dn(&account, &st.cfg.users_base))];
        if let Some(sub) = &subuser {
            owners.push((
                sub.clone(),
                format!("uuid={sub}, {}", account_dn(&account, &st.cfg.users_base)),
            ));
        }
        for (uuid, dn) in owners {
            if inner.store.read().expect("lock").people.contains_key(&uuid) {
                continue;
            }
            if let Err(e) = refetch(inner, ldap.clone(), &dn).await {
                return Err(LookupError::Unavailable(e));
            }
        }
    }
    {
        let mut store = inner.store.write().expect("lock");
        for (dn, attrs) in &found {
            if let Err(why) = ufds::insert_entry(&mut store, dn, attrs, &st.cfg.users_base) {
                tracing::warn!(%dn, %why, "skipping malformed entry");
            }
        }
    }
    match inner.resolve(id) {
        Resolved::Usable(c) => Ok(Some(Arc::new(c))),
        Resolved::Ambiguous => {
            inner.counters.ambiguous.fetch_add(1, Ordering::Relaxed);
            Ok(None)
        }
        _ => Ok(None),
    }
}

fn account_dn(uuid: &str, users_base: &str) -> String {
    format!("uuid={uuid}, {users_base}")
}

#[cfg(test)]
mod jitter_tests {
    use super::jittered;
    use std::time::Duration;

    #[test]
    fn reconnect_pauses_are_jittered_within_half_to_whole_backoff() {
        let b = Duration::from_secs(8);
        let pauses: Vec<Duration> = (0..200).map(|_| jittered(b)).collect();
        assert!(pauses.iter().all(|p| *p >= b / 2 && *p <= b), "{pauses:?}");
        let distinct: std::collections::BTreeSet<_> = pauses.iter().collect();
        assert!(distinct.len() > 100, "pauses vary: {}", distinct.len());
        assert_eq!(jittered(Duration::ZERO), Duration::ZERO);
    }
}
