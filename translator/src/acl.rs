//! Canned ACLs: the only access-control vocabulary s3gw keeps. A bucket's
//! ACL lives in its configuration record ([`crate::BucketConfig::acl`]); an
//! object's rides with the object in native metadata. Owned by the sharing
//! work (issue 12): grants, anonymous access and the public registry build
//! on this type.

use serde::{Deserialize, Serialize};

/// An S3 canned ACL (`x-amz-acl`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum CannedAcl {
    #[default]
    Private,
    PublicRead,
    PublicReadWrite,
    AuthenticatedRead,
    BucketOwnerRead,
    BucketOwnerFullControl,
}

impl CannedAcl {
    pub const ALL: [CannedAcl; 6] = [
        CannedAcl::Private,
        CannedAcl::PublicRead,
        CannedAcl::PublicReadWrite,
        CannedAcl::AuthenticatedRead,
        CannedAcl::BucketOwnerRead,
        CannedAcl::BucketOwnerFullControl,
    ];

    /// The `x-amz-acl` value.
    pub fn as_str(self) -> &'static str {
        match self {
            CannedAcl::Private => "private",
            CannedAcl::PublicRead => "public-read",
            CannedAcl::PublicReadWrite => "public-read-write",
            CannedAcl::AuthenticatedRead => "authenticated-read",
            CannedAcl::BucketOwnerRead => "bucket-owner-read",
            CannedAcl::BucketOwnerFullControl => "bucket-owner-full-control",
        }
    }

    /// Parses an `x-amz-acl` value (exact, as S3 does).
    pub fn parse(s: &str) -> Option<CannedAcl> {
        CannedAcl::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for a in CannedAcl::ALL {
            assert_eq!(CannedAcl::parse(a.as_str()), Some(a));
            let json = serde_json::to_string(&a).unwrap();
            assert_eq!(json, format!("\"{}\"", a.as_str()));
        }
        assert_eq!(CannedAcl::parse("Public-Read"), None);
    }
}
