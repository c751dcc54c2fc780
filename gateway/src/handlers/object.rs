//! Object operations: PutObject, GetObject, HeadObject, DeleteObject,
//! DeleteObjects, CopyObject, and the object headers they read and write.

use super::multipart::part_number;
use super::*;

impl Handlers {
    pub(super) async fn put_object(&self, mut r: S3Request) -> HResult {
        let meta = object_meta(&r.headers, self.limits())?;
        let condition = write_condition(&r.headers)?;
        self.share_object(&r.cx, &bucket(&r)?, meta.acl).await?;
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

    pub(super) async fn get_object(&self, r: S3Request) -> HResult {
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

    pub(super) async fn head_object(&self, r: S3Request) -> HResult {
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

    pub(super) async fn delete_object(&self, r: S3Request) -> HResult {
        let (b, k) = (bucket(&r)?, key(&r)?);
        self.backend
            .delete_object(&r.cx, &b, &k)
            .await
            .map_err(backend_error)?;
        Ok(HttpResponse::NoContent().finish())
    }

    pub(super) async fn delete_objects(&self, mut r: S3Request) -> HResult {
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

    pub(super) async fn copy_object(&self, r: S3Request) -> HResult {
        let acl = check_canned_acl(&r.headers)?;
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
            tagging: super::tagging::tagging_directive(&r.headers)?,
            condition: write_condition(&r.headers)?,
            acl,
        };
        self.share_object(&r.cx, &input.bucket, acl).await?;
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
}

/// User metadata and the S3 headers an object keeps.
pub fn object_meta(h: &HeaderMap, limits: &Limits) -> Result<ObjectMeta, S3Error> {
    let mut user: Vec<(String, Vec<u8>)> = Vec::new();
    let mut size = 0usize;
    for (name, value) in h.iter() {
        if let Some(n) = name.as_str().strip_prefix("x-amz-meta-") {
            // The bytes as sent (non-ASCII included), never re-encoded.
            let v = value.as_bytes().trim_ascii().to_vec();
            size += n.len() + v.len();
            match user.iter_mut().find(|(k, _)| k == n) {
                Some((_, existing)) => {
                    existing.push(b',');
                    existing.extend_from_slice(&v);
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
        tagging: super::tagging::tagging_header(h)?,
        checksum: None,
        // Only AES256 gets this far (handlers::bucket_config::encryption).
        server_side_encryption: s("x-amz-server-side-encryption"),
        acl: check_canned_acl(h)?,
    })
}

/// The write conditions of PutObject, CopyObject (destination) and
/// CompleteMultipartUpload: `If-None-Match` or `If-Match`, each with `*` or
/// one ETag. Lists of ETags, and both headers at once, are not served.
pub fn write_condition(h: &HeaderMap) -> Result<WriteCondition, S3Error> {
    fn one(name: &str, v: &str) -> Result<ETagMatch, S3Error> {
        let v = v.trim();
        if v.contains(',') {
            return Err(not_implemented("a list of ETags in a conditional write"));
        }
        match v {
            "*" => Ok(ETagMatch::Any),
            _ if ETag::from_client(v).as_str().is_empty() => Err(S3Error::with_message(
                S3ErrorCode::InvalidArgument,
                format!("{name} must be * or an ETag"),
            )
            .extra("ArgumentName", name.to_owned())),
            _ => Ok(ETagMatch::Tag(ETag::from_client(v))),
        }
    }
    match (header(h, "if-none-match"), header(h, "if-match")) {
        (None, None) => Ok(WriteCondition::None),
        (Some(v), None) => Ok(match one("If-None-Match", v)? {
            ETagMatch::Any => WriteCondition::IfNoneMatchAny,
            ETagMatch::Tag(e) => WriteCondition::IfNoneMatch(e),
        }),
        (None, Some(v)) => Ok(match one("If-Match", v)? {
            ETagMatch::Any => WriteCondition::IfMatchAny,
            ETagMatch::Tag(e) => WriteCondition::IfMatch(e),
        }),
        (Some(_), Some(_)) => Err(not_implemented(
            "If-Match together with If-None-Match on a write",
        )),
    }
}

pub(super) fn etag_list(v: &str) -> Vec<ETagMatch> {
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

pub(super) fn read_input(r: &S3Request) -> Result<GetObjectInput, S3Error> {
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

pub(super) fn not_modified(etag: &ETag, last_modified: SystemTime) -> HttpResponse {
    HttpResponse::NotModified()
        .insert_header(("ETag", etag.quoted()))
        .insert_header(("Last-Modified", httpdate::fmt_http_date(last_modified)))
        .finish()
}

pub(super) fn checksum_headers(resp: &mut HttpResponseBuilder, c: Option<&Checksum>) {
    if let Some(c) = c {
        resp.insert_header((
            format!("x-amz-checksum-{}", c.algorithm.header_suffix()),
            c.value_b64.as_str(),
        ));
        resp.insert_header(("x-amz-checksum-type", xml::checksum_type_name(c.kind)));
    }
}

/// The headers of a GET/HEAD answer, with `response-*` overrides.
pub(super) fn object_response(
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
        if let Ok(v) = actix_web::http::header::HeaderValue::from_bytes(v) {
            resp.append_header((format!("x-amz-meta-{k}"), v));
        }
    }
    // Stored with the object when it was written with SSE-S3: echoed
    // whatever the setting says now (handlers::handle adds it for every
    // object while the store is declared to encrypt at rest).
    if let Some(sse) = &m.server_side_encryption {
        resp.insert_header(("x-amz-server-side-encryption", sse.as_str()));
    }
    if let Some(sc) = m.storage_class.filter(|s| *s != StorageClass::Standard) {
        resp.insert_header(("x-amz-storage-class", sc.as_str()));
    }
    if let Some(n) = m.tagging.as_deref().map(super::tagging::tag_count) {
        if n > 0 {
            resp.insert_header(("x-amz-tagging-count", n.to_string()));
        }
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
