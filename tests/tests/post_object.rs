//! Browser POST uploads (PostObject, issue 12) through a real gateway in
//! front of a real buckets-lite process: forms built by boto3's
//! `generate_presigned_post` (SigV4) and by hand (SigV2), sent as plain
//! `multipart/form-data` over HTTP (raw bytes, and curl -F), objects read
//! back with aws-sdk-s3. Every refused form gets its exact S3 error and
//! writes nothing.
//!
//! Needs the binaries (`cargo build --workspace --bins`) and boto3 in
//! target/venv (scripts/test-all.sh installs it).

use std::path::PathBuf;
use std::process::{Command, Stdio};

use aws_sdk_s3::Client;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use md5::Digest as _;
use s3gw_tests::buckets_lite::BucketsLite;
use s3gw_tests::gateway::{Gateway, GatewayOptions};
use s3gw_tests::raw::{self, RawResponse};
use serde_json::{json, Value};

mod common;
use common::s3_client;

const BUCKET: &str = "uploads";

struct Env {
    s3: Client,
    gw: Gateway,
    _lite: BucketsLite,
}

async fn start() -> Env {
    let lite = BucketsLite::start();
    let gw = Gateway::start_with(&lite, GatewayOptions::default());
    let s3 = s3_client(&gw);
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    Env {
        s3,
        gw,
        _lite: lite,
    }
}

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace")
        .to_path_buf()
}

/// A python with boto3: target/venv's (scripts/test-all.sh installs it
/// there), else `python3` on PATH; a missing boto3 fails the test.
fn python() -> PathBuf {
    let venv = workspace_root().join("target/venv/bin/python");
    let python = if venv.is_file() {
        venv
    } else {
        PathBuf::from("python3")
    };
    let ok = Command::new(&python)
        .args(["-c", "import boto3"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "boto3 is needed: python3 -m venv target/venv && target/venv/bin/pip install -r \
         tests/clients/requirements.txt"
    );
    python
}

/// `generate_presigned_post` as a browser page's server would call it:
/// (url, fields).
fn presigned_post(
    gw: &Gateway,
    style: &str,
    key: &str,
    fields: Value,
    conditions: Value,
    expires: i64,
) -> (String, Vec<(String, String)>) {
    let endpoint = match style {
        "virtual" => format!("http://s3.test:{}", gw.addr.port()),
        _ => gw.url.clone(),
    };
    let args = json!({
        "endpoint": endpoint, "id": gw.key.access_key_id, "secret": gw.key.secret,
        "style": style, "bucket": BUCKET, "key": key, "fields": fields,
        "conditions": conditions, "expires": expires,
    });
    const SCRIPT: &str = r#"
import json, sys, boto3
from botocore.config import Config
a = json.loads(sys.argv[1])
s3 = boto3.client("s3", endpoint_url=a["endpoint"], aws_access_key_id=a["id"],
    aws_secret_access_key=a["secret"], region_name="us-east-1",
    config=Config(signature_version="s3v4", s3={"addressing_style": a["style"]}))
print(json.dumps(s3.generate_presigned_post(a["bucket"], a["key"], Fields=a["fields"],
    Conditions=a["conditions"], ExpiresIn=a["expires"])))
"#;
    let out = Command::new(python())
        .args(["-c", SCRIPT, &args.to_string()])
        .stdin(Stdio::null())
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "generate_presigned_post: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    let fields = v["fields"]
        .as_object()
        .expect("fields")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().expect("string").to_owned()))
        .collect();
    (v["url"].as_str().expect("url").to_owned(), fields)
}

const BOUNDARY: &str = "----s3gwFormBoundary7MA4YWxkTrZu0gW";

/// A `multipart/form-data` body: the fields, then the file part, then
/// `after` (fields after the file).
fn form_body(
    fields: &[(String, String)],
    file: Option<(&str, &str, &[u8])>,
    after: &[(&str, &str)],
) -> Vec<u8> {
    let mut b = Vec::new();
    let put = |b: &mut Vec<u8>, n: &str, v: &str| {
        b.extend_from_slice(
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{n}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    };
    for (n, v) in fields {
        put(&mut b, n, v);
    }
    if let Some((filename, ct, data)) = file {
        b.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; \
                 filename=\"{filename}\"\r\nContent-Type: {ct}\r\n\r\n"
            )
            .as_bytes(),
        );
        b.extend_from_slice(data);
        b.extend_from_slice(b"\r\n");
    }
    for (n, v) in after {
        put(&mut b, n, v);
    }
    b.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    b
}

/// POSTs `body` to the bucket: path-style, or virtual-host (`Host:
/// BUCKET.s3.test`).
fn post(gw: &Gateway, style: &str, body: &[u8]) -> RawResponse {
    let (host, target) = match style {
        "virtual" => (
            format!("{BUCKET}.s3.test:{}", gw.addr.port()),
            "/".to_owned(),
        ),
        _ => (gw.addr.to_string(), format!("/{BUCKET}")),
    };
    let mut req = format!(
        "POST {target} HTTP/1.1\r\nHost: {host}\r\nContent-Type: multipart/form-data; \
         boundary={BOUNDARY}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    raw::send(gw.addr, &req)
}

fn data(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

fn etag_of(b: &[u8]) -> String {
    format!("\"{}\"", hex::encode(md5::Md5::digest(b)))
}

/// An object as aws-sdk-s3 reads it back.
struct ReadBack {
    bytes: Vec<u8>,
    content_type: Option<String>,
    metadata: std::collections::HashMap<String, String>,
    etag: Option<String>,
}

async fn read_back(s3: &Client, key: &str) -> ReadBack {
    let out = s3
        .get_object()
        .bucket(BUCKET)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {key}: {e:?}"));
    let content_type = out.content_type().map(str::to_owned);
    let metadata = out.metadata().cloned().unwrap_or_default();
    let etag = out.e_tag().map(str::to_owned);
    let bytes = out
        .body
        .collect()
        .await
        .expect("body")
        .into_bytes()
        .to_vec();
    ReadBack {
        bytes,
        content_type,
        metadata,
        etag,
    }
}

/// The bucket holds exactly `keys`.
async fn assert_keys(s3: &Client, keys: &[&str]) {
    let out = s3
        .list_objects_v2()
        .bucket(BUCKET)
        .send()
        .await
        .expect("list");
    let mut got: Vec<String> = out
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_owned))
        .collect();
    got.sort();
    let mut want: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect();
    want.sort();
    assert_eq!(got, want);
}

fn field<'f>(fields: &'f [(String, String)], name: &str) -> &'f str {
    fields
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

fn with(fields: &[(String, String)], name: &str, value: &str) -> Vec<(String, String)> {
    let mut f: Vec<(String, String)> = fields.iter().filter(|(n, _)| n != name).cloned().collect();
    f.push((name.to_owned(), value.to_owned()));
    f
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_presigned_post_uploads_in_both_addressing_styles() {
    let env = start().await;
    for (style, key) in [("path", "path/photo.jpg"), ("virtual", "vhost/photo.jpg")] {
        let (url, fields) = presigned_post(
            &env.gw,
            style,
            key,
            json!({"Content-Type": "image/jpeg", "x-amz-meta-owner": "alice"}),
            json!([{"Content-Type": "image/jpeg"}, {"x-amz-meta-owner": "alice"},
                   ["content-length-range", 1, 1_000_000]]),
            600,
        );
        if style == "virtual" {
            assert!(
                url.starts_with(&format!("http://{BUCKET}.s3.test:")),
                "{url}"
            );
        }
        let bytes = data(200_000);
        let resp = post(
            &env.gw,
            style,
            &form_body(&fields, Some(("p.jpg", "image/jpeg", &bytes)), &[]),
        );
        assert_eq!(resp.status, 204, "{style}: {}", resp.text());
        assert_eq!(resp.header("etag"), Some(etag_of(&bytes).as_str()));
        let got = read_back(&env.s3, key).await;
        assert_eq!(got.bytes, bytes, "{style}: the bytes");
        assert_eq!(got.content_type.as_deref(), Some("image/jpeg"));
        assert_eq!(got.metadata.get("owner").map(String::as_str), Some("alice"));
        assert_eq!(got.etag, Some(etag_of(&bytes)));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filename_substitution_status_201_and_redirect_303() {
    let env = start().await;
    // `${filename}`: boto3 turns the key into a starts-with condition.
    let (_, fields) = presigned_post(
        &env.gw,
        "path",
        "user/eric/${filename}",
        json!({"success_action_status": "201"}),
        json!([{"success_action_status": "201"}]),
        600,
    );
    let bytes = b"hello, form".to_vec();
    let resp = post(
        &env.gw,
        "path",
        &form_body(&fields, Some(("notes.txt", "text/plain", &bytes)), &[]),
    );
    assert_eq!(resp.status, 201, "{}", resp.text());
    let t = resp.text();
    assert!(t.contains("<PostResponse>"), "{t}");
    assert!(t.contains(&format!("<Bucket>{BUCKET}</Bucket>")), "{t}");
    assert!(t.contains("<Key>user/eric/notes.txt</Key>"), "{t}");
    assert!(
        t.contains(&format!(
            "<ETag>{}</ETag>",
            etag_of(&bytes).replace('"', "&quot;")
        )) || t.contains(&format!("<ETag>{}</ETag>", etag_of(&bytes))),
        "{t}"
    );
    assert!(t.contains("<Location>"), "{t}");
    assert_eq!(read_back(&env.s3, "user/eric/notes.txt").await.bytes, bytes);

    // 200: empty answer.
    let (_, fields) = presigned_post(
        &env.gw,
        "path",
        "status200",
        json!({"success_action_status": "200"}),
        json!([{"success_action_status": "200"}]),
        600,
    );
    let resp = post(
        &env.gw,
        "path",
        &form_body(&fields, Some(("a", "text/plain", b"x")), &[]),
    );
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert!(resp.body.is_empty());

    // Redirect: 303 to the page with bucket, key and etag in the query.
    let (_, fields) = presigned_post(
        &env.gw,
        "path",
        "redirected",
        json!({"success_action_redirect": "https://app.example/done?x=1"}),
        json!([{"success_action_redirect": "https://app.example/done?x=1"}]),
        600,
    );
    let resp = post(
        &env.gw,
        "path",
        &form_body(&fields, Some(("a", "text/plain", b"yz")), &[]),
    );
    assert_eq!(resp.status, 303, "{}", resp.text());
    let etag = etag_of(b"yz");
    let expected = format!(
        "https://app.example/done?x=1&bucket={BUCKET}&key=redirected&etag={}",
        raw::uri_encode(&etag)
    );
    assert_eq!(resp.header("location"), Some(expected.as_str()));
    assert_eq!(read_back(&env.s3, "redirected").await.bytes, b"yz");

    // Fields after the file are ignored (not even checked by the policy).
    let (_, fields) = presigned_post(&env.gw, "path", "after", json!({}), json!([]), 600);
    let resp = post(
        &env.gw,
        "path",
        &form_body(
            &fields,
            Some(("a", "text/plain", b"1")),
            &[("submit", "Upload")],
        ),
    );
    assert_eq!(resp.status, 204, "{}", resp.text());
    assert_eq!(read_back(&env.s3, "after").await.bytes, b"1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_form_upload() {
    let env = start().await;
    let (url, fields) = presigned_post(
        &env.gw,
        "path",
        "curl/${filename}",
        json!({"Content-Type": "text/plain"}),
        json!([["starts-with", "$Content-Type", "text/"]]),
        600,
    );
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("report.txt");
    std::fs::write(&file, b"sent by curl -F").expect("file");
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "-o", "/dev/null", "-w", "%{http_code}"]);
    for (n, v) in &fields {
        // --form-string: values are literal (no @file / <file reading).
        cmd.arg("--form-string").arg(format!("{n}={v}"));
    }
    cmd.arg("-F")
        .arg(format!("file=@{}", file.display()))
        .arg(&url);
    let out = cmd.output().expect("curl runs");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "204",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = read_back(&env.s3, "curl/report.txt").await;
    assert_eq!(got.bytes, b"sent by curl -F");
    assert_eq!(got.content_type.as_deref(), Some("text/plain"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigv2_form_upload_and_bad_signature() {
    let env = start().await;
    let policy = json!({
        "expiration": "2099-01-01T00:00:00.000Z",
        "conditions": [{"bucket": BUCKET}, ["starts-with", "$key", "v2/"],
                       {"acl": "private"}, ["content-length-range", 0, 100]],
    });
    let policy_b64 = base64::engine::general_purpose::STANDARD.encode(policy.to_string());
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(env.gw.key.secret.as_bytes()).unwrap();
    mac.update(policy_b64.as_bytes());
    let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    let fields: Vec<(String, String)> = [
        ("key", "v2/object"),
        ("acl", "private"),
        ("AWSAccessKeyId", env.gw.key.access_key_id.as_str()),
        ("policy", policy_b64.as_str()),
        ("signature", sig.as_str()),
    ]
    .iter()
    .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
    .collect();
    let resp = post(
        &env.gw,
        "path",
        &form_body(&fields, Some(("f", "text/plain", b"v2 data")), &[]),
    );
    assert_eq!(resp.status, 204, "{}", resp.text());
    assert_eq!(read_back(&env.s3, "v2/object").await.bytes, b"v2 data");

    // A signature over another policy: SignatureDoesNotMatch, nothing written.
    let bad = with(
        &with(&fields, "key", "v2/bad"),
        "signature",
        "AAAAAAAAAAAAAAAAAAAAAAAAAAA=",
    );
    post(
        &env.gw,
        "path",
        &form_body(&bad, Some(("f", "text/plain", b"x")), &[]),
    )
    .assert_s3_error(403, "SignatureDoesNotMatch");
    // An unknown key id: InvalidAccessKeyId.
    let unknown = with(
        &with(&fields, "key", "v2/unknown"),
        "AWSAccessKeyId",
        "AKIANOSUCHKEY0000000",
    );
    post(
        &env.gw,
        "path",
        &form_body(&unknown, Some(("f", "text/plain", b"x")), &[]),
    )
    .assert_s3_error(403, "InvalidAccessKeyId");
    assert_keys(&env.s3, &["v2/object"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_refused_form_has_its_s3_error_and_writes_nothing() {
    let env = start().await;
    let gw = &env.gw;
    let file = Some(("f.txt", "text/plain", &b"0123456789"[..]));
    let ok_form = |key: &str, extra_cond: Value| {
        let mut conds = vec![json!(["content-length-range", 5, 50])];
        conds.extend(extra_cond.as_array().cloned().unwrap_or_default());
        presigned_post(gw, "path", key, json!({}), Value::Array(conds), 600).1
    };
    let message = |r: &RawResponse| {
        let t = r.text();
        t.split("<Message>")
            .nth(1)
            .and_then(|s| s.split("</Message>").next())
            .unwrap_or("")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&")
    };

    // Expired policy.
    let (_, expired) = presigned_post(gw, "path", "expired", json!({}), json!([]), -60);
    let r = post(gw, "path", &form_body(&expired, file, &[]));
    r.assert_s3_error(403, "AccessDenied");
    assert_eq!(message(&r), "Invalid according to Policy: Policy expired.");

    // Wrong bucket: the policy names another one.
    let wrong = ok_form("wrongbucket", json!([{"bucket": "someone-else"}]));
    let r = post(gw, "path", &form_body(&wrong, file, &[]));
    r.assert_s3_error(403, "AccessDenied");
    assert_eq!(
        message(&r),
        "Invalid according to Policy: Policy Condition failed: [\"eq\", \"$bucket\", \"someone-else\"]"
    );

    // Key outside its starts-with.
    let (_, prefixed) = presigned_post(gw, "path", "user/a/${filename}", json!({}), json!([]), 600);
    let r = post(
        gw,
        "path",
        &form_body(&with(&prefixed, "key", "admin/x"), file, &[]),
    );
    r.assert_s3_error(403, "AccessDenied");
    assert!(message(&r).starts_with("Invalid according to Policy: Policy Condition failed: [\"starts-with\", \"$key\", \"user/a/\"]"), "{}", message(&r));

    // A field no condition covers.
    let plain = ok_form("uncovered", json!([]));
    let r = post(
        gw,
        "path",
        &form_body(&with(&plain, "x-amz-meta-sneaky", "1"), file, &[]),
    );
    r.assert_s3_error(403, "AccessDenied");
    assert_eq!(
        message(&r),
        "Invalid according to Policy: Extra input fields: x-amz-meta-sneaky"
    );

    // Too large and too small for content-length-range [5, 50].
    let big = data(5000);
    let r = post(
        gw,
        "path",
        &form_body(
            &ok_form("toolarge", json!([])),
            Some(("f", "text/plain", &big)),
            &[],
        ),
    );
    r.assert_s3_error(400, "EntityTooLarge");
    let r = post(
        gw,
        "path",
        &form_body(
            &ok_form("toosmall", json!([])),
            Some(("f", "text/plain", b"abc")),
            &[],
        ),
    );
    r.assert_s3_error(400, "EntityTooSmall");
    assert!(
        r.text().contains("<MinSizeAllowed>5</MinSizeAllowed>"),
        "{}",
        r.text()
    );

    // Bad signature.
    let forged = with(
        &ok_form("forged", json!([])),
        "x-amz-signature",
        &"0".repeat(64),
    );
    post(gw, "path", &form_body(&forged, file, &[])).assert_s3_error(403, "SignatureDoesNotMatch");

    // A tampered policy (signature of the original).
    let tampered_policy = {
        let f = ok_form("tampered", json!([]));
        let p = base64::engine::general_purpose::STANDARD
            .decode(field(&f, "policy"))
            .unwrap();
        let p = String::from_utf8(p).unwrap().replace("50]", "5000000]");
        with(
            &f,
            "policy",
            &base64::engine::general_purpose::STANDARD.encode(p),
        )
    };
    post(gw, "path", &form_body(&tampered_policy, file, &[]))
        .assert_s3_error(403, "SignatureDoesNotMatch");

    // No file part.
    let r = post(
        gw,
        "path",
        &form_body(&ok_form("nofile", json!([])), None, &[]),
    );
    r.assert_s3_error(400, "InvalidArgument");
    assert_eq!(
        message(&r),
        "POST requires exactly one file upload per request."
    );

    // No key field.
    let nokey: Vec<(String, String)> = ok_form("nokey", json!([]))
        .into_iter()
        .filter(|(n, _)| n != "key")
        .collect();
    post(gw, "path", &form_body(&nokey, file, &[])).assert_s3_error(400, "InvalidArgument");

    // A form cut short after the file: never committed.
    let mut cut = form_body(&ok_form("truncated", json!([])), file, &[]);
    cut.truncate(cut.len() - format!("--{BOUNDARY}--\r\n").len());
    cut.extend_from_slice(
        format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\npartial")
            .as_bytes(),
    );
    let r = post(gw, "path", &cut);
    assert_eq!(r.status, 400, "{}", r.text());

    // Not a form at all.
    let req = format!(
        "POST /{BUCKET} HTTP/1.1\r\nHost: {}\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi",
        gw.addr
    )
    .into_bytes();
    raw::send(gw.addr, &req).assert_s3_error(412, "PreconditionFailed");

    // Fields before the file beyond S3's 20 KiB.
    let huge = with(
        &ok_form("huge", json!([])),
        "x-ignore-padding",
        &"p".repeat(21 << 10),
    );
    post(gw, "path", &form_body(&huge, file, &[]))
        .assert_s3_error(400, "MaxPostPreDataLengthExceededError");

    // Anonymous (no signature) into a private bucket.
    let anon: Vec<(String, String)> = vec![("key".into(), "anonymous".into())];
    post(gw, "path", &form_body(&anon, file, &[])).assert_s3_error(403, "AccessDenied");

    // Nothing of the above was written.
    assert_keys(&env.s3, &[]).await;
    // ...while the same form within its range is accepted.
    let r = post(
        gw,
        "path",
        &form_body(&ok_form("fits", json!([])), file, &[]),
    );
    assert_eq!(r.status, 204, "{}", r.text());
    assert_keys(&env.s3, &["fits"]).await;
}

/// Sends a POST whose body is written by another thread (errors ignored:
/// the gateway may answer and close before reading it all) and reads the
/// answer.
fn post_racing(gw: &Gateway, body: Vec<u8>) -> RawResponse {
    use std::io::Write as _;
    let head = format!(
        "POST /{BUCKET} HTTP/1.1\r\nHost: {}\r\nContent-Type: multipart/form-data; \
         boundary={BOUNDARY}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        gw.addr,
        body.len()
    );
    let mut s = raw::connect(gw.addr);
    let mut w = s.try_clone().expect("clone");
    let writer = std::thread::spawn(move || {
        let _ = w.write_all(head.as_bytes());
        let _ = w.write_all(&body);
    });
    let resp = raw::read_response(&mut s).expect("an answer");
    drop(s);
    let _ = writer.join();
    resp
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_files_and_endless_part_headers_are_refused_while_streaming() {
    let env = start().await;
    // 8 MiB against content-length-range [0, 1 MiB]: refused once the
    // range is exceeded, nothing committed.
    let (_, fields) = presigned_post(
        &env.gw,
        "path",
        "big",
        json!({}),
        json!([["content-length-range", 0, 1 << 20]]),
        600,
    );
    let big = data(8 << 20);
    let r = post_racing(
        &env.gw,
        form_body(&fields, Some(("f", "application/octet-stream", &big)), &[]),
    );
    r.assert_s3_error(400, "EntityTooLarge");
    // A part header that never ends (multer would buffer it whole): the
    // form is refused after a bounded read.
    let mut endless =
        format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"key\"\r\nX-Pad: ")
            .into_bytes();
    endless.extend(std::iter::repeat_n(b'a', 4 << 20));
    let r = post_racing(&env.gw, endless);
    r.assert_s3_error(400, "MaxPostPreDataLengthExceededError");
    assert_keys(&env.s3, &[]).await;
}
