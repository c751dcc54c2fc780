//! The S3 client of paths A (s3gw) and C (any S3 endpoint): path-style
//! requests signed with [`crate::sigv4`], nothing but standard S3.

use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use futures_util::{stream, StreamExt, TryStreamExt};
use reqwest::{header::HeaderMap, Method, StatusCode, Url};
use serde::Deserialize;
use time::OffsetDateTime;

use crate::data::Payload;
use crate::sigv4::{self, Credentials, RequestToSign};
use crate::store::{GetOutcome, Listing, PutMode};

/// Bytes of data per signed aws-chunked chunk. 64 KiB is what the AWS SDKs send.
pub const AWS_CHUNK_SIZE: usize = 64 * 1024;

/// One S3 endpoint and identity.
#[derive(Clone)]
pub struct S3Client {
    http: reqwest::Client,
    base: Url,
    host: String,
    creds: Credentials,
    /// Bytes per aws-chunked chunk.
    pub chunk_size: usize,
}

impl S3Client {
    pub fn new(http: reqwest::Client, endpoint: &str, creds: Credentials) -> Result<Self> {
        let base = Url::parse(endpoint).with_context(|| format!("bad S3 endpoint {endpoint}"))?;
        let host = match (base.host_str(), base.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            _ => bail!("S3 endpoint {endpoint} has no host"),
        };
        Ok(S3Client {
            http,
            base,
            host,
            creds,
            chunk_size: AWS_CHUNK_SIZE,
        })
    }

    /// The HTTP client (its pool).
    pub fn http(&self) -> reqwest::Client {
        self.http.clone()
    }

    /// Builds and signs a request. `extra` headers are signed too.
    fn request(
        &self,
        method: Method,
        bucket: &str,
        key: Option<&str>,
        query: &[(&str, &str)],
        extra: &[(&str, String)],
        payload_hash: &str,
    ) -> reqwest::RequestBuilder {
        let mut path = format!("/{}", sigv4::uri_encode(bucket));
        if let Some(k) = key {
            path.push('/');
            path.push_str(&sigv4::encode_key_path(k));
        }
        let mut url = self.base.clone();
        url.set_path(&path);
        let qs = query
            .iter()
            .map(|(k, v)| {
                if v.is_empty() && matches!(*k, "uploads") {
                    sigv4::uri_encode(k)
                } else {
                    format!("{}={}", sigv4::uri_encode(k), sigv4::uri_encode(v))
                }
            })
            .collect::<Vec<_>>()
            .join("&");
        url.set_query(if qs.is_empty() { None } else { Some(&qs) });
        let date = sigv4::amz_date(OffsetDateTime::now_utc());
        let mut headers: Vec<(&str, &str)> = vec![
            ("host", &self.host),
            ("x-amz-date", &date),
            ("x-amz-content-sha256", payload_hash),
        ];
        headers.extend(extra.iter().map(|(n, v)| (*n, v.as_str())));
        let signed = sigv4::sign(
            &self.creds,
            &date,
            &RequestToSign {
                method: method.as_str(),
                encoded_path: url.path(),
                query,
                headers: &headers,
                payload_hash,
            },
        );
        let mut rb = self
            .http
            .request(method, url)
            .header("authorization", signed.authorization);
        for (n, v) in &headers {
            rb = rb.header(*n, *v);
        }
        rb
    }

    pub async fn create_bucket(&self, bucket: &str) -> Result<()> {
        let resp = self
            .request(Method::PUT, bucket, None, &[], &[], sigv4::EMPTY_SHA256)
            .send()
            .await?;
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        // An existing bucket of ours is fine (re-runs against a kept endpoint).
        if status.is_success() || body.contains("BucketAlreadyOwnedByYou") {
            Ok(())
        } else {
            Err(anyhow!("S3 CreateBucket {bucket}: {status} {body}"))
        }
    }

    /// PutObject with the given payload signing mode.
    pub async fn put(
        &self,
        bucket: &str,
        key: &str,
        payload: Payload,
        mode: PutMode,
    ) -> Result<()> {
        let len = payload.len.to_string();
        let resp = match mode {
            PutMode::Unsigned => {
                self.request(
                    Method::PUT,
                    bucket,
                    Some(key),
                    &[],
                    &[],
                    sigv4::UNSIGNED_PAYLOAD,
                )
                .header("content-length", &len)
                .body(payload.body())
                .send()
                .await?
            }
            PutMode::SignedSha256(ref hash) => {
                self.request(Method::PUT, bucket, Some(key), &[], &[], hash)
                    .header("content-length", &len)
                    .body(payload.body())
                    .send()
                    .await?
            }
            PutMode::Chunked => self.put_chunked(bucket, key, payload).await?,
        };
        expect_ok(resp, "PutObject").await.map(drop)
    }

    /// aws-chunked signed streaming: the seed signature covers the headers, each
    /// chunk's signature chains from the previous one.
    async fn put_chunked(
        &self,
        bucket: &str,
        key: &str,
        payload: Payload,
    ) -> Result<reqwest::Response> {
        let chunk = self.chunk_size;
        let encoded = sigv4::chunked_encoded_len(payload.len, chunk as u64);
        let extra = [
            ("content-encoding", "aws-chunked".to_string()),
            ("content-length", encoded.to_string()),
            ("x-amz-decoded-content-length", payload.len.to_string()),
        ];
        // Sign first (the seed signature), then attach the signed request to a body
        // stream that signs as it goes.
        let date = sigv4::amz_date(OffsetDateTime::now_utc());
        let path = format!(
            "/{}/{}",
            sigv4::uri_encode(bucket),
            sigv4::encode_key_path(key)
        );
        let mut headers: Vec<(&str, &str)> = vec![
            ("host", &self.host),
            ("x-amz-date", &date),
            ("x-amz-content-sha256", sigv4::STREAMING_PAYLOAD),
        ];
        headers.extend(extra.iter().map(|(n, v)| (*n, v.as_str())));
        let seed = sigv4::sign(
            &self.creds,
            &date,
            &RequestToSign {
                method: "PUT",
                encoded_path: &path,
                query: &[],
                headers: &headers,
                payload_hash: sigv4::STREAMING_PAYLOAD,
            },
        );
        let mut signer = sigv4::ChunkSigner::new(&seed);
        let chunks = (payload.len.div_ceil(chunk as u64)) + 1;
        let body = stream::iter(0..chunks).map(move |i| {
            let off = i * chunk as u64;
            let n = payload.len.saturating_sub(off).min(chunk as u64);
            let data = if n == 0 {
                Vec::new()
            } else {
                payload.slice(off, n).to_vec()
            };
            let sig = signer.next(&data);
            Ok::<_, std::io::Error>(Bytes::from(sigv4::frame_chunk(&data, &sig)))
        });
        let mut url = self.base.clone();
        url.set_path(&path);
        let mut rb = self
            .http
            .put(url)
            .header("authorization", seed.authorization)
            .body(reqwest::Body::wrap_stream(body));
        for (n, v) in &headers {
            rb = rb.header(*n, *v);
        }
        Ok(rb.send().await?)
    }

    /// GetObject, streaming the body; hashes it when `verify`.
    pub async fn get(&self, bucket: &str, key: &str, verify: bool) -> Result<GetOutcome> {
        let resp = self
            .request(
                Method::GET,
                bucket,
                Some(key),
                &[],
                &[],
                sigv4::EMPTY_SHA256,
            )
            .send()
            .await?;
        let resp = expect_ok(resp, "GetObject").await?;
        GetOutcome::read(resp, verify).await
    }

    /// HeadObject; returns Content-Length.
    pub async fn head(&self, bucket: &str, key: &str) -> Result<u64> {
        let resp = self
            .request(
                Method::HEAD,
                bucket,
                Some(key),
                &[],
                &[],
                sigv4::EMPTY_SHA256,
            )
            .send()
            .await?;
        let resp = expect_ok(resp, "HeadObject").await?;
        content_length(resp.headers())
    }

    /// ListObjectsV2 over every page.
    pub async fn list_all(
        &self,
        bucket: &str,
        prefix: &str,
        delimiter: Option<&str>,
    ) -> Result<Listing> {
        let mut out = Listing::default();
        let mut token: Option<String> = None;
        loop {
            let mut q: Vec<(&str, &str)> = vec![("list-type", "2"), ("prefix", prefix)];
            if let Some(d) = delimiter {
                q.push(("delimiter", d));
            }
            if let Some(t) = &token {
                q.push(("continuation-token", t));
            }
            let resp = self
                .request(Method::GET, bucket, None, &q, &[], sigv4::EMPTY_SHA256)
                .send()
                .await?;
            let text = expect_ok(resp, "ListObjectsV2").await?.text().await?;
            let page: ListBucketResult =
                quick_xml::de::from_str(&text).context("parsing ListBucketResult")?;
            out.pages += 1;
            out.keys.extend(page.contents.into_iter().map(|c| c.key));
            out.prefixes
                .extend(page.common_prefixes.into_iter().map(|c| c.prefix));
            match (page.is_truncated, page.next_continuation_token) {
                (true, Some(t)) => token = Some(t),
                (true, None) => bail!("ListObjectsV2: truncated page without a token"),
                (false, _) => return Ok(out),
            }
        }
    }

    /// Multipart upload of `payload` in `part_size` parts, `concurrency` parts in
    /// flight, then CompleteMultipartUpload.
    pub async fn multipart_put(
        &self,
        bucket: &str,
        key: &str,
        payload: Payload,
        part_size: u64,
        concurrency: usize,
    ) -> Result<()> {
        let upload = self
            .upload_parts(bucket, key, payload, part_size, concurrency)
            .await?;
        self.complete_multipart(bucket, key, &upload).await
    }

    /// CreateMultipartUpload and every part of `payload` (`concurrency` in
    /// flight): what Complete then needs.
    pub async fn upload_parts(
        &self,
        bucket: &str,
        key: &str,
        payload: Payload,
        part_size: u64,
        concurrency: usize,
    ) -> Result<UploadedParts> {
        let resp = self
            .request(
                Method::POST,
                bucket,
                Some(key),
                &[("uploads", "")],
                &[],
                sigv4::EMPTY_SHA256,
            )
            .send()
            .await?;
        let text = expect_ok(resp, "CreateMultipartUpload")
            .await?
            .text()
            .await?;
        let init: InitiateResult =
            quick_xml::de::from_str(&text).context("parsing InitiateMultipartUploadResult")?;
        let upload_id = init.upload_id;
        let parts = payload.len.div_ceil(part_size).max(1);
        let etags: Vec<(u64, String)> = stream::iter(1..=parts)
            .map(|n| {
                let upload_id = upload_id.clone();
                async move {
                    let off = (n - 1) * part_size;
                    let part = payload.slice(off, part_size.min(payload.len - off));
                    let num = n.to_string();
                    let resp = self
                        .request(
                            Method::PUT,
                            bucket,
                            Some(key),
                            &[("partNumber", &num), ("uploadId", &upload_id)],
                            &[],
                            sigv4::UNSIGNED_PAYLOAD,
                        )
                        .header("content-length", part.len.to_string())
                        .body(part.body())
                        .send()
                        .await?;
                    let resp = expect_ok(resp, "UploadPart").await?;
                    let etag = resp
                        .headers()
                        .get("etag")
                        .and_then(|v| v.to_str().ok())
                        .ok_or_else(|| anyhow!("UploadPart {n}: no ETag"))?
                        .to_string();
                    Ok::<_, anyhow::Error>((n, etag))
                }
            })
            .buffered(concurrency.max(1))
            .try_collect()
            .await?;
        Ok(UploadedParts { upload_id, etags })
    }

    /// CompleteMultipartUpload of every uploaded part.
    pub async fn complete_multipart(
        &self,
        bucket: &str,
        key: &str,
        upload: &UploadedParts,
    ) -> Result<()> {
        let mut xml = String::from("<CompleteMultipartUpload>");
        for (n, etag) in &upload.etags {
            // ETags come back quoted and are hex: nothing to escape.
            xml.push_str(&format!(
                "<Part><PartNumber>{n}</PartNumber><ETag>{etag}</ETag></Part>"
            ));
        }
        xml.push_str("</CompleteMultipartUpload>");
        let hash = sigv4::sha256_hex(xml.as_bytes());
        let resp = self
            .request(
                Method::POST,
                bucket,
                Some(key),
                &[("uploadId", &upload.upload_id)],
                &[],
                &hash,
            )
            .body(xml)
            .send()
            .await?;
        let text = expect_ok(resp, "CompleteMultipartUpload")
            .await?
            .text()
            .await?;
        // A long Complete answers 200 at once and reports failure in the body.
        if text.contains("<Error>") {
            bail!("CompleteMultipartUpload failed: {}", text.trim());
        }
        Ok(())
    }

    /// PutObject (unsigned payload) whose body arrives slowly: `pieces`
    /// pieces of `piece` bytes, one every `gap` (a slow client).
    pub async fn put_slowly(
        &self,
        bucket: &str,
        key: &str,
        piece: usize,
        pieces: usize,
        gap: std::time::Duration,
    ) -> Result<()> {
        let len = (piece * pieces).to_string();
        let body = stream::iter(0..pieces).then(move |i| async move {
            if i > 0 {
                tokio::time::sleep(gap).await;
            }
            Ok::<_, std::io::Error>(Bytes::from(vec![b'x'; piece]))
        });
        let resp = self
            .request(
                Method::PUT,
                bucket,
                Some(key),
                &[],
                &[],
                sigv4::UNSIGNED_PAYLOAD,
            )
            .header("content-length", &len)
            .body(reqwest::Body::wrap_stream(body))
            .send()
            .await?;
        expect_ok(resp, "PutObject (slow)").await.map(drop)
    }
}

/// A multipart upload whose parts are all uploaded.
#[derive(Debug, Clone)]
pub struct UploadedParts {
    pub upload_id: String,
    /// (part number, quoted ETag), in order.
    pub etags: Vec<(u64, String)>,
}

/// Fails on a non-2xx answer, with its body in the message.
pub(crate) async fn expect_ok(resp: reqwest::Response, what: &str) -> Result<reqwest::Response> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let body = resp.text().await.unwrap_or_default();
    Err(anyhow!("{what}: HTTP {status}: {}", body.trim()))
}

pub(crate) fn content_length(h: &HeaderMap) -> Result<u64> {
    h.get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| anyhow!("no Content-Length"))
}

impl GetOutcome {
    /// Drains a response body, counting (and hashing when asked).
    pub(crate) async fn read(resp: reqwest::Response, verify: bool) -> Result<GetOutcome> {
        use md5::{Digest, Md5};
        let status = resp.status();
        debug_assert!(status == StatusCode::OK || status == StatusCode::PARTIAL_CONTENT);
        let mut h = verify.then(Md5::new);
        let mut bytes = 0u64;
        let mut body = resp.bytes_stream();
        while let Some(piece) = body.next().await {
            let piece = piece?;
            bytes += piece.len() as u64;
            if let Some(h) = h.as_mut() {
                h.update(&piece);
            }
        }
        Ok(GetOutcome {
            bytes,
            md5: h.map(|h| h.finalize().into()),
        })
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListBucketResult {
    #[serde(default)]
    is_truncated: bool,
    #[serde(default)]
    next_continuation_token: Option<String>,
    #[serde(default)]
    contents: Vec<Contents>,
    #[serde(default)]
    common_prefixes: Vec<CommonPrefix>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Contents {
    key: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CommonPrefix {
    prefix: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct InitiateResult {
    upload_id: String,
}
