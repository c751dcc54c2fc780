//! AWS Signature Version 2 for S3 (HMAC-SHA1): the pure parts.
//!
//! Spec: AWS S3 API reference, "Signing and authenticating REST requests
//! (AWS signature version 2)". Legacy clients (s3cmd, boto2, old SDKs and
//! SigV2 presigned links) still use it; the gateway accepts it unless
//! `sigv2_enabled` is off.

use actix_web::http::header::HeaderMap;
use hmac::{Hmac, Mac};
use percent_encoding::percent_decode_str;
use sha1::Sha1;

use crate::router::Query;

type HmacSha1 = Hmac<Sha1>;

/// "The subresources that must be included when constructing the
/// CanonicalizedResource Element are acl, lifecycle, location, logging,
/// notification, partNumber, policy, requestPayment, uploadId, uploads,
/// versionId, versioning, versions, and website", plus "response-*"
/// overrides and `delete` / `cors` / `tagging` / `torrent` / `restore`,
/// which S3 and the SigV2 signers of botocore and s3cmd also include.
/// Sorted: the resource lists them "sorted lexicographically by
/// subresource name".
const SUB_RESOURCES: &[&str] = &[
    "accelerate",
    "acl",
    "cors",
    "delete",
    "encryption",
    "legal-hold",
    "lifecycle",
    "location",
    "logging",
    "notification",
    "object-lock",
    "partNumber",
    "policy",
    "publicAccessBlock",
    "replication",
    "requestPayment",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "response-content-language",
    "response-content-type",
    "response-expires",
    "restore",
    "retention",
    "tagging",
    "torrent",
    "uploadId",
    "uploads",
    "versionId",
    "versioning",
    "versions",
    "website",
];

/// The `?sub&sub=value` suffix of the CanonicalizedResource. "If the value
/// ... [is] a query string parameter, [it] must not be URL-encoded": names
/// AND values are decoded once, with the router's rules
/// ([`Query`]), before they are compared with the
/// list, so `?%61cl` is the `acl` the router acts on and is signed as such.
fn sub_resource_suffix(query: &Query) -> String {
    let mut subs: Vec<(&str, Option<&str>)> = query
        .pairs()
        .iter()
        .filter(|p| SUB_RESOURCES.binary_search(&p.name.as_str()).is_ok())
        .map(|p| (p.name.as_str(), p.value.as_deref()))
        .collect();
    if subs.is_empty() {
        return String::new();
    }
    subs.sort_by(|a, b| a.0.cmp(b.0));
    let mut out = String::from("?");
    for (i, (k, v)) in subs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        if let Some(v) = v {
            out.push('=');
            out.push_str(v);
        }
    }
    out
}

/// The CanonicalizedResource candidates, the documented form first.
///
/// "1. Start with an empty string. 2. If the request specifies a bucket
/// using the HTTP Host header (virtual hosted-style), append the bucket
/// name preceded by a "/". 3. Append the path part of the un-decoded
/// HTTP Request-URI, up-to but not including the query string. 4. ...
/// append the subresources."
///
/// The other candidates are forms real clients sign for the same request:
/// boto3 (botocore HmacV1Auth) signs `/bucket/` for a path-style bucket
/// request it sends as `/bucket` (and S3 accepts both), so a bucket-only
/// path is also tried with its trailing slash toggled; a few clients sign
/// the decoded path.
pub fn canonical_resource_candidates(
    raw_path: &str,
    query: &Query,
    vhost_bucket: Option<&str>,
) -> Vec<String> {
    let path = if raw_path.is_empty() { "/" } else { raw_path };
    let prefix = vhost_bucket.map(|b| format!("/{b}")).unwrap_or_default();
    let subs = sub_resource_suffix(query);
    let mut paths = vec![format!("{prefix}{path}")];
    // The bucket-only forms: `/bucket` or `/bucket/` as a whole.
    let full = paths[0].clone();
    let inner = full.strip_prefix('/').unwrap_or(&full);
    if let Some(bucket) = inner.strip_suffix('/') {
        if !bucket.is_empty() && !bucket.contains('/') {
            paths.push(format!("/{bucket}"));
        }
    } else if !inner.is_empty() && !inner.contains('/') {
        paths.push(format!("/{inner}/"));
    }
    let decoded = percent_decode_str(&full).decode_utf8_lossy().into_owned();
    if decoded != full {
        paths.push(decoded);
    }
    paths.into_iter().map(|p| p + &subs).collect()
}

/// "CanonicalizedAmzHeaders": every `x-amz-*` header, lower-case name,
/// sorted by name, repeated headers' values joined with ',', folded
/// (line breaks + whitespace unfolded to one space) and trimmed, each
/// `name:value\n`.
pub fn canonical_amz_headers(headers: &HeaderMap) -> String {
    let mut names: Vec<&str> = headers
        .keys()
        .map(|k| k.as_str())
        .filter(|k| k.starts_with("x-amz-"))
        .collect();
    names.sort_unstable();
    names.dedup();
    let mut out = String::new();
    for name in names {
        out.push_str(name);
        out.push(':');
        for (i, v) in headers.get_all(name).enumerate() {
            if i > 0 {
                out.push(',');
            }
            let v = String::from_utf8_lossy(v.as_bytes());
            let folded: Vec<&str> = v.split_whitespace().collect();
            out.push_str(&folded.join(" "));
        }
        out.push('\n');
    }
    out
}

fn header_str<'h>(headers: &'h HeaderMap, name: &str) -> &'h str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .unwrap_or("")
}

/// "StringToSign = HTTP-Verb + "\n" + Content-MD5 + "\n" + Content-Type +
/// "\n" + Date + "\n" + CanonicalizedAmzHeaders + CanonicalizedResource".
/// `date_line` is the `Date` header, the empty string when `x-amz-date`
/// is present ("you still must include a newline character ... where the
/// Date header value would normally be inserted"), or `Expires` for query
/// authentication.
pub fn string_to_sign(
    method: &str,
    headers: &HeaderMap,
    date_line: &str,
    resource: &str,
) -> String {
    format!(
        "{method}\n{}\n{}\n{date_line}\n{}{resource}",
        header_str(headers, "content-md5"),
        header_str(headers, "content-type"),
        canonical_amz_headers(headers),
    )
}

/// `Base64(HMAC-SHA1(secret, StringToSign))`.
pub fn sign(secret: &[u8], string_to_sign: &str) -> [u8; 20] {
    let mut mac = HmacSha1::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(string_to_sign.as_bytes());
    mac.finalize().into_bytes().into()
}

/// Constant-time check (`Mac::verify_slice`).
pub fn verify(secret: &[u8], string_to_sign: &str, provided: &[u8]) -> bool {
    let mut mac = HmacSha1::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(string_to_sign.as_bytes());
    mac.verify_slice(provided).is_ok()
}

/// A SigV2 `Date` / `x-amz-date`: RFC 1123 with `GMT` (httpdate) or with a
/// numeric zone as the AWS examples use (`Tue, 27 Mar 2007 19:36:42 +0000`).
/// A date before 1970 is no usable request time (None: AccessDenied, as S3).
pub fn parse_date(s: &str) -> Option<std::time::SystemTime> {
    let s = s.trim();
    if let Ok(t) = httpdate::parse_http_date(s) {
        return (t >= std::time::SystemTime::UNIX_EPOCH).then_some(t);
    }
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc2822)
        .ok()
        .filter(|t| t.unix_timestamp() >= 0)
        .map(Into::into)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    const SECRET: &[u8] = b"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

    fn b64(sig: [u8; 20]) -> String {
        base64::engine::general_purpose::STANDARD.encode(sig)
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        crate::auth::test_support::headers(pairs)
    }

    /// The "Authentication examples" of the SigV2 page, each checked at the
    /// string to sign, then the signature.
    #[test]
    fn known_answer_object_get() {
        let h = headers(&[
            ("host", "johnsmith.s3.amazonaws.com"),
            ("date", "Tue, 27 Mar 2007 19:36:42 +0000"),
        ]);
        let res = canonical_resource_candidates(
            "/photos/puppy.jpg",
            &Query::parse(""),
            Some("johnsmith"),
        );
        assert_eq!(res[0], "/johnsmith/photos/puppy.jpg");
        let sts = string_to_sign("GET", &h, header_str(&h, "date"), &res[0]);
        assert_eq!(
            sts,
            "GET\n\n\nTue, 27 Mar 2007 19:36:42 +0000\n/johnsmith/photos/puppy.jpg"
        );
        assert_eq!(b64(sign(SECRET, &sts)), "bWq2s1WEIj+Ydj0vQ697zp+IXMU=");
    }

    #[test]
    fn known_answer_object_put() {
        let h = headers(&[
            ("content-type", "image/jpeg"),
            ("content-length", "94328"),
            ("host", "johnsmith.s3.amazonaws.com"),
            ("date", "Tue, 27 Mar 2007 21:15:45 +0000"),
        ]);
        let res = canonical_resource_candidates(
            "/photos/puppy.jpg",
            &Query::parse(""),
            Some("johnsmith"),
        );
        let sts = string_to_sign("PUT", &h, header_str(&h, "date"), &res[0]);
        assert_eq!(
            sts,
            "PUT\n\nimage/jpeg\nTue, 27 Mar 2007 21:15:45 +0000\n/johnsmith/photos/puppy.jpg"
        );
        assert_eq!(b64(sign(SECRET, &sts)), "MyyxeRY7whkBe+bq8fHCL/2kKUg=");
    }

    #[test]
    fn known_answer_list_and_acl() {
        let h = headers(&[
            ("user-agent", "Mozilla/5.0"),
            ("date", "Tue, 27 Mar 2007 19:42:41 +0000"),
        ]);
        let res = canonical_resource_candidates(
            "/",
            &Query::parse("prefix=photos&max-keys=50&marker=puppy"),
            Some("johnsmith"),
        );
        assert_eq!(res[0], "/johnsmith/");
        let sts = string_to_sign("GET", &h, header_str(&h, "date"), &res[0]);
        assert_eq!(sts, "GET\n\n\nTue, 27 Mar 2007 19:42:41 +0000\n/johnsmith/");
        assert_eq!(b64(sign(SECRET, &sts)), "htDYFYduRNen8P9ZfE/s9SuKy0U=");

        let h = headers(&[("date", "Tue, 27 Mar 2007 19:44:46 +0000")]);
        let res = canonical_resource_candidates("/", &Query::parse("acl"), Some("johnsmith"));
        assert_eq!(res[0], "/johnsmith/?acl");
        let sts = string_to_sign("GET", &h, header_str(&h, "date"), &res[0]);
        assert_eq!(b64(sign(SECRET, &sts)), "c2WLPFtWHVgbEmeEG93a4cG37dM=");
    }

    /// "Delete": with `x-amz-date` present the Date line is empty and the
    /// timestamp is signed as an amz header (the rule s3cmd follows). The
    /// page's published signature is the one of the same request signed
    /// with the timestamp in the Date line, checked second.
    #[test]
    fn known_answer_delete_with_x_amz_date() {
        let h = headers(&[
            ("user-agent", "dotnet"),
            ("host", "s3.amazonaws.com"),
            ("date", "Tue, 27 Mar 2007 21:20:27 +0000"),
            ("x-amz-date", "Tue, 27 Mar 2007 21:20:26 +0000"),
        ]);
        let res =
            canonical_resource_candidates("/johnsmith/photos/puppy.jpg", &Query::parse(""), None);
        let sts = string_to_sign("DELETE", &h, "", &res[0]);
        assert_eq!(
            sts,
            "DELETE\n\n\n\nx-amz-date:Tue, 27 Mar 2007 21:20:26 +0000\n/johnsmith/photos/puppy.jpg"
        );
        let h = headers(&[
            ("host", "s3.amazonaws.com"),
            ("date", "Tue, 27 Mar 2007 21:20:26 +0000"),
        ]);
        let sts = string_to_sign("DELETE", &h, header_str(&h, "date"), &res[0]);
        assert_eq!(
            sts,
            "DELETE\n\n\nTue, 27 Mar 2007 21:20:26 +0000\n/johnsmith/photos/puppy.jpg"
        );
        assert_eq!(b64(sign(SECRET, &sts)), "lx3byBScXR6KzyMaifNkardMwNk=");
    }

    /// "List All My Buckets" (ListBuckets, resource `/`).
    #[test]
    fn known_answer_list_buckets() {
        let h = headers(&[
            ("host", "s3.amazonaws.com"),
            ("date", "Wed, 28 Mar 2007 01:29:59 +0000"),
        ]);
        let res = canonical_resource_candidates("/", &Query::parse(""), None);
        assert_eq!(res, ["/"]);
        let sts = string_to_sign("GET", &h, header_str(&h, "date"), &res[0]);
        assert_eq!(b64(sign(SECRET, &sts)), "qGdzdERIC03wnaRNKh6OqZehG9s=");
    }

    /// "Upload": a CNAME bucket with a port, x-amz-* folding and repeated
    /// metadata headers joined by commas.
    #[test]
    fn known_answer_upload_with_amz_headers() {
        let h = headers(&[
            ("user-agent", "curl/7.15.5"),
            ("host", "static.johnsmith.net:8080"),
            ("date", "Tue, 27 Mar 2007 21:06:08 +0000"),
            ("x-amz-acl", "public-read"),
            ("content-type", "application/x-download"),
            ("content-md5", "4gJE4saaMU4BqNR0kLY+lw=="),
            ("x-amz-meta-reviewedby", "joe@johnsmith.net"),
            ("x-amz-meta-reviewedby", "jane@johnsmith.net"),
            ("x-amz-meta-filechecksum", "0x02661779"),
            ("x-amz-meta-checksumalgorithm", "crc32"),
            ("content-disposition", "attachment; filename=database.dat"),
            ("content-encoding", "gzip"),
            ("content-length", "5913339"),
        ]);
        let res = canonical_resource_candidates(
            "/db-backup.dat.gz",
            &Query::parse(""),
            Some("static.johnsmith.net"),
        );
        let sts = string_to_sign("PUT", &h, header_str(&h, "date"), &res[0]);
        assert_eq!(
            sts,
            "PUT\n4gJE4saaMU4BqNR0kLY+lw==\napplication/x-download\nTue, 27 Mar 2007 21:06:08 +0000\n\
             x-amz-acl:public-read\nx-amz-meta-checksumalgorithm:crc32\nx-amz-meta-filechecksum:0x02661779\n\
             x-amz-meta-reviewedby:joe@johnsmith.net,jane@johnsmith.net\n/static.johnsmith.net/db-backup.dat.gz"
        );
        assert_eq!(b64(sign(SECRET, &sts)), "ilyl83RwaSoYIEdixDQcA4OnAnc=");
    }

    /// "Query string request authentication alternative": the Date line is
    /// the Expires value.
    #[test]
    fn known_answer_query_string() {
        let h = headers(&[("host", "johnsmith.s3.amazonaws.com")]);
        let res = canonical_resource_candidates("/photos/puppy.jpg", &Query::parse("AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Signature=NpgCjnDzrM%2BWFzoENXmpNDUsSn8%3D&Expires=1175139620"),
            Some("johnsmith"),
        );
        let sts = string_to_sign("GET", &h, "1175139620", &res[0]);
        assert_eq!(sts, "GET\n\n\n1175139620\n/johnsmith/photos/puppy.jpg");
        assert_eq!(b64(sign(SECRET, &sts)), "NpgCjnDzrM+WFzoENXmpNDUsSn8=");
    }

    #[test]
    fn bucket_only_paths_get_both_slash_forms_and_subresources_sort() {
        assert_eq!(
            canonical_resource_candidates("/bucket", &Query::parse(""), None),
            ["/bucket", "/bucket/"]
        );
        assert_eq!(
            canonical_resource_candidates("/bucket/", &Query::parse(""), None),
            ["/bucket/", "/bucket"]
        );
        assert_eq!(
            canonical_resource_candidates("/", &Query::parse(""), Some("b")),
            ["/b/", "/b"]
        );
        assert_eq!(
            canonical_resource_candidates("/b/k", &Query::parse(""), None),
            ["/b/k"]
        );
        assert_eq!(
            canonical_resource_candidates(
                "/b/k",
                &Query::parse("uploadId=x%2By&partNumber=2&foo=bar&acl"),
                None
            ),
            ["/b/k?acl&partNumber=2&uploadId=x+y"]
        );
        assert_eq!(
            canonical_resource_candidates("/b/a%20b", &Query::parse(""), None),
            ["/b/a%20b", "/b/a b"]
        );
        let mut sorted = SUB_RESOURCES.to_vec();
        sorted.sort_unstable();
        assert_eq!(sorted, SUB_RESOURCES, "binary_search needs a sorted list");
    }

    #[test]
    fn dates_parse_in_both_zone_spellings() {
        assert_eq!(
            parse_date("Tue, 27 Mar 2007 19:36:42 +0000"),
            parse_date("Tue, 27 Mar 2007 19:36:42 GMT")
        );
        assert!(parse_date("Tue, 27 Mar 2007 19:36:42 +0000").is_some());
        assert!(parse_date("yesterday").is_none());
        // Before 1970: no usable time (AccessDenied, never a skew answer).
        assert!(parse_date("Tue, 27 Mar 1956 19:36:42 +0000").is_none());
        assert!(parse_date("Thu, 31 Dec 1969 23:59:59 GMT").is_none());
        assert!(parse_date("").is_none());
    }

    /// Sub-resource names are decoded (once, with the router's rules)
    /// before they are matched: an encoded `?%61cl` or `?%75ploads` is
    /// signed as the `acl`/`uploads` the router acts on, and a `+` in a
    /// value is the router's space.
    #[test]
    fn encoded_sub_resources_are_signed_as_decoded() {
        assert_eq!(
            canonical_resource_candidates("/b", &Query::parse("%75ploads"), None)[0],
            "/b?uploads"
        );
        assert_eq!(
            canonical_resource_candidates("/b/k", &Query::parse("%61cl"), None)[0],
            "/b/k?acl"
        );
        assert_eq!(
            canonical_resource_candidates(
                "/b/k",
                &Query::parse("%72esponse-content-type=a%2Fb"),
                None
            )[0],
            "/b/k?response-content-type=a/b"
        );
        assert_eq!(
            canonical_resource_candidates(
                "/b/k",
                &Query::parse("response-content-disposition=a+b"),
                None
            )[0],
            "/b/k?response-content-disposition=a b"
        );
        // Whatever the spelling, the router sees the same names.
        for raw in ["%75ploads", "uploads"] {
            assert!(crate::router::Query::parse(raw).has("uploads"));
        }
    }
}
