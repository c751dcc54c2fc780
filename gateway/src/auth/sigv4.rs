//! AWS Signature Version 4 for S3: the pure parts (parsers, canonical
//! request, string to sign, signing key, chunk and trailer signatures).
//!
//! Everything here is a function of its inputs: no clock, no key lookup, no
//! I/O. [`super::authenticate`] strings them together; the aws-chunked body
//! decoder uses [`ChunkSigning`].
//!
//! Spec: AWS S3 API reference, "Authenticating Requests (AWS Signature
//! Version 4)", its pages "Signature Calculations for the Authorization
//! Header", "Authenticating Requests: Using Query Parameters", "Signature
//! Calculation: Transfer Payload in Multiple Chunks" and "... Including
//! Trailing Headers". Each block below quotes the line it implements.

use std::borrow::Cow;
use std::fmt;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, SystemTime};

use actix_web::http::header::HeaderMap;
use hmac::{Hmac, Mac};
use percent_encoding::percent_decode;
use s3gw_translator::uri;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::error::{S3Error, S3ErrorCode};
use crate::router::Query;

type HmacSha256 = Hmac<Sha256>;

/// The only SigV4 algorithm S3 accepts with HMAC (SigV4a's ECDSA is refused).
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// Hex SHA-256 of the empty string; part of every chunk's string to sign.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
/// `x-amz-content-sha256` values that are not a hash.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
pub const STREAMING_SIGNED: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD";
pub const STREAMING_SIGNED_TRAILER: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER";
pub const STREAMING_UNSIGNED_TRAILER: &str = "STREAMING-UNSIGNED-PAYLOAD-TRAILER";

/// A SigV4 timestamp, `YYYYMMDD'T'HHMMSS'Z'` (ISO 8601 basic format, UTC),
/// kept both as the exact text (it goes into the string to sign) and as a
/// time (for skew and expiry checks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmzDate {
    text: String,
    time: SystemTime,
}

impl AmzDate {
    pub fn parse(s: &str) -> Option<AmzDate> {
        let format =
            time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
        if s.len() != 16 {
            return None;
        }
        let t = time::PrimitiveDateTime::parse(s, format).ok()?.assume_utc();
        Some(AmzDate {
            text: s.to_owned(),
            time: t.into(),
        })
    }
    /// From an RFC 7231 `Date` header (SigV4 allows it instead of `x-amz-date`).
    pub fn from_http_date(s: &str) -> Option<AmzDate> {
        let time = httpdate::parse_http_date(s).ok()?;
        let format =
            time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
        let text = time::OffsetDateTime::from(time).format(format).ok()?;
        Some(AmzDate { text, time })
    }
    pub fn as_str(&self) -> &str {
        &self.text
    }
    /// `YYYYMMDD`, the date the credential scope must carry.
    pub fn date(&self) -> &str {
        &self.text[..8]
    }
    pub fn time(&self) -> SystemTime {
        self.time
    }
}

/// `Credential=<key id>/<date>/<region>/<service>/aws4_request`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialScope {
    pub access_key_id: String,
    pub date: String,
    pub region: String,
    pub service: String,
}

impl CredentialScope {
    /// Parses the credential; `None` when it does not have five parts, a
    /// `YYYYMMDD` date and the `aws4_request` terminator.
    pub fn parse(s: &str) -> Option<CredentialScope> {
        // The access key id cannot contain '/', but split from the right so
        // that a malformed id still yields a clear InvalidAccessKeyId later.
        let mut it = s.rsplitn(5, '/');
        let terminator = it.next()?;
        let service = it.next()?;
        let region = it.next()?;
        let date = it.next()?;
        let access_key_id = it.next()?;
        let ok = terminator == "aws4_request"
            && date.len() == 8
            && date.bytes().all(|b| b.is_ascii_digit())
            && !region.is_empty()
            && !access_key_id.is_empty();
        ok.then(|| CredentialScope {
            access_key_id: access_key_id.to_owned(),
            date: date.to_owned(),
            region: region.to_owned(),
            service: service.to_owned(),
        })
    }
    /// "Scope: `<date>/<region>/<service>/aws4_request`".
    pub fn scope(&self) -> String {
        format!(
            "{}/{}/{}/aws4_request",
            self.date, self.region, self.service
        )
    }
}

/// The parsed `Authorization: AWS4-HMAC-SHA256 ...` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V4Authorization {
    pub credential: CredentialScope,
    /// Lower-case header names, in the order the client listed them.
    pub signed_headers: Vec<String>,
    pub signature: [u8; 32],
}

fn malformed(msg: &str) -> S3Error {
    S3Error::with_message(S3ErrorCode::AuthorizationHeaderMalformed, msg)
}

/// Parses `AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...`
/// (components separated by commas, optional spaces, any order).
pub fn parse_authorization(value: &str) -> Result<V4Authorization, S3Error> {
    let rest = value
        .strip_prefix(ALGORITHM)
        .filter(|r| r.starts_with(' '))
        .ok_or_else(|| {
            malformed("The authorization header is malformed; unsupported algorithm.")
        })?;
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| malformed("The authorization header is malformed."))?;
        match k.trim() {
            "Credential" => credential = Some(v.trim()),
            "SignedHeaders" => signed = Some(v.trim()),
            "Signature" => signature = Some(v.trim()),
            _ => {
                return Err(malformed(
                    "The authorization header is malformed; unknown component.",
                ))
            }
        }
    }
    let credential = credential
        .ok_or_else(|| malformed("The authorization header is malformed; missing Credential."))?;
    let credential = CredentialScope::parse(credential).ok_or_else(|| {
        malformed("The authorization header is malformed; the Credential is mal-formed.")
    })?;
    let signed = signed.ok_or_else(|| {
        malformed("The authorization header is malformed; missing SignedHeaders.")
    })?;
    let signed_headers = parse_signed_headers(signed).ok_or_else(|| {
        malformed("The authorization header is malformed; invalid SignedHeaders.")
    })?;
    let signature = signature
        .and_then(parse_hex32)
        .ok_or_else(|| malformed("The authorization header is malformed; invalid Signature."))?;
    Ok(V4Authorization {
        credential,
        signed_headers,
        signature,
    })
}

/// `host;range;x-amz-date`: non-empty lower-case names.
pub fn parse_signed_headers(s: &str) -> Option<Vec<String>> {
    let names: Vec<String> = s.split(';').map(str::to_owned).collect();
    let ok = names.iter().all(|n| {
        !n.is_empty()
            && n.bytes()
                .all(|b| b.is_ascii_graphic() && !b.is_ascii_uppercase())
    });
    ok.then_some(names)
}

/// 64 hex digits to 32 bytes.
pub fn parse_hex32(s: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

/// "CanonicalQueryString: ... URI-encode each parameter name and value
/// ... Sort the parameters by name ... If the query string is empty, use an
/// empty string." Parameters without `=` get an empty value (`acl` ->
/// `acl=`). `skip` names a parameter left out (`X-Amz-Signature` of a
/// presigned URL: "The canonical query string must include all the query
/// parameters from the preceding table except for X-Amz-Signature").
pub fn canonical_query(query: &Query, skip: Option<&str>) -> String {
    // "UriEncode(): URI encode every byte except the unreserved characters:
    // 'A'-'Z', 'a'-'z', '0'-'9', '-', '.', '_', and '~'" ([`uri::COMPONENT`]),
    // of the bytes the one query parser decoded.
    let mut pairs: Vec<(String, String)> = query
        .pairs()
        .iter()
        .filter(|p| skip.is_none_or(|s| p.name_bytes() != s.as_bytes()))
        .map(|p| {
            (
                uri::component_bytes(p.name_bytes()).to_string(),
                uri::component_bytes(p.value_bytes()).to_string(),
            )
        })
        .collect();
    // "sort the parameters in the canonical query string alphabetically by
    // key name. The sorting occurs after encoding." Equal names sort by value.
    pairs.sort();
    let len = pairs.iter().map(|(k, v)| k.len() + v.len() + 2).sum();
    let mut out = String::with_capacity(len);
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

/// The canonical URI candidates, best first.
///
/// WHY the raw path: "CanonicalURI is the URI-encoded version of the
/// absolute path component of the URI" and, for S3 only, "Do not normalize
/// URI paths ... and each path segment must be URI-encoded only once". The
/// client signs the path it puts on the wire, already encoded once, so the
/// raw request path IS the canonical URI. Decoding it and re-encoding it
/// would be wrong for keys the client encoded differently from our
/// encoder, e.g. keys containing `%2F`, `+` or non-normalised UTF-8;
/// normalising it (`.`/`..`, `//`) would be wrong for keys that contain
/// those sequences, which S3 keys may. Garage's payload.rs explains the same.
///
/// A client that sends reserved characters unencoded (a literal `$` or a
/// space-free `!`) but signs them encoded is still common enough that the
/// second candidate is the decoded path re-encoded with UriEncode(); it is
/// only tried when it differs from the raw path, and only computed when the
/// first candidate did not verify (lazily: nothing is allocated for the
/// common case).
pub fn canonical_uri_candidates(raw_path: &str) -> impl Iterator<Item = Cow<'_, str>> {
    let raw = if raw_path.is_empty() { "/" } else { raw_path };
    std::iter::once(Cow::Borrowed(raw)).chain(
        std::iter::once_with(move || {
            let decoded: Vec<u8> = percent_decode(raw.as_bytes()).collect();
            let reencoded = uri::path_bytes(&decoded).to_string();
            (reencoded != raw).then_some(Cow::Owned(reencoded))
        })
        .flatten(),
    )
}

/// "Trimall": trim and collapse inner runs of spaces to one, per value.
fn push_trimmed(out: &mut Vec<u8>, v: &[u8]) {
    let mut space = false;
    let start = v
        .iter()
        .position(|b| *b != b' ' && *b != b'\t')
        .unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|b| *b != b' ' && *b != b'\t')
        .map_or(start, |e| e + 1);
    for &b in &v[start..end] {
        if b == b' ' || b == b'\t' {
            space = true;
            continue;
        }
        if space {
            out.push(b' ');
            space = false;
        }
        out.push(b);
    }
}

/// The inputs of a canonical request.
pub struct CanonicalRequest<'a> {
    pub method: &'a str,
    pub canonical_uri: &'a str,
    pub canonical_query: &'a str,
    pub headers: &'a HeaderMap,
    pub signed_headers: &'a [String],
    pub payload_hash: &'a str,
}

impl CanonicalRequest<'_> {
    /// Builds the canonical request bytes (bytes, not a String: header
    /// values may carry obs-text that must be hashed exactly as received).
    pub fn build(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(512);
        // "<HTTPMethod>\n"
        out.extend_from_slice(self.method.as_bytes());
        out.push(b'\n');
        // "<CanonicalURI>\n"
        out.extend_from_slice(self.canonical_uri.as_bytes());
        out.push(b'\n');
        // "<CanonicalQueryString>\n"
        out.extend_from_slice(self.canonical_query.as_bytes());
        out.push(b'\n');
        // "<CanonicalHeaders>\n": "Lowercase(<HeaderName1>)+":"+Trim(<value>)+"\n"
        // for each signed header; several values of one header are joined
        // with commas, in the order they appeared.
        for name in self.signed_headers {
            out.extend_from_slice(name.as_bytes());
            out.push(b':');
            for (i, v) in self.headers.get_all(name.as_str()).enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                push_trimmed(&mut out, v.as_bytes());
            }
            out.push(b'\n');
        }
        // The canonical headers end with their own "\n", then the separator.
        out.push(b'\n');
        // "<SignedHeaders>\n": the names, ';'-joined, as the client listed them.
        for (i, name) in self.signed_headers.iter().enumerate() {
            if i > 0 {
                out.push(b';');
            }
            out.extend_from_slice(name.as_bytes());
        }
        out.push(b'\n');
        // "<HashedPayload>": hex sha256, UNSIGNED-PAYLOAD or STREAMING-*.
        out.extend_from_slice(self.payload_hash.as_bytes());
        out
    }
}

/// "StringToSign = Algorithm + \n + RequestDateTime + \n + CredentialScope
/// + \n + HexEncode(Hash(CanonicalRequest))".
pub fn string_to_sign(date: &AmzDate, scope: &str, canonical_request: &[u8]) -> String {
    format!(
        "{ALGORITHM}\n{}\n{scope}\n{}",
        date.as_str(),
        hex::encode(Sha256::digest(canonical_request))
    )
}

pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// "DateKey = HMAC-SHA256("AWS4"+"<SecretAccessKey>", "<YYYYMMDD>");
/// DateRegionKey = HMAC-SHA256(DateKey, "<aws-region>"); DateRegionServiceKey
/// = HMAC-SHA256(DateRegionKey, "<aws-service>"); SigningKey =
/// HMAC-SHA256(DateRegionServiceKey, "aws4_request")".
pub fn derive_signing_key(secret: &[u8], date: &str, region: &str, service: &str) -> SigningKey {
    let mut k = Zeroizing::new(Vec::with_capacity(4 + secret.len()));
    k.extend_from_slice(b"AWS4");
    k.extend_from_slice(secret);
    let k_date = Zeroizing::new(hmac_sha256(&k, date.as_bytes()));
    let k_region = Zeroizing::new(hmac_sha256(&*k_date, region.as_bytes()));
    let k_service = Zeroizing::new(hmac_sha256(&*k_region, service.as_bytes()));
    SigningKey(Zeroizing::new(hmac_sha256(&*k_service, b"aws4_request")))
}

/// A derived SigV4 signing key: as secret as the secret key for one day
/// and region, so it zeroizes on drop and never prints.
#[derive(Clone)]
pub struct SigningKey(Zeroizing<[u8; 32]>);

impl SigningKey {
    pub fn sign(&self, string_to_sign: &str) -> [u8; 32] {
        hmac_sha256(&*self.0, string_to_sign.as_bytes())
    }
    /// Constant-time check of a provided signature (`Mac::verify_slice`).
    pub fn verify(&self, string_to_sign: &str, provided: &[u8]) -> bool {
        let mut mac = HmacSha256::new_from_slice(&*self.0).expect("HMAC takes any key length");
        mac.update(string_to_sign.as_bytes());
        mac.verify_slice(provided).is_ok()
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKey(..)")
    }
}

/// How many derived keys the process keeps. A key is valid for one
/// (secret, date, region), so this is about the number of active keys.
const SIGNING_KEY_CACHE_CAP: usize = 4096;

struct CachedKey {
    /// SHA-256 of the secret: a rotated secret under the same id misses.
    secret_fingerprint: [u8; 32],
    key: SigningKey,
}

/// Derived signing keys by (access key id, date, region). Deriving costs
/// four HMACs per request; the lookup costs one SHA-256 of the secret.
/// "LRU-ish": when full, the map is emptied and refills with the keys in
/// use (a day boundary or a flood of keys costs one re-derivation each).
type SigningKeyMap = std::collections::HashMap<(String, String, String), CachedKey>;
static SIGNING_KEYS: LazyLock<Mutex<SigningKeyMap>> =
    LazyLock::new(|| Mutex::new(SigningKeyMap::new()));

/// The signing key for an S3 scope: from the process-wide cache (`true`),
/// or derived (`false`) and NOT cached yet: the caller remembers it with
/// [`remember_signing_key`] only after a signature verified with it, so a
/// flood of unauthenticated requests (any id, date, region) neither fills
/// nor churns the cache.
pub fn signing_key(
    access_key_id: &str,
    secret: &[u8],
    date: &str,
    region: &str,
) -> (SigningKey, bool) {
    let fingerprint: [u8; 32] = Sha256::digest(secret).into();
    let id = (access_key_id.to_owned(), date.to_owned(), region.to_owned());
    {
        let map = SIGNING_KEYS.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = map.get(&id) {
            if bool::from(c.secret_fingerprint.ct_eq(&fingerprint)) {
                return (c.key.clone(), true);
            }
        }
    }
    (derive_signing_key(secret, date, region, "s3"), false)
}

/// Caches a derived key after a signature verified with it.
pub fn remember_signing_key(
    access_key_id: &str,
    secret: &[u8],
    date: &str,
    region: &str,
    key: &SigningKey,
) {
    let fingerprint: [u8; 32] = Sha256::digest(secret).into();
    let id = (access_key_id.to_owned(), date.to_owned(), region.to_owned());
    let mut map = SIGNING_KEYS.lock().unwrap_or_else(|p| p.into_inner());
    if map.len() >= SIGNING_KEY_CACHE_CAP {
        map.clear();
    }
    map.insert(
        id,
        CachedKey {
            secret_fingerprint: fingerprint,
            key: key.clone(),
        },
    );
}

/// What the aws-chunked decoder needs to verify a signed chunk stream:
/// the signing key, the request's timestamp and scope, and the seed
/// signature (the request's own), which chains into the first chunk.
#[derive(Clone)]
pub struct ChunkSigning {
    key: SigningKey,
    amz_date: String,
    scope: String,
    /// Hex of the previous signature (the seed, then each chunk's).
    previous: String,
}

impl fmt::Debug for ChunkSigning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChunkSigning")
            .field("amz_date", &self.amz_date)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl ChunkSigning {
    pub fn new(key: SigningKey, date: &AmzDate, scope: String, seed: &[u8; 32]) -> Self {
        ChunkSigning {
            key,
            amz_date: date.as_str().to_owned(),
            scope,
            previous: hex::encode(seed),
        }
    }

    /// The chunk's string to sign, lines joined by "\n":
    /// `AWS4-HMAC-SHA256-PAYLOAD`, timestamp, scope, previous signature,
    /// `Hex(SHA256Hash(""))`, `Hex(SHA256Hash(<current-chunk-data>))`.
    pub fn chunk_string_to_sign(&self, data_sha256: &[u8; 32]) -> String {
        format!(
            "AWS4-HMAC-SHA256-PAYLOAD\n{}\n{}\n{}\n{EMPTY_SHA256}\n{}",
            self.amz_date,
            self.scope,
            self.previous,
            hex::encode(data_sha256)
        )
    }

    /// Verifies one chunk's signature (constant time) and, when it holds,
    /// chains it as the previous signature of the next chunk.
    pub fn verify_chunk(&mut self, data_sha256: &[u8; 32], provided: &[u8; 32]) -> bool {
        let sts = self.chunk_string_to_sign(data_sha256);
        let ok = self.key.verify(&sts, provided);
        if ok {
            self.previous = hex::encode(provided);
        }
        ok
    }

    /// The trailer's string to sign, lines joined by "\n":
    /// `AWS4-HMAC-SHA256-TRAILER`, timestamp, scope, previous signature,
    /// `Hex(SHA256Hash(<trailing-headers>))`, the trailing headers being
    /// `name:value\n` each.
    pub fn trailer_string_to_sign(&self, canonical_trailers: &[u8]) -> String {
        format!(
            "AWS4-HMAC-SHA256-TRAILER\n{}\n{}\n{}\n{}",
            self.amz_date,
            self.scope,
            self.previous,
            hex::encode(Sha256::digest(canonical_trailers))
        )
    }

    pub fn verify_trailer(&self, canonical_trailers: &[u8], provided: &[u8; 32]) -> bool {
        self.key
            .verify(&self.trailer_string_to_sign(canonical_trailers), provided)
    }

    /// Signs a chunk (for tests and raw requesters).
    pub fn sign_chunk(&self, data_sha256: &[u8; 32]) -> [u8; 32] {
        self.key.sign(&self.chunk_string_to_sign(data_sha256))
    }
}

/// How long a presigned URL may live at most: "X-Amz-Expires ... minimum
/// value you can set is 1, and the maximum is 604800 (seven days)".
pub const MAX_PRESIGN_EXPIRES: Duration = Duration::from_secs(604_800);

#[cfg(test)]
mod tests {
    use super::*;

    use crate::auth::test_support::{headers, SECRET};

    fn signed(names: &str) -> Vec<String> {
        parse_signed_headers(names).unwrap()
    }

    /// "Signature Calculations for the Authorization Header: Transferring
    /// Payload in a Single Chunk", example "GET Object".
    #[test]
    fn known_answer_get_object() {
        let h = headers(&[
            ("host", "examplebucket.s3.amazonaws.com"),
            ("range", "bytes=0-9"),
            ("x-amz-content-sha256", EMPTY_SHA256),
            ("x-amz-date", "20130524T000000Z"),
        ]);
        let sh = signed("host;range;x-amz-content-sha256;x-amz-date");
        let cr = CanonicalRequest {
            method: "GET",
            canonical_uri: "/test.txt",
            canonical_query: "",
            headers: &h,
            signed_headers: &sh,
            payload_hash: EMPTY_SHA256,
        }
        .build();
        assert_eq!(
            String::from_utf8(cr.clone()).unwrap(),
            "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n\
             x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n\
             x-amz-date:20130524T000000Z\n\nhost;range;x-amz-content-sha256;x-amz-date\n\
             e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let date = AmzDate::parse("20130524T000000Z").unwrap();
        let sts = string_to_sign(&date, "20130524/us-east-1/s3/aws4_request", &cr);
        assert_eq!(
            sts,
            "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n\
             7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972"
        );
        let key = derive_signing_key(SECRET.as_bytes(), "20130524", "us-east-1", "s3");
        assert_eq!(
            hex::encode(key.sign(&sts)),
            "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
    }

    /// Same page, example "GET Bucket Lifecycle" and "Get Bucket (List
    /// Objects)": the canonical query string.
    #[test]
    fn known_answer_list_objects_query() {
        assert_eq!(
            canonical_query(&Query::parse("max-keys=2&prefix=J"), None),
            "max-keys=2&prefix=J"
        );
        assert_eq!(
            canonical_query(&Query::parse("lifecycle"), None),
            "lifecycle="
        );
        let h = headers(&[
            ("host", "examplebucket.s3.amazonaws.com"),
            ("x-amz-content-sha256", EMPTY_SHA256),
            ("x-amz-date", "20130524T000000Z"),
        ]);
        let sh = signed("host;x-amz-content-sha256;x-amz-date");
        let cr = CanonicalRequest {
            method: "GET",
            canonical_uri: "/",
            canonical_query: &canonical_query(&Query::parse("prefix=J&max-keys=2"), None),
            headers: &h,
            signed_headers: &sh,
            payload_hash: EMPTY_SHA256,
        }
        .build();
        let date = AmzDate::parse("20130524T000000Z").unwrap();
        let sts = string_to_sign(&date, "20130524/us-east-1/s3/aws4_request", &cr);
        assert_eq!(
            sts.rsplit('\n').next().unwrap(),
            "df57d21db20da04d7fa30298dd4488ba3a2b47ca3a489c74750e0f1e7df1b9b7"
        );
        let key = derive_signing_key(SECRET.as_bytes(), "20130524", "us-east-1", "s3");
        assert_eq!(
            hex::encode(key.sign(&sts)),
            "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"
        );
    }

    /// "Authenticating Requests: Using Query Parameters", the example GET
    /// of test.txt with X-Amz-Expires=86400.
    #[test]
    fn known_answer_presigned_get() {
        let raw_query = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404";
        let cq = canonical_query(&Query::parse(raw_query), Some("X-Amz-Signature"));
        let h = headers(&[("host", "examplebucket.s3.amazonaws.com")]);
        let sh = signed("host");
        let cr = CanonicalRequest {
            method: "GET",
            canonical_uri: "/test.txt",
            canonical_query: &cq,
            headers: &h,
            signed_headers: &sh,
            payload_hash: UNSIGNED_PAYLOAD,
        }
        .build();
        assert_eq!(
            String::from_utf8(cr.clone()).unwrap(),
            "GET\n/test.txt\nX-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host\n\
             host:examplebucket.s3.amazonaws.com\n\nhost\nUNSIGNED-PAYLOAD"
        );
        let date = AmzDate::parse("20130524T000000Z").unwrap();
        let sts = string_to_sign(&date, "20130524/us-east-1/s3/aws4_request", &cr);
        assert_eq!(
            sts,
            "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n\
             3bfa292879f6447bbcda7001decf97f4a54dc650c8942174ae0a9121cf58ad04"
        );
        let key = derive_signing_key(SECRET.as_bytes(), "20130524", "us-east-1", "s3");
        assert_eq!(
            hex::encode(key.sign(&sts)),
            "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
        );
    }

    /// "Signature Calculation: Transfer Payload in Multiple Chunks": the
    /// seed request, then each chunk signature of 64 KiB + 1 KiB of 'a'
    /// and the final empty chunk.
    #[test]
    fn known_answer_chunked_seed_and_chunks() {
        let h = headers(&[
            ("host", "s3.amazonaws.com"),
            ("x-amz-date", "20130524T000000Z"),
            ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
            ("x-amz-content-sha256", STREAMING_SIGNED),
            ("content-encoding", "aws-chunked"),
            ("x-amz-decoded-content-length", "66560"),
            ("content-length", "66824"),
        ]);
        let sh = signed("content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class");
        let cr = CanonicalRequest {
            method: "PUT",
            canonical_uri: "/examplebucket/chunkObject.txt",
            canonical_query: "",
            headers: &h,
            signed_headers: &sh,
            payload_hash: STREAMING_SIGNED,
        }
        .build();
        assert_eq!(
            String::from_utf8(cr.clone()).unwrap(),
            "PUT\n/examplebucket/chunkObject.txt\n\ncontent-encoding:aws-chunked\ncontent-length:66824\n\
             host:s3.amazonaws.com\nx-amz-content-sha256:STREAMING-AWS4-HMAC-SHA256-PAYLOAD\n\
             x-amz-date:20130524T000000Z\nx-amz-decoded-content-length:66560\n\
             x-amz-storage-class:REDUCED_REDUNDANCY\n\n\
             content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class\n\
             STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
        );
        let date = AmzDate::parse("20130524T000000Z").unwrap();
        let scope = "20130524/us-east-1/s3/aws4_request";
        let sts = string_to_sign(&date, scope, &cr);
        assert_eq!(
            sts,
            "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n\
             cee3fed04b70f867d036f722359b0b1f2f0e5dc0efadbc082b76c4c60e316455"
        );
        let key = derive_signing_key(SECRET.as_bytes(), "20130524", "us-east-1", "s3");
        let seed = key.sign(&sts);
        assert_eq!(
            hex::encode(seed),
            "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
        );

        let mut chain = ChunkSigning::new(key, &date, scope.to_owned(), &seed);
        let h1: [u8; 32] = Sha256::digest(vec![b'a'; 65536]).into();
        assert_eq!(
            chain.chunk_string_to_sign(&h1),
            "AWS4-HMAC-SHA256-PAYLOAD\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n\
             4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9\n\
             e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n\
             bf718b6f653bebc184e1479f1935b8da974d701b893afcf49e701f3e2f9f9c5a"
        );
        let expected = [
            (
                h1,
                "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
            ),
            (
                Sha256::digest(vec![b'a'; 1024]).into(),
                "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
            ),
            (
                parse_hex32(EMPTY_SHA256).unwrap(),
                "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
            ),
        ];
        for (hash, sig) in expected {
            assert_eq!(hex::encode(chain.sign_chunk(&hash)), sig);
            assert!(chain.verify_chunk(&hash, &parse_hex32(sig).unwrap()));
        }
    }

    /// "Signature Calculations for the Authorization Header: Including
    /// Trailing Headers": seed, chunk chain and the trailer signature.
    #[test]
    fn known_answer_trailer() {
        let h = headers(&[
            ("host", "s3.amazonaws.com"),
            ("x-amz-date", "20130524T000000Z"),
            ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
            ("x-amz-content-sha256", STREAMING_SIGNED_TRAILER),
            ("content-encoding", "aws-chunked"),
            ("x-amz-decoded-content-length", "66560"),
            ("x-amz-trailer", "x-amz-checksum-crc32c"),
        ]);
        let sh = signed("content-encoding;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class;x-amz-trailer");
        let cr = CanonicalRequest {
            method: "PUT",
            canonical_uri: "/examplebucket/chunkObject.txt",
            canonical_query: "",
            headers: &h,
            signed_headers: &sh,
            payload_hash: STREAMING_SIGNED_TRAILER,
        }
        .build();
        assert_eq!(
            String::from_utf8(cr.clone()).unwrap(),
            "PUT\n/examplebucket/chunkObject.txt\n\ncontent-encoding:aws-chunked\n\
             host:s3.amazonaws.com\nx-amz-content-sha256:STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER\n\
             x-amz-date:20130524T000000Z\nx-amz-decoded-content-length:66560\n\
             x-amz-storage-class:REDUCED_REDUNDANCY\nx-amz-trailer:x-amz-checksum-crc32c\n\n\
             content-encoding;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class;x-amz-trailer\n\
             STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
        );
        let date = AmzDate::parse("20130524T000000Z").unwrap();
        let scope = "20130524/us-east-1/s3/aws4_request";
        let sts = string_to_sign(&date, scope, &cr);
        assert_eq!(
            sts,
            "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n\
             44d48b8c2f70eae815a0198cc73d7a546a73a93359c070abbaa5e6c7de112559"
        );
        let key = derive_signing_key(SECRET.as_bytes(), "20130524", "us-east-1", "s3");
        let seed = key.sign(&sts);
        assert_eq!(
            hex::encode(seed),
            "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e"
        );
        let mut chain = ChunkSigning::new(key, &date, scope.to_owned(), &seed);
        for (data, sig) in [
            (
                vec![b'a'; 65536],
                "b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2",
            ),
            (
                vec![b'a'; 1024],
                "1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7",
            ),
            (
                vec![],
                "2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992",
            ),
        ] {
            let hash: [u8; 32] = Sha256::digest(&data).into();
            assert!(
                chain.verify_chunk(&hash, &parse_hex32(sig).unwrap()),
                "{sig}"
            );
        }
        let trailers = b"x-amz-checksum-crc32c:sOO8/Q==\n";
        let sig = parse_hex32("d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435")
            .unwrap();
        assert!(chain.verify_trailer(trailers, &sig));
        assert!(!chain.verify_trailer(b"x-amz-checksum-crc32c:sOO8/A==\n", &sig));
    }

    #[test]
    fn authorization_header_parses_with_and_without_spaces() {
        let a = parse_authorization(
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-date, Signature=fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024",
        )
        .unwrap();
        assert_eq!(a.credential.access_key_id, "AKIAIOSFODNN7EXAMPLE");
        assert_eq!(a.credential.scope(), "20130524/us-east-1/s3/aws4_request");
        assert_eq!(a.signed_headers, ["host", "range", "x-amz-date"]);
        let b = parse_authorization(
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-date,Signature=fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024",
        )
        .unwrap();
        assert_eq!(a, b);
        for bad in [
            "AWS4-HMAC-SHA256 Credential=AKID/2013052/us-east-1/s3/aws4_request,SignedHeaders=host,Signature=fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024",
            "AWS4-HMAC-SHA256 Credential=AKID/20130524/us-east-1/s3/aws5_request,SignedHeaders=host,Signature=fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024",
            "AWS4-HMAC-SHA256 Credential=AKID/20130524/us-east-1/s3/aws4_request,SignedHeaders=host,Signature=fe5f",
            "AWS4-HMAC-SHA256 Credential=AKID/20130524/us-east-1/s3/aws4_request,Signature=fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024",
            "AWS4-HMAC-SHA256Credential=x",
        ] {
            assert_eq!(
                parse_authorization(bad).unwrap_err().code,
                S3ErrorCode::AuthorizationHeaderMalformed,
                "{bad}"
            );
        }
    }

    #[test]
    fn canonical_uri_is_the_raw_path_then_a_reencoding() {
        assert_eq!(canonical_uri_candidates("").collect::<Vec<_>>(), ["/"]);
        assert_eq!(
            canonical_uri_candidates("/b/a%20b%2Fc").collect::<Vec<_>>(),
            ["/b/a%20b%2Fc", "/b/a%20b/c"]
        );
        assert_eq!(
            canonical_uri_candidates("/b/k$1").collect::<Vec<_>>(),
            ["/b/k$1", "/b/k%241"]
        );
        assert_eq!(
            canonical_uri_candidates("/b/a/./../c").collect::<Vec<_>>(),
            ["/b/a/./../c"]
        );
    }

    #[test]
    fn canonical_query_encodes_sorts_and_decodes_plus_as_the_router_does() {
        assert_eq!(
            canonical_query(
                &Query::parse("prefix=a b&delimiter=%2F&uploads&a=%7e"),
                None
            ),
            "a=~&delimiter=%2F&prefix=a%20b&uploads="
        );
        // `+` is a space (decoded once, as the router reads it); `%2B` a plus.
        assert_eq!(canonical_query(&Query::parse("k=a+b"), None), "k=a%20b");
        assert_eq!(canonical_query(&Query::parse("k=a%2Bb"), None), "k=a%2Bb");
        assert_eq!(canonical_query(&Query::parse("b=2&b=1"), None), "b=1&b=2");
    }

    #[test]
    fn header_values_are_trimmed_and_joined() {
        let h = headers(&[("x-amz-meta-a", "  one   two  "), ("x-amz-meta-a", "three")]);
        let sh = signed("x-amz-meta-a");
        let cr = CanonicalRequest {
            method: "PUT",
            canonical_uri: "/",
            canonical_query: "",
            headers: &h,
            signed_headers: &sh,
            payload_hash: UNSIGNED_PAYLOAD,
        }
        .build();
        assert!(String::from_utf8(cr)
            .unwrap()
            .contains("x-amz-meta-a:one two,three\n"));
    }

    #[test]
    fn signing_key_cache_hits_and_notices_a_new_secret() {
        let (a, cached) = signing_key("AKIDCACHETEST0001", b"one", "20130524", "us-east-1");
        assert!(!cached, "nothing is cached before a signature verified");
        let (_, cached) = signing_key("AKIDCACHETEST0001", b"one", "20130524", "us-east-1");
        assert!(!cached, "deriving alone does not cache");
        remember_signing_key("AKIDCACHETEST0001", b"one", "20130524", "us-east-1", &a);
        let (b, cached) = signing_key("AKIDCACHETEST0001", b"one", "20130524", "us-east-1");
        assert!(cached);
        assert_eq!(a.sign("x"), b.sign("x"));
        let (c, cached) = signing_key("AKIDCACHETEST0001", b"two", "20130524", "us-east-1");
        assert!(!cached, "a rotated secret misses");
        assert_ne!(a.sign("x"), c.sign("x"));
        assert_eq!(
            c.sign("x"),
            derive_signing_key(b"two", "20130524", "us-east-1", "s3").sign("x")
        );
    }
}
