//! s3cmd (SigV2 with `signature_v2 = True`, and SigV4) against a started
//! s3gw: mb, put, get, ls, del, sync both ways with `--delete-removed`,
//! a multipart put (`--multipart-chunk-size-mb=5`, 12 MiB -> 3 parts), and
//! `s3cmd signurl` (a SigV2 query-signed URL) fetched with curl.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{
    assert_same_file, assert_same_tree, clean_client_env, client_program, run_ok, scan_tree,
    unique_bucket, write_pseudo_random, Gateway, HostsGuard,
};

/// s3cmd with a generated config file for one gateway.
struct S3cmd {
    program: PathBuf,
    config: PathBuf,
    _dir: tempfile::TempDir,
}

impl S3cmd {
    /// `host_bucket` decides the addressing style: without `%(bucket)s`
    /// s3cmd uses path-style requests.
    fn new(gw: &Gateway, host_base: &str, host_bucket: &str, signature_v2: bool) -> S3cmd {
        let dir = tempfile::tempdir().expect("s3cmd config dir");
        let config = dir.path().join("s3cfg");
        std::fs::write(
            &config,
            format!(
                "[default]\n\
                 access_key = {}\n\
                 secret_key = {}\n\
                 host_base = {host_base}\n\
                 host_bucket = {host_bucket}\n\
                 use_https = False\n\
                 signature_v2 = {}\n\
                 bucket_location = us-east-1\n",
                gw.access_key,
                gw.secret_key,
                if signature_v2 { "True" } else { "False" }
            ),
        )
        .expect("write s3cmd config");
        S3cmd {
            program: client_program("s3cmd"),
            config,
            _dir: dir,
        }
    }

    fn cmd<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut c = Command::new(&self.program);
        clean_client_env(&mut c);
        c.arg("-c")
            .arg(&self.config)
            .args(args)
            // s3cmd decodes file names with the locale's encoding.
            .env("LC_ALL", "C.UTF-8")
            .env("LANG", "C.UTF-8");
        c
    }

    /// `s3cmd ls --recursive s3://BUCKET/PREFIX` as the set of keys.
    fn keys(&self, bucket: &str, prefix: &str) -> BTreeSet<String> {
        let out =
            run_ok(&mut self.cmd(["ls", "--recursive", &format!("s3://{bucket}/{prefix}")])).stdout;
        let marker = format!("s3://{bucket}/");
        out.lines()
            .filter_map(|l| l.find(&marker).map(|i| l[i + marker.len()..].to_string()))
            .collect()
    }
}

/// A small tree with awkward names for `s3cmd sync`.
fn small_tree(root: &Path) {
    let names = [
        "space name.txt",
        "plus+sign.txt",
        "percent%41.txt",
        "amp&ersand=.txt",
        "ünïcödé 日本.txt",
        "deep/a/b/c/d.txt",
        "deep/a/sibling (1).txt",
        "empty.bin",
    ];
    for (i, n) in names.iter().enumerate() {
        let size = if n.starts_with("empty") {
            0
        } else {
            1000 + 313 * i as u64
        };
        write_pseudo_random(&root.join(n), size, 100 + i as u64);
    }
}

fn s3cmd_matrix(s: &S3cmd, label: &str) {
    let work = tempfile::tempdir().expect("work dir");
    let bucket = unique_bucket(&format!("s3cmd-{label}"));
    let b = format!("s3://{bucket}");

    run_ok(&mut s.cmd(["mb", &b]));
    let ls = run_ok(&mut s.cmd(["ls"])).stdout;
    assert!(ls.contains(&b), "s3cmd ls does not list {b}:\n{ls}");

    // put / ls / get with an awkward key
    let file = work.path().join("file.bin");
    write_pseudo_random(&file, 70_001, 1);
    let key = "dir/file name+ü&%.bin";
    run_ok(s.cmd(["put"]).arg(&file).arg(format!("{b}/{key}")));
    assert!(
        s.keys(&bucket, "dir/").contains(key),
        "{label}: s3cmd ls does not list {key}"
    );
    let got = work.path().join("got.bin");
    run_ok(s.cmd(["get", "--force", &format!("{b}/{key}")]).arg(&got));
    assert_same_file(&file, &got);

    // multipart put: 12 MiB in 5 MiB chunks
    let big = work.path().join("big.bin");
    write_pseudo_random(&big, 12 * 1024 * 1024, 2);
    let mp = run_ok(
        s.cmd(["put", "--progress", "--multipart-chunk-size-mb=5"])
            .arg(&big)
            .arg(format!("{b}/big/12MiB.bin")),
    );
    assert!(
        mp.stdout.contains("part 3 of 3") || mp.stderr.contains("part 3 of 3"),
        "{label}: s3cmd did not upload 3 parts:\n{}{}",
        mp.stdout,
        mp.stderr
    );
    let big_got = work.path().join("big-got.bin");
    run_ok(
        s.cmd(["get", "--force", &format!("{b}/big/12MiB.bin")])
            .arg(&big_got),
    );
    assert_same_file(&big, &big_got);

    // sync up, sync down, then a removal propagated with --delete-removed
    let tree = work.path().join("tree");
    small_tree(&tree);
    let mut up = s.cmd(["sync"]);
    up.arg(format!("{}/", tree.display()))
        .arg(format!("{b}/sync/"));
    run_ok(&mut up);
    let want: BTreeSet<String> = scan_tree(&tree).into_keys().collect();
    let listed: BTreeSet<String> = s
        .keys(&bucket, "sync/")
        .into_iter()
        .map(|k| k.trim_start_matches("sync/").to_string())
        .collect();
    assert_eq!(listed, want, "{label}: listing after s3cmd sync");
    let down = work.path().join("down");
    std::fs::create_dir_all(&down).expect("mkdir down");
    run_ok(
        s.cmd(["sync", &format!("{b}/sync/")])
            .arg(format!("{}/", down.display())),
    );
    assert_same_tree(&tree, &down);
    std::fs::remove_file(tree.join("plus+sign.txt")).expect("rm local");
    let mut up = s.cmd(["sync", "--delete-removed"]);
    up.arg(format!("{}/", tree.display()))
        .arg(format!("{b}/sync/"));
    run_ok(&mut up);
    assert!(
        !s.keys(&bucket, "sync/").contains("sync/plus+sign.txt"),
        "{label}: sync --delete-removed left the removed file"
    );

    // signurl (SigV2 query auth) + curl
    let url = run_ok(&mut s.cmd(["signurl", &format!("{b}/{key}"), "+600"]))
        .stdout
        .trim()
        .to_string();
    assert!(url.contains("Signature="), "{label}: signurl output: {url}");
    let fetched = work.path().join("signed.bin");
    run_ok(
        Command::new(client_program("curl"))
            .args(["-sS", "-f", "-o"])
            .arg(&fetched)
            .arg(&url),
    );
    assert_same_file(&file, &fetched);

    // del, then empty and remove the bucket
    run_ok(&mut s.cmd(["del", &format!("{b}/{key}")]));
    assert!(
        !s.keys(&bucket, "dir/").contains(key),
        "{label}: {key} still listed after del"
    );
    run_ok(&mut s.cmd(["del", "--recursive", "--force", &b]));
    assert!(s.keys(&bucket, "").is_empty(), "{label}: bucket not empty");
    run_ok(&mut s.cmd(["rb", &b]));
    let ls = run_ok(&mut s.cmd(["ls"])).stdout;
    assert!(!ls.contains(&b), "{label}: {b} still listed after rb");
}

#[test]
fn s3cmd_sigv2_path_style() {
    client_program("s3cmd"); // fail fast, before starting anything
    let gw = Gateway::start_embedded(&[]);
    let host = format!("127.0.0.1:{}", gw.port);
    s3cmd_matrix(&S3cmd::new(&gw, &host, &host, true), "v2");
}

#[test]
fn s3cmd_sigv4_path_style() {
    client_program("s3cmd"); // fail fast, before starting anything
    let gw = Gateway::start_embedded(&[]);
    let host = format!("127.0.0.1:{}", gw.port);
    s3cmd_matrix(&S3cmd::new(&gw, &host, &host, false), "v4");
}

/// Virtual-host style (`host_bucket = %(bucket)s.s3.localhost:PORT`) with
/// SigV2, the legacy-script setup: bucket host names in /etc/hosts for the
/// test only.
#[test]
fn s3cmd_sigv2_virtual_host() {
    client_program("s3cmd"); // fail fast, before starting anything
    let gw = Gateway::start_embedded(&[]);
    let s = S3cmd::new(
        &gw,
        &format!("s3.localhost:{}", gw.port),
        &format!("%(bucket)s.s3.localhost:{}", gw.port),
        true,
    );
    let bucket = unique_bucket("s3cmd-vh");
    let _hosts = HostsGuard::add(&[&format!("{bucket}.s3.localhost"), "s3.localhost"]);
    let b = format!("s3://{bucket}");
    let work = tempfile::tempdir().expect("work dir");
    let file = work.path().join("f.bin");
    write_pseudo_random(&file, 9999, 3);
    run_ok(&mut s.cmd(["mb", &b]));
    run_ok(s.cmd(["put"]).arg(&file).arg(format!("{b}/a b/ü+.bin")));
    assert_eq!(
        s.keys(&bucket, ""),
        BTreeSet::from(["a b/ü+.bin".to_string()]),
        "virtual-host listing"
    );
    let got = work.path().join("got.bin");
    run_ok(
        s.cmd(["get", "--force", &format!("{b}/a b/ü+.bin")])
            .arg(&got),
    );
    assert_same_file(&file, &got);
    let url = run_ok(&mut s.cmd(["signurl", &format!("{b}/a b/ü+.bin"), "+600"]))
        .stdout
        .trim()
        .to_string();
    assert!(
        url.starts_with(&format!("http://{bucket}.s3.localhost:{}/", gw.port)),
        "signurl is not virtual-host style: {url}"
    );
    let fetched = work.path().join("signed.bin");
    run_ok(
        Command::new(client_program("curl"))
            .args(["-sS", "-f", "-o"])
            .arg(&fetched)
            .arg(&url),
    );
    assert_same_file(&file, &fetched);
    run_ok(&mut s.cmd(["del", "--recursive", "--force", &b]));
    run_ok(&mut s.cmd(["rb", &b]));
}
