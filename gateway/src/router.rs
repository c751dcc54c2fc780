//! The router: ONE [`Endpoint`] enum with a variant per S3 operation, named
//! exactly as the AWS S3 API reference names it, produced by ONE pure
//! function ([`route`]) from the method, the addressed bucket and key, the
//! query keywords and the one header that selects an operation
//! (`x-amz-copy-source`). Garage's `src/api/s3/router.rs` is the model.
//!
//! Operations s3gw does not serve are still recognised, so a client gets
//! `501 NotImplemented` naming the operation instead of a confusing
//! `GetObject` or `ListObjects` answer to a sub-resource request.

use actix_web::http::header::HeaderMap;
use actix_web::http::Method;

use crate::error::{S3Error, S3ErrorCode};

/// The query string, parsed ONCE per request (server.rs `admit`) and read
/// by everything that acts on it or signs it: the router, the SigV4
/// canonical query, SigV2's sub-resources, the handlers' parameters and
/// `response-*` overrides. So what is signed is what acts.
///
/// Parameters are kept in request order; `?acl` has value `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query(Vec<Param>);

/// One query parameter, its name and value decoded once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    /// The decoded name as text (lossy when the bytes are not UTF-8).
    pub name: String,
    /// The decoded value as text; `None` for `?name` without `=`.
    pub value: Option<String>,
    /// The exact decoded bytes, kept only where the text above is lossy
    /// (the SigV4 canonical query re-encodes the bytes the client sent).
    raw_name: Option<Vec<u8>>,
    raw_value: Option<Vec<u8>>,
}

impl Param {
    /// The decoded name's exact bytes.
    pub fn name_bytes(&self) -> &[u8] {
        self.raw_name.as_deref().unwrap_or(self.name.as_bytes())
    }
    /// The decoded value's exact bytes; empty for `?name` and `?name=`.
    pub fn value_bytes(&self) -> &[u8] {
        match (&self.raw_value, &self.value) {
            (Some(raw), _) => raw,
            (None, Some(v)) => v.as_bytes(),
            (None, None) => b"",
        }
    }
}

/// One name or value: `+` means a space, as in
/// `application/x-www-form-urlencoded` and as S3 reads query strings (the
/// SDKs send `%20` for a space and `%2B` for a plus, so they sign and mean
/// the same either way); then percent-decoding, once. Returns the text and,
/// when the bytes are not UTF-8, the bytes.
fn decode_component(s: &str) -> (String, Option<Vec<u8>>) {
    let bytes: Vec<u8> = if s.bytes().any(|b| b == b'+' || b == b'%') {
        let plus_as_space: Vec<u8> = s
            .bytes()
            .map(|b| if b == b'+' { b' ' } else { b })
            .collect();
        percent_encoding::percent_decode(&plus_as_space).collect()
    } else {
        return (s.to_owned(), None);
    };
    match String::from_utf8(bytes) {
        Ok(text) => (text, None),
        Err(e) => {
            let bytes = e.into_bytes();
            (String::from_utf8_lossy(&bytes).into_owned(), Some(bytes))
        }
    }
}

impl Query {
    /// Parses a raw query string (without `?`). Names and values are
    /// percent-decoded once; `+` means a space (see [`decode_component`]).
    pub fn parse(raw: &str) -> Query {
        Query(
            raw.split('&')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = match p.split_once('=') {
                        Some((k, v)) => (k, Some(v)),
                        None => (p, None),
                    };
                    let (name, raw_name) = decode_component(k);
                    let (value, raw_value) = match v.map(decode_component) {
                        Some((v, raw)) => (Some(v), raw),
                        None => (None, None),
                    };
                    Param {
                        name,
                        value,
                        raw_name,
                        raw_value,
                    }
                })
                .collect(),
        )
    }
    /// Every parameter, in request order.
    pub fn pairs(&self) -> &[Param] {
        &self.0
    }
    /// Whether the keyword is present (with or without a value).
    pub fn has(&self, name: &str) -> bool {
        self.0.iter().any(|p| p.name == name)
    }
    /// The first value of the parameter; `Some("")` for `?name` or `?name=`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.value.as_deref().unwrap_or(""))
    }
    /// The first value's exact bytes (see [`Param::value_bytes`]).
    pub fn get_bytes(&self, name: &[u8]) -> Option<&[u8]> {
        self.0
            .iter()
            .find(|p| p.name_bytes() == name)
            .map(Param::value_bytes)
    }
}

impl From<&str> for Query {
    fn from(raw: &str) -> Query {
        Query::parse(raw)
    }
}

impl From<String> for Query {
    fn from(raw: String) -> Query {
        Query::parse(&raw)
    }
}

/// Defines [`Endpoint`] and its name table in one place.
macro_rules! endpoints {
    ($( $(#[$doc:meta])* $variant:ident => $supported:literal, )*) => {
        /// Every S3 operation, named as AWS names it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Endpoint { $( $(#[$doc])* $variant, )* }

        impl Endpoint {
            /// The AWS operation name, for spans, metrics and error messages.
            pub fn name(self) -> &'static str {
                match self { $( Self::$variant => stringify!($variant), )* }
            }
            /// Whether s3gw serves this operation (else: 501 NotImplemented).
            pub fn is_supported(self) -> bool {
                match self { $( Self::$variant => $supported, )* }
            }
            /// Every endpoint, for table tests.
            pub const ALL: &'static [Endpoint] = &[ $( Self::$variant, )* ];
        }
    };
}

endpoints! {
    // service
    ListBuckets => true,
    // bucket
    CreateBucket => true,
    HeadBucket => true,
    DeleteBucket => true,
    ListObjects => true,
    ListObjectsV2 => true,
    ListObjectVersions => true,
    ListMultipartUploads => true,
    GetBucketLocation => true,
    GetBucketVersioning => true,
    PutBucketVersioning => true,
    GetBucketAcl => true,
    PutBucketAcl => true,
    GetBucketCors => true,
    PutBucketCors => true,
    DeleteBucketCors => true,
    GetBucketLifecycleConfiguration => true,
    PutBucketLifecycleConfiguration => false,
    DeleteBucketLifecycle => true,
    GetBucketPolicy => true,
    PutBucketPolicy => false,
    DeleteBucketPolicy => true,
    GetBucketPolicyStatus => true,
    GetBucketTagging => true,
    PutBucketTagging => true,
    DeleteBucketTagging => true,
    GetBucketEncryption => true,
    PutBucketEncryption => false,
    DeleteBucketEncryption => true,
    GetBucketWebsite => false,
    PutBucketWebsite => false,
    DeleteBucketWebsite => false,
    GetBucketLogging => false,
    PutBucketLogging => false,
    GetBucketNotificationConfiguration => false,
    PutBucketNotificationConfiguration => false,
    GetBucketReplication => false,
    PutBucketReplication => false,
    DeleteBucketReplication => false,
    GetBucketRequestPayment => false,
    PutBucketRequestPayment => false,
    GetBucketAccelerateConfiguration => false,
    PutBucketAccelerateConfiguration => false,
    GetObjectLockConfiguration => false,
    PutObjectLockConfiguration => false,
    GetBucketOwnershipControls => false,
    PutBucketOwnershipControls => false,
    DeleteBucketOwnershipControls => false,
    GetPublicAccessBlock => false,
    PutPublicAccessBlock => false,
    DeletePublicAccessBlock => false,
    GetBucketAnalyticsConfiguration => false,
    ListBucketAnalyticsConfigurations => false,
    PutBucketAnalyticsConfiguration => false,
    DeleteBucketAnalyticsConfiguration => false,
    GetBucketInventoryConfiguration => false,
    ListBucketInventoryConfigurations => false,
    PutBucketInventoryConfiguration => false,
    DeleteBucketInventoryConfiguration => false,
    GetBucketMetricsConfiguration => false,
    ListBucketMetricsConfigurations => false,
    PutBucketMetricsConfiguration => false,
    DeleteBucketMetricsConfiguration => false,
    GetBucketIntelligentTieringConfiguration => false,
    ListBucketIntelligentTieringConfigurations => false,
    PutBucketIntelligentTieringConfiguration => false,
    DeleteBucketIntelligentTieringConfiguration => false,
    DeleteObjects => true,
    /// Browser-based upload with an HTML form (POST to the bucket).
    PostObject => true,
    /// CORS preflight (`OPTIONS` on a bucket or object; "OPTIONS object" in
    /// the API reference).
    OptionsObject => true,
    // object
    PutObject => true,
    CopyObject => true,
    GetObject => true,
    HeadObject => true,
    DeleteObject => true,
    GetObjectAcl => true,
    PutObjectAcl => true,
    GetObjectTagging => true,
    PutObjectTagging => true,
    DeleteObjectTagging => true,
    GetObjectRetention => false,
    PutObjectRetention => false,
    GetObjectLegalHold => false,
    PutObjectLegalHold => false,
    GetObjectTorrent => false,
    GetObjectAttributes => false,
    RestoreObject => false,
    SelectObjectContent => false,
    CreateMultipartUpload => true,
    UploadPart => true,
    UploadPartCopy => true,
    CompleteMultipartUpload => true,
    AbortMultipartUpload => true,
    ListParts => true,
}

/// A sub-resource keyword and its operations for GET (and HEAD), PUT and
/// DELETE.
type SubResource = (
    &'static str,
    Option<Endpoint>,
    Option<Endpoint>,
    Option<Endpoint>,
);

/// The bucket sub-resources: query keywords that select a bucket operation,
/// with the endpoint for GET, PUT and DELETE (None: that method is not an
/// operation on the sub-resource). Order matters only for requests carrying
/// several keywords, which no S3 client sends.
const BUCKET_SUBRESOURCES: &[SubResource] = {
    use Endpoint::*;
    &[
        ("acl", Some(GetBucketAcl), Some(PutBucketAcl), None),
        (
            "cors",
            Some(GetBucketCors),
            Some(PutBucketCors),
            Some(DeleteBucketCors),
        ),
        (
            "lifecycle",
            Some(GetBucketLifecycleConfiguration),
            Some(PutBucketLifecycleConfiguration),
            Some(DeleteBucketLifecycle),
        ),
        ("location", Some(GetBucketLocation), None, None),
        ("policyStatus", Some(GetBucketPolicyStatus), None, None),
        (
            "policy",
            Some(GetBucketPolicy),
            Some(PutBucketPolicy),
            Some(DeleteBucketPolicy),
        ),
        (
            "tagging",
            Some(GetBucketTagging),
            Some(PutBucketTagging),
            Some(DeleteBucketTagging),
        ),
        (
            "versioning",
            Some(GetBucketVersioning),
            Some(PutBucketVersioning),
            None,
        ),
        ("versions", Some(ListObjectVersions), None, None),
        ("uploads", Some(ListMultipartUploads), None, None),
        (
            "encryption",
            Some(GetBucketEncryption),
            Some(PutBucketEncryption),
            Some(DeleteBucketEncryption),
        ),
        (
            "website",
            Some(GetBucketWebsite),
            Some(PutBucketWebsite),
            Some(DeleteBucketWebsite),
        ),
        (
            "logging",
            Some(GetBucketLogging),
            Some(PutBucketLogging),
            None,
        ),
        (
            "notification",
            Some(GetBucketNotificationConfiguration),
            Some(PutBucketNotificationConfiguration),
            None,
        ),
        (
            "replication",
            Some(GetBucketReplication),
            Some(PutBucketReplication),
            Some(DeleteBucketReplication),
        ),
        (
            "requestPayment",
            Some(GetBucketRequestPayment),
            Some(PutBucketRequestPayment),
            None,
        ),
        (
            "accelerate",
            Some(GetBucketAccelerateConfiguration),
            Some(PutBucketAccelerateConfiguration),
            None,
        ),
        (
            "object-lock",
            Some(GetObjectLockConfiguration),
            Some(PutObjectLockConfiguration),
            None,
        ),
        (
            "ownershipControls",
            Some(GetBucketOwnershipControls),
            Some(PutBucketOwnershipControls),
            Some(DeleteBucketOwnershipControls),
        ),
        (
            "publicAccessBlock",
            Some(GetPublicAccessBlock),
            Some(PutPublicAccessBlock),
            Some(DeletePublicAccessBlock),
        ),
        (
            "analytics",
            Some(GetBucketAnalyticsConfiguration),
            Some(PutBucketAnalyticsConfiguration),
            Some(DeleteBucketAnalyticsConfiguration),
        ),
        (
            "inventory",
            Some(GetBucketInventoryConfiguration),
            Some(PutBucketInventoryConfiguration),
            Some(DeleteBucketInventoryConfiguration),
        ),
        (
            "metrics",
            Some(GetBucketMetricsConfiguration),
            Some(PutBucketMetricsConfiguration),
            Some(DeleteBucketMetricsConfiguration),
        ),
        (
            "intelligent-tiering",
            Some(GetBucketIntelligentTieringConfiguration),
            Some(PutBucketIntelligentTieringConfiguration),
            Some(DeleteBucketIntelligentTieringConfiguration),
        ),
    ]
};

/// The object sub-resources, as [`BUCKET_SUBRESOURCES`].
const OBJECT_SUBRESOURCES: &[SubResource] = {
    use Endpoint::*;
    &[
        ("acl", Some(GetObjectAcl), Some(PutObjectAcl), None),
        (
            "tagging",
            Some(GetObjectTagging),
            Some(PutObjectTagging),
            Some(DeleteObjectTagging),
        ),
        (
            "retention",
            Some(GetObjectRetention),
            Some(PutObjectRetention),
            None,
        ),
        (
            "legal-hold",
            Some(GetObjectLegalHold),
            Some(PutObjectLegalHold),
            None,
        ),
        ("torrent", Some(GetObjectTorrent), None, None),
        ("attributes", Some(GetObjectAttributes), None, None),
    ]
};

fn method_not_allowed(method: &Method) -> S3Error {
    S3Error::with_message(
        S3ErrorCode::MethodNotAllowed,
        format!("The specified method {method} is not allowed against this resource."),
    )
}

fn subresource(
    table: &[SubResource],
    method: &Method,
    query: &Query,
) -> Option<Result<Endpoint, S3Error>> {
    let (_, get, put, delete) = table.iter().find(|(kw, ..)| query.has(kw))?;
    let ep = match *method {
        Method::GET | Method::HEAD => *get,
        Method::PUT => *put,
        Method::DELETE => *delete,
        _ => None,
    };
    Some(ep.ok_or_else(|| method_not_allowed(method)))
}

/// THE routing function: pure, table-tested. `bucket` and `key` come from
/// [`crate::addressing`] (both styles give the same values); an empty key is
/// no key. Query keywords select sub-resources; the `x-amz-copy-source`
/// header turns a PUT into a copy. The keyword checks run before the plain
/// method match because a sub-resource request must never fall through to
/// the object or listing operation of the same method.
pub fn route(
    method: &Method,
    bucket: Option<&str>,
    key: Option<&str>,
    query: &Query,
    headers: &HeaderMap,
) -> Result<Endpoint, S3Error> {
    use Endpoint::*;
    let key = key.filter(|k| !k.is_empty());
    let copy = headers.contains_key("x-amz-copy-source");
    if *method == Method::OPTIONS && bucket.is_some() {
        return Ok(OptionsObject);
    }
    match (bucket, key) {
        (None, _) => match *method {
            Method::GET | Method::HEAD => Ok(ListBuckets),
            _ => Err(method_not_allowed(method)),
        },
        (Some(_), None) => {
            if *method == Method::POST {
                return Ok(if query.has("delete") {
                    DeleteObjects
                } else {
                    PostObject
                });
            }
            // `?analytics` and friends without `id` list the configurations.
            if *method == Method::GET && !query.has("id") {
                for (kw, ep) in [
                    ("analytics", ListBucketAnalyticsConfigurations),
                    ("inventory", ListBucketInventoryConfigurations),
                    ("metrics", ListBucketMetricsConfigurations),
                    (
                        "intelligent-tiering",
                        ListBucketIntelligentTieringConfigurations,
                    ),
                ] {
                    if query.has(kw) {
                        return Ok(ep);
                    }
                }
            }
            if let Some(ep) = subresource(BUCKET_SUBRESOURCES, method, query) {
                return ep;
            }
            match *method {
                Method::PUT => Ok(CreateBucket),
                Method::HEAD => Ok(HeadBucket),
                Method::DELETE => Ok(DeleteBucket),
                Method::GET if query.get("list-type") == Some("2") => Ok(ListObjectsV2),
                Method::GET => Ok(ListObjects),
                _ => Err(method_not_allowed(method)),
            }
        }
        (Some(_), Some(_)) => {
            let upload = query.has("uploadId");
            match *method {
                Method::POST if query.has("uploads") => Ok(CreateMultipartUpload),
                Method::POST if upload => Ok(CompleteMultipartUpload),
                Method::POST if query.has("restore") => Ok(RestoreObject),
                Method::POST if query.has("select") => Ok(SelectObjectContent),
                Method::PUT if upload && query.has("partNumber") => {
                    Ok(if copy { UploadPartCopy } else { UploadPart })
                }
                Method::GET if upload => Ok(ListParts),
                Method::DELETE if upload => Ok(AbortMultipartUpload),
                _ => {
                    if let Some(ep) = subresource(OBJECT_SUBRESOURCES, method, query) {
                        return ep;
                    }
                    match *method {
                        Method::PUT if copy => Ok(CopyObject),
                        Method::PUT => Ok(PutObject),
                        Method::GET => Ok(GetObject),
                        Method::HEAD => Ok(HeadObject),
                        Method::DELETE => Ok(DeleteObject),
                        _ => Err(method_not_allowed(method)),
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addressing::{Addressing, Target};
    use actix_web::http::header::{HeaderName, HeaderValue};
    use Endpoint::*;

    /// Routes one request line as a client would send it, in BOTH addressing
    /// styles (path-style to `s3.example.com`, virtual-host to
    /// `<bucket>.s3.example.com`), and checks both give the same endpoint.
    fn route_both(method: &str, bucket: &str, path_and_query: &str, copy: bool) -> Endpoint {
        let a = Addressing::new(vec!["s3.example.com".into()]);
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        let mut headers = HeaderMap::new();
        if copy {
            headers.insert(
                HeaderName::from_static("x-amz-copy-source"),
                HeaderValue::from_static("/src/key"),
            );
        }
        let m = Method::from_bytes(method.as_bytes()).unwrap();
        let q = Query::parse(query);
        let run = |t: Target| route(&m, t.bucket.as_deref(), t.key.as_deref(), &q, &headers);
        let vhost = if bucket.is_empty() {
            a.resolve("s3.example.com", path).unwrap()
        } else {
            a.resolve(&format!("{bucket}.s3.example.com"), path)
                .unwrap()
        };
        let path_style_path = if bucket.is_empty() {
            path.to_owned()
        } else {
            format!("/{bucket}{path}")
        };
        let pathstyle = a.resolve("s3.example.com", &path_style_path).unwrap();
        assert_eq!(
            (&vhost.bucket, &vhost.key),
            (&pathstyle.bucket, &pathstyle.key),
            "{method} {path_and_query}: styles disagree"
        );
        let ep = run(vhost).unwrap_or_else(|e| panic!("{method} {path_and_query}: {e}"));
        let ep2 = run(pathstyle).unwrap();
        assert_eq!(ep, ep2);
        ep
    }

    /// The example requests of the AWS S3 API reference, one per operation
    /// (the request line of each "Example" section), through both styles.
    #[test]
    fn aws_reference_examples_route_in_both_styles() {
        let table: &[(&str, &str, &str, bool, Endpoint)] = &[
            ("GET", "", "/", false, ListBuckets),
            ("PUT", "examplebucket", "/", false, CreateBucket),
            ("HEAD", "my.example.bucket", "/", false, HeadBucket),
            ("DELETE", "quotes", "/", false, DeleteBucket),
            ("GET", "quotes", "/?prefix=N&marker=Ned&max-keys=40", false, ListObjects),
            ("GET", "quotes", "/?list-type=2&max-keys=1", false, ListObjectsV2),
            (
                "GET",
                "bucket",
                "/?list-type=2&continuation-token=1ueGcxLPRx1Tr%2FXYExHnhbYLgveDs2J%2FwmQ%3D",
                false,
                ListObjectsV2,
            ),
            ("GET", "bucket", "/?versions&key-marker=key2", false, ListObjectVersions),
            ("GET", "examplebucket", "/?uploads&max-uploads=3", false, ListMultipartUploads),
            ("GET", "examplebucket", "/?location", false, GetBucketLocation),
            ("GET", "examplebucket", "/?versioning", false, GetBucketVersioning),
            ("PUT", "bucket", "/?versioning", false, PutBucketVersioning),
            ("GET", "examplebucket", "/?acl", false, GetBucketAcl),
            ("PUT", "examplebucket", "/?acl", false, PutBucketAcl),
            ("GET", "examplebucket", "/?cors", false, GetBucketCors),
            ("PUT", "examplebucket", "/?cors", false, PutBucketCors),
            ("DELETE", "examplebucket", "/?cors", false, DeleteBucketCors),
            ("GET", "examplebucket", "/?lifecycle", false, GetBucketLifecycleConfiguration),
            ("PUT", "examplebucket", "/?lifecycle", false, PutBucketLifecycleConfiguration),
            ("DELETE", "examplebucket", "/?lifecycle", false, DeleteBucketLifecycle),
            ("GET", "examplebucket", "/?policy", false, GetBucketPolicy),
            ("PUT", "examplebucket", "/?policy", false, PutBucketPolicy),
            ("DELETE", "examplebucket", "/?policy", false, DeleteBucketPolicy),
            ("GET", "examplebucket", "/?policyStatus", false, GetBucketPolicyStatus),
            ("GET", "examplebucket", "/?tagging", false, GetBucketTagging),
            ("PUT", "examplebucket", "/?tagging", false, PutBucketTagging),
            ("DELETE", "examplebucket", "/?tagging", false, DeleteBucketTagging),
            ("GET", "examplebucket", "/?encryption", false, GetBucketEncryption),
            ("PUT", "examplebucket", "/?encryption", false, PutBucketEncryption),
            ("DELETE", "examplebucket", "/?encryption", false, DeleteBucketEncryption),
            ("GET", "examplebucket", "/?website", false, GetBucketWebsite),
            ("GET", "examplebucket", "/?logging", false, GetBucketLogging),
            ("GET", "examplebucket", "/?notification", false, GetBucketNotificationConfiguration),
            ("GET", "examplebucket", "/?replication", false, GetBucketReplication),
            ("GET", "examplebucket", "/?requestPayment", false, GetBucketRequestPayment),
            ("GET", "examplebucket", "/?accelerate", false, GetBucketAccelerateConfiguration),
            ("GET", "examplebucket", "/?object-lock", false, GetObjectLockConfiguration),
            ("GET", "examplebucket", "/?ownershipControls", false, GetBucketOwnershipControls),
            ("GET", "examplebucket", "/?publicAccessBlock", false, GetPublicAccessBlock),
            ("GET", "examplebucket", "/?analytics&id=list1", false, GetBucketAnalyticsConfiguration),
            ("GET", "examplebucket", "/?analytics", false, ListBucketAnalyticsConfigurations),
            ("GET", "examplebucket", "/?inventory", false, ListBucketInventoryConfigurations),
            ("GET", "examplebucket", "/?metrics&id=Doc", false, GetBucketMetricsConfiguration),
            (
                "GET",
                "examplebucket",
                "/?intelligent-tiering",
                false,
                ListBucketIntelligentTieringConfigurations,
            ),
            ("POST", "examplebucket", "/?delete", false, DeleteObjects),
            ("POST", "examplebucket", "/", false, PostObject),
            ("OPTIONS", "examplebucket", "/", false, OptionsObject),
            ("OPTIONS", "examplebucket", "/photo.jpg", false, OptionsObject),
            ("PUT", "my-bucket", "/my-image.jpg", false, PutObject),
            ("PUT", "examplebucket", "/my-second-image.jpg", true, CopyObject),
            ("GET", "bucket", "/my-image.jpg", false, GetObject),
            ("GET", "examplebucket", "/SampleFile.txt?partNumber=2", false, GetObject),
            (
                "GET",
                "bucket",
                "/Junk3.txt?response-cache-control=No-cache&response-content-type=text%2Fplain",
                false,
                GetObject,
            ),
            ("HEAD", "bucket", "/my-image.jpg", false, HeadObject),
            ("DELETE", "bucket", "/my-second-image.jpg", false, DeleteObject),
            ("GET", "bucket", "/my-image.jpg?acl", false, GetObjectAcl),
            ("PUT", "bucket", "/my-image.jpg?acl", false, PutObjectAcl),
            ("GET", "examplebucket", "/example-object?tagging", false, GetObjectTagging),
            ("PUT", "examplebucket", "/object-key?tagging", false, PutObjectTagging),
            ("DELETE", "examplebucket", "/photo.jpg?tagging", false, DeleteObjectTagging),
            ("GET", "examplebucket", "/quotes/Nelson?torrent", false, GetObjectTorrent),
            ("GET", "examplebucket", "/key?retention", false, GetObjectRetention),
            ("PUT", "examplebucket", "/key?legal-hold", false, PutObjectLegalHold),
            ("GET", "examplebucket", "/key?attributes", false, GetObjectAttributes),
            ("POST", "examplebucket", "/archivedobject?restore", false, RestoreObject),
            ("POST", "examplebucket", "/key?select&select-type=2", false, SelectObjectContent),
            ("POST", "example-bucket", "/example-object?uploads", false, CreateMultipartUpload),
            (
                "PUT",
                "example-bucket",
                "/example-object?partNumber=1&uploadId=VCVsb2FkIElEIGZvciBlbZZpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZR",
                false,
                UploadPart,
            ),
            (
                "PUT",
                "example-bucket",
                "/example-object?partNumber=1&uploadId=VXBsb2FkIElEIGZvciBlbHZpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA",
                true,
                UploadPartCopy,
            ),
            (
                "POST",
                "example-bucket",
                "/example-object?uploadId=AAAsb2FkIElEIGZvciBlbHZpbmcncyWeeS1tb3ZpZS5tMnRzIRRwbG9hZA",
                false,
                CompleteMultipartUpload,
            ),
            (
                "DELETE",
                "example-bucket",
                "/example-object?uploadId=VXBsb2FkIElEIGZvciBlbHZpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZ",
                false,
                AbortMultipartUpload,
            ),
            (
                "GET",
                "example-bucket",
                "/example-object?uploadId=XXBsb2FkIElEIGZvciBlbHZpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA&max-parts=2&part-number-marker=1",
                false,
                ListParts,
            ),
            // keys with slashes, dots, encoded and non-ASCII characters
            ("GET", "my.dotted.bucket", "/a/b/c.txt", false, GetObject),
            ("PUT", "bucket", "/dir%2Fwith%20space/%C3%BC+%25", false, PutObject),
        ];
        for (method, bucket, pq, copy, want) in table {
            assert_eq!(
                route_both(method, bucket, pq, *copy),
                *want,
                "{method} {bucket} {pq}"
            );
        }
        // every endpoint appears in the table
        for ep in Endpoint::ALL {
            if ![
                PutBucketWebsite,
                DeleteBucketWebsite,
                PutBucketLogging,
                PutBucketNotificationConfiguration,
                PutBucketReplication,
                DeleteBucketReplication,
                PutBucketRequestPayment,
                PutBucketAccelerateConfiguration,
                PutObjectLockConfiguration,
                PutBucketOwnershipControls,
                DeleteBucketOwnershipControls,
                PutPublicAccessBlock,
                DeletePublicAccessBlock,
                PutBucketAnalyticsConfiguration,
                DeleteBucketAnalyticsConfiguration,
                GetBucketInventoryConfiguration,
                PutBucketInventoryConfiguration,
                DeleteBucketInventoryConfiguration,
                ListBucketMetricsConfigurations,
                PutBucketMetricsConfiguration,
                DeleteBucketMetricsConfiguration,
                GetBucketIntelligentTieringConfiguration,
                PutBucketIntelligentTieringConfiguration,
                DeleteBucketIntelligentTieringConfiguration,
                PutObjectRetention,
                GetObjectLegalHold,
            ]
            .contains(ep)
            {
                assert!(table.iter().any(|r| r.4 == *ep), "{ep:?} has no example");
            }
        }
    }

    #[test]
    fn methods_without_an_operation_are_refused() {
        let q = Query::parse("");
        let h = HeaderMap::new();
        for (m, b, k) in [
            (Method::PUT, None, None),
            (Method::PATCH, Some("b"), None),
            (Method::PATCH, Some("b"), Some("k")),
        ] {
            let e = route(&m, b, k, &q, &h).unwrap_err();
            assert_eq!(e.code, S3ErrorCode::MethodNotAllowed);
        }
        let e = route(
            &Method::DELETE,
            Some("b"),
            None,
            &Query::parse("location"),
            &h,
        )
        .unwrap_err();
        assert_eq!(e.code, S3ErrorCode::MethodNotAllowed);
    }

    #[test]
    fn names_are_the_aws_names_and_unsupported_ones_are_known() {
        assert_eq!(ListObjectsV2.name(), "ListObjectsV2");
        assert_eq!(CompleteMultipartUpload.name(), "CompleteMultipartUpload");
        assert!(!PutBucketPolicy.is_supported());
        assert!(GetObject.is_supported());
    }

    #[test]
    fn query_parsing_decodes_once() {
        let q = Query::parse("prefix=a%2Fb+c%2520&acl&max-keys=");
        assert_eq!(q.get("prefix"), Some("a/b c%20"));
        assert!(q.has("acl"));
        assert_eq!(q.get("acl"), Some(""));
        assert_eq!(q.get("max-keys"), Some(""));
        assert_eq!(q.get("missing"), None);
    }

    /// Bytes that are not UTF-8 keep their exact value for the signer
    /// (which re-encodes them) while the router reads the lossy text.
    #[test]
    fn query_keeps_exact_bytes_that_are_not_utf8() {
        let q = Query::parse("k=%FF%41&%FEn=v&plain=a+b");
        assert_eq!(q.get_bytes(b"k"), Some(&b"\xffA"[..]));
        assert_eq!(q.get("k"), Some("\u{fffd}A"));
        assert_eq!(q.get_bytes(b"\xfen"), Some(&b"v"[..]));
        assert_eq!(q.get("plain"), Some("a b"));
        assert_eq!(
            crate::auth::sigv4::canonical_query(&q, None),
            "%FEn=v&k=%FFA&plain=a%20b"
        );
    }
}
