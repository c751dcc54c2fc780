//! Addressing: which bucket and key a request names, from its `Host` header
//! and its raw path.
//!
//! S3 has two styles (AWS S3 user guide, "Virtual hosting of buckets"):
//! - virtual-host: `Host: <bucket>.<service domain>`, path `/<key>`;
//! - path-style: `Host: <service domain>` (or an IP address, or any host we
//!   do not know), path `/<bucket>/<key>`.
//!
//! A host is virtual-host style only when it ends in `.<domain>` for one of
//! the configured service domains; everything else is path-style, so a
//! gateway reached by IP or through an unknown name still works.
//!
//! The key is percent-decoded exactly ONCE from the raw path as received
//! (never normalised: `a//b`, `./` and `%2F` are all key bytes), so
//! `photos.s3.example.com/a%2Fb` and `s3.example.com/photos/a%2Fb` name the
//! same key `a/b`. `+` in a path is a literal plus (RFC 3986), unlike in
//! the query.

use crate::error::{S3Error, S3ErrorCode};

/// Which style a request used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Path,
    VirtualHost,
}

/// The bucket and key a request names. Empty keys are `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub bucket: Option<String>,
    pub key: Option<String>,
    pub style: Style,
}

impl Target {
    /// The bucket taken from the Host header, for SigV2's canonical resource.
    pub fn vhost_bucket(&self) -> Option<&str> {
        match self.style {
            Style::VirtualHost => self.bucket.as_deref(),
            Style::Path => None,
        }
    }
}

/// The configured service domains, lower-cased, longest first (so
/// `s3.eu.example.com` wins over `example.com`).
#[derive(Debug, Clone)]
pub struct Addressing {
    domains: Vec<String>,
}

impl Addressing {
    pub fn new(domains: Vec<String>) -> Addressing {
        let mut domains: Vec<String> = domains
            .into_iter()
            .map(|d| d.trim().trim_end_matches('.').to_ascii_lowercase())
            .filter(|d| !d.is_empty())
            .collect();
        domains.sort_by_key(|d| std::cmp::Reverse(d.len()));
        domains.dedup();
        Addressing { domains }
    }

    pub fn domains(&self) -> &[String] {
        &self.domains
    }

    /// Resolves a request. `host` is the `Host` header (with or without a
    /// port); `raw_path` the path as received, percent-encoded.
    pub fn resolve(&self, host: &str, raw_path: &str) -> Result<Target, S3Error> {
        let path = raw_path.strip_prefix('/').unwrap_or(raw_path);
        if let Some(bucket) = self.vhost_bucket(host) {
            return Ok(Target {
                bucket: Some(bucket),
                key: decode_key(path)?,
                style: Style::VirtualHost,
            });
        }
        let (bucket, key) = match path.split_once('/') {
            Some((b, k)) => (b, decode_key(k)?),
            None => (path, None),
        };
        let bucket = percent_encoding::percent_decode_str(bucket)
            .decode_utf8()
            .map_err(|_| S3Error::new(S3ErrorCode::InvalidBucketName))?;
        Ok(Target {
            bucket: (!bucket.is_empty()).then(|| bucket.into_owned()),
            key,
            style: Style::Path,
        })
    }

    /// The bucket label(s) in front of a configured domain, if any.
    fn vhost_bucket(&self, host: &str) -> Option<String> {
        let host = strip_port(host).trim_end_matches('.').to_ascii_lowercase();
        // A domain itself is path-style even when it is also a subdomain of
        // another configured domain (`s3.localhost` next to `localhost`).
        if self.domains.contains(&host) {
            return None;
        }
        self.domains.iter().find_map(|d| {
            let b = host.strip_suffix(d.as_str())?.strip_suffix('.')?;
            (!b.is_empty()).then(|| b.to_owned())
        })
    }
}

/// `host[:port]` or `[v6]:port` -> host.
fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|c| c.is_ascii_digit()) => h,
        _ => host,
    }
}

fn decode_key(raw: &str) -> Result<Option<String>, S3Error> {
    if raw.is_empty() {
        return Ok(None);
    }
    let key = percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| {
            S3Error::with_message(
                S3ErrorCode::InvalidArgument,
                "Object key is not valid UTF-8",
            )
        })?;
    Ok(Some(key.into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a() -> Addressing {
        Addressing::new(vec![
            "s3.example.com".into(),
            "localhost".into(),
            "s3.localhost".into(),
        ])
    }

    fn bk(t: &Target) -> (Option<&str>, Option<&str>) {
        (t.bucket.as_deref(), t.key.as_deref())
    }

    #[test]
    fn both_styles_name_the_same_bucket_and_key() {
        let keys = [
            ("/a/b/c.txt", Some("a/b/c.txt")),
            ("/", None),
            ("", None),
            ("/dir%2Fsub%20x", Some("dir/sub x")),
            ("/%C3%BC%2B+%25", Some("ü++%")),
            ("/a//b/../c", Some("a//b/../c")),
            ("/ü-raw", Some("ü-raw")),
        ];
        for bucket in ["photos", "my.dotted.bucket", "b-1"] {
            for (path, key) in keys {
                for host in [
                    format!("{bucket}.s3.example.com"),
                    format!("{bucket}.s3.example.com:9000"),
                    format!("{bucket}.S3.Example.COM"),
                ] {
                    let v = a().resolve(&host, path).unwrap();
                    assert_eq!(v.style, Style::VirtualHost);
                    assert_eq!(bk(&v), (Some(bucket), key), "{host} {path}");
                    assert_eq!(v.vhost_bucket(), Some(bucket));
                }
                for host in [
                    "s3.example.com",
                    "s3.example.com:9000",
                    "127.0.0.1:9000",
                    "[::1]:80",
                    "other.org",
                ] {
                    let p = a().resolve(host, &format!("/{bucket}{path}")).unwrap();
                    assert_eq!(p.style, Style::Path);
                    assert_eq!(bk(&p), (Some(bucket), key), "{host} /{bucket}{path}");
                    assert_eq!(p.vhost_bucket(), None);
                }
            }
        }
    }

    #[test]
    fn service_requests_and_longest_domain() {
        assert_eq!(
            bk(&a().resolve("s3.example.com", "/").unwrap()),
            (None, None)
        );
        assert_eq!(bk(&a().resolve("127.0.0.1", "/").unwrap()), (None, None));
        // `s3.localhost` is itself a domain, not bucket `s3` of `localhost`
        let t = a().resolve("s3.localhost:7480", "/").unwrap();
        assert_eq!((t.style, bk(&t)), (Style::Path, (None, None)));
        let t = a().resolve("b.s3.localhost", "/k").unwrap();
        assert_eq!(bk(&t), (Some("b"), Some("k")));
        let t = a().resolve("b.localhost", "/k").unwrap();
        assert_eq!(bk(&t), (Some("b"), Some("k")));
    }

    #[test]
    fn invalid_utf8_keys_are_refused() {
        let e = a().resolve("s3.example.com", "/b/%FF").unwrap_err();
        assert_eq!(e.code, S3ErrorCode::InvalidArgument);
    }
}
