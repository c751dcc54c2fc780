//! The native client of path B: buckets-API requests straight to the store,
//! signed with HTTP Signature as the operator (buckets-api.md, "Authentication"),
//! addressing `/:account/buckets/...` exactly as the gateway's translator does.
//! This is the ceiling the gateway is measured against.

use std::sync::Arc;
use std::time::SystemTime;

use anyhow::{anyhow, bail, Context, Result};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use reqwest::{Method, Url};
use s3gw_httpsig::{http_date, Signer};
use serde::Deserialize;

use crate::data::Payload;
use crate::s3::{content_length, expect_ok};
use crate::store::{GetOutcome, Listing};

/// Object names are ONE path segment: every byte outside RFC 3986 unreserved
/// characters is percent-encoded, `/` included (buckets-api.md, "Paths").
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Native listing page size: S3's 1000, so both paths make the same number of
/// round trips (the store would take up to 1024).
pub const LIST_LIMIT: usize = 1000;

/// A signed client of one buckets-API endpoint, acting on one account.
#[derive(Clone)]
pub struct NativeClient {
    http: reqwest::Client,
    base: Url,
    account: String,
    signer: Arc<Signer>,
}

#[derive(Deserialize)]
struct Entry {
    name: String,
    #[serde(rename = "type")]
    kind: String,
}

impl NativeClient {
    pub fn new(
        http: reqwest::Client,
        endpoint: &str,
        account: &str,
        signer: Arc<Signer>,
    ) -> Result<Self> {
        Ok(NativeClient {
            http,
            base: Url::parse(endpoint)
                .with_context(|| format!("bad native endpoint {endpoint}"))?,
            account: account.to_string(),
            signer,
        })
    }

    fn request(&self, method: Method, path: &str, query: Option<&str>) -> reqwest::RequestBuilder {
        let mut url = self.base.clone();
        url.set_path(path);
        url.set_query(query);
        let date = http_date(SystemTime::now());
        // sign_date caches per Date string: one signature per second at most.
        let auth = self.signer.sign_date(&date);
        self.http
            .request(method, url)
            .header("date", date)
            .header("authorization", auth)
    }

    fn bucket_path(&self, bucket: &str) -> String {
        format!("/{}/buckets/{bucket}", self.account)
    }

    fn object_path(&self, bucket: &str, key: &str) -> String {
        format!(
            "/{}/buckets/{bucket}/objects/{}",
            self.account,
            utf8_percent_encode(key, SEGMENT)
        )
    }

    pub async fn create_bucket(&self, bucket: &str) -> Result<()> {
        let resp = self
            .request(Method::PUT, &self.bucket_path(bucket), None)
            .send()
            .await?;
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        if status.is_success() || body.contains("BucketAlreadyExists") {
            Ok(())
        } else {
            Err(anyhow!("native CreateBucket {bucket}: {status} {body}"))
        }
    }

    /// CreateBucketObject (the store has one PUT; every S3 payload mode maps to it).
    pub async fn put(&self, bucket: &str, key: &str, payload: Payload) -> Result<()> {
        let resp = self
            .request(Method::PUT, &self.object_path(bucket, key), None)
            .header("content-length", payload.len.to_string())
            .body(payload.body())
            .send()
            .await?;
        expect_ok(resp, "native PUT").await.map(drop)
    }

    pub async fn get(&self, bucket: &str, key: &str, verify: bool) -> Result<GetOutcome> {
        let resp = self
            .request(Method::GET, &self.object_path(bucket, key), None)
            .send()
            .await?;
        GetOutcome::read(expect_ok(resp, "native GET").await?, verify).await
    }

    pub async fn head(&self, bucket: &str, key: &str) -> Result<u64> {
        let resp = self
            .request(Method::HEAD, &self.object_path(bucket, key), None)
            .send()
            .await?;
        content_length(expect_ok(resp, "native HEAD").await?.headers())
    }

    /// ListBucketObjects over every page (`Next-Marker` until absent).
    pub async fn list_all(
        &self,
        bucket: &str,
        prefix: &str,
        delimiter: Option<&str>,
    ) -> Result<Listing> {
        let mut out = Listing::default();
        let mut marker: Option<String> = None;
        let path = format!("{}/objects", self.bucket_path(bucket));
        loop {
            let limit = LIST_LIMIT.to_string();
            let mut pairs: Vec<(&str, &str)> = vec![("limit", &limit)];
            if !prefix.is_empty() {
                pairs.push(("prefix", prefix));
            }
            if let Some(d) = delimiter {
                pairs.push(("delimiter", d));
            }
            if let Some(m) = &marker {
                pairs.push(("marker", m));
            }
            let q = pairs
                .iter()
                .map(|(k, v)| format!("{k}={}", utf8_percent_encode(v, SEGMENT)))
                .collect::<Vec<_>>()
                .join("&");
            let resp = self.request(Method::GET, &path, Some(&q)).send().await?;
            let resp = expect_ok(resp, "native list").await?;
            let next = resp
                .headers()
                .get("next-marker")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let text = resp.text().await?;
            out.pages += 1;
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                let e: Entry = serde_json::from_str(line).context("parsing a listing line")?;
                match e.kind.as_str() {
                    "group" => out.prefixes.push(e.name),
                    "bucketobject" => out.keys.push(e.name),
                    other => bail!("unexpected listing entry type {other}"),
                }
            }
            match next {
                Some(m) => marker = Some(m),
                None => return Ok(out),
            }
        }
    }
}
