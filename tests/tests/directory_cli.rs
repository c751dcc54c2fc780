//! The operator's command line against a real directory (issue 17, item 5):
//! `--bind-dn` needs its own password, errors name the URL and the
//! operation, usage errors exit 2, `check-config` validates the key source,
//! `s3gw accounts disable|enable`, and `scripts/test-directory.sh`.
//!
//! Runs the built binary (`cargo build --workspace --bins` first).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use s3gw_tests::procs::workspace_bin;
use s3gw_tests::slapd::{account_dn, Slapd, GATEWAY_DN, GATEWAY_PW, KEYADMIN_DN, KEYADMIN_PW};

fn q(s: &str) -> String {
    format!("{s:?}")
}

/// A config with `[keys]` for `url`, in a temp dir.
fn config(dir: &Path, url: &str) -> PathBuf {
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let path = dir.join("s3gw.toml");
    std::fs::write(
        &path,
        format!(
            "[embedded]\ndata_dir = {}\n[keys]\nsource = \"ldap\"\nurl = {}\nbind_dn = {}\nbind_password = {}\noperation_timeout = 5.0\nconnect_timeout = 2.0\n",
            q(data.to_str().unwrap()),
            q(url),
            q(GATEWAY_DN),
            q(GATEWAY_PW)
        ),
    )
    .unwrap();
    path
}

fn s3gw(config: &Path, args: &[&str], envs: &[(&str, &Path)]) -> Output {
    let mut cmd = Command::new(workspace_bin("s3gw"));
    cmd.arg("--config")
        .arg(config)
        .args(args)
        .env_remove("S3GW_CONFIG")
        .env_remove("S3GW_KEYS_BIND_PASSWORD_FILE")
        .env("RUST_LOG", "error")
        .stdin(Stdio::null());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().expect("running s3gw")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bind_dn_needs_its_own_password_and_usage_errors_exit_2() {
    let slapd = Slapd::start().await;
    let acct = uuid::Uuid::new_v4().to_string();
    slapd.add_account(&acct, "alice").await;
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(tmp.path(), &slapd.url());

    // --bind-dn without a password: refused before any write (stdin is not
    // a terminal, so no prompt), exit 2, and it says what to do.
    let o = tokio::task::block_in_place(|| {
        s3gw(
            &cfg,
            &[
                "keys",
                "create",
                "--account",
                "alice",
                "--bind-dn",
                KEYADMIN_DN,
            ],
            &[],
        )
    });
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("--bind-password-file"),
        "{}",
        stderr(&o)
    );
    let o = tokio::task::block_in_place(|| {
        s3gw(&cfg, &["keys", "list", "--account", "alice", "--json"], &[])
    });
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "[]");

    // A bad id and a bad command line: exit 2.
    let o = tokio::task::block_in_place(|| {
        s3gw(
            &cfg,
            &["keys", "disable", "--account", "alice", "short"],
            &[],
        )
    });
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let o = tokio::task::block_in_place(|| s3gw(&cfg, &["keys", "bogus"], &[]));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));

    // With its own password the key admin writes; the read identity cannot
    // (exit 1, and the error names the URL and the operation).
    let pw = tmp.path().join("admin.pw");
    std::fs::write(&pw, format!("{KEYADMIN_PW}\n")).unwrap();
    let o = tokio::task::block_in_place(|| {
        s3gw(
            &cfg,
            &[
                "keys",
                "create",
                "--account",
                "alice",
                "--bind-dn",
                KEYADMIN_DN,
            ],
            &[("S3GW_KEYS_BIND_PASSWORD_FILE", pw.as_path())],
        )
    });
    assert!(o.status.success(), "{}", stderr(&o));
    let o =
        tokio::task::block_in_place(|| s3gw(&cfg, &["keys", "create", "--account", "alice"], &[]));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains(&slapd.url()), "{}", stderr(&o));
    assert!(stderr(&o).contains("add key"), "{}", stderr(&o));

    // accounts disable / enable write UFDS's `disabled` attribute.
    for (action, want) in [("disable", "true"), ("enable", "false")] {
        let o = tokio::task::block_in_place(|| {
            s3gw(
                &cfg,
                &["accounts", action, "alice", "--bind-dn", KEYADMIN_DN],
                &[("S3GW_KEYS_BIND_PASSWORD_FILE", pw.as_path())],
            )
        });
        assert!(o.status.success(), "{action}: {}", stderr(&o));
        let mut root = slapd.root().await;
        let (e, _) = root
            .search(
                &account_dn(&acct),
                ldap3::Scope::Base,
                "(objectClass=*)",
                vec!["disabled"],
            )
            .await
            .unwrap()
            .success()
            .unwrap();
        let e = ldap3::SearchEntry::construct(e.into_iter().next().unwrap());
        assert_eq!(e.attrs["disabled"], vec![want.to_string()]);
    }
    let o = tokio::task::block_in_place(|| {
        s3gw(
            &cfg,
            &["accounts", "disable", "nobody", "--bind-dn", KEYADMIN_DN],
            &[("S3GW_KEYS_BIND_PASSWORD_FILE", pw.as_path())],
        )
    });
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("no such user"), "{}", stderr(&o));
}

#[test]
fn unreachable_directory_error_names_the_url_and_operation() {
    let tmp = tempfile::tempdir().unwrap();
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("ldap://127.0.0.1:{port}");
    let cfg = config(tmp.path(), &url);
    let o = s3gw(&cfg, &["keys", "list", "--account", "alice"], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(e.contains(&url) && e.contains("connect"), "{e}");
}

#[test]
fn check_config_validates_the_key_source() {
    let tmp = tempfile::tempdir().unwrap();
    for (url, ok) in [
        ("ldap://127.0.0.1:389", true),
        ("ldaps://ufds.example.com", true),
        ("http://127.0.0.1:389", false),
        ("127.0.0.1:389", false),
        ("ldap://", false),
    ] {
        let cfg = config(tmp.path(), url);
        let o = s3gw(&cfg, &["check-config"], &[]);
        if ok {
            assert!(o.status.success(), "{url}: {}", stderr(&o));
        } else {
            assert_eq!(o.status.code(), Some(2), "{url} accepted");
            assert!(stderr(&o).contains("keys.url"), "{url}: {}", stderr(&o));
        }
    }
    // A keys file that serve would reject is rejected here too.
    let keys = tmp.path().join("keys.toml");
    std::fs::write(&keys, "[[keys]]\naccess_key_id = 1\n").unwrap();
    let cfg = tmp.path().join("file.toml");
    std::fs::write(
        &cfg,
        format!(
            "[keys]\nsource = \"file\"\npath = {}\n",
            q(keys.to_str().unwrap())
        ),
    )
    .unwrap();
    let o = s3gw(&cfg, &["check-config"], &[]);
    assert_eq!(o.status.code(), Some(2), "bad keys file accepted");
    assert!(stderr(&o).contains("keys.path"), "{}", stderr(&o));
    // An unreadable CA file.
    let cfg = tmp.path().join("ca.toml");
    std::fs::write(
        &cfg,
        format!(
            "[keys]\nsource = \"ldap\"\nurl = \"ldaps://h\"\nbind_dn = \"cn=x\"\nbind_password = \"p\"\nca_file = {}\n",
            q(tmp.path().join("missing.pem").to_str().unwrap())
        ),
    )
    .unwrap();
    let o = s3gw(&cfg, &["check-config"], &[]);
    assert_eq!(o.status.code(), Some(2), "missing CA file accepted");
    assert!(stderr(&o).contains("ca_file"), "{}", stderr(&o));
    // An operator key file that is not a key.
    let key = tmp.path().join("operator.key");
    std::fs::write(&key, "not a key\n").unwrap();
    let cfg = tmp.path().join("backend.toml");
    std::fs::write(
        &cfg,
        format!(
            "[backend]\nurl = \"http://127.0.0.1:1\"\noperator_login = \"op\"\noperator_key_file = {}\n",
            q(key.to_str().unwrap())
        ),
    )
    .unwrap();
    let o = s3gw(&cfg, &["check-config"], &[]);
    assert_eq!(o.status.code(), Some(2), "a bad operator key accepted");
    assert!(stderr(&o).contains("operator_key_file"), "{}", stderr(&o));
}

/// Issue 14: the binary reads durations as humantime strings (also in
/// `[keys]`), reads a deprecated `*_secs` key with a warning naming the new
/// key, and refuses both forms at once or a garbage duration, naming the key.
#[test]
fn check_config_reads_durations_and_warns_of_deprecated_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let keys = "[keys]\nsource = \"ldap\"\nurl = \"ldap://127.0.0.1:389\"\n\
                bind_dn = \"cn=x\"\nbind_password = \"p\"\n";
    let run = |name: &str, text: String| {
        let cfg = tmp.path().join(name);
        std::fs::write(&cfg, text).unwrap();
        s3gw(&cfg, &["check-config"], &[])
    };
    let o = run(
        "ok.toml",
        format!(
            "[server]\nshutdown_timeout_secs = 5\n[limits]\nbody_idle_timeout = \"1m 30s\"\n\
             {keys}grace = \"1h\"\npoll_interval = \"500ms\"\n"
        ),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(
            "warning: configuration key server.shutdown_timeout_secs is deprecated: \
             write server.shutdown_timeout = \"5s\" instead"
        ),
        "{}",
        stderr(&o)
    );
    for (name, text, key) in [
        (
            "both.toml",
            "[server]\nshutdown_timeout_secs = 5\nshutdown_timeout = \"5s\"\n".to_owned(),
            "server.shutdown_timeout",
        ),
        (
            "garbage.toml",
            "[limits]\nheader_timeout = \"soon\"\n".to_owned(),
            "limits.header_timeout",
        ),
        ("keys.toml", format!("{keys}grace = \"forever\"\n"), "grace"),
    ] {
        let o = run(name, text);
        assert_eq!(o.status.code(), Some(2), "{name} accepted");
        assert!(stderr(&o).contains(key), "{name}: {}", stderr(&o));
    }
}

/// `scripts/test-directory.sh up` gives a directory that the printed
/// configuration reads, with the documented sample tenant; `down` stops it.
#[test]
fn test_directory_script_up_and_down() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let state = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let script = root.join("scripts/test-directory.sh");
    let run = |args: &[&str]| {
        Command::new("bash")
            .arg(&script)
            .args(args)
            .env("S3GW_TEST_DIRECTORY", state.path().join("dir"))
            .output()
            .expect("test-directory.sh")
    };
    let up = run(&["up", "--plain", "--port", &port]);
    assert!(up.status.success(), "{}", stderr(&up));
    let printed = String::from_utf8(up.stdout).unwrap();
    // The printed [keys] section is a configuration check-config accepts,
    // and the gateway's identity reads the sample tenant's key through it.
    let keys: String = printed
        .lines()
        .skip_while(|l| *l != "[keys]")
        .take_while(|l| !l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(
        keys.contains(&format!("url = \"ldap://127.0.0.1:{port}\"")),
        "{printed}"
    );
    let cfg = state.path().join("s3gw.toml");
    std::fs::write(&cfg, &keys).unwrap();
    let o = s3gw(&cfg, &["check-config"], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let pw = state.path().join("dir/keyadmin.pw");
    let o = s3gw(
        &cfg,
        &[
            "keys",
            "list",
            "--account",
            "demo",
            "--json",
            "--bind-dn",
            KEYADMIN_DN,
        ],
        &[("S3GW_KEYS_BIND_PASSWORD_FILE", pw.as_path())],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let id = printed
        .split("access key id ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap();
    assert!(String::from_utf8_lossy(&o.stdout).contains(id));
    let down = run(&["down"]);
    assert!(down.status.success(), "{}", stderr(&down));
    assert!(!state.path().join("dir").exists());
}

/// A real gateway in front of a frozen directory (SIGSTOP): a request with
/// an unknown key id gets 503 after the short miss timeout (not the 20 s
/// operation timeout), the next at once; a cached key keeps working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frozen_directory_unknown_ids_get_a_fast_503() {
    use aws_sdk_s3::config::retry::RetryConfig;
    use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
    use s3gw_tests::buckets_lite::{BucketsLite, OPERATOR};
    use s3gw_tests::gateway::{LISTENING_PREFIX, START_DEADLINE};
    use s3gw_tests::slapd::KeySpec;

    let slapd = Slapd::start_plain().await;
    let lite = tokio::task::spawn_blocking(BucketsLite::start)
        .await
        .unwrap();
    let acct = uuid::Uuid::new_v4().to_string();
    slapd.add_account(&acct, "alice").await;
    let id = "0123456789abcdef0123456789abcdef";
    let secret = "tdc_nWPG6se84Unn4QuMwpL67KJpNu5a_JVE-qBI7_2bxpLh-CUK";
    slapd
        .add_key(&KeySpec {
            owner_dn: &account_dn(&acct),
            id,
            secret,
            status: "Active",
        })
        .await;
    let tmp = tempfile::tempdir().unwrap();
    let key_file = tmp.path().join("operator.key");
    std::fs::write(&key_file, lite.operator_key_pem()).unwrap();
    let cfg = tmp.path().join("s3gw.toml");
    std::fs::write(
        &cfg,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n\
             [backend]\nurl = {}\noperator_login = {}\noperator_key_file = {}\n\
             [keys]\nsource = \"ldap\"\nurl = {}\nbind_dn = {}\nbind_password = {}\n\
             poll_interval = 0.5\nmiss_timeout = 1.0\noperation_timeout = 20.0\n\
             [embedded]\ndata_dir = {}\n",
            q(&lite.url),
            q(OPERATOR),
            q(key_file.to_str().unwrap()),
            q(&slapd.url()),
            q(GATEWAY_DN),
            q(GATEWAY_PW),
            q(tmp.path().join("unused").to_str().unwrap()),
        ),
    )
    .unwrap();
    let mut cmd = Command::new(workspace_bin("s3gw"));
    cmd.arg("serve")
        .arg("--config")
        .arg(&cfg)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stderr(std::fs::File::create(tmp.path().join("s3gw.log")).unwrap());
    let (_child, url) = tokio::task::block_in_place(|| {
        s3gw_tests::procs::spawn_and_wait_for_line(cmd, LISTENING_PREFIX, START_DEADLINE)
    });
    let client = |id: &str, secret: &str| {
        let conf = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(&url)
            .credentials_provider(Credentials::new(id, secret, None, None, "t"))
            .force_path_style(true)
            .retry_config(RetryConfig::disabled())
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    };
    let status = |r: Result<_, aws_sdk_s3::error::SdkError<_, _>>| match r {
        Ok(_) => 200,
        Err(e) => e
            .raw_response()
            .map_or(0, |r: &aws_smithy_runtime_api::http::Response| {
                r.status().as_u16()
            }),
    };
    let known = client(id, secret);
    let t0 = std::time::Instant::now();
    while status(known.list_buckets().send().await) != 200 {
        assert!(t0.elapsed() < START_DEADLINE, "the key never worked");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    slapd.pause();
    let unknown = client("fedcba9876543210fedcba9876543210", secret);
    let t0 = std::time::Instant::now();
    assert_eq!(status(unknown.list_buckets().send().await), 503);
    let first = t0.elapsed();
    let unknown2 = client("aaaabbbbccccddddeeeeffff00001111", secret);
    let t0 = std::time::Instant::now();
    assert_eq!(status(unknown2.list_buckets().send().await), 503);
    let second = t0.elapsed();
    eprintln!("MEASURED gateway, frozen directory: first unknown id 503 after {first:?} (miss_timeout 1s), next after {second:?}");
    assert!(first < std::time::Duration::from_secs(10), "{first:?}");
    assert_eq!(status(known.list_buckets().send().await), 200);
    slapd.resume();
}
