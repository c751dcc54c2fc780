//! CORS rules of a bucket, as stored in its configuration record
//! ([`crate::BucketConfig::cors`]). Owned by the sharing work (issue 12):
//! validation and rule matching build on this type.

use serde::{Deserialize, Serialize};

/// One `<CORSRule>`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorsRule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub allowed_methods: Vec<String>,
    pub allowed_origins: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_headers: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expose_headers: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age_seconds: Option<u64>,
}

/// The methods a rule may allow (S3 accepts no others).
pub const CORS_METHODS: [&str; 5] = ["GET", "PUT", "HEAD", "POST", "DELETE"];

/// Whether `value` matches `pattern`, which holds at most one `*` standing
/// for any run of characters (S3's AllowedOrigin / AllowedHeader form).
/// `case_insensitive` for header names; origins compare exactly.
pub fn wildcard_match(pattern: &str, value: &str, case_insensitive: bool) -> bool {
    let eq = |a: &str, b: &str| {
        if case_insensitive {
            a.eq_ignore_ascii_case(b)
        } else {
            a == b
        }
    };
    match pattern.split_once('*') {
        None => eq(pattern, value),
        Some((pre, post)) => {
            value.len() >= pre.len() + post.len()
                && value.is_char_boundary(pre.len())
                && value.is_char_boundary(value.len() - post.len())
                && eq(pre, &value[..pre.len()])
                && eq(post, &value[value.len() - post.len()..])
        }
    }
}

impl CorsRule {
    /// Whether the rule allows `origin`.
    pub fn allows_origin(&self, origin: &str) -> bool {
        self.allowed_origins
            .iter()
            .any(|p| wildcard_match(p, origin, false))
    }

    /// Whether the rule allows the request header `name` (a preflight's
    /// `Access-Control-Request-Headers` entry).
    pub fn allows_header(&self, name: &str) -> bool {
        self.allowed_headers
            .iter()
            .any(|p| wildcard_match(p, name, true))
    }

    /// Whether `Access-Control-Allow-Origin` is `*` for this origin (the
    /// rule allows every origin) rather than the origin itself.
    pub fn any_origin(&self) -> bool {
        self.allowed_origins.iter().any(|o| o == "*")
    }
}

/// S3's rule selection: the FIRST rule that allows the origin, the method
/// and every requested header (`headers` is empty for an actual request,
/// whose headers S3 does not check).
pub fn matching_rule<'r>(
    rules: &'r [CorsRule],
    origin: &str,
    method: &str,
    headers: &[String],
) -> Option<&'r CorsRule> {
    rules.iter().find(|r| {
        r.allows_origin(origin)
            && r.allowed_methods.iter().any(|m| m == method)
            && headers.iter().all(|h| r.allows_header(h))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(origins: &[&str], methods: &[&str], headers: &[&str]) -> CorsRule {
        CorsRule {
            allowed_origins: origins.iter().map(|s| s.to_string()).collect(),
            allowed_methods: methods.iter().map(|s| s.to_string()).collect(),
            allowed_headers: headers.iter().map(|s| s.to_string()).collect(),
            ..CorsRule::default()
        }
    }

    #[test]
    fn one_wildcard_matches_any_run_of_characters() {
        assert!(wildcard_match("*", "", false));
        assert!(wildcard_match("*", "http://a.example", false));
        assert!(wildcard_match(
            "http://*.example.com",
            "http://www.example.com",
            false
        ));
        assert!(wildcard_match(
            "http://*.example.com",
            "http://a.b.example.com",
            false
        ));
        assert!(!wildcard_match(
            "http://*.example.com",
            "https://www.example.com",
            false
        ));
        assert!(!wildcard_match(
            "http://*.example.com",
            "http://example.com",
            false
        ));
        // prefix and suffix may not overlap
        assert!(!wildcard_match("ab*ba", "aba", false));
        assert!(wildcard_match("x-amz-*", "X-Amz-Date", true));
        assert!(!wildcard_match("x-amz-*", "X-Amz-Date", false));
        assert!(!wildcard_match(
            "http://www.example.com",
            "http://www.example.com.evil",
            false
        ));
        // multi-byte characters around the split do not panic
        assert!(!wildcard_match("é*", "e", false));
        assert!(wildcard_match("a*é", "aé", false));
        assert!(!wildcard_match("*é", "\u{e8}", false));
    }

    #[test]
    fn the_first_rule_allowing_origin_method_and_all_headers_wins() {
        let rules = vec![
            rule(&["http://a.test"], &["PUT"], &["x-amz-*"]),
            rule(&["http://a.test"], &["PUT", "GET"], &["*"]),
            rule(&["*"], &["GET"], &[]),
        ];
        let h = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let pick = |o: &str, m: &str, hs: &[&str]| {
            matching_rule(&rules, o, m, &h(hs)).map(|r| rules.iter().position(|x| x == r).unwrap())
        };
        assert_eq!(pick("http://a.test", "PUT", &["x-amz-date"]), Some(0));
        assert_eq!(
            pick("http://a.test", "PUT", &["x-amz-date", "content-type"]),
            Some(1)
        );
        assert_eq!(pick("http://a.test", "GET", &[]), Some(1));
        assert_eq!(pick("http://b.test", "GET", &[]), Some(2));
        assert_eq!(pick("http://b.test", "PUT", &[]), None);
        assert_eq!(pick("http://b.test", "GET", &["x-custom"]), None);
        // methods are case-sensitive, as S3 compares them
        assert_eq!(pick("http://b.test", "get", &[]), None);
        assert!(rules[2].any_origin() && !rules[0].any_origin());
    }
}
