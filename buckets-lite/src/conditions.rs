//! Conditional headers and Range (buckets-api.md "Conditions", "GET / HEAD").

use actix_web::HttpRequest;

use crate::error::ApiError;

/// A parsed `If-Match` / `If-None-Match` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EtagList {
    Any,
    Ids(Vec<String>),
}

impl EtagList {
    /// Comma list; `W/` prefixes ignored; surrounding quotes stripped only
    /// from all-word-character values (so a quoted uuid never matches, as on
    /// the real server).
    pub fn parse(value: &str) -> Self {
        let mut ids = Vec::new();
        for item in value.split(',') {
            let item = item.trim();
            if item == "*" {
                return EtagList::Any;
            }
            let item = item.strip_prefix("W/").unwrap_or(item);
            let unquoted = item
                .strip_prefix('"')
                .and_then(|s| s.strip_suffix('"'))
                .filter(|s| s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
            ids.push(unquoted.unwrap_or(item).to_owned());
        }
        EtagList::Ids(ids)
    }

    fn contains(&self, id: &str) -> bool {
        match self {
            EtagList::Any => true,
            EtagList::Ids(ids) => ids.iter().any(|i| i == id),
        }
    }
}

/// The conditions of one request. Times are milliseconds since the epoch.
#[derive(Debug, Clone, Default)]
pub struct Conditions {
    pub if_match: Option<EtagList>,
    pub if_none_match: Option<EtagList>,
    pub if_modified_since_ms: Option<i64>,
    pub if_unmodified_since_ms: Option<i64>,
}

/// What a failed condition answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    NotModified,
    PreconditionFailed,
    NotFound,
}

/// The state of the addressed object that conditions look at.
#[derive(Debug, Clone, Copy)]
pub struct Current<'a> {
    pub id: &'a str,
    pub modified_ms: i64,
}

fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

fn date_ms(value: &str) -> Result<i64, ApiError> {
    let t = httpdate::parse_http_date(value)
        .map_err(|_| ApiError::BadRequest(format!("invalid date {value:?}")))?;
    let ms = match t.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
    };
    Ok(ms)
}

impl Conditions {
    /// Reads the four headers; an unparseable date is 400 `BadRequest`.
    pub fn from_request(req: &HttpRequest) -> Result<Self, ApiError> {
        Ok(Conditions {
            if_match: header(req, "if-match").map(EtagList::parse),
            if_none_match: header(req, "if-none-match").map(EtagList::parse),
            if_modified_since_ms: header(req, "if-modified-since").map(date_ms).transpose()?,
            if_unmodified_since_ms: header(req, "if-unmodified-since")
                .map(date_ms)
                .transpose()?,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.if_match.is_none()
            && self.if_none_match.is_none()
            && self.if_modified_since_ms.is_none()
            && self.if_unmodified_since_ms.is_none()
    }

    /// Evaluates the table in RFC 7232 section 6 order (If-Match,
    /// If-Unmodified-Since, If-None-Match, If-Modified-Since). `read` turns
    /// If-None-Match hits and If-Modified-Since into 304 (GET/HEAD).
    /// Times compare at the stored (millisecond) precision.
    pub fn evaluate(&self, current: Option<Current<'_>>, read: bool) -> Outcome {
        let not_modified = if read {
            Outcome::NotModified
        } else {
            Outcome::PreconditionFailed
        };
        if let Some(m) = &self.if_match {
            match (current, m) {
                (None, EtagList::Any) => return Outcome::PreconditionFailed,
                (None, EtagList::Ids(_)) => return Outcome::NotFound,
                (Some(c), m) if !m.contains(c.id) => return Outcome::PreconditionFailed,
                _ => {}
            }
        }
        if let Some(t) = self.if_unmodified_since_ms {
            match current {
                None => return Outcome::NotFound,
                Some(c) if c.modified_ms > t => return Outcome::PreconditionFailed,
                _ => {}
            }
        }
        if let Some(m) = &self.if_none_match {
            match (current, m) {
                (None, EtagList::Any) => {}
                (None, EtagList::Ids(_)) => return Outcome::NotFound,
                (Some(c), m) if m.contains(c.id) => return not_modified,
                _ => {}
            }
        }
        if let Some(t) = self.if_modified_since_ms {
            match current {
                None => return Outcome::NotFound,
                Some(c) if c.modified_ms <= t => return not_modified,
                _ => {}
            }
        }
        Outcome::Pass
    }
}

/// A satisfiable byte range, inclusive bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    pub first: u64,
    pub last: u64,
}

/// Parses a single `bytes=` range against an object of `size` bytes.
/// `Ok(None)`: no usable Range header (serve the whole object, as RFC 7233
/// says for syntactically invalid or multi-range values);
/// `Err(416)`: unsatisfiable.
pub fn parse_range(value: Option<&str>, size: u64) -> Result<Option<ByteRange>, ApiError> {
    let Some(spec) = value.and_then(|v| v.trim().strip_prefix("bytes=")) else {
        return Ok(None);
    };
    let spec = spec.trim();
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((a, b)) = spec.split_once('-') else {
        return Ok(None);
    };
    let unsatisfiable = || ApiError::RequestedRangeNotSatisfiable(size);
    let (a, b) = (a.trim(), b.trim());
    if a.is_empty() {
        let Ok(n) = b.parse::<u64>() else {
            return Ok(None);
        };
        if n == 0 || size == 0 {
            return Err(unsatisfiable());
        }
        let n = n.min(size);
        return Ok(Some(ByteRange {
            first: size - n,
            last: size - 1,
        }));
    }
    let Ok(first) = a.parse::<u64>() else {
        return Ok(None);
    };
    let last = if b.is_empty() {
        u64::MAX
    } else {
        match b.parse::<u64>() {
            Ok(l) if l >= first => l,
            _ => return Ok(None),
        }
    };
    if first >= size {
        return Err(unsatisfiable());
    }
    Ok(Some(ByteRange {
        first,
        last: last.min(size - 1),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "3f2504e0-4f89-41d3-9a0c-0305e82c3301";

    fn cur() -> Option<Current<'static>> {
        Some(Current {
            id: ID,
            modified_ms: 10_500,
        })
    }

    fn c() -> Conditions {
        Conditions::default()
    }

    #[test]
    fn etag_lists() {
        assert_eq!(EtagList::parse("*"), EtagList::Any);
        assert_eq!(
            EtagList::parse(&format!("W/{ID}, abc")),
            EtagList::Ids(vec![ID.into(), "abc".into()])
        );
        assert_eq!(
            EtagList::parse("\"abc\""),
            EtagList::Ids(vec!["abc".into()])
        );
        assert_eq!(
            EtagList::parse(&format!("\"{ID}\"")),
            EtagList::Ids(vec![format!("\"{ID}\"")])
        );
    }

    #[test]
    fn the_conditions_table() {
        use Outcome::*;
        let any = Some(EtagList::Any);
        let ids = |s: &str| Some(EtagList::Ids(vec![s.to_owned()]));
        let rows: Vec<(Conditions, Outcome, Outcome, Outcome)> = vec![
            // (conditions, exists (write), exists (read), absent)
            (
                Conditions {
                    if_match: any.clone(),
                    ..c()
                },
                Pass,
                Pass,
                PreconditionFailed,
            ),
            (
                Conditions {
                    if_match: ids(ID),
                    ..c()
                },
                Pass,
                Pass,
                NotFound,
            ),
            (
                Conditions {
                    if_match: ids("x"),
                    ..c()
                },
                PreconditionFailed,
                PreconditionFailed,
                NotFound,
            ),
            (
                Conditions {
                    if_none_match: any.clone(),
                    ..c()
                },
                PreconditionFailed,
                NotModified,
                Pass,
            ),
            (
                Conditions {
                    if_none_match: ids(ID),
                    ..c()
                },
                PreconditionFailed,
                NotModified,
                NotFound,
            ),
            (
                Conditions {
                    if_none_match: ids("x"),
                    ..c()
                },
                Pass,
                Pass,
                NotFound,
            ),
            (
                Conditions {
                    if_unmodified_since_ms: Some(10_000),
                    ..c()
                },
                PreconditionFailed,
                PreconditionFailed,
                NotFound,
            ),
            (
                Conditions {
                    if_unmodified_since_ms: Some(11_000),
                    ..c()
                },
                Pass,
                Pass,
                NotFound,
            ),
            (
                Conditions {
                    if_modified_since_ms: Some(10_000),
                    ..c()
                },
                Pass,
                Pass,
                NotFound,
            ),
            (
                Conditions {
                    if_modified_since_ms: Some(11_000),
                    ..c()
                },
                PreconditionFailed,
                NotModified,
                NotFound,
            ),
        ];
        for (conds, write, read, absent) in rows {
            assert_eq!(conds.evaluate(cur(), false), write, "{conds:?}");
            assert_eq!(conds.evaluate(cur(), true), read, "{conds:?}");
            assert_eq!(conds.evaluate(None, false), absent, "{conds:?}");
        }
    }

    #[test]
    fn ranges() {
        let r = |v: &str, size| parse_range(Some(v), size);
        assert_eq!(
            r("bytes=0-9", 100).unwrap(),
            Some(ByteRange { first: 0, last: 9 })
        );
        assert_eq!(
            r("bytes=90-", 100).unwrap(),
            Some(ByteRange {
                first: 90,
                last: 99
            })
        );
        assert_eq!(
            r("bytes=-10", 100).unwrap(),
            Some(ByteRange {
                first: 90,
                last: 99
            })
        );
        assert_eq!(
            r("bytes=-1000", 100).unwrap(),
            Some(ByteRange { first: 0, last: 99 })
        );
        assert_eq!(
            r("bytes=50-1000", 100).unwrap(),
            Some(ByteRange {
                first: 50,
                last: 99
            })
        );
        assert!(r("bytes=100-", 100).is_err());
        assert!(r("bytes=-0", 100).is_err());
        assert!(r("bytes=0-0", 0).is_err());
        assert_eq!(r("bytes=5-1", 100).unwrap(), None);
        assert_eq!(r("bytes=0-1,5-6", 100).unwrap(), None);
        assert_eq!(r("items=0-1", 100).unwrap(), None);
        assert_eq!(parse_range(None, 100).unwrap(), None);
    }
}
