//! Multipart uploads, built from hidden objects in the upload's own bucket
//! (design.md "Multipart"; the store has no multipart routes).
//!
//! # Layout in the store
//! - upload record: `.s3gw~/u/<key>/<upload-id>`, an empty object carrying
//!   the upload's S3 metadata and content type exactly as the final object
//!   will (plus `m-s3gw-ca`, the checksum choice); its mtime is Initiated.
//! - part: `.s3gw~/p/<upload-id>/<nnnnn>` (five-digit part number, so
//!   native name order is part order); its native MD5 is the part's S3 ETag;
//!   its Content-Type carries the part's `x-amz-checksum-*` as a
//!   `; s3gw-ck=ALG:base64` parameter, because listing lines (ListParts,
//!   Complete) carry the content type but no `m-*` values.
//! - part sizes of a completed object, when too many distinct sizes to fit
//!   its metadata: `.s3gw~/s/<key>/<upload-id>` (run-length text), written
//!   before the object; the object's `m-s3gw-ps` is then `@`. Swept once
//!   older than `upload_ttl` and no longer referenced by the key's object.
//! - upload ids are 32 characters: 12 hex digits of the creation time in
//!   milliseconds, then 20 random hex digits, so one key's uploads list in
//!   initiation order.
//!
//! The upload state lives ONLY in the store: any gateway instance can
//! upload parts to, list, complete or abort an upload another one created.
//!
//! # Complete
//! The part list is validated (InvalidPartOrder, InvalidPart against the
//! stored part MD5s, EntityTooSmall below [`MIN_PART_SIZE`] except for the
//! last), then the object is made from the parts:
//! - by the store itself, when it serves buckets-lite's compose extension
//!   (detected once, `Inner::composes`; s3gw's embedded store has it on):
//!   ONE native request naming the parts, each pinned to the native id
//!   validated, with the object's headers and write condition; the store
//!   hard-links the parts' bodies as the new object's segments and commits
//!   as a PUT does.
//!   No byte passes through the gateway.
//! - else (the real store) by streaming: the parts in order, each GET
//!   pinned to the part object validated (`If-Match: <native id>`), into
//!   ONE native PUT with `Content-Length` = the sum of the part sizes
//!   (memory stays bounded by the HTTP buffers).
//!
//! The final object carries the upload's metadata, the
//! `md5(concat(part md5s))-N` ETag, the part sizes (partNumber reads) and
//! the upload id (so a retried Complete of a finished upload answers with
//! the same ETag, as S3 does). Parts are removed, then the record.
//!
//! # Stale uploads
//! When CreateMultipartUpload or ListMultipartUploads touches a bucket and
//! this instance has not swept it within `sweep_interval`, a background task
//! removes records and parts older than `upload_ttl`. Parts left by an
//! UploadPart racing an Abort/Complete are older than their upload's record
//! age bound too, so they go the same way.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use base64::Engine as _;
use futures_util::{stream, StreamExt, TryStreamExt};
use md5::{Digest, Md5};
use reqwest::header::{
    HeaderMap, HeaderValue, CONTENT_LENGTH, CONTENT_TYPE, IF_MATCH, IF_NONE_MATCH,
};
use reqwest::Method;

use super::client::response_stream;
use super::error::NativeFailure;
use super::meta::{self, decode_choice, encode_choice, put_headers, Internal, NativeObject};
use super::object::{
    head_native, native_put, now_secs, open_source, put_answer, write_condition, write_refused,
    MAX_COPY_BYTES,
};
use super::wire::{parse_mtime, ListEntry};
use super::{map_native, Inner, Native};
use crate::backend::*;
use crate::types::*;

/// Smallest size of every part but the last (S3: EntityTooSmall).
pub const MIN_PART_SIZE: u64 = 5 << 20;
const UPLOAD_ID_LEN: usize = 32;
/// Longest key a multipart upload accepts: the record's native name (hidden
/// prefix + `u/` + key + `/` + upload id) must fit the store's 1024 bytes.
pub const MAX_MULTIPART_KEY_BYTES: usize =
    MAX_KEY_BYTES - (HIDDEN_PREFIX.len() + 2 + 1 + UPLOAD_ID_LEN);
/// Most parts or uploads one listing page returns.
const MAX_LIST: u32 = 1000;

fn records_prefix() -> String {
    format!("{HIDDEN_PREFIX}u/")
}
fn record_name(key: &str, uid: &str) -> String {
    format!("{HIDDEN_PREFIX}u/{key}/{uid}")
}
fn sizes_prefix() -> String {
    format!("{HIDDEN_PREFIX}s/")
}
fn sizes_name(key: &str, uid: &str) -> String {
    format!("{HIDDEN_PREFIX}s/{key}/{uid}")
}
/// Longest part-sizes side object read back (10,000 parts of distinct
/// 5 GiB-scale sizes take about 150 KB, their SHA256s about 430 KB).
const MAX_SIZES_BYTES: usize = 1 << 20;

/// The side object of a completed object: (run-length part sizes, part
/// checksums as in `m-s3gw-pk`).
pub(crate) async fn stored_part_sizes(
    inner: &Inner,
    cx: &RequestContext,
    bucket: &str,
    key: &str,
    uid: &str,
) -> BackendResult<(String, Option<String>)> {
    let c = &inner.client;
    let url = c.object_url(&cx.tenant.login, bucket, &sizes_name(key, uid));
    let resp = c
        .send(true, || c.signed(Method::GET, &url, &cx.request_id))
        .await
        .map_err(|f| match map_native(f) {
            BackendError::NoSuchKey => {
                BackendError::Internal(format!("part sizes of upload {uid} missing"))
            }
            e => e,
        })?;
    let mut body = response_stream(resp);
    let mut out = Vec::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| BackendError::ServiceUnavailable(e.to_string()))?;
        if out.len() + chunk.len() > MAX_SIZES_BYTES {
            return Err(BackendError::Internal("part sizes object too large".into()));
        }
        out.extend_from_slice(&chunk);
    }
    let text =
        String::from_utf8(out).map_err(|_| BackendError::Internal("part sizes not text".into()))?;
    Ok(match text.split_once('\n') {
        Some((s, k)) => (s.to_owned(), (!k.is_empty()).then(|| k.to_owned())),
        None => (text, None),
    })
}

fn parts_prefix(uid: &str) -> String {
    format!("{HIDDEN_PREFIX}p/{uid}/")
}
fn part_name(uid: &str, n: u16) -> String {
    format!("{HIDDEN_PREFIX}p/{uid}/{n:05}")
}

/// Content-Type of a part object: the checksum rides as a parameter.
const PART_CT_CK: &str = "application/octet-stream; s3gw-ck=";

fn part_content_type(ck: &Checksum) -> String {
    format!("{PART_CT_CK}{}:{}", ck.algorithm.as_str(), ck.value_b64)
}

fn part_checksum_of(content_type: Option<&str>) -> Option<Checksum> {
    let (alg, v) = content_type?.strip_prefix(PART_CT_CK)?.split_once(':')?;
    Some(Checksum {
        algorithm: ChecksumAlgorithm::parse(alg)?,
        value_b64: v.to_owned(),
        kind: ChecksumType::FullObject,
    })
}

fn new_upload_id() -> UploadId {
    let ms = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    let rnd = uuid::Uuid::new_v4().simple().to_string();
    let id = format!(
        "{:012x}{}",
        ms & 0xffff_ffff_ffff,
        &rnd[..UPLOAD_ID_LEN - 12]
    );
    UploadId::parse(&id).expect("hex upload id")
}

/// The upload record, or NoSuchUpload.
async fn record(
    inner: &Inner,
    cx: &RequestContext,
    bucket: &BucketName,
    key: &ObjectKey,
    uid: &UploadId,
) -> BackendResult<NativeObject> {
    if uid.as_str().len() != UPLOAD_ID_LEN {
        return Err(BackendError::NoSuchUpload);
    }
    match head_native(
        inner,
        cx,
        bucket.as_str(),
        &record_name(key.as_str(), uid.as_str()),
    )
    .await
    .native()
    {
        Err(BackendError::NoSuchKey) => Err(BackendError::NoSuchUpload),
        r => r,
    }
}

pub(crate) async fn create(
    inner: &Inner,
    cx: &RequestContext,
    input: CreateMultipartUploadInput,
) -> BackendResult<CreateMultipartUploadOutput> {
    if input.key.as_str().len() > MAX_MULTIPART_KEY_BYTES {
        return Err(BackendError::KeyTooLongError);
    }
    let uid = new_upload_id();
    let mut meta = input.meta;
    meta.checksum = None;
    let internal = Internal {
        checksum_choice: encode_choice(input.checksum_algorithm, input.checksum_type),
        ..Default::default()
    };
    let mut h = HeaderMap::new();
    put_headers(&meta, &internal, &mut h)?;
    h.insert(CONTENT_LENGTH, HeaderValue::from(0u64));
    h.insert(IF_NONE_MATCH, HeaderValue::from_static("*"));
    let c = &inner.client;
    let url = c.object_url(
        &cx.tenant.login,
        input.bucket.as_str(),
        &record_name(input.key.as_str(), uid.as_str()),
    );
    c.send(false, || {
        c.signed(Method::PUT, &url, &cx.request_id)
            .headers(h.clone())
    })
    .await
    .native()?;
    Ok(CreateMultipartUploadOutput { upload_id: uid })
}

fn md5_header(h: &mut HeaderMap, md5: &[u8; 16]) {
    let v = base64::engine::general_purpose::STANDARD.encode(md5);
    h.insert(
        "content-md5",
        HeaderValue::from_str(&v).expect("base64 is a header value"),
    );
}

pub(crate) async fn upload_part(
    inner: &Inner,
    cx: &RequestContext,
    input: UploadPartInput,
) -> BackendResult<UploadPartOutput> {
    let rec = record(inner, cx, &input.bucket, &input.key, &input.upload_id).await?;
    let body = input.body;
    let chosen = rec
        .internal
        .checksum_choice
        .as_deref()
        .and_then(|c| decode_choice(c).0);
    let mut h = HeaderMap::with_capacity(4);
    if let ChecksumInput::Known(ck) = &body.checksum {
        if chosen.is_some_and(|a| a != ck.algorithm) {
            return Err(BackendError::InvalidRequest(format!(
                "Checksum Type mismatch occurred, expected checksum Type: {}, actual checksum Type: {}",
                chosen.map(|a| a.header_suffix()).unwrap_or_default(),
                ck.algorithm.header_suffix()
            )));
        }
        h.insert(
            CONTENT_TYPE,
            HeaderValue::from_str(&part_content_type(ck))
                .map_err(|_| BackendError::Internal("checksum not a header value".into()))?,
        );
    }
    if let Some(len) = body.length {
        h.insert(CONTENT_LENGTH, HeaderValue::from(len));
    }
    if let Some(md5) = &body.content_md5 {
        md5_header(&mut h, md5);
    }
    let c = &inner.client;
    let url = c.object_url(
        &cx.tenant.login,
        input.bucket.as_str(),
        &part_name(input.upload_id.as_str(), input.part_number.get()),
    );
    let resp = native_put(inner, cx, &url, h, body.stream).await?;
    let (etag, id, _) = put_answer(&resp)?;
    drop(resp);
    // Checksums were verified by the gateway's stream; a header's is stored
    // with the part by the PUT, a trailer's (known only after the body) by
    // a metadata update pinned to this very part object.
    let checksum = match body.checksum {
        ChecksumInput::None => None,
        ChecksumInput::Known(ck) => Some(ck),
        ChecksumInput::Trailer(rx) => match rx.await {
            Ok(ck) => {
                set_part_checksum(inner, cx, &url, &id, &ck).await?;
                Some(ck)
            }
            Err(_) => None,
        },
    };
    Ok(UploadPartOutput { etag, checksum })
}

/// Stores a checksum known only after a part's bytes (a trailer, a
/// server-side copy) with that very part object (pinned to its id).
async fn set_part_checksum(
    inner: &Inner,
    cx: &RequestContext,
    part_url: &str,
    id: &str,
    ck: &Checksum,
) -> BackendResult<()> {
    let mut h = HeaderMap::with_capacity(2);
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_str(&part_content_type(ck))
            .map_err(|_| BackendError::Internal("checksum not a header value".into()))?,
    );
    h.insert(
        IF_MATCH,
        HeaderValue::from_str(id)
            .map_err(|_| BackendError::Internal("native id not a header value".into()))?,
    );
    let murl = format!("{part_url}/metadata");
    let c = &inner.client;
    match c
        .send(false, || {
            c.signed(Method::PUT, &murl, &cx.request_id)
                .headers(h.clone())
        })
        .await
    {
        Ok(_) => Ok(()),
        // Replaced by a later upload of the same part: that one carries
        // its own checksum.
        Err(NativeFailure::Status {
            status: 404 | 412, ..
        }) => Ok(()),
        Err(f) => Err(map_native(f)),
    }
}

pub(crate) async fn upload_part_copy(
    inner: &Inner,
    cx: &RequestContext,
    input: UploadPartCopyInput,
) -> BackendResult<CopyObjectOutput> {
    let rec = record(inner, cx, &input.bucket, &input.key, &input.upload_id).await?;
    let chosen = rec
        .internal
        .checksum_choice
        .as_deref()
        .and_then(|c| decode_choice(c).0);
    let (src, range, resp) = open_source(
        inner,
        cx,
        &input.source,
        &input.source_conditions,
        input.source_range,
    )
    .await?;
    let len = match range {
        Some((a, b)) => b - a + 1,
        None => src.info.size,
    };
    if len > MAX_COPY_BYTES {
        return Err(BackendError::InvalidRequest(
            "copy source range larger than 5 GiB".into(),
        ));
    }
    let mut h = HeaderMap::with_capacity(4);
    h.insert(CONTENT_LENGTH, HeaderValue::from(len));
    if let (None, Some(md5)) = (range, &src.md5) {
        md5_header(&mut h, md5);
    }
    let c = &inner.client;
    let url = c.object_url(
        &cx.tenant.login,
        input.bucket.as_str(),
        &part_name(input.upload_id.as_str(), input.part_number.get()),
    );
    // With a checksum algorithm chosen for the upload, the copied bytes are
    // digested on their way, and the part keeps its checksum like an
    // uploaded one.
    let hasher = chosen.map(|a| Arc::new(std::sync::Mutex::new(crate::checksum::Hasher::new(a))));
    let body: ByteStream = match &hasher {
        None => response_stream(resp),
        Some(hs) => {
            let hs = hs.clone();
            Box::pin(response_stream(resp).inspect(move |item| {
                if let (Ok(bytes), Ok(mut h)) = (item, hs.lock()) {
                    h.update(bytes);
                }
            }))
        }
    };
    let put = match native_put(inner, cx, &url, h, body).await {
        Ok(p) => p,
        Err(BackendError::Body(e)) => {
            return Err(BackendError::ServiceUnavailable(format!(
                "copy source read failed: {e}"
            )))
        }
        Err(e) => return Err(e),
    };
    let (etag, id, last_modified) = put_answer(&put)?;
    drop(put);
    if let (Some(hs), Some(alg)) = (hasher, chosen) {
        // The body was consumed whole (the store answered the PUT); the
        // stream's clone of the hasher may not be dropped yet.
        let ck = hs
            .lock()
            .ok()
            .map(|mut h| std::mem::replace(&mut *h, crate::checksum::Hasher::new(alg)).finish());
        if let Some(ck) = ck {
            set_part_checksum(inner, cx, &url, &id, &ck).await?;
        }
    }
    Ok(CopyObjectOutput {
        etag,
        last_modified,
    })
}

/// A stored part as its listing line describes it.
#[derive(Clone)]
struct StoredPart {
    number: u16,
    size: u64,
    md5: [u8; 16],
    id: String,
    mtime: SystemTime,
    name: String,
    checksum: Option<Checksum>,
}

fn stored_part(uid: &str, e: &ListEntry) -> Option<StoredPart> {
    let n: u16 = e.name.strip_prefix(&parts_prefix(uid))?.parse().ok()?;
    PartNumber::new(n)?;
    Some(StoredPart {
        number: n,
        size: e.size?,
        md5: meta::md5_from_b64(e.content_md5.as_deref()?)?,
        id: e.etag.clone()?,
        mtime: e.mtime.as_deref().and_then(parse_mtime)?,
        name: e.name.clone(),
        checksum: part_checksum_of(e.content_type.as_deref()),
    })
}

/// A Complete for an upload that no longer has a record (or lost parts) is
/// a success if the final object was made from this very upload (a retried
/// Complete, as S3 answers it), else NoSuchUpload.
async fn finished(
    inner: &Inner,
    cx: &RequestContext,
    bucket: &BucketName,
    key: &ObjectKey,
    uid: &UploadId,
    otherwise: BackendError,
) -> BackendResult<CompleteMultipartUploadOutput> {
    match head_native(inner, cx, bucket.as_str(), key.as_str()).await {
        Ok(o) if o.internal.upload_id.as_deref() == Some(uid.as_str()) => {
            Ok(CompleteMultipartUploadOutput {
                etag: o.info.etag,
                checksum: o.info.meta.checksum,
            })
        }
        Ok(_) | Err(NativeFailure::Status { status: 404, .. }) => Err(otherwise),
        Err(f) => Err(map_native(f)),
    }
}

pub(crate) async fn complete(
    inner: &Arc<Inner>,
    cx: &RequestContext,
    input: CompleteMultipartUploadInput,
) -> BackendResult<CompleteMultipartUploadOutput> {
    let CompleteMultipartUploadInput {
        bucket,
        key,
        upload_id: uid,
        parts,
        condition,
        checksum: requested_checksum,
    } = input;
    if parts.is_empty() {
        return Err(BackendError::InvalidRequest(
            "You must specify at least one part".into(),
        ));
    }
    // Non-decreasing: a part number may be named more than once (S3
    // accepts it; the part as stored is used once).
    if parts
        .windows(2)
        .any(|w| w[0].part_number > w[1].part_number)
    {
        return Err(BackendError::InvalidPartOrder);
    }
    let rec = match record(inner, cx, &bucket, &key, &uid).await {
        Ok(r) => r,
        Err(BackendError::NoSuchUpload) => {
            return finished(inner, cx, &bucket, &key, &uid, BackendError::NoSuchUpload).await
        }
        Err(e) => return Err(e),
    };
    let stored = inner
        .names_under(cx, bucket.as_str(), &parts_prefix(uid.as_str()))
        .await?;
    let by_number: std::collections::HashMap<u16, StoredPart> = stored
        .iter()
        .filter_map(|e| stored_part(uid.as_str(), e))
        .map(|p| (p.number, p))
        .collect();
    let mut plan: Vec<StoredPart> = Vec::with_capacity(parts.len());
    for p in &parts {
        let s = match by_number.get(&p.part_number.get()) {
            Some(s) if ETag::from_md5(&s.md5) == p.etag => s,
            _ => return finished(inner, cx, &bucket, &key, &uid, BackendError::InvalidPart).await,
        };
        // A checksum the client lists must be the one stored with the part.
        if let Some(want) = &p.checksum {
            let same = s.checksum.as_ref().is_some_and(|have| {
                have.algorithm == want.algorithm && have.value_b64 == want.value_b64.trim()
            });
            if !same {
                return Err(BackendError::InvalidPart);
            }
        }
        if plan.last().is_none_or(|l| l.number != s.number) {
            plan.push(s.clone());
        }
    }
    if plan[..plan.len() - 1]
        .iter()
        .any(|p| p.size < MIN_PART_SIZE)
    {
        return Err(BackendError::EntityTooSmall);
    }
    let mut md5s = Md5::new();
    for p in &plan {
        md5s.update(p.md5);
    }
    let etag = ETag::multipart(&md5s.finalize().into(), plan.len());
    let sizes: Vec<u64> = plan.iter().map(|p| p.size).collect();
    let total: u64 = sizes.iter().sum();
    let choice = rec
        .internal
        .checksum_choice
        .as_deref()
        .map(decode_choice)
        .unwrap_or((None, None));
    let (checksum, part_checksums) = object_checksum(choice, &plan);
    if let Some(want) = &requested_checksum {
        let same = checksum.as_ref().is_some_and(|have| {
            have.algorithm == want.algorithm
                && crate::checksum::without_parts_suffix(&have.value_b64)
                    == crate::checksum::without_parts_suffix(want.value_b64.trim())
        });
        if !same {
            return Err(BackendError::BadDigest);
        }
    }
    // Part sizes and checksums (partNumber reads) go with the object; when
    // too long for its metadata, into a side object written first, so the
    // object never points at a missing one.
    let sizes_inline = meta::encode_part_sizes(&sizes);
    let pk_inline = part_checksums
        .clone()
        .filter(|v| v.len() <= meta::MAX_PART_CHECKSUMS_BYTES);
    let elsewhere = || meta::PART_SIZES_ELSEWHERE.to_owned();
    let (part_sizes, part_checksums) =
        if sizes_inline.is_some() && pk_inline.is_some() == part_checksums.is_some() {
            (sizes_inline.unwrap_or_else(elsewhere), pk_inline)
        } else {
            {
                // Sizes, then checksums: the side object's text.
                let text = format!(
                    "{}\n{}",
                    meta::encode_part_sizes_all(&sizes),
                    part_checksums.as_deref().unwrap_or_default()
                );
                let c = &inner.client;
                let surl = c.object_url(
                    &cx.tenant.login,
                    bucket.as_str(),
                    &sizes_name(key.as_str(), uid.as_str()),
                );
                c.send(false, || {
                    c.signed(Method::PUT, &surl, &cx.request_id)
                        .header(CONTENT_LENGTH, text.len())
                        .header(CONTENT_TYPE, "text/plain")
                        .body(text.clone())
                })
                .await
                .native()?;
            }
            (
                sizes_inline.unwrap_or_else(elsewhere),
                pk_inline.or_else(|| part_checksums.as_ref().map(|_| elsewhere())),
            )
        };
    let mut meta = rec.info.meta.clone();
    meta.checksum = checksum.clone();
    let internal = Internal {
        multipart_etag: Some(etag.clone()),
        upload_id: Some(uid.as_str().to_owned()),
        part_sizes: Some(part_sizes),
        checksum_choice: None,
        part_checksums,
        ..Default::default()
    };
    let mut h = HeaderMap::with_capacity(12);
    put_headers(&meta, &internal, &mut h)?;
    write_condition(inner, cx, bucket.as_str(), key.as_str(), &condition, &mut h).await?;
    let url = inner
        .client
        .object_url(&cx.tenant.login, bucket.as_str(), key.as_str());

    // The store's compose extension when it has one: no byte moves
    // through the gateway. A store that copies must finish within the
    // native idle timeout; one that links (`compose-links`) always does.
    let composes = inner.composes(&cx.request_id).await
        && (total <= max_compose_bytes(inner) || inner.compose_links(&cx.request_id).await);
    let composed = if composes {
        match compose(inner, cx, &url, &h, &plan).await {
            Ok(done) => done,
            Err(f) if f.code() == Some("InvalidComposePart") => {
                // A part vanished or was replaced since validation; a
                // concurrent Complete of this upload may have won.
                return finished(inner, cx, &bucket, &key, &uid, BackendError::InvalidPart).await;
            }
            Err(f) => {
                return Err(match map_native(f) {
                    e @ (BackendError::PreconditionFailed | BackendError::NoSuchKey)
                        if condition != WriteCondition::None =>
                    {
                        write_refused(inner, cx, bucket.as_str(), key.as_str(), &condition, e).await
                    }
                    e => e,
                })
            }
        }
    } else {
        false
    };
    if !composed {
        let streamed = stream_parts(
            inner,
            cx,
            bucket.as_str(),
            &url,
            h,
            &plan,
            total,
            &condition,
            key.as_str(),
        )
        .await;
        match streamed {
            Ok(()) => {}
            // A part vanished since validation: a concurrent Complete of
            // this upload may have won (then this one succeeds too).
            Err(BackendError::InvalidPart) => {
                return finished(inner, cx, &bucket, &key, &uid, BackendError::InvalidPart).await
            }
            Err(e) => return Err(e),
        }
    }

    // Parts first, record last: while the record exists, a retried
    // Complete still finds its way (see `finished`).
    for r in inner
        .delete_names(cx, bucket.as_str(), stored.into_iter().map(|e| e.name))
        .await
    {
        if let Err(e) = r {
            tracing::warn!(error = %e, upload = %uid, "removing a completed upload's part failed; the sweep will");
        }
    }
    let rname = record_name(key.as_str(), uid.as_str());
    for r in inner.delete_names(cx, bucket.as_str(), [rname]).await {
        if let Err(e) = r {
            tracing::warn!(error = %e, upload = %uid, "removing a completed upload's record failed; the sweep will");
        }
    }
    Ok(CompleteMultipartUploadOutput { etag, checksum })
}

/// Slowest rate assumed for a store's compose that copies (copy and fsync; 1 GiB
/// took 11 s on a 2-core ext4 machine at load 15, about 95 MiB/s).
const COMPOSE_FLOOR_BYTES_PER_SEC: u64 = 32 << 20;

/// Largest object assembled by a compose that copies (a store without
/// `compose-links`; buckets-lite where hard links fail): it answers only
/// after copying and fsyncing every byte, with nothing on the wire
/// meanwhile, so what it may take at [`COMPOSE_FLOOR_BYTES_PER_SEC`] must
/// fit the native idle timeout (`request_timeout`; 60 s by default: 1.875
/// GiB). Bigger objects stream, keeping bytes on the wire.
fn max_compose_bytes(inner: &Inner) -> u64 {
    inner
        .cfg
        .request_timeout
        .as_secs()
        .saturating_mul(COMPOSE_FLOOR_BYTES_PER_SEC)
}

/// Asks the store to make the object from the validated parts, each
/// pinned to its native id (docs/buckets-lite.md "Extensions"): `h` are
/// the object's PUT headers and write condition. `Ok(false)` when the
/// store no longer knows the route (extension turned off since detection).
async fn compose(
    inner: &Inner,
    cx: &RequestContext,
    url: &str,
    h: &HeaderMap,
    plan: &[StoredPart],
) -> Result<bool, NativeFailure> {
    #[derive(serde::Serialize)]
    struct Part<'a> {
        name: &'a str,
        etag: &'a str,
    }
    #[derive(serde::Serialize)]
    struct Body<'a> {
        parts: Vec<Part<'a>>,
    }
    let body = bytes::Bytes::from(
        serde_json::to_vec(&Body {
            parts: plan
                .iter()
                .map(|p| Part {
                    name: &p.name,
                    etag: &p.id,
                })
                .collect(),
        })
        .expect("names serialise"),
    );
    let c = &inner.client;
    match c
        .send(false, || {
            c.signed(Method::POST, url, &cx.request_id)
                .headers(h.clone())
                .body(body.clone())
        })
        .await
    {
        Ok(_) => {
            tracing::debug!(parts = plan.len(), "multipart object composed by the store");
            Ok(true)
        }
        Err(NativeFailure::Status { status: 405, .. }) => {
            inner.compose_gone();
            Ok(false)
        }
        Err(f) => Err(f),
    }
}

/// The streaming assembly (a store without compose): each part opened only
/// when the previous one is drained, pinned to the validated part object,
/// into ONE native PUT of `total` bytes.
#[allow(clippy::too_many_arguments)]
async fn stream_parts(
    inner: &Arc<Inner>,
    cx: &RequestContext,
    bucket: &str,
    url: &str,
    mut h: HeaderMap,
    plan: &[StoredPart],
    total: u64,
    condition: &WriteCondition,
    key: &str,
) -> BackendResult<()> {
    h.insert(CONTENT_LENGTH, HeaderValue::from(total));
    let src = inner.clone();
    let login = cx.tenant.login.clone();
    let rid = cx.request_id.clone();
    let b = bucket.to_owned();
    let body: ByteStream = Box::pin(
        stream::iter(
            plan.iter()
                .map(|p| (p.name.clone(), p.id.clone()))
                .collect::<Vec<_>>(),
        )
        .then(move |(name, id)| {
            let (src, login, rid, b) = (src.clone(), login.clone(), rid.clone(), b.clone());
            async move {
                let url = src.client.object_url(&login, &b, &name);
                src.client
                    .send(true, || {
                        src.client
                            .signed(Method::GET, &url, &rid)
                            .header(IF_MATCH, id.as_str())
                    })
                    .await
                    .map(response_stream)
                    .map_err(|f| Box::new(f) as BodyError)
            }
        })
        .try_flatten(),
    );
    match native_put(inner, cx, url, h, body).await {
        Ok(_) => Ok(()),
        Err(e @ (BackendError::PreconditionFailed | BackendError::NoSuchKey))
            if *condition != WriteCondition::None =>
        {
            Err(write_refused(inner, cx, bucket, key, condition, e).await)
        }
        Err(BackendError::Body(e)) => {
            Err(match e.downcast::<NativeFailure>() {
                // A part vanished or was replaced since validation.
                Ok(f)
                    if matches!(
                        *f,
                        NativeFailure::Status {
                            status: 404 | 412,
                            ..
                        }
                    ) =>
                {
                    BackendError::InvalidPart
                }
                Ok(f) => map_native(*f),
                Err(e) => BackendError::ServiceUnavailable(format!("reading a part failed: {e}")),
            })
        }
        Err(e) => Err(e),
    }
}

/// The object's checksum from its parts' (never from their bytes), and
/// the part checksums to keep with it: when every part carries one of the
/// upload's algorithm (or, without a choice at Create, of one algorithm).
/// FULL_OBJECT when chosen, and always for CRC64NVME; COMPOSITE otherwise.
fn object_checksum(
    choice: (Option<ChecksumAlgorithm>, Option<ChecksumType>),
    plan: &[StoredPart],
) -> (Option<Checksum>, Option<String>) {
    let Some(alg) = choice
        .0
        .or_else(|| plan.first()?.checksum.as_ref().map(|c| c.algorithm))
    else {
        return (None, None);
    };
    let mut raws = Vec::with_capacity(plan.len());
    for p in plan {
        match p
            .checksum
            .as_ref()
            .filter(|c| c.algorithm == alg)
            .and_then(|c| crate::checksum::decode_raw(alg, &c.value_b64))
        {
            Some(r) => raws.push(r),
            None => return (None, None),
        }
    }
    let full = alg == ChecksumAlgorithm::Crc64Nvme || choice.1 == Some(ChecksumType::FullObject);
    let ck = if full {
        let with_len: Vec<(Vec<u8>, u64)> = raws
            .iter()
            .cloned()
            .zip(plan.iter().map(|p| p.size))
            .collect();
        crate::checksum::full_object(alg, &with_len)
    } else {
        Some(crate::checksum::composite(alg, &raws))
    };
    (ck, Some(Internal::encode_part_checksums(alg, &raws)))
}

pub(crate) async fn abort(
    inner: &Inner,
    cx: &RequestContext,
    bucket: &BucketName,
    key: &ObjectKey,
    uid: &UploadId,
) -> BackendResult<()> {
    record(inner, cx, bucket, key, uid).await?;
    // Record first: from now on UploadPart and Complete answer NoSuchUpload.
    for r in inner
        .delete_names(
            cx,
            bucket.as_str(),
            [record_name(key.as_str(), uid.as_str())],
        )
        .await
    {
        r?;
    }
    let parts = inner
        .names_under(cx, bucket.as_str(), &parts_prefix(uid.as_str()))
        .await?;
    for r in inner
        .delete_names(cx, bucket.as_str(), parts.into_iter().map(|e| e.name))
        .await
    {
        r?;
    }
    Ok(())
}

pub(crate) async fn list_parts(
    inner: &Inner,
    cx: &RequestContext,
    input: ListPartsInput,
) -> BackendResult<ListPartsOutput> {
    let rec = record(inner, cx, &input.bucket, &input.key, &input.upload_id).await?;
    let uid = input.upload_id.as_str();
    let max = input.max_parts.min(MAX_LIST) as usize;
    let url = format!(
        "{}/objects",
        inner
            .client
            .bucket_url(&cx.tenant.login, input.bucket.as_str())
    );
    let prefix = parts_prefix(uid);
    let mut marker = input
        .part_number_marker
        .filter(|n| *n > 0)
        .map(|n| part_name(uid, n));
    let mut parts = Vec::new();
    while parts.len() <= max {
        let page = inner
            .client
            .list_page(
                &url,
                &cx.request_id,
                &prefix,
                marker.as_deref(),
                None,
                max + 1 - parts.len(),
            )
            .await
            .native()?;
        parts.extend(page.entries.iter().filter_map(|e| stored_part(uid, e)));
        match page.next_marker {
            Some(m) if Some(&m) != marker.as_ref() => marker = Some(m),
            _ => break,
        }
    }
    let is_truncated = parts.len() > max;
    parts.truncate(max);
    let (checksum_algorithm, checksum_type) = rec
        .internal
        .checksum_choice
        .as_deref()
        .map(decode_choice)
        .unwrap_or((None, None));
    Ok(ListPartsOutput {
        next_part_number_marker: if is_truncated {
            parts.last().map(|p| p.number)
        } else {
            None
        },
        is_truncated,
        parts: parts
            .into_iter()
            .filter_map(|p| {
                Some(PartInfo {
                    part_number: PartNumber::new(p.number)?,
                    etag: ETag::from_md5(&p.md5),
                    size: p.size,
                    last_modified: p.mtime,
                    checksum: p.checksum,
                })
            })
            .collect(),
        initiated: rec.info.last_modified,
        storage_class: rec
            .info
            .meta
            .storage_class
            .unwrap_or(StorageClass::Standard),
        checksum_algorithm,
        checksum_type,
    })
}

enum UploadItem {
    Upload(UploadInfo),
    Prefix(String),
}

pub(crate) async fn list_uploads(
    inner: &Inner,
    cx: &RequestContext,
    input: ListMultipartUploadsInput,
) -> BackendResult<ListMultipartUploadsOutput> {
    let max = input.max_uploads.min(MAX_LIST) as usize;
    let url = format!(
        "{}/objects",
        inner
            .client
            .bucket_url(&cx.tenant.login, input.bucket.as_str())
    );
    let base = records_prefix();
    // The store refuses control characters in prefix and marker: send what
    // it takes and filter the rest here (list.rs).
    let native_prefix = format!("{base}{}", super::list::native_prefix(&input.prefix));
    let delim = input.delimiter.as_deref().filter(|d| !d.is_empty());
    let km = input.key_marker.as_deref().filter(|k| !k.is_empty());
    // A key marker that is a common prefix continues after the whole prefix.
    let km_is_cp = matches!((km, delim), (Some(k), Some(d)) if k.ends_with(d) && k.starts_with(input.prefix.as_str()));
    let mut marker = km
        .map(|k| match &input.upload_id_marker {
            Some(u) if !km_is_cp => format!("{base}{k}/{u}"),
            _ => format!("{base}{k}"),
        })
        .and_then(|m| super::list::safe_marker(&m));
    let mut items: Vec<UploadItem> = Vec::new();
    let mut last_cp: Option<String> = None;
    'pages: loop {
        let page = inner
            .client
            .list_page(
                &url,
                &cx.request_id,
                &native_prefix,
                marker.as_deref(),
                None,
                super::wire::MAX_NATIVE_LIMIT,
            )
            .await
            .native()?;
        for e in &page.entries {
            let Some((key, uid)) = e.name.strip_prefix(&base).and_then(|r| r.rsplit_once('/'))
            else {
                continue;
            };
            let Ok(upload_id) = UploadId::parse(uid) else {
                continue;
            };
            if !key.starts_with(input.prefix.as_str()) {
                continue;
            }
            if let Some(k) = km {
                let after = if km_is_cp {
                    !key.starts_with(k) && key > k
                } else {
                    key > k
                        || (key == k && input.upload_id_marker.as_deref().is_some_and(|m| uid > m))
                };
                if !after {
                    continue;
                }
            }
            let cp = delim.and_then(|d| {
                key.get(input.prefix.len()..)
                    .and_then(|r| r.find(d))
                    .map(|i| key[..input.prefix.len() + i + d.len()].to_owned())
            });
            match cp {
                Some(cp) => {
                    if last_cp.as_deref() == Some(cp.as_str()) {
                        continue;
                    }
                    last_cp = Some(cp.clone());
                    items.push(UploadItem::Prefix(cp));
                }
                None => items.push(UploadItem::Upload(UploadInfo {
                    key: key.to_owned(),
                    upload_id,
                    initiated: e
                        .mtime
                        .as_deref()
                        .and_then(parse_mtime)
                        .unwrap_or(SystemTime::UNIX_EPOCH),
                    storage_class: StorageClass::Standard,
                    checksum_algorithm: None,
                })),
            }
            if items.len() > max {
                break 'pages;
            }
        }
        match page.next_marker {
            Some(m) if Some(&m) != marker.as_ref() => marker = Some(m),
            _ => break,
        }
    }
    let is_truncated = items.len() > max;
    items.truncate(max);
    let (next_key_marker, next_upload_id_marker) = match (is_truncated, items.last()) {
        (true, Some(UploadItem::Upload(u))) => {
            (Some(u.key.clone()), Some(u.upload_id.as_str().to_owned()))
        }
        (true, Some(UploadItem::Prefix(p))) => (Some(p.clone()), None),
        _ => (None, None),
    };
    let mut out = ListMultipartUploadsOutput {
        uploads: vec![],
        common_prefixes: vec![],
        is_truncated,
        next_key_marker,
        next_upload_id_marker,
    };
    for i in items {
        match i {
            UploadItem::Upload(u) => out.uploads.push(u),
            UploadItem::Prefix(p) => out.common_prefixes.push(p),
        }
    }
    Ok(out)
}

/// Starts a background sweep of `bucket` unless this instance swept it
/// within `sweep_interval`.
pub(crate) fn maybe_sweep(inner: &Arc<Inner>, cx: &RequestContext, bucket: &BucketName) {
    let k = (cx.tenant.login.clone(), bucket.as_str().to_owned());
    {
        let Ok(mut m) = inner.swept.lock() else {
            return;
        };
        let now = Instant::now();
        if m.get(&k)
            .is_some_and(|t| now.duration_since(*t) < inner.cfg.sweep_interval)
        {
            return;
        }
        m.insert(k, now);
    }
    let inner = inner.clone();
    let cx = RequestContext {
        tenant: cx.tenant.clone(),
        request_id: format!("{}-sweep", cx.request_id),
    };
    let bucket = bucket.as_str().to_owned();
    tokio::spawn(async move {
        if let Err(e) = sweep(&inner, &cx, &bucket).await {
            tracing::warn!(error = %e, %bucket, "stale upload sweep failed");
        }
    });
}

/// Removes upload records and parts older than `upload_ttl`.
pub(crate) async fn sweep(
    inner: &Inner,
    cx: &RequestContext,
    bucket: &str,
) -> BackendResult<usize> {
    let cutoff = now_secs()
        .checked_sub(inner.cfg.upload_ttl)
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let mut stale = Vec::new();
    // Records first, so no one continues an upload whose parts are going.
    for prefix in [records_prefix(), format!("{HIDDEN_PREFIX}p/")] {
        for e in inner.names_under(cx, bucket, &prefix).await? {
            if e.mtime
                .as_deref()
                .and_then(parse_mtime)
                .is_some_and(|t| t < cutoff)
            {
                stale.push(e.name);
            }
        }
    }
    // Part-sizes side objects whose key now holds another object (or
    // none).
    for e in inner.names_under(cx, bucket, &sizes_prefix()).await? {
        let old = e
            .mtime
            .as_deref()
            .and_then(parse_mtime)
            .is_some_and(|t| t < cutoff);
        let Some((key, uid)) = e
            .name
            .strip_prefix(&sizes_prefix())
            .and_then(|r| r.rsplit_once('/'))
        else {
            continue;
        };
        if !old {
            continue;
        }
        match head_native(inner, cx, bucket, key).await {
            Ok(o) if o.internal.upload_id.as_deref() == Some(uid) => {}
            Ok(_) | Err(NativeFailure::Status { status: 404, .. }) => stale.push(e.name),
            Err(f) => return Err(map_native(f)),
        }
    }
    let n = stale.len();
    for r in inner.delete_names(cx, bucket, stale).await {
        r?;
    }
    if n > 0 {
        tracing::info!(bucket, removed = n, "swept stale multipart uploads");
    }
    Ok(n)
}
