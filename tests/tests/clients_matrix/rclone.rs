//! rclone (s3 provider `Other`, an env-var remote, path-style, MD5 checks
//! on) against a started s3gw: copy (the 64 MiB file as multipart), check,
//! sync after local changes, check again, copy back down and compare bytes.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use crate::support::{
    assert_same_tree, clean_client_env, client_program, make_tree, run_fails, run_ok, scan_tree,
    unique_bucket, write_pseudo_random, Gateway,
};

/// The remote's name in `RCLONE_CONFIG_<NAME>_*` variables.
const REMOTE: &str = "GW";

fn rclone(gw: &Gateway, config: &Path) -> impl Fn(&[&str]) -> Command {
    let program = client_program("rclone");
    let (url, ak, sk) = (gw.url.clone(), gw.access_key.clone(), gw.secret_key.clone());
    let config = config.to_path_buf();
    move |args: &[&str]| {
        let mut c = Command::new(&program);
        clean_client_env(&mut c);
        c.args(args)
            .args(["--retries", "1", "--low-level-retries", "2"])
            // A private, empty config file: only the env-var remote exists.
            .env("RCLONE_CONFIG", &config)
            .env(format!("RCLONE_CONFIG_{REMOTE}_TYPE"), "s3")
            .env(format!("RCLONE_CONFIG_{REMOTE}_PROVIDER"), "Other")
            .env(format!("RCLONE_CONFIG_{REMOTE}_ENV_AUTH"), "false")
            .env(format!("RCLONE_CONFIG_{REMOTE}_ACCESS_KEY_ID"), &ak)
            .env(format!("RCLONE_CONFIG_{REMOTE}_SECRET_ACCESS_KEY"), &sk)
            .env(format!("RCLONE_CONFIG_{REMOTE}_ENDPOINT"), &url)
            .env(format!("RCLONE_CONFIG_{REMOTE}_REGION"), "us-east-1")
            .env(format!("RCLONE_CONFIG_{REMOTE}_FORCE_PATH_STYLE"), "true");
        c
    }
}

fn lsf(rc: &impl Fn(&[&str]) -> Command, remote: &str) -> BTreeSet<String> {
    run_ok(&mut rc(&["lsf", "-R", "--files-only", remote]))
        .stdout
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn rclone_copy_sync_check_tree() {
    client_program("rclone"); // fail fast, before starting anything
    let gw = Gateway::start_embedded(&[]);
    let work = tempfile::tempdir().expect("work dir");
    let config = work.path().join("rclone.conf");
    std::fs::write(&config, "").expect("empty rclone config");
    let rc = rclone(&gw, &config);
    let src = work.path().join("src");
    let files = make_tree(&src);
    let src_s = src.to_str().expect("utf-8 path");
    let bucket = unique_bucket("rclone");
    let remote = format!("{REMOTE}:{bucket}/tree");

    run_ok(&mut rc(&["mkdir", &format!("{REMOTE}:{bucket}")]));
    // 16 MiB cutoff/chunks: the 64 MiB file goes up as a 4-part multipart
    // upload (rclone then keeps its MD5 in metadata for `check`).
    run_ok(&mut rc(&[
        "copy",
        src_s,
        &remote,
        "--s3-upload-cutoff",
        "16M",
        "--s3-chunk-size",
        "16M",
    ]));
    let listed = lsf(&rc, &remote);
    let want: BTreeSet<String> = files.iter().map(|f| f.rel.clone()).collect();
    assert_eq!(listed, want, "rclone lsf after copy");

    let check = |what: &str| {
        let out = run_ok(&mut rc(&["check", src_s, &remote]));
        let n = scan_tree(&src).len();
        assert!(
            out.stderr.contains("0 differences found")
                && out.stderr.contains(&format!("{n} matching files"))
                && !out.stderr.contains("could not be checked"),
            "rclone check after {what} did not verify every file by hash:\n{}",
            out.stderr
        );
    };
    check("copy");

    // sync after local changes: rewritten, added, removed.
    write_pseudo_random(&src.join("space name.txt"), 5555, 4242);
    write_pseudo_random(&src.join("new dir/nouveau ü+&.txt"), 777, 4243);
    std::fs::remove_file(src.join("percent%.txt")).expect("rm local");
    run_ok(&mut rc(&["sync", src_s, &remote]));
    let want: BTreeSet<String> = scan_tree(&src).into_keys().collect();
    assert_eq!(lsf(&rc, &remote), want, "rclone lsf after sync");
    check("sync");

    // MD5 checks are real: same size, different bytes must be a difference.
    let victim = src.join("equals=sign.txt");
    let size = std::fs::metadata(&victim).expect("stat").len();
    write_pseudo_random(&victim, size, 31337);
    let bad = run_fails(&mut rc(&["check", src_s, &remote]));
    assert!(
        bad.stderr.contains("1 differences found"),
        "rclone check must find the changed file by MD5:\n{}",
        bad.stderr
    );
    run_ok(&mut rc(&["sync", src_s, &remote]));

    // Back down: same bytes.
    let down = work.path().join("down");
    run_ok(&mut rc(&["copy", &remote, down.to_str().expect("utf-8")]));
    assert_same_tree(&src, &down);

    run_ok(&mut rc(&["purge", &format!("{REMOTE}:{bucket}")]));
    let buckets = run_ok(&mut rc(&["lsd", &format!("{REMOTE}:")])).stdout;
    assert!(
        !buckets.contains(&bucket),
        "bucket still there after purge:\n{buckets}"
    );
}
