//! Contract tests about bodies and crashes: broken and chunked uploads never
//! commit, SIGKILL mid-PUT keeps the old version and leaves no orphan, a
//! 1 GiB object round-trips in bounded memory. Run `cargo build -p
//! buckets-lite` first.

use std::time::{Duration, SystemTime};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use bytes::Bytes;
use futures_util::StreamExt as _;
use md5::{Digest as _, Md5};
use s3gw_httpsig::http_date;
use s3gw_tests::buckets_lite::{BucketsLite, BucketsLiteConfigSpec, NativeClient};
use s3gw_tests::procs::wait_until;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// Files under `objects/` and `tmp/`.
fn body_files(data: &std::path::Path) -> (usize, usize) {
    let count = |p: std::path::PathBuf| -> usize {
        let Ok(rd) = std::fs::read_dir(p) else {
            return 0;
        };
        rd.flatten()
            .map(|e| {
                if e.path().is_dir() {
                    std::fs::read_dir(e.path()).map(|d| d.count()).unwrap_or(0)
                } else {
                    1
                }
            })
            .sum()
    };
    (count(data.join("objects")), count(data.join("tmp")))
}

/// Opens a connection and sends a signed request head (no body yet).
async fn raw_head(
    lite: &BucketsLite,
    method: &str,
    path: &str,
    extra: &[(&str, &str)],
) -> tokio::net::TcpStream {
    let date = http_date(SystemTime::now());
    let auth = lite.signer("alice").sign_date(&date);
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nhost: {}\r\ndate: {date}\r\nauthorization: {auth}\r\n",
        lite.addr
    );
    for (n, v) in extra {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let mut s = tokio::net::TcpStream::connect(lite.addr).await.unwrap();
    s.write_all(head.as_bytes()).await.unwrap();
    s
}

async fn read_status(s: &mut tokio::net::TcpStream) -> (u16, String) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let n = tokio::time::timeout_at(deadline, s.read(&mut chunk))
            .await
            .expect("response in time")
            .unwrap_or(0);
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).into_owned();
        if n == 0
            || text.contains("}")
            || (text.contains("\r\n\r\n") && text.contains("content-length: 0"))
        {
            let status = text
                .split(' ')
                .nth(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            return (status, text);
        }
    }
}

async fn setup() -> (BucketsLite, NativeClient) {
    let lite = BucketsLite::start();
    let c = lite.client_as("alice");
    assert_eq!(c.create_bucket("bkt").await.status, 204);
    (lite, c)
}

#[tokio::test]
async fn broken_and_chunked_uploads() {
    let (lite, c) = setup().await;
    let path = c.object_path("bkt", "o");

    // A chunked body commits.
    let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
        Ok(Bytes::from_static(b"hello ")),
        Ok(Bytes::from_static(b"chunked")),
    ];
    let body = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
    let r = c.put(&path, &[], body).await;
    assert_eq!(r.status, 204, "{}", r.text());
    let old = r.header("etag").unwrap();
    assert_eq!(&c.get(&path, &[]).await.body[..], b"hello chunked");

    // A chunked body whose stream fails midway commits nothing.
    let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
        Ok(Bytes::from(vec![7u8; 300_000])),
        Err(std::io::Error::other("source failed")),
    ];
    let body = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
    let _ = c.try_send_raw("PUT", &path, &[], Some(body)).await;
    // A Content-Length body that ends early (client vanished).
    let mut s = raw_head(&lite, "PUT", &path, &[("content-length", "100000")]).await;
    s.write_all(&[1u8; 5000]).await.unwrap();
    drop(s);
    // The server notices asynchronously: wait for tmp/ to drain.
    assert!(wait_until(Duration::from_secs(30), || body_files(
        &lite.data_dir
    ) == (1, 0)));
    let r = c.get(&path, &[]).await;
    assert_eq!(r.header("etag").unwrap(), old);
    assert_eq!(&r.body[..], b"hello chunked");

    // Chunked past max-content-length: 413, nothing stored.
    let chunks: Vec<Result<Bytes, std::io::Error>> =
        (0..3).map(|_| Ok(Bytes::from(vec![1u8; 2000]))).collect();
    let body = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
    let r = c.put(&path, &[("max-content-length", "4000")], body).await;
    assert_eq!(r.status, 413);
    assert_eq!(r.error_code().as_deref(), Some("MaxContentLengthExceeded"));
    assert_eq!(c.get(&path, &[]).await.header("etag").unwrap(), old);

    // Neither Content-Length nor chunked: 411.
    let mut s = raw_head(&lite, "PUT", &path, &[]).await;
    let (status, text) = read_status(&mut s).await;
    assert_eq!(status, 411, "{text}");
    assert!(text.contains("ContentLengthRequired"));
    assert!(wait_until(Duration::from_secs(30), || body_files(
        &lite.data_dir
    ) == (1, 0)));
}

#[tokio::test]
async fn upload_timeout() {
    let mut spec = BucketsLiteConfigSpec::standard();
    spec.extra_toml = "[limits]\nupload_idle_timeout_secs = 1\n".into();
    let lite = BucketsLite::start_with(spec);
    let c = lite.client_as("alice");
    assert_eq!(c.create_bucket("bkt").await.status, 204);
    let mut s = raw_head(
        &lite,
        "PUT",
        &c.object_path("bkt", "slow"),
        &[("content-length", "1000")],
    )
    .await;
    s.write_all(&[0u8; 10]).await.unwrap();
    let (status, text) = read_status(&mut s).await;
    assert_eq!(status, 408, "{text}");
    assert!(text.contains("UploadTimeout"));
    assert_eq!(c.get_object("bkt", "slow", &[]).await.status, 404);
}

#[tokio::test]
async fn sigkill_during_a_large_put_keeps_the_old_version_and_leaves_no_orphan() {
    let (lite, c) = setup().await;
    let old = c
        .put_object("bkt", "big", b"old version".to_vec(), &[])
        .await;
    assert_eq!(old.status, 204);
    let old_etag = old.header("etag").unwrap();

    // A 256 MiB PUT that has sent 32 MiB when the server is killed.
    let path = c.object_path("bkt", "big");
    let mut s = raw_head(
        &lite,
        "PUT",
        &path,
        &[("content-length", &(256u64 << 20).to_string())],
    )
    .await;
    let block = vec![0xabu8; 1 << 20];
    for _ in 0..32 {
        s.write_all(&block).await.unwrap();
    }
    let tmp = lite.data_dir.join("tmp");
    assert!(
        wait_until(Duration::from_secs(60), || {
            std::fs::read_dir(&tmp)
                .map(|d| {
                    d.flatten()
                        .any(|e| e.metadata().map(|m| m.len() > 0).unwrap_or(false))
                })
                .unwrap_or(false)
        }),
        "the upload reached a temp file"
    );
    let stopped = lite.kill9();
    drop(s);
    // A body that lost its row (as after a crash between rename and commit).
    let orphan = stopped
        .data_dir
        .join("objects/ab/ab0a1f7e-0000-4000-8000-000000000000");
    std::fs::write(&orphan, b"orphan").unwrap();

    let lite = stopped.start();
    let c = lite.client_as("alice");
    let r = c.get_object("bkt", "big", &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(&r.body[..], b"old version");
    assert_eq!(r.header("etag").unwrap(), old_etag);
    assert!(!orphan.exists(), "orphan removed at start");
    assert_eq!(
        body_files(&lite.data_dir),
        (1, 0),
        "only the old body remains"
    );
}

/// Deterministic 1 MiB blocks: a fixed pseudo-random block with the block
/// index stamped into its first bytes.
fn block(seed: &[u8], i: u64) -> Bytes {
    let mut b = seed.to_vec();
    b[..8].copy_from_slice(&i.to_le_bytes());
    Bytes::from(b)
}

fn vm_hwm_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn one_gib_round_trip_streams_with_the_right_md5() {
    const BLOCKS: u64 = 1024; // x 1 MiB
    let (lite, c) = setup().await;
    let mut seed = vec![0u8; 1 << 20];
    let mut x = 0x9e3779b97f4a7c15u64;
    for chunk in seed.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes());
    }
    let seed = std::sync::Arc::new(seed);
    let mut expected = Md5::new();
    for i in 0..BLOCKS {
        expected.update(block(&seed, i));
    }
    let expected = B64.encode(expected.finalize());

    let s2 = seed.clone();
    let stream =
        futures_util::stream::iter(0..BLOCKS).map(move |i| Ok::<_, std::io::Error>(block(&s2, i)));
    let body = reqwest::Body::wrap_stream(stream);
    let len = (BLOCKS << 20).to_string();
    let r = c
        .try_send_raw(
            "PUT",
            &c.object_path("bkt", "gib"),
            &[("content-length", &len), ("content-md5", &expected)],
            Some(body),
        )
        .await
        .unwrap_or_else(|e| panic!("{e:?}\nserver log:\n{}", lite.log_text()));
    assert_eq!(r.status().as_u16(), 204);
    assert_eq!(r.headers()["computed-md5"].to_str().unwrap(), expected);

    let resp = c
        .send_raw("GET", &c.object_path("bkt", "gib"), &[], None)
        .await;
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.headers()["content-length"].to_str().unwrap(), len);
    assert_eq!(resp.headers()["content-md5"].to_str().unwrap(), expected);
    let mut md5 = Md5::new();
    let mut got = 0u64;
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        got += chunk.len() as u64;
        md5.update(&chunk);
    }
    assert_eq!(got, BLOCKS << 20);
    assert_eq!(B64.encode(md5.finalize()), expected);
    // Bounded memory: the server's peak RSS stays far below the object size.
    let hwm = vm_hwm_kib(lite.pid());
    assert!(hwm > 0 && hwm < 256 * 1024, "peak RSS {hwm} KiB");
    eprintln!("buckets-lite peak RSS after a 1 GiB PUT+GET: {hwm} KiB");
    assert_eq!(
        c.delete(&c.object_path("bkt", "gib"), &[]).await.status,
        204
    );
}
