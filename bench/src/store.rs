//! One face over the two clients, so every workload is written once and runs
//! unchanged on every path.

use anyhow::Result;

use crate::data::Payload;
use crate::native::NativeClient;
use crate::s3::S3Client;

/// How an S3 PUT carries its payload (`x-amz-content-sha256`). The native
/// store has a single PUT, so path B ignores the mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutMode {
    /// `UNSIGNED-PAYLOAD`.
    Unsigned,
    /// The hex SHA-256 of the whole payload, signed (the gateway must verify it
    /// while streaming and refuse to commit on a mismatch).
    SignedSha256(String),
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD`: aws-chunked with chunk signatures.
    Chunked,
}

/// What a GET brought back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetOutcome {
    pub bytes: u64,
    /// MD5 of the body, when verification was asked for.
    pub md5: Option<[u8; 16]>,
}

/// Every key and common prefix of a full listing.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Listing {
    pub keys: Vec<String>,
    pub prefixes: Vec<String>,
    pub pages: usize,
}

/// Which way requests go.
#[derive(Clone)]
pub enum Store {
    /// S3 (path A through s3gw, or path C: any S3 endpoint).
    S3(S3Client),
    /// The native buckets API (path B).
    Native(NativeClient),
}

impl Store {
    pub async fn create_bucket(&self, bucket: &str) -> Result<()> {
        match self {
            Store::S3(c) => c.create_bucket(bucket).await,
            Store::Native(c) => c.create_bucket(bucket).await,
        }
    }

    pub async fn put(
        &self,
        bucket: &str,
        key: &str,
        payload: Payload,
        mode: &PutMode,
    ) -> Result<()> {
        match self {
            Store::S3(c) => c.put(bucket, key, payload, mode.clone()).await,
            Store::Native(c) => c.put(bucket, key, payload).await,
        }
    }

    pub async fn get(&self, bucket: &str, key: &str, verify: bool) -> Result<GetOutcome> {
        match self {
            Store::S3(c) => c.get(bucket, key, verify).await,
            Store::Native(c) => c.get(bucket, key, verify).await,
        }
    }

    pub async fn head(&self, bucket: &str, key: &str) -> Result<u64> {
        match self {
            Store::S3(c) => c.head(bucket, key).await,
            Store::Native(c) => c.head(bucket, key).await,
        }
    }

    pub async fn list_all(
        &self,
        bucket: &str,
        prefix: &str,
        delimiter: Option<&str>,
    ) -> Result<Listing> {
        match self {
            Store::S3(c) => c.list_all(bucket, prefix, delimiter).await,
            Store::Native(c) => c.list_all(bucket, prefix, delimiter).await,
        }
    }

    /// A multipart upload on S3; on the native store, the single PUT of the same
    /// bytes that the issue compares it with.
    pub async fn multipart_put(
        &self,
        bucket: &str,
        key: &str,
        payload: Payload,
        part_size: u64,
        concurrency: usize,
    ) -> Result<()> {
        match self {
            Store::S3(c) => {
                c.multipart_put(bucket, key, payload, part_size, concurrency)
                    .await
            }
            Store::Native(c) => c.put(bucket, key, payload).await,
        }
    }
}
