//! PutObject, GetObject/HeadObject, DeleteObject(s), CopyObject.

use std::time::SystemTime;

use base64::Engine as _;
use futures_util::{stream, StreamExt};
use reqwest::header::{
    HeaderMap, HeaderValue, CONTENT_LENGTH, IF_MATCH, IF_NONE_MATCH, LAST_MODIFIED, RANGE,
};
use reqwest::{Method, Response};

use super::client::{header_str, response_stream, ErrSlot, Tapped};
use super::error::NativeFailure;
use super::meta::{self, evaluate, parse_object, put_headers, CondOutcome, Internal, NativeObject};
use super::wire::{H_COMPUTED_MD5, H_DURABILITY};
use super::{map_native, Inner, Native};
use crate::backend::*;
use crate::types::*;

/// S3's largest single-operation copy (CopyObject, UploadPartCopy source).
pub const MAX_COPY_BYTES: u64 = 5 << 30;
/// How often a conditional read restarts when the object is replaced
/// between its HEAD and its GET.
const READ_RACE_ATTEMPTS: usize = 3;

/// HEAD of a native object. A body-less 404 is told apart (missing bucket
/// or missing object) with a HEAD of the bucket, only on that error path.
pub(crate) async fn head_native(
    inner: &Inner,
    cx: &RequestContext,
    bucket: &str,
    name: &str,
) -> Result<NativeObject, NativeFailure> {
    let c = &inner.client;
    let url = c.object_url(&cx.tenant.login, bucket, name);
    match c
        .send(true, || c.signed(Method::HEAD, &url, &cx.request_id))
        .await
    {
        Ok(resp) => parse_object(name, resp.headers(), None),
        Err(NativeFailure::Status { status: 404, .. }) => {
            let burl = c.bucket_url(&cx.tenant.login, bucket);
            let code = match c
                .send(true, || c.signed(Method::HEAD, &burl, &cx.request_id))
                .await
            {
                Err(NativeFailure::Status { status: 404, .. }) => "BucketNotFound",
                _ => "ObjectNotFound",
            };
            Err(NativeFailure::Status {
                status: 404,
                code: code.into(),
                message: name.into(),
            })
        }
        Err(f) => Err(f),
    }
}

/// Adds the native form of an S3 write condition (design.md "Conditional
/// writes"), never check-then-write: the native store checks what is sent
/// here again atomically with its metadata commit.
/// - `If-None-Match: *` maps straight through (atomic create-if-absent).
/// - `If-Match: *` maps straight through (natively 412 when absent).
/// - `If-Match: "<etag>"`: the current object is read, its S3 ETag compared,
///   and the write pinned to its native id (`If-Match: <id>`): an atomic
///   compare-and-swap on exactly the object the condition held for.
/// - `If-None-Match: "<etag>"`: likewise, the write is pinned to the object
///   that was found (`If-Match: <id>`), or to the key's absence
///   (`If-None-Match: *`).
///
/// When the native store then refuses the write, [`write_refused`] tells
/// the client which S3 answer applies.
pub(crate) async fn write_condition(
    inner: &Inner,
    cx: &RequestContext,
    bucket: &str,
    name: &str,
    cond: &WriteCondition,
    h: &mut HeaderMap,
) -> BackendResult<()> {
    let pin_id = |h: &mut HeaderMap, id: &str| -> BackendResult<()> {
        h.insert(
            IF_MATCH,
            HeaderValue::from_str(id)
                .map_err(|_| BackendError::Internal("native id not a header value".into()))?,
        );
        Ok(())
    };
    match cond {
        WriteCondition::None => {}
        WriteCondition::IfNoneMatchAny => {
            h.insert(IF_NONE_MATCH, HeaderValue::from_static("*"));
        }
        WriteCondition::IfMatchAny => {
            h.insert(IF_MATCH, HeaderValue::from_static("*"));
        }
        WriteCondition::IfMatch(e) => {
            let cur = head_native(inner, cx, bucket, name).await.native()?;
            if cur.info.etag != *e {
                return Err(BackendError::PreconditionFailed);
            }
            pin_id(h, &cur.id)?;
        }
        WriteCondition::IfNoneMatch(e) => match head_native(inner, cx, bucket, name).await {
            Ok(cur) if cur.info.etag == *e => return Err(BackendError::PreconditionFailed),
            Ok(cur) => pin_id(h, &cur.id)?,
            Err(f) => match map_native(f) {
                BackendError::NoSuchKey => {
                    h.insert(IF_NONE_MATCH, HeaderValue::from_static("*"));
                }
                e => return Err(e),
            },
        },
    }
    Ok(())
}

/// The S3 answer to a conditional write the native store refused (its
/// 412, or its 404 when the pinned object went away). The body is spent,
/// so the write is not retried: the object that won is read to decide
/// between the S3 answers. A write whose condition would hold against the
/// winner is a conflict (409 ConditionalRequestConflict, which S3 answers
/// to concurrent conditional writes and clients retry).
pub(crate) async fn write_refused(
    inner: &Inner,
    cx: &RequestContext,
    bucket: &str,
    name: &str,
    cond: &WriteCondition,
    err: BackendError,
) -> BackendError {
    if *cond == WriteCondition::None
        || !matches!(
            err,
            BackendError::PreconditionFailed | BackendError::NoSuchKey
        )
    {
        return err;
    }
    let current = match head_native(inner, cx, bucket, name).await {
        Ok(o) => Some(o.info.etag),
        Err(f) => match map_native(f) {
            BackendError::NoSuchKey => None,
            e => return e,
        },
    };
    match (cond, current) {
        (WriteCondition::IfNoneMatchAny, Some(_)) => BackendError::PreconditionFailed,
        (WriteCondition::IfMatchAny | WriteCondition::IfMatch(_), None) => BackendError::NoSuchKey,
        (WriteCondition::IfMatch(e), Some(cur)) if cur != *e => BackendError::PreconditionFailed,
        (WriteCondition::IfNoneMatch(e), Some(cur)) if cur == *e => {
            BackendError::PreconditionFailed
        }
        _ => BackendError::ConditionalRequestConflict,
    }
}

/// ETag, native id and time from a native PUT answer.
pub(crate) fn put_answer(resp: &Response) -> BackendResult<(ETag, String, SystemTime)> {
    let h = resp.headers();
    let md5 = header_str(h, H_COMPUTED_MD5)
        .and_then(meta::md5_from_b64)
        .ok_or_else(|| {
            map_native(NativeFailure::Protocol(
                "PUT answer without Computed-MD5".into(),
            ))
        })?;
    let id = header_str(h, "etag")
        .unwrap_or_default()
        .trim_matches('"')
        .to_owned();
    let lm = header_str(h, LAST_MODIFIED.as_str())
        .and_then(|v| httpdate::parse_http_date(v).ok())
        .unwrap_or_else(now_secs);
    Ok((ETag::from_md5(&md5), id, lm))
}

pub(crate) fn now_secs() -> SystemTime {
    let d = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(d.as_secs())
}

/// Maps a write's failure: a precondition the native store refused is the
/// S3 one; everything else goes through the one mapping function.
fn write_err(f: NativeFailure) -> BackendError {
    map_native(f)
}

/// One native PUT streaming `body` (never buffered); see [`Tapped`] for
/// how a failing body aborts it.
pub(crate) async fn native_put(
    inner: &Inner,
    cx: &RequestContext,
    url: &str,
    headers: HeaderMap,
    body: ByteStream,
) -> BackendResult<Response> {
    let slot = ErrSlot::default();
    let rb = inner
        .client
        .signed(Method::PUT, url, &cx.request_id)
        .headers(headers)
        .body(Tapped::new(body, slot.clone()).into_body());
    inner.client.send_body(rb, &slot).await.map_err(write_err)
}

pub(crate) async fn put_object(
    inner: &Inner,
    cx: &RequestContext,
    input: PutObjectInput,
) -> BackendResult<PutObjectOutput> {
    let PutObjectInput {
        bucket,
        key,
        body,
        mut meta,
        condition,
    } = input;
    let c = &inner.client;
    let url = c.object_url(&cx.tenant.login, bucket.as_str(), key.as_str());
    let trailer = match body.checksum {
        ChecksumInput::None => {
            meta.checksum = None;
            None
        }
        ChecksumInput::Known(ck) => {
            meta.checksum = Some(ck);
            None
        }
        ChecksumInput::Trailer(rx) => {
            meta.checksum = None;
            Some(rx)
        }
    };
    let mut h = HeaderMap::with_capacity(12);
    put_headers(&meta, &Internal::default(), &mut h)?;
    write_condition(inner, cx, bucket.as_str(), key.as_str(), &condition, &mut h).await?;
    if let Some(len) = body.length {
        h.insert(CONTENT_LENGTH, HeaderValue::from(len));
    }
    if let Some(md5) = body.content_md5 {
        let v = base64::engine::general_purpose::STANDARD.encode(md5);
        h.insert(
            "content-md5",
            HeaderValue::from_str(&v).expect("base64 is a header value"),
        );
    }
    let resp = match native_put(inner, cx, &url, h, body.stream).await {
        Ok(r) => r,
        Err(e) => {
            return Err(
                write_refused(inner, cx, bucket.as_str(), key.as_str(), &condition, e).await,
            )
        }
    };
    let (etag, id, last_modified) = put_answer(&resp)?;
    drop(resp);
    let mut checksum = meta.checksum.clone();
    if let Some(rx) = trailer {
        // The trailer's checksum is known only after the body. It is added
        // with a metadata update guarded by the new object's id, so it can
        // never land on a later overwrite. Window: between the PUT and this
        // update, a reader sees the object without a checksum (never a
        // stale one).
        if let Ok(ck) = rx.await {
            meta.checksum = Some(ck.clone());
            match update_metadata(inner, cx, &url, &meta, &Internal::default(), &id).await {
                Ok(()) => checksum = Some(ck),
                Err(BackendError::PreconditionFailed | BackendError::NoSuchKey) => {}
                Err(e) => tracing::warn!(error = %e, "storing the trailing checksum failed"),
            }
        }
    }
    Ok(PutObjectOutput {
        etag,
        last_modified,
        checksum,
    })
}

/// Native UpdateBucketObjectMetadata: replaces all stored headers, keeps
/// the object id and bytes; guarded by `If-Match: <id>`.
pub(crate) async fn update_metadata(
    inner: &Inner,
    cx: &RequestContext,
    object_url: &str,
    meta: &ObjectMeta,
    internal: &Internal,
    id: &str,
) -> BackendResult<()> {
    let mut h = HeaderMap::new();
    put_headers(meta, internal, &mut h)?;
    // Not allowed on a metadata update (400 InvalidUpdate).
    h.remove(H_DURABILITY);
    h.insert(
        IF_MATCH,
        HeaderValue::from_str(id)
            .map_err(|_| BackendError::Internal("native id not a header value".into()))?,
    );
    let url = format!("{object_url}/metadata");
    let c = &inner.client;
    c.send(false, || {
        c.signed(Method::PUT, &url, &cx.request_id)
            .headers(h.clone())
    })
    .await
    .native()?;
    Ok(())
}

/// PutObjectTagging / DeleteObjectTagging: see [`rewrite_metadata`].
pub(crate) async fn put_object_tagging(
    inner: &Inner,
    cx: &RequestContext,
    bucket: &BucketName,
    key: &ObjectKey,
    tagging: Option<String>,
) -> BackendResult<()> {
    rewrite_metadata(inner, cx, bucket, key, "a tagging update", |m| {
        m.tagging = tagging.clone()
    })
    .await
}

/// PutObjectAcl: see [`rewrite_metadata`].
pub(crate) async fn put_object_acl(
    inner: &Inner,
    cx: &RequestContext,
    bucket: &BucketName,
    key: &ObjectKey,
    acl: Option<crate::acl::CannedAcl>,
) -> BackendResult<()> {
    rewrite_metadata(inner, cx, bucket, key, "PutObjectAcl", |m| m.acl = acl).await
}

/// An object-level metadata change (tags, ACL): the object's headers as
/// stored (read with a HEAD, internal values included, see meta.rs) with
/// `change` applied, written back with the native metadata update pinned
/// to the object read (`If-Match: <id>`), so the change never lands on an
/// object that replaced it meanwhile (then it is read again and the update
/// redone). The bytes, the native id and the S3 ETag stay; the native
/// `Last-Modified` moves (the store sets it on every metadata update).
async fn rewrite_metadata(
    inner: &Inner,
    cx: &RequestContext,
    bucket: &BucketName,
    key: &ObjectKey,
    what: &str,
    change: impl Fn(&mut ObjectMeta),
) -> BackendResult<()> {
    let url = inner
        .client
        .object_url(&cx.tenant.login, bucket.as_str(), key.as_str());
    for _ in 0..READ_RACE_ATTEMPTS {
        let obj = head_native(inner, cx, bucket.as_str(), key.as_str())
            .await
            .native()?;
        let mut meta = obj.info.meta.clone();
        change(&mut meta);
        match update_metadata(inner, cx, &url, &meta, &obj.internal, &obj.id).await {
            Ok(()) => return Ok(()),
            // Replaced between the HEAD and the update: read it again.
            Err(BackendError::PreconditionFailed) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(BackendError::ServiceUnavailable(format!(
        "object kept changing during {what}"
    )))
}

/// GetObject (with a body) and HeadObject (without).
pub(crate) async fn get_object(
    inner: &Inner,
    cx: &RequestContext,
    input: GetObjectInput,
    want_body: bool,
) -> BackendResult<(HeadObjectOutput, Option<ByteStream>)> {
    let c = &inner.client;
    let bucket = input.bucket.as_str();
    let name = input.key.as_str();
    let url = c.object_url(&cx.tenant.login, bucket, name);
    let plain = input.range.is_none() && input.part_number.is_none() && input.conditions.is_empty();
    if plain {
        // One round trip: everything S3 needs is in the full answer's headers.
        let (mut obj, body) = if want_body {
            let resp = c
                .send(true, || c.signed(Method::GET, &url, &cx.request_id))
                .await
                .native()?;
            (
                parse_object(name, resp.headers(), None).native()?,
                Some(response_stream(resp)),
            )
        } else {
            (head_native(inner, cx, bucket, name).await.native()?, None)
        };
        if !input.checksum_mode {
            obj.info.meta.checksum = None;
        }
        let size = obj.info.size;
        return Ok((
            HeadObjectOutput {
                info: obj.info,
                content_range: None,
                content_length: size,
            },
            body,
        ));
    }
    // Conditions, ranges and parts: HEAD, decide, then GET pinned to the
    // very object decided on (native If-Match: <id>), so a concurrent
    // overwrite can never serve other bytes than those the conditions
    // were evaluated against.
    for _ in 0..READ_RACE_ATTEMPTS {
        let mut obj = head_native(inner, cx, bucket, name).await.native()?;
        match evaluate(&input.conditions, &obj.info.etag, obj.info.last_modified) {
            CondOutcome::Proceed => {}
            CondOutcome::NotModified => {
                return Err(BackendError::NotModified {
                    etag: obj.info.etag,
                    last_modified: obj.info.last_modified,
                })
            }
            CondOutcome::Failed => return Err(BackendError::PreconditionFailed),
        }
        let size = obj.info.size;
        let mut part_checksum = None;
        let range = if let Some(pn) = input.part_number {
            match (&obj.internal.multipart_etag, &obj.internal.part_sizes) {
                // A simple object has exactly one part: the whole object.
                (None, _) if pn.get() == 1 => None,
                // Beyond the parts: 400 InvalidPartNumber (S3), not 416.
                (None, _) => return Err(BackendError::InvalidPartNumber),
                (Some(e), _) if meta::parts_of(e).is_some_and(|n| u32::from(pn.get()) > n) => {
                    return Err(BackendError::InvalidPartNumber)
                }
                (Some(_), Some(ps)) => {
                    let side = ps == meta::PART_SIZES_ELSEWHERE
                        || obj.internal.part_checksums.as_deref()
                            == Some(meta::PART_SIZES_ELSEWHERE);
                    let (ps, pk) = if side {
                        let uid = obj.internal.upload_id.as_deref().ok_or_else(|| {
                            BackendError::Internal("part sizes without an upload id".into())
                        })?;
                        super::multipart::stored_part_sizes(inner, cx, bucket, name, uid).await?
                    } else {
                        (ps.clone(), obj.internal.part_checksums.clone())
                    };
                    part_checksum = meta::Internal {
                        part_checksums: pk,
                        ..Default::default()
                    }
                    .part_checksum(pn.get());
                    Some(meta::part_range(&ps, pn.get()).ok_or(BackendError::InvalidPartNumber)?)
                }
                (Some(_), None) => {
                    return Err(BackendError::NotImplemented(
                        "partNumber reads of an object with irregular part sizes",
                    ))
                }
            }
        } else if let Some(r) = input.range {
            Some(r.resolve(size).ok_or(BackendError::InvalidRange { size })?)
        } else {
            None
        };
        if !input.checksum_mode {
            obj.info.meta.checksum = None;
        } else if input.part_number.is_some() && range.is_some() {
            // That part's own checksum (S3), when the object keeps them.
            obj.info.meta.checksum = part_checksum;
        } else if range.is_some() {
            obj.info.meta.checksum = None;
        }
        let (content_range, content_length) = match range {
            Some((a, b)) => (Some((a, b, size)), b - a + 1),
            None => (None, size),
        };
        let out = HeadObjectOutput {
            info: obj.info,
            content_range,
            content_length,
        };
        if !want_body {
            return Ok((out, None));
        }
        let id = obj.id.clone();
        let res = c
            .send(true, || {
                let rb = c
                    .signed(Method::GET, &url, &cx.request_id)
                    .header(IF_MATCH, id.as_str());
                match range {
                    Some((a, b)) => rb.header(RANGE, format!("bytes={a}-{b}")),
                    None => rb,
                }
            })
            .await;
        match res {
            Ok(resp) => return Ok((out, Some(response_stream(resp)))),
            // Replaced between HEAD and GET: decide again on the new object.
            Err(NativeFailure::Status { status: 412, .. }) => continue,
            Err(f) => return Err(map_native(f)),
        }
    }
    Err(BackendError::ServiceUnavailable(
        "object kept changing during a conditional read".into(),
    ))
}

pub(crate) async fn delete_object(
    inner: &Inner,
    cx: &RequestContext,
    bucket: &BucketName,
    key: &ObjectKey,
) -> BackendResult<()> {
    let c = &inner.client;
    let url = c.object_url(&cx.tenant.login, bucket.as_str(), key.as_str());
    match c
        .send(false, || c.signed(Method::DELETE, &url, &cx.request_id))
        .await
    {
        Ok(_) => Ok(()),
        // S3: deleting a missing key succeeds (204).
        Err(f) if f.code() == Some("ObjectNotFound") => Ok(()),
        Err(f) => Err(map_native(f)),
    }
}

/// S3 error code of a per-key DeleteObjects failure.
fn delete_error(e: &BackendError) -> DeleteObjectError {
    let code = match e {
        BackendError::AccessDenied => "AccessDenied",
        BackendError::SlowDown => "SlowDown",
        BackendError::ServiceUnavailable(_) => "ServiceUnavailable",
        _ => "InternalError",
    };
    DeleteObjectError {
        code,
        message: "We encountered an internal error. Please try again.".into(),
    }
}

pub(crate) async fn delete_objects(
    inner: &Inner,
    cx: &RequestContext,
    bucket: &BucketName,
    keys: Vec<ObjectKey>,
) -> BackendResult<DeleteObjectsOutput> {
    let results: Vec<(String, BackendResult<()>)> = stream::iter(keys)
        .map(|k| async move {
            let r = delete_object(inner, cx, bucket, &k).await;
            (k.as_str().to_owned(), r)
        })
        .buffered(inner.cfg.fanout)
        .collect()
        .await;
    if results
        .iter()
        .any(|(_, r)| matches!(r, Err(BackendError::NoSuchBucket)))
    {
        return Err(BackendError::NoSuchBucket);
    }
    Ok(DeleteObjectsOutput {
        results: results
            .into_iter()
            .map(|(k, r)| (k, r.map_err(|e| delete_error(&e))))
            .collect(),
    })
}

/// Opens the source of a copy: a full GET whose answer headers are checked
/// against the `x-amz-copy-source-if-*` conditions (no race: the bytes
/// streamed are those of the answer checked), or, for a range, a HEAD and a
/// GET pinned to the object id.
pub(crate) async fn open_source(
    inner: &Inner,
    cx: &RequestContext,
    src: &CopySource,
    conds: &ReadConditions,
    range: Option<ByteRange>,
) -> BackendResult<(NativeObject, Option<(u64, u64)>, Response)> {
    let c = &inner.client;
    let url = c.object_url(&cx.tenant.login, src.bucket.as_str(), src.key.as_str());
    let check = |o: &NativeObject| match evaluate(conds, &o.info.etag, o.info.last_modified) {
        CondOutcome::Proceed => Ok(()),
        // Copy-source conditions fail with 412 in every case (S3).
        _ => Err(BackendError::PreconditionFailed),
    };
    let Some(range) = range else {
        let resp = c
            .send(true, || c.signed(Method::GET, &url, &cx.request_id))
            .await
            .native()?;
        let obj = parse_object(src.key.as_str(), resp.headers(), None).native()?;
        check(&obj)?;
        return Ok((obj, None, resp));
    };
    for _ in 0..READ_RACE_ATTEMPTS {
        let obj = head_native(inner, cx, src.bucket.as_str(), src.key.as_str())
            .await
            .native()?;
        check(&obj)?;
        let size = obj.info.size;
        // A copy range must lie inside the source (S3: InvalidRange).
        let (a, b) = match range {
            ByteRange::FromTo(a, b) if b < size => (a, b),
            ByteRange::FromTo(..) => return Err(BackendError::InvalidRange { size }),
            r => r.resolve(size).ok_or(BackendError::InvalidRange { size })?,
        };
        let res = c
            .send(true, || {
                c.signed(Method::GET, &url, &cx.request_id)
                    .header(IF_MATCH, obj.id.as_str())
                    .header(RANGE, format!("bytes={a}-{b}"))
            })
            .await;
        match res {
            Ok(resp) => return Ok((obj, Some((a, b)), resp)),
            Err(NativeFailure::Status { status: 412, .. }) => continue,
            Err(f) => return Err(map_native(f)),
        }
    }
    Err(BackendError::ServiceUnavailable(
        "copy source kept changing".into(),
    ))
}

pub(crate) async fn copy_object(
    inner: &Inner,
    cx: &RequestContext,
    input: CopyObjectInput,
) -> BackendResult<CopyObjectOutput> {
    let c = &inner.client;
    let dest_url = c.object_url(&cx.tenant.login, input.bucket.as_str(), input.key.as_str());
    if input.source.bucket == input.bucket && input.source.key == input.key {
        let MetadataDirective::Replace(mut meta) = input.metadata else {
            return Err(BackendError::InvalidRequest(
                "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.".into(),
            ));
        };
        // Onto itself: the native metadata update, which keeps the bytes
        // and the object id (so the S3 ETag is kept), pinned to the object
        // the conditions were evaluated on.
        let obj = head_native(inner, cx, input.bucket.as_str(), input.key.as_str())
            .await
            .native()?;
        if evaluate(
            &input.source_conditions,
            &obj.info.etag,
            obj.info.last_modified,
        ) != CondOutcome::Proceed
        {
            return Err(BackendError::PreconditionFailed);
        }
        // The destination exists (it is the source): its conditions are
        // decided on the object found, and the update below is pinned to
        // its id, so they hold atomically.
        match &input.condition {
            WriteCondition::IfNoneMatchAny => return Err(BackendError::PreconditionFailed),
            WriteCondition::IfMatch(e) if *e != obj.info.etag => {
                return Err(BackendError::PreconditionFailed)
            }
            WriteCondition::IfNoneMatch(e) if *e == obj.info.etag => {
                return Err(BackendError::PreconditionFailed)
            }
            _ => {}
        }
        // Same bytes: the stored checksum is still true.
        meta.checksum = obj.info.meta.checksum.clone();
        meta.tagging = match input.tagging {
            TaggingDirective::Copy => obj.info.meta.tagging.clone(),
            TaggingDirective::Replace(t) => t,
        };
        meta.acl = input.acl;
        match update_metadata(inner, cx, &dest_url, &meta, &obj.internal, &obj.id).await {
            Ok(()) => {}
            // Replaced or removed since it was read.
            Err(BackendError::PreconditionFailed | BackendError::NoSuchKey)
                if input.condition != WriteCondition::None
                    || !input.source_conditions.is_empty() =>
            {
                return Err(BackendError::ConditionalRequestConflict)
            }
            Err(e) => return Err(e),
        }
        return Ok(CopyObjectOutput {
            etag: obj.info.etag,
            last_modified: now_secs(),
        });
    }
    let (src, _, resp) =
        open_source(inner, cx, &input.source, &input.source_conditions, None).await?;
    if src.info.size > MAX_COPY_BYTES {
        return Err(BackendError::InvalidRequest("The specified copy source is larger than the maximum allowable size for a copy source: 5368709120".into()));
    }
    let mut meta = match input.metadata {
        // COPY keeps the source's metadata, storage class and checksum (the
        // same bytes); multipart internals are not copied: the copy is a
        // simple object whose ETag is its MD5, as S3 does.
        MetadataDirective::Copy => src.info.meta.clone(),
        MetadataDirective::Replace(mut m) => {
            m.checksum = None;
            m
        }
    };
    // Tags follow their own directive, independent of the metadata's.
    meta.tagging = match input.tagging {
        TaggingDirective::Copy => src.info.meta.tagging.clone(),
        TaggingDirective::Replace(t) => t,
    };
    // Never the source's ACL: the copy's own x-amz-acl, or private (S3).
    meta.acl = input.acl;
    let mut h = HeaderMap::with_capacity(12);
    put_headers(&meta, &Internal::default(), &mut h)?;
    write_condition(
        inner,
        cx,
        input.bucket.as_str(),
        input.key.as_str(),
        &input.condition,
        &mut h,
    )
    .await?;
    h.insert(CONTENT_LENGTH, HeaderValue::from(src.info.size));
    if let Some(md5) = src.md5 {
        // The store verifies the copy end to end against the source's MD5.
        let v = base64::engine::general_purpose::STANDARD.encode(md5);
        h.insert(
            "content-md5",
            HeaderValue::from_str(&v).expect("base64 is a header value"),
        );
    }
    let put = native_put(inner, cx, &dest_url, h, response_stream(resp)).await;
    let put = match put {
        Ok(p) => p,
        Err(e @ (BackendError::PreconditionFailed | BackendError::NoSuchKey))
            if input.condition != WriteCondition::None =>
        {
            return Err(write_refused(
                inner,
                cx,
                input.bucket.as_str(),
                input.key.as_str(),
                &input.condition,
                e,
            )
            .await)
        }
        // The source stream broke: a store-side failure, not the client's.
        Err(BackendError::Body(e)) => {
            return Err(BackendError::ServiceUnavailable(format!(
                "copy source read failed: {e}"
            )))
        }
        Err(e) => return Err(e),
    };
    let (etag, _, last_modified) = put_answer(&put)?;
    Ok(CopyObjectOutput {
        etag,
        last_modified,
    })
}
