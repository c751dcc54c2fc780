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

/// Everything a handler gets: the routed, authenticated request.
pub struct S3Request {
    pub endpoint: Endpoint,
    pub method: Method,
    pub bucket: Option<BucketName>,
    pub key: Option<ObjectKey>,
    pub query: Query,
    pub headers: HeaderMap,
    pub auth: Authenticated,
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
    /// THE dispatch: one-line arms.
    pub async fn handle(&self, r: S3Request) -> HResult {
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
            GetBucketCors => {
                self.unconfigured(r, S3ErrorCode::NoSuchCORSConfiguration)
                    .await
            }
            GetBucketLifecycleConfiguration => {
                self.unconfigured(r, S3ErrorCode::NoSuchLifecycleConfiguration)
                    .await
            }
            GetBucketPolicy => self.unconfigured(r, S3ErrorCode::NoSuchBucketPolicy).await,
            GetBucketTagging => self.unconfigured(r, S3ErrorCode::NoSuchTagSet).await,
            GetBucketEncryption => {
                self.unconfigured(
                    r,
                    S3ErrorCode::ServerSideEncryptionConfigurationNotFoundError,
                )
                .await
            }
            DeleteBucketCors
            | DeleteBucketLifecycle
            | DeleteBucketPolicy
            | DeleteBucketTagging
            | DeleteBucketEncryption => self.delete_unconfigured(r).await,
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

    // ------------------------------------------------------------ buckets

    async fn list_buckets(&self, r: S3Request) -> HResult {
        let out = self
            .backend
            .list_buckets(&r.cx)
            .await
            .map_err(backend_error)?;
        let doc = xml::ListAllMyBucketsResult {
            xmlns: NS,
            owner: owner(&r),
            buckets: xml::Buckets {
                bucket: out
                    .buckets
                    .into_iter()
                    .map(|b| xml::BucketEntry {
                        name: b.name,
                        creation_date: xml::iso8601(b.created),
                    })
                    .collect(),
            },
        };
        Ok(xml_ok(xml::to_xml("ListAllMyBucketsResult", &doc)))
    }

    async fn create_bucket(&self, mut r: S3Request) -> HResult {
        let bucket = bucket(&r)?;
        check_canned_acl(&r.headers)?;
        // A CreateBucketConfiguration names a region. s3gw has one region
        // but accepts any name: CLIs send their profile's region, and
        // refusing it would break `aws s3 mb` for most users.
        let body = self.read_xml_body(&mut r).await?;
        if !body.is_empty() {
            let _: xml::CreateBucketConfiguration = xml::parse(&body)?;
        }
        self.backend
            .create_bucket(&r.cx, &bucket)
            .await
            .map_err(backend_error)?;
        Ok(HttpResponse::Ok()
            .insert_header(("Location", format!("/{bucket}")))
            .finish())
    }

    async fn head_bucket(&self, r: S3Request) -> HResult {
        let bucket = bucket(&r)?;
        self.backend
            .head_bucket(&r.cx, &bucket)
            .await
            .map_err(backend_error)?;
        Ok(HttpResponse::Ok()
            .insert_header(("x-amz-bucket-region", self.config.server.region.as_str()))
            .finish())
    }

    async fn delete_bucket(&self, r: S3Request) -> HResult {
        let bucket = bucket(&r)?;
        self.backend
            .delete_bucket(&r.cx, &bucket)
            .await
            .map_err(backend_error)?;
        Ok(HttpResponse::NoContent().finish())
    }

    async fn get_bucket_location(&self, r: S3Request) -> HResult {
        let bucket = bucket(&r)?;
        self.backend
            .head_bucket(&r.cx, &bucket)
            .await
            .map_err(backend_error)?;
        // S3 reports us-east-1 as an empty constraint.
        let region = match self.config.server.region.as_str() {
            "us-east-1" => String::new(),
            other => other.to_owned(),
        };
        let doc = xml::LocationConstraint { xmlns: NS, region };
        Ok(xml_ok(xml::to_xml("LocationConstraint", &doc)))
    }

    async fn get_bucket_versioning(&self, r: S3Request) -> HResult {
        let bucket = bucket(&r)?;
        self.backend
            .head_bucket(&r.cx, &bucket)
            .await
            .map_err(backend_error)?;
        let doc = xml::VersioningConfiguration { xmlns: NS };
        Ok(xml_ok(xml::to_xml("VersioningConfiguration", &doc)))
    }

    /// Versioning never enabled: `Suspended` is what the bucket already is,
    /// `Enabled` is not something the store can do.
    async fn put_bucket_versioning(&self, mut r: S3Request) -> HResult {
        let bucket = bucket(&r)?;
        let body = self.read_xml_body(&mut r).await?;
        let v: xml::VersioningConfigurationIn = xml::parse(&body)?;
        self.backend
            .head_bucket(&r.cx, &bucket)
            .await
            .map_err(backend_error)?;
        match v.status.as_deref() {
            Some("Suspended") | None => Ok(HttpResponse::Ok().finish()),
            Some("Enabled") => Err(not_implemented("PutBucketVersioning (Enabled)")),
            Some(_) => Err(S3ErrorCode::MalformedXML.into()),
        }
    }

    async fn get_bucket_acl(&self, r: S3Request) -> HResult {
        let bucket = bucket(&r)?;
        self.backend
            .head_bucket(&r.cx, &bucket)
            .await
            .map_err(backend_error)?;
        Ok(xml_ok(xml::private_acl(
            &r.cx.tenant.uuid,
            &r.cx.tenant.login,
        )))
    }

    async fn get_object_acl(&self, r: S3Request) -> HResult {
        let input = GetObjectInput {
            bucket: bucket(&r)?,
            key: key(&r)?,
            range: None,
            part_number: None,
            conditions: ReadConditions::default(),
            checksum_mode: false,
        };
        self.backend
            .head_object(&r.cx, input)
            .await
            .map_err(backend_error)?;
        Ok(xml_ok(xml::private_acl(
            &r.cx.tenant.uuid,
            &r.cx.tenant.login,
        )))
    }

    /// Only the canned `private` ACL exists (the store has no ACLs): it is
    /// accepted as a no-op; grants and other canned ACLs are not.
    async fn put_acl(&self, mut r: S3Request) -> HResult {
        let bucket = bucket(&r)?;
        let grants = r
            .headers
            .keys()
            .any(|k| k.as_str().starts_with("x-amz-grant-"));
        let canned = r.headers.contains_key("x-amz-acl");
        let body = self.read_xml_body(&mut r).await?;
        if grants || !body.is_empty() || !canned {
            return Err(not_implemented(&format!(
                "{} with grants",
                r.endpoint.name()
            )));
        }
        check_canned_acl(&r.headers)?;
        match &r.key {
            None => self
                .backend
                .head_bucket(&r.cx, &bucket)
                .await
                .map_err(backend_error)?,
            Some(k) => {
                let input = GetObjectInput {
                    bucket,
                    key: k.clone(),
                    range: None,
                    part_number: None,
                    conditions: ReadConditions::default(),
                    checksum_mode: false,
                };
                self.backend
                    .head_object(&r.cx, input)
                    .await
                    .map_err(backend_error)?;
            }
        }
        Ok(HttpResponse::Ok().finish())
    }

    /// A bucket sub-resource that was never configured (and cannot be):
    /// S3's "no such configuration" answer for an existing bucket.
    async fn unconfigured(&self, r: S3Request, code: S3ErrorCode) -> HResult {
        let bucket = bucket(&r)?;
        self.backend
            .head_bucket(&r.cx, &bucket)
            .await
            .map_err(backend_error)?;
        Err(S3Error::new(code).extra("BucketName", bucket.as_str()))
    }

    /// Deleting a configuration that does not exist succeeds in S3.
    async fn delete_unconfigured(&self, r: S3Request) -> HResult {
        let bucket = bucket(&r)?;
        self.backend
            .head_bucket(&r.cx, &bucket)
            .await
            .map_err(backend_error)?;
        Ok(HttpResponse::NoContent().finish())
    }

    // ------------------------------------------------------------ listing

    async fn list_objects_v1(&self, r: S3Request) -> HResult {
        let q = &r.query;
        let enc = encoding_type(q)?;
        let marker = q.get("marker").unwrap_or("").to_owned();
        let input = self.list_input(&r, (!marker.is_empty()).then(|| marker.clone()))?;
        let max_keys = input.max_keys;
        let (prefix, delimiter) = (input.prefix.clone(), input.delimiter.clone());
        let out = self
            .backend
            .list_objects(&r.cx, input)
            .await
            .map_err(backend_error)?;
        let e = |s: String| if enc { xml::url_encode(&s) } else { s };
        let doc = xml::ListBucketResultV1 {
            xmlns: NS,
            name: bucket(&r)?.to_string(),
            prefix: e(prefix),
            marker: e(marker),
            next_marker: out
                .is_truncated
                .then_some(out.next_start_after.clone())
                .flatten()
                .map(e),
            max_keys,
            delimiter: delimiter.map(e),
            is_truncated: out.is_truncated,
            encoding_type: enc.then_some("url"),
            contents: contents(&r, out.objects, enc, true),
            common_prefixes: prefixes(out.common_prefixes, enc),
        };
        Ok(xml_ok(xml::to_xml("ListBucketResult", &doc)))
    }

    async fn list_objects_v2(&self, r: S3Request) -> HResult {
        let q = &r.query;
        let enc = encoding_type(q)?;
        let token = q.get("continuation-token").map(str::to_owned);
        let start_after = q
            .get("start-after")
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
        // The continuation token is opaque to clients: base64 of the key to
        // resume after. It wins over start-after, as in S3.
        let resume = match &token {
            Some(t) => Some(decode_token(t)?),
            None => start_after.clone(),
        };
        let fetch_owner = q.get("fetch-owner") == Some("true");
        let input = self.list_input(&r, resume)?;
        let max_keys = input.max_keys;
        let (prefix, delimiter) = (input.prefix.clone(), input.delimiter.clone());
        let out = self
            .backend
            .list_objects(&r.cx, input)
            .await
            .map_err(backend_error)?;
        let e = |s: String| if enc { xml::url_encode(&s) } else { s };
        let next = out
            .is_truncated
            .then(|| out.next_start_after.as_deref().map(encode_token))
            .flatten();
        let contents = contents(&r, out.objects, enc, fetch_owner);
        let common_prefixes = prefixes(out.common_prefixes, enc);
        let doc = xml::ListBucketResultV2 {
            xmlns: NS,
            name: bucket(&r)?.to_string(),
            prefix: e(prefix),
            max_keys,
            key_count: contents.len() + common_prefixes.len(),
            delimiter: delimiter.map(e),
            is_truncated: out.is_truncated,
            continuation_token: token,
            next_continuation_token: next,
            start_after: start_after.map(e),
            encoding_type: enc.then_some("url"),
            contents,
            common_prefixes,
        };
        Ok(xml_ok(xml::to_xml("ListBucketResult", &doc)))
    }

    /// Without versioning, each current object is its only version
    /// (VersionId `null`, IsLatest), as S3 lists an unversioned bucket.
    async fn list_object_versions(&self, r: S3Request) -> HResult {
        let q = &r.query;
        let enc = encoding_type(q)?;
        let key_marker = q.get("key-marker").unwrap_or("").to_owned();
        let input = self.list_input(&r, (!key_marker.is_empty()).then(|| key_marker.clone()))?;
        let max_keys = input.max_keys;
        let (prefix, delimiter) = (input.prefix.clone(), input.delimiter.clone());
        let out = self
            .backend
            .list_objects(&r.cx, input)
            .await
            .map_err(backend_error)?;
        let e = |s: String| if enc { xml::url_encode(&s) } else { s };
        let doc = xml::ListVersionsResult {
            xmlns: NS,
            name: bucket(&r)?.to_string(),
            prefix: e(prefix),
            key_marker: e(key_marker),
            version_id_marker: q.get("version-id-marker").unwrap_or("").to_owned(),
            next_key_marker: out
                .is_truncated
                .then_some(out.next_start_after.clone())
                .flatten()
                .map(e),
            next_version_id_marker: out.is_truncated.then_some("null"),
            max_keys,
            delimiter: delimiter.map(e),
            is_truncated: out.is_truncated,
            encoding_type: enc.then_some("url"),
            versions: out
                .objects
                .into_iter()
                .map(|o| xml::Version {
                    key: e(o.key),
                    version_id: "null",
                    is_latest: true,
                    last_modified: xml::iso8601(o.last_modified),
                    etag: o.etag.quoted(),
                    size: o.size,
                    owner: owner(&r),
                    storage_class: o.storage_class.as_str(),
                })
                .collect(),
            common_prefixes: prefixes(out.common_prefixes, enc),
        };
        Ok(xml_ok(xml::to_xml("ListVersionsResult", &doc)))
    }

    fn list_input(
        &self,
        r: &S3Request,
        start_after: Option<String>,
    ) -> Result<ListObjectsInput, S3Error> {
        let q = &r.query;
        Ok(ListObjectsInput {
            bucket: bucket(r)?,
            prefix: q.get("prefix").unwrap_or("").to_owned(),
            delimiter: q
                .get("delimiter")
                .filter(|d| !d.is_empty())
                .map(str::to_owned),
            start_after,
            max_keys: max_param(q, "max-keys")?,
        })
    }

    async fn list_multipart_uploads(&self, r: S3Request) -> HResult {
        let q = &r.query;
        let enc = encoding_type(q)?;
        let input = ListMultipartUploadsInput {
            bucket: bucket(&r)?,
            prefix: q.get("prefix").unwrap_or("").to_owned(),
            delimiter: q
                .get("delimiter")
                .filter(|d| !d.is_empty())
                .map(str::to_owned),
            key_marker: q
                .get("key-marker")
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
            upload_id_marker: q
                .get("upload-id-marker")
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
            max_uploads: max_param(q, "max-uploads")?,
        };
        let (prefix, delimiter, max) = (
            input.prefix.clone(),
            input.delimiter.clone(),
            input.max_uploads,
        );
        let (km, um) = (
            input.key_marker.clone().unwrap_or_default(),
            input.upload_id_marker.clone().unwrap_or_default(),
        );
        let out = self
            .backend
            .list_multipart_uploads(&r.cx, input)
            .await
            .map_err(backend_error)?;
        let e = |s: String| if enc { xml::url_encode(&s) } else { s };
        let doc = xml::ListMultipartUploadsResult {
            xmlns: NS,
            bucket: bucket(&r)?.to_string(),
            key_marker: e(km),
            upload_id_marker: um,
            next_key_marker: out.next_key_marker.map(e),
            next_upload_id_marker: out.next_upload_id_marker,
            prefix: e(prefix),
            delimiter: delimiter.map(e),
            max_uploads: max,
            is_truncated: out.is_truncated,
            encoding_type: enc.then_some("url"),
            uploads: out
                .uploads
                .into_iter()
                .map(|u| xml::Upload {
                    key: e(u.key),
                    upload_id: u.upload_id.to_string(),
                    initiator: owner(&r),
                    owner: owner(&r),
                    storage_class: u.storage_class.as_str(),
                    initiated: xml::iso8601(u.initiated),
                })
                .collect(),
            common_prefixes: prefixes(out.common_prefixes, enc),
        };
        Ok(xml_ok(xml::to_xml("ListMultipartUploadsResult", &doc)))
    }

    // ------------------------------------------------------------ objects

    async fn put_object(&self, mut r: S3Request) -> HResult {
        check_canned_acl(&r.headers)?;
        check_no_encryption(&r.headers)?;
        let meta = object_meta(&r.headers, self.limits())?;
        let condition = write_condition(&r.headers)?;
        let body = self.body(&mut r, self.limits().max_object_size)?;
        let input = PutObjectInput {
            bucket: bucket(&r)?,
            key: key(&r)?,
            body,
            meta,
            condition,
        };
        let out = self
            .backend
            .put_object(&r.cx, input)
            .await
            .map_err(backend_error)?;
        let mut resp = HttpResponse::Ok();
        resp.insert_header(("ETag", out.etag.quoted()));
        checksum_headers(&mut resp, out.checksum.as_ref());
        Ok(resp.finish())
    }

    async fn get_object(&self, r: S3Request) -> HResult {
        let input = read_input(&r)?;
        let part = input.part_number.is_some();
        let checksum_mode = input.checksum_mode;
        let out = match self.backend.get_object(&r.cx, input).await {
            Ok(o) => o,
            Err(BackendError::NotModified {
                etag,
                last_modified,
            }) => return Ok(not_modified(&etag, last_modified)),
            Err(e) => return Err(backend_error(e)),
        };
        let mut resp =
            object_response(&out.info, out.content_range, part, checksum_mode, &r.query)?;
        let body = out.body.map(|r| r.map_err(std::io::Error::other));
        Ok(resp.body(SizedStream::new(out.content_length, body)))
    }

    async fn head_object(&self, r: S3Request) -> HResult {
        let input = read_input(&r)?;
        let part = input.part_number.is_some();
        let checksum_mode = input.checksum_mode;
        let out = match self.backend.head_object(&r.cx, input).await {
            Ok(o) => o,
            Err(BackendError::NotModified {
                etag,
                last_modified,
            }) => return Ok(not_modified(&etag, last_modified)),
            Err(e) => return Err(backend_error(e)),
        };
        let mut resp =
            object_response(&out.info, out.content_range, part, checksum_mode, &r.query)?;
        // HEAD: the length of the body a GET would send, and no body (actix
        // writes the Content-Length of a sized body and skips it for HEAD).
        let empty = futures_util::stream::empty::<Result<Bytes, std::io::Error>>();
        Ok(resp.body(SizedStream::new(out.content_length, empty)))
    }

    async fn delete_object(&self, r: S3Request) -> HResult {
        let (b, k) = (bucket(&r)?, key(&r)?);
        self.backend
            .delete_object(&r.cx, &b, &k)
            .await
            .map_err(backend_error)?;
        Ok(HttpResponse::NoContent().finish())
    }

    async fn delete_objects(&self, mut r: S3Request) -> HResult {
        let bucket = bucket(&r)?;
        // S3 requires an integrity check on this request: Content-MD5, or
        // (since the 2025 SDKs) an x-amz-checksum-* header; the body
        // verifier checks whichever is present.
        let has_digest = r.headers.contains_key("content-md5")
            || r.headers.keys().any(|k| {
                k.as_str().starts_with("x-amz-checksum-")
                    && k.as_str() != "x-amz-checksum-algorithm"
            })
            || header(&r.headers, "x-amz-sdk-checksum-algorithm").is_some()
                && header(&r.headers, "x-amz-trailer").is_some();
        if !has_digest {
            return Err(S3Error::with_message(
                S3ErrorCode::InvalidRequest,
                "Missing required header for this request: Content-MD5",
            ));
        }
        let body = self.read_xml_body(&mut r).await?;
        let d: xml::Delete = xml::parse(&body)?;
        if d.objects.is_empty() || d.objects.len() > self.limits().max_delete_keys {
            return Err(S3ErrorCode::MalformedXML.into());
        }
        let quiet = d.quiet.unwrap_or(false);
        let mut valid = Vec::with_capacity(d.objects.len());
        let mut results: Vec<(String, Option<(String, String)>)> =
            Vec::with_capacity(d.objects.len());
        for o in d.objects {
            match ObjectKey::parse(&o.key) {
                Ok(k) => {
                    valid.push(k);
                    results.push((o.key, None));
                }
                Err(e) => {
                    let code = match e {
                        ParseError::ReservedKey => "AccessDenied",
                        _ => "InvalidArgument",
                    };
                    results.push((o.key, Some((code.to_owned(), e.to_string()))));
                }
            }
        }
        let out = if valid.is_empty() {
            DeleteObjectsOutput {
                results: Vec::new(),
            }
        } else {
            self.backend
                .delete_objects(&r.cx, &bucket, valid)
                .await
                .map_err(backend_error)?
        };
        let mut backend_results = out.results.into_iter();
        let mut doc = xml::DeleteResult {
            xmlns: NS,
            deleted: Vec::new(),
            errors: Vec::new(),
        };
        for (key, pre) in results {
            let outcome = match pre {
                Some(err) => Err(err),
                None => match backend_results.next() {
                    Some((_, Ok(()))) => Ok(()),
                    Some((_, Err(e))) => Err((e.code.to_owned(), e.message)),
                    None => Err((
                        "InternalError".to_owned(),
                        "We encountered an internal error.".to_owned(),
                    )),
                },
            };
            match outcome {
                Ok(()) if quiet => {}
                Ok(()) => doc.deleted.push(xml::Deleted { key }),
                Err((code, message)) => doc.errors.push(xml::DeleteError { key, code, message }),
            }
        }
        Ok(xml_ok(xml::to_xml("DeleteResult", &doc)))
    }

    async fn copy_object(&self, r: S3Request) -> HResult {
        check_canned_acl(&r.headers)?;
        check_no_encryption(&r.headers)?;
        let source = copy_source(&r.headers)?;
        let (bucket, key) = (bucket(&r)?, key(&r)?);
        let metadata = match header(&r.headers, "x-amz-metadata-directive").unwrap_or("COPY") {
            "COPY" => MetadataDirective::Copy,
            "REPLACE" => MetadataDirective::Replace(object_meta(&r.headers, self.limits())?),
            _ => {
                return Err(S3Error::with_message(
                    S3ErrorCode::InvalidArgument,
                    "Unknown metadata directive.",
                ))
            }
        };
        if source.bucket == bucket && source.key == key && metadata == MetadataDirective::Copy {
            return Err(S3Error::with_message(
                S3ErrorCode::InvalidRequest,
                "This copy request is illegal because it is trying to copy an object to itself \
                 without changing the object's metadata, storage class, website redirect location \
                 or encryption attributes.",
            ));
        }
        let input = CopyObjectInput {
            source,
            source_conditions: read_conditions(&r.headers, "x-amz-copy-source-")?,
            bucket,
            key,
            metadata,
            condition: write_condition(&r.headers)?,
        };
        let out = self
            .backend
            .copy_object(&r.cx, input)
            .await
            .map_err(copy_error)?;
        let doc = xml::CopyResult {
            xmlns: NS,
            etag: out.etag.quoted(),
            last_modified: xml::iso8601(out.last_modified),
        };
        Ok(xml_ok(xml::to_xml("CopyObjectResult", &doc)))
    }

    // ------------------------------------------------------------ multipart

    async fn create_multipart_upload(&self, r: S3Request) -> HResult {
        check_canned_acl(&r.headers)?;
        check_no_encryption(&r.headers)?;
        let checksum_algorithm = match header(&r.headers, "x-amz-checksum-algorithm") {
            None => None,
            Some(a) => Some(ChecksumAlgorithm::parse(a).ok_or_else(|| {
                S3Error::with_message(
                    S3ErrorCode::InvalidArgument,
                    "Invalid x-amz-checksum-algorithm",
                )
            })?),
        };
        let checksum_type = match header(&r.headers, "x-amz-checksum-type") {
            None => None,
            Some(t) if t.eq_ignore_ascii_case("FULL_OBJECT") => Some(ChecksumType::FullObject),
            Some(t) if t.eq_ignore_ascii_case("COMPOSITE") => Some(ChecksumType::Composite),
            Some(_) => {
                return Err(S3Error::with_message(
                    S3ErrorCode::InvalidArgument,
                    "Invalid x-amz-checksum-type",
                ))
            }
        };
        let input = CreateMultipartUploadInput {
            bucket: bucket(&r)?,
            key: key(&r)?,
            meta: object_meta(&r.headers, self.limits())?,
            checksum_algorithm,
            checksum_type,
        };
        let out = self
            .backend
            .create_multipart_upload(&r.cx, input)
            .await
            .map_err(backend_error)?;
        let doc = xml::InitiateMultipartUploadResult {
            xmlns: NS,
            bucket: bucket(&r)?.to_string(),
            key: key(&r)?.to_string(),
            upload_id: out.upload_id.to_string(),
        };
        let mut resp = HttpResponse::Ok();
        if let Some(a) = checksum_algorithm {
            resp.insert_header(("x-amz-checksum-algorithm", a.as_str()));
        }
        Ok(resp
            .content_type("application/xml")
            .body(xml::to_xml("InitiateMultipartUploadResult", &doc)))
    }

    async fn upload_part(&self, mut r: S3Request) -> HResult {
        let part_number = part_number(&r.query)?;
        let upload_id = upload_id(&r.query)?;
        let body = self.body(&mut r, self.limits().max_part_size)?;
        let input = UploadPartInput {
            bucket: bucket(&r)?,
            key: key(&r)?,
            upload_id,
            part_number,
            body,
        };
        let out = self
            .backend
            .upload_part(&r.cx, input)
            .await
            .map_err(backend_error)?;
        let mut resp = HttpResponse::Ok();
        resp.insert_header(("ETag", out.etag.quoted()));
        checksum_headers(&mut resp, out.checksum.as_ref());
        Ok(resp.finish())
    }

    async fn upload_part_copy(&self, r: S3Request) -> HResult {
        let source_range = match header(&r.headers, "x-amz-copy-source-range") {
            None => None,
            Some(v) => match parse_range(v) {
                Some(ByteRange::FromTo(a, b)) => Some(ByteRange::FromTo(a, b)),
                _ => {
                    return Err(S3Error::with_message(
                        S3ErrorCode::InvalidArgument,
                        "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy",
                    ))
                }
            },
        };
        let input = UploadPartCopyInput {
            bucket: bucket(&r)?,
            key: key(&r)?,
            upload_id: upload_id(&r.query)?,
            part_number: part_number(&r.query)?,
            source: copy_source(&r.headers)?,
            source_range,
            source_conditions: read_conditions(&r.headers, "x-amz-copy-source-")?,
        };
        let out = self
            .backend
            .upload_part_copy(&r.cx, input)
            .await
            .map_err(copy_error)?;
        let doc = xml::CopyResult {
            xmlns: NS,
            etag: out.etag.quoted(),
            last_modified: xml::iso8601(out.last_modified),
        };
        Ok(xml_ok(xml::to_xml("CopyPartResult", &doc)))
    }

    /// Assembly of a large upload can take minutes. Like S3, answer 200 as
    /// soon as it takes longer than `complete_keepalive_after_ms`, send a
    /// whitespace byte every interval so proxies and clients do not time out,
    /// then the result or an `<Error>` document (S3 API reference,
    /// CompleteMultipartUpload: "a 200 OK response can contain either a
    /// success or an error"; SDKs check the body).
    async fn complete_multipart_upload(&self, mut r: S3Request) -> HResult {
        let body = self.read_xml_body(&mut r).await?;
        let doc: xml::CompleteMultipartUpload = xml::parse(&body)?;
        if doc.parts.is_empty() {
            return Err(S3ErrorCode::MalformedXML.into());
        }
        let mut parts = Vec::with_capacity(doc.parts.len());
        for p in doc.parts {
            let part_number = p
                .part_number
                .trim()
                .parse::<u16>()
                .ok()
                .and_then(PartNumber::new)
                .ok_or_else(|| S3Error::new(S3ErrorCode::InvalidPart))?;
            let checksum = [
                (ChecksumAlgorithm::Crc32, p.checksum_crc32),
                (ChecksumAlgorithm::Crc32c, p.checksum_crc32c),
                (ChecksumAlgorithm::Crc64Nvme, p.checksum_crc64nvme),
                (ChecksumAlgorithm::Sha1, p.checksum_sha1),
                (ChecksumAlgorithm::Sha256, p.checksum_sha256),
            ]
            .into_iter()
            .find_map(|(algorithm, v)| {
                v.map(|value_b64| Checksum {
                    algorithm,
                    value_b64,
                    kind: ChecksumType::Composite,
                })
            });
            parts.push(CompletedPart {
                part_number,
                etag: ETag::from_client(&p.etag),
                checksum,
            });
        }
        let (bucket, key) = (bucket(&r)?, key(&r)?);
        let resource = format!("/{bucket}/{key}");
        let input = CompleteMultipartUploadInput {
            bucket: bucket.clone(),
            key: key.clone(),
            upload_id: upload_id(&r.query)?,
            parts,
            condition: write_condition(&r.headers)?,
        };
        let location = format!(
            "{}/{}/{}",
            r.origin,
            bucket,
            percent_encoding::utf8_percent_encode(key.as_str(), KEY_IN_URL)
        );
        let render = move |out: CompleteMultipartUploadOutput| {
            let doc = xml::CompleteMultipartUploadResult {
                xmlns: NS,
                location,
                bucket: bucket.to_string(),
                key: key.to_string(),
                etag: out.etag.quoted(),
                checksum: xml::ChecksumFields::from(out.checksum.as_ref()),
            };
            xml::body_xml("CompleteMultipartUploadResult", &doc)
        };

        let backend = self.backend.clone();
        let cx = r.cx.clone();
        let mut task =
            tokio::spawn(async move { backend.complete_multipart_upload(&cx, input).await });
        let after = Duration::from_millis(self.config.server.complete_keepalive_after_ms);
        if let Ok(joined) = tokio::time::timeout(after, &mut task).await {
            let out = joined
                .map_err(|e| S3Error::with_message(S3ErrorCode::InternalError, format!("{e}")))?
                .map_err(backend_error)?;
            let mut s = String::from(xml::declaration());
            s.push_str(&render(out));
            return Ok(xml_ok(s));
        }
        // Slow: stream whitespace until the result is known.
        let interval = Duration::from_millis(self.config.server.complete_keepalive_interval_ms);
        let request_id = r.cx.request_id.clone();
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
        tokio::spawn(async move {
            if tx
                .send(Ok(Bytes::from_static(xml::declaration().as_bytes())))
                .await
                .is_err()
            {
                return;
            }
            let mut tick = tokio::time::interval(interval);
            tick.tick().await;
            let result = loop {
                tokio::select! {
                    joined = &mut task => break joined,
                    _ = tick.tick() => {
                        if tx.send(Ok(Bytes::from_static(b" "))).await.is_err() {
                            // Client gone; the assembly still finishes.
                            return;
                        }
                    }
                }
            };
            let text = match result {
                Ok(Ok(out)) => render(out),
                Ok(Err(e)) => xml::error_document(&backend_error(e), &resource, &request_id, false),
                Err(e) => {
                    tracing::warn!(error = %e, "complete task failed");
                    let e = S3Error::new(S3ErrorCode::InternalError);
                    xml::error_document(&e, &resource, &request_id, false)
                }
            };
            let _ = tx.send(Ok(Bytes::from(text))).await;
        });
        let stream =
            futures_util::stream::unfold(
                rx,
                |mut rx| async move { rx.recv().await.map(|i| (i, rx)) },
            );
        Ok(HttpResponse::Ok()
            .content_type("application/xml")
            .streaming(stream))
    }

    async fn abort_multipart_upload(&self, r: S3Request) -> HResult {
        let (b, k, u) = (bucket(&r)?, key(&r)?, upload_id(&r.query)?);
        self.backend
            .abort_multipart_upload(&r.cx, &b, &k, &u)
            .await
            .map_err(backend_error)?;
        Ok(HttpResponse::NoContent().finish())
    }

    async fn list_parts(&self, r: S3Request) -> HResult {
        let q = &r.query;
        let marker = match q.get("part-number-marker").filter(|s| !s.is_empty()) {
            None => None,
            Some(m) => Some(m.parse::<u16>().map_err(|_| {
                S3Error::with_message(S3ErrorCode::InvalidArgument, "Invalid part-number-marker")
            })?),
        };
        let input = ListPartsInput {
            bucket: bucket(&r)?,
            key: key(&r)?,
            upload_id: upload_id(q)?,
            part_number_marker: marker,
            max_parts: max_param(q, "max-parts")?,
        };
        let max_parts = input.max_parts;
        let out = self
            .backend
            .list_parts(&r.cx, input)
            .await
            .map_err(backend_error)?;
        let doc = xml::ListPartsResult {
            xmlns: NS,
            bucket: bucket(&r)?.to_string(),
            key: key(&r)?.to_string(),
            upload_id: upload_id(q)?.to_string(),
            initiator: owner(&r),
            owner: owner(&r),
            storage_class: out.storage_class.as_str(),
            part_number_marker: marker.unwrap_or(0),
            next_part_number_marker: out.next_part_number_marker,
            max_parts,
            is_truncated: out.is_truncated,
            checksum_algorithm: out.checksum_algorithm.map(|a| a.as_str()),
            parts: out
                .parts
                .into_iter()
                .map(|p| xml::Part {
                    part_number: p.part_number.get(),
                    last_modified: xml::iso8601(p.last_modified),
                    etag: p.etag.quoted(),
                    size: p.size,
                    checksum: xml::ChecksumFields::from(p.checksum.as_ref()),
                })
                .collect(),
        };
        Ok(xml_ok(xml::to_xml("ListPartsResult", &doc)))
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
            Some(&r.auth),
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

/// The canned ACLs that mean "only the owner" (the only access s3gw has);
/// anything else asks for sharing the store cannot express.
fn check_canned_acl(h: &HeaderMap) -> Result<(), S3Error> {
    match header(h, "x-amz-acl") {
        None | Some("private") | Some("bucket-owner-full-control") => Ok(()),
        Some(other) => Err(not_implemented(&format!("canned ACL {other}"))),
    }
}

/// Server-side encryption is not something the store offers; accepting the
/// headers silently would let a client believe its data is encrypted, so
/// they are refused as S3 refuses what it does not support.
fn check_no_encryption(h: &HeaderMap) -> Result<(), S3Error> {
    let asked = h.keys().any(|k| {
        let k = k.as_str();
        k == "x-amz-server-side-encryption"
            || k.starts_with("x-amz-server-side-encryption-customer-")
            || k.starts_with("x-amz-copy-source-server-side-encryption-customer-")
    });
    if asked {
        return Err(not_implemented("server-side encryption"));
    }
    Ok(())
}

fn encoding_type(q: &Query) -> Result<bool, S3Error> {
    match q.get("encoding-type") {
        None => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("url") => Ok(true),
        Some(_) => Err(S3Error::with_message(
            S3ErrorCode::InvalidArgument,
            "Invalid Encoding Method specified in Request",
        )),
    }
}

/// `max-keys` / `max-uploads` / `max-parts`: default 1000, larger values
/// capped at 1000 as S3 does, non-numbers and negatives refused.
fn max_param(q: &Query, name: &str) -> Result<u32, S3Error> {
    match q.get(name) {
        None => Ok(1000),
        Some(v) => v
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .map(|n| n.min(1000) as u32)
            .ok_or_else(|| {
                S3Error::with_message(
                    S3ErrorCode::InvalidArgument,
                    format!("Provided {name} not an integer or within integer range"),
                )
            }),
    }
}

fn encode_token(key: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(key.as_bytes())
}

fn decode_token(t: &str) -> Result<String, S3Error> {
    base64::engine::general_purpose::STANDARD
        .decode(t.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| {
            S3Error::with_message(
                S3ErrorCode::InvalidArgument,
                "The continuation token provided is incorrect",
            )
        })
}

fn contents(
    r: &S3Request,
    objects: Vec<ObjectSummary>,
    enc: bool,
    with_owner: bool,
) -> Vec<xml::Contents> {
    objects
        .into_iter()
        .map(|o| xml::Contents {
            key: if enc { xml::url_encode(&o.key) } else { o.key },
            last_modified: xml::iso8601(o.last_modified),
            etag: o.etag.quoted(),
            size: o.size,
            storage_class: o.storage_class.as_str(),
            owner: with_owner.then(|| owner(r)),
        })
        .collect()
}

fn prefixes(p: Vec<String>, enc: bool) -> Vec<xml::CommonPrefix> {
    p.into_iter()
        .map(|prefix| xml::CommonPrefix {
            prefix: if enc {
                xml::url_encode(&prefix)
            } else {
                prefix
            },
        })
        .collect()
}

fn part_number(q: &Query) -> Result<PartNumber, S3Error> {
    PartNumber::parse(q.get("partNumber").unwrap_or("").trim()).map_err(|_| {
        S3Error::with_message(
            S3ErrorCode::InvalidArgument,
            "Part number must be an integer between 1 and 10000, inclusive",
        )
        .extra("ArgumentName", "partNumber")
    })
}

fn upload_id(q: &Query) -> Result<UploadId, S3Error> {
    UploadId::parse(q.get("uploadId").unwrap_or("")).map_err(|_| S3ErrorCode::NoSuchUpload.into())
}

/// User metadata and the S3 headers an object keeps.
pub fn object_meta(h: &HeaderMap, limits: &Limits) -> Result<ObjectMeta, S3Error> {
    let mut user: Vec<(String, String)> = Vec::new();
    let mut size = 0usize;
    for (name, value) in h.iter() {
        if let Some(n) = name.as_str().strip_prefix("x-amz-meta-") {
            let v = String::from_utf8_lossy(value.as_bytes()).trim().to_owned();
            size += n.len() + v.len();
            match user.iter_mut().find(|(k, _)| k == n) {
                Some((_, existing)) => {
                    existing.push(',');
                    existing.push_str(&v);
                }
                None => user.push((n.to_owned(), v)),
            }
        }
    }
    if size > limits.max_user_metadata_bytes {
        return Err(S3Error::new(S3ErrorCode::MetadataTooLarge)
            .extra("Size", size.to_string())
            .extra("MaxSizeAllowed", limits.max_user_metadata_bytes.to_string()));
    }
    let storage_class = match header(h, "x-amz-storage-class") {
        None | Some("STANDARD") => None,
        Some("REDUCED_REDUNDANCY") => Some(StorageClass::ReducedRedundancy),
        Some(_) => return Err(S3ErrorCode::InvalidStorageClass.into()),
    };
    let s = |n: &str| header(h, n).map(str::to_owned);
    Ok(ObjectMeta {
        content_type: s("content-type"),
        cache_control: s("cache-control"),
        content_encoding: body::decode_content_encoding(h),
        content_disposition: s("content-disposition"),
        content_language: s("content-language"),
        expires: s("expires"),
        user,
        storage_class,
        tagging: s("x-amz-tagging").filter(|t| !t.is_empty()),
        checksum: None,
    })
}

/// `If-None-Match: *` (create only) or `If-Match: "<etag>"` (replace only
/// that version), the two conditional writes S3 has.
pub fn write_condition(h: &HeaderMap) -> Result<WriteCondition, S3Error> {
    match (header(h, "if-none-match"), header(h, "if-match")) {
        (None, None) => Ok(WriteCondition::None),
        (Some("*"), None) => Ok(WriteCondition::IfNoneMatchAny),
        (None, Some(m)) if m != "*" && !m.contains(',') => {
            Ok(WriteCondition::IfMatch(ETag::from_client(m)))
        }
        _ => Err(not_implemented("this conditional write header")),
    }
}

fn etag_list(v: &str) -> Vec<ETagMatch> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            if s == "*" {
                ETagMatch::Any
            } else {
                ETagMatch::Tag(ETag::from_client(s))
            }
        })
        .collect()
}

/// Read preconditions from `If-*` headers (prefix "") or the copy source's
/// `x-amz-copy-source-if-*` (prefix "x-amz-copy-source-"). An unparsable
/// date is ignored, as RFC 9110 section 13.1.3 requires.
pub fn read_conditions(h: &HeaderMap, prefix: &str) -> Result<ReadConditions, S3Error> {
    let get = |n: &str| header(h, &format!("{prefix}{n}"));
    let date = |n: &str| get(n).and_then(|v| httpdate::parse_http_date(v).ok());
    Ok(ReadConditions {
        if_match: get("if-match").map(etag_list),
        if_none_match: get("if-none-match").map(etag_list),
        if_modified_since: date("if-modified-since"),
        if_unmodified_since: date("if-unmodified-since"),
    })
}

/// One `bytes=` range. `None` for anything else, including several ranges:
/// S3 then ignores the header and serves the whole object.
pub fn parse_range(v: &str) -> Option<ByteRange> {
    let spec = v.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.trim().split_once('-')?;
    let num = |s: &str| s.trim().parse::<u64>().ok();
    match (a.trim().is_empty(), b.trim().is_empty()) {
        (true, false) => num(b).map(ByteRange::Suffix),
        (false, true) => num(a).map(ByteRange::From),
        (false, false) => {
            let (a, b) = (num(a)?, num(b)?);
            (a <= b).then_some(ByteRange::FromTo(a, b))
        }
        (true, true) => None,
    }
}

/// `x-amz-copy-source: [/]bucket/key[?versionId=null]`, URL-encoded.
pub fn copy_source(h: &HeaderMap) -> Result<CopySource, S3Error> {
    let bad = || {
        S3Error::with_message(
            S3ErrorCode::InvalidArgument,
            "Copy Source must mention the source bucket and key: sourcebucket/sourcekey",
        )
        .extra("ArgumentName", "x-amz-copy-source")
    };
    let raw = header(h, "x-amz-copy-source").ok_or_else(bad)?;
    let (path, version) = match raw.split_once("?versionId=") {
        Some((p, v)) => (p, Some(v)),
        None => (raw, None),
    };
    if version.is_some_and(|v| v != "null") {
        return Err(not_implemented("CopyObject of a version"));
    }
    let decoded = percent_encoding::percent_decode_str(path)
        .decode_utf8()
        .map_err(|_| bad())?;
    let decoded = decoded.strip_prefix('/').unwrap_or(&decoded);
    let (b, k) = decoded.split_once('/').ok_or_else(bad)?;
    Ok(CopySource {
        bucket: BucketName::parse(b).map_err(|_| S3Error::new(S3ErrorCode::InvalidBucketName))?,
        key: ObjectKey::parse(k).map_err(|_| bad())?,
    })
}

fn read_input(r: &S3Request) -> Result<GetObjectInput, S3Error> {
    let part_number = match r.query.get("partNumber") {
        None => None,
        Some(_) => Some(part_number(&r.query)?),
    };
    let range = header(&r.headers, "range").and_then(parse_range);
    if part_number.is_some() && range.is_some() {
        return Err(S3Error::with_message(
            S3ErrorCode::InvalidRequest,
            "Cannot specify both Range header and partNumber query parameter",
        ));
    }
    Ok(GetObjectInput {
        bucket: bucket(r)?,
        key: key(r)?,
        range,
        part_number,
        conditions: read_conditions(&r.headers, "")?,
        checksum_mode: header(&r.headers, "x-amz-checksum-mode")
            .is_some_and(|v| v.eq_ignore_ascii_case("ENABLED")),
    })
}

fn not_modified(etag: &ETag, last_modified: SystemTime) -> HttpResponse {
    HttpResponse::NotModified()
        .insert_header(("ETag", etag.quoted()))
        .insert_header(("Last-Modified", httpdate::fmt_http_date(last_modified)))
        .finish()
}

fn checksum_headers(resp: &mut HttpResponseBuilder, c: Option<&Checksum>) {
    if let Some(c) = c {
        resp.insert_header((
            format!("x-amz-checksum-{}", c.algorithm.header_suffix()),
            c.value_b64.as_str(),
        ));
        let kind = match c.kind {
            ChecksumType::FullObject => "FULL_OBJECT",
            ChecksumType::Composite => "COMPOSITE",
        };
        resp.insert_header(("x-amz-checksum-type", kind));
    }
}

/// The headers of a GET/HEAD answer, with `response-*` overrides.
fn object_response(
    info: &ObjectInfo,
    content_range: Option<(u64, u64, u64)>,
    part_requested: bool,
    checksum_mode: bool,
    q: &Query,
) -> Result<HttpResponseBuilder, S3Error> {
    let mut resp = HttpResponse::build(if content_range.is_some() {
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    });
    let m = &info.meta;
    resp.insert_header(("ETag", info.etag.quoted()))
        .insert_header(("Last-Modified", httpdate::fmt_http_date(info.last_modified)))
        .insert_header(("Accept-Ranges", "bytes"));
    if let Some((a, b, size)) = content_range {
        resp.insert_header(("Content-Range", format!("bytes {a}-{b}/{size}")));
    }
    let pick = |over: &str, stored: &Option<String>| -> Option<String> {
        q.get(over).map(str::to_owned).or_else(|| stored.clone())
    };
    let ct = pick("response-content-type", &m.content_type)
        .unwrap_or_else(|| "binary/octet-stream".into());
    resp.insert_header(("Content-Type", ct));
    for (name, over, stored) in [
        ("Cache-Control", "response-cache-control", &m.cache_control),
        (
            "Content-Encoding",
            "response-content-encoding",
            &m.content_encoding,
        ),
        (
            "Content-Disposition",
            "response-content-disposition",
            &m.content_disposition,
        ),
        (
            "Content-Language",
            "response-content-language",
            &m.content_language,
        ),
        ("Expires", "response-expires", &m.expires),
    ] {
        if let Some(v) = pick(over, stored) {
            resp.insert_header((name, v));
        }
    }
    for (k, v) in &m.user {
        resp.append_header((format!("x-amz-meta-{k}"), v.as_str()));
    }
    if let Some(sc) = m.storage_class.filter(|s| *s != StorageClass::Standard) {
        resp.insert_header(("x-amz-storage-class", sc.as_str()));
    }
    if let Some(t) = &m.tagging {
        let n = t.split('&').filter(|p| !p.is_empty()).count();
        resp.insert_header(("x-amz-tagging-count", n.to_string()));
    }
    if part_requested {
        if let Some(n) = info.parts_count {
            resp.insert_header(("x-amz-mp-parts-count", n.to_string()));
        }
    }
    if checksum_mode {
        checksum_headers(&mut resp, m.checksum.as_ref());
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn ranges_as_s3_reads_them() {
        assert_eq!(parse_range("bytes=0-9"), Some(ByteRange::FromTo(0, 9)));
        assert_eq!(parse_range("bytes=10-"), Some(ByteRange::From(10)));
        assert_eq!(parse_range("bytes=-5"), Some(ByteRange::Suffix(5)));
        // several ranges, garbage, reversed: ignored (whole object served)
        assert_eq!(parse_range("bytes=0-1,5-6"), None);
        assert_eq!(parse_range("bytes=x-1"), None);
        assert_eq!(parse_range("bytes=9-1"), None);
        assert_eq!(parse_range("items=0-1"), None);
    }

    #[test]
    fn conditions_parse_lists_star_and_dates() {
        let h = headers(&[
            ("if-match", "\"abc\", \"def\""),
            ("if-none-match", "*"),
            ("if-modified-since", "Sun, 06 Nov 1994 08:49:37 GMT"),
            ("if-unmodified-since", "not a date"),
        ]);
        let c = read_conditions(&h, "").unwrap();
        assert_eq!(
            c.if_match,
            Some(vec![
                ETagMatch::Tag(ETag::from_client("abc")),
                ETagMatch::Tag(ETag::from_client("def"))
            ])
        );
        assert_eq!(c.if_none_match, Some(vec![ETagMatch::Any]));
        assert_eq!(
            c.if_modified_since,
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(784111777))
        );
        assert_eq!(c.if_unmodified_since, None);
        let h = headers(&[("x-amz-copy-source-if-match", "\"abc\"")]);
        let c = read_conditions(&h, "x-amz-copy-source-").unwrap();
        assert_eq!(
            c.if_match,
            Some(vec![ETagMatch::Tag(ETag::from_client("abc"))])
        );
    }

    #[test]
    fn write_conditions() {
        assert_eq!(
            write_condition(&headers(&[("if-none-match", "*")])).unwrap(),
            WriteCondition::IfNoneMatchAny
        );
        assert_eq!(
            write_condition(&headers(&[("if-match", "\"abc\"")])).unwrap(),
            WriteCondition::IfMatch(ETag::from_client("abc"))
        );
        assert_eq!(
            write_condition(&HeaderMap::new()).unwrap(),
            WriteCondition::None
        );
        let e = write_condition(&headers(&[("if-none-match", "\"abc\"")])).unwrap_err();
        assert_eq!(e.code, S3ErrorCode::NotImplemented);
    }

    #[test]
    fn copy_source_forms() {
        for v in [
            "src/a%20b/c%C3%BC",
            "/src/a%20b/c%C3%BC",
            "src/a%20b/c%C3%BC?versionId=null",
        ] {
            let s = copy_source(&headers(&[("x-amz-copy-source", v)])).unwrap();
            assert_eq!(
                (s.bucket.as_str(), s.key.as_str()),
                ("src", "a b/cü"),
                "{v}"
            );
        }
        for v in ["src", "/src/", "NOT_A_BUCKET/k"] {
            assert!(
                copy_source(&headers(&[("x-amz-copy-source", v)])).is_err(),
                "{v}"
            );
        }
        let e = copy_source(&headers(&[("x-amz-copy-source", "src/k?versionId=abc")])).unwrap_err();
        assert_eq!(e.code, S3ErrorCode::NotImplemented);
    }

    #[test]
    fn metadata_is_collected_and_limited() {
        let limits = Limits::default();
        let m = object_meta(
            &headers(&[
                ("x-amz-meta-color", "blue"),
                ("content-type", "text/plain"),
                ("content-encoding", "aws-chunked,gzip"),
                ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
            ]),
            &limits,
        )
        .unwrap();
        assert_eq!(m.user, vec![("color".to_owned(), "blue".to_owned())]);
        assert_eq!(m.content_type.as_deref(), Some("text/plain"));
        assert_eq!(m.content_encoding.as_deref(), Some("gzip"));
        assert_eq!(m.storage_class, Some(StorageClass::ReducedRedundancy));
        let big = "x".repeat(2100);
        let e = object_meta(&headers(&[("x-amz-meta-big", &big)]), &limits).unwrap_err();
        assert_eq!(e.code, S3ErrorCode::MetadataTooLarge);
        let e = object_meta(&headers(&[("x-amz-storage-class", "FANCY")]), &limits).unwrap_err();
        assert_eq!(e.code, S3ErrorCode::InvalidStorageClass);
    }

    #[test]
    fn tokens_round_trip_and_bad_ones_are_refused() {
        let t = encode_token("a/ü key");
        assert_eq!(decode_token(&t).unwrap(), "a/ü key");
        assert_eq!(
            decode_token("!!!").unwrap_err().code,
            S3ErrorCode::InvalidArgument
        );
    }

    #[test]
    fn max_params() {
        let q = Query::parse("max-keys=5000&max-parts=-1&max-uploads=x");
        assert_eq!(max_param(&q, "max-keys").unwrap(), 1000);
        assert!(max_param(&q, "max-parts").is_err());
        assert!(max_param(&q, "max-uploads").is_err());
        assert_eq!(max_param(&Query::parse(""), "max-keys").unwrap(), 1000);
        assert_eq!(
            max_param(&Query::parse("max-keys=0"), "max-keys").unwrap(),
            0
        );
    }

    /// A backend whose Complete takes `delay` and then answers `ok`.
    struct SlowComplete {
        delay: Duration,
        ok: bool,
    }

    #[async_trait::async_trait]
    impl Backend for SlowComplete {
        async fn complete_multipart_upload(
            &self,
            _cx: &RequestContext,
            _input: CompleteMultipartUploadInput,
        ) -> BackendResult<CompleteMultipartUploadOutput> {
            tokio::time::sleep(self.delay).await;
            if self.ok {
                Ok(CompleteMultipartUploadOutput {
                    etag: ETag::from_client("\"0123456789abcdef0123456789abcdef-2\""),
                    checksum: None,
                })
            } else {
                Err(BackendError::InvalidPart)
            }
        }
    }

    fn complete_request() -> S3Request {
        let credential = s3gw_auth_cache::Credential {
            access_key_id: "AKIAIOSFODNN7EXAMPLE".parse().unwrap(),
            secret: s3gw_auth_cache::SecretKey::new("secret".into()),
            account: s3gw_auth_cache::Account {
                uuid: "u-1".into(),
                login: "alice".into(),
            },
            subuser: None,
            status: s3gw_auth_cache::KeyStatus::Active,
        };
        let xml = "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>\"a\"</ETag></Part></CompleteMultipartUpload>";
        let body: ByteStream = Box::pin(futures_util::stream::iter([Ok(Bytes::from(xml))]));
        S3Request {
            endpoint: Endpoint::CompleteMultipartUpload,
            method: Method::POST,
            bucket: Some(BucketName::parse("bkt").unwrap()),
            key: Some(ObjectKey::parse("k").unwrap()),
            query: Query::parse("uploadId=abc"),
            headers: HeaderMap::new(),
            auth: Authenticated {
                credential: Arc::new(credential),
                method: crate::auth::AuthMethod::V4Header,
                payload: crate::auth::PayloadMode::Unsigned,
            },
            cx: RequestContext {
                tenant: Tenant {
                    login: "alice".into(),
                    uuid: "u-1".into(),
                },
                request_id: "REQ".into(),
            },
            body: Some(body),
            origin: "http://h".into(),
        }
    }

    async fn complete_with(delay_ms: u64, ok: bool, after_ms: u64) -> (u16, String) {
        let mut config = Config::default();
        config.server.complete_keepalive_after_ms = after_ms;
        config.server.complete_keepalive_interval_ms = 50;
        let h = Handlers {
            backend: Arc::new(SlowComplete {
                delay: Duration::from_millis(delay_ms),
                ok,
            }),
            config: Arc::new(config),
        };
        let resp = match h.handle(complete_request()).await {
            Ok(r) => r,
            Err(e) => return (e.status(), e.code.as_str().to_owned()),
        };
        let status = resp.status().as_u16();
        let body = actix_web::body::to_bytes(resp.into_body())
            .await
            .ok()
            .unwrap();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn slow_completes_answer_200_keep_alive_then_the_result() {
        // fast (well under the threshold): the real status
        let (status, body) = complete_with(0, true, 60_000).await;
        assert_eq!(status, 200);
        assert!(
            body.starts_with("<?xml") && body.contains("<ETag>"),
            "{body}"
        );
        let (status, code) = complete_with(0, false, 60_000).await;
        assert_eq!((status, code.as_str()), (400, "InvalidPart"));
        // slow: 200 at once, whitespace while waiting, then the document
        let (status, body) = complete_with(600, true, 50).await;
        assert_eq!(status, 200);
        let decl = xml::declaration();
        assert!(body.starts_with(decl), "{body}");
        let rest = &body[decl.len()..];
        assert!(
            rest.starts_with(' '),
            "keep-alive whitespace first: {body:?}"
        );
        assert!(
            rest.trim_start()
                .starts_with("<CompleteMultipartUploadResult"),
            "{body}"
        );
        assert!(
            body.contains("-2&quot;</ETag>") || body.contains("-2\"</ETag>"),
            "{body}"
        );
        // slow failure: 200 with an <Error> document, as S3
        let (status, body) = complete_with(600, false, 50).await;
        assert_eq!(status, 200);
        assert!(
            body[decl.len()..]
                .trim_start()
                .starts_with("<Error><Code>InvalidPart</Code>"),
            "{body}"
        );
        assert!(body.contains("<RequestId>REQ</RequestId>"), "{body}");
    }

    #[test]
    fn object_headers_carry_non_ascii_values() {
        let info = ObjectInfo {
            key: "k".into(),
            size: 3,
            etag: ETag::from_client("abc"),
            last_modified: SystemTime::UNIX_EPOCH,
            meta: ObjectMeta {
                content_disposition: Some("attachment; filename=\"ü.txt\"".into()),
                user: vec![("name".into(), "Zoë".into())],
                ..Default::default()
            },
            parts_count: None,
        };
        let resp = object_response(&info, Some((0, 1, 3)), false, false, &Query::parse(""))
            .unwrap()
            .finish();
        assert_eq!(resp.status(), StatusCode::PARTIAL_CONTENT);
        let h = resp.headers();
        assert_eq!(
            h.get("x-amz-meta-name").unwrap().as_bytes(),
            "Zoë".as_bytes()
        );
        assert_eq!(h.get("content-range").unwrap(), "bytes 0-1/3");
        assert_eq!(h.get("etag").unwrap(), "\"abc\"");
        assert_eq!(h.get("content-type").unwrap(), "binary/octet-stream");
        assert_eq!(h.get("accept-ranges").unwrap(), "bytes");
    }

    #[test]
    fn encryption_headers_are_refused() {
        assert!(check_no_encryption(&headers(&[("content-type", "x/y")])).is_ok());
        for h in [
            ("x-amz-server-side-encryption", "AES256"),
            ("x-amz-server-side-encryption", "aws:kms"),
            ("x-amz-server-side-encryption-customer-algorithm", "AES256"),
        ] {
            let e = check_no_encryption(&headers(&[h])).unwrap_err();
            assert_eq!(e.code, S3ErrorCode::NotImplemented, "{h:?}");
        }
    }

    #[test]
    fn backend_errors_map_through_one_function() {
        assert_eq!(
            backend_error(BackendError::NoSuchKey).code,
            S3ErrorCode::NoSuchKey
        );
        assert_eq!(
            backend_error(BackendError::Internal("secret detail".into())).message,
            S3ErrorCode::InternalError.default_message()
        );
        let boxed: BodyError = Box::new(S3Error::new(S3ErrorCode::BadDigest));
        assert_eq!(
            backend_error(BackendError::Body(boxed)).code,
            S3ErrorCode::BadDigest
        );
        let other: BodyError = "client went away".into();
        assert_eq!(
            backend_error(BackendError::Body(other)).code,
            S3ErrorCode::IncompleteBody
        );
        let e = backend_error(BackendError::NotImplemented("PutBucketPolicy"));
        assert_eq!(e.code, S3ErrorCode::NotImplemented);
        assert!(e.message.contains("PutBucketPolicy"));
    }
}
