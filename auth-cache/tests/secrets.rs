//! The secret never appears in Debug output or in the logs, even at TRACE,
//! even though the changelog's `changes` carry it.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::{config, new_key, uuid, wait_until};
use s3gw_auth_cache::{KeyCache, KeySourceConfig};
use s3gw_tests::slapd::{account_dn, key_dn, KeySpec, Slapd, GATEWAY_PW};

#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);

impl Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

// current_thread: the subscriber set for this thread also sees the cache's
// background tasks.
#[tokio::test(flavor = "current_thread")]
async fn secret_never_in_debug_or_logs() {
    let buf = Buf::default();
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let slapd = Slapd::start().await;
    let acct = uuid();
    slapd.add_account(&acct, "alice").await;
    let owner = account_dn(&acct);
    let (id1, s1) = new_key();
    slapd
        .add_key(&KeySpec {
            owner_dn: &owner,
            id: id1.as_str(),
            secret: s1.expose_str(),
            status: "Active",
        })
        .await;
    let cache = KeyCache::start(KeySourceConfig::Ldap(config(&slapd)))
        .await
        .unwrap();
    let c = cache.clone();
    wait_until("ready", move || {
        let c = c.clone();
        async move { c.is_ready() }
    })
    .await;
    // Followed through the changelog (whose JSON holds the secret), a
    // malformed record beside it, a miss-path load, a status change.
    let (id2, s2) = new_key();
    let n = slapd
        .add_key(&KeySpec {
            owner_dn: &owner,
            id: id2.as_str(),
            secret: s2.expose_str(),
            status: "Active",
        })
        .await;
    slapd
        .add_raw_change(
            &key_dn(&owner, id2.as_str()),
            "add",
            &format!("{{\"accesskeysecret\":\"{}\"", s2.expose_str()),
        )
        .await;
    let c = cache.clone();
    wait_until("followed", move || {
        let c = c.clone();
        async move { c.stats().last_changenumber > Some(n) }
    })
    .await;
    let (id3, s3) = new_key();
    slapd
        .add_key(&KeySpec {
            owner_dn: &owner,
            id: id3.as_str(),
            secret: s3.expose_str(),
            status: "Active",
        })
        .await;
    let cred3 = cache.lookup(&id3).await.unwrap().expect("miss path");
    slapd
        .set_key_status(&key_dn(&owner, id1.as_str()), "Inactive")
        .await;
    let cred2 = cache.lookup(&id2).await.unwrap().expect("followed key");

    let debug = format!(
        "{cred2:?} {cred3:?} {cache:?} {:?} {:?}",
        config(&slapd),
        s1
    );
    let logs = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("skipping malformed"),
        "the logs were captured: {logs}"
    );
    for secret in [&s1, &s2, &s3] {
        let s = secret.expose_str();
        assert!(!debug.contains(s), "secret in Debug output");
        assert!(!logs.contains(s), "secret in the logs");
        // Not even a recognisable piece of it.
        assert!(!logs.contains(&s[4..20]));
    }
    assert!(!debug.contains(GATEWAY_PW), "bind password in Debug output");
    assert!(!logs.contains(GATEWAY_PW), "bind password in the logs");
    cache.shutdown().await;
}
