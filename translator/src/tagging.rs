//! Tags (bucket and object). A bucket's tag set lives in its configuration
//! record ([`crate::BucketConfig::tags`]); an object's rides with the object
//! in native metadata ([`crate::ObjectMeta::tagging`], stored under the
//! reserved `m-s3gw-tg` name) in the canonical form [`encode`] writes: the
//! URL-query form of `x-amz-tagging`, every byte outside `A-Za-z0-9-_.~`
//! percent-encoded (so the value is ASCII, safe in any native header, and
//! readable by a native client with any query-string parser).
//!
//! S3's rules ([`validate`]): at most 10 tags on an object and 50 on a
//! bucket, keys of 1..=128 and values of 0..=256 Unicode characters, of
//! letters, numbers, white space and `+ - = . _ : / @` (the tag restrictions
//! AWS documents), unique keys, and no `aws:` prefix (reserved for AWS).

use percent_encoding::percent_decode_str;
use serde::{Deserialize, Serialize};

/// One `<Tag>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

/// Most tags an object may carry.
pub const MAX_OBJECT_TAGS: usize = 10;
/// Most tags a bucket may carry.
pub const MAX_BUCKET_TAGS: usize = 50;
/// Longest key, in Unicode characters.
pub const MAX_TAG_KEY_CHARS: usize = 128;
/// Longest value, in Unicode characters.
pub const MAX_TAG_VALUE_CHARS: usize = 256;

/// What a tag set is attached to (the limits and messages differ).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagTarget {
    Object,
    Bucket,
}

/// Why a tag set is refused, with S3's code and message for each.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TagError {
    /// 400 BadRequest.
    #[error("{}", match .0 { TagTarget::Object => "Object tags cannot be greater than 10", TagTarget::Bucket => "Bucket tag count cannot be greater than 50" })]
    TooMany(TagTarget),
    /// 400 InvalidTag.
    #[error("The TagKey you have provided is invalid")]
    InvalidKey,
    /// 400 InvalidTag.
    #[error("The TagValue you have provided is invalid")]
    InvalidValue,
    /// 400 InvalidTag.
    #[error("Cannot provide multiple Tags with the same key")]
    DuplicateKey,
    /// 400 InvalidTag.
    #[error("{}", match .0 { TagTarget::Object => "Your TagKey cannot be prefixed with aws:", TagTarget::Bucket => "System tags cannot be added/updated by requester" })]
    Reserved(TagTarget),
    /// 400 InvalidArgument: `x-amz-tagging` is not a URL-encoded query of
    /// unique names.
    #[error("The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query parameters without tag name duplicates.")]
    MalformedHeader,
}

impl TagError {
    /// The S3 error code.
    pub fn code(&self) -> &'static str {
        match self {
            TagError::TooMany(_) => "BadRequest",
            TagError::MalformedHeader => "InvalidArgument",
            _ => "InvalidTag",
        }
    }
}

/// A character S3 accepts in a tag key or value: letters, numbers, white
/// space (not control characters) and `+ - = . _ : / @`.
fn allowed(c: char) -> bool {
    c.is_alphanumeric()
        || (c.is_whitespace() && !c.is_control())
        || matches!(c, '+' | '-' | '=' | '.' | '_' | ':' | '/' | '@')
}

/// Checks a tag set against S3's rules for `target`.
pub fn validate(tags: &[Tag], target: TagTarget) -> Result<(), TagError> {
    let max = match target {
        TagTarget::Object => MAX_OBJECT_TAGS,
        TagTarget::Bucket => MAX_BUCKET_TAGS,
    };
    if tags.len() > max {
        return Err(TagError::TooMany(target));
    }
    for (i, t) in tags.iter().enumerate() {
        let n = t.key.chars().count();
        if n == 0 || n > MAX_TAG_KEY_CHARS || !t.key.chars().all(allowed) {
            return Err(TagError::InvalidKey);
        }
        if t.value.chars().count() > MAX_TAG_VALUE_CHARS || !t.value.chars().all(allowed) {
            return Err(TagError::InvalidValue);
        }
        if t.key.starts_with("aws:") {
            return Err(TagError::Reserved(target));
        }
        if tags[..i].iter().any(|o| o.key == t.key) {
            return Err(TagError::DuplicateKey);
        }
    }
    Ok(())
}

/// Parses an `x-amz-tagging` header (`k1=v1&k2=v2`, URL-encoded, `+` as a
/// space) and validates the set as an object's. An empty header is no tags.
pub fn parse_header(v: &str) -> Result<Vec<Tag>, TagError> {
    let mut tags: Vec<Tag> = Vec::new();
    for pair in v.split('&').filter(|p| !p.is_empty()) {
        // Exactly one `=` (a literal `=` in a name or value is encoded).
        let (k, val) = pair.split_once('=').ok_or(TagError::MalformedHeader)?;
        if val.contains('=') {
            return Err(TagError::MalformedHeader);
        }
        let decode = |s: &str| -> Result<String, TagError> {
            let s = s.replace('+', " ");
            percent_decode_str(&s)
                .decode_utf8()
                .map(|c| c.into_owned())
                .map_err(|_| TagError::MalformedHeader)
        };
        let tag = Tag {
            key: decode(k)?,
            value: decode(val)?,
        };
        if tag.key.is_empty() || tags.iter().any(|t| t.key == tag.key) {
            return Err(TagError::MalformedHeader);
        }
        tags.push(tag);
    }
    validate(&tags, TagTarget::Object)?;
    Ok(tags)
}

/// The canonical stored form of a tag set; `None` for no tags.
pub fn encode(tags: &[Tag]) -> Option<String> {
    if tags.is_empty() {
        return None;
    }
    let pairs: Vec<String> = tags
        .iter()
        .map(|t| {
            format!(
                "{}={}",
                crate::uri::component(&t.key),
                crate::uri::component(&t.value)
            )
        })
        .collect();
    Some(pairs.join("&"))
}

/// Reads a stored tag set back. Lenient: a stored value is ours (or was
/// written by a native client); pairs that do not decode are skipped.
pub fn decode(stored: &str) -> Vec<Tag> {
    stored
        .split('&')
        .filter(|p| !p.is_empty())
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let d = |s: &str| {
                percent_decode_str(&s.replace('+', " "))
                    .decode_utf8()
                    .ok()
                    .map(|c| c.into_owned())
            };
            Some(Tag {
                key: d(k)?,
                value: d(v)?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(k: &str, v: &str) -> Tag {
        Tag {
            key: k.into(),
            value: v.into(),
        }
    }

    #[test]
    fn header_round_trip_is_canonical() {
        let tags = parse_header("a=1&b%20c=d+e&empty=&x=%3D").unwrap();
        assert_eq!(
            tags,
            vec![
                tag("a", "1"),
                tag("b c", "d e"),
                tag("empty", ""),
                tag("x", "=")
            ]
        );
        let enc = encode(&tags).unwrap();
        assert_eq!(enc, "a=1&b%20c=d%20e&empty=&x=%3D");
        assert_eq!(decode(&enc), tags);
        let uni = vec![tag("clé", "vålue/+=:@"), tag("日本", "")];
        validate(&uni, TagTarget::Object).unwrap();
        let enc = encode(&uni).unwrap();
        assert!(enc.is_ascii());
        assert_eq!(decode(&enc), uni);
        assert_eq!(parse_header(&enc).unwrap(), uni);
        assert_eq!(encode(&[]), None);
        assert_eq!(parse_header("").unwrap(), vec![]);
    }

    #[test]
    fn s3_limits() {
        let many = |n: usize| -> Vec<Tag> { (0..n).map(|i| tag(&format!("k{i}"), "v")).collect() };
        assert!(validate(&many(10), TagTarget::Object).is_ok());
        assert_eq!(
            validate(&many(11), TagTarget::Object),
            Err(TagError::TooMany(TagTarget::Object))
        );
        assert!(validate(&many(50), TagTarget::Bucket).is_ok());
        assert_eq!(
            validate(&many(51), TagTarget::Bucket).unwrap_err().code(),
            "BadRequest"
        );
        // Characters, not bytes.
        let k128 = "é".repeat(128);
        assert!(validate(&[tag(&k128, &"ü".repeat(256))], TagTarget::Object).is_ok());
        assert_eq!(
            validate(&[tag(&"k".repeat(129), "")], TagTarget::Object),
            Err(TagError::InvalidKey)
        );
        assert_eq!(
            validate(&[tag("", "v")], TagTarget::Object),
            Err(TagError::InvalidKey)
        );
        assert_eq!(
            validate(&[tag("k", &"v".repeat(257))], TagTarget::Object),
            Err(TagError::InvalidValue)
        );
        assert_eq!(
            validate(&[tag("k", "a"), tag("k", "b")], TagTarget::Bucket),
            Err(TagError::DuplicateKey)
        );
        assert_eq!(
            validate(&[tag("aws:x", "b")], TagTarget::Object)
                .unwrap_err()
                .code(),
            "InvalidTag"
        );
        assert_eq!(
            validate(&[tag("a<b", "")], TagTarget::Object),
            Err(TagError::InvalidKey)
        );
        assert_eq!(
            validate(&[tag("a", "tab\there")], TagTarget::Object),
            Err(TagError::InvalidValue)
        );
        assert_eq!(parse_header("a=1&a=2"), Err(TagError::MalformedHeader));
        assert_eq!(parse_header("=v"), Err(TagError::MalformedHeader));
        assert_eq!(parse_header("a=b=c"), Err(TagError::MalformedHeader));
        assert_eq!(parse_header("only"), Err(TagError::MalformedHeader));
        assert_eq!(parse_header("a=%ff"), Err(TagError::MalformedHeader));
        assert_eq!(
            parse_header(
                &(0..11)
                    .map(|i| format!("k{i}=v"))
                    .collect::<Vec<_>>()
                    .join("&")
            ),
            Err(TagError::TooMany(TagTarget::Object))
        );
    }
}
