//! aws cli (v1, from target/venv) against a started s3gw: the `s3`
//! high-level commands over the 200-file tree, `s3api` conditional writes
//! and explicit ListObjectsV2 pagination, presigned URLs fetched with curl,
//! and virtual-host addressing.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support::{
    assert_same_file, assert_same_tree, clean_client_env, client_program, make_tree, run_fails,
    run_ok, scan_tree, unique_bucket, write_pseudo_random, Gateway, HostsGuard,
};

/// The aws cli configured for one gateway: credentials in the environment,
/// a private config file (so a developer's `~/.aws` never leaks in).
pub struct Aws {
    program: PathBuf,
    endpoint: String,
    access_key: String,
    secret_key: String,
    dir: tempfile::TempDir,
}

impl Aws {
    /// Path-style (the aws cli default for a custom endpoint with a
    /// non-DNS-safe bucket or `addressing_style = path`).
    pub fn path_style(gw: &Gateway) -> Aws {
        Aws::with_config(gw, &gw.url, "path")
    }

    pub fn with_config(gw: &Gateway, endpoint: &str, addressing_style: &str) -> Aws {
        Aws::with_keys(endpoint, &gw.access_key, &gw.secret_key, addressing_style)
    }

    pub fn with_keys(endpoint: &str, access_key: &str, secret_key: &str, style: &str) -> Aws {
        let dir = tempfile::tempdir().expect("aws config dir");
        std::fs::write(
            dir.path().join("config"),
            format!("[default]\nregion = us-east-1\ns3 =\n    addressing_style = {style}\n"),
        )
        .expect("write aws config");
        Aws {
            program: client_program("aws"),
            endpoint: endpoint.to_string(),
            access_key: access_key.to_string(),
            secret_key: secret_key.to_string(),
            dir,
        }
    }

    /// Add an option to the config file's `s3` section (e.g.
    /// `signature_version = s3v4`: aws cli v1 presigns with SigV2 unless
    /// told so).
    pub fn with_s3_option(self, line: &str) -> Aws {
        let path = self.dir.path().join("config");
        let mut text = std::fs::read_to_string(&path).expect("read aws config");
        text.push_str(&format!("    {line}\n"));
        std::fs::write(&path, text).expect("write aws config");
        self
    }

    /// `aws --endpoint-url URL ARGS...` with a clean environment.
    pub fn cmd<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut c = Command::new(&self.program);
        clean_client_env(&mut c);
        c.args(["--endpoint-url", &self.endpoint])
            .args(args)
            .env("AWS_ACCESS_KEY_ID", &self.access_key)
            .env("AWS_SECRET_ACCESS_KEY", &self.secret_key)
            .env("AWS_CONFIG_FILE", self.dir.path().join("config"))
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                self.dir.path().join("credentials"),
            )
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_PAGER", "");
        c
    }

    /// Run and parse JSON output (`--output json`).
    pub fn json<I, S>(&self, args: I) -> Value
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut c = self.cmd(args);
        c.args(["--output", "json"]);
        let out = run_ok(&mut c).stdout;
        if out.trim().is_empty() {
            return Value::Null;
        }
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("aws printed non-JSON ({e}): {out}"))
    }

    /// Every object under `prefix` via `s3api list-objects-v2` (the CLI
    /// follows continuation tokens itself; `--page-size` forces several
    /// pages): key -> (size, etag without quotes).
    pub fn list_all(&self, bucket: &str, prefix: &str) -> Vec<(String, u64, String)> {
        let v = self.json([
            "s3api",
            "list-objects-v2",
            "--bucket",
            bucket,
            "--prefix",
            prefix,
            "--page-size",
            "37",
        ]);
        contents(&v)
    }
}

/// `Contents` of a ListObjectsV2 JSON answer as (key, size, etag).
fn contents(v: &Value) -> Vec<(String, u64, String)> {
    v.get("Contents")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .map(|o| {
                    (
                        o["Key"].as_str().expect("Key").to_string(),
                        o["Size"].as_u64().expect("Size"),
                        o["ETag"]
                            .as_str()
                            .expect("ETag")
                            .trim_matches('"')
                            .to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn s3url(bucket: &str, key: &str) -> String {
    format!("s3://{bucket}/{key}")
}

/// mb, cp --recursive up and down, ls, listing with pagination (CLI-driven
/// and explicit continuation tokens), ETags (MD5 for single PUTs, `-N` for
/// the multipart 64 MiB file), sync --delete both ways after local changes,
/// mv, rm --recursive, rb: over the 200-file tree with nasty names.
#[test]
fn awscli_tree_mb_cp_ls_sync_mv_rm_rb() {
    client_program("aws"); // fail fast, before starting anything
    let gw = Gateway::start_embedded(&[]);
    let aws = Aws::path_style(&gw);
    let work = tempfile::tempdir().expect("work dir");
    let src = work.path().join("src");
    let files = make_tree(&src);
    let bucket = unique_bucket("awscli-tree");

    // mb + ls
    run_ok(&mut aws.cmd(["s3", "mb", &format!("s3://{bucket}")]));
    let ls = run_ok(&mut aws.cmd(["s3", "ls"])).stdout;
    assert!(
        ls.lines().any(|l| l.ends_with(&format!(" {bucket}"))),
        "`aws s3 ls` does not list {bucket}:\n{ls}"
    );

    // cp --recursive up: every file, its size and its ETag.
    run_ok(&mut aws.cmd([
        "s3",
        "cp",
        "--recursive",
        "--only-show-errors",
        src.to_str().expect("utf-8 path"),
        &s3url(&bucket, "tree/"),
    ]));
    let listed = aws.list_all(&bucket, "tree/");
    let want: Vec<(String, u64)> = files
        .iter()
        .map(|f| (format!("tree/{}", f.rel), f.size))
        .collect();
    let got: Vec<(String, u64)> = listed.iter().map(|(k, s, _)| (k.clone(), *s)).collect();
    assert_eq!(got, want, "listing after upload differs from the tree");
    for ((key, _, etag), f) in listed.iter().zip(&files) {
        if f.size < 8 * 1024 * 1024 {
            assert_eq!(etag, &f.md5, "ETag of {key} is not its MD5");
        } else {
            // aws cli: 8 MiB parts -> 64 MiB is 8 parts.
            assert!(
                etag.ends_with("-8") && etag.len() == 34,
                "multipart ETag of {key} should be md5-of-md5s `-8`, got {etag}"
            );
        }
    }

    // Explicit pagination: max-keys 37 pages with continuation tokens.
    let mut token: Option<String> = None;
    let mut paged = Vec::new();
    let mut pages = 0;
    loop {
        let mut args = vec![
            "s3api".to_string(),
            "list-objects-v2".into(),
            "--bucket".into(),
            bucket.clone(),
            "--prefix".into(),
            "tree/".into(),
            "--max-keys".into(),
            "37".into(),
            "--no-paginate".into(),
        ];
        if let Some(t) = &token {
            args.push("--continuation-token".into());
            args.push(t.clone());
        }
        let v = aws.json(&args);
        let page = contents(&v);
        pages += 1;
        assert!(
            page.len() <= 37,
            "page {pages} has {} keys > max-keys",
            page.len()
        );
        assert_eq!(v["KeyCount"].as_u64(), Some(page.len() as u64), "KeyCount");
        paged.extend(page.into_iter().map(|(k, _, _)| k));
        if v["IsTruncated"].as_bool() == Some(true) {
            let next = v["NextContinuationToken"]
                .as_str()
                .expect("truncated page without NextContinuationToken")
                .to_string();
            token = Some(next);
        } else {
            break;
        }
        assert!(pages < 50, "pagination does not end");
    }
    assert_eq!(pages, files.len().div_ceil(37), "number of 37-key pages");
    let want_keys: Vec<String> = want.iter().map(|(k, _)| k.clone()).collect();
    assert_eq!(paged, want_keys, "paginated keys (in order, no repeats)");

    // ls --recursive names every object.
    let ls = run_ok(&mut aws.cmd(["s3", "ls", "--recursive", &s3url(&bucket, "tree/")])).stdout;
    assert_eq!(
        ls.lines().count(),
        files.len(),
        "`aws s3 ls --recursive`:\n{ls}"
    );
    assert!(
        ls.contains("tree/日本語/ファイル 名.txt"),
        "non-ASCII key in ls:\n{ls}"
    );

    // cp --recursive down: same bytes.
    let down1 = work.path().join("down1");
    run_ok(&mut aws.cmd([
        "s3",
        "cp",
        "--recursive",
        "--only-show-errors",
        &s3url(&bucket, "tree/"),
        down1.to_str().expect("utf-8"),
    ]));
    assert_same_tree(&src, &down1);

    // sync --delete after local changes: one rewritten (new size), one new,
    // one removed; then sync down into a fresh dir and compare.
    write_pseudo_random(&src.join("plus+sign.txt"), 4321, 999);
    write_pseudo_random(&src.join("new dir/new file+ü&.txt"), 1234, 998);
    std::fs::remove_file(src.join("amp&ersand.txt")).expect("remove local file");
    run_ok(&mut aws.cmd([
        "s3",
        "sync",
        "--delete",
        "--only-show-errors",
        src.to_str().expect("utf-8"),
        &s3url(&bucket, "tree/"),
    ]));
    let after: BTreeSet<String> = aws
        .list_all(&bucket, "tree/")
        .into_iter()
        .map(|(k, _, _)| k)
        .collect();
    let local: BTreeSet<String> = scan_tree(&src)
        .into_keys()
        .map(|k| format!("tree/{k}"))
        .collect();
    assert_eq!(after, local, "listing after sync --delete");
    let down2 = work.path().join("down2");
    run_ok(&mut aws.cmd([
        "s3",
        "sync",
        "--only-show-errors",
        &s3url(&bucket, "tree/"),
        down2.to_str().expect("utf-8"),
    ]));
    assert_same_tree(&src, &down2);

    // mv: the source disappears, the destination has the bytes.
    let moved_src = "tree/a b/ü+%&=c.txt";
    let moved_dst = "moved/ü+%&= c.txt";
    run_ok(&mut aws.cmd([
        "s3",
        "mv",
        &s3url(&bucket, moved_src),
        &s3url(&bucket, moved_dst),
    ]));
    let gone = run_fails(&mut aws.cmd([
        "s3api",
        "head-object",
        "--bucket",
        &bucket,
        "--key",
        moved_src,
    ]));
    assert!(
        gone.stderr.contains("404") || gone.stderr.contains("Not Found"),
        "head-object after mv should be 404:\n{}",
        gone.stderr
    );
    let fetched = work.path().join("moved.bin");
    run_ok(&mut aws.cmd([
        "s3",
        "cp",
        &s3url(&bucket, moved_dst),
        fetched.to_str().expect("utf-8"),
    ]));
    assert_same_file(&src.join("a b/ü+%&=c.txt"), &fetched);

    // rm --recursive empties the bucket; rb removes it.
    run_ok(&mut aws.cmd([
        "s3",
        "rm",
        "--recursive",
        "--only-show-errors",
        &format!("s3://{bucket}/"),
    ]));
    assert!(
        aws.list_all(&bucket, "").is_empty(),
        "bucket not empty after rm --recursive"
    );
    run_ok(&mut aws.cmd(["s3", "rb", &format!("s3://{bucket}")]));
    let ls = run_ok(&mut aws.cmd(["s3", "ls"])).stdout;
    assert!(
        !ls.lines().any(|l| l.ends_with(&format!(" {bucket}"))),
        "bucket still listed after rb:\n{ls}"
    );
}

/// `s3api put-object --if-none-match '*'` twice: the second is refused with
/// 412 PreconditionFailed and the first body stays. `s3 presign` URLs
/// (SigV4 query auth) fetched with curl return the object's bytes, also for
/// a nasty key.
#[test]
fn awscli_conditional_put_and_presign() {
    client_program("aws"); // fail fast, before starting anything
    let gw = Gateway::start_embedded(&[]);
    let aws = Aws::path_style(&gw);
    let work = tempfile::tempdir().expect("work dir");
    let bucket = unique_bucket("awscli-cond");
    run_ok(&mut aws.cmd(["s3", "mb", &format!("s3://{bucket}")]));

    let first = work.path().join("first.bin");
    let second = work.path().join("second.bin");
    write_pseudo_random(&first, 3000, 1);
    write_pseudo_random(&second, 5000, 2);
    let key = "cond/once only+ü.txt";
    let put = |body: &Path| {
        aws.cmd([
            "s3api",
            "put-object",
            "--bucket",
            &bucket,
            "--key",
            key,
            "--if-none-match",
            "*",
            "--body",
            body.to_str().expect("utf-8"),
        ])
    };
    let v: Value = serde_json::from_str(&run_ok(&mut put(&first)).stdout).expect("put-object JSON");
    assert_eq!(
        v["ETag"].as_str().map(|e| e.trim_matches('"').to_string()),
        Some(crate::support::md5_file(&first)),
        "put-object ETag"
    );
    let mut again = put(&second);
    again.arg("--debug");
    let refused = run_fails(&mut again);
    assert!(
        refused.stderr.contains("(PreconditionFailed)"),
        "second put-object --if-none-match '*' must be PreconditionFailed:\n{}",
        refused
            .stderr
            .lines()
            .rev()
            .take(5)
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        refused.stderr.contains("412"),
        "PreconditionFailed must be HTTP 412 (aws --debug shows the status)"
    );
    let got = work.path().join("got.bin");
    run_ok(&mut aws.cmd([
        "s3",
        "cp",
        &s3url(&bucket, key),
        got.to_str().expect("utf-8"),
    ]));
    assert_same_file(&first, &got);

    // presign + curl, for the nasty key and a plain one, with the aws cli
    // v1 default (SigV2 query auth) and with SigV4.
    let curl = client_program("curl");
    run_ok(&mut aws.cmd([
        "s3",
        "cp",
        second.to_str().expect("utf-8"),
        &s3url(&bucket, "plain.bin"),
    ]));
    let aws_v4 = Aws::path_style(&gw).with_s3_option("signature_version = s3v4");
    for (cli, marker) in [(&aws, "Signature="), (&aws_v4, "X-Amz-Signature=")] {
        for (k, body) in [(key, &first), ("plain.bin", &second)] {
            let url =
                run_ok(&mut cli.cmd(["s3", "presign", &s3url(&bucket, k), "--expires-in", "600"]))
                    .stdout
                    .trim()
                    .to_string();
            assert!(
                url.contains(marker),
                "presigned URL without {marker}: {url}"
            );
            let fetched = work.path().join("presigned.bin");
            run_ok(
                Command::new(&curl)
                    .args(["-sS", "-f", "-o"])
                    .arg(&fetched)
                    .arg(&url),
            );
            assert_same_file(body, &fetched);
        }
    }
    // A tampered presigned URL is refused.
    let url = run_ok(&mut aws_v4.cmd(["s3", "presign", &s3url(&bucket, "plain.bin")]))
        .stdout
        .trim()
        .replace("plain.bin", "plain.bin.x");
    let status =
        run_ok(Command::new(&curl).args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", &url]))
            .stdout;
    assert_eq!(status.trim(), "403", "tampered presigned URL must be 403");
}

/// Virtual-host addressing (`addressing_style = virtual`) through the
/// embedded default's service domain `s3.localhost`: the exact bucket
/// host names are mapped to 127.0.0.1 in /etc/hosts for the test only.
#[test]
fn awscli_virtual_host() {
    client_program("aws"); // fail fast, before starting anything
    let gw = Gateway::start_embedded(&[]);
    let bucket = unique_bucket("awscli-vhost");
    let vhost = format!("{bucket}.s3.localhost");
    let _hosts = HostsGuard::add(&[&vhost, "s3.localhost"]);
    let endpoint = format!("http://s3.localhost:{}", gw.port);
    let aws = Aws::with_config(&gw, &endpoint, "virtual");
    let work = tempfile::tempdir().expect("work dir");
    let body = work.path().join("body.bin");
    write_pseudo_random(&body, 100_000, 7);
    let key = "dir/ü x+y&%.bin";

    run_ok(&mut aws.cmd(["s3", "mb", &format!("s3://{bucket}")]));
    run_ok(&mut aws.cmd([
        "s3",
        "cp",
        body.to_str().expect("utf-8"),
        &s3url(&bucket, key),
    ]));
    let listed: Vec<String> = aws
        .list_all(&bucket, "")
        .into_iter()
        .map(|(k, _, _)| k)
        .collect();
    assert_eq!(listed, vec![key.to_string()], "virtual-host listing");

    // The requests really went to <bucket>.s3.localhost.
    let mut head = aws.cmd([
        "s3api",
        "head-object",
        "--bucket",
        &bucket,
        "--key",
        key,
        "--debug",
    ]);
    let debug = run_ok(&mut head).stderr;
    assert!(
        debug.contains(&format!("{vhost}:{}", gw.port)),
        "aws cli did not address {vhost} (virtual-host style)"
    );

    let got = work.path().join("got.bin");
    run_ok(&mut aws.cmd([
        "s3",
        "cp",
        &s3url(&bucket, key),
        got.to_str().expect("utf-8"),
    ]));
    assert_same_file(&body, &got);

    let url = run_ok(&mut aws.cmd(["s3", "presign", &s3url(&bucket, key)]))
        .stdout
        .trim()
        .to_string();
    assert!(
        url.starts_with(&format!("http://{vhost}:{}/", gw.port)),
        "presigned URL is not virtual-host style: {url}"
    );
    let fetched = work.path().join("presigned.bin");
    run_ok(
        Command::new(client_program("curl"))
            .args(["-sS", "-f", "-o"])
            .arg(&fetched)
            .arg(&url),
    );
    assert_same_file(&body, &fetched);

    run_ok(&mut aws.cmd(["s3", "rm", &s3url(&bucket, key)]));
    run_ok(&mut aws.cmd(["s3", "rb", &format!("s3://{bucket}")]));
}
