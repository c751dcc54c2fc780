//! s3gw-translator: S3 operations onto the native buckets API.
//!
//! # Layout
//! - [`types`]: S3-semantic value types parsed at the edge (`BucketName`,
//!   `ObjectKey`, `UploadId`, `PartNumber`, `ETag`, conditions, ranges).
//! - [`backend`]: the [`Backend`] trait, one method per S3 operation, typed
//!   inputs and outputs, streaming bodies, S3-semantic errors.
//! - [`bucket_config`]: the bucket-configuration record (location, ACL,
//!   CORS rules, tags) kept in the bucket's hidden namespace; the value
//!   types of sharing in [`acl`], [`cors`] and [`tagging`].
//! - [`manta`]: the implementation over the Manta buckets API (native client,
//!   wire model, the ONE native-error mapping function, and the S3 features
//!   the store lacks: multipart, copy, S3 ETags, multi-character delimiters).
//! - [`checksum`]: multipart object checksums from part checksums
//!   (COMPOSITE digests, FULL_OBJECT CRC combine).
//! - [`uri`]: the one percent-encoding set (S3's unreserved characters),
//!   used by the gateway's signer and responses and the native client.

pub mod acl;
pub mod backend;
pub mod bucket_config;
pub mod checksum;
pub mod cors;
pub mod manta;
pub mod tagging;
pub mod types;
pub mod uri;

pub use acl::CannedAcl;

pub use backend::*;
pub use bucket_config::{BucketConfig, StoredBucketConfig};
pub use types::*;
