//! CORS: PutBucketCors / GetBucketCors / DeleteBucketCors, the preflight
//! (`OPTIONS`) and the CORS headers on actual requests.
//!
//! The rules live in the bucket's configuration record
//! ([`BucketConfig::cors`]), read and written only through
//! `self.bucket_configs`. Preflights are unsigned, so a bucket with rules
//! keeps its name in the public registry ([`Exposure::Cors`]) and a
//! preflight finds the owning account there ([`Handlers::public_owner`]).
//! Rule matching is the translator's ([`s3gw_translator::cors`]): the
//! first rule that allows the origin, the method and (for a preflight)
//! every requested header.

use s3gw_translator::cors::{matching_rule, CorsRule, CORS_METHODS};
use serde::{Deserialize, Serialize};

use super::access::Exposure;
use super::*;

/// At most this many rules in one configuration (S3's limit).
const MAX_RULES: usize = 100;
/// Longest rule `<ID>`, in characters.
const MAX_ID_CHARS: usize = 255;

/// What a CORS answer varies on (S3 sends exactly this).
const VARY: &str = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method";

/// Response headers, lower-case names (they go into actix's header map).
pub(super) type CorsHeaders = Vec<(&'static str, String)>;

// ------------------------------------------------------------ documents

#[derive(Debug, Deserialize)]
struct CorsConfigurationIn {
    #[serde(rename = "CORSRule", default)]
    rules: Vec<CorsRuleIn>,
}

#[derive(Debug, Deserialize)]
struct CorsRuleIn {
    #[serde(rename = "ID")]
    id: Option<String>,
    #[serde(rename = "AllowedHeader", default)]
    allowed_headers: Vec<String>,
    #[serde(rename = "AllowedMethod", default)]
    allowed_methods: Vec<String>,
    #[serde(rename = "AllowedOrigin", default)]
    allowed_origins: Vec<String>,
    #[serde(rename = "ExposeHeader", default)]
    expose_headers: Vec<String>,
    #[serde(rename = "MaxAgeSeconds")]
    max_age_seconds: Option<String>,
}

#[derive(Debug, Serialize)]
struct CorsConfigurationOut<'a> {
    #[serde(rename = "@xmlns")]
    xmlns: &'static str,
    #[serde(rename = "CORSRule")]
    rules: Vec<CorsRuleOut<'a>>,
}

#[derive(Debug, Serialize)]
struct CorsRuleOut<'a> {
    #[serde(rename = "ID", skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(rename = "AllowedHeader")]
    allowed_headers: &'a [String],
    #[serde(rename = "AllowedMethod")]
    allowed_methods: &'a [String],
    #[serde(rename = "AllowedOrigin")]
    allowed_origins: &'a [String],
    #[serde(rename = "ExposeHeader")]
    expose_headers: &'a [String],
    #[serde(rename = "MaxAgeSeconds", skip_serializing_if = "Option::is_none")]
    max_age_seconds: Option<u64>,
}

fn invalid_request(msg: String) -> S3Error {
    S3Error::with_message(S3ErrorCode::InvalidRequest, msg)
}

/// A header name as RFC 9110 spells a token (what may go into
/// `Access-Control-Expose-Headers`).
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Parses and validates a `<CORSConfiguration>` as S3 does (AWS API
/// reference, PutBucketCors): 1 to 100 rules, each with at least one
/// AllowedMethod (GET, PUT, HEAD, POST or DELETE) and one AllowedOrigin,
/// at most one `*` per AllowedOrigin and AllowedHeader, none in an
/// ExposeHeader, an ID of at most 255 characters and a non-negative
/// integer MaxAgeSeconds.
pub(super) fn parse_cors_configuration(body: &[u8]) -> Result<Vec<CorsRule>, S3Error> {
    let doc: CorsConfigurationIn = xml::parse(body)?;
    if doc.rules.is_empty() || doc.rules.len() > MAX_RULES {
        return Err(S3ErrorCode::MalformedXML.into());
    }
    let mut out = Vec::with_capacity(doc.rules.len());
    for r in doc.rules {
        if r.allowed_methods.is_empty() || r.allowed_origins.is_empty() {
            return Err(S3ErrorCode::MalformedXML.into());
        }
        let trim = |v: Vec<String>| -> Vec<String> {
            v.into_iter().map(|s| s.trim().to_owned()).collect()
        };
        let methods = trim(r.allowed_methods);
        let origins = trim(r.allowed_origins);
        let headers = trim(r.allowed_headers);
        let expose = trim(r.expose_headers);
        if let Some(m) = methods.iter().find(|m| !CORS_METHODS.contains(&m.as_str())) {
            return Err(invalid_request(format!(
                "Found unsupported HTTP method in CORS config. Unsupported method is {m}"
            )));
        }
        for o in &origins {
            if o.matches('*').count() > 1 {
                return Err(invalid_request(format!(
                    "AllowedOrigin \"{o}\" can not have more than one wildcard."
                )));
            }
            if o.is_empty() || o.chars().any(char::is_control) {
                return Err(invalid_request(format!(
                    "AllowedOrigin \"{}\" is not a valid origin.",
                    o.escape_debug()
                )));
            }
        }
        for h in &headers {
            if h.matches('*').count() > 1 {
                return Err(invalid_request(format!(
                    "AllowedHeader \"{h}\" can not have more than one wildcard."
                )));
            }
            if h.is_empty() || h.chars().any(char::is_control) {
                return Err(invalid_request(format!(
                    "AllowedHeader \"{}\" is not a valid header name.",
                    h.escape_debug()
                )));
            }
        }
        for h in &expose {
            if h.contains('*') {
                return Err(invalid_request(format!(
                    "ExposeHeader \"{h}\" contains wildcard. We currently do not support \
                     wildcard for ExposeHeader."
                )));
            }
            if !is_token(h) {
                return Err(invalid_request(format!(
                    "ExposeHeader \"{}\" is not a valid header name.",
                    h.escape_debug()
                )));
            }
        }
        let id = r.id.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
        if id
            .as_ref()
            .is_some_and(|s| s.chars().count() > MAX_ID_CHARS)
        {
            return Err(S3Error::with_message(
                S3ErrorCode::InvalidArgument,
                "ID length should not exceed allowed limit of 255",
            ));
        }
        let max_age_seconds = match r.max_age_seconds {
            None => None,
            Some(s) => Some(
                s.trim()
                    .parse::<u64>()
                    .map_err(|_| S3Error::new(S3ErrorCode::MalformedXML))?,
            ),
        };
        out.push(CorsRule {
            id,
            allowed_methods: methods,
            allowed_origins: origins,
            allowed_headers: headers,
            expose_headers: expose,
            max_age_seconds,
        });
    }
    Ok(out)
}

fn cors_document(rules: &[CorsRule]) -> String {
    let doc = CorsConfigurationOut {
        xmlns: NS,
        rules: rules
            .iter()
            .map(|r| CorsRuleOut {
                id: r.id.as_deref(),
                allowed_headers: &r.allowed_headers,
                allowed_methods: &r.allowed_methods,
                allowed_origins: &r.allowed_origins,
                expose_headers: &r.expose_headers,
                max_age_seconds: r.max_age_seconds,
            })
            .collect(),
    };
    xml::to_xml("CORSConfiguration", &doc)
}

/// The headers a matching rule gives an answer: the allowed origin (`*`
/// when the rule allows every origin, else the request's, with
/// credentials allowed), the rule's methods, the requested headers (a
/// preflight's), the exposed headers, the max age and Vary.
pub(super) fn rule_headers(rule: &CorsRule, origin: &str, requested: &[String]) -> CorsHeaders {
    let mut h: CorsHeaders = Vec::with_capacity(7);
    if rule.any_origin() {
        h.push(("access-control-allow-origin", "*".into()));
    } else {
        h.push(("access-control-allow-origin", origin.to_owned()));
        h.push(("access-control-allow-credentials", "true".into()));
    }
    h.push((
        "access-control-allow-methods",
        rule.allowed_methods.join(", "),
    ));
    if !requested.is_empty() {
        h.push(("access-control-allow-headers", requested.join(", ")));
    }
    if !rule.expose_headers.is_empty() {
        h.push((
            "access-control-expose-headers",
            rule.expose_headers.join(", "),
        ));
    }
    if let Some(age) = rule.max_age_seconds {
        h.push(("access-control-max-age", age.to_string()));
    }
    h.push(("vary", VARY.into()));
    h
}

/// Sets `headers` on a response (values a header cannot carry are
/// dropped; validation keeps them out of the rules).
pub(super) fn set_headers(resp: &mut HttpResponse, headers: &CorsHeaders) {
    use actix_web::http::header::{HeaderName, HeaderValue};
    for (name, value) in headers {
        if let Ok(v) = HeaderValue::from_str(value) {
            resp.headers_mut().insert(HeaderName::from_static(name), v);
        }
    }
}

/// S3 requires an integrity check on PutBucketCors: Content-MD5 or an
/// `x-amz-checksum-*` header (or a trailer announcing one); the body
/// verifier checks whichever is present.
fn has_integrity_header(h: &HeaderMap) -> bool {
    h.contains_key("content-md5")
        || h.keys().any(|k| {
            k.as_str().starts_with("x-amz-checksum-") && k.as_str() != "x-amz-checksum-algorithm"
        })
        || header(h, "x-amz-sdk-checksum-algorithm").is_some()
            && header(h, "x-amz-trailer").is_some()
}

/// A preflight refused (`AccessForbidden`, S3's `CORSResponse: ...`).
fn forbidden(msg: &str) -> S3Error {
    S3Error::with_message(S3ErrorCode::AccessForbidden, msg)
}

fn bad_request(msg: String) -> S3Error {
    S3Error::with_message(S3ErrorCode::BadRequest, msg)
}

impl Handlers {
    pub(super) async fn get_bucket_cors(&self, r: S3Request) -> HResult {
        let bucket = bucket(&r)?;
        let config = self
            .bucket_configs
            .get(&*self.backend, &r.cx, &bucket)
            .await
            .map_err(backend_error)?;
        match config.cors {
            Some(rules) if !rules.is_empty() => Ok(xml_ok(cors_document(&rules))),
            _ => Err(S3Error::new(S3ErrorCode::NoSuchCORSConfiguration)
                .extra("BucketName", bucket.as_str())),
        }
    }

    pub(super) async fn put_bucket_cors(&self, mut r: S3Request) -> HResult {
        let bucket = bucket(&r)?;
        if !has_integrity_header(&r.headers) {
            return Err(invalid_request(
                "Missing required header for this request: Content-MD5".into(),
            ));
        }
        let body = self.read_xml_body(&mut r).await?;
        let rules = parse_cors_configuration(&body)?;
        self.backend
            .head_bucket(&r.cx, &bucket)
            .await
            .map_err(backend_error)?;
        // Reachable by unsigned preflights first: a name another account
        // has made public is refused (409) before any rule is stored.
        self.expose(&r.cx, &bucket, Exposure::Cors, true).await?;
        self.bucket_configs
            .update(&*self.backend, &r.cx, &bucket, |c| {
                c.cors = Some(rules.clone())
            })
            .await
            .map_err(backend_error)?;
        Ok(HttpResponse::Ok().finish())
    }

    pub(super) async fn delete_bucket_cors(&self, r: S3Request) -> HResult {
        let bucket = bucket(&r)?;
        self.bucket_configs
            .update(&*self.backend, &r.cx, &bucket, |c| c.cors = None)
            .await
            .map_err(backend_error)?;
        self.expose(&r.cx, &bucket, Exposure::Cors, false).await?;
        Ok(HttpResponse::NoContent().finish())
    }

    /// The preflight: `OPTIONS` on a bucket or object, unsigned. Origin and
    /// Access-Control-Request-Method are required (400 BadRequest, as S3
    /// answers); the owner comes from the public registry; the first rule
    /// allowing the origin, the method and every requested header answers
    /// 200 with its headers, else 403 AccessForbidden.
    pub(super) async fn options_object(&self, mut r: S3Request) -> HResult {
        let bucket = bucket(&r)?;
        let Some(origin) = header(&r.headers, "origin").map(str::to_owned) else {
            return Err(bad_request(
                "Insufficient information. Origin request header needed.".into(),
            ));
        };
        let method = match header(&r.headers, "access-control-request-method") {
            None => {
                return Err(bad_request(
                    "Invalid Access-Control-Request-Method: null".into(),
                ))
            }
            Some(m) if !CORS_METHODS.contains(&m) => {
                return Err(bad_request(format!(
                    "Invalid Access-Control-Request-Method: {}",
                    m.escape_debug()
                )))
            }
            Some(m) => m.to_owned(),
        };
        let requested: Vec<String> = r
            .headers
            .get_all("access-control-request-headers")
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .collect();
        if r.cx.tenant.login.is_empty() {
            match self.public_owner(&r.cx.request_id, &bucket).await? {
                Some(owner) => r.cx.tenant = owner,
                // Every bucket with rules is in the registry.
                None => {
                    return Err(forbidden(
                        "CORSResponse: CORS is not enabled for this bucket.",
                    ))
                }
            }
        }
        let rules = match self
            .bucket_configs
            .get(&*self.backend, &r.cx, &bucket)
            .await
        {
            Ok(c) => c.cors.unwrap_or_default(),
            Err(BackendError::NoSuchBucket) => {
                return Err(forbidden("CORSResponse: Bucket not found"))
            }
            Err(e) => return Err(backend_error(e)),
        };
        if rules.is_empty() {
            return Err(forbidden(
                "CORSResponse: CORS is not enabled for this bucket.",
            ));
        }
        let rule = matching_rule(&rules, &origin, &method, &requested)
            .ok_or_else(|| S3Error::new(S3ErrorCode::AccessForbidden))?;
        let mut resp = HttpResponse::Ok().finish();
        set_headers(&mut resp, &rule_headers(rule, &origin, &requested));
        Ok(resp)
    }

    /// The CORS headers of an actual (non-preflight) request with an
    /// `Origin`: those of the first rule of the bucket allowing the origin
    /// and the request's method (of the bucket that serves it: the
    /// signer's, else the public name's owner's); none when nothing
    /// matches, when the bucket's account is unknown (refused before this)
    /// or its record cannot be read (the request itself then fails or is
    /// served without).
    pub(super) async fn actual_request_cors(&self, r: &S3Request) -> CorsHeaders {
        if matches!(
            r.endpoint,
            Endpoint::OptionsObject | Endpoint::CreateBucket | Endpoint::ListBuckets
        ) || r.cx.tenant.login.is_empty()
        {
            return Vec::new();
        }
        let (Some(bucket), Some(origin)) = (&r.bucket, header(&r.headers, "origin")) else {
            return Vec::new();
        };
        let config = match self.bucket_configs.get(&*self.backend, &r.cx, bucket).await {
            Ok(c) => c,
            // A signed request for a name the public registry gives to
            // another account is served from that account's bucket
            // (access.rs `foreign_fallback`): its rules apply.
            Err(BackendError::NoSuchBucket) => {
                let Ok(Some(owner)) = self.public_owner(&r.cx.request_id, bucket).await else {
                    return Vec::new();
                };
                if owner.login == r.cx.tenant.login {
                    return Vec::new();
                }
                let cx = RequestContext {
                    tenant: owner,
                    request_id: r.cx.request_id.clone(),
                };
                match self.bucket_configs.get(&*self.backend, &cx, bucket).await {
                    Ok(c) => c,
                    Err(_) => return Vec::new(),
                }
            }
            Err(_) => return Vec::new(),
        };
        let rules = config.cors.unwrap_or_default();
        match matching_rule(&rules, origin, r.method.as_str(), &[]) {
            Some(rule) => rule_headers(rule, origin, &[]),
            None => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NSX: &str = "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"";

    fn doc(rules: &str) -> Vec<u8> {
        format!("<CORSConfiguration {NSX}>{rules}</CORSConfiguration>").into_bytes()
    }

    fn err(body: &[u8]) -> (S3ErrorCode, String) {
        let e = parse_cors_configuration(body).unwrap_err();
        (e.code, e.message)
    }

    #[test]
    fn a_full_rule_round_trips_through_the_document() {
        let body = doc("<CORSRule><ID>web</ID><AllowedHeader>*</AllowedHeader>\
             <AllowedMethod>PUT</AllowedMethod><AllowedMethod>GET</AllowedMethod>\
             <AllowedOrigin>http://*.example.com</AllowedOrigin>\
             <ExposeHeader>ETag</ExposeHeader><MaxAgeSeconds>3000</MaxAgeSeconds></CORSRule>\
             <CORSRule><AllowedMethod>GET</AllowedMethod><AllowedOrigin>*</AllowedOrigin></CORSRule>");
        let rules = parse_cors_configuration(&body).unwrap();
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0].id.as_deref(), Some("web"));
        assert_eq!(rules[0].allowed_methods, ["PUT", "GET"]);
        assert_eq!(rules[0].max_age_seconds, Some(3000));
        assert_eq!(rules[1].allowed_headers, Vec::<String>::new());
        let out = cors_document(&rules);
        assert!(out.contains("<CORSRule><ID>web</ID><AllowedHeader>*</AllowedHeader><AllowedMethod>PUT</AllowedMethod><AllowedMethod>GET</AllowedMethod><AllowedOrigin>http://*.example.com</AllowedOrigin><ExposeHeader>ETag</ExposeHeader><MaxAgeSeconds>3000</MaxAgeSeconds></CORSRule>"), "{out}");
        assert_eq!(parse_cors_configuration(out.as_bytes()).unwrap(), rules);
    }

    #[test]
    fn validation_answers_as_s3_does() {
        let rule = |inner: &str| doc(&format!("<CORSRule>{inner}</CORSRule>"));
        assert_eq!(err(&doc("")).0, S3ErrorCode::MalformedXML);
        assert_eq!(
            err(&rule("<AllowedOrigin>*</AllowedOrigin>")).0,
            S3ErrorCode::MalformedXML
        );
        assert_eq!(
            err(&rule("<AllowedMethod>GET</AllowedMethod>")).0,
            S3ErrorCode::MalformedXML
        );
        assert_eq!(
            err(&rule(
                "<AllowedMethod>PATCH</AllowedMethod><AllowedOrigin>*</AllowedOrigin>"
            )),
            (
                S3ErrorCode::InvalidRequest,
                "Found unsupported HTTP method in CORS config. Unsupported method is PATCH".into()
            )
        );
        assert_eq!(
            err(&rule(
                "<AllowedMethod>get</AllowedMethod><AllowedOrigin>*</AllowedOrigin>"
            ))
            .0,
            S3ErrorCode::InvalidRequest
        );
        assert_eq!(
            err(&rule(
                "<AllowedMethod>GET</AllowedMethod><AllowedOrigin>http://*.*.com</AllowedOrigin>"
            )),
            (
                S3ErrorCode::InvalidRequest,
                "AllowedOrigin \"http://*.*.com\" can not have more than one wildcard.".into()
            )
        );
        assert_eq!(
            err(&rule(
                "<AllowedHeader>x-*-*</AllowedHeader><AllowedMethod>GET</AllowedMethod><AllowedOrigin>*</AllowedOrigin>"
            ))
            .0,
            S3ErrorCode::InvalidRequest
        );
        assert!(err(&rule(
            "<AllowedMethod>GET</AllowedMethod><AllowedOrigin>*</AllowedOrigin><ExposeHeader>*</ExposeHeader>"
        ))
        .1
        .contains("wildcard"));
        assert_eq!(
            err(&rule(
                "<AllowedMethod>GET</AllowedMethod><AllowedOrigin>*</AllowedOrigin><MaxAgeSeconds>-1</MaxAgeSeconds>"
            ))
            .0,
            S3ErrorCode::MalformedXML
        );
        let long_id = "i".repeat(256);
        assert_eq!(
            err(&rule(&format!(
                "<ID>{long_id}</ID><AllowedMethod>GET</AllowedMethod><AllowedOrigin>*</AllowedOrigin>"
            )))
            .0,
            S3ErrorCode::InvalidArgument
        );
        let one = "<CORSRule><AllowedMethod>GET</AllowedMethod><AllowedOrigin>*</AllowedOrigin></CORSRule>";
        assert_eq!(
            parse_cors_configuration(&doc(&one.repeat(100)))
                .unwrap()
                .len(),
            100
        );
        assert_eq!(err(&doc(&one.repeat(101))).0, S3ErrorCode::MalformedXML);
    }

    #[test]
    fn headers_of_a_rule() {
        let any = CorsRule {
            allowed_methods: vec!["GET".into(), "PUT".into()],
            allowed_origins: vec!["*".into()],
            ..CorsRule::default()
        };
        let h = rule_headers(&any, "http://a.test", &["x-amz-date".into()]);
        let get =
            |h: &CorsHeaders, n: &str| h.iter().find(|(k, _)| *k == n).map(|(_, v)| v.clone());
        assert_eq!(get(&h, "access-control-allow-origin").as_deref(), Some("*"));
        assert_eq!(get(&h, "access-control-allow-credentials"), None);
        assert_eq!(
            get(&h, "access-control-allow-methods").as_deref(),
            Some("GET, PUT")
        );
        assert_eq!(
            get(&h, "access-control-allow-headers").as_deref(),
            Some("x-amz-date")
        );
        assert_eq!(get(&h, "vary").as_deref(), Some(VARY));
        let one = CorsRule {
            allowed_origins: vec!["http://a.test".into()],
            expose_headers: vec!["ETag".into(), "x-amz-request-id".into()],
            max_age_seconds: Some(60),
            ..any
        };
        let h = rule_headers(&one, "http://a.test", &[]);
        assert_eq!(
            get(&h, "access-control-allow-origin").as_deref(),
            Some("http://a.test")
        );
        assert_eq!(
            get(&h, "access-control-allow-credentials").as_deref(),
            Some("true")
        );
        assert_eq!(get(&h, "access-control-allow-headers"), None);
        assert_eq!(
            get(&h, "access-control-expose-headers").as_deref(),
            Some("ETag, x-amz-request-id")
        );
        assert_eq!(get(&h, "access-control-max-age").as_deref(), Some("60"));
    }
}
