//! Operations (issue 7), end to end with real processes:
//! - the `s3gw keys` CLI against a keys file and against a real slapd:
//!   create -> the key works through the gateway (aws-sdk-s3), list never
//!   shows a secret, describe/show, the 100-keys limit, disable -> refused
//!   within one poll interval, enable -> accepted again, delete -> refused;
//! - `/metrics` scraped after S3 traffic: request counters by operation and
//!   status class, bytes in/out, native calls and key-cache counters moved;
//!   one access-log line per request, without secrets;
//! - `/health/ready` goes false when the native store (a separate
//!   buckets-lite process) stops and true when it comes back;
//! - two s3gw processes over one store serve the same data, including a
//!   multipart upload begun on one and completed on the other.
//!
//! Every wait polls a condition with a deadline; no sleeps.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use aws_sdk_s3::Client;
use s3gw_tests::buckets_lite::{BucketsLite, LISTENING_PREFIX as LITE_PREFIX, OPERATOR};
use s3gw_tests::gateway::{GatewayKey, LISTENING_PREFIX, START_DEADLINE};
use s3gw_tests::procs::{spawn_and_wait_for_line, workspace_bin, ChildProcess};
use s3gw_tests::slapd::{account_dn, key_dn, Slapd, GATEWAY_DN, GATEWAY_PW, ROOT_DN, ROOT_PW};

mod common;
use common::{data, s3_config};

/// Keys-file reload interval and LDAP poll interval in these tests (the
/// defaults are 2 s and 10 s): "refused within one poll interval".
const POLL: Duration = Duration::from_millis(500);
/// Deadline for a change to be seen: one poll interval plus generous room
/// for a loaded 2-core machine. The measured time is printed.
const SEEN_DEADLINE: Duration = Duration::from_secs(30);
/// Deadline for readiness to flip (the store's connect attempts included).
const READY_DEADLINE: Duration = Duration::from_secs(60);

// ------------------------------------------------------------ processes

/// A running `s3gw` started by these tests.
struct Gw {
    url: String,
    dir: PathBuf,
    config: PathBuf,
    _child: ChildProcess,
    _tmp: tempfile::TempDir,
}

impl Gw {
    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("s3gw.log")).unwrap_or_default()
    }

    /// The ops listener's URL, from the gateway's log line
    /// `ops server listening on http://ADDR`.
    fn ops_url(&self) -> String {
        const NEEDLE: &str = "ops server listening on http://";
        let mut found = None;
        let ok = wait_until(START_DEADLINE, || {
            let log = self.log();
            found = log.find(NEEDLE).map(|i| {
                let rest = &log[i + NEEDLE.len()..];
                let end = rest
                    .find(|c: char| c.is_whitespace() || c == '"')
                    .unwrap_or(rest.len());
                format!("http://{}", &rest[..end])
            });
            found.is_some()
        });
        assert!(ok, "no ops listening line in the log:\n{}", self.log());
        found.unwrap()
    }
}

fn q(s: &str) -> String {
    serde_json::to_string(s).expect("strings serialise")
}

/// The harness's keys-file format: one `[[keys]]` per key.
fn keys_file(keys: &[GatewayKey]) -> String {
    let mut out = String::new();
    for k in keys {
        out.push_str(&format!(
            "[[keys]]\naccess_key_id = {}\nsecret = {}\naccount_login = {}\naccount_uuid = {}\n\n",
            q(&k.access_key_id),
            q(&k.secret),
            q(&k.account),
            q("5f9c7e4e-0000-4000-8000-00000000a11c"),
        ));
    }
    out
}

/// `[keys]` for a keys file at `path`, re-read every [`POLL`].
fn file_keys_section(path: &Path) -> String {
    format!(
        "[keys]\nsource = \"file\"\npath = {}\nreload_interval = {}\n",
        q(&path.to_string_lossy()),
        POLL.as_secs_f64()
    )
}

/// s3gw in front of `lite` (signing as its operator), with the given
/// `[keys]` section and an ops listener on a free loopback port.
fn start_gateway(lite_url: &str, operator_pem: &str, keys_section: &str) -> Gw {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().to_path_buf();
    std::fs::write(dir.join("operator.key"), operator_pem).expect("operator key");
    let toml = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\nshutdown_timeout_secs = 5\n\n\
         [ops]\nlisten = \"127.0.0.1:0\"\nready_timeout_ms = 1000\n\n\
         {keys_section}\n\
         [backend]\nurl = {}\noperator_login = {}\noperator_key_file = {}\n\
         connect_timeout_secs = 1\nrequest_timeout_secs = 5\n",
        q(lite_url),
        q(OPERATOR),
        q(&dir.join("operator.key").to_string_lossy()),
    );
    let config = dir.join("s3gw.toml");
    std::fs::write(&config, toml).expect("s3gw.toml");
    let log = std::fs::File::create(dir.join("s3gw.log")).expect("log file");
    let mut cmd = Command::new(workspace_bin("s3gw"));
    cmd.arg("--config")
        .arg(&config)
        .env_remove("S3GW_CONFIG")
        .env("RUST_LOG", "s3gw=debug,info")
        .stdin(Stdio::null())
        .stderr(log);
    let (child, url) = spawn_and_wait_for_line(cmd, LISTENING_PREFIX, START_DEADLINE);
    Gw {
        url,
        dir,
        config,
        _child: child,
        _tmp: tmp,
    }
}

/// Runs `s3gw --config CONFIG keys ARGS...`.
fn keys_cmd(config: &Path, args: &[&str], envs: &[(&str, &Path)]) -> Output {
    let mut cmd = Command::new(workspace_bin("s3gw"));
    cmd.arg("--config")
        .arg(config)
        .arg("keys")
        .args(args)
        .env_remove("S3GW_CONFIG")
        .env_remove("S3GW_KEYS_BIND_PASSWORD_FILE")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().expect("running s3gw keys")
}

fn keys_ok(config: &Path, args: &[&str], envs: &[(&str, &Path)]) -> String {
    let o = keys_cmd(config, args, envs);
    assert!(
        o.status.success(),
        "s3gw keys {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).expect("utf-8 output")
}

fn wait_until(deadline: Duration, cond: impl FnMut() -> bool) -> bool {
    s3gw_tests::procs::wait_until(deadline, cond)
}

/// Async polling with a deadline; returns the time it took.
async fn poll_until<F, Fut>(what: &str, deadline: Duration, mut cond: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if cond().await {
            let took = start.elapsed();
            eprintln!("{what}: after {took:?}");
            return took;
        }
        assert!(
            start.elapsed() < deadline,
            "{what}: not within {deadline:?}"
        );
        // Pacing between polls only; the condition is what synchronises.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ------------------------------------------------------------ clients

fn sdk(url: &str, id: &str, secret: &str) -> Client {
    Client::from_conf(s3_config(url, id, secret).build())
}

/// Whether `ListBuckets` with this client is accepted (Ok) or refused for
/// its key (Err(code)).
async fn list_buckets_result(s3: &Client) -> Result<(), String> {
    match s3.list_buckets().send().await {
        Ok(_) => Ok(()),
        Err(e) => Err(e
            .as_service_error()
            .and_then(|s| aws_sdk_s3::error::ProvideErrorMetadata::code(s).map(str::to_owned))
            .unwrap_or_else(|| format!("{e:?}"))),
    }
}

fn http() -> reqwest::Client {
    s3gw_tests::buckets_lite::http_client()
}

async fn get_text(url: &str) -> (u16, String) {
    match http().get(url).send().await {
        Ok(r) => {
            let s = r.status().as_u16();
            (s, r.text().await.unwrap_or_default())
        }
        Err(e) => (0, e.to_string()),
    }
}

/// The value of one sample (`name{labels}` exactly as rendered), or 0.
fn sample(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| {
            l.strip_prefix(series)
                .and_then(|rest| rest.strip_prefix(' '))
                .and_then(|v| v.trim().parse::<f64>().ok())
        })
        .unwrap_or(0.0)
}

// ------------------------------------------------------------ keys CLI

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_cli_against_the_keys_file() {
    let lite = tokio::task::spawn_blocking(BucketsLite::start)
        .await
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let keys_path = tmp.path().join("keys.toml");
    let first = GatewayKey::generate("alice");
    std::fs::write(&keys_path, keys_file(std::slice::from_ref(&first))).unwrap();
    let gw = tokio::task::block_in_place(|| {
        start_gateway(
            &lite.url,
            &lite.operator_key_pem(),
            &file_keys_section(&keys_path),
        )
    });
    let cfg = gw.config.clone();

    // create: id and secret once, as JSON.
    let out = keys_ok(
        &cfg,
        &[
            "create",
            "--account",
            "alice",
            "--json",
            "--description",
            "ci",
        ],
        &[],
    );
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("create --json");
    let id = v["access_key_id"].as_str().unwrap().to_owned();
    let secret = v["secret_access_key"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 32, "UFDS-shaped id");
    assert!(secret.starts_with("tdc_"), "UFDS-shaped secret");
    assert_eq!(v["status"], "Active");

    // The new key works through the gateway.
    let s3 = sdk(&gw.url, &id, &secret);
    poll_until("new file key accepted", SEEN_DEADLINE, || async {
        list_buckets_result(&s3).await.is_ok()
    })
    .await;
    s3.create_bucket().bucket("cli-file").send().await.unwrap();
    s3.put_object()
        .bucket("cli-file")
        .key("k")
        .body(ByteStream::from_static(b"hello"))
        .send()
        .await
        .unwrap();

    // list (text and JSON) never shows a secret.
    let text = keys_ok(&cfg, &["list", "--account", "alice"], &[]);
    let json = keys_ok(&cfg, &["list", "--account", "alice", "--json"], &[]);
    for out in [&text, &json] {
        assert!(out.contains(&id), "{out}");
        assert!(
            !out.contains(&secret) && !out.contains(&first.secret),
            "secret listed: {out}"
        );
        assert!(!out.contains("tdc_"), "secret listed: {out}");
    }
    let listed: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 2);

    // describe + show.
    keys_ok(
        &cfg,
        &["describe", "--account", "alice", &id, "rotated in CI"],
        &[],
    );
    let shown = keys_ok(&cfg, &["show", "--account", "alice", &id, "--json"], &[]);
    let v: serde_json::Value = serde_json::from_str(shown.trim()).unwrap();
    assert_eq!(v["description"], "rotated in CI");
    assert!(!shown.contains(&secret));

    // disable -> refused within one reload interval.
    keys_ok(&cfg, &["disable", "--account", "alice", &id], &[]);
    let took = poll_until("disabled file key refused", SEEN_DEADLINE, || async {
        list_buckets_result(&s3).await.is_err()
    })
    .await;
    eprintln!("reload interval {POLL:?}; refusal seen after {took:?}");
    assert_eq!(
        list_buckets_result(&s3).await,
        Err("InvalidAccessKeyId".into())
    );
    // enable -> accepted again.
    keys_ok(&cfg, &["enable", "--account", "alice", &id], &[]);
    poll_until("enabled file key accepted", SEEN_DEADLINE, || async {
        list_buckets_result(&s3).await.is_ok()
    })
    .await;

    // The 100-keys-per-user limit: alice has 2; 98 more are allowed.
    for _ in 0..98 {
        keys_ok(&cfg, &["create", "--account", "alice"], &[]);
    }
    let o = keys_cmd(&cfg, &["create", "--account", "alice"], &[]);
    assert!(!o.status.success(), "a 101st key was created");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("100"), "{err}");
    let json = keys_ok(&cfg, &["list", "--account", "alice", "--json"], &[]);
    let listed: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 100);

    // delete -> refused.
    keys_ok(&cfg, &["delete", "--account", "alice", &id], &[]);
    poll_until("deleted file key refused", SEEN_DEADLINE, || async {
        list_buckets_result(&s3).await.is_err()
    })
    .await;
    let o = keys_cmd(&cfg, &["show", "--account", "alice", &id], &[]);
    assert!(!o.status.success());

    // The original key still works; no secret ever reached the log.
    let s3first = sdk(&gw.url, &first.access_key_id, &first.secret);
    assert!(list_buckets_result(&s3first).await.is_ok());
    let log = gw.log();
    assert!(!log.contains(&secret) && !log.contains(&first.secret));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_cli_against_slapd() {
    let slapd = Slapd::start().await;
    let lite = tokio::task::spawn_blocking(BucketsLite::start)
        .await
        .unwrap();
    // The tenant's login must be an account of the store (buckets-lite).
    let acct = uuid::Uuid::new_v4().to_string();
    slapd.add_account(&acct, "alice").await;
    let keys = format!(
        "[keys]\nsource = \"ldap\"\nurl = {}\nbind_dn = {}\nbind_password = {}\n\
         poll_interval = {}\nnegative_ttl = 0.2\n",
        q(&slapd.url()),
        q(GATEWAY_DN),
        q(GATEWAY_PW),
        POLL.as_secs_f64()
    );
    let gw =
        tokio::task::block_in_place(|| start_gateway(&lite.url, &lite.operator_key_pem(), &keys));
    let cfg = gw.config.clone();
    // The gateway's own identity may not write keys; the CLI binds as an
    // identity that may (here the rootdn), its password from a file.
    let pw = gw.dir.join("admin.pw");
    std::fs::write(&pw, format!("{ROOT_PW}\n")).unwrap();
    let admin = |args: &[&str]| {
        let mut a: Vec<&str> = args.to_vec();
        a.extend(["--bind-dn", ROOT_DN]);
        keys_ok(&cfg, &a, &[("S3GW_KEYS_BIND_PASSWORD_FILE", pw.as_path())])
    };

    // Without the admin identity the write is refused by the directory.
    let o = keys_cmd(&cfg, &["create", "--account", "alice"], &[]);
    assert!(
        !o.status.success(),
        "the read-only gateway identity wrote a key"
    );

    let out = admin(&["create", "--account", "alice", "--json"]);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let id = v["access_key_id"].as_str().unwrap().to_owned();
    let secret = v["secret_access_key"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("tdc_"));

    // Works at once through the gateway (the cache's miss path).
    let s3 = sdk(&gw.url, &id, &secret);
    poll_until("new LDAP key accepted", SEEN_DEADLINE, || async {
        list_buckets_result(&s3).await.is_ok()
    })
    .await;
    s3.create_bucket().bucket("cli-ldap").send().await.unwrap();

    let listed = admin(&["list", "--account", "alice", "--json"]);
    assert!(listed.contains(&id) && !listed.contains(&secret) && !listed.contains("tdc_"));

    // disable: the CLI writes status Inactive into the directory...
    admin(&["disable", "--account", "alice", &id]);
    let shown = admin(&["show", "--account", "alice", &id, "--json"]);
    let v: serde_json::Value = serde_json::from_str(shown.trim()).unwrap();
    assert_eq!(v["status"], "Inactive");
    // ... and UFDS records every write in cn=changelog, which slapd does
    // not: write the record UFDS would write for that modify.
    let dn = key_dn(&account_dn(&acct), &id);
    slapd
        .add_raw_change(
            &dn,
            "modify",
            r#"[{"operation":"replace","modification":{"type":"status","vals":["Inactive"]}}]"#,
        )
        .await;
    let took = poll_until("disabled LDAP key refused", SEEN_DEADLINE, || async {
        list_buckets_result(&s3).await.is_err()
    })
    .await;
    eprintln!("poll interval {POLL:?}; refusal seen after {took:?}");
    assert_eq!(
        list_buckets_result(&s3).await,
        Err("InvalidAccessKeyId".into())
    );

    admin(&["enable", "--account", "alice", &id]);
    slapd
        .add_raw_change(
            &dn,
            "modify",
            r#"[{"operation":"replace","modification":{"type":"status","vals":["Active"]}}]"#,
        )
        .await;
    poll_until("enabled LDAP key accepted", SEEN_DEADLINE, || async {
        list_buckets_result(&s3).await.is_ok()
    })
    .await;

    // A sub-user's key: created in UFDS's place for it, refused by the
    // gateway by default (native RBAC would be bypassed; security.md).
    let sub = uuid::Uuid::new_v4().to_string();
    slapd.add_subuser(&acct, &sub, "bob").await;
    let out = admin(&["create", "--account", "alice", "--user", "bob", "--json"]);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["user"], "bob");
    let sub_id = v["access_key_id"].as_str().unwrap().to_owned();
    let sub_s3 = sdk(&gw.url, &sub_id, v["secret_access_key"].as_str().unwrap());
    poll_until("sub-user key refused", SEEN_DEADLINE, || async {
        list_buckets_result(&sub_s3).await == Err("AccessDenied".into())
    })
    .await;
    let bobs = admin(&["list", "--account", "alice", "--user", "bob", "--json"]);
    let alices = admin(&["list", "--account", "alice", "--json"]);
    assert!(bobs.contains(&sub_id) && !alices.contains(&sub_id));

    admin(&["describe", "--account", "alice", &id, "from the CLI"]);
    let shown = admin(&["show", "--account", "alice", &id, "--json"]);
    let v: serde_json::Value = serde_json::from_str(shown.trim()).unwrap();
    assert_eq!(v["description"], "from the CLI");

    admin(&["delete", "--account", "alice", &id]);
    slapd.add_raw_change(&dn, "delete", "{}").await;
    poll_until("deleted LDAP key refused", SEEN_DEADLINE, || async {
        list_buckets_result(&s3).await.is_err()
    })
    .await;
    let listed = admin(&["list", "--account", "alice", "--json"]);
    assert!(!listed.contains(&id));
    assert!(!gw.log().contains(&secret), "a secret reached the log");
}

// ------------------------------------------------------------ metrics, logs, health

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_access_log_and_readiness() {
    let lite = tokio::task::spawn_blocking(BucketsLite::start)
        .await
        .unwrap();
    let lite_addr = lite.addr;
    let tmp = tempfile::tempdir().unwrap();
    let keys_path = tmp.path().join("keys.toml");
    let key = GatewayKey::generate("alice");
    std::fs::write(&keys_path, keys_file(std::slice::from_ref(&key))).unwrap();
    let gw = tokio::task::block_in_place(|| {
        start_gateway(
            &lite.url,
            &lite.operator_key_pem(),
            &file_keys_section(&keys_path),
        )
    });
    let ops = gw.ops_url();

    assert_eq!(get_text(&format!("{ops}/health/live")).await.0, 200);
    poll_until("ready at start", READY_DEADLINE, || async {
        get_text(&format!("{ops}/health/ready")).await.0 == 200
    })
    .await;
    let (_, before) = get_text(&format!("{ops}/metrics")).await;

    // Some S3 traffic.
    let s3 = sdk(&gw.url, &key.access_key_id, &key.secret);
    s3.create_bucket().bucket("metered").send().await.unwrap();
    let body = data(100_000, 3);
    for i in 0..3 {
        s3.put_object()
            .bucket("metered")
            .key(format!("obj-{i}"))
            .body(ByteStream::from(body.clone()))
            .send()
            .await
            .unwrap();
    }
    let got = s3
        .get_object()
        .bucket("metered")
        .key("obj-1")
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes().len(),
        body.len()
    );
    assert!(s3
        .head_object()
        .bucket("metered")
        .key("missing")
        .send()
        .await
        .is_err());
    s3.list_objects_v2().bucket("metered").send().await.unwrap();
    let up = s3
        .create_multipart_upload()
        .bucket("metered")
        .key("mpu")
        .send()
        .await
        .unwrap();

    // The access-log line of the GET is written once its body is sent, so
    // poll the scrape rather than reading it once.
    let get_series = "s3gw_requests_total{operation=\"GetObject\",status=\"2xx\"}";
    let start = Instant::now();
    let after = loop {
        let text = get_text(&format!("{ops}/metrics")).await.1;
        if sample(&text, get_series) - sample(&before, get_series) >= 1.0 {
            break text;
        }
        assert!(
            start.elapsed() < SEEN_DEADLINE,
            "GetObject never counted:\n{text}"
        );
        // Pacing between polls only.
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let moved = |series: &str| sample(&after, series) - sample(&before, series);
    assert!(
        moved("s3gw_requests_total{operation=\"PutObject\",status=\"2xx\"}") >= 3.0,
        "{after}"
    );
    assert!(
        moved("s3gw_requests_total{operation=\"HeadObject\",status=\"4xx\"}") >= 1.0,
        "{after}"
    );
    assert!(moved("s3gw_requests_total{operation=\"CreateBucket\",status=\"2xx\"}") >= 1.0);
    assert!(moved("s3gw_requests_total{operation=\"ListObjectsV2\",status=\"2xx\"}") >= 1.0);
    assert!(moved("s3gw_request_bytes_total{operation=\"PutObject\"}") >= 3.0 * body.len() as f64);
    assert!(moved("s3gw_response_bytes_total{operation=\"GetObject\"}") >= body.len() as f64);
    assert!(moved("s3gw_request_duration_seconds_count{operation=\"PutObject\"}") >= 3.0);
    assert!(moved("s3gw_native_calls_total{call=\"PutObject\",outcome=\"ok\"}") >= 3.0);
    assert!(moved("s3gw_native_calls_total{call=\"HeadObject\",outcome=\"refused\"}") >= 1.0);
    assert!(moved("s3gw_keycache_hits_total") >= 6.0, "{after}");
    assert_eq!(sample(&after, "s3gw_keycache_ready"), 1.0);
    assert_eq!(sample(&after, "s3gw_keycache_keys"), 1.0);
    assert!(sample(&after, "s3gw_multipart_uploads_in_progress") >= 1.0);
    assert!(after.contains("# TYPE s3gw_open_connections gauge"));
    // Every request ended: nothing stays counted in flight.
    poll_until("no request left in flight", SEEN_DEADLINE, || async {
        let text = get_text(&format!("{ops}/metrics")).await.1;
        sample(&text, "s3gw_requests_in_flight") == 0.0
    })
    .await;
    s3.abort_multipart_upload()
        .bucket("metered")
        .key("mpu")
        .upload_id(up.upload_id().unwrap())
        .send()
        .await
        .unwrap();

    // One access-log line per request, with the request id, the key id,
    // the operation, the bucket and key; never a secret.
    let log = gw.log();
    let access: Vec<&str> = log.lines().filter(|l| l.contains("s3gw::access")).collect();
    assert!(access.len() >= 8, "{log}");
    let get_line = access
        .iter()
        .find(|l| l.contains("operation=\"GetObject\"") || l.contains("operation=GetObject"))
        .unwrap_or_else(|| panic!("no GetObject access line:\n{log}"));
    for field in [
        "request_id=",
        "status=200",
        "bytes_out=100000",
        "native_calls=1",
        "obj-1",
        "metered",
    ] {
        assert!(get_line.contains(field), "{field} missing: {get_line}");
    }
    assert!(get_line.contains(&key.access_key_id));
    assert!(!log.contains(&key.secret), "the secret reached the log");

    // Readiness follows the native store.
    let stopped = tokio::task::block_in_place(|| lite.stop());
    poll_until(
        "not ready with the store stopped",
        READY_DEADLINE,
        || async {
            let (s, b) = get_text(&format!("{ops}/health/ready")).await;
            s == 503 && b.contains("\"store_reachable\":false")
        },
    )
    .await;
    assert_eq!(get_text(&format!("{ops}/health/live")).await.0, 200);
    // The store comes back at the same address (std binds with
    // SO_REUSEADDR, so the port is free again at once).
    let _lite2 = tokio::task::block_in_place(|| {
        let data = stopped.data_dir.clone();
        let mut cmd = Command::new(workspace_bin("buckets-lite"));
        cmd.arg("--config")
            .arg(data.join("buckets-lite.toml"))
            .arg("--listen")
            .arg(lite_addr.to_string())
            .arg("--data")
            .arg(&data)
            .stdin(Stdio::null())
            .stderr(Stdio::null());
        let (child, _) = spawn_and_wait_for_line(cmd, LITE_PREFIX, START_DEADLINE);
        (child, stopped)
    });
    poll_until("ready with the store back", READY_DEADLINE, || async {
        get_text(&format!("{ops}/health/ready")).await.0 == 200
    })
    .await;
    // And S3 works again through the same gateway.
    let again = s3
        .get_object()
        .bucket("metered")
        .key("obj-2")
        .send()
        .await
        .unwrap();
    assert_eq!(
        again.body.collect().await.unwrap().into_bytes().len(),
        body.len()
    );
}

// ------------------------------------------------------------ many instances

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_serve_the_same_store() {
    let lite = tokio::task::spawn_blocking(BucketsLite::start)
        .await
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let keys_path = tmp.path().join("keys.toml");
    let key = GatewayKey::generate("alice");
    std::fs::write(&keys_path, keys_file(std::slice::from_ref(&key))).unwrap();
    let (a, b) = tokio::task::block_in_place(|| {
        let s = file_keys_section(&keys_path);
        (
            start_gateway(&lite.url, &lite.operator_key_pem(), &s),
            // B logs JSON: its access lines are checked below.
            start_gateway(
                &lite.url,
                &lite.operator_key_pem(),
                &format!("{s}\n[log]\nformat = \"json\"\n"),
            ),
        )
    });
    let sa = sdk(&a.url, &key.access_key_id, &key.secret);
    let sb = sdk(&b.url, &key.access_key_id, &key.secret);

    sa.create_bucket().bucket("shared").send().await.unwrap();
    let small = data(12345, 7);
    sa.put_object()
        .bucket("shared")
        .key("dir/small")
        .body(ByteStream::from(small.clone()))
        .send()
        .await
        .unwrap();
    let got = sb
        .get_object()
        .bucket("shared")
        .key("dir/small")
        .send()
        .await
        .unwrap();
    let etag_b = got.e_tag().unwrap().to_owned();
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes().to_vec(),
        small
    );
    let head_a = sa
        .head_object()
        .bucket("shared")
        .key("dir/small")
        .send()
        .await
        .unwrap();
    assert_eq!(
        head_a.e_tag().unwrap(),
        etag_b,
        "both instances give one ETag"
    );
    let listed = sb.list_objects_v2().bucket("shared").send().await.unwrap();
    assert_eq!(listed.contents().len(), 1);

    // A multipart upload begun on A, parts on A and B, completed on B.
    let p1 = data(5 << 20, 1);
    let p2 = data(777, 2);
    let up = sa
        .create_multipart_upload()
        .bucket("shared")
        .key("big")
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap().to_owned();
    let e1 = sa
        .upload_part()
        .bucket("shared")
        .key("big")
        .upload_id(&id)
        .part_number(1)
        .body(ByteStream::from(p1.clone()))
        .send()
        .await
        .unwrap()
        .e_tag()
        .unwrap()
        .to_owned();
    let e2 = sb
        .upload_part()
        .bucket("shared")
        .key("big")
        .upload_id(&id)
        .part_number(2)
        .body(ByteStream::from(p2.clone()))
        .send()
        .await
        .unwrap()
        .e_tag()
        .unwrap()
        .to_owned();
    let uploads = sb
        .list_multipart_uploads()
        .bucket("shared")
        .send()
        .await
        .unwrap();
    assert!(uploads
        .uploads()
        .iter()
        .any(|u| u.upload_id() == Some(id.as_str())));
    let parts = sb
        .list_parts()
        .bucket("shared")
        .key("big")
        .upload_id(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(parts.parts().len(), 2, "B sees A's part");
    let done = sb
        .complete_multipart_upload()
        .bucket("shared")
        .key("big")
        .upload_id(&id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(CompletedPart::builder().part_number(1).e_tag(e1).build())
                .parts(CompletedPart::builder().part_number(2).e_tag(e2).build())
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert!(
        done.e_tag().unwrap().ends_with("-2\""),
        "{:?}",
        done.e_tag()
    );
    let got = sa
        .get_object()
        .bucket("shared")
        .key("big")
        .send()
        .await
        .unwrap();
    assert_eq!(got.e_tag(), done.e_tag());
    let bytes = got.body.collect().await.unwrap().into_bytes();
    assert_eq!(bytes.len(), p1.len() + p2.len());
    assert!(bytes[..p1.len()] == p1[..] && bytes[p1.len()..] == p2[..]);

    // A delete on one instance is seen by the other.
    sb.delete_object()
        .bucket("shared")
        .key("dir/small")
        .send()
        .await
        .unwrap();

    // B's access log is JSON, one object per request, with the fields.
    let log = b.log();
    let access: Vec<serde_json::Value> = log
        .lines()
        .filter(|l| l.contains("s3gw::access"))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(access.len() >= 6, "{log}");
    for a in &access {
        assert_eq!(a["target"], "s3gw::access");
        let f = &a["fields"];
        assert_eq!(f["access_key_id"], key.access_key_id.as_str(), "{a}");
        assert_eq!(f["request_id"].as_str().map(str::len), Some(16), "{a}");
        for k in [
            "operation",
            "bucket",
            "key",
            "status",
            "bytes_in",
            "bytes_out",
            "duration_ms",
            "native_calls",
        ] {
            assert!(!f[k].is_null(), "{k} missing: {a}");
        }
    }
    let complete = access
        .iter()
        .find(|a| a["fields"]["operation"] == "CompleteMultipartUpload")
        .unwrap_or_else(|| panic!("no CompleteMultipartUpload line:\n{log}"));
    assert_eq!(complete["fields"]["status"], 200);
    assert_eq!(complete["fields"]["key"], "big");
    assert!(complete["fields"]["native_calls"].as_u64() >= Some(1));
    let part = access
        .iter()
        .find(|a| a["fields"]["operation"] == "UploadPart")
        .unwrap_or_else(|| panic!("no UploadPart line:\n{log}"));
    assert!(
        part["fields"]["bytes_in"].as_u64() >= Some(p2.len() as u64),
        "{part}"
    );
    assert!(!log.contains(&key.secret), "the secret reached the log");
    assert!(sa
        .head_object()
        .bucket("shared")
        .key("dir/small")
        .send()
        .await
        .is_err());
}
