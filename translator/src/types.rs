//! S3-semantic value types shared by the gateway and every backend.
//!
//! "Parse, don't validate" (style.md): each type has a checked constructor at
//! the edge (the gateway's router), and nothing downstream validates again.

use std::fmt;
use std::time::SystemTime;

/// Why a value given by a client was rejected at the edge.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("invalid bucket name")]
    BucketName,
    #[error("invalid object key")]
    ObjectKey,
    #[error("key is reserved for the gateway's own objects")]
    ReservedKey,
    #[error("invalid upload id")]
    UploadId,
    #[error("part number must be an integer between 1 and 10000")]
    PartNumber,
}

/// The reserved key prefix under which the gateway keeps its own objects
/// (multipart records and parts) inside a tenant's bucket (design.md,
/// "Hidden objects"). It starts with a control-free byte sequence no S3
/// client can address, because [`ObjectKey::parse`] refuses it.
pub const HIDDEN_PREFIX: &str = ".s3gw~/";

/// A bucket name valid for both S3 and the native store: 3..63 characters,
/// dot-separated labels of `[a-z0-9]([a-z0-9-]*[a-z0-9])?`, not shaped like an
/// IPv4 address (buckets-api.md "Names and limits").
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BucketName(String);

impl BucketName {
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        if !(3..=63).contains(&s.len()) {
            return Err(ParseError::BucketName);
        }
        let label_ok = |l: &str| {
            let b = l.as_bytes();
            !b.is_empty()
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        };
        if !s.split('.').all(label_ok) {
            return Err(ParseError::BucketName);
        }
        if s.parse::<std::net::Ipv4Addr>().is_ok() {
            return Err(ParseError::BucketName);
        }
        Ok(BucketName(s.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BucketName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An S3 object key: 1..1024 bytes of UTF-8 without NUL, outside the
/// gateway's hidden prefix. It is the native object name byte for byte.
///
/// The keys `.` and `..` are refused: the native object URL carries the
/// name as ONE percent-encoded path segment, and a URL parser removes the
/// dot-segments `.` and `..` (also when percent-encoded), so such a name
/// would address the bucket or the object list instead (MinIO refuses them
/// too). Every other key travels verbatim; the property test in
/// `manta::client` checks that the native path decodes back to the key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey(String);

/// Longest key S3 and the native store accept, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;

impl ObjectKey {
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        if s.is_empty() || s.len() > MAX_KEY_BYTES || s.contains('\0') || is_dot_segment(s) {
            return Err(ParseError::ObjectKey);
        }
        if s.starts_with(HIDDEN_PREFIX) {
            return Err(ParseError::ReservedKey);
        }
        Ok(ObjectKey(s.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `.` or `..`: a name a URL path cannot carry as a segment.
pub fn is_dot_segment(s: &str) -> bool {
    s == "." || s == ".."
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A multipart upload id as handed out by CreateMultipartUpload (opaque to
/// clients; URL-safe characters only, 1..128 bytes).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UploadId(String);

impl UploadId {
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let ok = !s.is_empty()
            && s.len() <= 128
            && s.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_' || c == b'.');
        if ok {
            Ok(UploadId(s.to_owned()))
        } else {
            Err(ParseError::UploadId)
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UploadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A multipart part number, 1..=10000.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PartNumber(u16);

/// Most parts one upload may have.
pub const MAX_PARTS: u16 = 10_000;

impl PartNumber {
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        s.parse::<u16>()
            .ok()
            .and_then(Self::new)
            .ok_or(ParseError::PartNumber)
    }
    pub fn new(n: u16) -> Option<Self> {
        (1..=MAX_PARTS).contains(&n).then_some(PartNumber(n))
    }
    pub fn get(self) -> u16 {
        self.0
    }
}

impl fmt::Display for PartNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// An S3 ETag, held WITHOUT the surrounding quotes: 32 lower-case hex digits
/// for a simple object, `<hex>-<parts>` for a multipart one. Responses quote
/// it (`Display` does not).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ETag(String);

impl ETag {
    /// From a client-supplied value: surrounding quotes and a `W/` prefix are
    /// ignored, as S3 compares them.
    pub fn from_client(s: &str) -> Self {
        let s = s.trim();
        let s = s.strip_prefix("W/").unwrap_or(s);
        let s = s.strip_prefix('"').unwrap_or(s);
        let s = s.strip_suffix('"').unwrap_or(s);
        ETag(s.to_ascii_lowercase())
    }
    /// The ETag of a simple object from its MD5.
    pub fn from_md5(md5: &[u8; 16]) -> Self {
        ETag(hex::encode(md5))
    }
    /// The multipart ETag `md5(concat(part md5s))-N` from the part digests.
    pub fn multipart(md5_of_md5s: &[u8; 16], parts: usize) -> Self {
        ETag(format!("{}-{}", hex::encode(md5_of_md5s), parts))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// `"<etag>"`, the form S3 responses carry.
    pub fn quoted(&self) -> String {
        format!("\"{}\"", self.0)
    }
}

impl fmt::Display for ETag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The tenant whose namespace (`/:login/buckets/...`) a request acts on:
/// the account that owns the verified access key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    pub login: String,
    pub uuid: String,
}

/// Per-request context handed to every backend call.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub tenant: Tenant,
    /// The S3 request id; forwarded to the native store as `x-request-id`.
    pub request_id: String,
}

/// An S3 checksum algorithm (`x-amz-checksum-*`, `x-amz-checksum-algorithm`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChecksumAlgorithm {
    Crc32,
    Crc32c,
    Crc64Nvme,
    Sha1,
    Sha256,
}

impl ChecksumAlgorithm {
    /// The wire name in `x-amz-checksum-algorithm` (`CRC32`, `CRC64NVME`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Crc32 => "CRC32",
            Self::Crc32c => "CRC32C",
            Self::Crc64Nvme => "CRC64NVME",
            Self::Sha1 => "SHA1",
            Self::Sha256 => "SHA256",
        }
    }
    /// The header suffix: `x-amz-checksum-<suffix>`.
    pub fn header_suffix(self) -> &'static str {
        match self {
            Self::Crc32 => "crc32",
            Self::Crc32c => "crc32c",
            Self::Crc64Nvme => "crc64nvme",
            Self::Sha1 => "sha1",
            Self::Sha256 => "sha256",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_uppercase().as_str() {
            "CRC32" => Some(Self::Crc32),
            "CRC32C" => Some(Self::Crc32c),
            "CRC64NVME" => Some(Self::Crc64Nvme),
            "SHA1" => Some(Self::Sha1),
            "SHA256" => Some(Self::Sha256),
            _ => None,
        }
    }
}

/// Whether a checksum covers the whole object or is a checksum of part
/// checksums (`x-amz-checksum-type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumType {
    FullObject,
    Composite,
}

/// A verified checksum value (base64, as on the wire).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checksum {
    pub algorithm: ChecksumAlgorithm,
    pub value_b64: String,
    pub kind: ChecksumType,
}

/// S3 storage classes the gateway accepts. REDUCED_REDUNDANCY maps to native
/// durability 1; everything else is stored at the store's default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageClass {
    Standard,
    ReducedRedundancy,
}

impl StorageClass {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Standard => "STANDARD",
            Self::ReducedRedundancy => "REDUCED_REDUNDANCY",
        }
    }
}

/// What an object carries besides its bytes, in S3 terms. The translator
/// maps each field onto native headers or its reserved internal metadata.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectMeta {
    pub content_type: Option<String>,
    pub cache_control: Option<String>,
    pub content_encoding: Option<String>,
    pub content_disposition: Option<String>,
    pub content_language: Option<String>,
    /// `Expires`, as the client sent it (S3 returns it verbatim).
    pub expires: Option<String>,
    /// `x-amz-meta-NAME: value` pairs; NAME lower-cased, without the prefix.
    /// Values are the header's bytes exactly (non-ASCII bytes included,
    /// never re-encoded between Latin-1 and UTF-8).
    pub user: Vec<(String, Vec<u8>)>,
    pub storage_class: Option<StorageClass>,
    /// `x-amz-tagging` (URL-query form), kept and returned as a count.
    pub tagging: Option<String>,
    /// Full-object checksum, returned only with `x-amz-checksum-mode: ENABLED`.
    pub checksum: Option<Checksum>,
    /// `x-amz-server-side-encryption` the object was written with (`AES256`
    /// when the store is declared to encrypt at rest), kept as a fact.
    pub server_side_encryption: Option<String>,
    /// The object's canned ACL (`x-amz-acl`); `None`: private.
    pub acl: Option<crate::acl::CannedAcl>,
}

/// The state of an object as GET/HEAD/list report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub key: String,
    pub size: u64,
    pub etag: ETag,
    /// Second precision, as S3's Last-Modified.
    pub last_modified: SystemTime,
    pub meta: ObjectMeta,
    /// Number of parts for an object made by CompleteMultipartUpload.
    pub parts_count: Option<u32>,
}

/// One `bytes=` range of a Range header or `x-amz-copy-source-range`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// `bytes=a-b`, both inclusive.
    FromTo(u64, u64),
    /// `bytes=a-`.
    From(u64),
    /// `bytes=-n`: the last n bytes.
    Suffix(u64),
}

impl ByteRange {
    /// Resolves against an object size to an inclusive `(start, end)`, or
    /// `None` when unsatisfiable (S3: 416 InvalidRange).
    pub fn resolve(self, size: u64) -> Option<(u64, u64)> {
        match self {
            ByteRange::FromTo(a, b) if a < size && a <= b => Some((a, b.min(size - 1))),
            ByteRange::From(a) if a < size => Some((a, size - 1)),
            ByteRange::Suffix(n) if n > 0 && size > 0 => Some((size.saturating_sub(n), size - 1)),
            _ => None,
        }
    }
}

/// One entry of an `If-Match` / `If-None-Match` list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ETagMatch {
    Any,
    Tag(ETag),
}

/// Read preconditions (GetObject, HeadObject, and `x-amz-copy-source-if-*`),
/// evaluated against S3 ETags and second-precision times with S3's rules
/// (RFC 7232 section 6 order: If-Match, If-Unmodified-Since, If-None-Match,
/// If-Modified-Since).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadConditions {
    pub if_match: Option<Vec<ETagMatch>>,
    pub if_none_match: Option<Vec<ETagMatch>>,
    pub if_modified_since: Option<SystemTime>,
    pub if_unmodified_since: Option<SystemTime>,
}

impl ReadConditions {
    pub fn is_empty(&self) -> bool {
        *self == ReadConditions::default()
    }
}

/// Write preconditions of PutObject, CopyObject (destination) and
/// CompleteMultipartUpload. Each is atomic natively (design.md
/// "Conditional writes"): a create-if-absent or a compare-and-swap on the
/// native id of the object the condition was evaluated on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum WriteCondition {
    #[default]
    None,
    /// `If-None-Match: *`: create only if absent (else 412).
    IfNoneMatchAny,
    /// `If-None-Match: "<etag>"`: write unless the current object has this
    /// S3 ETag (412); also when the key is absent.
    IfNoneMatch(ETag),
    /// `If-Match: *`: replace only an existing object (404 NoSuchKey when
    /// absent).
    IfMatchAny,
    /// `If-Match: "<etag>"`: replace only the object whose S3 ETag is this
    /// (404 NoSuchKey when absent, 412 when another).
    IfMatch(ETag),
}

/// The source of CopyObject / UploadPartCopy (`x-amz-copy-source`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopySource {
    pub bucket: BucketName,
    pub key: ObjectKey,
}
