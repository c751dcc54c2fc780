//! AWS Signature Version 4 for S3, as a client signs it.
//!
//! Signed by `aws-sigv4`, AWS's own signer, rather than by the gateway's
//! verifier code or a hand-written one, so that the bench is an independent
//! client: a signing bug shared by both sides would otherwise pass
//! unnoticed. aws-chunked chunk signatures chain from the seed signature
//! with the crate's signing key and signature functions, as "Signature
//! Calculations for the Authorization Header: Transferring Payload in
//! Multiple Chunks (Chunked Upload)" describes; the tests at the bottom
//! replay AWS's worked examples.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::{Digest, Sha256};
use time::{macros::format_description, OffsetDateTime};

/// `x-amz-content-sha256` value when the payload is not signed.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
/// `x-amz-content-sha256` value of aws-chunked uploads with per-chunk signatures.
pub const STREAMING_PAYLOAD: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD";
/// Hex SHA-256 of the empty string (the "previous payload" line of chunk signatures,
/// and the payload hash of bodiless requests).
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// URI encoding per the SigV4 spec: every byte except the RFC 3986 unreserved
/// characters `A-Z a-z 0-9 - _ . ~` is `%XX` (upper-case hex).
const URI_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Encodes a query name or value (and a key segment) the SigV4 way.
pub fn uri_encode(s: &str) -> String {
    utf8_percent_encode(s, URI_ENCODE).to_string()
}

/// Encodes an object key for an S3 path: like [`uri_encode`] but `/` stays, as
/// the spec says for the canonical URI of S3 ("do not encode the slashes").
pub fn encode_key_path(key: &str) -> String {
    key.split('/').map(uri_encode).collect::<Vec<_>>().join("/")
}

/// `x-amz-date` (`YYYYMMDD'T'HHMMSS'Z'`) for a UTC instant.
pub fn amz_date(t: OffsetDateTime) -> String {
    t.format(format_description!(
        "[year][month][day]T[hour][minute][second]Z"
    ))
    .expect("formatting a UTC date cannot fail")
}

/// Hex SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Access key id, secret and region of one S3 identity.
#[derive(Clone)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret: String,
    pub region: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret never reaches a log.
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

/// What a request needs signed: everything the canonical request is made of.
pub struct RequestToSign<'a> {
    pub method: &'a str,
    /// The path as sent on the wire, already URI-encoded (S3 signs it as is).
    pub encoded_path: &'a str,
    /// Decoded query parameters; encoded and sorted here.
    pub query: &'a [(&'a str, &'a str)],
    /// Headers to sign (names any case; every one listed is signed).
    pub headers: &'a [(&'a str, &'a str)],
    /// The `x-amz-content-sha256` value (hex digest or one of the constants).
    pub payload_hash: &'a str,
}

/// The result of signing: the header value and what chunk signatures chain from.
#[derive(Debug, Clone)]
pub struct Signed {
    pub authorization: String,
    /// Hex seed signature (the first "previous signature" of aws-chunked).
    pub signature: String,
    pub(crate) signing_key: [u8; 32],
    pub(crate) amz_date: String,
    pub(crate) scope: String,
}

/// Signs a request at `amz_date` (`YYYYMMDDTHHMMSSZ`) with `aws-sigv4`,
/// AWS's own signer (the one the AWS SDKs use), set up as S3 wants it: the
/// path signed as sent (no second encoding, no normalisation) and the
/// `x-amz-content-sha256` value given in `req.headers` signed as the
/// payload hash.
///
/// # Panics
/// On a request the signer refuses (a malformed date or URI: a bug here).
pub fn sign(creds: &Credentials, amz_date: &str, req: &RequestToSign<'_>) -> Signed {
    use aws_sigv4::http_request::{
        sign as aws_sign, PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest,
        SignatureLocation, SigningSettings, UriPathNormalizationMode,
    };
    use aws_sigv4::sign::v4;

    let time = parse_amz_date(amz_date);
    let identity: aws_smithy_runtime_api::client::identity::Identity =
        aws_credential_types::Credentials::new(
            &creds.access_key_id,
            &creds.secret,
            None,
            None,
            "s3gw-bench",
        )
        .into();
    let mut settings = SigningSettings::default();
    settings.percent_encoding_mode = PercentEncodingMode::Single;
    settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    settings.payload_checksum_kind = PayloadChecksumKind::NoHeader;
    settings.signature_location = SignatureLocation::Headers;
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(&creds.region)
        .name("s3")
        .time(time)
        .settings(settings)
        .build()
        .expect("every signing parameter is set")
        .into();
    let host = req
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("host"))
        .map_or("localhost", |(_, v)| *v);
    let query = req
        .query
        .iter()
        .map(|(k, v)| format!("{}={}", uri_encode(k), uri_encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let uri = if query.is_empty() {
        format!("http://{host}{}", req.encoded_path)
    } else {
        format!("http://{host}{}?{query}", req.encoded_path)
    };
    let signable = SignableRequest::new(
        req.method,
        uri,
        req.headers.iter().copied(),
        SignableBody::Precomputed(req.payload_hash.to_owned()),
    )
    .expect("a signable request");
    let (instructions, signature) = aws_sign(signable, &params)
        .expect("signing cannot fail for a well-formed request")
        .into_parts();
    let authorization = instructions
        .headers()
        .find(|(n, _)| n.eq_ignore_ascii_case("authorization"))
        .map(|(_, v)| v.to_owned())
        .expect("header signing yields an Authorization header");
    let date = &amz_date[..8];
    let key = v4::generate_signing_key(&creds.secret, time, &creds.region, "s3");
    let mut signing_key = [0u8; 32];
    signing_key.copy_from_slice(key.as_ref());
    Signed {
        authorization,
        signature,
        signing_key,
        amz_date: amz_date.to_string(),
        scope: format!("{date}/{}/s3/aws4_request", creds.region),
    }
}

/// `YYYYMMDDTHHMMSSZ` as a point in time.
fn parse_amz_date(amz_date: &str) -> std::time::SystemTime {
    let t = time::PrimitiveDateTime::parse(
        amz_date,
        format_description!("[year][month][day]T[hour][minute][second]Z"),
    )
    .expect("an x-amz-date made by amz_date")
    .assume_utc();
    t.into()
}

/// Chains chunk signatures of an aws-chunked body from a seed signature.
pub struct ChunkSigner {
    key: [u8; 32],
    amz_date: String,
    scope: String,
    previous: String,
}

impl ChunkSigner {
    pub fn new(seed: &Signed) -> Self {
        ChunkSigner {
            key: seed.signing_key,
            amz_date: seed.amz_date.clone(),
            scope: seed.scope.clone(),
            previous: seed.signature.clone(),
        }
    }

    /// Signature of the next chunk (the last one is the empty chunk):
    /// `AWS4-HMAC-SHA256-PAYLOAD \n date \n scope \n previous \n hash("") \n hash(chunk)`.
    pub fn next(&mut self, chunk: &[u8]) -> String {
        let sts = format!(
            "AWS4-HMAC-SHA256-PAYLOAD\n{}\n{}\n{}\n{EMPTY_SHA256}\n{}",
            self.amz_date,
            self.scope,
            self.previous,
            sha256_hex(chunk)
        );
        self.previous = aws_sigv4::sign::v4::calculate_signature(self.key, sts.as_bytes());
        self.previous.clone()
    }
}

/// Length of one framed chunk: `hex(size);chunk-signature=<64 hex>\r\n<data>\r\n`.
pub fn framed_chunk_len(size: u64) -> u64 {
    let hex_len = format!("{size:x}").len() as u64;
    hex_len + ";chunk-signature=".len() as u64 + 64 + 2 + size + 2
}

/// Total encoded length of an aws-chunked body of `decoded` bytes in `chunk`-byte
/// chunks, final empty chunk included (the request's `Content-Length`).
pub fn chunked_encoded_len(decoded: u64, chunk: u64) -> u64 {
    let full = decoded / chunk;
    let rest = decoded % chunk;
    let mut len = full * framed_chunk_len(chunk) + framed_chunk_len(0);
    if rest > 0 {
        len += framed_chunk_len(rest);
    }
    len
}

/// Frames one chunk with its signature.
pub fn frame_chunk(data: &[u8], signature: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 90);
    out.extend_from_slice(format!("{:x};chunk-signature={signature}\r\n", data.len()).as_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example_creds() -> Credentials {
        Credentials {
            access_key_id: "AKIAIOSFODNN7EXAMPLE".into(),
            secret: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
            region: "us-east-1".into(),
        }
    }

    /// AWS S3 API reference, "Example: GET Object" (header-based auth).
    #[test]
    fn get_object_example() {
        let headers = [
            ("Host", "examplebucket.s3.amazonaws.com"),
            ("Range", "bytes=0-9"),
            ("x-amz-content-sha256", EMPTY_SHA256),
            ("x-amz-date", "20130524T000000Z"),
        ];
        let req = RequestToSign {
            method: "GET",
            encoded_path: "/test.txt",
            query: &[],
            headers: &headers,
            payload_hash: EMPTY_SHA256,
        };
        let s = sign(&example_creds(), "20130524T000000Z", &req);
        assert_eq!(
            s.signature,
            "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
        assert!(s.authorization.starts_with(
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, \
             SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8"
        ));
    }

    /// AWS S3 API reference, "Example: GET Bucket Lifecycle" / list with a query.
    #[test]
    fn list_objects_example_query() {
        let headers = [
            ("Host", "examplebucket.s3.amazonaws.com"),
            ("x-amz-content-sha256", EMPTY_SHA256),
            ("x-amz-date", "20130524T000000Z"),
        ];
        let req = RequestToSign {
            method: "GET",
            encoded_path: "/",
            query: &[("prefix", "J"), ("max-keys", "2")],
            headers: &headers,
            payload_hash: EMPTY_SHA256,
        };
        let s = sign(&example_creds(), "20130524T000000Z", &req);
        assert_eq!(
            s.signature,
            "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"
        );
    }

    /// AWS "Transferring Payload in Multiple Chunks" worked example: 66,560 bytes
    /// of 'a' in a 64 KiB chunk, a 1 KiB chunk and the final empty chunk.
    #[test]
    fn chunked_upload_example() {
        let headers = [
            ("Host", "s3.amazonaws.com"),
            ("x-amz-date", "20130524T000000Z"),
            ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
            ("x-amz-content-sha256", STREAMING_PAYLOAD),
            ("Content-Encoding", "aws-chunked"),
            ("x-amz-decoded-content-length", "66560"),
            ("Content-Length", "66824"),
        ];
        let req = RequestToSign {
            method: "PUT",
            encoded_path: "/examplebucket/chunkObject.txt",
            query: &[],
            headers: &headers,
            payload_hash: STREAMING_PAYLOAD,
        };
        let seed = sign(&example_creds(), "20130524T000000Z", &req);
        assert_eq!(
            seed.signature,
            "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
        );
        let mut chunks = ChunkSigner::new(&seed);
        assert_eq!(
            chunks.next(&[b'a'; 65536]),
            "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648"
        );
        assert_eq!(
            chunks.next(&[b'a'; 1024]),
            "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497"
        );
        assert_eq!(
            chunks.next(&[]),
            "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9"
        );
        assert_eq!(chunked_encoded_len(66560, 65536), 66824);
    }

    #[test]
    fn key_encoding_keeps_slashes_only() {
        assert_eq!(
            encode_key_path("a b/ü+%&=?#"),
            "a%20b/%C3%BC%2B%25%26%3D%3F%23"
        );
        assert_eq!(uri_encode("a/b~c"), "a%2Fb~c");
    }
}
