//! Bucket and object names, parsed once at the edge (buckets-api.md "Names
//! and limits").

use std::fmt;

/// Longest object name, in bytes of UTF-8.
pub const MAX_OBJECT_NAME_BYTES: usize = 1024;

/// A valid bucket name: 3..63 characters, dot-separated labels of
/// `[a-z0-9]([a-z0-9-]*[a-z0-9])?`, not shaped like an IPv4 address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketName(String);

impl BucketName {
    pub fn parse(s: &str) -> Option<Self> {
        if !(3..=63).contains(&s.len()) {
            return None;
        }
        let label_ok = |l: &str| {
            let b = l.as_bytes();
            !b.is_empty()
                && b.iter()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
                && b[0] != b'-'
                && b[b.len() - 1] != b'-'
        };
        if !s.split('.').all(label_ok) {
            return None;
        }
        if s.parse::<std::net::Ipv4Addr>().is_ok() {
            return None;
        }
        Some(BucketName(s.to_owned()))
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

/// A valid object name: 1..1024 bytes of UTF-8, no NUL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectName(String);

impl ObjectName {
    pub fn parse(s: &str) -> Option<Self> {
        if s.is_empty() || s.len() > MAX_OBJECT_NAME_BYTES || s.contains('\0') {
            return None;
        }
        Some(ObjectName(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ObjectName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names() {
        for ok in ["abc", "a-b.c1", "my.bucket.1", "1bucket", &"a".repeat(63)] {
            assert!(BucketName::parse(ok).is_some(), "{ok}");
        }
        for bad in [
            "ab",
            &"a".repeat(64),
            "Abc",
            "-ab",
            "ab-",
            "a..b",
            ".ab",
            "ab.",
            "a_b",
            "192.168.1.1",
            "a b",
            "ab.-c",
        ] {
            assert!(BucketName::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn object_names() {
        assert!(ObjectName::parse(&"x".repeat(1024)).is_some());
        assert!(ObjectName::parse(&"x".repeat(1025)).is_none());
        assert!(ObjectName::parse(&"é".repeat(512)).is_some());
        assert!(ObjectName::parse("").is_none());
        assert!(ObjectName::parse("a\0b").is_none());
        assert!(ObjectName::parse("a b/ü+%&=?#\\").is_some());
    }
}
