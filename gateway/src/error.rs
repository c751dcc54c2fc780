//! The ONE S3 error table: every error the gateway answers, its wire code
//! and HTTP status (AWS S3 API reference, "Error responses" / "List of error
//! codes"). Everything that fails on the way (addressing, routing,
//! signatures, bodies, backends) ends as an [`S3Error`]; internal detail goes
//! to the log, never into `<Message>`.

use std::fmt;

/// Defines [`S3ErrorCode`] with its wire name, HTTP status and the default
/// message S3 sends, from one table.
macro_rules! s3_error_codes {
    ($( $variant:ident => $status:literal, $msg:literal; )*) => {
        /// An S3 error code (the `<Code>` of an error document).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum S3ErrorCode { $( $variant, )* }

        impl S3ErrorCode {
            /// The wire name, exactly as S3 spells it.
            pub fn as_str(self) -> &'static str {
                match self { $( Self::$variant => stringify!($variant), )* }
            }
            /// The HTTP status S3 answers with.
            pub fn status(self) -> u16 {
                match self { $( Self::$variant => $status, )* }
            }
            /// S3's default `<Message>` for the code.
            pub fn default_message(self) -> &'static str {
                match self { $( Self::$variant => $msg, )* }
            }
            /// Every code, for table tests.
            pub const ALL: &'static [S3ErrorCode] = &[ $( Self::$variant, )* ];
        }
    };
}

s3_error_codes! {
    AccessDenied => 403, "Access Denied";
    AccessForbidden => 403, "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.";
    AuthorizationHeaderMalformed => 400, "The authorization header is malformed.";
    AuthorizationQueryParametersError => 400, "Error parsing the X-Amz-Credential parameter.";
    BadDigest => 400, "The Content-MD5 or checksum you specified did not match what we received.";
    BadRequest => 400, "An error occurred when parsing the HTTP request.";
    BucketAlreadyExists => 409, "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again.";
    BucketAlreadyOwnedByYou => 409, "Your previous request to create the named bucket succeeded and you already own it.";
    BucketNotEmpty => 409, "The bucket you tried to delete is not empty.";
    ConditionalRequestConflict => 409, "A conflicting operation occurred. If using PutObject you can retry the request. If using multipart upload you should initiate another CreateMultipartUpload request and re-upload each part.";
    EntityTooLarge => 400, "Your proposed upload exceeds the maximum allowed object size.";
    EntityTooSmall => 400, "Your proposed upload is smaller than the minimum allowed object size.";
    ExpiredToken => 400, "The provided token has expired.";
    IllegalLocationConstraintException => 400, "The unspecified location constraint is incompatible for the region specific endpoint this request was sent to.";
    IncompleteBody => 400, "You did not provide the number of bytes specified by the Content-Length HTTP header.";
    InternalError => 500, "We encountered an internal error. Please try again.";
    InvalidAccessKeyId => 403, "The AWS Access Key Id you provided does not exist in our records.";
    InvalidArgument => 400, "Invalid Argument";
    InvalidBucketName => 400, "The specified bucket is not valid.";
    InvalidBucketState => 409, "The request is not valid with the current state of the bucket.";
    InvalidDigest => 400, "The Content-MD5 you specified is not valid.";
    InvalidLocationConstraint => 400, "The specified location constraint is not valid.";
    InvalidPart => 400, "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.";
    InvalidPartNumber => 400, "The requested partnumber is not satisfiable";
    InvalidPartOrder => 400, "The list of parts was not in ascending order. Parts must be ordered by part number.";
    InvalidPolicyDocument => 400, "The content of the form does not meet the conditions specified in the policy document.";
    InvalidRange => 416, "The requested range is not satisfiable";
    InvalidRequest => 400, "Invalid Request";
    InvalidTag => 400, "The tag provided was not a valid tag.";
    InvalidStorageClass => 400, "The storage class you specified is not valid";
    InvalidToken => 400, "The provided token is malformed or otherwise invalid.";
    InvalidURI => 400, "Couldn't parse the specified URI.";
    KeyTooLongError => 400, "Your key is too long";
    MalformedACLError => 400, "The XML you provided was not well-formed or did not validate against our published schema.";
    MalformedPOSTRequest => 400, "The body of your POST request is not well-formed multipart/form-data.";
    MalformedXML => 400, "The XML you provided was not well-formed or did not validate against our published schema.";
    MaxMessageLengthExceeded => 400, "Your request was too big.";
    MaxPostPreDataLengthExceededError => 400, "Your POST request fields preceding the upload file were too large.";
    MetadataTooLarge => 400, "Your metadata headers exceed the maximum allowed metadata size.";
    MethodNotAllowed => 405, "The specified method is not allowed against this resource.";
    MissingContentLength => 411, "You must provide the Content-Length HTTP header.";
    MissingRequestBodyError => 400, "Request Body is empty";
    MissingSecurityHeader => 400, "Your request is missing a required header.";
    NoSuchBucket => 404, "The specified bucket does not exist";
    NoSuchBucketPolicy => 404, "The bucket policy does not exist";
    NoSuchCORSConfiguration => 404, "The CORS configuration does not exist";
    NoSuchKey => 404, "The specified key does not exist.";
    NoSuchLifecycleConfiguration => 404, "The lifecycle configuration does not exist";
    NoSuchTagSet => 404, "The TagSet does not exist";
    NoSuchUpload => 404, "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.";
    NoSuchVersion => 404, "The specified version does not exist.";
    NotImplemented => 501, "A header you provided implies functionality that is not implemented";
    NotModified => 304, "Not Modified";
    PreconditionFailed => 412, "At least one of the pre-conditions you specified did not hold";
    RequestHeaderSectionTooLarge => 400, "Your request header section exceeds the maximum allowed size.";
    RequestTimeTooSkewed => 403, "The difference between the request time and the server's time is too large.";
    RequestTimeout => 400, "Your socket connection to the server was not read from or written to within the timeout period.";
    ServerSideEncryptionConfigurationNotFoundError => 404, "The server side encryption configuration was not found";
    ServiceUnavailable => 503, "Please reduce your request rate.";
    SignatureDoesNotMatch => 403, "The request signature we calculated does not match the signature you provided. Check your key and signing method.";
    SlowDown => 503, "Please reduce your request rate.";
    UnexpectedContent => 400, "This request does not support content";
    XAmzContentSHA256Mismatch => 400, "The provided 'x-amz-content-sha256' header does not match what was computed.";
}

/// An S3 error answer: a code, a client-safe message, and extra elements S3
/// adds for some codes (e.g. `<ActualObjectSize>` for InvalidRange, or
/// `<StringToSign>` when signature debugging is switched on).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Error {
    pub code: S3ErrorCode,
    /// Shown to the client. Never internal detail.
    pub message: String,
    /// Extra `<Name>value</Name>` elements of the error document.
    pub extra: Vec<(&'static str, String)>,
    /// A status other than the code's usual one, where S3 answers so
    /// (UploadPartCopy's InvalidRange is 400, not 416).
    pub status_override: Option<u16>,
    /// Response headers the error answer carries too (the CORS headers of
    /// the bucket's matching rule, as S3 sends them on errors).
    pub headers: Vec<(&'static str, String)>,
}

impl S3Error {
    pub fn new(code: S3ErrorCode) -> Self {
        S3Error {
            code,
            message: code.default_message().to_owned(),
            extra: Vec::new(),
            status_override: None,
            headers: Vec::new(),
        }
    }
    pub fn with_message(code: S3ErrorCode, message: impl Into<String>) -> Self {
        S3Error {
            code,
            message: message.into(),
            extra: Vec::new(),
            status_override: None,
            headers: Vec::new(),
        }
    }
    pub fn extra(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.extra.push((name, value.into()));
        self
    }
    pub fn with_status(mut self, status: u16) -> Self {
        self.status_override = Some(status);
        self
    }
    /// Adds response headers to the error answer.
    pub fn with_headers(mut self, headers: Vec<(&'static str, String)>) -> Self {
        self.headers.extend(headers);
        self
    }
    pub fn status(&self) -> u16 {
        self.status_override.unwrap_or_else(|| self.code.status())
    }
}

impl From<S3ErrorCode> for S3Error {
    fn from(code: S3ErrorCode) -> Self {
        S3Error::new(code)
    }
}

impl fmt::Display for S3Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl std::error::Error for S3Error {}

/// A spawned task that failed (panicked or was cancelled): the detail goes
/// to the log, the client gets a generic 500 InternalError.
pub fn task_failed(e: tokio::task::JoinError) -> S3Error {
    tracing::warn!(error = %e, "request task failed");
    S3Error::new(S3ErrorCode::InternalError)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_are_the_variant_names_and_statuses_are_http() {
        assert_eq!(S3ErrorCode::NoSuchKey.as_str(), "NoSuchKey");
        assert_eq!(S3ErrorCode::InvalidRange.status(), 416);
        assert_eq!(
            S3ErrorCode::XAmzContentSHA256Mismatch.as_str(),
            "XAmzContentSHA256Mismatch"
        );
        for c in S3ErrorCode::ALL {
            assert!((300..600).contains(&c.status()), "{c:?}");
        }
    }

    /// A task's JoinError text (a panic message) never reaches the client.
    #[tokio::test]
    async fn a_failed_task_is_a_generic_internal_error() {
        let joined = tokio::spawn(async {
            if true {
                panic!("internal detail /secret/path");
            }
        })
        .await;
        let e = task_failed(joined.unwrap_err());
        assert_eq!(e.code, S3ErrorCode::InternalError);
        assert_eq!(e.message, S3ErrorCode::InternalError.default_message());
        assert!(e.extra.is_empty());
    }
}
