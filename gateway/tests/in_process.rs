//! `s3gw::server::start` in-process: the embedded default on port 0 over a
//! temp dir answers with S3 errors and request ids, and stops gracefully.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn raw_http(addr: std::net::SocketAddr, request: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.write_all(request.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), s.read_to_end(&mut out))
        .await
        .expect("answer in time")
        .unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_gateway_runs_in_process() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let mut config = s3gw::config::Config::default();
    config.server.listen = "127.0.0.1:0".into();
    config.server.shutdown_timeout = std::time::Duration::from_secs(5);
    config.embedded.data_dir = dir.path().to_path_buf();
    let gw = s3gw::server::start(config).await.expect("start");
    assert!(gw.url().starts_with("http://127.0.0.1:"));
    let key = gw
        .new_dev_key()
        .expect("first start creates a development key");
    assert_eq!(key.account, "dev");
    assert!(dir.path().join("keys.toml").is_file() && dir.path().join("operator.key").is_file());

    // anonymous: AccessDenied, with request ids; HEAD: no body
    let addr = gw.local_addr();
    let text = raw_http(
        addr,
        "GET /bucket/key HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(text.starts_with("HTTP/1.1 403"), "{text}");
    let lower = text.to_ascii_lowercase();
    assert!(
        lower.contains("x-amz-request-id: ") && lower.contains("x-amz-id-2: "),
        "{text}"
    );
    assert!(text.contains("<Code>AccessDenied</Code>"), "{text}");
    let text = raw_http(
        addr,
        "HEAD /bucket/key HTTP/1.1\r\nHost: bkt.localhost\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(text.starts_with("HTTP/1.1 403"), "{text}");
    assert!(
        !text.contains("<Error>"),
        "HEAD errors carry no body: {text}"
    );
    // an unknown method on an object
    let text = raw_http(
        addr,
        "PATCH /bucket/key HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(text.contains("<Code>MethodNotAllowed</Code>"), "{text}");

    gw.stop().await;
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "stopped"
    );
}
