//! The UFDS source against a real slapd (tests/src/slapd.rs): every change
//! is written the way UFDS writes it, with its `cn=changelog` record.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{config, new_key, uuid, wait_until};
use s3gw_auth_cache::{
    AccessKeyId, KeyAdmin, KeyCache, KeyOwner, KeySourceConfig, KeyStatus, LdapKeyAdmin,
    LookupError,
};
use s3gw_tests::slapd::{
    account_dn, key_dn, subuser_dn, BlackHole, KeySpec, Slapd, ROOT_DN, ROOT_PW,
};

/// Searches made by the cache's miss path (its filter names the id).
const MISS_SEARCH: &str = "(accesskeyid=";
/// The initial load's search.
const LOAD_SEARCH: &str = "(|(objectClass=sdcPerson)(objectClass=accesskey))";

async fn start(cfg: s3gw_auth_cache::LdapConfig) -> KeyCache {
    common::init_logs();
    KeyCache::start(KeySourceConfig::Ldap(cfg))
        .await
        .expect("start")
}

async fn ready(cache: &KeyCache) {
    let c = cache.clone();
    wait_until("initial load", move || {
        let c = c.clone();
        async move { c.is_ready() }
    })
    .await;
}

/// Polls until the lookup of `id` is usable (`want`) or not.
async fn until_usable(cache: &KeyCache, id: &AccessKeyId, want: bool) -> Duration {
    let (c, id) = (cache.clone(), id.clone());
    wait_until(&format!("{id} usable = {want}"), move || {
        let (c, id) = (c.clone(), id.clone());
        async move { matches!(c.lookup(&id).await, Ok(Some(_))) == want }
    })
    .await
}

struct Fixture {
    slapd: Slapd,
    acct: String,
    acct_dn: String,
    id: AccessKeyId,
    secret: String,
}

/// slapd with one account `alice` and one Active key.
async fn fixture() -> Fixture {
    let slapd = Slapd::start().await;
    let acct = uuid();
    slapd.add_account(&acct, "alice").await;
    let acct_dn = account_dn(&acct);
    let (id, secret) = new_key();
    let secret = secret.expose_str().to_owned();
    slapd
        .add_key(&KeySpec {
            owner_dn: &acct_dn,
            id: id.as_str(),
            secret: &secret,
            status: "Active",
        })
        .await;
    Fixture {
        slapd,
        acct,
        acct_dn,
        id,
        secret,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn initial_load_of_1000_keys() {
    let slapd = Slapd::start().await;
    let acct = uuid();
    slapd.add_account(&acct, "bulk").await;
    let owner = account_dn(&acct);
    let keys: Vec<(AccessKeyId, String)> = (0..1000)
        .map(|_| {
            let (id, s) = new_key();
            (id, s.expose_str().to_owned())
        })
        .collect();
    let specs: Vec<KeySpec<'_>> = keys
        .iter()
        .map(|(id, s)| KeySpec {
            owner_dn: &owner,
            id: id.as_str(),
            secret: s,
            status: "Active",
        })
        .collect();
    slapd.add_keys(&specs).await;
    let latest = slapd.latest_changenumber().await;

    let t0 = Instant::now();
    let cache = start(config(&slapd)).await;
    ready(&cache).await;
    let load = t0.elapsed();
    eprintln!("MEASURED initial load of 1000 keys (connect + bind + paged search): {load:?}");

    let stats = cache.stats();
    assert_eq!(stats.keys_cached, 1000);
    assert!(stats.last_changenumber.unwrap() >= latest);
    for (id, secret) in keys.iter().step_by(37) {
        let cred = cache.lookup(id).await.unwrap().expect("loaded key");
        assert_eq!(cred.secret.expose_str(), secret);
        assert_eq!(cred.account.login, "bulk");
        assert_eq!(cred.account.uuid, acct);
        assert!(cred.subuser.is_none());
        assert_eq!(cred.status, KeyStatus::Active);
    }
    // Every answer came from memory: no key was looked up in LDAP.
    assert_eq!(slapd.search_count(MISS_SEARCH), 0);
    // One paged search: 1,001 entries in pages of 500 are 3 page requests.
    assert_eq!(slapd.search_count(LOAD_SEARCH), 3);
    cache.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_key_works_on_first_request_via_miss_path() {
    let f = fixture().await;
    let mut cfg = config(&f.slapd);
    // The poller would never pick it up in time: only the miss path can.
    cfg.poll_interval = Duration::from_secs(3600);
    let cache = start(cfg).await;
    ready(&cache).await;
    let (id, secret) = new_key();
    f.slapd
        .add_key(&KeySpec {
            owner_dn: &f.acct_dn,
            id: id.as_str(),
            secret: secret.expose_str(),
            status: "Active",
        })
        .await;
    let cred = cache
        .lookup(&id)
        .await
        .unwrap()
        .expect("first request works");
    assert!(cred.secret.ct_eq(&secret));
    assert_eq!(cred.account.login, "alice");
    assert_eq!(f.slapd.search_count(MISS_SEARCH), 1);
    // Now cached: no second query.
    assert!(cache.lookup(&id).await.unwrap().is_some());
    assert_eq!(f.slapd.search_count(MISS_SEARCH), 1);
    let s = cache.stats();
    assert_eq!(s.misses, 1);
    assert!(s.hits >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_key_picked_up_by_the_poller() {
    let f = fixture().await;
    let cache = start(config(&f.slapd)).await;
    ready(&cache).await;
    let before = cache.stats().keys_cached;
    let (id, secret) = new_key();
    let t0 = Instant::now();
    let n = f
        .slapd
        .add_key(&KeySpec {
            owner_dn: &f.acct_dn,
            id: id.as_str(),
            secret: secret.expose_str(),
            status: "Active",
        })
        .await;
    let c = cache.clone();
    wait_until("poller applied the add", move || {
        let c = c.clone();
        async move { c.stats().keys_cached == before + 1 && c.stats().last_changenumber >= Some(n) }
    })
    .await;
    eprintln!(
        "MEASURED LDAP add -> cached by the poller (poll 200 ms): {:?}",
        t0.elapsed()
    );
    assert!(cache.lookup(&id).await.unwrap().is_some());
    assert_eq!(f.slapd.search_count(MISS_SEARCH), 0, "no miss query needed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_inactive_then_active_and_delete() {
    let f = fixture().await;
    let cache = start(config(&f.slapd)).await;
    ready(&cache).await;
    assert!(cache.lookup(&f.id).await.unwrap().is_some());
    let dn = key_dn(&f.acct_dn, f.id.as_str());

    f.slapd.set_key_status(&dn, "Inactive").await;
    let d = until_usable(&cache, &f.id, false).await;
    eprintln!("MEASURED status Inactive -> refused (poll 200 ms): {d:?}");
    f.slapd.set_key_status(&dn, "Active").await;
    let d = until_usable(&cache, &f.id, true).await;
    eprintln!("MEASURED status Active -> accepted (poll 200 ms): {d:?}");
    f.slapd.delete_key(&dn).await;
    let d = until_usable(&cache, &f.id, false).await;
    eprintln!("MEASURED delete -> refused (poll 200 ms): {d:?}");
    assert_eq!(cache.stats().keys_cached, 0);
    // The refusals came from the cache (a deleted key is remembered as
    // unknown), not from miss queries.
    assert_eq!(f.slapd.search_count(MISS_SEARCH), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_change_that_is_not_the_first_modification() {
    let f = fixture().await;
    let cache = start(config(&f.slapd)).await;
    ready(&cache).await;
    assert!(cache.lookup(&f.id).await.unwrap().is_some());
    let dn = key_dn(&f.acct_dn, f.id.as_str());
    f.slapd
        .modify_key(
            &dn,
            &[
                ("description", "rotated"),
                ("updated", "1795303536882"),
                ("status", "Inactive"),
            ],
        )
        .await;
    until_usable(&cache, &f.id, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_disabled_and_renamed() {
    let f = fixture().await;
    let cache = start(config(&f.slapd)).await;
    ready(&cache).await;
    f.slapd.disable_account(&f.acct_dn, true).await;
    until_usable(&cache, &f.id, false).await;
    f.slapd.disable_account(&f.acct_dn, false).await;
    until_usable(&cache, &f.id, true).await;
    f.slapd.rename_account(&f.acct_dn, "alice2").await;
    let (c, id) = (cache.clone(), f.id.clone());
    wait_until("rename seen", move || {
        let (c, id) = (c.clone(), id.clone());
        async move { matches!(c.lookup(&id).await, Ok(Some(cr)) if cr.account.login == "alice2") }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subuser_keys() {
    let f = fixture().await;
    let sub = uuid();
    // Loaded at start: one sub-user key.
    f.slapd.add_subuser(&f.acct, &sub, "bob").await;
    let sub_dn = subuser_dn(&f.acct, &sub);
    let (id1, s1) = new_key();
    f.slapd
        .add_key(&KeySpec {
            owner_dn: &sub_dn,
            id: id1.as_str(),
            secret: s1.expose_str(),
            status: "Active",
        })
        .await;
    let cache = start(config(&f.slapd)).await;
    ready(&cache).await;
    let cred = cache.lookup(&id1).await.unwrap().expect("sub-user key");
    assert_eq!(cred.account.login, "alice");
    assert_eq!(cred.account.uuid, f.acct);
    let su = cred.subuser.as_ref().expect("sub-user");
    // Stored as "<account-uuid>/bob": the bare login comes out.
    assert_eq!(su.login, "bob");
    assert_eq!(su.uuid, sub);

    // A new sub-user and key, followed by the poller.
    let sub2 = uuid();
    f.slapd.add_subuser(&f.acct, &sub2, "carol").await;
    let sub2_dn = subuser_dn(&f.acct, &sub2);
    let (id2, s2) = new_key();
    f.slapd
        .add_key(&KeySpec {
            owner_dn: &sub2_dn,
            id: id2.as_str(),
            secret: s2.expose_str(),
            status: "Active",
        })
        .await;
    let (c, id) = (cache.clone(), id2.clone());
    wait_until("second sub-user key", move || {
        let (c, id) = (c.clone(), id.clone());
        async move {
            matches!(c.lookup(&id).await, Ok(Some(cr)) if cr.subuser.as_ref().map(|s| s.login.as_str()) == Some("carol"))
        }
    })
    .await;
    // Disabling the sub-user stops its keys, not the account's.
    f.slapd.disable_account(&sub_dn, true).await;
    until_usable(&cache, &id1, false).await;
    assert!(cache.lookup(&f.id).await.unwrap().is_some());
    assert!(cache.lookup(&id2).await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slapd_killed_then_restarted_resumes_without_losing_changes() {
    let mut f = fixture().await;
    let cache = start(config(&f.slapd)).await;
    ready(&cache).await;
    let dn = key_dn(&f.acct_dn, f.id.as_str());

    f.slapd.kill();
    // Cached keys keep working (grace period: 15 min by default).
    let cred = cache
        .lookup(&f.id)
        .await
        .unwrap()
        .expect("cached key while down");
    assert_eq!(cred.secret.expose_str(), f.secret);
    // Unknown keys fail fast with a distinguishable error. The first one
    // may find the old connection and see it fail; either way: Unavailable.
    let (unknown, _) = new_key();
    let t0 = Instant::now();
    let r = tokio::time::timeout(Duration::from_secs(30), cache.lookup(&unknown))
        .await
        .expect("no hang");
    assert!(matches!(r, Err(LookupError::Unavailable(_))), "{r:?}");
    let r = tokio::time::timeout(Duration::from_secs(30), cache.lookup(&unknown))
        .await
        .expect("no hang");
    assert!(matches!(r, Err(LookupError::Unavailable(_))), "{r:?}");
    eprintln!(
        "MEASURED unknown-key answers while LDAP is down: {:?} for two",
        t0.elapsed()
    );
    let errors_while_down = cache.stats().ldap_errors;
    assert!(errors_while_down > 0);

    f.slapd.restart().await;
    // Changes made right after the restart, while the cache is still in
    // its reconnect backoff: it must resume from its changenumber.
    f.slapd.set_key_status(&dn, "Inactive").await;
    let (id2, s2) = new_key();
    let last = f
        .slapd
        .add_key(&KeySpec {
            owner_dn: &f.acct_dn,
            id: id2.as_str(),
            secret: s2.expose_str(),
            status: "Active",
        })
        .await;
    let c = cache.clone();
    wait_until("resumed to the newest change", move || {
        let c = c.clone();
        async move { c.stats().last_changenumber == Some(last) }
    })
    .await;
    assert!(
        cache.lookup(&f.id).await.unwrap().is_none(),
        "Inactive applied"
    );
    assert_eq!(cache.stats().keys_cached, 2, "add applied by the poller");
    assert!(cache.lookup(&id2).await.unwrap().is_some());
    // Resumed, not reloaded: still the one initial load.
    assert_eq!(f.slapd.search_count(LOAD_SEARCH), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_keys_stop_after_the_grace_period() {
    let mut f = fixture().await;
    let mut cfg = config(&f.slapd);
    cfg.grace = Duration::from_secs(1);
    let cache = start(cfg).await;
    ready(&cache).await;
    assert!(cache.lookup(&f.id).await.unwrap().is_some());
    f.slapd.kill();
    let (c, id) = (cache.clone(), f.id.clone());
    wait_until("grace expired", move || {
        let (c, id) = (c.clone(), id.clone());
        async move { matches!(c.lookup(&id).await, Err(LookupError::Unavailable(_))) }
    })
    .await;
    f.slapd.restart().await;
    until_usable(&cache, &f.id, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_that_accepts_and_never_answers() {
    let hole = BlackHole::start().await;
    let mut cfg = s3gw_auth_cache::LdapConfig::new(hole.url(), "cn=s3gw,o=smartdc", "pw");
    cfg.connect_timeout = Duration::from_millis(500);
    cfg.operation_timeout = Duration::from_millis(500);
    cfg.backoff_min = Duration::from_millis(100);
    cfg.backoff_max = Duration::from_millis(200);
    // start() returns at once even though the bind will never be answered.
    let cache = tokio::time::timeout(Duration::from_secs(10), start(cfg))
        .await
        .expect("start does not wait for the directory");
    let (id, _) = new_key();
    let r = tokio::time::timeout(Duration::from_secs(30), cache.lookup(&id))
        .await
        .expect("lookup does not hang");
    assert!(matches!(r, Err(LookupError::Unavailable(_))), "{r:?}");
    // The follower's binds time out and are retried.
    let c = cache.clone();
    wait_until("two timed-out attempts", move || {
        let c = c.clone();
        async move { c.stats().ldap_errors >= 2 }
    })
    .await;
    assert!(!cache.is_ready());
    cache.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directory_that_stops_answering_mid_session() {
    let f = fixture().await;
    let mut cfg = config(&f.slapd);
    cfg.operation_timeout = Duration::from_millis(500);
    let cache = start(cfg).await;
    ready(&cache).await;
    f.slapd.pause();
    let (id, _) = new_key();
    let r = tokio::time::timeout(Duration::from_secs(30), cache.lookup(&id))
        .await
        .expect("lookup does not hang on a frozen server");
    assert!(matches!(r, Err(LookupError::Unavailable(_))), "{r:?}");
    assert!(
        cache.lookup(&f.id).await.unwrap().is_some(),
        "cached key still works"
    );
    f.slapd.resume();
    // Back to normal: the unknown id is now a plain miss.
    let (c, id2) = (cache.clone(), id.clone());
    wait_until("directory answers again", move || {
        let (c, id) = (c.clone(), id2.clone());
        async move { matches!(c.lookup(&id).await, Ok(None)) }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flood_of_unknown_ids_costs_a_bounded_number_of_searches() {
    let f = fixture().await;
    let mut cfg = config(&f.slapd);
    cfg.miss_queries_per_second = 10.0;
    cfg.miss_burst = 10;
    cfg.negative_ttl = Duration::from_secs(600);
    let cache = start(cfg).await;
    ready(&cache).await;

    // 1,000 lookups of random unknown ids, 50 at a time.
    let t0 = Instant::now();
    for _ in 0..20 {
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..50 {
            let c = cache.clone();
            set.spawn(async move { c.lookup(&new_key().0).await });
        }
        while let Some(r) = set.join_next().await {
            assert!(matches!(r.unwrap(), Ok(None)));
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    let searches = f.slapd.search_count(MISS_SEARCH);
    // Token bucket: at most the burst plus the rate over the elapsed time.
    let bound = 10 + (10.0 * secs).ceil() as usize + 1;
    eprintln!(
        "MEASURED 1000 random unknown ids: {searches} LDAP searches in {secs:.2}s (bound {bound})"
    );
    assert!(searches <= bound, "{searches} searches > {bound}");
    assert!(searches >= 1);
    assert!(cache.stats().misses_rate_limited > 0);

    // 1,000 concurrent lookups of the same 5 unknown ids: single flight and
    // the negative cache make that 5 searches.
    tokio::time::sleep(Duration::from_secs(2)).await; // refill the bucket (rate, not sync)
    let before = f.slapd.search_count(MISS_SEARCH);
    let ids: Arc<Vec<AccessKeyId>> = Arc::new((0..5).map(|_| new_key().0).collect());
    let mut set = tokio::task::JoinSet::new();
    for i in 0..1000 {
        let (c, ids) = (cache.clone(), ids.clone());
        set.spawn(async move { c.lookup(&ids[i % 5]).await });
    }
    while let Some(r) = set.join_next().await {
        assert!(matches!(r.unwrap(), Ok(None)));
    }
    let searches = f.slapd.search_count(MISS_SEARCH) - before;
    eprintln!("MEASURED 1000 lookups of 5 unknown ids: {searches} LDAP searches");
    assert!(searches <= 5, "{searches}");
    // And again, one by one: answered by the negative cache.
    for id in ids.iter() {
        assert!(cache.lookup(id).await.unwrap().is_none());
    }
    assert_eq!(f.slapd.search_count(MISS_SEARCH) - before, searches);
    assert!(cache.stats().negative_hits >= 5);
    // A key created now is not hidden by the negative cache once the
    // poller brings it in.
    let dn = f.acct_dn.clone();
    let (id, s) = (&ids[0], new_key().1);
    f.slapd
        .add_key(&KeySpec {
            owner_dn: &dn,
            id: id.as_str(),
            secret: s.expose_str(),
            status: "Active",
        })
        .await;
    until_usable(&cache, id, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_changelog_records_are_skipped() {
    let f = fixture().await;
    let cache = start(config(&f.slapd)).await;
    ready(&cache).await;
    let (bad1, _) = new_key();
    let bad_dn = key_dn(&f.acct_dn, bad1.as_str());
    f.slapd.add_raw_change(&bad_dn, "add", "{not json").await;
    f.slapd
        .add_raw_change(&bad_dn, "add", r#"{"accesskeyid":["x"]}"#)
        .await;
    f.slapd
        .add_raw_change(&bad_dn, "modify", r#"[{"operation":"replace"}]"#)
        .await;
    f.slapd.add_raw_change(&bad_dn, "modrdn", "{}").await;
    f.slapd
        .add_unrelated_change("vm=abc, ou=users, o=smartdc")
        .await;
    let (id, s) = new_key();
    let last = f
        .slapd
        .add_key(&KeySpec {
            owner_dn: &f.acct_dn,
            id: id.as_str(),
            secret: s.expose_str(),
            status: "Active",
        })
        .await;
    let c = cache.clone();
    wait_until("past the malformed records", move || {
        let c = c.clone();
        async move { c.stats().last_changenumber == Some(last) }
    })
    .await;
    assert!(cache.lookup(&id).await.unwrap().is_some());
    assert!(cache.lookup(&f.id).await.unwrap().is_some());
    assert_eq!(cache.stats().keys_cached, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_administration_in_ufds_format() {
    let f = fixture().await;
    let sub = uuid();
    f.slapd.add_subuser(&f.acct, &sub, "bob").await;
    let mut admin_cfg = config(&f.slapd);
    admin_cfg.bind_dn = ROOT_DN.into();
    admin_cfg.bind_password = s3gw_auth_cache::SecretKey::new(ROOT_PW.into());
    let admin = LdapKeyAdmin::new(admin_cfg);
    let cache = start(config(&f.slapd)).await;
    ready(&cache).await;

    let owner = KeyOwner::account("alice");
    let new = admin.create(&owner, Some("ci key")).await.unwrap();
    assert_eq!(new.access_key_id.as_str().len(), 32);
    assert!(s3gw_auth_cache::secret_format_ok(new.secret.expose_str()));
    // Usable at once (miss path).
    let cred = cache
        .lookup(&new.access_key_id)
        .await
        .unwrap()
        .expect("new key");
    assert!(cred.secret.ct_eq(&new.secret));

    let list = admin.list(&owner).await.unwrap();
    assert_eq!(list.len(), 2);
    let mine = list
        .iter()
        .find(|k| k.access_key_id == new.access_key_id)
        .unwrap();
    assert_eq!(mine.status, KeyStatus::Active);
    assert_eq!(mine.description.as_deref(), Some("ci key"));
    assert_eq!(mine.credential_type, "permanent");
    assert!(mine.created.is_some());

    admin
        .set_status(&owner, &new.access_key_id, KeyStatus::Inactive)
        .await
        .unwrap();
    admin
        .set_description(&owner, &new.access_key_id, "off")
        .await
        .unwrap();
    let list = admin.list(&owner).await.unwrap();
    let mine = list
        .iter()
        .find(|k| k.access_key_id == new.access_key_id)
        .unwrap();
    assert_eq!(mine.status, KeyStatus::Inactive);
    assert_eq!(mine.description.as_deref(), Some("off"));
    assert!(admin
        .set_status(&owner, &new.access_key_id, KeyStatus::Expired)
        .await
        .is_err());
    assert!(admin
        .set_description(&owner, &new.access_key_id, &"x".repeat(151))
        .await
        .is_err());

    admin.delete(&owner, &new.access_key_id).await.unwrap();
    assert!(matches!(
        admin.delete(&owner, &new.access_key_id).await,
        Err(s3gw_auth_cache::AdminError::NoSuchKey)
    ));
    assert_eq!(admin.list(&owner).await.unwrap().len(), 1);
    assert!(matches!(
        admin.list(&KeyOwner::account("nobody")).await,
        Err(s3gw_auth_cache::AdminError::NoSuchUser)
    ));

    // Sub-user keys, and the 100-key limit.
    let bob = KeyOwner::subuser("alice", "bob");
    for _ in 0..100 {
        admin.create(&bob, None).await.unwrap();
    }
    assert!(matches!(
        admin.create(&bob, None).await,
        Err(s3gw_auth_cache::AdminError::TooManyKeys)
    ));
    let listed = admin.list(&bob).await.unwrap();
    assert_eq!(listed.len(), 100);
    assert!(listed
        .iter()
        .all(|k| k.subuser_login.as_deref() == Some("bob")));
    let cred = cache
        .lookup(&listed[0].access_key_id)
        .await
        .unwrap()
        .expect("sub-user key");
    assert_eq!(cred.subuser.as_ref().unwrap().login, "bob");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ldaps_and_starttls() {
    let slapd = Slapd::start_tls().await;
    let acct = uuid();
    slapd.add_account(&acct, "tls").await;
    let owner = account_dn(&acct);
    let (id, secret) = new_key();
    slapd
        .add_key(&KeySpec {
            owner_dn: &owner,
            id: id.as_str(),
            secret: secret.expose_str(),
            status: "Active",
        })
        .await;

    // ldaps://, verified against the server's CA.
    let mut cfg = config(&slapd);
    cfg.url = slapd.ldaps_url();
    cfg.ca_file = Some(slapd.ca_file());
    let cache = start(cfg).await;
    ready(&cache).await;
    assert!(cache
        .lookup(&id)
        .await
        .unwrap()
        .unwrap()
        .secret
        .ct_eq(&secret));
    cache.shutdown().await;

    // StartTLS on ldap://.
    let mut cfg = config(&slapd);
    cfg.starttls = true;
    cfg.ca_file = Some(slapd.ca_file());
    let cache = start(cfg).await;
    ready(&cache).await;
    assert!(cache.lookup(&id).await.unwrap().is_some());
    cache.shutdown().await;

    // A server whose certificate is not trusted is never used.
    let other = tempfile::tempdir().unwrap();
    let ca = other.path().join("other.pem");
    std::fs::write(&ca, s3gw_tests::slapd::unrelated_ca_pem()).unwrap();
    let mut cfg = config(&slapd);
    cfg.url = slapd.ldaps_url();
    cfg.ca_file = Some(ca);
    let cache = start(cfg).await;
    let c = cache.clone();
    wait_until("TLS failures counted", move || {
        let c = c.clone();
        async move { c.stats().ldap_errors >= 2 }
    })
    .await;
    assert!(!cache.is_ready());
    assert!(matches!(
        cache.lookup(&id).await,
        Err(LookupError::Unavailable(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directory_down_at_start_then_up() {
    let mut f = fixture().await;
    f.slapd.kill();
    let cache = start(config(&f.slapd)).await;
    let c = cache.clone();
    wait_until("connect retried", move || {
        let c = c.clone();
        async move { c.stats().ldap_errors >= 2 }
    })
    .await;
    assert!(!cache.is_ready());
    assert!(matches!(
        cache.lookup(&f.id).await,
        Err(LookupError::Unavailable(_))
    ));
    f.slapd.restart().await;
    ready(&cache).await;
    assert!(cache.lookup(&f.id).await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_latestchangenumber_the_changelog_gives_the_start() {
    let f = fixture().await;
    f.slapd.remove_latest_changenumber().await;
    let latest = f.slapd.latest_changenumber().await;
    let cache = start(config(&f.slapd)).await;
    ready(&cache).await;
    assert_eq!(cache.stats().last_changenumber, Some(latest));
    let (id, s) = new_key();
    let n = f
        .slapd
        .add_key(&KeySpec {
            owner_dn: &f.acct_dn,
            id: id.as_str(),
            secret: s.expose_str(),
            status: "Active",
        })
        .await;
    let c = cache.clone();
    wait_until("followed from the changelog's newest number", move || {
        let c = c.clone();
        async move { c.stats().last_changenumber == Some(n) && c.stats().keys_cached == 2 }
    })
    .await;
}
