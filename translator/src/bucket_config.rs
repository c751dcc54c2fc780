//! The bucket-configuration record: S3 state that belongs to a bucket as a
//! whole: its location, canned ACL, CORS rules and tags.
//!
//! It is stored by the backend inside the bucket, under the gateway's
//! hidden namespace ([`BUCKET_CONFIG_NAME`]), as one JSON document, written
//! atomically: create-if-absent for the first write, compare-and-swap on
//! the stored version (the native id) afterwards. It is never listed and
//! never makes a bucket non-empty for S3 (DeleteBucket removes it with the
//! other hidden leftovers).
//!
//! Fields this version does not know are kept verbatim ([`BucketConfig::other`]),
//! so an older gateway instance updating the location never drops what a
//! newer one wrote.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::types::HIDDEN_PREFIX;

/// The native name of the record inside its bucket.
pub const BUCKET_CONFIG_NAME: &str = ".s3gw~/bucket-config";

/// Largest record accepted when read back (a bigger one is not ours).
pub const MAX_BUCKET_CONFIG_BYTES: usize = 1 << 20;

/// A bucket's configuration. Every field is optional: absent means S3's
/// default for the bucket.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BucketConfig {
    /// The region given as `LocationConstraint` at CreateBucket; `None`:
    /// the gateway's default region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// The bucket's canned ACL; `None`: private.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acl: Option<crate::acl::CannedAcl>,
    /// CORS rules (`None`: no CORS configuration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cors: Option<Vec<crate::cors::CorsRule>>,
    /// The bucket's tag set (`None`: no tagging configuration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<crate::tagging::Tag>>,
    /// Fields written by other (newer) gateway versions, kept as they are.
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

/// A record as stored: the configuration and the version to compare-and-
/// swap against (opaque; the native id of the stored object).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredBucketConfig {
    pub config: BucketConfig,
    pub version: String,
}

impl BucketConfig {
    /// The JSON document stored.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a bucket configuration serialises")
    }

    /// Parses a stored document.
    pub fn from_json(b: &[u8]) -> Result<BucketConfig, String> {
        serde_json::from_slice(b).map_err(|e| format!("bucket configuration record: {e}"))
    }
}

const _: () = {
    // The record lives in the hidden namespace (S3 requests cannot address
    // it, listings skip it).
    let (p, n) = (HIDDEN_PREFIX.as_bytes(), BUCKET_CONFIG_NAME.as_bytes());
    assert!(n.len() > p.len());
    let mut i = 0;
    while i < p.len() {
        assert!(p[i] == n[i]);
        i += 1;
    }
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_unknown_fields() {
        let doc = br#"{"location":"eu-1","website":{"rules":[1,2]},"acl":"public-read"}"#;
        let mut c = BucketConfig::from_json(doc).unwrap();
        assert_eq!(c.location.as_deref(), Some("eu-1"));
        assert_eq!(c.acl, Some(crate::CannedAcl::PublicRead));
        c.location = Some("eu-2".into());
        let back: serde_json::Value = serde_json::from_slice(&c.to_json()).unwrap();
        assert_eq!(
            back,
            serde_json::json!({"location":"eu-2","website":{"rules":[1,2]},"acl":"public-read"})
        );
        assert_eq!(BucketConfig::default().to_json(), b"{}");
        assert!(BucketConfig::from_json(b"not json").is_err());
    }
}
