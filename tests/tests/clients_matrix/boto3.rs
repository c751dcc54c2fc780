//! boto3: runs `tests/clients/boto3_matrix.py` against a started s3gw. The
//! script prints `PASS`/`FAIL` per check and exits non-zero on any failure;
//! its output is shown when it fails.
//!
//! Two tests, each with its own gateway, so the 100 MiB transfer runs in
//! parallel with the operation checks.

use std::process::Command;

use crate::support::{
    clean_client_env, client_script, python_with_boto3, run_raw, Gateway, CLIENT_DEADLINE,
};

/// Run the script's check groups (`S3GW_CHECKS`) against a fresh gateway.
fn run_boto3(groups: &str) {
    let python = python_with_boto3(); // fail fast, before starting anything
    let gw = Gateway::start_embedded(&[]);
    let mut c = Command::new(python);
    clean_client_env(&mut c);
    c.arg(client_script("boto3_matrix.py"))
        .env("S3GW_ENDPOINT", &gw.url)
        .env("S3GW_ACCESS_KEY", &gw.access_key)
        .env("S3GW_SECRET_KEY", &gw.secret_key)
        .env("S3GW_CHECKS", groups)
        // The embedded default serves the service domain s3.localhost; the
        // script resolves <bucket>.s3.localhost itself (getaddrinfo patch).
        .env("S3GW_VHOST_DOMAIN", "s3.localhost")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("PYTHONUNBUFFERED", "1");
    let ran = run_raw(&mut c, CLIENT_DEADLINE);
    let passes = ran
        .stdout
        .lines()
        .filter(|l| l.starts_with("PASS "))
        .count();
    assert!(
        ran.status.success() && !ran.stdout.contains("\nFAIL ") && passes > 0,
        "boto3 matrix ({groups}) failed ({}):\n{}\nstderr:\n{}\ngateway log tail:\n{}",
        ran.status,
        ran.stdout,
        ran.stderr,
        tail_lines(&gw.log(), 40)
    );
}

fn tail_lines(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Every supported operation: buckets, objects (nasty and 1024-byte keys,
/// ranges, response overrides, conditional reads), conditional writes,
/// copy, listing with paginators v1/v2, delimiters, encoding, versions,
/// delete_objects, multipart (incl. UploadPartCopy, abort, errors),
/// presigned GET/PUT with urllib, a SigV2 client, auth errors, and
/// virtual-host addressing with SigV4 and SigV2.
#[test]
fn boto3_operations() {
    run_boto3("buckets,objects,conditional,copy,list,multipart,presign,sigv2,auth,vhost");
}

/// `upload_fileobj` / `download_fileobj` of 100 MiB with the default
/// transfer settings (multipart, concurrent ranged downloads), bytes
/// checked by MD5 on both sides, and `partNumber` reads.
#[test]
fn boto3_transfer_100mib() {
    run_boto3("transfer");
}
