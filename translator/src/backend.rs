//! The `Backend` trait: every S3 operation the gateway serves, in S3
//! semantics (typed inputs and outputs, streaming bodies), with no XML, no
//! HTTP framework and no native wire types. The gateway's handlers call it;
//! [`crate::manta::MantaBackend`] implements it over the native buckets API.
//!
//! Every method defaults to `NotImplemented`, so a backend grows one
//! operation at a time (the s3s habit, style.md).

use std::pin::Pin;
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::Stream;

use crate::types::*;

/// An error carried inside a body stream. The gateway's verifying streams
/// (digests, chunk signatures, checksums) yield their own error types here;
/// when a backend sees one it aborts the native write and returns
/// [`BackendError::Body`] with the same boxed error, so the gateway can
/// downcast it back to the precise S3 error (BadDigest, ...).
pub type BodyError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A streamed body. Bodies are never held whole in memory.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, BodyError>> + Send + 'static>>;

/// The checksum a client asked to store with an object, known either before
/// the body (a header) or only after it (an aws-chunked trailer).
pub enum ChecksumInput {
    None,
    /// From an `x-amz-checksum-*` header, already verified by the gateway's
    /// stream by the time the stream ends successfully.
    Known(Checksum),
    /// From a trailer: resolved by the gateway once the body stream has ended
    /// and the trailer was verified. Dropped unresolved when there was none.
    Trailer(tokio::sync::oneshot::Receiver<Checksum>),
}

/// A request body.
pub struct Body {
    pub stream: ByteStream,
    /// The decoded length when the client declared it (`Content-Length`, or
    /// `x-amz-decoded-content-length` for aws-chunked bodies).
    pub length: Option<u64>,
    /// The client's Content-MD5, already checked by the gateway's stream;
    /// passed on so the native store checks it again before committing.
    pub content_md5: Option<[u8; 16]>,
    pub checksum: ChecksumInput,
}

/// Failures in S3 terms. The gateway's one S3 error table maps each variant to
/// its wire code and HTTP status; detail strings go to the log only.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("no such bucket")]
    NoSuchBucket,
    #[error("no such key")]
    NoSuchKey,
    #[error("no such upload")]
    NoSuchUpload,
    #[error("bucket already exists")]
    BucketAlreadyExists,
    #[error("bucket already owned by you")]
    BucketAlreadyOwnedByYou,
    #[error("bucket not empty")]
    BucketNotEmpty,
    #[error("invalid bucket name")]
    InvalidBucketName,
    #[error("key too long or invalid")]
    KeyTooLongError,
    #[error("precondition failed")]
    PreconditionFailed,
    /// A conditional GET/HEAD hit (304); carries the object's ETag and time.
    #[error("not modified")]
    NotModified {
        etag: ETag,
        last_modified: SystemTime,
    },
    #[error("invalid range for object of size {size}")]
    InvalidRange { size: u64 },
    #[error("invalid part")]
    InvalidPart,
    /// GetObject/HeadObject `partNumber` beyond the object's parts (400).
    #[error("invalid part number")]
    InvalidPartNumber,
    #[error("invalid part order")]
    InvalidPartOrder,
    #[error("entity too small")]
    EntityTooSmall,
    #[error("entity too large")]
    EntityTooLarge,
    #[error("metadata too large")]
    MetadataTooLarge,
    #[error("bad digest")]
    BadDigest,
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    #[error("conditional request conflict")]
    ConditionalRequestConflict,
    #[error("{0} is not implemented")]
    NotImplemented(&'static str),
    #[error("access denied")]
    AccessDenied,
    #[error("slow down")]
    SlowDown,
    #[error("request timeout")]
    RequestTimeout,
    /// The store is unreachable or overloaded (503). Detail is logged only.
    #[error("service unavailable: {0}")]
    ServiceUnavailable(String),
    /// Anything unexpected (500). Detail is logged only.
    #[error("internal error: {0}")]
    Internal(String),
    /// The request body stream failed (client gone, or a gateway verifier
    /// rejected it): nothing was committed.
    #[error("request body failed: {0}")]
    Body(BodyError),
}

pub type BackendResult<T> = Result<T, BackendError>;

// ---------------------------------------------------------------- buckets

#[derive(Debug, Clone)]
pub struct BucketInfo {
    pub name: String,
    pub created: SystemTime,
}

#[derive(Debug, Clone)]
pub struct ListBucketsOutput {
    pub buckets: Vec<BucketInfo>,
}

// ---------------------------------------------------------------- listing

/// ListObjects v1/v2 and ListObjectVersions share this: the gateway turns
/// `marker`, `start-after` and decoded continuation tokens into `start_after`.
#[derive(Debug, Clone)]
pub struct ListObjectsInput {
    pub bucket: BucketName,
    pub prefix: String,
    /// Any non-empty delimiter; multi-character ones are grouped by the
    /// translator (the store takes one character).
    pub delimiter: Option<String>,
    /// Exclusive: only keys (and prefixes) sorting after this.
    pub start_after: Option<String>,
    /// 0..=1000.
    pub max_keys: u32,
}

#[derive(Debug, Clone)]
pub struct ObjectSummary {
    pub key: String,
    pub size: u64,
    pub etag: ETag,
    pub last_modified: SystemTime,
    pub storage_class: StorageClass,
}

#[derive(Debug, Clone)]
pub struct ListObjectsOutput {
    /// Ascending byte order of the UTF-8 key.
    pub objects: Vec<ObjectSummary>,
    pub common_prefixes: Vec<String>,
    pub is_truncated: bool,
    /// When truncated: the last key or common prefix returned, to pass back
    /// as `start_after` (S3 NextMarker semantics).
    pub next_start_after: Option<String>,
}

// ---------------------------------------------------------------- objects

pub struct PutObjectInput {
    pub bucket: BucketName,
    pub key: ObjectKey,
    pub body: Body,
    pub meta: ObjectMeta,
    pub condition: WriteCondition,
}

#[derive(Debug, Clone)]
pub struct PutObjectOutput {
    pub etag: ETag,
    pub last_modified: SystemTime,
    pub checksum: Option<Checksum>,
}

#[derive(Debug, Clone)]
pub struct GetObjectInput {
    pub bucket: BucketName,
    pub key: ObjectKey,
    pub range: Option<ByteRange>,
    /// GetObject/HeadObject `partNumber`: that part of a multipart object
    /// (a simple object has exactly one part).
    pub part_number: Option<PartNumber>,
    pub conditions: ReadConditions,
    /// `x-amz-checksum-mode: ENABLED`: return the stored checksum.
    pub checksum_mode: bool,
}

pub struct GetObjectOutput {
    pub info: ObjectInfo,
    /// Inclusive byte range served, with the whole size, when a range or a
    /// part was asked for (206 Partial Content).
    pub content_range: Option<(u64, u64, u64)>,
    /// Length of `body` in bytes.
    pub content_length: u64,
    pub body: ByteStream,
}

#[derive(Debug, Clone)]
pub struct HeadObjectOutput {
    pub info: ObjectInfo,
    pub content_range: Option<(u64, u64, u64)>,
    pub content_length: u64,
}

#[derive(Debug, Clone)]
pub struct DeleteObjectsOutput {
    /// One result per requested key, in request order.
    pub results: Vec<(String, Result<(), DeleteObjectError>)>,
}

/// A per-key failure of DeleteObjects (S3 reports it in the `<Error>` list).
#[derive(Debug, Clone)]
pub struct DeleteObjectError {
    /// S3 error code, e.g. `InternalError`, `AccessDenied`.
    pub code: &'static str,
    pub message: String,
}

/// (Not boxed: one value per CopyObject request, and the gateway builds it
/// by value.)
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetadataDirective {
    Copy,
    Replace(ObjectMeta),
}

/// CopyObject's `x-amz-tagging-directive`: the copy keeps the source's
/// tags (COPY, S3's default, whatever the metadata directive), or gets the
/// request's own (REPLACE: the canonical form of `x-amz-tagging`, `None`
/// for none).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum TaggingDirective {
    #[default]
    Copy,
    Replace(Option<String>),
}

#[derive(Debug, Clone)]
pub struct CopyObjectInput {
    pub source: CopySource,
    pub source_conditions: ReadConditions,
    pub bucket: BucketName,
    pub key: ObjectKey,
    pub metadata: MetadataDirective,
    pub tagging: TaggingDirective,
    pub condition: WriteCondition,
    /// The copy's canned ACL (`x-amz-acl`; `None`: private). A copy never
    /// takes the source's ACL, whatever the metadata directive.
    pub acl: Option<crate::acl::CannedAcl>,
}

#[derive(Debug, Clone)]
pub struct CopyObjectOutput {
    pub etag: ETag,
    pub last_modified: SystemTime,
}

// ---------------------------------------------------------------- multipart

#[derive(Debug, Clone)]
pub struct CreateMultipartUploadInput {
    pub bucket: BucketName,
    pub key: ObjectKey,
    pub meta: ObjectMeta,
    pub checksum_algorithm: Option<ChecksumAlgorithm>,
    pub checksum_type: Option<ChecksumType>,
}

#[derive(Debug, Clone)]
pub struct CreateMultipartUploadOutput {
    pub upload_id: UploadId,
}

pub struct UploadPartInput {
    pub bucket: BucketName,
    pub key: ObjectKey,
    pub upload_id: UploadId,
    pub part_number: PartNumber,
    pub body: Body,
}

#[derive(Debug, Clone)]
pub struct UploadPartOutput {
    pub etag: ETag,
    pub checksum: Option<Checksum>,
}

#[derive(Debug, Clone)]
pub struct UploadPartCopyInput {
    pub bucket: BucketName,
    pub key: ObjectKey,
    pub upload_id: UploadId,
    pub part_number: PartNumber,
    pub source: CopySource,
    pub source_range: Option<ByteRange>,
    pub source_conditions: ReadConditions,
}

#[derive(Debug, Clone)]
pub struct CompletedPart {
    pub part_number: PartNumber,
    pub etag: ETag,
    pub checksum: Option<Checksum>,
}

#[derive(Debug, Clone)]
pub struct CompleteMultipartUploadInput {
    pub bucket: BucketName,
    pub key: ObjectKey,
    pub upload_id: UploadId,
    /// As the client listed them (validated by the backend: order, ETags, sizes).
    pub parts: Vec<CompletedPart>,
    pub condition: WriteCondition,
    /// An `x-amz-checksum-*` header on the Complete request: the object's
    /// checksum as the client computed it (BadDigest when it differs).
    pub checksum: Option<Checksum>,
}

#[derive(Debug, Clone)]
pub struct CompleteMultipartUploadOutput {
    pub etag: ETag,
    pub checksum: Option<Checksum>,
}

#[derive(Debug, Clone)]
pub struct ListPartsInput {
    pub bucket: BucketName,
    pub key: ObjectKey,
    pub upload_id: UploadId,
    /// Exclusive.
    pub part_number_marker: Option<u16>,
    /// 0..=1000.
    pub max_parts: u32,
}

#[derive(Debug, Clone)]
pub struct PartInfo {
    pub part_number: PartNumber,
    pub etag: ETag,
    pub size: u64,
    pub last_modified: SystemTime,
    pub checksum: Option<Checksum>,
}

#[derive(Debug, Clone)]
pub struct ListPartsOutput {
    pub parts: Vec<PartInfo>,
    pub is_truncated: bool,
    pub next_part_number_marker: Option<u16>,
    pub initiated: SystemTime,
    pub storage_class: StorageClass,
    pub checksum_algorithm: Option<ChecksumAlgorithm>,
    pub checksum_type: Option<ChecksumType>,
}

#[derive(Debug, Clone)]
pub struct ListMultipartUploadsInput {
    pub bucket: BucketName,
    pub prefix: String,
    pub delimiter: Option<String>,
    pub key_marker: Option<String>,
    pub upload_id_marker: Option<String>,
    /// 0..=1000.
    pub max_uploads: u32,
}

#[derive(Debug, Clone)]
pub struct UploadInfo {
    pub key: String,
    pub upload_id: UploadId,
    pub initiated: SystemTime,
    pub storage_class: StorageClass,
    pub checksum_algorithm: Option<ChecksumAlgorithm>,
}

#[derive(Debug, Clone)]
pub struct ListMultipartUploadsOutput {
    pub uploads: Vec<UploadInfo>,
    pub common_prefixes: Vec<String>,
    pub is_truncated: bool,
    pub next_key_marker: Option<String>,
    pub next_upload_id_marker: Option<String>,
}

// ---------------------------------------------------------------- the trait

/// Every S3 operation the gateway can serve. Implementations must be
/// stateless across requests (any instance may continue any upload).
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// Readiness probe of the store (health checks).
    async fn ready(&self) -> BackendResult<()> {
        Err(BackendError::NotImplemented("Ready"))
    }

    async fn list_buckets(&self, _cx: &RequestContext) -> BackendResult<ListBucketsOutput> {
        Err(BackendError::NotImplemented("ListBuckets"))
    }
    async fn create_bucket(&self, _cx: &RequestContext, _bucket: &BucketName) -> BackendResult<()> {
        Err(BackendError::NotImplemented("CreateBucket"))
    }
    async fn head_bucket(&self, _cx: &RequestContext, _bucket: &BucketName) -> BackendResult<()> {
        Err(BackendError::NotImplemented("HeadBucket"))
    }
    async fn delete_bucket(&self, _cx: &RequestContext, _bucket: &BucketName) -> BackendResult<()> {
        Err(BackendError::NotImplemented("DeleteBucket"))
    }
    async fn list_objects(
        &self,
        _cx: &RequestContext,
        _input: ListObjectsInput,
    ) -> BackendResult<ListObjectsOutput> {
        Err(BackendError::NotImplemented("ListObjects"))
    }

    /// The bucket's configuration record as stored now (never cached here),
    /// `None` when it was never written. NoSuchBucket for a missing bucket.
    async fn get_bucket_config(
        &self,
        _cx: &RequestContext,
        _bucket: &BucketName,
    ) -> BackendResult<Option<crate::StoredBucketConfig>> {
        Err(BackendError::NotImplemented("GetBucketConfig"))
    }
    /// Writes the record atomically: `expected: None` creates it only if
    /// absent, `Some(version)` replaces it only if still at that version;
    /// PreconditionFailed otherwise. Returns the new version.
    async fn put_bucket_config(
        &self,
        _cx: &RequestContext,
        _bucket: &BucketName,
        _config: &crate::BucketConfig,
        _expected: Option<&str>,
    ) -> BackendResult<String> {
        Err(BackendError::NotImplemented("PutBucketConfig"))
    }

    async fn put_object(
        &self,
        _cx: &RequestContext,
        _input: PutObjectInput,
    ) -> BackendResult<PutObjectOutput> {
        Err(BackendError::NotImplemented("PutObject"))
    }
    async fn get_object(
        &self,
        _cx: &RequestContext,
        _input: GetObjectInput,
    ) -> BackendResult<GetObjectOutput> {
        Err(BackendError::NotImplemented("GetObject"))
    }
    async fn head_object(
        &self,
        _cx: &RequestContext,
        _input: GetObjectInput,
    ) -> BackendResult<HeadObjectOutput> {
        Err(BackendError::NotImplemented("HeadObject"))
    }
    /// S3 semantics: succeeds for a missing key too.
    async fn delete_object(
        &self,
        _cx: &RequestContext,
        _bucket: &BucketName,
        _key: &ObjectKey,
    ) -> BackendResult<()> {
        Err(BackendError::NotImplemented("DeleteObject"))
    }
    async fn delete_objects(
        &self,
        _cx: &RequestContext,
        _bucket: &BucketName,
        _keys: Vec<ObjectKey>,
    ) -> BackendResult<DeleteObjectsOutput> {
        Err(BackendError::NotImplemented("DeleteObjects"))
    }
    async fn copy_object(
        &self,
        _cx: &RequestContext,
        _input: CopyObjectInput,
    ) -> BackendResult<CopyObjectOutput> {
        Err(BackendError::NotImplemented("CopyObject"))
    }
    /// Replaces an object's tag set (PutObjectTagging; `None` removes it,
    /// DeleteObjectTagging), keeping its bytes, ETag and every other piece
    /// of its metadata. NoSuchKey for a missing object.
    async fn put_object_tagging(
        &self,
        _cx: &RequestContext,
        _bucket: &BucketName,
        _key: &ObjectKey,
        _tagging: Option<String>,
    ) -> BackendResult<()> {
        Err(BackendError::NotImplemented("PutObjectTagging"))
    }
    /// Replaces an object's canned ACL (`None`: private), keeping its bytes,
    /// ETag and other metadata.
    async fn put_object_acl(
        &self,
        _cx: &RequestContext,
        _bucket: &BucketName,
        _key: &ObjectKey,
        _acl: Option<crate::acl::CannedAcl>,
    ) -> BackendResult<()> {
        Err(BackendError::NotImplemented("PutObjectAcl"))
    }

    async fn create_multipart_upload(
        &self,
        _cx: &RequestContext,
        _input: CreateMultipartUploadInput,
    ) -> BackendResult<CreateMultipartUploadOutput> {
        Err(BackendError::NotImplemented("CreateMultipartUpload"))
    }
    async fn upload_part(
        &self,
        _cx: &RequestContext,
        _input: UploadPartInput,
    ) -> BackendResult<UploadPartOutput> {
        Err(BackendError::NotImplemented("UploadPart"))
    }
    async fn upload_part_copy(
        &self,
        _cx: &RequestContext,
        _input: UploadPartCopyInput,
    ) -> BackendResult<CopyObjectOutput> {
        Err(BackendError::NotImplemented("UploadPartCopy"))
    }
    async fn complete_multipart_upload(
        &self,
        _cx: &RequestContext,
        _input: CompleteMultipartUploadInput,
    ) -> BackendResult<CompleteMultipartUploadOutput> {
        Err(BackendError::NotImplemented("CompleteMultipartUpload"))
    }
    async fn abort_multipart_upload(
        &self,
        _cx: &RequestContext,
        _bucket: &BucketName,
        _key: &ObjectKey,
        _upload_id: &UploadId,
    ) -> BackendResult<()> {
        Err(BackendError::NotImplemented("AbortMultipartUpload"))
    }
    async fn list_parts(
        &self,
        _cx: &RequestContext,
        _input: ListPartsInput,
    ) -> BackendResult<ListPartsOutput> {
        Err(BackendError::NotImplemented("ListParts"))
    }
    async fn list_multipart_uploads(
        &self,
        _cx: &RequestContext,
        _input: ListMultipartUploadsInput,
    ) -> BackendResult<ListMultipartUploadsOutput> {
        Err(BackendError::NotImplemented("ListMultipartUploads"))
    }
}
