//! Handlers: one match over [`Endpoint`] whose arms call one function each;
//! each function reads the request's S3 parameters (parsed here, at the
//! edge, into the translator's types), calls the [`Backend`] and shapes the
//! S3 answer. Backend failures go through ONE mapping function,
//! [`backend_error`], onto the error table.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use actix_web::body::SizedStream;
use actix_web::http::header::HeaderMap;
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpResponse, HttpResponseBuilder};
use base64::Engine;
use bytes::Bytes;
use futures_util::StreamExt;
use s3gw_translator::*;

use crate::auth::Authenticated;
use crate::body;
use crate::config::{Config, Limits};
use crate::error::{S3Error, S3ErrorCode};
use crate::router::{Endpoint, Query};
use crate::xml::{self, NS};

mod access;
mod acl;
mod bucket;
mod bucket_config;
mod cors;
pub(crate) mod list;
mod multipart;
mod object;
mod post;
mod tagging;
#[cfg(test)]
mod tests;

pub use bucket_config::BucketConfigCache;
pub use object::{copy_source, object_meta, parse_range, read_conditions, write_condition};

/// Everything a handler gets: the routed, authenticated request.
pub struct S3Request {
    pub endpoint: Endpoint,
    pub method: Method,
    pub bucket: Option<BucketName>,
    pub key: Option<ObjectKey>,
    pub query: Query,
    pub headers: HeaderMap,
    /// The verified signature; `None` for an unsigned request, whose
    /// `cx.tenant` (the bucket owner's account) is set by
    /// [`Handlers::admit_anonymous`] before dispatch.
    pub auth: Option<Authenticated>,
    pub cx: RequestContext,
    /// The request body as received (not yet verified), when there is one.
    pub body: Option<ByteStream>,
    /// `scheme://host` as the client addressed us, for `<Location>`.
    pub origin: String,
}

/// Process-wide handler state.
pub struct Handlers {
    pub backend: Arc<dyn Backend>,
    pub config: Arc<Config>,
    /// Bucket-configuration records, cached for this instance.
    pub bucket_configs: BucketConfigCache,
    /// The public-name registry, cached for this instance (access.rs).
    pub public_names: access::PublicRegistry,
    /// The access keys, for signatures carried in a request body (POST
    /// forms, post.rs); `None` where nothing signs that way (unit tests).
    pub keys: Option<s3gw_auth_cache::KeyCache>,
}

impl Handlers {
    pub fn new(backend: Arc<dyn Backend>, config: Arc<Config>) -> Handlers {
        let ttl = config.server.bucket_config_cache;
        let operator = match &config.backend {
            Some(b) => b.operator_login.clone(),
            None => crate::embedded::OPERATOR_LOGIN.to_owned(),
        };
        Handlers {
            backend,
            config,
            bucket_configs: BucketConfigCache::new(ttl),
            public_names: access::PublicRegistry::new(ttl, operator),
            keys: None,
        }
    }

    /// With the key cache that POST form signatures are checked against.
    pub fn with_keys(mut self, keys: s3gw_auth_cache::KeyCache) -> Handlers {
        self.keys = Some(keys);
        self
    }
}

type HResult = Result<HttpResponse, S3Error>;

/// The ONE mapping of backend failures onto the S3 error table. Internal
/// detail is logged here and never reaches the client.
pub fn backend_error(e: BackendError) -> S3Error {
    use BackendError as B;
    use S3ErrorCode as C;
    match e {
        B::NoSuchBucket => C::NoSuchBucket.into(),
        B::NoSuchKey => C::NoSuchKey.into(),
        B::NoSuchUpload => C::NoSuchUpload.into(),
        B::BucketAlreadyExists => C::BucketAlreadyExists.into(),
        B::BucketAlreadyOwnedByYou => C::BucketAlreadyOwnedByYou.into(),
        B::BucketNotEmpty => C::BucketNotEmpty.into(),
        B::InvalidBucketName => C::InvalidBucketName.into(),
        B::KeyTooLongError => C::KeyTooLongError.into(),
        B::PreconditionFailed => S3Error::new(C::PreconditionFailed).extra("Condition", "If-Match"),
        B::NotModified { .. } => C::NotModified.into(),
        B::InvalidRange { size } => {
            S3Error::new(C::InvalidRange).extra("ActualObjectSize", size.to_string())
        }
        B::InvalidPart => C::InvalidPart.into(),
        B::InvalidPartNumber => C::InvalidPartNumber.into(),
        B::InvalidPartOrder => C::InvalidPartOrder.into(),
        B::EntityTooSmall => C::EntityTooSmall.into(),
        B::EntityTooLarge => C::EntityTooLarge.into(),
        B::MetadataTooLarge => C::MetadataTooLarge.into(),
        B::BadDigest => C::BadDigest.into(),
        B::InvalidArgument(m) => S3Error::with_message(C::InvalidArgument, m),
        B::InvalidRequest(m) => S3Error::with_message(C::InvalidRequest, m),
        B::ConditionalRequestConflict => C::ConditionalRequestConflict.into(),
        B::NotImplemented(op) => not_implemented(op),
        B::AccessDenied => C::AccessDenied.into(),
        B::SlowDown => C::SlowDown.into(),
        B::RequestTimeout => C::RequestTimeout.into(),
        B::ServiceUnavailable(detail) => {
            tracing::warn!(%detail, "store unavailable");
            C::ServiceUnavailable.into()
        }
        B::Internal(detail) => {
            tracing::warn!(%detail, "backend internal error");
            C::InternalError.into()
        }
        // The body stream failed: either one of our verifiers (its S3Error
        // travels boxed through the backend) or the client went away.
        B::Body(err) => match err.downcast::<S3Error>() {
            Ok(e) => *e,
            Err(other) => {
                tracing::debug!(error = %other, "request body failed");
                C::IncompleteBody.into()
            }
        },
    }
}

/// A copy whose `x-amz-copy-source-if-none-match` / `-if-modified-since`
/// condition fails is 412 in S3, not the 304 a conditional GET gets.
fn copy_error(e: BackendError) -> S3Error {
    match e {
        BackendError::NotModified { .. } => backend_error(BackendError::PreconditionFailed),
        e => backend_error(e),
    }
}

/// 501 naming the operation.
pub fn not_implemented(op: &str) -> S3Error {
    S3Error::with_message(
        S3ErrorCode::NotImplemented,
        format!("{op} is not implemented by this endpoint."),
    )
}

impl Handlers {
    /// A request, with the server-side-encryption headers decided first
    /// (bucket_config.rs `encryption`) and, when the store is declared to
    /// encrypt at rest, `x-amz-server-side-encryption` on every object
    /// write and read answered.
    pub async fn handle(&self, mut r: S3Request) -> HResult {
        let fallback = if r.auth.is_none() {
            self.admit_anonymous(&mut r).await?;
            None
        } else {
            self.admit_signed(&mut r).await?
        };
        // CORS headers of the bucket's matching rule, on the answer
        // whether it succeeds or fails (cors.rs).
        let cors = self.actual_request_cors(&r).await;
        match self.handle_admitted(r, fallback).await {
            Ok(mut resp) => {
                cors::set_headers(&mut resp, &cors);
                Ok(resp)
            }
            Err(e) => Err(e.with_headers(cors)),
        }
    }

    async fn handle_admitted(
        &self,
        r: S3Request,
        fallback: Option<access::ForeignFallback>,
    ) -> HResult {
        let echo_sse = self.check_encryption(&r)?;
        let res = self.dispatch(r).await;
        let mut resp = self.foreign_fallback(res, fallback).await?;
        if echo_sse && resp.status().is_success() {
            resp.headers_mut().insert(
                actix_web::http::header::HeaderName::from_static("x-amz-server-side-encryption"),
                actix_web::http::header::HeaderValue::from_static("AES256"),
            );
        }
        Ok(resp)
    }

    /// THE dispatch: one-line arms.
    async fn dispatch(&self, r: S3Request) -> HResult {
        use Endpoint::*;
        match r.endpoint {
            ListBuckets => self.list_buckets(r).await,
            CreateBucket => self.create_bucket(r).await,
            HeadBucket => self.head_bucket(r).await,
            DeleteBucket => self.delete_bucket(r).await,
            ListObjects => self.list_objects_v1(r).await,
            ListObjectsV2 => self.list_objects_v2(r).await,
            ListObjectVersions => self.list_object_versions(r).await,
            ListMultipartUploads => self.list_multipart_uploads(r).await,
            GetBucketLocation => self.get_bucket_location(r).await,
            GetBucketVersioning => self.get_bucket_versioning(r).await,
            PutBucketVersioning => self.put_bucket_versioning(r).await,
            GetBucketAcl => self.get_bucket_acl(r).await,
            PutBucketAcl | PutObjectAcl => self.put_acl(r).await,
            GetObjectAcl => self.get_object_acl(r).await,
            GetBucketCors => self.get_bucket_cors(r).await,
            PutBucketCors => self.put_bucket_cors(r).await,
            DeleteBucketCors => self.delete_bucket_cors(r).await,
            OptionsObject => self.options_object(r).await,
            PostObject => self.post_object(r).await,
            GetBucketPolicyStatus => self.get_bucket_policy_status(r).await,
            GetBucketTagging => self.get_bucket_tagging(r).await,
            PutBucketTagging => self.put_bucket_tagging(r).await,
            DeleteBucketTagging => self.delete_bucket_tagging(r).await,
            GetObjectTagging => self.get_object_tagging(r).await,
            PutObjectTagging => self.put_object_tagging(r).await,
            DeleteObjectTagging => self.delete_object_tagging(r).await,
            GetBucketLifecycleConfiguration => {
                self.unconfigured(r, S3ErrorCode::NoSuchLifecycleConfiguration)
                    .await
            }
            GetBucketPolicy => self.unconfigured(r, S3ErrorCode::NoSuchBucketPolicy).await,
            GetBucketEncryption => self.get_bucket_encryption(r).await,
            DeleteBucketLifecycle | DeleteBucketPolicy | DeleteBucketEncryption => {
                self.delete_unconfigured(r).await
            }
            DeleteObjects => self.delete_objects(r).await,
            PutObject => self.put_object(r).await,
            CopyObject => self.copy_object(r).await,
            GetObject => self.get_object(r).await,
            HeadObject => self.head_object(r).await,
            DeleteObject => self.delete_object(r).await,
            CreateMultipartUpload => self.create_multipart_upload(r).await,
            UploadPart => self.upload_part(r).await,
            UploadPartCopy => self.upload_part_copy(r).await,
            CompleteMultipartUpload => self.complete_multipart_upload(r).await,
            AbortMultipartUpload => self.abort_multipart_upload(r).await,
            ListParts => self.list_parts(r).await,
            other => Err(not_implemented(other.name())),
        }
    }

    fn limits(&self) -> &Limits {
        &self.config.limits
    }

    // ------------------------------------------------------------ bodies

    /// The verified body of a write (H3a's verifier: digests, chunk
    /// signatures, checksums; the last bytes held back until verified).
    fn body(&self, r: &mut S3Request, max_size: u64) -> Result<Body, S3Error> {
        let raw = r
            .body
            .take()
            .unwrap_or_else(|| Box::pin(futures_util::stream::empty()));
        body::verified_body(
            raw,
            r.auth.as_ref(),
            &r.headers,
            &self.limits().body_limits(max_size),
        )
    }

    /// A small XML request body, verified and read whole up to
    /// `max_xml_body_bytes` (MaxMessageLengthExceeded beyond).
    async fn read_xml_body(&self, r: &mut S3Request) -> Result<Vec<u8>, S3Error> {
        let max = self.limits().max_xml_body_bytes;
        // The verifier's size limit speaks of objects; for a request
        // document the same excess is MaxMessageLengthExceeded.
        let too_long = |e: S3Error| match e.code {
            S3ErrorCode::EntityTooLarge => S3Error::new(S3ErrorCode::MaxMessageLengthExceeded),
            _ => e,
        };
        let b = self.body(r, max as u64).map_err(too_long)?;
        if b.length.is_some_and(|l| l > max as u64) {
            return Err(S3ErrorCode::MaxMessageLengthExceeded.into());
        }
        let mut stream = b.stream;
        let mut out = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| too_long(backend_error(BackendError::Body(e))))?;
            if out.len() + chunk.len() > max {
                return Err(S3ErrorCode::MaxMessageLengthExceeded.into());
            }
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }
}

// ---------------------------------------------------------------- helpers

/// Characters kept as-is in a key inside a URL (`<Location>`).
const KEY_IN_URL: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

fn header<'h>(h: &'h HeaderMap, name: &str) -> Option<&'h str> {
    h.get(name).and_then(|v| v.to_str().ok()).map(str::trim)
}

fn bucket(r: &S3Request) -> Result<BucketName, S3Error> {
    r.bucket
        .clone()
        .ok_or_else(|| S3ErrorCode::InvalidBucketName.into())
}

fn key(r: &S3Request) -> Result<ObjectKey, S3Error> {
    r.key
        .clone()
        .ok_or_else(|| S3ErrorCode::InvalidArgument.into())
}

fn owner(r: &S3Request) -> xml::Owner {
    xml::Owner {
        id: r.cx.tenant.uuid.clone(),
        display_name: r.cx.tenant.login.clone(),
    }
}

fn xml_ok(body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/xml")
        .body(body)
}

/// The canned ACL of a request (`x-amz-acl`; `None` when absent). Grants
/// to other ids (`x-amz-grant-*`) are not served; an unknown value is
/// InvalidArgument, as S3 answers.
fn check_canned_acl(h: &HeaderMap) -> Result<Option<CannedAcl>, S3Error> {
    acl::canned_acl(h)
}
