//! The native wire model (buckets-api.md): listing lines, error bodies and
//! header names. Nothing outside `manta` sees these types.

use serde::Deserialize;
use std::time::SystemTime;

/// One line of a native listing (`GET .../buckets` or `.../objects`).
#[derive(Debug, Deserialize)]
pub(crate) struct ListEntry {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: EntryKind,
    #[serde(default)]
    pub etag: Option<String>,
    #[serde(default)]
    pub size: Option<u64>,
    #[serde(rename = "contentType", default)]
    pub content_type: Option<String>,
    #[serde(rename = "contentMD5", default)]
    pub content_md5: Option<String>,
    #[serde(default)]
    pub mtime: Option<String>,
}

#[derive(Debug, Deserialize, PartialEq, Eq, Clone, Copy)]
#[serde(rename_all = "lowercase")]
pub(crate) enum EntryKind {
    Bucket,
    Bucketobject,
    Group,
}

/// A native error body in either of the real server's shapes: the flat
/// `{"code":"ObjectNotFound","message":"..."}` of most errors, or the
/// nested `{"message":..,"statusCode":409,"body":{"code":"BucketNotEmpty",..}}`
/// the real buckets-api sends for its 409s (buckets-api.md "Where the real
/// server differs").
#[derive(Debug, Deserialize)]
pub(crate) struct ErrorBody {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    body: Option<NestedErrorBody>,
}

#[derive(Debug, Deserialize)]
struct NestedErrorBody {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

impl ErrorBody {
    /// `(code, message)`: the flat code, else the nested one.
    pub fn parse(body: &[u8]) -> Option<(String, String)> {
        let e: ErrorBody = serde_json::from_slice(body).ok()?;
        let nested = e.body.unwrap_or(NestedErrorBody {
            code: None,
            message: None,
        });
        let code = e.code.or(nested.code)?;
        let message = e.message.or(nested.message).unwrap_or_default();
        Some((code, message))
    }
}

/// One native listing page.
#[derive(Debug)]
pub(crate) struct Page {
    pub entries: Vec<ListEntry>,
    /// `Next-Marker`: present only when the server stopped at `limit`.
    pub next_marker: Option<String>,
}

/// Most entries one native listing page may hold (buckets-api.md "Listing").
pub(crate) const MAX_NATIVE_LIMIT: usize = 1024;

pub(crate) const H_COMPUTED_MD5: &str = "computed-md5";
pub(crate) const H_DURABILITY: &str = "durability-level";
pub(crate) const H_NEXT_MARKER: &str = "next-marker";
pub(crate) const H_REQUEST_ID: &str = "x-request-id";

/// Parses a listing `mtime` (ISO-8601 with milliseconds and `Z`) and cuts it
/// to whole seconds, as S3's LastModified and the native Last-Modified are.
pub(crate) fn parse_mtime(s: &str) -> Option<SystemTime> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
    let secs = t.unix_timestamp();
    u64::try_from(secs)
        .ok()
        .map(|s| SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(s))
}

/// Parses a JSON-lines listing body. A malformed line fails the whole page:
/// a half-understood listing must not become a wrong S3 page.
pub(crate) fn parse_lines(body: &[u8]) -> Result<Vec<ListEntry>, String> {
    let mut out = Vec::new();
    for line in body.split(|b| *b == b'\n') {
        if line.iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        let e: ListEntry =
            serde_json::from_slice(line).map_err(|e| format!("malformed listing line: {e}"))?;
        out.push(e);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_entries_and_rejects_garbage() {
        let body = b"{\"name\":\"dir1/a.txt\",\"etag\":\"u\",\"size\":11,\"contentType\":\"text/plain\",\"contentMD5\":\"XrY7u+Ae7tCTyyK7j1rNww==\",\"mtime\":\"2019-10-16T20:35:11.259Z\",\"type\":\"bucketobject\"}\n{\"name\":\"dir1/\",\"type\":\"group\"}\n";
        let v = parse_lines(body).unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].kind, EntryKind::Bucketobject);
        assert_eq!(v[1].kind, EntryKind::Group);
        let t = parse_mtime(v[0].mtime.as_deref().unwrap()).unwrap();
        assert_eq!(
            t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs(),
            1571258111
        );
        assert!(parse_lines(b"{\"name\":\"x\"\n").is_err());
        assert!(parse_lines(b"not json\n").is_err());
        assert!(parse_lines(b"").unwrap().is_empty());
    }

    #[test]
    fn error_bodies_in_both_real_shapes() {
        assert_eq!(
            ErrorBody::parse(br#"{"code":"ObjectNotFound","message":"x was not found"}"#),
            Some(("ObjectNotFound".into(), "x was not found".into()))
        );
        // The real 409 of a non-empty bucket (buckets-api cc3e5d7).
        let nested = br#"{"message":"b is not empty","statusCode":409,"body":{"code":"BucketNotEmpty","message":"b is not empty"}}"#;
        assert_eq!(
            ErrorBody::parse(nested),
            Some(("BucketNotEmpty".into(), "b is not empty".into()))
        );
        assert_eq!(ErrorBody::parse(br#"{"message":"no code"}"#), None);
        assert_eq!(ErrorBody::parse(b"<html>"), None);
    }
}
