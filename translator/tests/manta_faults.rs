//! The translator against a fault-injecting stand-in of the native store (a
//! tiny tokio TCP server in this test): every failure must become the right
//! `BackendError`, reads are retried only on connection errors, writes never,
//! and nothing is half-done (no partial page, no second write).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use s3gw_httpsig::PrivateKey;
use s3gw_translator::manta::{MantaBackend, MantaConfig};
use s3gw_translator::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[derive(Clone, Copy)]
enum Fault {
    /// 500 with a native InternalError body.
    Internal500,
    /// 503 ThrottledError.
    Throttled,
    /// Accept, read the request, never answer.
    Hang,
    /// A 200 listing whose second line is not JSON.
    MalformedListing,
    /// Close the connection without answering.
    Drop,
    /// A 404 ObjectNotFound JSON body.
    NotFound,
    /// What actix-web (buckets-lite) answers a connection whose first
    /// request head came late: a bare 408, then close.
    Late408,
    /// [`Fault::Late408`] to the first request, [`Fault::NotFound`] after.
    Late408Once,
}

struct StandIn {
    url: String,
    requests: Arc<AtomicUsize>,
}

async fn stand_in(fault: Fault) -> StandIn {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let requests = Arc::new(AtomicUsize::new(0));
    let count = requests.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let count = count.clone();
            tokio::spawn(async move {
                // Read the request head (bodies are not needed by any fault).
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let nth = count.fetch_add(1, Ordering::SeqCst);
                let json = |status: &str, code: &str| {
                    let body = format!("{{\"code\":\"{code}\",\"message\":\"injected\"}}");
                    format!(
                        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    )
                };
                let late408 =
                    "HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        .to_owned();
                let answer = match fault {
                    Fault::Late408 => late408,
                    Fault::Late408Once if nth == 0 => late408,
                    Fault::Late408Once => json("404 Not Found", "ObjectNotFound"),
                    Fault::Internal500 => json("500 Internal Server Error", "InternalError"),
                    Fault::Throttled => json("503 Service Unavailable", "ThrottledError"),
                    Fault::NotFound => json("404 Not Found", "ObjectNotFound"),
                    Fault::MalformedListing => {
                        let body = "{\"name\":\"a\",\"etag\":\"u\",\"size\":1,\"contentType\":\"text/plain\",\"contentMD5\":\"XrY7u+Ae7tCTyyK7j1rNww==\",\"mtime\":\"2019-10-16T20:35:11.259Z\",\"type\":\"bucketobject\"}\n{\"name\":\"b\",\"type\":\n";
                        format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())
                    }
                    Fault::Hang => {
                        // Accept, read, never answer: the store is stuck. The
                        // task ends when the test's runtime shuts down.
                        std::future::pending::<()>().await;
                        return;
                    }
                    Fault::Drop => return,
                };
                let _ = sock.write_all(answer.as_bytes()).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    StandIn { url, requests }
}

fn backend(url: &str) -> MantaBackend {
    let mut cfg = MantaConfig::new(
        url,
        "operator",
        PrivateKey::generate_ecdsa(256).expect("P-256"),
    );
    cfg.request_timeout = Duration::from_secs(2);
    cfg.connect_timeout = Duration::from_secs(2);
    MantaBackend::new(cfg).unwrap()
}

fn cx() -> RequestContext {
    RequestContext {
        tenant: Tenant {
            login: "alice".into(),
            uuid: "u".into(),
        },
        request_id: "req-1".into(),
    }
}

fn list_input() -> ListObjectsInput {
    ListObjectsInput {
        bucket: BucketName::parse("bkt").unwrap(),
        prefix: String::new(),
        delimiter: None,
        start_after: None,
        max_keys: 1000,
    }
}

fn get_input() -> GetObjectInput {
    GetObjectInput {
        bucket: BucketName::parse("bkt").unwrap(),
        key: ObjectKey::parse("k").unwrap(),
        range: None,
        part_number: None,
        conditions: ReadConditions::default(),
        checksum_mode: false,
    }
}

fn put_input() -> PutObjectInput {
    let data = bytes::Bytes::from_static(b"hello");
    PutObjectInput {
        bucket: BucketName::parse("bkt").unwrap(),
        key: ObjectKey::parse("k").unwrap(),
        body: Body {
            stream: Box::pin(futures_util::stream::iter([Ok::<_, BodyError>(data)])),
            length: Some(5),
            content_md5: None,
            checksum: ChecksumInput::None,
        },
        meta: ObjectMeta::default(),
        condition: WriteCondition::None,
    }
}

#[tokio::test]
async fn native_500_is_internal_error() {
    let s = stand_in(Fault::Internal500).await;
    let b = backend(&s.url);
    let e = b.list_objects(&cx(), list_input()).await.unwrap_err();
    assert!(matches!(e, BackendError::Internal(_)), "{e:?}");
    let e = b.put_object(&cx(), put_input()).await.unwrap_err();
    assert!(matches!(e, BackendError::Internal(_)), "{e:?}");
}

#[tokio::test]
async fn throttled_is_slow_down_and_not_found_is_no_such_key() {
    let s = stand_in(Fault::Throttled).await;
    let e = backend(&s.url)
        .get_object(&cx(), get_input())
        .await
        .err()
        .unwrap();
    assert!(matches!(e, BackendError::SlowDown), "{e:?}");
    let s = stand_in(Fault::NotFound).await;
    let e = backend(&s.url)
        .get_object(&cx(), get_input())
        .await
        .err()
        .unwrap();
    assert!(matches!(e, BackendError::NoSuchKey), "{e:?}");
}

#[tokio::test]
async fn hanging_store_times_out_as_service_unavailable() {
    let s = stand_in(Fault::Hang).await;
    let b = backend(&s.url);
    let e = b.get_object(&cx(), get_input()).await.err().unwrap();
    assert!(matches!(e, BackendError::ServiceUnavailable(_)), "{e:?}");
    let e = b.put_object(&cx(), put_input()).await.unwrap_err();
    assert!(matches!(e, BackendError::ServiceUnavailable(_)), "{e:?}");
}

#[tokio::test]
async fn malformed_listing_fails_the_whole_page() {
    let s = stand_in(Fault::MalformedListing).await;
    let e = backend(&s.url)
        .list_objects(&cx(), list_input())
        .await
        .unwrap_err();
    // No partial page: the first, valid line is not returned as a result.
    assert!(matches!(e, BackendError::Internal(_)), "{e:?}");
}

#[tokio::test]
async fn reads_are_retried_on_connection_loss_writes_are_not() {
    let s = stand_in(Fault::Drop).await;
    let b = backend(&s.url);
    let e = b.get_object(&cx(), get_input()).await.err().unwrap();
    assert!(matches!(e, BackendError::ServiceUnavailable(_)), "{e:?}");
    // One attempt plus the two default retries.
    assert_eq!(s.requests.load(Ordering::SeqCst), 3);
    let before = s.requests.load(Ordering::SeqCst);
    let e = b.put_object(&cx(), put_input()).await.unwrap_err();
    assert!(matches!(e, BackendError::ServiceUnavailable(_)), "{e:?}");
    assert_eq!(
        s.requests.load(Ordering::SeqCst) - before,
        1,
        "a write is never retried"
    );
}

#[tokio::test]
async fn unreachable_store_is_service_unavailable() {
    // A port nobody listens on: bind, learn the port, close.
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    drop(l);
    let e = backend(&url).ready().await.unwrap_err();
    assert!(matches!(e, BackendError::ServiceUnavailable(_)), "{e:?}");
}

#[tokio::test]
async fn native_408_is_retried_for_reads_then_slow_down_never_request_timeout() {
    // The store not reading our request in time is not the S3 client's
    // slow request (S3 RequestTimeout, a 400): reads are retried, and what
    // still fails is a retryable 503 SlowDown.
    let s = stand_in(Fault::Late408Once).await;
    let e = backend(&s.url)
        .get_object(&cx(), get_input())
        .await
        .err()
        .unwrap();
    assert!(matches!(e, BackendError::NoSuchKey), "{e:?}");
    assert_eq!(
        s.requests.load(Ordering::SeqCst),
        2,
        "one retry after the 408"
    );

    let s = stand_in(Fault::Late408).await;
    let b = backend(&s.url);
    let e = b.get_object(&cx(), get_input()).await.err().unwrap();
    assert!(matches!(e, BackendError::SlowDown), "{e:?}");
    assert_eq!(s.requests.load(Ordering::SeqCst), 3, "1 + 2 retries");
    let e = b.list_objects(&cx(), list_input()).await.unwrap_err();
    assert!(matches!(e, BackendError::SlowDown), "{e:?}");
    let before = s.requests.load(Ordering::SeqCst);
    let e = b.put_object(&cx(), put_input()).await.unwrap_err();
    assert!(matches!(e, BackendError::SlowDown), "{e:?}");
    assert_eq!(
        s.requests.load(Ordering::SeqCst) - before,
        1,
        "a write is never retried"
    );
}
