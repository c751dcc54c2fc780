//! LDAP mode (issue 6 item 3, "a second mode"): s3gw fronting a separately
//! started buckets-lite process (standing in for the real store), with its
//! access keys from a real slapd holding UFDS-shaped entries and UFDS-style
//! changelog records. Driven with the aws cli:
//! - a key created in the directory works at once (the cache's miss path);
//! - set Inactive, it is refused within one poll interval;
//! - deleted, it is refused.

use std::process::Command;
use std::time::{Duration, Instant};

use s3gw_tests::buckets_lite::{BucketsLite, OPERATOR};
use s3gw_tests::slapd::{account_dn, key_dn, KeySpec, Slapd, GATEWAY_DN, GATEWAY_PW};

use crate::awscli::Aws;
use crate::support::{
    assert_same_file, client_program, random_access_key, random_secret, run_ok, run_raw,
    unique_bucket, write_pseudo_random, Gateway,
};

/// The cache's changelog poll interval in this test. Short, so the test is
/// quick; the default stays 10 s.
const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// How long a revocation may take to be seen through the aws cli: one poll
/// interval plus the cost of running the CLI on a loaded 2-core machine
/// (each `aws` run starts a Python interpreter, ~1-3 s). Generous on
/// purpose: the test asserts the key IS refused, and reports how fast.
const REVOKE_DEADLINE: Duration = Duration::from_secs(60);

/// s3gw with `[backend]` = the buckets-lite process (signing as its
/// operator) and `[keys]` = slapd.
fn start_gateway(lite: &BucketsLite, slapd: &Slapd) -> Gateway {
    let data = tempfile::tempdir().expect("gateway dir");
    let key_file = data.path().join("operator.key");
    std::fs::write(&key_file, lite.operator_key_pem()).expect("write operator key");
    let config = data.path().join("s3gw.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\n\
             listen = \"127.0.0.1:0\"\n\
             \n\
             [backend]\n\
             url = \"{url}\"\n\
             operator_login = \"{OPERATOR}\"\n\
             operator_key_file = \"{key}\"\n\
             \n\
             [keys]\n\
             source = \"ldap\"\n\
             url = \"{ldap}\"\n\
             bind_dn = \"{GATEWAY_DN}\"\n\
             bind_password = \"{GATEWAY_PW}\"\n\
             poll_interval = {poll}\n\
             negative_ttl = 0.2\n\
             \n\
             [embedded]\n\
             data_dir = \"{dir}\"\n",
            url = lite.url,
            key = key_file.display(),
            ldap = slapd.url(),
            poll = POLL_INTERVAL.as_secs_f64(),
            dir = data.path().join("unused").display(),
        ),
    )
    .expect("write s3gw config");
    let mut c = Command::new(s3gw_tests::procs::workspace_bin("s3gw"));
    c.arg("serve").arg("--config").arg(&config);
    // The keys live in LDAP; the gateway has none of its own.
    Gateway::spawn(c, data, String::new(), String::new())
}

/// Poll `aws s3 ls` with `key` until it is refused with
/// InvalidAccessKeyId; returns how long that took.
fn wait_refused(gw: &Gateway, key: &str, secret: &str, what: &str) -> Duration {
    let aws = Aws::with_keys(&gw.url, key, secret, "path");
    let start = Instant::now();
    loop {
        let ran = run_raw(&mut aws.cmd(["s3", "ls"]), Duration::from_secs(60));
        if !ran.status.success() {
            assert!(
                ran.stderr.contains("InvalidAccessKeyId"),
                "{what}: key refused, but not with InvalidAccessKeyId:\n{}",
                ran.stderr
            );
            return start.elapsed();
        }
        assert!(
            start.elapsed() < REVOKE_DEADLINE,
            "{what}: key still accepted after {REVOKE_DEADLINE:?} (poll interval {POLL_INTERVAL:?})"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ldap_keys_created_inactive_deleted_through_awscli() {
    client_program("aws"); // fail fast, before starting anything
    let slapd = Slapd::start().await;
    let lite = tokio::task::spawn_blocking(BucketsLite::start)
        .await
        .expect("start buckets-lite");
    let account_uuid = uuid::Uuid::new_v4().to_string();
    slapd.add_account(&account_uuid, "ldaptenant").await;
    let owner = account_dn(&account_uuid);
    let gw = tokio::task::block_in_place(|| start_gateway(&lite, &slapd));

    // A key created after the gateway started works at once.
    let (id1, secret1) = (random_access_key(), random_secret());
    slapd
        .add_key(&KeySpec {
            owner_dn: &owner,
            id: &id1,
            secret: &secret1,
            status: "Active",
        })
        .await;
    let bucket = unique_bucket("ldap");
    let (inactive_after, deleted_after) = tokio::task::block_in_place(|| {
        let aws = Aws::with_keys(&gw.url, &id1, &secret1, "path");
        run_ok(&mut aws.cmd(["s3", "mb", &format!("s3://{bucket}")]));
        let work = tempfile::tempdir().expect("work dir");
        let body = work.path().join("body.bin");
        write_pseudo_random(&body, 200_000, 11);
        run_ok(&mut aws.cmd([
            "s3",
            "cp",
            body.to_str().expect("utf-8"),
            &format!("s3://{bucket}/k ü+.bin"),
        ]));
        let got = work.path().join("got.bin");
        run_ok(&mut aws.cmd([
            "s3",
            "cp",
            &format!("s3://{bucket}/k ü+.bin"),
            got.to_str().expect("utf-8"),
        ]));
        assert_same_file(&body, &got);
        let ls = run_ok(&mut aws.cmd(["s3", "ls"])).stdout;
        assert!(
            ls.contains(&bucket),
            "new LDAP key's account lists its bucket:\n{ls}"
        );

        // Set Inactive: refused within one poll interval (plus CLI cost).
        let rt = tokio::runtime::Handle::current();
        rt.block_on(slapd.set_key_status(&key_dn(&owner, &id1), "Inactive"));
        let inactive_after = wait_refused(&gw, &id1, &secret1, "Inactive key");

        // A second key: works, then deleted, refused.
        let (id2, secret2) = (random_access_key(), random_secret());
        rt.block_on(slapd.add_key(&KeySpec {
            owner_dn: &owner,
            id: &id2,
            secret: &secret2,
            status: "Active",
        }));
        let aws2 = Aws::with_keys(&gw.url, &id2, &secret2, "path");
        let ls = run_ok(&mut aws2.cmd(["s3", "ls", &format!("s3://{bucket}")])).stdout;
        assert!(
            ls.contains("k ü+.bin"),
            "second key sees the same account's objects:\n{ls}"
        );
        rt.block_on(slapd.delete_key(&key_dn(&owner, &id2)));
        let deleted_after = wait_refused(&gw, &id2, &secret2, "deleted key");
        (inactive_after, deleted_after)
    });
    eprintln!(
        "LDAP mode: Inactive key refused after {inactive_after:?}, deleted key after \
         {deleted_after:?} (poll interval {POLL_INTERVAL:?}, aws cli runs included)"
    );
}
