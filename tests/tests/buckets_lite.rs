//! Contract tests: a real buckets-lite process, driven over HTTP, row by row
//! of `shared/buckets-api.md`. Run `cargo build -p buckets-lite` first.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use md5::{Digest as _, Md5};
use s3gw_httpsig::{http_date, Algorithm, KeyId, PrivateKey, Signer};
use s3gw_tests::buckets_lite::{
    AccountSpec, BucketsLite, BucketsLiteConfigSpec, NativeClient, NativeResponse,
};

fn md5_b64(data: &[u8]) -> String {
    B64.encode(Md5::digest(data))
}

fn assert_error(r: &NativeResponse, status: u16, code: &str) {
    assert_eq!(r.status, status, "{code}: body {}", r.text());
    assert_eq!(r.error_code().as_deref(), Some(code), "body {}", r.text());
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/json")
    );
}

async fn setup() -> (BucketsLite, NativeClient) {
    let lite = BucketsLite::start();
    let c = lite.client_as("alice");
    assert_eq!(c.create_bucket("bkt").await.status, 204);
    (lite, c)
}

#[tokio::test]
async fn routes_statuses_and_headers() {
    let lite = BucketsLite::start();
    let c = lite.client_as("alice");

    // Probe
    let r = c.send("OPTIONS", &c.buckets_path(), &[], None).await;
    assert_eq!(r.status, 204);
    assert_eq!(r.header("allow").as_deref(), Some("OPTIONS, GET"));
    assert!(r.body.is_empty());
    // Per-exchange headers, request id echoed.
    let r = c
        .get(&c.buckets_path(), &[("x-request-id", "req-123")])
        .await;
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty(), "no buckets: empty body");
    assert_eq!(r.header("server").as_deref(), Some("Manta/2"));
    assert_eq!(r.header("x-request-id").as_deref(), Some("req-123"));
    assert!(r.header("x-response-time").unwrap().parse::<u64>().is_ok());
    assert!(!r.header("x-server-name").unwrap().is_empty());
    assert!(httpdate::parse_http_date(&r.header("date").unwrap()).is_ok());
    assert!(c
        .get(&c.buckets_path(), &[])
        .await
        .header("x-request-id")
        .is_some());

    // Buckets
    let r = c.create_bucket("bkt").await;
    assert_eq!(r.status, 204);
    assert!(r.body.is_empty());
    assert_error(&c.create_bucket("bkt").await, 409, "BucketAlreadyExists");
    let r = c.head(&c.bucket_path("bkt"), &[]).await;
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty());
    assert_eq!(
        c.head(&c.bucket_path("nope"), &[]).await.status,
        404,
        "HEAD: no body"
    );
    let lines = c.list_buckets(&[]).await.json_lines();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["name"], "bkt");
    assert_eq!(lines[0]["type"], "bucket");
    let mtime = lines[0]["mtime"].as_str().unwrap();
    assert!(
        mtime.len() == 24 && mtime.ends_with('Z') && mtime.as_bytes()[19] == b'.',
        "{mtime}"
    );
    // Bucket names are per account.
    assert_eq!(lite.client_as("bob").create_bucket("bkt").await.status, 204);

    // Objects
    let body = b"hello world".to_vec();
    let r = c
        .put_object(
            "bkt",
            "dir/a b.txt",
            body.clone(),
            &[
                ("content-type", "text/plain"),
                ("m-color", "blue"),
                ("m-name", "grüße"),
                ("cache-control", "max-age=60"),
                ("surrogate-key", "k1 k2"),
                ("access-control-allow-origin", "*"),
                ("durability-level", "3"),
                ("x-ignored", "nope"),
            ],
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text());
    let etag = r.header("etag").unwrap();
    assert!(
        uuid::Uuid::parse_str(&etag).is_ok(),
        "etag is a uuid: {etag}"
    );
    assert_eq!(r.header("computed-md5").unwrap(), md5_b64(&body));
    assert!(httpdate::parse_http_date(&r.header("last-modified").unwrap()).is_ok());
    assert_eq!(r.header("server").as_deref(), Some("Manta/2"));

    let r = c.get_object("bkt", "dir/a b.txt", &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(&r.body[..], &body[..]);
    assert_eq!(r.header("etag").unwrap(), etag);
    assert_eq!(r.header("content-type").as_deref(), Some("text/plain"));
    assert_eq!(r.header("content-length").as_deref(), Some("11"));
    assert_eq!(r.header("content-md5").unwrap(), md5_b64(&body));
    assert_eq!(r.header("durability-level").as_deref(), Some("3"));
    assert_eq!(r.header("accept-ranges").as_deref(), Some("bytes"));
    assert_eq!(r.header("m-color").as_deref(), Some("blue"));
    assert_eq!(r.header("m-name").as_deref(), Some("grüße"));
    assert_eq!(r.header("cache-control").as_deref(), Some("max-age=60"));
    assert_eq!(r.header("surrogate-key").as_deref(), Some("k1 k2"));
    assert_eq!(
        r.header("access-control-allow-origin").as_deref(),
        Some("*")
    );
    assert!(r.header("x-ignored").is_none());
    assert!(r.header("last-modified").is_some());

    let r = c.head(&c.object_path("bkt", "dir/a b.txt"), &[]).await;
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty());
    assert_eq!(r.header("content-length").as_deref(), Some("11"));
    assert_eq!(r.header("etag").unwrap(), etag);
    assert_eq!(r.header("m-color").as_deref(), Some("blue"));
    assert_eq!(r.header("content-type").as_deref(), Some("text/plain"));
    assert_eq!(r.header("content-md5").unwrap(), md5_b64(&body));
    assert_eq!(r.header("durability-level").as_deref(), Some("3"));
    assert!(r.header("last-modified").is_some());
    // The real HEAD sends no other stored header.
    for h in [
        "cache-control",
        "surrogate-key",
        "access-control-allow-origin",
        "accept-ranges",
    ] {
        assert!(r.header(h).is_none(), "HEAD must not send {h}");
    }

    // Defaults: content type and durability; zero-byte object.
    let r = c.put_object("bkt", "empty", Vec::new(), &[]).await;
    assert_eq!(r.status, 204);
    assert_eq!(
        r.header("computed-md5").as_deref(),
        Some("1B2M2Y8AsgTpgAmY7PhCfg==")
    );
    let r = c.get_object("bkt", "empty", &[]).await;
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty());
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/octet-stream")
    );
    assert_eq!(r.header("durability-level").as_deref(), Some("2"));
    let r = c.head(&c.object_path("bkt", "empty"), &[]).await;
    assert_eq!(
        r.header("durability-level").as_deref(),
        Some("0"),
        "HEAD: the copies stored, none for an empty object"
    );

    // Errors
    assert_error(
        &c.get_object("bkt", "missing", &[]).await,
        404,
        "ObjectNotFound",
    );
    assert_error(&c.get_object("nope", "x", &[]).await, 404, "BucketNotFound");
    assert_error(
        &c.put_object("nope", "x", b"1".to_vec(), &[]).await,
        404,
        "BucketNotFound",
    );
    for d in ["0", "7", "x"] {
        let r = c
            .put_object("bkt", "d", b"1".to_vec(), &[("durability-level", d)])
            .await;
        assert_error(&r, 400, "InvalidDurabilityLevel");
    }
    let r = c.delete(&c.bucket_path("bkt"), &[]).await;
    assert_error(&r, 409, "BucketNotEmpty");
    // The real server's 409 bodies are nested, with no top-level code.
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["statusCode"], 409);
    assert_eq!(v["body"]["code"], "BucketNotEmpty");
    assert!(v.get("code").is_none(), "{v}");

    // 405 with no body on every path shape.
    for (m, p) in [
        ("PUT", c.buckets_path()),
        ("HEAD", c.buckets_path()),
        ("GET", c.bucket_path("bkt")),
        ("POST", c.bucket_path("bkt")),
        ("PUT", format!("{}/objects", c.bucket_path("bkt"))),
        ("POST", c.object_path("bkt", "empty")),
        ("GET", format!("{}/metadata", c.object_path("bkt", "empty"))),
    ] {
        let r = c.send(m, &p, &[], None).await;
        assert_eq!(r.status, 405, "{m} {p}");
        assert!(r.body.is_empty());
    }

    // Deletes
    assert_eq!(
        c.delete(&c.object_path("bkt", "dir/a b.txt"), &[])
            .await
            .status,
        204
    );
    assert_eq!(
        c.delete(&c.object_path("bkt", "empty"), &[]).await.status,
        204
    );
    assert_error(
        &c.delete(&c.object_path("bkt", "empty"), &[]).await,
        404,
        "ObjectNotFound",
    );
    assert_eq!(c.delete(&c.bucket_path("bkt"), &[]).await.status, 204);
    assert_error(
        &c.delete(&c.bucket_path("bkt"), &[]).await,
        404,
        "BucketNotFound",
    );
    // No body files left behind.
    assert_eq!(body_files(&lite.data_dir), 0);
}

/// Files under `objects/` and `tmp/`.
fn body_files(data: &std::path::Path) -> usize {
    let mut n = 0;
    for sub in ["objects", "tmp"] {
        let Ok(rd) = std::fs::read_dir(data.join(sub)) else {
            continue;
        };
        for e in rd.flatten() {
            if e.path().is_dir() {
                n += std::fs::read_dir(e.path()).map(|d| d.count()).unwrap_or(0);
            } else {
                n += 1;
            }
        }
    }
    n
}

#[tokio::test]
async fn name_rules() {
    let lite = BucketsLite::start();
    let c = lite.client_as("alice");
    for bad in [
        "ab",
        "Abc",
        "a_b",
        "-ab",
        "ab-",
        "a..b",
        "192.168.0.1",
        &"a".repeat(64),
    ] {
        assert_error(&c.create_bucket(bad).await, 422, "InvalidBucketName");
    }
    for ok in ["abc", "a.b-c", &"a".repeat(63)] {
        assert_eq!(c.create_bucket(ok).await.status, 204, "{ok}");
    }
    let n1024 = "é".repeat(512);
    let n1025 = format!("{n1024}x");
    let r = c.put_object("abc", &n1024, b"x".to_vec(), &[]).await;
    assert_eq!(r.status, 204);
    assert_eq!(c.get_object("abc", &n1024, &[]).await.status, 200);
    assert_error(
        &c.put_object("abc", &n1025, b"x".to_vec(), &[]).await,
        422,
        "InvalidBucketObjectName",
    );
    assert_error(
        &c.put_object("abc", "a\0b", b"x".to_vec(), &[]).await,
        422,
        "InvalidBucketObjectName",
    );
    // Not UTF-8 after decoding.
    let r = c
        .put(
            &format!("{}/objects/%FF", c.bucket_path("abc")),
            &[],
            b"x".to_vec(),
        )
        .await;
    assert_error(&r, 422, "InvalidBucketObjectName");
    let lines = c.list_objects("abc", &[]).await.json_lines();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["name"], n1024.as_str());
}

#[tokio::test]
async fn listing_pages_prefixes_and_nasty_names() {
    let (lite, c) = setup().await;
    let long = "L".repeat(1024);
    let mut names: Vec<String> = [
        "a",
        "a b",
        "a%20b",
        "a+b",
        "a/b/c",
        "a/b/d",
        "a/c",
        "b/x",
        "ü/1",
        "ü/2",
        "日本/語",
        "z",
        "%",
        "+",
        "a/",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    names.push(long.clone());
    for n in &names {
        let r = c
            .put_object(
                "bkt",
                n,
                n.clone().into_bytes(),
                &[("content-type", "text/x")],
            )
            .await;
        assert_eq!(r.status, 204, "{n}");
    }
    let mut sorted = names.clone();
    sorted.sort(); // byte order of UTF-8 == Rust's str order
                   // Full listing, one page.
    let r = c.list_objects("bkt", &[]).await;
    assert!(r.header("next-marker").is_none());
    let lines = r.json_lines();
    let got: Vec<&str> = lines.iter().map(|l| l["name"].as_str().unwrap()).collect();
    assert_eq!(got, sorted.iter().map(String::as_str).collect::<Vec<_>>());
    let first = &lines[0];
    assert_eq!(first["type"], "bucketobject");
    assert_eq!(first["size"], sorted[0].len());
    assert_eq!(first["contentType"], "text/x");
    assert_eq!(first["contentMD5"], md5_b64(sorted[0].as_bytes()));
    assert!(uuid::Uuid::parse_str(first["etag"].as_str().unwrap()).is_ok());
    assert!(first["mtime"].as_str().unwrap().ends_with('Z'));
    // Exact key order of an object line.
    let raw = r.text();
    let line0 = raw.lines().next().unwrap();
    let order = [
        "\"name\"",
        "\"etag\"",
        "\"size\"",
        "\"contentType\"",
        "\"contentMD5\"",
        "\"mtime\"",
        "\"type\"",
    ];
    let pos: Vec<usize> = order.iter().map(|k| line0.find(k).unwrap()).collect();
    assert!(pos.windows(2).all(|w| w[0] < w[1]), "{line0}");

    // Pagination with limit 3 until Next-Marker is absent.
    let mut all = Vec::new();
    let mut marker: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut q = vec![("limit", "3")];
        if let Some(m) = &marker {
            q.push(("marker", m.as_str()));
        }
        let r = c.list_objects("bkt", &q).await;
        assert_eq!(r.status, 200);
        let lines = r.json_lines();
        assert!(lines.len() <= 3);
        pages += 1;
        all.extend(lines.iter().map(|l| l["name"].as_str().unwrap().to_owned()));
        match r.header("next-marker") {
            Some(m) => {
                assert_eq!(Some(&m), all.last());
                marker = Some(m);
            }
            None => break,
        }
    }
    assert_eq!(all, sorted);
    assert!(pages >= 6);

    // Prefix and delimiter.
    let names_of = |r: &NativeResponse| -> Vec<(String, String)> {
        r.json_lines()
            .iter()
            .map(|l| {
                (
                    l["name"].as_str().unwrap().to_owned(),
                    l["type"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let r = c.list_objects("bkt", &[("delimiter", "/")]).await;
    let got = names_of(&r);
    assert!(got.contains(&("a/".into(), "group".into())));
    assert!(got.contains(&("ü/".into(), "group".into())));
    assert!(got.contains(&("日本/".into(), "group".into())));
    assert!(got.contains(&("a b".into(), "bucketobject".into())));
    assert_eq!(got.iter().filter(|(n, _)| n.starts_with("a/")).count(), 1);
    let r = c
        .list_objects("bkt", &[("prefix", "a/"), ("delimiter", "/")])
        .await;
    assert_eq!(
        names_of(&r),
        vec![
            ("a/".into(), "bucketobject".into()),
            ("a/b/".into(), "group".into()),
            ("a/c".into(), "bucketobject".into())
        ]
    );
    let r = c.list_objects("bkt", &[("prefix", "a/b/")]).await;
    assert_eq!(names_of(&r).len(), 2);
    let r = c.list_objects("bkt", &[("prefix", "ü")]).await;
    assert_eq!(names_of(&r).len(), 2);
    // A group counts as one entry; a page ending on a group names it, and
    // the next page resumes after the whole group.
    let r = c
        .list_objects("bkt", &[("delimiter", "/"), ("limit", "5")])
        .await;
    let page1 = names_of(&r);
    assert_eq!(page1.len(), 5);
    let nm = r.header("next-marker").unwrap();
    assert_eq!(nm, page1.last().unwrap().0);
    let r = c
        .list_objects(
            "bkt",
            &[("delimiter", "/"), ("limit", "1024"), ("marker", &nm)],
        )
        .await;
    let page2 = names_of(&r);
    let mut both = page1.clone();
    both.extend(page2.clone());
    let full = names_of(&c.list_objects("bkt", &[("delimiter", "/")]).await);
    assert_eq!(both, full);
    // The real server aborts on a truncated page ending on a group
    // (`lastRaw (object) is required`): buckets-lite answers 500 there, so
    // a client that would crash the real server fails here too. The 8th
    // entry of the delimiter listing is the group `a/`.
    let r = c
        .list_objects("bkt", &[("delimiter", "/"), ("limit", "8")])
        .await;
    assert_error(&r, 500, "InternalError");
    let r = c
        .list_objects("bkt", &[("delimiter", "/"), ("limit", "7")])
        .await;
    assert_eq!(names_of(&r).last().unwrap().0, "a+b");
    // Exactly-full last page: Next-Marker set, then an empty page.
    let n = sorted.len().to_string();
    let r = c.list_objects("bkt", &[("limit", &n)]).await;
    let nm = r
        .header("next-marker")
        .expect("the page was cut by the limit");
    let r = c
        .list_objects("bkt", &[("limit", &n), ("marker", &nm)])
        .await;
    assert!(r.body.is_empty());
    assert!(r.header("next-marker").is_none());

    // The prefix is an unescaped SQL LIKE pattern, as buckets-mdapi builds
    // it: `_` is any one character, `%` any run, `\` escapes.
    for n in ["q_1", "qx1", "q%", "q\\z", "q_/a", "qy/a"] {
        let r = c.put_object("bkt", n, b"x".to_vec(), &[]).await;
        assert_eq!(r.status, 204, "{n}");
    }
    let listed = |r: NativeResponse| -> Vec<String> {
        assert_eq!(r.status, 200, "{}", r.text());
        r.json_lines()
            .iter()
            .map(|l| l["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        listed(c.list_objects("bkt", &[("prefix", "q_")]).await),
        ["q%", "q\\z", "q_/a", "q_1", "qx1", "qy/a"],
        "_ matches any one character"
    );
    assert_eq!(
        listed(c.list_objects("bkt", &[("prefix", "q%1")]).await),
        ["q_1", "qx1"],
        "% matches any run"
    );
    assert_eq!(
        listed(c.list_objects("bkt", &[("prefix", "q\\_")]).await),
        ["q_/a", "q_1"],
        "\\ escapes"
    );
    assert_eq!(
        listed(c.list_objects("bkt", &[("prefix", "q\\")]).await),
        ["q%"],
        "a trailing \\ escapes the appended %"
    );
    // With a delimiter, a LIKE match that does not start with the prefix
    // makes the real server's own prefix assertion abort the process.
    assert_error(
        &c.list_objects("bkt", &[("prefix", "q_"), ("delimiter", "/")])
            .await,
        500,
        "InternalError",
    );
    assert_eq!(
        listed(
            c.list_objects("bkt", &[("prefix", "qy"), ("delimiter", "/")])
                .await
        ),
        ["qy/"]
    );
    // Prefixes the real server refuses: `../`, over 1000 UTF-16 units.
    assert_error(
        &c.list_objects("bkt", &[("prefix", "a/../b")]).await,
        400,
        "InvalidParameter",
    );
    assert_error(
        &c.list_objects("bkt", &[("prefix", &"é".repeat(1001))])
            .await,
        400,
        "InvalidParameter",
    );
    assert_eq!(
        c.list_objects("bkt", &[("prefix", &"é".repeat(500))])
            .await
            .status,
        200,
        "1000 bytes but 500 UTF-16 units"
    );
    assert_eq!(
        c.list_objects("bkt", &[("prefix", "a..b/")]).await.status,
        200
    );
    for n in ["q_1", "qx1", "q%", "q\\z", "q_/a", "qy/a"] {
        assert_eq!(c.delete(&c.object_path("bkt", n), &[]).await.status, 204);
    }

    // Parameter errors.
    assert_error(
        &c.list_objects("bkt", &[("limit", "0")]).await,
        400,
        "InvalidArgumentError",
    );
    assert_error(
        &c.list_objects("bkt", &[("limit", "1025")]).await,
        400,
        "InvalidArgumentError",
    );
    assert_error(
        &c.list_objects("bkt", &[("limit", "x")]).await,
        400,
        "InvalidArgumentError",
    );
    assert_error(
        &c.list_objects("bkt", &[("delimiter", "ab")]).await,
        400,
        "InvalidParameter",
    );
    assert_error(
        &c.list_objects("bkt", &[("prefix", "a\u{1}")]).await,
        400,
        "InvalidParameter",
    );
    assert_error(
        &c.list_objects("bkt", &[("marker", &format!("{long}x"))])
            .await,
        400,
        "InvalidParameter",
    );
    assert_eq!(
        c.list_objects("bkt", &[("marker", &long)]).await.status,
        200
    );
    assert_error(&c.list_objects("nope", &[]).await, 404, "BucketNotFound");

    // Bucket listing paginates the same way.
    for b in ["bk1", "bk2", "bk3"] {
        assert_eq!(c.create_bucket(b).await.status, 204);
    }
    let r = c.list_buckets(&[("limit", "2")]).await;
    assert_eq!(r.json_lines().len(), 2);
    let nm = r.header("next-marker").unwrap();
    let r = c.list_buckets(&[("limit", "2"), ("marker", &nm)]).await;
    let lines = r.json_lines();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1]["name"], "bkt");
    let r = c.list_buckets(&[("prefix", "b"), ("limit", "1024")]).await;
    assert_eq!(r.json_lines().len(), 4);
    drop(lite);
}

#[tokio::test]
async fn ranges() {
    let (_lite, c) = setup().await;
    let data: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
    assert_eq!(
        c.put_object("bkt", "r", data.clone(), &[]).await.status,
        204
    );
    for (range, first, last) in [
        ("bytes=0-9", 0usize, 9usize),
        ("bytes=100-199", 100, 199),
        ("bytes=-10", 990, 999),
        ("bytes=990-", 990, 999),
        ("bytes=500-5000", 500, 999),
        ("bytes=-5000", 0, 999),
    ] {
        let r = c.get_object("bkt", "r", &[("range", range)]).await;
        assert_eq!(r.status, 206, "{range}");
        assert_eq!(&r.body[..], &data[first..=last], "{range}");
        assert_eq!(
            r.header("content-range").unwrap(),
            format!("bytes {first}-{last}/1000")
        );
        assert_eq!(
            r.header("content-length").unwrap(),
            (last - first + 1).to_string()
        );
        assert!(r.header("content-md5").is_none(), "absent on a 206");
    }
    for range in ["bytes=1000-", "bytes=5000-6000", "bytes=-0"] {
        let r = c.get_object("bkt", "r", &[("range", range)]).await;
        assert_error(&r, 416, "RequestedRangeNotSatisfiable");
    }
    // Not a single bytes range: the whole object.
    let r = c
        .get_object("bkt", "r", &[("range", "bytes=0-1,5-6")])
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), 1000);
}

#[tokio::test]
async fn md5_mismatch_stores_nothing() {
    let (lite, c) = setup().await;
    let r = c
        .put_object(
            "bkt",
            "m",
            b"abc".to_vec(),
            &[("content-md5", &md5_b64(b"abd"))],
        )
        .await;
    assert_error(&r, 400, "ContentMD5Mismatch");
    assert_error(&c.get_object("bkt", "m", &[]).await, 404, "ObjectNotFound");
    assert_eq!(body_files(&lite.data_dir), 0);
    // Over an existing object: the old one stays.
    let ok = c
        .put_object(
            "bkt",
            "m",
            b"old".to_vec(),
            &[("content-md5", &md5_b64(b"old"))],
        )
        .await;
    assert_eq!(ok.status, 204);
    let r = c
        .put_object(
            "bkt",
            "m",
            b"new".to_vec(),
            &[("content-md5", &md5_b64(b"xxx"))],
        )
        .await;
    assert_error(&r, 400, "ContentMD5Mismatch");
    let r = c.get_object("bkt", "m", &[]).await;
    assert_eq!(&r.body[..], b"old");
    assert_eq!(r.header("etag"), ok.header("etag"));
    assert_eq!(body_files(&lite.data_dir), 1);
}

#[tokio::test]
async fn metadata_update() {
    let (lite, c) = setup().await;
    let put = c
        .put_object(
            "bkt",
            "o",
            b"body".to_vec(),
            &[
                ("m-a", "1"),
                ("cache-control", "no-cache"),
                ("content-type", "text/plain"),
            ],
        )
        .await;
    let etag = put.header("etag").unwrap();
    let listed_mtime = c.list_objects("bkt", &[]).await.json_lines()[0]["mtime"].clone();
    let before = c.head(&c.object_path("bkt", "o"), &[]).await;
    let lm0 = httpdate::parse_http_date(&before.header("last-modified").unwrap()).unwrap();
    // Last-Modified has whole seconds: wait (by polling the clock) until a
    // new second has begun so the change is visible.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while SystemTime::now() < lm0 + Duration::from_millis(1100)
        && std::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let md = format!("{}/metadata", c.object_path("bkt", "o"));
    let r = c.send("PUT", &md, &[("m-b", "2")], None).await;
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(r.header("etag").unwrap(), etag);
    let after = c.get_object("bkt", "o", &[]).await;
    assert_eq!(
        after.header("etag").unwrap(),
        etag,
        "the id does not change"
    );
    assert_eq!(&after.body[..], b"body");
    assert!(after.header("m-a").is_none(), "all stored headers replaced");
    assert!(after.header("cache-control").is_none());
    assert_eq!(after.header("m-b").as_deref(), Some("2"));
    assert_eq!(
        after.header("content-type").as_deref(),
        Some("application/octet-stream")
    );
    let lm1 = httpdate::parse_http_date(&after.header("last-modified").unwrap()).unwrap();
    assert!(lm1 > lm0, "Last-Modified moved");
    // Listing mtime is the creation time of the object.
    assert_eq!(
        c.list_objects("bkt", &[]).await.json_lines()[0]["mtime"],
        listed_mtime
    );

    for (h, v) in [
        ("content-md5", "x"),
        ("durability-level", "2"),
        ("content-length", "3"),
    ] {
        let body = if h == "content-length" {
            Some(reqwest::Body::from("abc"))
        } else {
            None
        };
        let r = c.send("PUT", &md, &[(h, v)], body).await;
        assert_error(&r, 400, "InvalidUpdate");
    }
    // Even `Content-Length: 0` is refused, as the real server does.
    let r = c
        .send(
            "PUT",
            &md,
            &[("content-length", "0")],
            Some(reqwest::Body::from("")),
        )
        .await;
    assert_error(&r, 400, "InvalidUpdate");
    let md_missing = format!("{}/metadata", c.object_path("bkt", "missing"));
    assert_error(
        &c.send("PUT", &md_missing, &[], None).await,
        404,
        "ObjectNotFound",
    );
    // m-* values over 4 KiB in total: the excess is dropped.
    let big = "v".repeat(3000);
    let r = c
        .put_object(
            "bkt",
            "meta",
            b"x".to_vec(),
            &[("m-one", &big), ("m-two", &big)],
        )
        .await;
    assert_eq!(r.status, 204);
    let r = c.head(&c.object_path("bkt", "meta"), &[]).await;
    assert_eq!(
        r.header("m-one").is_some() as u8 + r.header("m-two").is_some() as u8,
        1,
        "one of the two fits under 4 KiB"
    );
    // The budget counts header bytes read as Latin-1 and measured as
    // UTF-8: 1100 'é' are 2200 bytes but cost 4400, over the budget, and
    // are dropped silently. Only `^m-\w+` names are custom headers.
    let wide = "é".repeat(1100);
    let r = c
        .put_object(
            "bkt",
            "wide",
            b"x".to_vec(),
            &[("m-wide", &wide), ("m--dash", "1"), ("m-.dot", "1")],
        )
        .await;
    assert_eq!(r.status, 204);
    let r = c.get_object("bkt", "wide", &[]).await;
    assert!(r.header("m-wide").is_none(), "non-ASCII counts twice");
    assert!(r.header("m--dash").is_none(), "not /^m-\\w+/");
    assert!(r.header("m-.dot").is_none(), "not /^m-\\w+/");
    let narrow = "é".repeat(1000);
    let r = c
        .put_object("bkt", "wide", b"x".to_vec(), &[("m-wide", &narrow)])
        .await;
    assert_eq!(r.status, 204);
    let r = c.get_object("bkt", "wide", &[]).await;
    assert_eq!(r.header("m-wide").as_deref(), Some(narrow.as_str()));
    drop(lite);
}

/// Every cell of the conditions table, for PUT, GET, HEAD, DELETE and
/// metadata update.
#[tokio::test]
async fn conditions_table() {
    let (_lite, c) = setup().await;
    let past = http_date(SystemTime::now() - Duration::from_secs(3600));
    let future = http_date(SystemTime::now() + Duration::from_secs(3600));

    #[derive(Clone, Copy, Debug)]
    enum Op {
        Put,
        Get,
        Head,
        Delete,
        Meta,
    }
    async fn run(c: &NativeClient, op: Op, name: &str, h: &[(&str, &str)]) -> NativeResponse {
        match op {
            Op::Put => c.put_object("bkt", name, b"new".to_vec(), h).await,
            Op::Get => c.get_object("bkt", name, h).await,
            Op::Head => c.head(&c.object_path("bkt", name), h).await,
            Op::Delete => c.delete(&c.object_path("bkt", name), h).await,
            Op::Meta => {
                c.send(
                    "PUT",
                    &format!("{}/metadata", c.object_path("bkt", name)),
                    h,
                    None,
                )
                .await
            }
        }
    }
    let ok_status = |op: Op| match op {
        Op::Get | Op::Head => 200,
        _ => 204,
    };
    let mut n = 0;
    for op in [Op::Put, Op::Get, Op::Head, Op::Delete, Op::Meta] {
        let read = matches!(op, Op::Get | Op::Head);
        // (header, value builder, expected when present, expected when absent)
        // expected: 0 = pass, 304, 412, 404
        let cases: Vec<(&str, String, u16, u16)> = vec![
            ("if-match", "*".into(), 0, 412),
            ("if-match", "ID".into(), 0, 404),
            (
                "if-match",
                "00000000-0000-4000-8000-000000000000".into(),
                412,
                404,
            ),
            ("if-match", "\"ID\"".into(), 412, 404),
            ("if-match", "W/ID, other".into(), 0, 404),
            ("if-none-match", "*".into(), if read { 304 } else { 412 }, 0),
            (
                "if-none-match",
                "ID".into(),
                if read { 304 } else { 412 },
                404,
            ),
            (
                "if-none-match",
                "00000000-0000-4000-8000-000000000000".into(),
                0,
                404,
            ),
            ("if-unmodified-since", past.clone(), 412, 404),
            ("if-unmodified-since", future.clone(), 0, 404),
            ("if-unmodified-since", "LM".into(), 412, 404),
            ("if-modified-since", past.clone(), 0, 404),
            (
                "if-modified-since",
                future.clone(),
                if read { 304 } else { 412 },
                404,
            ),
            ("if-modified-since", "LM".into(), 0, 404),
            ("if-modified-since", "not a date".into(), 400, 400),
        ];
        for (h, v, present, absent) in cases {
            n += 1;
            let name = format!("c{n}");
            let put = c.put_object("bkt", &name, b"old".to_vec(), &[]).await;
            let id = put.header("etag").unwrap();
            let lm = put.header("last-modified").unwrap();
            let value = v.replace("ID", &id).replace("LM", &lm);
            let r = run(&c, op, &name, &[(h, &value)]).await;
            let want = if present == 0 { ok_status(op) } else { present };
            assert_eq!(r.status, want, "{op:?} {h}: {value} (exists): {}", r.text());
            match want {
                412 if !matches!(op, Op::Head) => {
                    assert_eq!(r.error_code().as_deref(), Some("PreconditionFailed"))
                }
                400 if !matches!(op, Op::Head) => {
                    assert_eq!(r.error_code().as_deref(), Some("BadRequest"))
                }
                304 => {
                    assert!(r.body.is_empty());
                    assert_eq!(r.header("etag").unwrap(), id);
                }
                _ => {}
            }
            // A failed condition changed nothing.
            if want >= 300 {
                let g = c.get_object("bkt", &name, &[]).await;
                assert_eq!(g.header("etag").unwrap(), id);
                assert_eq!(&g.body[..], b"old");
            }
            let missing = format!("{name}-missing");
            let value = v.replace("ID", &id).replace("LM", &lm);
            let r = run(&c, op, &missing, &[(h, &value)]).await;
            let want = match (absent, op) {
                (0, Op::Put) => 204,
                (0, _) => 404, // passing the condition still finds no object
                (s, _) => s,
            };
            assert_eq!(r.status, want, "{op:?} {h}: {value} (absent): {}", r.text());
            if want == 404 && !matches!(op, Op::Head) {
                assert_eq!(r.error_code().as_deref(), Some("ObjectNotFound"));
            }
            if want == 412 && !matches!(op, Op::Head) {
                assert_eq!(r.error_code().as_deref(), Some("PreconditionFailed"));
            }
        }
    }
}

#[tokio::test]
async fn twenty_concurrent_create_if_absent_puts_one_winner() {
    let (lite, c) = setup().await;
    let mut tasks = Vec::new();
    for i in 0..20 {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            let body = format!("writer {i}").into_bytes();
            c.put_object("bkt", "race", body, &[("if-none-match", "*")])
                .await
        }));
    }
    let mut wins = 0;
    let mut winner_etag = None;
    for t in tasks {
        let r = t.await.unwrap();
        match r.status {
            204 => {
                wins += 1;
                winner_etag = r.header("etag");
            }
            412 => assert_eq!(r.error_code().as_deref(), Some("PreconditionFailed")),
            s => panic!("unexpected {s}: {}", r.text()),
        }
    }
    assert_eq!(wins, 1);
    assert_eq!(
        c.get_object("bkt", "race", &[]).await.header("etag"),
        winner_etag
    );
    assert_eq!(body_files(&lite.data_dir), 1, "losers left no files");

    // If-Match: <id> is a compare-and-swap: of 10 concurrent swaps from the
    // same id, exactly one wins.
    let id = winner_etag.unwrap();
    let mut tasks = Vec::new();
    for i in 0..10 {
        let (c, id) = (c.clone(), id.clone());
        tasks.push(tokio::spawn(async move {
            c.put_object(
                "bkt",
                "race",
                format!("swap {i}").into_bytes(),
                &[("if-match", &id)],
            )
            .await
            .status
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 204).count(),
        1,
        "{statuses:?}"
    );
    assert!(statuses.iter().all(|s| *s == 204 || *s == 412));
}

fn signer_with(key: PrivateKey, login: &str, alg: Option<Algorithm>) -> Arc<Signer> {
    let id = KeyId {
        login: login.into(),
        subuser: None,
        fingerprint: key.public_key().md5_fingerprint(),
    };
    let alg = alg.unwrap_or(key.default_algorithm());
    Arc::new(Signer::with_algorithm(id, key, alg))
}

#[tokio::test]
async fn authentication_errors_and_algorithms() {
    let mut spec = BucketsLiteConfigSpec::standard();
    let rsa = PrivateKey::generate_rsa(2048).unwrap();
    let p256 = PrivateKey::generate_ecdsa(256).unwrap();
    let p384 = PrivateKey::generate_ecdsa(384).unwrap();
    let p521 = PrivateKey::generate_ecdsa(521).unwrap();
    for (login, key) in [
        ("rsa", &rsa),
        ("p256", &p256),
        ("p384", &p384),
        ("p521", &p521),
    ] {
        let mut a = AccountSpec::new(login);
        a.key_openssh = key.to_openssh_pem();
        spec.accounts.push(a);
    }
    let lite = BucketsLite::start_with(spec);
    let alice = lite.client_as("alice");
    let path = alice.buckets_path();

    // Every algorithm verifies.
    // Every algorithm of the real verifier (http-signature 1.1.0) verifies.
    for (login, alg) in [
        ("rsa", Algorithm::RsaSha1),
        ("rsa", Algorithm::RsaSha256),
        ("rsa", Algorithm::RsaSha512),
        ("p256", Algorithm::EcdsaSha256),
        ("p521", Algorithm::EcdsaSha512),
    ] {
        let pem = &lite.accounts[login].key_pem;
        let key = PrivateKey::from_pem_or_openssh(pem).unwrap();
        let c = NativeClient::new(&lite.url, login, Some(signer_with(key, login, Some(alg))));
        let r = c.get(&c.buckets_path(), &[]).await;
        assert_eq!(r.status, 200, "{alg}: {}", r.text());
    }
    assert_eq!(alice.get(&path, &[]).await.status, 200, "p-256");
    // ... and it refuses ecdsa-sha384 and ed25519 while parsing the header.
    let p384_key = PrivateKey::from_pem_or_openssh(&lite.accounts["p384"].key_pem).unwrap();
    let c = NativeClient::new(
        &lite.url,
        "p384",
        Some(signer_with(p384_key, "p384", Some(Algorithm::EcdsaSha384))),
    );
    assert_error(&c.get(&c.buckets_path(), &[]).await, 400, "InvalidHeader");
    let ed = NativeClient::new(
        &lite.url,
        "alice",
        Some(signer_with(PrivateKey::generate_ed25519(), "alice", None)),
    );
    assert_error(&ed.get(&path, &[]).await, 400, "InvalidHeader");
    // Signing (request-target) and date also works.
    let s = lite.signer("alice");
    let date = http_date(SystemTime::now());
    let auth = s.sign_headers("GET", &path, &[("(request-target)", ""), ("date", &date)]);
    let r = alice
        .get(&path, &[("date", &date), ("authorization", &auth)])
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    // ... and a signature over another path does not.
    let auth = s.sign_headers(
        "GET",
        "/alice/buckets?x=1",
        &[("(request-target)", ""), ("date", &date)],
    );
    assert_error(
        &alice
            .get(&path, &[("date", &date), ("authorization", &auth)])
            .await,
        403,
        "InvalidSignature",
    );

    // No header.
    let r = lite.unsigned_client("alice").get(&path, &[]).await;
    assert_error(&r, 401, "AuthorizationRequired");
    // Other scheme.
    assert_error(
        &alice.get(&path, &[("authorization", "Basic YTpi")]).await,
        403,
        "AuthorizationSchemeNotAllowed",
    );
    // keyId shape.
    let bad_id = format!(
        "Signature keyId=\"alice/keys/x\",algorithm=\"rsa-sha256\",headers=\"date\",signature=\"{}\"",
        B64.encode([0u8; 64])
    );
    assert_error(
        &alice.get(&path, &[("authorization", &bad_id)]).await,
        403,
        "InvalidKeyId",
    );
    // Unknown account, blocked account, unknown key.
    let ghost = NativeClient::new(
        &lite.url,
        "alice",
        Some(signer_with(
            PrivateKey::generate_ecdsa(256).unwrap(),
            "ghost",
            None,
        )),
    );
    assert_error(&ghost.get(&path, &[]).await, 403, "AccountDoesNotExist");
    let blocked = lite.client_as("blocked");
    assert_error(
        &blocked.get(&blocked.buckets_path(), &[]).await,
        403,
        "AccountBlocked",
    );
    let unknown_key = alice.with_signer(Some(signer_with(
        PrivateKey::generate_ecdsa(256).unwrap(),
        "alice",
        None,
    )));
    assert_error(&unknown_key.get(&path, &[]).await, 403, "KeyDoesNotExist");
    // A signature by another key under alice's fingerprint.
    let forged = Signer::new(
        lite.signer("alice").key_id().clone(),
        PrivateKey::generate_ecdsa(256).unwrap(),
    );
    let r = alice
        .with_signer(Some(Arc::new(forged)))
        .get(&path, &[])
        .await;
    assert_error(&r, 403, "InvalidSignature");
    // Date outside the 300 s window, either side; Date not signed.
    for skew in [-400i64, 400] {
        let t = if skew < 0 {
            SystemTime::now() - Duration::from_secs(400)
        } else {
            SystemTime::now() + Duration::from_secs(400)
        };
        let r = alice.get(&path, &[("date", &http_date(t))]).await;
        assert_error(&r, 400, "InvalidHeader");
    }
    let r = alice
        .get(
            &path,
            &[(
                "date",
                &http_date(SystemTime::now() - Duration::from_secs(200)),
            )],
        )
        .await;
    assert_eq!(r.status, 200, "inside the window");
    let auth = s.sign_headers("GET", &path, &[("(request-target)", "")]);
    assert_error(
        &alice.get(&path, &[("authorization", &auth)]).await,
        400,
        "InvalidHeader",
    );

    // Authorization: alice on bob's buckets; operators anywhere, including
    // accounts the config does not list; sub-users on their account.
    assert_error(
        &alice.for_account("bob").get("/bob/buckets", &[]).await,
        403,
        "AuthorizationFailed",
    );
    let op = lite.client();
    assert_eq!(
        op.for_account("alice")
            .create_bucket("from-op")
            .await
            .status,
        204
    );
    assert_eq!(
        alice.head(&alice.bucket_path("from-op"), &[]).await.status,
        200
    );
    let tenant = op.for_account("tenant42");
    assert_eq!(tenant.create_bucket("tnt").await.status, 204);
    assert_eq!(tenant.list_buckets(&[]).await.json_lines().len(), 1);
    // node-mahi: sub-users go through RBAC. One no rule grants anything is
    // refused even on its own account; a granted one acts on its account
    // only; an operator's sub-user gets no operator bypass.
    let sub = lite.client_as("alice/sub");
    assert_eq!(sub.account, "alice");
    assert_error(
        &sub.get(&sub.buckets_path(), &[]).await,
        403,
        "AuthorizationFailed",
    );
    let ci = lite.client_as("alice/ci");
    assert_eq!(ci.head(&ci.bucket_path("from-op"), &[]).await.status, 200);
    assert_error(
        &ci.for_account("bob").get("/bob/buckets", &[]).await,
        403,
        "AuthorizationFailed",
    );
    let op_sub = lite.client_as("operator/sub");
    assert_error(
        &op_sub.for_account("alice").get("/alice/buckets", &[]).await,
        403,
        "AuthorizationFailed",
    );
}

/// Ed25519 signatures are an extension, off unless configured.
#[tokio::test]
async fn ed25519_signatures_only_as_a_configured_extension() {
    let mut spec = BucketsLiteConfigSpec::standard();
    let mut ed = AccountSpec::new("edward");
    ed.key_openssh = PrivateKey::generate_ed25519().to_openssh_pem();
    spec.accounts.push(ed.clone());
    let strict = BucketsLite::start_with(spec.clone());
    let c = strict.client_as("edward");
    assert_error(&c.get(&c.buckets_path(), &[]).await, 400, "InvalidHeader");
    drop(strict);
    spec.extra_toml = "[extensions]\ned25519_signatures = true\n".into();
    let lenient = BucketsLite::start_with(spec);
    let c = lenient.client_as("edward");
    let r = c.get(&c.buckets_path(), &[]).await;
    assert_eq!(r.status, 200, "{}", r.text());
}

#[tokio::test]
async fn objects_survive_a_restart() {
    let (lite, c) = setup().await;
    let r = c
        .put_object("bkt", "keep/me", b"persisted".to_vec(), &[("m-x", "1")])
        .await;
    let etag = r.header("etag").unwrap();
    let lite = lite.restart();
    let c = lite.client_as("alice");
    let r = c.get_object("bkt", "keep/me", &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(&r.body[..], b"persisted");
    assert_eq!(r.header("etag").unwrap(), etag);
    assert_eq!(r.header("m-x").as_deref(), Some("1"));
    assert_eq!(c.head(&c.bucket_path("bkt"), &[]).await.status, 200);
}

#[test]
fn command_line_bad_config_exits_2_and_sigterm_is_graceful() {
    let dir = tempfile::tempdir().unwrap();
    let bin = s3gw_tests::procs::workspace_bin("buckets-lite");
    for (name, text) in [
        ("unknown-key.toml", "bogus = 1\n"),
        (
            "bad-key.toml",
            "[[accounts]]\nlogin = \"a\"\nkeys = [\"ssh-ed25519 AAAA\"]\n",
        ),
        ("no-data.toml", "[[accounts]]\nlogin = \"a\"\n"),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let out = std::process::Command::new(&bin)
            .arg("--config")
            .arg(&path)
            .arg("--listen")
            .arg("127.0.0.1:0")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{name}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("bad configuration"), "{name}: {stderr}");
        assert!(out.stdout.is_empty());
    }
    let out = std::process::Command::new(&bin)
        .arg("--config")
        .arg(dir.path().join("missing.toml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));

    // SIGTERM: a clean exit (status 0).
    let lite = BucketsLite::start();
    let stopped = lite.stop();
    assert!(stopped.exited_cleanly);
}
