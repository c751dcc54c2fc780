//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::future::Future;
use std::time::{Duration, Instant};

use s3gw_auth_cache::{
    generate_access_key_id, generate_secret, AccessKeyId, LdapConfig, SecretKey,
};
use s3gw_tests::slapd::{Slapd, GATEWAY_DN, GATEWAY_PW};

/// Generous: the machine is a loaded 2-core box.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// Polls `cond` until it is true; panics with `what` at the deadline.
/// Returns how long it took.
pub async fn wait_until<F, Fut>(what: &str, mut cond: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let t0 = Instant::now();
    loop {
        if cond().await {
            return t0.elapsed();
        }
        assert!(t0.elapsed() < DEADLINE, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The gateway's config for a test slapd: fast polls, short timeouts.
pub fn config(slapd: &Slapd) -> LdapConfig {
    let mut c = LdapConfig::new(slapd.url(), GATEWAY_DN, GATEWAY_PW);
    c.poll_interval = Duration::from_millis(200);
    c.connect_timeout = Duration::from_secs(5);
    c.operation_timeout = Duration::from_secs(5);
    c.backoff_min = Duration::from_millis(100);
    c.backoff_max = Duration::from_millis(500);
    c
}

/// A fresh UFDS-format key.
pub fn new_key() -> (AccessKeyId, SecretKey) {
    (generate_access_key_id(), generate_secret())
}

/// A random uuid-looking string (tests only need uniqueness).
pub fn uuid() -> String {
    let h = generate_access_key_id();
    let s = h.as_str();
    format!(
        "{}-{}-{}-{}-{}",
        &s[0..8],
        &s[8..12],
        &s[12..16],
        &s[16..20],
        &s[20..32]
    )
}

/// Sends the cache's logs to the test output (filter with RUST_LOG).
pub fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}
