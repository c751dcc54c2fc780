//! CORS through the gateway in front of a real buckets-lite process (issue
//! 12): PutBucketCors / GetBucketCors / DeleteBucketCors with aws-sdk-s3
//! and boto3, S3's validation errors, preflights (`OPTIONS`, unsigned, both
//! addressing styles) allowed and refused, the CORS headers on actual
//! requests (answers and errors), and a REAL headless Chromium
//! (`chromium-headless-shell`) whose page on one loopback origin makes a
//! preflighted PUT and a GET against the gateway on another, allowed or
//! blocked as the rules say.
//!
//! Needs the binaries: `cargo build --workspace --bins` first.

use std::process::Command;
use std::time::Duration;

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::types::{CorsConfiguration, CorsRule};
use aws_sdk_s3::Client;
use base64::Engine as _;
use md5::Digest as _;
use s3gw_tests::browser::{dump_dom, PageServer};
use s3gw_tests::buckets_lite::BucketsLite;
use s3gw_tests::gateway::{Gateway, GatewayOptions};
use s3gw_tests::procs::wait_until;
use s3gw_tests::raw::{self, RawResponse, RawSigner};

mod common;
use common::{failure, s3_client};

const APP: &str = "http://app.example";

struct Env {
    s3: Client,
    gw: Gateway,
    _lite: BucketsLite,
}

async fn start(buckets: &[&str]) -> Env {
    let lite = BucketsLite::start();
    let gw = Gateway::start_with(&lite, GatewayOptions::default());
    let s3 = s3_client(&gw);
    for b in buckets {
        s3.create_bucket().bucket(*b).send().await.unwrap();
    }
    Env {
        s3,
        gw,
        _lite: lite,
    }
}

fn rule(
    origins: &[&str],
    methods: &[&str],
    headers: &[&str],
) -> aws_sdk_s3::types::builders::CorsRuleBuilder {
    let mut b = CorsRule::builder();
    for o in origins {
        b = b.allowed_origins(*o);
    }
    for m in methods {
        b = b.allowed_methods(*m);
    }
    for h in headers {
        b = b.allowed_headers(*h);
    }
    b
}

async fn put_rules(s3: &Client, bucket: &str, rules: Vec<CorsRule>) -> Result<(), (u16, String)> {
    let conf = CorsConfiguration::builder()
        .set_cors_rules(Some(rules))
        .build()
        .unwrap();
    s3.put_bucket_cors()
        .bucket(bucket)
        .cors_configuration(conf)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| failure(&e))
}

/// An unsigned request (a preflight, as a browser sends it) on the wire,
/// path-style (`vhost: false`) or virtual-host style under `s3.test`.
fn unsigned(
    gw: &Gateway,
    method: &str,
    bucket: &str,
    key: &str,
    vhost: bool,
    headers: &[(&str, &str)],
) -> RawResponse {
    let signer = RawSigner::new(gw);
    let (host, target) = if vhost {
        (signer.host(Some(bucket)), format!("/{key}"))
    } else {
        (
            signer.host(None),
            if key.is_empty() {
                format!("/{bucket}")
            } else {
                format!("/{bucket}/{key}")
            },
        )
    };
    let mut hs = vec![("host".to_owned(), host)];
    hs.extend(headers.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let r = raw::RawRequest {
        method: method.into(),
        target,
        headers: hs,
        body: Vec::new(),
    };
    raw::send(gw.addr, &r.to_bytes())
}

fn preflight(
    gw: &Gateway,
    bucket: &str,
    key: &str,
    vhost: bool,
    origin: &str,
    method: &str,
    req_headers: Option<&str>,
) -> RawResponse {
    let mut h = vec![
        ("origin", origin),
        ("access-control-request-method", method),
    ];
    if let Some(v) = req_headers {
        h.push(("access-control-request-headers", v));
    }
    unsigned(gw, "OPTIONS", bucket, key, vhost, &h)
}

fn md5_b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(b))
}

fn cors_xml(rules: &str) -> String {
    format!(
        "<CORSConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">{rules}</CORSConfiguration>"
    )
}

// ---------------------------------------------------------------- operations

/// Put, get (every field back as stored), replace and delete a CORS
/// configuration with aws-sdk-s3; S3's answers for a bucket without one
/// and for a missing bucket.
#[tokio::test]
async fn cors_configuration_round_trips_with_aws_sdk() {
    let env = start(&["corsops"]).await;
    let s3 = &env.s3;
    let e = s3
        .get_bucket_cors()
        .bucket("corsops")
        .send()
        .await
        .unwrap_err();
    assert_eq!(failure(&e), (404, "NoSuchCORSConfiguration".into()));

    let first = rule(&["http://*.example.com"], &["PUT", "GET"], &["*"])
        .id("uploads")
        .expose_headers("ETag")
        .expose_headers("x-amz-request-id")
        .max_age_seconds(3000)
        .build()
        .unwrap();
    let second = rule(&["*"], &["GET"], &[]).build().unwrap();
    put_rules(s3, "corsops", vec![first.clone(), second.clone()])
        .await
        .unwrap();
    let got = s3.get_bucket_cors().bucket("corsops").send().await.unwrap();
    assert_eq!(got.cors_rules(), &[first, second.clone()]);

    // A put replaces the whole configuration.
    put_rules(s3, "corsops", vec![second.clone()])
        .await
        .unwrap();
    let got = s3.get_bucket_cors().bucket("corsops").send().await.unwrap();
    assert_eq!(got.cors_rules(), &[second]);

    s3.delete_bucket_cors()
        .bucket("corsops")
        .send()
        .await
        .unwrap();
    let e = s3
        .get_bucket_cors()
        .bucket("corsops")
        .send()
        .await
        .unwrap_err();
    assert_eq!(failure(&e), (404, "NoSuchCORSConfiguration".into()));
    // Deleting what is not there succeeds, as in S3.
    s3.delete_bucket_cors()
        .bucket("corsops")
        .send()
        .await
        .unwrap();

    let e = s3
        .get_bucket_cors()
        .bucket("nosuchbucket")
        .send()
        .await
        .unwrap_err();
    assert_eq!(failure(&e), (404, "NoSuchBucket".into()));
    let e = put_rules(
        s3,
        "nosuchbucket",
        vec![rule(&["*"], &["GET"], &[]).build().unwrap()],
    )
    .await
    .unwrap_err();
    assert_eq!(e, (404, "NoSuchBucket".into()));
    // The rules live in the bucket's hidden record: never listed.
    let l = s3.list_objects_v2().bucket("corsops").send().await.unwrap();
    assert_eq!(l.key_count(), Some(0));
}

/// The same operations with boto3 (its own XML, its own Content-MD5 or
/// checksum), the rules read back field by field.
#[test]
fn cors_configuration_with_boto3() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let env = rt.block_on(start(&["corsboto"]));
    let script = r#"
import os, boto3, botocore
s3 = boto3.client("s3", endpoint_url=os.environ["EP"], region_name="us-east-1",
    aws_access_key_id=os.environ["AK"], aws_secret_access_key=os.environ["SK"],
    config=botocore.config.Config(s3={"addressing_style": "path"}))
rules = [{"ID": "web", "AllowedOrigins": ["http://app.example"], "AllowedMethods": ["GET", "PUT", "DELETE"],
          "AllowedHeaders": ["x-amz-*", "content-type"], "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 60},
         {"AllowedOrigins": ["*"], "AllowedMethods": ["HEAD"]}]
s3.put_bucket_cors(Bucket="corsboto", CORSConfiguration={"CORSRules": rules})
got = s3.get_bucket_cors(Bucket="corsboto")["CORSRules"]
assert got == rules, got
try:
    s3.put_bucket_cors(Bucket="corsboto", CORSConfiguration={"CORSRules": [
        {"AllowedOrigins": ["*"], "AllowedMethods": ["TRACE"]}]})
    raise SystemExit("TRACE accepted")
except botocore.exceptions.ClientError as e:
    assert e.response["Error"]["Code"] == "InvalidRequest", e.response
    assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 400
assert s3.get_bucket_cors(Bucket="corsboto")["CORSRules"] == rules
s3.delete_bucket_cors(Bucket="corsboto")
try:
    s3.get_bucket_cors(Bucket="corsboto")
    raise SystemExit("still configured")
except botocore.exceptions.ClientError as e:
    assert e.response["Error"]["Code"] == "NoSuchCORSConfiguration", e.response
print("boto3 cors ok")
"#;
    let out = Command::new(python())
        .arg("-c")
        .arg(script)
        .env("EP", &env.gw.url)
        .env("AK", &env.gw.key.access_key_id)
        .env("SK", &env.gw.key.secret)
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .expect("python3 with boto3 (tests/clients/requirements.txt)");
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("boto3 cors ok"),
        "boto3 script failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The test venv's python (with boto3), else `python3` on PATH.
fn python() -> std::path::PathBuf {
    let venv = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/venv/bin/python3");
    if venv.is_file() {
        venv
    } else {
        "python3".into()
    }
}

/// S3's validation (AWS API reference, PutBucketCors), and nothing stored
/// by a refused request.
#[tokio::test]
async fn put_bucket_cors_refuses_what_s3_refuses() {
    let env = start(&["corsbad"]).await;
    let s3 = &env.s3;
    let bad = |r: aws_sdk_s3::types::builders::CorsRuleBuilder| vec![r.build().unwrap()];
    let cases: Vec<(&str, Vec<CorsRule>, (u16, &str))> = vec![
        (
            "PATCH method",
            bad(rule(&["*"], &["PATCH"], &[])),
            (400, "InvalidRequest"),
        ),
        (
            "lower-case method",
            bad(rule(&["*"], &["get"], &[])),
            (400, "InvalidRequest"),
        ),
        (
            "two wildcards in an origin",
            bad(rule(&["http://*.*.example"], &["GET"], &[])),
            (400, "InvalidRequest"),
        ),
        (
            "two wildcards in a header",
            bad(rule(&["*"], &["GET"], &["x-*-*"])),
            (400, "InvalidRequest"),
        ),
        (
            "wildcard ExposeHeader",
            bad(rule(&["*"], &["GET"], &[]).expose_headers("*")),
            (400, "InvalidRequest"),
        ),
        (
            "ID longer than 255",
            bad(rule(&["*"], &["GET"], &[]).id("i".repeat(256))),
            (400, "InvalidArgument"),
        ),
        (
            "101 rules",
            (0..101)
                .map(|_| rule(&["*"], &["GET"], &[]).build().unwrap())
                .collect(),
            (400, "MalformedXML"),
        ),
    ];
    for (what, rules, want) in cases {
        let got = put_rules(s3, "corsbad", rules).await.unwrap_err();
        assert_eq!((got.0, got.1.as_str()), want, "{what}");
    }
    // 100 rules are fine.
    put_rules(
        s3,
        "corsbad",
        (0..100)
            .map(|_| rule(&["*"], &["GET"], &[]).build().unwrap())
            .collect(),
    )
    .await
    .unwrap();
    s3.delete_bucket_cors()
        .bucket("corsbad")
        .send()
        .await
        .unwrap();

    // Raw documents: no rule, a rule without an origin, a non-integer max
    // age, not XML, and no integrity header at all.
    let signer = RawSigner::new(&env.gw);
    let host = signer.host(None);
    let send = |body: &str, md5: bool| {
        let mut h = vec![("content-type", "application/xml")];
        let digest = md5_b64(body.as_bytes());
        if md5 {
            h.push(("content-md5", digest.as_str()));
        }
        signer.send(&signer.v4(
            "PUT",
            &host,
            "/corsbad",
            &[("cors", "")],
            &h,
            body.as_bytes(),
        ))
    };
    let one =
        "<CORSRule><AllowedMethod>GET</AllowedMethod><AllowedOrigin>*</AllowedOrigin></CORSRule>";
    send(&cors_xml(""), true).assert_s3_error(400, "MalformedXML");
    send(
        &cors_xml("<CORSRule><AllowedMethod>GET</AllowedMethod></CORSRule>"),
        true,
    )
    .assert_s3_error(400, "MalformedXML");
    send(
        &cors_xml("<CORSRule><AllowedMethod>GET</AllowedMethod><AllowedOrigin>*</AllowedOrigin><MaxAgeSeconds>soon</MaxAgeSeconds></CORSRule>"),
        true,
    )
    .assert_s3_error(400, "MalformedXML");
    send("not xml", true).assert_s3_error(400, "MalformedXML");
    let r = send(&cors_xml(one), false);
    r.assert_s3_error(400, "InvalidRequest");
    assert!(r.text().contains("Content-MD5"), "{}", r.text());
    // A wrong Content-MD5 is BadDigest.
    let body = cors_xml(one);
    let wrong = md5_b64(b"something else");
    let r = signer.send(&signer.v4(
        "PUT",
        &host,
        "/corsbad",
        &[("cors", "")],
        &[("content-md5", &wrong)],
        body.as_bytes(),
    ));
    r.assert_s3_error(400, "BadDigest");
    // Nothing was stored by any of them.
    let e = s3
        .get_bucket_cors()
        .bucket("corsbad")
        .send()
        .await
        .unwrap_err();
    assert_eq!(failure(&e), (404, "NoSuchCORSConfiguration".into()));
    // The raw form that passes, for contrast.
    let r = send(&cors_xml(one), true);
    assert_eq!(r.status, 200, "{}", r.text());
}

// ---------------------------------------------------------------- preflight

/// Unsigned preflights on bucket and object paths, path-style and
/// virtual-host, answered from the first matching rule: its headers on a
/// match, 403 AccessForbidden otherwise, 400 BadRequest without Origin or
/// Access-Control-Request-Method; and no longer allowed once the rules are
/// deleted.
#[tokio::test]
async fn preflight_answers_from_the_rules() {
    let env = start(&["corspre", "corsnone"]).await;
    let gw = &env.gw;
    put_rules(
        &env.s3,
        "corspre",
        vec![
            rule(&[APP], &["PUT", "POST"], &["content-type", "x-amz-*"])
                .expose_headers("ETag")
                .max_age_seconds(600)
                .build()
                .unwrap(),
            rule(&["*"], &["GET", "HEAD"], &[]).build().unwrap(),
        ],
    )
    .await
    .unwrap();

    for vhost in [false, true] {
        for key in ["", "photos/cat.jpg"] {
            let at = format!("vhost={vhost} key={key:?}");
            let r = preflight(
                gw,
                "corspre",
                key,
                vhost,
                APP,
                "PUT",
                Some("Content-Type, X-Amz-Date"),
            );
            assert_eq!(r.status, 200, "{at}: {}", r.text());
            assert_eq!(r.header("access-control-allow-origin"), Some(APP), "{at}");
            assert_eq!(
                r.header("access-control-allow-methods"),
                Some("PUT, POST"),
                "{at}"
            );
            assert_eq!(
                r.header("access-control-allow-headers"),
                Some("content-type, x-amz-date"),
                "{at}"
            );
            assert_eq!(
                r.header("access-control-expose-headers"),
                Some("ETag"),
                "{at}"
            );
            assert_eq!(r.header("access-control-max-age"), Some("600"), "{at}");
            assert_eq!(
                r.header("access-control-allow-credentials"),
                Some("true"),
                "{at}"
            );
            assert_eq!(
                r.header("vary"),
                Some("Origin, Access-Control-Request-Headers, Access-Control-Request-Method"),
                "{at}"
            );
            assert!(r.header("x-amz-request-id").is_some(), "{at}");

            // The second rule: any origin may GET, without headers.
            let r = preflight(
                gw,
                "corspre",
                key,
                vhost,
                "http://other.example",
                "GET",
                None,
            );
            assert_eq!(r.status, 200, "{at}: {}", r.text());
            assert_eq!(r.header("access-control-allow-origin"), Some("*"), "{at}");
            assert_eq!(r.header("access-control-allow-credentials"), None, "{at}");
            assert_eq!(r.header("access-control-allow-headers"), None, "{at}");

            // Refused: another origin for PUT, a header no rule allows,
            // a method no rule allows.
            for (origin, method, hs) in [
                ("http://other.example", "PUT", None),
                (APP, "PUT", Some("x-custom")),
                (APP, "DELETE", None),
                ("http://other.example", "GET", Some("x-amz-date")),
            ] {
                let r = preflight(gw, "corspre", key, vhost, origin, method, hs);
                r.assert_s3_error(403, "AccessForbidden");
                assert!(
                    r.text()
                        .contains("CORSResponse: This CORS request is not allowed"),
                    "{at}: {}",
                    r.text()
                );
                assert_eq!(r.header("access-control-allow-origin"), None, "{at}");
            }
        }
    }

    // A browser sends the preflight to the URL of the request it
    // prepares: a presigned one, whose signature is not the OPTIONS's. It
    // is answered from the rules, never authenticated.
    let signer = RawSigner::new(gw);
    let presigned_target = format!(
        "/corspre/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={}%2F20260101%2Fus-east-1%2Fs3%2Faws4_request\
         &X-Amz-Date=20260101T000000Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host&X-Amz-Signature={}",
        gw.key.access_key_id,
        "0".repeat(64)
    );
    let r = raw::RawRequest {
        method: "OPTIONS".into(),
        target: presigned_target,
        headers: vec![
            ("host".into(), signer.host(None)),
            ("origin".into(), APP.into()),
            ("access-control-request-method".into(), "PUT".into()),
            (
                "access-control-request-headers".into(),
                "content-type".into(),
            ),
        ],
        body: Vec::new(),
    };
    let r = raw::send(gw.addr, &r.to_bytes());
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("access-control-allow-origin"), Some(APP));

    // Missing headers: 400 BadRequest, as S3 answers.
    let r = unsigned(
        gw,
        "OPTIONS",
        "corspre",
        "k",
        false,
        &[("access-control-request-method", "GET")],
    );
    r.assert_s3_error(400, "BadRequest");
    assert!(
        r.text().contains("Origin request header needed"),
        "{}",
        r.text()
    );
    let r = unsigned(gw, "OPTIONS", "corspre", "k", false, &[("origin", APP)]);
    r.assert_s3_error(400, "BadRequest");
    assert!(
        r.text().contains("Access-Control-Request-Method"),
        "{}",
        r.text()
    );
    let r = preflight(gw, "corspre", "k", false, APP, "PATCH", None);
    r.assert_s3_error(400, "BadRequest");

    // A bucket without rules, and a bucket that does not exist.
    preflight(gw, "corsnone", "k", false, APP, "GET", None).assert_s3_error(403, "AccessForbidden");
    preflight(gw, "corsmissing", "k", false, APP, "GET", None)
        .assert_s3_error(403, "AccessForbidden");

    // Rules deleted: preflights are refused again (same instance: at once).
    env.s3
        .delete_bucket_cors()
        .bucket("corspre")
        .send()
        .await
        .unwrap();
    let r = preflight(
        gw,
        "corspre",
        "k",
        false,
        "http://other.example",
        "GET",
        None,
    );
    r.assert_s3_error(403, "AccessForbidden");
}

// ---------------------------------------------------------------- actual requests

/// Actual (signed) requests with an Origin get the first matching rule's
/// headers, on success and on an error answer alike; a request whose origin
/// or method no rule allows, or without Origin, gets none.
#[tokio::test]
async fn actual_requests_carry_the_matching_rules_headers() {
    let env = start(&["corsact"]).await;
    env.s3
        .put_object()
        .bucket("corsact")
        .key("hello.txt")
        .body(b"hello".to_vec().into())
        .send()
        .await
        .unwrap();
    put_rules(
        &env.s3,
        "corsact",
        vec![
            rule(&["http://*.example"], &["GET", "HEAD"], &[])
                .expose_headers("ETag")
                .expose_headers("Content-Length")
                .max_age_seconds(60)
                .build()
                .unwrap(),
            rule(&["*"], &["PUT"], &[]).build().unwrap(),
        ],
    )
    .await
    .unwrap();
    let signer = RawSigner::new(&env.gw);
    let get = |path: &str, method: &str, origin: Option<&str>, vhost: bool| {
        let host = signer.host(vhost.then_some("corsact"));
        let target = if vhost {
            path.to_owned()
        } else {
            format!("/corsact{path}")
        };
        let mut req = signer.v4(method, &host, &target, &[], &[], b"");
        if let Some(o) = origin {
            req.set_header("origin", o);
        }
        signer.send(&req)
    };
    for vhost in [false, true] {
        let r = get("/hello.txt", "GET", Some(APP), vhost);
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.text(), "hello");
        assert_eq!(r.header("access-control-allow-origin"), Some(APP));
        assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
        assert_eq!(r.header("access-control-allow-methods"), Some("GET, HEAD"));
        assert_eq!(
            r.header("access-control-expose-headers"),
            Some("ETag, Content-Length")
        );
        assert_eq!(r.header("access-control-max-age"), Some("60"));
        assert!(r.header("vary").is_some_and(|v| v.starts_with("Origin")));

        let r = get("/hello.txt", "HEAD", Some("http://b.example"), vhost);
        assert_eq!(r.status, 200);
        assert_eq!(
            r.header("access-control-allow-origin"),
            Some("http://b.example")
        );

        // An error answer carries them too (a page can read the 404).
        let r = get("/missing.txt", "GET", Some(APP), vhost);
        r.assert_s3_error(404, "NoSuchKey");
        assert_eq!(r.header("access-control-allow-origin"), Some(APP));
        let r = get("/missing.txt", "HEAD", Some(APP), vhost);
        assert_eq!(r.status, 404);
        assert_eq!(r.header("access-control-allow-origin"), Some(APP));

        // No rule for this origin and method, or no Origin: nothing.
        let r = get("/hello.txt", "GET", Some("http://evil.test"), vhost);
        assert_eq!(r.status, 200);
        assert_eq!(r.header("access-control-allow-origin"), None);
        assert_eq!(r.header("vary"), None);
        let r = get("/hello.txt", "GET", None, vhost);
        assert_eq!(r.header("access-control-allow-origin"), None);
    }
    // A PUT from any origin: the second rule, `*`.
    let host = signer.host(None);
    let mut req = signer.v4("PUT", &host, "/corsact/up.txt", &[], &[], b"up");
    req.set_header("origin", "http://anywhere.test");
    let r = signer.send(&req);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert_eq!(r.header("access-control-allow-credentials"), None);
}

// ---------------------------------------------------------------- the browser

/// The page the browser runs: a preflighted PUT (a custom header and a
/// non-simple method) to a presigned URL, reading the exposed ETag, then a
/// GET of what it wrote; every outcome is written into `#result`.
fn page(put_url: &str, get_url: &str) -> String {
    let q = |s: &str| serde_json::to_string(s).unwrap();
    format!(
        r#"<!doctype html><html><body><pre id="result">pending</pre><script>
(async () => {{
  const out = [];
  try {{
    const r = await fetch({put}, {{ method: "PUT", headers: {{ "x-app-trace": "t-1", "content-type": "text/plain" }}, body: "written by the browser" }});
    out.push("put=" + r.status + " etag=" + r.headers.get("etag"));
  }} catch (e) {{ out.push("put=blocked " + e.name); }}
  try {{
    const r = await fetch({get});
    out.push("get=" + r.status + " body=" + (await r.text()));
  }} catch (e) {{ out.push("get=blocked " + e.name); }}
  document.getElementById("result").textContent = out.join(" | ");
}})();
</script></body></html>"#,
        put = q(put_url),
        get = q(get_url),
    )
}

fn result_of(dom: &str) -> String {
    dom.split("<pre id=\"result\">")
        .nth(1)
        .and_then(|s| s.split("</pre>").next())
        .unwrap_or_else(|| panic!("no #result in the DOM: {dom}"))
        .to_owned()
}

/// How many access-log lines of the gateway show a preflight with `status`.
fn preflights_logged(gw: &Gateway, bucket: &str, status: u16) -> usize {
    gw.log_text()
        .lines()
        .filter(|l| {
            l.contains("OptionsObject")
                && l.contains(bucket)
                && (l.contains(&format!("status={status}"))
                    || l.contains(&format!("\"status\":{status}")))
        })
        .count()
}

/// A real Chromium: a page on origin A (the test's page server) makes a
/// preflighted PUT and a GET against the gateway (origin B). With a rule
/// for origin A both succeed (the browser let the page read the status,
/// the exposed ETag and the body); with a rule for another origin, or no
/// rules, the browser blocks both. The gateway's access log shows the
/// preflights the browser sent (200 allowed, 403 refused).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_browser_is_allowed_or_blocked_as_the_rules_say() {
    let env = start(&["corsweb", "corsother", "corsbare"]).await;
    let pages = PageServer::start();
    let presign = PresigningConfig::expires_in(Duration::from_secs(900)).unwrap();
    let mut urls = Vec::new();
    for b in ["corsweb", "corsother", "corsbare"] {
        let put = env
            .s3
            .put_object()
            .bucket(b)
            .key("from-browser.txt")
            .presigned(presign.clone())
            .await
            .unwrap();
        let get = env
            .s3
            .get_object()
            .bucket(b)
            .key("from-browser.txt")
            .presigned(presign.clone())
            .await
            .unwrap();
        urls.push((b, put.uri().to_owned(), get.uri().to_owned()));
    }
    let allow = |origin: &str| {
        vec![rule(&[origin], &["PUT", "GET"], &["*"])
            .expose_headers("ETag")
            .build()
            .unwrap()]
    };
    put_rules(&env.s3, "corsweb", allow(&pages.origin))
        .await
        .unwrap();
    put_rules(&env.s3, "corsother", allow("http://elsewhere.example"))
        .await
        .unwrap();

    let budget = Duration::from_secs(20);
    let deadline = Duration::from_secs(120);
    let mut results = std::collections::HashMap::new();
    for (b, put, get) in &urls {
        let url = pages.page(&format!("/{b}"), &page(put, get));
        let dom = tokio::task::spawn_blocking(move || dump_dom(&url, budget, deadline))
            .await
            .unwrap();
        results.insert(*b, result_of(&dom));
    }

    // Allowed: the PUT went through (the page read 200 and the exposed
    // ETag) and the GET read back what it wrote.
    let want_etag = format!(
        "\"{}\"",
        hex::encode(md5::Md5::digest(b"written by the browser"))
    );
    assert_eq!(
        results["corsweb"],
        format!("put=200 etag={want_etag} | get=200 body=written by the browser"),
    );
    let stored = env
        .s3
        .get_object()
        .bucket("corsweb")
        .key("from-browser.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(
        stored.body.collect().await.unwrap().into_bytes().as_ref(),
        b"written by the browser"
    );

    // Blocked: a rule for another origin, and no rules at all. The
    // preflight failed, so the PUT was never sent: nothing stored.
    for b in ["corsother", "corsbare"] {
        assert_eq!(
            results[b], "put=blocked TypeError | get=blocked TypeError",
            "bucket {b}"
        );
        let e = env
            .s3
            .head_object()
            .bucket(b)
            .key("from-browser.txt")
            .send()
            .await
            .unwrap_err();
        assert_eq!(
            e.raw_response().map(|r| r.status().as_u16()),
            Some(404),
            "{b}"
        );
    }

    // The browser's preflights reached the gateway.
    let seen = wait_until(Duration::from_secs(10), || {
        preflights_logged(&env.gw, "corsweb", 200) >= 1
            && preflights_logged(&env.gw, "corsother", 403) >= 1
            && preflights_logged(&env.gw, "corsbare", 403) >= 1
    });
    assert!(seen, "preflights in the access log:\n{}", env.gw.log_text());
}

// ---------------------------------------------------------------- accounts and instances

/// The rules and the public name live in the store: a second gateway
/// instance answers preflights from rules put through the first, and stops
/// once they are deleted there (within the staleness bound, polled). A
/// name whose CORS rules made it public for one account cannot get rules
/// from another account's bucket of the same name (409, nothing stored),
/// and an unsigned request the bucket's ACL admits gets the CORS headers.
#[tokio::test]
async fn cors_rules_are_shared_by_instances_and_names_by_accounts() {
    let lite = BucketsLite::start();
    let bob_key = s3gw_tests::gateway::GatewayKey::generate("bob");
    let gw1 = Gateway::start_with(
        &lite,
        GatewayOptions {
            extra_keys: vec![bob_key.clone()],
            ..GatewayOptions::default()
        },
    );
    let gw2 = Gateway::start_with(&lite, GatewayOptions::default());
    let alice = s3_client(&gw1);
    let bob = {
        let creds = Credentials::new(&bob_key.access_key_id, &bob_key.secret, None, None, "bob");
        Client::from_conf(
            aws_sdk_s3::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new("us-east-1"))
                .endpoint_url(&gw1.url)
                .credentials_provider(creds)
                .force_path_style(true)
                .build(),
        )
    };
    // Both accounts have a bucket of this name before either is public.
    bob.create_bucket()
        .bucket("corsshared")
        .send()
        .await
        .unwrap();
    alice
        .create_bucket()
        .bucket("corsshared")
        .send()
        .await
        .unwrap();
    put_rules(
        &alice,
        "corsshared",
        vec![rule(&[APP], &["GET"], &[]).build().unwrap()],
    )
    .await
    .unwrap();
    let e = put_rules(
        &bob,
        "corsshared",
        vec![rule(&["*"], &["PUT"], &[]).build().unwrap()],
    )
    .await
    .unwrap_err();
    assert_eq!(e, (409, "BucketAlreadyExists".into()));
    let e = bob
        .get_bucket_cors()
        .bucket("corsshared")
        .send()
        .await
        .unwrap_err();
    assert_eq!(failure(&e), (404, "NoSuchCORSConfiguration".into()));

    // Instance 2 answers from alice's rules.
    let allowed_on = |gw: &Gateway| {
        let r = preflight(gw, "corsshared", "k", false, APP, "GET", None);
        (
            r.status,
            r.header("access-control-allow-origin").map(str::to_owned),
        )
    };
    let bound = Duration::from_secs(15);
    assert!(
        wait_until(bound, || allowed_on(&gw2) == (200, Some(APP.to_owned()))),
        "instance 2: {:?}",
        allowed_on(&gw2)
    );
    // bob's PUT rule never took effect.
    preflight(&gw2, "corsshared", "k", false, APP, "PUT", None)
        .assert_s3_error(403, "AccessForbidden");

    // An unsigned GET the bucket's ACL admits carries the CORS headers.
    alice
        .put_bucket_acl()
        .bucket("corsshared")
        .acl(aws_sdk_s3::types::BucketCannedAcl::PublicRead)
        .send()
        .await
        .unwrap();
    alice
        .put_object()
        .bucket("corsshared")
        .key("page.txt")
        .body(b"public".to_vec().into())
        .send()
        .await
        .unwrap();
    let r = unsigned(
        &gw1,
        "GET",
        "corsshared",
        "page.txt",
        true,
        &[("origin", APP)],
    );
    assert_eq!((r.status, r.text().as_str()), (200, "public"));
    assert_eq!(r.header("access-control-allow-origin"), Some(APP));
    let r = unsigned(
        &gw1,
        "GET",
        "corsshared",
        "page.txt",
        false,
        &[("origin", "http://x.test")],
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("access-control-allow-origin"), None);

    // A signed request from another account (bob has no bucket of this
    // name: served from alice's as her ACL allows) gets her rules' headers.
    alice
        .create_bucket()
        .bucket("corsalice")
        .send()
        .await
        .unwrap();
    alice
        .put_bucket_acl()
        .bucket("corsalice")
        .acl(aws_sdk_s3::types::BucketCannedAcl::PublicRead)
        .send()
        .await
        .unwrap();
    put_rules(
        &alice,
        "corsalice",
        vec![rule(&[APP], &["GET"], &[]).build().unwrap()],
    )
    .await
    .unwrap();
    alice
        .put_object()
        .bucket("corsalice")
        .key("page.txt")
        .body(b"for bob".to_vec().into())
        .send()
        .await
        .unwrap();
    let bob_signer = RawSigner {
        addr: gw1.addr,
        key: bob_key.clone(),
        region: "us-east-1".into(),
    };
    let mut req = bob_signer.v4(
        "GET",
        &bob_signer.host(None),
        "/corsalice/page.txt",
        &[],
        &[],
        b"",
    );
    req.set_header("origin", APP);
    let r = bob_signer.send(&req);
    assert_eq!((r.status, r.text().as_str()), (200, "for bob"));
    assert_eq!(r.header("access-control-allow-origin"), Some(APP));

    // Deleted through instance 1: instance 2 refuses within the bound.
    alice
        .delete_bucket_cors()
        .bucket("corsshared")
        .send()
        .await
        .unwrap();
    assert!(
        wait_until(bound, || allowed_on(&gw2).0 == 403),
        "instance 2 after delete: {:?}",
        allowed_on(&gw2)
    );
}
