//! The ONE percent-encoding set of s3gw: every byte outside S3's (and RFC
//! 3986's) unreserved characters is `%XX`-encoded, upper-case hex.
//!
//! AWS, "UriEncode()": "URI encode every byte except the unreserved
//! characters: 'A'-'Z', 'a'-'z', '0'-'9', '-', '.', '_', and '~'." The
//! gateway signs and verifies with it (SigV4 canonical query and URI),
//! answers with it (`encoding-type=url`, `Location`, redirects) and the
//! translator builds native paths and queries with it, so there is one
//! definition of "unreserved" in the code base. [`PATH`] is the same set
//! keeping `/`, for an object key shown as a path.

use percent_encoding::{percent_encode, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Bytes encoded in one URI component (a query name or value, a native
/// path segment): all but `A-Z a-z 0-9 - . _ ~`.
pub const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// [`COMPONENT`] keeping `/`: a key in a URL path, `encoding-type=url`.
pub const PATH: &AsciiSet = &COMPONENT.remove(b'/');

/// One component, encoded (lazily: `Display`).
pub fn component(s: &str) -> percent_encoding::PercentEncode<'_> {
    utf8_percent_encode(s, COMPONENT)
}

/// One component given as raw bytes (a decoded query name or value that
/// need not be UTF-8).
pub fn component_bytes(b: &[u8]) -> percent_encoding::PercentEncode<'_> {
    percent_encode(b, COMPONENT)
}

/// A path, `/` kept.
pub fn path(s: &str) -> percent_encoding::PercentEncode<'_> {
    utf8_percent_encode(s, PATH)
}

/// A path given as raw bytes.
pub fn path_bytes(b: &[u8]) -> percent_encoding::PercentEncode<'_> {
    percent_encode(b, PATH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreserved_kept_everything_else_encoded() {
        assert_eq!(component("aZ09-._~").to_string(), "aZ09-._~");
        assert_eq!(component("a b/+%é").to_string(), "a%20b%2F%2B%25%C3%A9");
        assert_eq!(path("a b/c").to_string(), "a%20b/c");
        assert_eq!(component_bytes(&[0xff, b'*']).to_string(), "%FF%2A");
        assert_eq!(path_bytes(b"/x!").to_string(), "/x%21");
    }
}
