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

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use ldap3::adapters::{Adapter, EntriesOnly, PagedResults};
use ldap3::{
    ldap_escape, Ldap, LdapConnAsync, LdapConnSettings, Scope, SearchEntry, SearchOptions,
};
use tokio::sync::Notify;

use crate::cache::{Inner, Kind, LookupError, LookupResult, NegativeCache, StartError};
use crate::config::LdapConfig;
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
    for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
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

/// The background follower: connect, load once, poll forever; reconnect
/// with backoff on any failure.
pub(crate) async fn follow(inner: Arc<Inner>) {
    let st = state(&inner);
    let cfg = &st.cfg;
    let mut backoff = cfg.backoff_min;
    loop {
        let ldap = match connect(&inner).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?backoff, "LDAP connect failed");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(cfg.backoff_max);
                continue;
            }
        };
        *st.conn.lock().expect("lock") = Some(ldap.clone());
        tracing::info!(url = %cfg.url, "LDAP connected");
        if !inner.ready.load(Ordering::Acquire) {
            let t0 = Instant::now();
            match initial_load(&inner, ldap.clone()).await {
                Ok(keys) => {
                    inner.ready.store(true, Ordering::Release);
                    inner.mark_success();
                    tracing::info!(keys, elapsed = ?t0.elapsed(), "initial key load done");
                }
                Err(e) => {
                    tracing::warn!(error = %e, retry_in = ?backoff, "initial key load failed");
                    st.drop_connection();
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(cfg.backoff_max);
                    continue;
                }
            }
        }
        backoff = cfg.backoff_min;
        loop {
            let r = poll_once(&inner, ldap.clone()).await;
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
                Err(e) => {
                    tracing::warn!(error = %e, "LDAP changelog poll failed; reconnecting");
                    break;
                }
            }
        }
        st.drop_connection();
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(cfg.backoff_max);
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

/// Loads everything; returns the number of keys.
async fn initial_load(inner: &Inner, ldap: Ldap) -> Result<usize, String> {
    let cfg = &state(inner).cfg;
    let latest = latest_changenumber(inner, ldap.clone()).await?;
    let mut store = Store::default();
    let mut ldap = ldap;
    let adapters: Vec<Box<dyn Adapter<'_, &str, Vec<&str>>>> = vec![
        Box::new(EntriesOnly::new()),
        Box::new(PagedResults::new(
            i32::try_from(cfg.page_size).unwrap_or(i32::MAX),
        )),
    ];
    let filter = "(|(objectclass=sdcperson)(objectclass=accesskey))";
    let mut stream = op(inner, "load search", async {
        ldap.streaming_search_with(
            adapters,
            &cfg.users_base,
            Scope::Subtree,
            filter,
            ENTRY_ATTRS.to_vec(),
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
    let keys = store.keys.len();
    tracing::debug!(keys, people = store.people.len(), skipped, latest, "loaded");
    *inner.store.write().expect("lock") = store;
    *inner.last_changenumber.lock().expect("lock") = Some(latest);
    Ok(keys)
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
        ("delete", Target::Key { id, .. }) => {
            store.keys.remove(&id);
            // A revoked key that keeps being tried must not become a miss
            // query per request.
            st.negative.lock().expect("lock").insert(id, Instant::now());
        }
        ("delete", Target::Person { uuid, .. }) => {
            store.people.remove(&uuid);
        }
        ("modify", Target::Key { id, .. }) => {
            let mods = ufds::parse_modifications(&c.changes)?;
            match store.keys.get_mut(&id) {
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
        RC_NO_SUCH_OBJECT => match ufds::classify(dn, &st.cfg.users_base) {
            Target::Key { id, .. } => {
                store.keys.remove(&id);
            }
            Target::Person { uuid, .. } => {
                store.people.remove(&uuid);
            }
            Target::Other => {}
        },
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
    let r = op(inner, "key lookup", async {
        ldap.search(&base, Scope::Subtree, &filter, ENTRY_ATTRS.to_vec())
            .await?
            .success()
    })
    .await;
    let entries = match r {
        Ok((entries, _)) => entries,
        Err(e) => {
            tracing::warn!(error = %e, access_key_id = %id, "LDAP key lookup failed");
            st.drop_connection();
            st.broken.notify_one();
            return Err(LookupError::Unavailable(e));
        }
    };
    let mut found = None;
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
                    Ok(k) => found = Some(k),
                    Err(why) => tracing::warn!(dn = %e.dn, %why, "skipping malformed entry"),
                }
            }
        }
    }
    let Some(key) = found else {
        st.negative
            .lock()
            .expect("lock")
            .insert(id.clone(), Instant::now());
        return Ok(None);
    };
    // The owners may be new too (an account created a moment ago).
    let mut owners = vec![(
        key.account_uuid.clone(),
        account_dn(&key.account_uuid, &st.cfg.users_base),
    )];
    if let Some(sub) = &key.subuser_uuid {
        owners.push((
            sub.clone(),
            format!(
                "uuid={sub}, {}",
                account_dn(&key.account_uuid, &st.cfg.users_base)
            ),
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
    inner
        .store
        .write()
        .expect("lock")
        .keys
        .insert(id.clone(), key);
    match inner.resolve(id) {
        Resolved::Usable(c) => Ok(Some(Arc::new(c))),
        _ => Ok(None),
    }
}

fn account_dn(uuid: &str, users_base: &str) -> String {
    format!("uuid={uuid}, {users_base}")
}
