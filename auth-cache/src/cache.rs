//! [`KeyCache`]: the handle the gateway holds, lookups, negative cache,
//! single-flight misses, counters.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use futures_util::future::{BoxFuture, FutureExt, Shared};

use crate::config::KeySourceConfig;
use crate::ldap::LdapState;
use crate::store::{Resolved, Store};
use crate::types::{AccessKeyId, Credential};

/// Why a lookup has no answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LookupError {
    /// The directory cannot be reached and the key is not cached, or it has
    /// been unreachable for longer than the grace period (the gateway
    /// answers 503, not 403).
    #[error("key directory unavailable: {0}")]
    Unavailable(String),
}

/// Why the cache could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A setting cannot work (bad URL, unreadable CA file, ...).
    #[error("invalid key source config: {0}")]
    Config(String),
    /// The keys file cannot be read or parsed.
    #[error("keys file: {0}")]
    KeysFile(String),
}

/// Counters for the gateway's metrics (issue 3, item 7).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Keys held (any status).
    pub keys_cached: u64,
    /// Lookups answered from the cache (usable or known unusable).
    pub hits: u64,
    /// Lookups of ids not in the cache.
    pub misses: u64,
    /// Misses answered by the negative cache.
    pub negative_hits: u64,
    /// Misses answered "unknown" without a query because the miss-query
    /// rate limit was reached.
    pub misses_rate_limited: u64,
    /// LDAP operations sent (searches, binds).
    pub ldap_queries: u64,
    /// LDAP operations that failed or timed out (and failed connects).
    pub ldap_errors: u64,
    /// Last changelog number applied (LDAP source).
    pub last_changenumber: Option<u64>,
    /// Time since the last successful poll (LDAP) or file check.
    pub since_last_poll: Option<Duration>,
    /// The initial load is done.
    pub ready: bool,
    /// Access key ids currently present more than once in the source
    /// (each authenticates nobody).
    pub duplicate_key_ids: u64,
    /// Lookups refused because their id is present more than once.
    pub ambiguous_lookups: u64,
    /// How changes are followed (LDAP): `changelog`, `syncrepl`, `poll`.
    pub follow_mode: Option<&'static str>,
    /// The directory answered within the grace period (always true for a
    /// keys file). Readiness requires it.
    pub directory_ok: bool,
}

#[derive(Default)]
pub(crate) struct Counters {
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    pub negative_hits: AtomicU64,
    pub rate_limited: AtomicU64,
    pub ldap_queries: AtomicU64,
    pub ldap_errors: AtomicU64,
    pub ambiguous: AtomicU64,
}

pub(crate) type LookupResult = Result<Option<Arc<Credential>>, LookupError>;

/// Ids LDAP did not know, with their expiry; bounded.
pub(crate) struct NegativeCache {
    map: HashMap<AccessKeyId, Instant>,
    ttl: Duration,
    max: usize,
}

impl NegativeCache {
    pub fn new(ttl: Duration, max: usize) -> Self {
        NegativeCache {
            map: HashMap::new(),
            ttl,
            max,
        }
    }

    pub fn contains(&mut self, id: &AccessKeyId, now: Instant) -> bool {
        match self.map.get(id) {
            Some(exp) if *exp > now => true,
            Some(_) => {
                self.map.remove(id);
                false
            }
            None => false,
        }
    }

    pub fn insert(&mut self, id: AccessKeyId, now: Instant) {
        if self.max == 0 || self.ttl.is_zero() {
            return;
        }
        if self.map.len() >= self.max {
            self.map.retain(|_, exp| *exp > now);
        }
        if self.map.len() >= self.max {
            // Still full of live entries: forget one; a flood is bounded by
            // the miss rate limit anyway.
            if let Some(k) = self.map.keys().next().cloned() {
                self.map.remove(&k);
            }
        }
        self.map.insert(id, now + self.ttl);
    }

    pub fn remove(&mut self, id: &AccessKeyId) {
        self.map.remove(id);
    }
}

pub(crate) enum Kind {
    File,
    Ldap(Box<LdapState>),
}

/// State shared by the handle and the background tasks.
pub(crate) struct Inner {
    pub store: RwLock<Store>,
    pub counters: Counters,
    pub ready: AtomicBool,
    /// Last successful poll / file check.
    pub last_success: Mutex<Option<Instant>>,
    pub last_changenumber: Mutex<Option<u64>>,
    pub kind: Kind,
    pub inflight: Mutex<HashMap<AccessKeyId, Shared<BoxFuture<'static, LookupResult>>>>,
}

impl Inner {
    pub fn new(kind: Kind) -> Self {
        Inner {
            store: RwLock::new(Store::default()),
            counters: Counters::default(),
            ready: AtomicBool::new(false),
            last_success: Mutex::new(None),
            last_changenumber: Mutex::new(None),
            kind,
            inflight: Mutex::new(HashMap::new()),
        }
    }

    pub fn mark_success(&self) {
        *self.last_success.lock().expect("lock") = Some(Instant::now());
    }

    pub fn resolve(&self, id: &AccessKeyId) -> Resolved {
        self.store.read().expect("store lock").resolve(id)
    }
}

/// Stops the background tasks when the last handle goes.
struct Tasks {
    handles: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Drop for Tasks {
    fn drop(&mut self) {
        for h in self.handles.lock().expect("lock").drain(..) {
            h.abort();
        }
    }
}

/// The access-key cache. Cheap to clone (an `Arc` inside), `Send + Sync`.
/// Background tasks stop at [`KeyCache::shutdown`] or when the last clone
/// is dropped.
#[derive(Clone)]
pub struct KeyCache {
    inner: Arc<Inner>,
    tasks: Arc<Tasks>,
}

impl std::fmt::Debug for KeyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyCache")
            .field("stats", &self.stats())
            .finish()
    }
}

impl KeyCache {
    /// Starts the cache. Returns at once: the LDAP source connects and loads
    /// in a background task ([`KeyCache::is_ready`] says when it is done);
    /// the file source reads its file here (an unreadable file is an error)
    /// and watches it in the background. Needs a tokio runtime.
    pub async fn start(config: KeySourceConfig) -> Result<KeyCache, StartError> {
        match config {
            KeySourceConfig::File(cfg) => {
                let inner = Arc::new(Inner::new(Kind::File));
                let task = crate::file::start(inner.clone(), cfg)?;
                Ok(KeyCache::with(inner, vec![task]))
            }
            KeySourceConfig::Ldap(cfg) => {
                let state = LdapState::new(cfg)?;
                let inner = Arc::new(Inner::new(Kind::Ldap(Box::new(state))));
                let task = tokio::spawn(crate::ldap::follow(inner.clone()));
                Ok(KeyCache::with(inner, vec![task]))
            }
        }
    }

    fn with(inner: Arc<Inner>, handles: Vec<tokio::task::JoinHandle<()>>) -> KeyCache {
        KeyCache {
            inner,
            tasks: Arc::new(Tasks {
                handles: Mutex::new(handles),
            }),
        }
    }

    /// The credential for `id`: `Some` only for an Active key of an enabled
    /// account (and sub-user); `None` when there is no such usable key.
    /// `Err(Unavailable)` when the directory cannot be asked and the cache
    /// cannot answer (the gateway answers 503).
    pub async fn lookup(&self, id: &AccessKeyId) -> LookupResult {
        let inner = &self.inner;
        let c = &inner.counters;
        match inner.resolve(id) {
            Resolved::Usable(cred) => {
                c.hits.fetch_add(1, Ordering::Relaxed);
                if let Kind::Ldap(state) = &inner.kind {
                    state.check_grace(inner)?;
                }
                return Ok(Some(Arc::new(cred)));
            }
            Resolved::Unusable => {
                c.hits.fetch_add(1, Ordering::Relaxed);
                return Ok(None);
            }
            Resolved::Ambiguous => {
                // Fail closed: logged when the duplicate was loaded.
                c.hits.fetch_add(1, Ordering::Relaxed);
                c.ambiguous.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(access_key_id = %id, "refused: access key id present more than once in the directory");
                return Ok(None);
            }
            Resolved::Unknown => {
                c.misses.fetch_add(1, Ordering::Relaxed);
            }
        }
        let Kind::Ldap(state) = &inner.kind else {
            // The file is the whole truth.
            return Ok(None);
        };
        if state
            .negative
            .lock()
            .expect("lock")
            .contains(id, Instant::now())
        {
            c.negative_hits.fetch_add(1, Ordering::Relaxed);
            return Ok(None);
        }
        // Single flight: concurrent misses for one id share one query. The
        // query runs in its own task so a caller that gives up does not
        // cancel it for the others.
        let fut = {
            let mut map = inner.inflight.lock().expect("lock");
            if let Some(f) = map.get(id) {
                f.clone()
            } else if state
                .negative
                .lock()
                .expect("lock")
                .contains(id, Instant::now())
            {
                // The query for this id finished between the check above
                // and taking this lock: it fills the negative cache before
                // it leaves the in-flight map, so look again here rather
                // than send a second search.
                c.negative_hits.fetch_add(1, Ordering::Relaxed);
                return Ok(None);
            } else {
                let task = tokio::spawn(crate::ldap::miss_query(self.inner.clone(), id.clone()));
                let f = async move {
                    task.await.unwrap_or_else(|e| {
                        Err(LookupError::Unavailable(format!("lookup task ended: {e}")))
                    })
                }
                .boxed()
                .shared();
                map.insert(id.clone(), f.clone());
                f
            }
        };
        fut.await
    }

    /// Whether the initial load is done (file read, or LDAP loaded).
    pub fn is_ready(&self) -> bool {
        self.inner.ready.load(Ordering::Acquire)
    }

    /// Whether the key source is usable for readiness: a keys file always;
    /// a directory once loaded and while it answered within the grace
    /// period (past it, every lookup is answered 503, so the instance must
    /// leave the load balancer).
    pub fn directory_ok(&self) -> bool {
        match &self.inner.kind {
            Kind::File => true,
            Kind::Ldap(state) => self.is_ready() && state.within_grace(&self.inner),
        }
    }

    /// Current counters.
    pub fn stats(&self) -> CacheStats {
        let i = &self.inner;
        let c = &i.counters;
        let (keys_cached, duplicate_key_ids) = {
            let s = i.store.read().expect("lock");
            (s.key_count() as u64, s.duplicate_ids() as u64)
        };
        let follow_mode = match &i.kind {
            Kind::File => None,
            Kind::Ldap(st) => st.mode.lock().expect("lock").map(|m| m.as_str()),
        };
        CacheStats {
            keys_cached,
            duplicate_key_ids,
            ambiguous_lookups: c.ambiguous.load(Ordering::Relaxed),
            follow_mode,
            directory_ok: self.directory_ok(),
            hits: c.hits.load(Ordering::Relaxed),
            misses: c.misses.load(Ordering::Relaxed),
            negative_hits: c.negative_hits.load(Ordering::Relaxed),
            misses_rate_limited: c.rate_limited.load(Ordering::Relaxed),
            ldap_queries: c.ldap_queries.load(Ordering::Relaxed),
            ldap_errors: c.ldap_errors.load(Ordering::Relaxed),
            last_changenumber: *i.last_changenumber.lock().expect("lock"),
            since_last_poll: i.last_success.lock().expect("lock").map(|t| t.elapsed()),
            ready: self.is_ready(),
        }
    }

    /// Stops the background tasks (lookups keep answering from memory).
    pub async fn shutdown(&self) {
        let handles: Vec<_> = self.tasks.handles.lock().expect("lock").drain(..).collect();
        for h in handles {
            h.abort();
            let _ = h.await;
        }
        if let Kind::Ldap(state) = &self.inner.kind {
            state.drop_connection();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negative_cache_ttl_and_cap() {
        let now = Instant::now();
        let mut n = NegativeCache::new(Duration::from_secs(10), 3);
        let ids: Vec<AccessKeyId> = (0..5)
            .map(|i| format!("{i:016}").parse().unwrap())
            .collect();
        for id in &ids {
            n.insert(id.clone(), now);
        }
        assert!(n.map.len() <= 3);
        assert!(n.contains(&ids[4], now));
        assert!(!n.contains(&ids[4], now + Duration::from_secs(11)));
    }
}
