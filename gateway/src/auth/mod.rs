//! Request signatures: SigV4 (Authorization header and presigned query)
//! and SigV2 (Authorization header and query), verified against the key
//! cache, giving the request's [`Identity`].
//!
//! # Layout
//! - [`sigv4`]: SigV4's pure parts: parsers, canonical request, string to
//!   sign, signing keys (cached), chunk and trailer signatures.
//! - [`sigv2`]: SigV2's pure parts: CanonicalizedResource (sub-resources,
//!   virtual-host bucket, boto3's `/bucket/` form), amz-header folding.
//! - this module: which scheme a request uses, the checks around the
//!   signature (clock skew, expiry, scope, signed headers), key lookup,
//!   and the one place that turns all of it into [`S3Error`]s.
//!
//! Verification runs in two steps: [`Claim::parse`] reads everything that
//! does not need the secret (so malformed, expired and skewed requests are
//! refused before any lookup), then [`Claim::verify`] checks the signature
//! with the secret. [`authenticate`] strings them around the key lookup.
//! Every signature comparison is constant time (`Mac::verify_slice`).

pub mod sigv2;
pub mod sigv4;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use actix_web::http::header::HeaderMap;
use base64::Engine;
use serde::Deserialize;

use crate::error::{S3Error, S3ErrorCode};
use sigv4::{AmzDate, CanonicalRequest, ChunkSigning, CredentialScope};

/// Signature settings (`[auth]` in `s3gw.toml`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Accept SigV2 (`Authorization: AWS id:sig` and `AWSAccessKeyId`/
    /// `Signature`/`Expires` query links) for legacy clients. Default on.
    pub sigv2_enabled: bool,
    /// Largest accepted difference between a request's timestamp and the
    /// gateway's clock; beyond it: RequestTimeTooSkewed. S3 uses 15 minutes.
    /// A duration (`"15m"`) or a bare number of seconds.
    #[serde(deserialize_with = "s3gw_duration::deserialize")]
    pub max_clock_skew: Duration,
    /// Longest lifetime (`X-Amz-Expires`) of a SigV4 presigned URL. S3's
    /// limit, and the most this may be set to, is 7 days.
    #[serde(deserialize_with = "s3gw_duration::deserialize")]
    pub max_presign_lifetime: Duration,
    /// When set, the only region a SigV4 credential scope may name;
    /// unset: any region is accepted (clients pick one, e.g. us-east-1).
    pub region: Option<String>,
    /// Add StringToSign and CanonicalRequest to SignatureDoesNotMatch
    /// answers, as S3 does. They reveal nothing secret but help attackers
    /// probe, so this is for debugging clients only. Default off.
    pub debug_signatures: bool,
    /// Accept access keys of sub-users. Off by default: the gateway acts
    /// with an operator key on the account's namespace, so a sub-user key
    /// would bypass the store's role-based access control (design.md).
    pub allow_subuser_keys: bool,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            sigv2_enabled: true,
            max_clock_skew: Duration::from_secs(15 * 60),
            max_presign_lifetime: sigv4::MAX_PRESIGN_EXPIRES,
            region: None,
            debug_signatures: false,
            allow_subuser_keys: false,
        }
    }
}

/// The parts of a request a signature covers, as received.
pub struct RequestParts<'a> {
    pub method: &'a str,
    /// As received on the wire, percent-encoded, never normalised.
    pub raw_path: &'a str,
    /// Without the '?'.
    pub raw_query: &'a str,
    pub headers: &'a HeaderMap,
    /// The bucket from the Host header (virtual-host style), for SigV2's
    /// CanonicalizedResource.
    pub vhost_bucket: Option<&'a str>,
}

/// Who sent a request.
#[derive(Debug, Clone)]
pub enum Identity {
    /// No signature at all: the caller decides (S3 answers AccessDenied
    /// for anything not public, and s3gw has nothing public).
    Anonymous,
    Authenticated(Authenticated),
}

/// A verified request.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub credential: Arc<s3gw_auth_cache::Credential>,
    pub method: AuthMethod,
    /// How the body must be read and verified (see [`crate::body`]).
    pub payload: PayloadMode,
}

/// The scheme a request was signed with (for logs and metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    V4Header,
    V4Presigned,
    V2Header,
    V2Query,
}

impl AuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::V4Header => "sigv4",
            AuthMethod::V4Presigned => "sigv4-query",
            AuthMethod::V2Header => "sigv2",
            AuthMethod::V2Query => "sigv2-query",
        }
    }
}

/// What the request promises about its body (`x-amz-content-sha256`).
#[derive(Debug, Clone)]
pub enum PayloadMode {
    /// `UNSIGNED-PAYLOAD`, SigV2, or no claim at all.
    Unsigned,
    /// The hex SHA-256 the client signed; checked while streaming
    /// (mismatch: XAmzContentSHA256Mismatch).
    Sha256([u8; 32]),
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]`: aws-chunked, each
    /// chunk signed, chained from the request's signature.
    StreamingSigned {
        signing: ChunkSigning,
        trailer: bool,
    },
    /// `STREAMING-UNSIGNED-PAYLOAD-TRAILER`: aws-chunked without chunk
    /// signatures, ending with a checksum trailer.
    StreamingUnsignedTrailer,
}

/// The payload mode of a request that carries no SigV4 signature
/// (anonymous or SigV2): the `x-amz-content-sha256` header, if any, is
/// still honoured as a digest or an unsigned aws-chunked body.
pub fn unsigned_payload_mode(headers: &HeaderMap) -> Result<PayloadMode, S3Error> {
    let Some(v) = headers.get("x-amz-content-sha256") else {
        return Ok(PayloadMode::Unsigned);
    };
    let v = v.to_str().unwrap_or("");
    match v {
        sigv4::UNSIGNED_PAYLOAD => Ok(PayloadMode::Unsigned),
        sigv4::STREAMING_UNSIGNED_TRAILER => Ok(PayloadMode::StreamingUnsignedTrailer),
        _ => match sigv4::parse_hex32(v) {
            Some(h) => Ok(PayloadMode::Sha256(h)),
            None => Err(bad_content_sha256(v)),
        },
    }
}

fn bad_content_sha256(v: &str) -> S3Error {
    if v.starts_with("STREAMING-") {
        return S3Error::with_message(
            S3ErrorCode::InvalidRequest,
            format!("x-amz-content-sha256 {v} requires an AWS4-HMAC-SHA256 signature"),
        );
    }
    S3Error::with_message(
        S3ErrorCode::InvalidArgument,
        "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, \
         STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, STREAMING-UNSIGNED-PAYLOAD-TRAILER \
         or a valid sha256 value.",
    )
}

/// Authenticates a request: which scheme, the checks around it, the key
/// lookup and the signature. `now` is the gateway's clock (a parameter so
/// tests can pin it).
pub async fn authenticate(
    parts: &RequestParts<'_>,
    keys: &s3gw_auth_cache::KeyCache,
    cfg: &AuthConfig,
    now: SystemTime,
) -> Result<Identity, S3Error> {
    let Some(claim) = Claim::parse(parts, cfg, now)? else {
        return Ok(Identity::Anonymous);
    };
    let credential = lookup_key(keys, claim.access_key_id()).await?;
    let payload = claim.verify(parts, credential.secret.expose_bytes(), cfg)?;
    check_subuser(&credential, cfg)?;
    Ok(Identity::Authenticated(Authenticated {
        credential,
        method: claim.method(),
        payload,
    }))
}

/// The active key `access_key_id` names (InvalidAccessKeyId when there is
/// none). Shared by request signatures and POST form signatures
/// ([`crate::post_policy`]).
pub async fn lookup_key(
    keys: &s3gw_auth_cache::KeyCache,
    access_key_id: &str,
) -> Result<Arc<s3gw_auth_cache::Credential>, S3Error> {
    let id: s3gw_auth_cache::AccessKeyId = access_key_id
        .parse()
        .map_err(|_| S3Error::new(S3ErrorCode::InvalidAccessKeyId))?;
    let credential = match keys.lookup(&id).await {
        Ok(Some(c)) => c,
        Ok(None) => return Err(S3Error::new(S3ErrorCode::InvalidAccessKeyId)),
        Err(e) => {
            tracing::warn!(access_key_id = %id, error = %e, "access key lookup failed");
            return Err(lookup_error(&e));
        }
    };
    if !matches!(credential.status, s3gw_auth_cache::KeyStatus::Active) {
        return Err(S3Error::new(S3ErrorCode::InvalidAccessKeyId));
    }
    Ok(credential)
}

/// After a signature verified: sub-user keys only where configured.
pub fn check_subuser(
    credential: &s3gw_auth_cache::Credential,
    cfg: &AuthConfig,
) -> Result<(), S3Error> {
    if credential.subuser.is_some() && !cfg.allow_subuser_keys {
        return Err(S3Error::with_message(
            S3ErrorCode::AccessDenied,
            "Access keys of sub-users are not accepted by this endpoint.",
        ));
    }
    Ok(())
}

/// The one mapping of key-cache failures: an unreachable directory is
/// 503 (the client retries later), never a 403 that would look final.
fn lookup_error(e: &s3gw_auth_cache::LookupError) -> S3Error {
    match e {
        s3gw_auth_cache::LookupError::Unavailable(..) => {
            S3Error::new(S3ErrorCode::ServiceUnavailable)
        }
    }
}

/// What a request claims, parsed and checked as far as possible without
/// the secret.
#[derive(Debug)]
pub enum Claim {
    V4(V4Claim),
    V2(V2Claim),
}

#[derive(Debug)]
pub struct V4Claim {
    presigned: bool,
    scope: CredentialScope,
    date: AmzDate,
    signed_headers: Vec<String>,
    signature: [u8; 32],
    payload_hash: String,
    canonical_query: String,
}

#[derive(Debug)]
pub struct V2Claim {
    query: bool,
    access_key_id: String,
    signature_b64: String,
    /// Date-line forms to try (see [`sigv2::string_to_sign`]).
    date_lines: Vec<String>,
}

/// Query parameters that make a request SigV4-presigned or SigV2-query.
fn query_param<'q>(pairs: &'q [(Vec<u8>, Vec<u8>)], name: &str) -> Option<&'q [u8]> {
    pairs
        .iter()
        .find(|(k, _)| k.as_slice() == name.as_bytes())
        .map(|(_, v)| v.as_slice())
}

fn utf8(v: &[u8]) -> String {
    String::from_utf8_lossy(v).into_owned()
}

/// 9999-12-31T23:59:59Z: the last `Expires` a date can render (and more
/// than any link needs).
const LAST_EXPIRES: u64 = 253_402_300_799;

fn iso8601(t: SystemTime) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    time::OffsetDateTime::from(t)
        .format(format)
        .unwrap_or_default()
}

fn abs_diff(a: SystemTime, b: SystemTime) -> Duration {
    a.duration_since(b)
        .or_else(|_| b.duration_since(a))
        .unwrap_or_default()
}

fn skewed(request_time: &str, now: SystemTime, cfg: &AuthConfig) -> S3Error {
    S3Error::new(S3ErrorCode::RequestTimeTooSkewed)
        .extra("RequestTime", request_time)
        .extra("ServerTime", iso8601(now))
        .extra(
            "MaxAllowedSkewMilliseconds",
            cfg.max_clock_skew.as_millis().to_string(),
        )
}

fn expired(now: SystemTime) -> S3Error {
    S3Error::with_message(S3ErrorCode::AccessDenied, "Request has expired")
        .extra("ServerTime", iso8601(now))
}

pub(crate) fn not_supported() -> S3Error {
    S3Error::with_message(
        S3ErrorCode::InvalidRequest,
        "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.",
    )
}

impl Claim {
    /// Reads the request's signature claim; `None` for an anonymous request.
    pub fn parse(
        parts: &RequestParts<'_>,
        cfg: &AuthConfig,
        now: SystemTime,
    ) -> Result<Option<Claim>, S3Error> {
        let header = parts
            .headers
            .get("authorization")
            .map(|v| v.to_str().unwrap_or(""));
        let pairs = sigv4::query_pairs(parts.raw_query);
        let v4_query = query_param(&pairs, "X-Amz-Algorithm").is_some()
            || query_param(&pairs, "X-Amz-Signature").is_some()
            || query_param(&pairs, "X-Amz-Credential").is_some();
        let v2_query = query_param(&pairs, "AWSAccessKeyId").is_some()
            || (query_param(&pairs, "Signature").is_some()
                && query_param(&pairs, "Expires").is_some());
        if [header.is_some(), v4_query, v2_query]
            .iter()
            .filter(|b| **b)
            .count()
            > 1
        {
            return Err(S3Error::with_message(
                S3ErrorCode::InvalidArgument,
                "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, \
                 Signature query string parameter or the Authorization header should be specified",
            ));
        }
        if let Some(h) = header {
            return if h.starts_with("AWS4-HMAC-SHA256 ") {
                Self::v4_header(parts, h, cfg, now).map(Some)
            } else if let Some(rest) = h.strip_prefix("AWS ") {
                if !cfg.sigv2_enabled {
                    return Err(not_supported());
                }
                Self::v2_header(parts, rest, cfg, now).map(Some)
            } else if h.starts_with("AWS4-") {
                // SigV4a (AWS4-ECDSA-P256-SHA256) and other variants.
                Err(not_supported())
            } else {
                Err(S3Error::with_message(
                    S3ErrorCode::InvalidArgument,
                    "Unsupported Authorization Type",
                ))
            };
        }
        if v4_query {
            return Self::v4_query(parts, &pairs, cfg, now).map(Some);
        }
        if v2_query {
            if !cfg.sigv2_enabled {
                return Err(not_supported());
            }
            return Self::v2_query(parts, &pairs, now).map(Some);
        }
        Ok(None)
    }

    pub fn access_key_id(&self) -> &str {
        match self {
            Claim::V4(c) => &c.scope.access_key_id,
            Claim::V2(c) => &c.access_key_id,
        }
    }

    pub fn method(&self) -> AuthMethod {
        match self {
            Claim::V4(c) if c.presigned => AuthMethod::V4Presigned,
            Claim::V4(_) => AuthMethod::V4Header,
            Claim::V2(c) if c.query => AuthMethod::V2Query,
            Claim::V2(_) => AuthMethod::V2Header,
        }
    }

    fn v4_header(
        parts: &RequestParts<'_>,
        value: &str,
        cfg: &AuthConfig,
        now: SystemTime,
    ) -> Result<Claim, S3Error> {
        let auth = sigv4::parse_authorization(value)?;
        let malformed =
            |m: String| S3Error::with_message(S3ErrorCode::AuthorizationHeaderMalformed, m);
        // The request time: "x-amz-date ... or the Date header"; x-amz-date wins.
        let date = match parts.headers.get("x-amz-date") {
            Some(v) => AmzDate::parse(v.to_str().unwrap_or("")),
            None => parts
                .headers
                .get("date")
                .and_then(|v| AmzDate::from_http_date(v.to_str().unwrap_or(""))),
        }
        .ok_or_else(|| {
            S3Error::with_message(
                S3ErrorCode::AccessDenied,
                "AWS authentication requires a valid Date or x-amz-date header",
            )
        })?;
        check_scope(&auth.credential, &date, cfg).map_err(malformed)?;
        if abs_diff(date.time(), now) > cfg.max_clock_skew {
            return Err(skewed(date.as_str(), now, cfg));
        }
        check_signed_headers(parts.headers, &auth.signed_headers).map_err(|e| match e {
            SignedHeadersError::NoHost => malformed(
                "The authorization header is malformed; SignedHeaders must include host.".into(),
            ),
            SignedHeadersError::Unsigned(e) => e,
        })?;
        // S3 requires the payload claim on every header-signed request.
        let payload_hash = parts
            .headers
            .get("x-amz-content-sha256")
            .map(|v| v.to_str().unwrap_or("").to_owned())
            .ok_or_else(|| {
                S3Error::with_message(
                    S3ErrorCode::InvalidRequest,
                    "Missing required header for this request: x-amz-content-sha256",
                )
            })?;
        check_payload_hash(&payload_hash)?;
        Ok(Claim::V4(V4Claim {
            presigned: false,
            scope: auth.credential,
            date,
            signed_headers: auth.signed_headers,
            signature: auth.signature,
            payload_hash,
            canonical_query: sigv4::canonical_query(parts.raw_query, None),
        }))
    }

    fn v4_query(
        parts: &RequestParts<'_>,
        pairs: &[(Vec<u8>, Vec<u8>)],
        cfg: &AuthConfig,
        now: SystemTime,
    ) -> Result<Claim, S3Error> {
        let qerr =
            |m: &str| S3Error::with_message(S3ErrorCode::AuthorizationQueryParametersError, m);
        let get = |n: &str| query_param(pairs, n).map(utf8);
        let (Some(alg), Some(cred), Some(date), Some(expires), Some(signed), Some(sig)) = (
            get("X-Amz-Algorithm"),
            get("X-Amz-Credential"),
            get("X-Amz-Date"),
            get("X-Amz-Expires"),
            get("X-Amz-SignedHeaders"),
            get("X-Amz-Signature"),
        ) else {
            return Err(qerr(
                "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, \
                 X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.",
            ));
        };
        if alg != sigv4::ALGORITHM {
            return Err(qerr("X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\""));
        }
        let scope = CredentialScope::parse(&cred)
            .ok_or_else(|| qerr("Error parsing the X-Amz-Credential parameter."))?;
        let date = AmzDate::parse(&date).ok_or_else(|| {
            qerr("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"")
        })?;
        check_scope(&scope, &date, cfg).map_err(|m| qerr(&m))?;
        let lifetime = expires
            .parse::<u64>()
            .map_err(|_| qerr("X-Amz-Expires should be a number"))?;
        let max = cfg
            .max_presign_lifetime
            .min(sigv4::MAX_PRESIGN_EXPIRES)
            .as_secs();
        if lifetime == 0 || lifetime > max {
            return Err(qerr(&format!(
                "X-Amz-Expires must be less than a week (in seconds) that is {max}"
            )));
        }
        // A link dated in the future (beyond the allowed skew) is not valid yet.
        if date.time() > now + cfg.max_clock_skew {
            return Err(S3Error::with_message(
                S3ErrorCode::AccessDenied,
                "Request is not valid yet",
            ));
        }
        let expiry = date.time() + Duration::from_secs(lifetime);
        if now > expiry {
            return Err(expired(now)
                .extra("X-Amz-Expires", expires)
                .extra("Expires", iso8601(expiry)));
        }
        let signed_headers = sigv4::parse_signed_headers(&signed)
            .ok_or_else(|| qerr("Error parsing the X-Amz-SignedHeaders parameter."))?;
        check_signed_headers(parts.headers, &signed_headers).map_err(|e| match e {
            SignedHeadersError::NoHost => qerr("X-Amz-SignedHeaders must include host."),
            SignedHeadersError::Unsigned(e) => e,
        })?;
        let signature = sigv4::parse_hex32(&sig)
            .ok_or_else(|| qerr("Error parsing the X-Amz-Signature parameter."))?;
        // "UNSIGNED-PAYLOAD ... when you use query parameters"; a client
        // that sends x-amz-content-sha256 signed that value instead.
        let payload_hash = parts
            .headers
            .get("x-amz-content-sha256")
            .map(|v| v.to_str().unwrap_or("").to_owned())
            .unwrap_or_else(|| sigv4::UNSIGNED_PAYLOAD.to_owned());
        check_payload_hash(&payload_hash)?;
        Ok(Claim::V4(V4Claim {
            presigned: true,
            scope,
            date,
            signed_headers,
            signature,
            payload_hash,
            canonical_query: sigv4::canonical_query(parts.raw_query, Some("X-Amz-Signature")),
        }))
    }

    fn v2_header(
        parts: &RequestParts<'_>,
        rest: &str,
        cfg: &AuthConfig,
        now: SystemTime,
    ) -> Result<Claim, S3Error> {
        let (id, sig) = rest.trim().split_once(':').ok_or_else(|| {
            S3Error::with_message(
                S3ErrorCode::InvalidArgument,
                "AWS authorization header is invalid.  Expected AwsAccessKeyId:signature",
            )
        })?;
        let header = |n: &str| {
            parts
                .headers
                .get(n)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
        };
        // "x-amz-date ... takes precedence over the Date header".
        let stamp = header("x-amz-date").or_else(|| header("date"));
        let time = stamp.and_then(sigv2::parse_date).ok_or_else(|| {
            S3Error::with_message(
                S3ErrorCode::AccessDenied,
                "AWS authentication requires a valid Date or x-amz-date header",
            )
        })?;
        if abs_diff(time, now) > cfg.max_clock_skew {
            return Err(skewed(stamp.unwrap_or(""), now, cfg));
        }
        // With x-amz-date the Date line is empty (the spec); some clients
        // put the Date header there anyway.
        let date_lines = match (header("x-amz-date"), header("date")) {
            (Some(_), Some(d)) => vec![String::new(), d.to_owned()],
            (Some(_), None) => vec![String::new()],
            (None, d) => vec![d.unwrap_or("").to_owned()],
        };
        Ok(Claim::V2(V2Claim {
            query: false,
            access_key_id: id.trim().to_owned(),
            signature_b64: sig.trim().to_owned(),
            date_lines,
        }))
    }

    fn v2_query(
        parts: &RequestParts<'_>,
        pairs: &[(Vec<u8>, Vec<u8>)],
        now: SystemTime,
    ) -> Result<Claim, S3Error> {
        let _ = parts;
        let get = |n: &str| query_param(pairs, n).map(utf8);
        let (Some(id), Some(sig), Some(expires)) =
            (get("AWSAccessKeyId"), get("Signature"), get("Expires"))
        else {
            return Err(S3Error::with_message(
                S3ErrorCode::AccessDenied,
                "Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters",
            ));
        };
        // An attacker's number: parsed and added with checks (an overflow
        // is an unusable date, 403, never a panic).
        let expiry = expires
            .parse::<u64>()
            .ok()
            .filter(|at| *at <= LAST_EXPIRES)
            .and_then(|at| SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(at)))
            .ok_or_else(|| {
                S3Error::with_message(
                    S3ErrorCode::AccessDenied,
                    "Invalid date (should be seconds since epoch)",
                )
            })?;
        // SigV2 links have no maximum lifetime in S3; only expiry applies.
        if now > expiry {
            return Err(expired(now).extra("Expires", iso8601(expiry)));
        }
        Ok(Claim::V2(V2Claim {
            query: true,
            access_key_id: id,
            signature_b64: sig,
            date_lines: vec![expires],
        }))
    }

    /// Checks the signature with the key's secret; gives the payload mode.
    pub fn verify(
        &self,
        parts: &RequestParts<'_>,
        secret: &[u8],
        cfg: &AuthConfig,
    ) -> Result<PayloadMode, S3Error> {
        match self {
            Claim::V4(c) => c.verify(parts, secret, cfg),
            Claim::V2(c) => {
                c.verify(parts, secret, cfg)?;
                unsigned_payload_mode(parts.headers)
            }
        }
    }
}

/// Scope checks: "service s3", the configured region, and the scope date
/// equal to the request date (the reference cache forgot this one).
pub(crate) fn check_scope(
    scope: &CredentialScope,
    date: &AmzDate,
    cfg: &AuthConfig,
) -> Result<(), String> {
    if scope.service != "s3" {
        return Err(format!(
            "The authorization header is malformed; incorrect service \"{}\". This endpoint belongs to \"s3\".",
            scope.service
        ));
    }
    if let Some(region) = &cfg.region {
        if &scope.region != region {
            return Err(format!(
                "The authorization header is malformed; the region '{}' is wrong; expecting '{region}'",
                scope.region
            ));
        }
    }
    if scope.date != date.date() {
        return Err(format!(
            "Invalid credential date \"{}\". This date is not the same as X-Amz-Date: \"{}\".",
            scope.date,
            date.date()
        ));
    }
    Ok(())
}

enum SignedHeadersError {
    NoHost,
    Unsigned(S3Error),
}

/// "host" must be signed, and so must every `x-amz-*` header present (S3:
/// "There were headers present in the request which were not signed").
fn check_signed_headers(headers: &HeaderMap, signed: &[String]) -> Result<(), SignedHeadersError> {
    if !signed.iter().any(|h| h == "host") {
        return Err(SignedHeadersError::NoHost);
    }
    let mut unsigned: Vec<&str> = headers
        .keys()
        .map(|k| k.as_str())
        .filter(|k| k.starts_with("x-amz-") && !signed.iter().any(|s| s == k))
        .collect();
    if unsigned.is_empty() {
        return Ok(());
    }
    unsigned.sort_unstable();
    unsigned.dedup();
    Err(SignedHeadersError::Unsigned(
        S3Error::with_message(
            S3ErrorCode::AccessDenied,
            "There were headers present in the request which were not signed",
        )
        .extra("HeadersNotSigned", unsigned.join(", ")),
    ))
}

fn check_payload_hash(v: &str) -> Result<(), S3Error> {
    match v {
        sigv4::UNSIGNED_PAYLOAD
        | sigv4::STREAMING_SIGNED
        | sigv4::STREAMING_SIGNED_TRAILER
        | sigv4::STREAMING_UNSIGNED_TRAILER => Ok(()),
        _ if v.len() == 64 && sigv4::parse_hex32(v).is_some() => Ok(()),
        _ if v.starts_with("STREAMING-AWS4-ECDSA") => Err(S3Error::with_message(
            S3ErrorCode::NotImplemented,
            "SigV4a streaming payloads are not supported",
        )),
        _ => Err(bad_content_sha256(v)),
    }
}

impl V4Claim {
    fn verify(
        &self,
        parts: &RequestParts<'_>,
        secret: &[u8],
        cfg: &AuthConfig,
    ) -> Result<PayloadMode, S3Error> {
        // Looked up or derived; remembered only once a signature verified
        // with it, so unauthenticated requests cannot fill the cache.
        let (key, cached) = sigv4::signing_key(
            &self.scope.access_key_id,
            secret,
            &self.scope.date,
            &self.scope.region,
        );
        let scope = self.scope.scope();
        let mut first: Option<(Vec<u8>, String)> = None;
        let mut ok = false;
        for uri in sigv4::canonical_uri_candidates(parts.raw_path) {
            let cr = CanonicalRequest {
                method: parts.method,
                canonical_uri: &uri,
                canonical_query: &self.canonical_query,
                headers: parts.headers,
                signed_headers: &self.signed_headers,
                payload_hash: &self.payload_hash,
            }
            .build();
            let sts = sigv4::string_to_sign(&self.date, &scope, &cr);
            tracing::trace!(canonical_request = %String::from_utf8_lossy(&cr), string_to_sign = %sts, "sigv4");
            if key.verify(&sts, &self.signature) {
                ok = true;
                break;
            }
            first.get_or_insert((cr, sts));
        }
        if !ok {
            let (cr, sts) = first.unwrap_or_default();
            let mut e = S3Error::new(S3ErrorCode::SignatureDoesNotMatch);
            if cfg.debug_signatures {
                e = e
                    .extra("AWSAccessKeyId", self.scope.access_key_id.clone())
                    .extra("StringToSign", sts)
                    .extra("SignatureProvided", hex::encode(self.signature))
                    .extra(
                        "CanonicalRequest",
                        String::from_utf8_lossy(&cr).into_owned(),
                    );
            }
            return Err(e);
        }
        if !cached {
            sigv4::remember_signing_key(
                &self.scope.access_key_id,
                secret,
                &self.scope.date,
                &self.scope.region,
                &key,
            );
        }
        Ok(match self.payload_hash.as_str() {
            sigv4::UNSIGNED_PAYLOAD => PayloadMode::Unsigned,
            sigv4::STREAMING_SIGNED | sigv4::STREAMING_SIGNED_TRAILER => {
                PayloadMode::StreamingSigned {
                    signing: ChunkSigning::new(key, &self.date, scope, &self.signature),
                    trailer: self.payload_hash == sigv4::STREAMING_SIGNED_TRAILER,
                }
            }
            sigv4::STREAMING_UNSIGNED_TRAILER => PayloadMode::StreamingUnsignedTrailer,
            h => PayloadMode::Sha256(sigv4::parse_hex32(h).expect("checked by check_payload_hash")),
        })
    }
}

impl V2Claim {
    fn verify(
        &self,
        parts: &RequestParts<'_>,
        secret: &[u8],
        cfg: &AuthConfig,
    ) -> Result<(), S3Error> {
        let provided = base64::engine::general_purpose::STANDARD
            .decode(self.signature_b64.as_bytes())
            .unwrap_or_default();
        let resources = sigv2::canonical_resource_candidates(
            parts.raw_path,
            parts.raw_query,
            parts.vhost_bucket,
        );
        let mut first = None;
        for date_line in &self.date_lines {
            for resource in &resources {
                let sts = sigv2::string_to_sign(parts.method, parts.headers, date_line, resource);
                tracing::trace!(string_to_sign = %sts, "sigv2");
                if sigv2::verify(secret, &sts, &provided) {
                    return Ok(());
                }
                first.get_or_insert(sts);
            }
        }
        let mut e = S3Error::new(S3ErrorCode::SignatureDoesNotMatch);
        if cfg.debug_signatures {
            e = e
                .extra("AWSAccessKeyId", self.access_key_id.clone())
                .extra("StringToSign", first.unwrap_or_default())
                .extra("SignatureProvided", self.signature_b64.clone());
        }
        Err(e)
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};

    pub(crate) const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

    pub(crate) fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }
}

#[cfg(test)]
mod tests;
