//! What an operator meets first, end to end against the real binaries: the
//! version line, shell completions and the man page, the ops listener's
//! default and its start error, secrets from files, and `/metrics` as the
//! Prometheus project's own parsers read it while the gateway is under load.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;
use s3gw_tests::buckets_lite::{http_client, BucketsLite};
use s3gw_tests::gateway::{Gateway, GatewayOptions};
use s3gw_tests::procs::{workspace_bin, ChildProcess};

mod common;
use common::s3_config;

/// How long a failing start may take to exit on a loaded machine.
const EXIT_DEADLINE: Duration = Duration::from_secs(60);

fn sdk(url: &str, id: &str, secret: &str) -> Client {
    Client::from_conf(s3_config(url, id, secret).build())
}

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// `s3gw ARGS` with no configuration in reach; its output.
fn s3gw(args: &[&str]) -> std::process::Output {
    Command::new(workspace_bin("s3gw"))
        .args(args)
        // completions and the man page need no configuration, not even a
        // readable one
        .env("S3GW_CONFIG", "/nonexistent/s3gw.toml")
        .stdin(Stdio::null())
        .output()
        .expect("run s3gw")
}

#[test]
fn version_names_the_git_commit() {
    let out = s3gw(&["--version"]);
    assert!(out.status.success());
    let line = String::from_utf8(out.stdout).unwrap();
    // "s3gw 0.1.0 (commit <40 hex>)"
    let commit = line
        .trim()
        .strip_prefix(concat!("s3gw ", env!("CARGO_PKG_VERSION"), " (commit "))
        .and_then(|r| r.strip_suffix(')'))
        .unwrap_or_else(|| panic!("unexpected version line {line:?}"));
    // Built from this checkout, which is a git repository: a real commit.
    let in_git = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(workspace_root())
        .output()
        .is_ok_and(|o| o.status.success());
    if in_git {
        assert_eq!(commit.len(), 40, "{line}");
        assert!(commit.bytes().all(|b| b.is_ascii_hexdigit()), "{line}");
    } else {
        assert_eq!(commit, "unknown");
    }
}

#[test]
fn completions_and_man_page_come_from_the_command_line_definitions() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = s3gw(&["completions", shell]);
        assert!(
            out.status.success(),
            "{shell}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        for word in ["s3gw", "check-config", "keys", "completions"] {
            assert!(text.contains(word), "{shell} completions lack {word}");
        }
    }
    // The bash script is valid bash.
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("s3gw.bash");
    std::fs::write(&script, s3gw(&["completions", "bash"]).stdout).unwrap();
    let check = Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(!s3gw(&["completions", "no-such-shell"]).status.success());

    let out = s3gw(&["man"]);
    assert!(out.status.success());
    let man = String::from_utf8(out.stdout).unwrap();
    assert!(man.starts_with(".ie") || man.contains(".TH s3gw"), "{man}");
    for section in [".SH NAME", ".SH SYNOPSIS", ".SH OPTIONS", ".SH SUBCOMMANDS"] {
        assert!(man.contains(section), "man page lacks {section}");
    }
    assert!(man.contains(env!("CARGO_PKG_VERSION")));
}

#[test]
fn a_busy_ops_port_stops_the_start_with_an_error_naming_the_key() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap().to_string();
    let data = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(workspace_bin("s3gw"));
    cmd.arg("serve")
        .arg("--listen")
        .arg("127.0.0.1:0")
        .arg("--data")
        .arg(data.path())
        .env_remove("S3GW_CONFIG")
        .env("S3GW__OPS__LISTEN", &addr)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(data.path().join("err.log")).unwrap());
    let mut child = ChildProcess::new(cmd.spawn().unwrap(), "s3gw");
    let status = child
        .wait_timeout(EXIT_DEADLINE)
        .expect("s3gw kept running with its ops port taken");
    assert!(!status.success());
    let err = std::fs::read_to_string(data.path().join("err.log")).unwrap();
    assert!(err.contains("ops.listen") && err.contains(&addr), "{err}");
    drop(busy);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_root_secret_can_come_from_a_file() {
    let data = tempfile::tempdir().unwrap();
    let secret_file = data.path().join("root-secret");
    // A secret that looks like a number must stay text.
    std::fs::write(&secret_file, "0123456789012345678901234567890123456789\n").unwrap();
    let path = data.path().to_path_buf();
    let file = secret_file.clone();
    let gw = tokio::task::spawn_blocking(move || {
        Gateway::start_embedded_with(
            &path,
            None,
            &[],
            &[
                ("S3GW_ROOT_ACCESS_KEY", "ROOTFROMFILE00000001"),
                ("S3GW_ROOT_SECRET_KEY_FILE", file.to_str().unwrap()),
            ],
        )
    })
    .await
    .unwrap();
    assert_eq!(gw.key.access_key_id, "ROOTFROMFILE00000001");
    assert_eq!(gw.key.secret, "0123456789012345678901234567890123456789");
    let s3 = sdk(&gw.url, &gw.key.access_key_id, &gw.key.secret);
    s3.create_bucket().bucket("from-file").send().await.unwrap();
    // A wrong secret is refused: the file's value is the one in force.
    let wrong = sdk(&gw.url, &gw.key.access_key_id, "0123");
    assert!(wrong.list_buckets().send().await.is_err());
    tokio::task::spawn_blocking(move || drop(gw)).await.unwrap();
}

/// The Python interpreter of the test venv (with prometheus-client), else
/// `python3` on PATH.
fn python() -> PathBuf {
    let venv = workspace_root().join("target/venv/bin/python3");
    if venv.is_file() {
        venv
    } else {
        PathBuf::from("python3")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn metrics_parse_with_prometheus_parsers_under_concurrent_load() {
    const WRITERS: usize = 4;
    const ROUNDS: usize = 25;
    const MAX_SCRAPES: usize = 200;
    let (lite, gw) = tokio::task::spawn_blocking(|| {
        let lite = BucketsLite::start();
        let gw = Gateway::start_with(&lite, GatewayOptions::default());
        (lite, gw)
    })
    .await
    .unwrap();
    let ops = gw.ops_url();
    let s3 = sdk(&gw.url, &gw.key.access_key_id, &gw.key.secret);
    s3.create_bucket().bucket("scraped").send().await.unwrap();

    let mut load = Vec::new();
    for w in 0..WRITERS {
        let s3 = s3.clone();
        load.push(tokio::spawn(async move {
            for i in 0..ROUNDS {
                let key = format!("w{w}/o{i}");
                s3.put_object()
                    .bucket("scraped")
                    .key(&key)
                    .body(ByteStream::from(vec![b'x'; 1000 + i]))
                    .send()
                    .await
                    .unwrap();
                s3.get_object()
                    .bucket("scraped")
                    .key(&key)
                    .send()
                    .await
                    .unwrap();
                let _ = s3
                    .head_object()
                    .bucket("scraped")
                    .key("absent")
                    .send()
                    .await;
            }
        }));
    }
    // Scrape while the load runs, and once after it.
    let http = http_client();
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    let mut ctype = String::new();
    let mut scrape = |i: usize, body: String| {
        let p = dir.path().join(format!("scrape-{i}.txt"));
        std::fs::write(&p, body).unwrap();
        files.push(p);
    };
    let mut n = 0;
    while (load.iter().any(|t| !t.is_finished()) && n < MAX_SCRAPES) || n < 3 {
        let r = http.get(format!("{ops}/metrics")).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200);
        ctype = r.headers()["content-type"].to_str().unwrap().to_owned();
        scrape(n, r.text().await.unwrap());
        n += 1;
        // Pacing between scrapes only (a scraper's interval, shortened).
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for t in load {
        t.await.unwrap();
    }
    let last = http
        .get(format!("{ops}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    scrape(n, last.clone());
    assert!(ctype.starts_with("application/openmetrics-text"), "{ctype}");

    let script = workspace_root().join("tests/clients/check_metrics.py");
    let out = Command::new(python())
        .arg(&script)
        .args(&files)
        .output()
        .expect("python3 with prometheus-client (tests/clients/requirements.txt)");
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["scrapes"].as_u64(), Some(files.len() as u64));
    assert!(summary["histograms_checked"].as_u64().unwrap() >= files.len() as u64);
    // Every family docs/operations.md promises, with its type and labels
    // (OpenMetrics names a counter family without `_total`).
    let fams = &summary["families"];
    for (name, typ, labels) in [
        ("s3gw_requests", "counter", &["operation", "status"][..]),
        ("s3gw_request_duration_seconds", "histogram", &["operation"]),
        ("s3gw_request_bytes", "counter", &["operation"]),
        ("s3gw_response_bytes", "counter", &["operation"]),
        ("s3gw_native_calls", "counter", &["call", "outcome"]),
        ("s3gw_native_errors", "counter", &["call"]),
        ("s3gw_native_call_duration_seconds", "histogram", &["call"]),
        ("s3gw_open_connections", "gauge", &[]),
        ("s3gw_requests_in_flight", "gauge", &[]),
        ("s3gw_multipart_uploads_created", "counter", &[]),
        ("s3gw_multipart_uploads_completed", "counter", &[]),
        ("s3gw_multipart_uploads_aborted", "counter", &[]),
        ("s3gw_multipart_uploads_in_progress", "gauge", &[]),
        ("s3gw_keycache_keys", "gauge", &[]),
        ("s3gw_keycache_hits", "counter", &[]),
        ("s3gw_keycache_misses", "counter", &[]),
        ("s3gw_keycache_negative_hits", "counter", &[]),
        ("s3gw_keycache_misses_rate_limited", "counter", &[]),
        ("s3gw_keycache_ldap_queries", "counter", &[]),
        ("s3gw_keycache_ldap_errors", "counter", &[]),
        ("s3gw_keycache_ready", "gauge", &[]),
        ("s3gw_build_info", "gauge", &["commit", "version"]),
        ("s3gw_uptime_seconds", "gauge", &[]),
    ] {
        let f = &fams[name];
        assert_eq!(f["type"].as_str(), Some(typ), "{name}: {f}");
        let got: Vec<&str> = f["labels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(got, labels, "{name}");
    }
    // The last scrape counted every request of the load.
    let puts = format!(
        "s3gw_request_duration_seconds_count{{operation=\"PutObject\"}} {}\n",
        WRITERS * ROUNDS
    );
    assert!(last.contains(&puts), "{puts} missing:\n{last}");
    tokio::task::spawn_blocking(move || {
        drop(gw);
        drop(lite);
    })
    .await
    .unwrap();
}

#[test]
fn buckets_lite_logs_json_like_s3gw() {
    use s3gw_tests::buckets_lite::BucketsLiteConfigSpec;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("lite.toml");
    std::fs::write(&config, BucketsLiteConfigSpec::standard().to_toml()).unwrap();
    let err = dir.path().join("lite.log");
    let mut cmd = Command::new(workspace_bin("buckets-lite"));
    cmd.arg("--config")
        .arg(&config)
        .args(["--listen", "127.0.0.1:0", "--log-format", "json"])
        .arg("--data")
        .arg(dir.path().join("data"))
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stderr(std::fs::File::create(&err).unwrap());
    let (mut child, _url) = s3gw_tests::procs::spawn_and_wait_for_line(
        cmd,
        "buckets-lite listening on ",
        s3gw_tests::gateway::START_DEADLINE,
    );
    let status = child.stop().expect("buckets-lite stops on SIGTERM");
    assert!(status.success());
    let log = std::fs::read_to_string(&err).unwrap();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    // The shape s3gw's `log.format = "json"` writes: timestamp, level,
    // fields.message, target.
    let stopping = lines
        .iter()
        .find(|v| v["fields"]["message"] == "SIGTERM: stopping")
        .unwrap_or_else(|| panic!("no stopping line:\n{log}"));
    assert_eq!(stopping["level"], "INFO");
    assert!(stopping["timestamp"].is_string() && stopping["target"].is_string());
}
