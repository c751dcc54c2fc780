//! The compose extension (NOT part of the buckets-api contract; off unless
//! `[extensions] compose = true`): one request makes a new object from an
//! ordered list of objects already stored in the same bucket, server-side.
//! s3gw uses it for CompleteMultipartUpload, so Complete does not move every
//! byte through the gateway a second time.
//!
//! ```text
//! POST /:account/buckets/:bucket/objects/:object
//! Content-Type: <the new object's>      (and every other PUT header)
//! {"parts":[{"name":"<object name>","etag":"<object id>"}, ...]}
//! ```
//!
//! - The request headers are a PUT's and mean the same: `Content-Type`,
//!   `m-*` and the other stored headers, `Durability-Level`, and the
//!   conditions on the target (`If-Match`, `If-None-Match`,
//!   `If-Unmodified-Since`), checked first and again atomically at commit.
//!   `Content-MD5` is refused (400 `InvalidParameter`): there is no body of
//!   the new object to check it against (see "MD5" below).
//! - `etag` (optional) pins a part to that object id: a part that is missing
//!   or has another id is 409 `InvalidComposePart` naming it. A name may
//!   appear more than once. 1..=`max_compose_parts` parts.
//! - Answer: 204 with `Etag` (the new id) and `Last-Modified`, as a PUT's
//!   but without `Computed-MD5`.
//! - Bytes: none are copied. The new body is a directory of segments, each
//!   a hard link to a part's file (a composed part contributes each of its
//!   segments), built in `tmp/`, fsynced, renamed into place and committed:
//!   the same crash safety as a PUT ([`Store::commit_put`]). Complete of
//!   1 GiB in 128 parts is 128 links, whatever the filesystem; a copy
//!   (`copy_file_range(2)`) only where it refuses links. Removing the parts
//!   afterwards leaves the new object's links. A body file is immutable
//!   once its row is committed (a new PUT is a new id and file), so a part
//!   linked after its row was read is exactly the object pinned; a part
//!   overwritten or deleted meanwhile has lost its file (`NotFound` ->
//!   409). At most `MAX_SEGMENTS` (100,000) segments in all (400
//!   `InvalidParameter`; only composing composed objects gets near it).
//! - MD5: a PUT stores the MD5 of the body it streamed; a compose would need
//!   to read every byte to compute one (MD5 does not combine), which is
//!   exactly the cost compose avoids. A composed object therefore has NO
//!   stored MD5: GET/HEAD send no `Content-MD5`, its listing line has no
//!   `contentMD5`. s3gw never needs it there (the S3 ETag of a multipart
//!   object is `md5(part md5s)-N`, kept in its own metadata; the parts'
//!   MD5s were verified when they were uploaded).
//!
//! Advertised as `Buckets-Lite-Extensions: compose` on `OPTIONS
//! /:account/buckets`; with the extension off, POST is 405 as on the real
//! server and the header is absent.

use std::path::Path;

use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt as _;
use serde::Deserialize;

use crate::bodies::{TooManySegments, MAX_SEGMENTS};
use crate::conditions::Conditions;
use crate::error::ApiError;
use crate::handlers::{
    begin_put, blocking, bucket_name, content_type, durability_level, http_date_ms, now_ms,
    object_name, stored_headers, State,
};
use crate::names::ObjectName;
use crate::store::{ObjectRow, Store};

/// Response header of `OPTIONS /:account/buckets` listing the extensions on.
pub const H_EXTENSIONS: &str = "buckets-lite-extensions";

/// Largest request body: a part entry is at most about 6 KiB of JSON (a
/// 1024-byte name of `\u` escapes plus its id), so 10,000 parts fit.
fn max_body_bytes(max_parts: usize) -> usize {
    max_parts.saturating_mul(6 * 1024 + 64).max(64 * 1024)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ComposeBody {
    parts: Vec<PartRef>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PartRef {
    name: String,
    #[serde(default)]
    etag: Option<String>,
}

/// A validated part: its name, and the id it must have.
struct Part {
    name: ObjectName,
    etag: Option<String>,
}

async fn read_body(
    payload: &mut web::Payload,
    state: &State,
    limit: usize,
) -> Result<Vec<u8>, ApiError> {
    let mut body = Vec::new();
    loop {
        let next = tokio::time::timeout(state.limits.upload_idle_timeout, payload.next()).await;
        match next {
            Err(_) => return Err(ApiError::UploadTimeout),
            Ok(None) => return Ok(body),
            Ok(Some(Err(e))) => return Err(ApiError::BadRequest(format!("request body: {e}"))),
            Ok(Some(Ok(b))) => {
                if body.len() + b.len() > limit {
                    return Err(ApiError::MaxContentLengthExceeded(limit as u64));
                }
                body.extend_from_slice(&b);
            }
        }
    }
}

fn parse_parts(body: &[u8], max_parts: usize) -> Result<Vec<Part>, ApiError> {
    let parsed: ComposeBody = serde_json::from_slice(body).map_err(|e| {
        ApiError::InvalidParameter(format!(
            "compose body must be {{\"parts\":[{{\"name\":..,\"etag\":..}}]}}: {e}"
        ))
    })?;
    if parsed.parts.is_empty() || parsed.parts.len() > max_parts {
        return Err(ApiError::InvalidParameter(format!(
            "compose takes 1..={max_parts} parts"
        )));
    }
    parsed
        .parts
        .into_iter()
        .map(|p| {
            Ok(Part {
                name: object_name(&p.name)?,
                etag: p.etag,
            })
        })
        .collect()
}

/// `POST /:account/buckets/:bucket/objects/:object` with the extension on.
pub(crate) async fn compose_object(
    req: &HttpRequest,
    mut payload: web::Payload,
    state: &State,
    account: String,
    b: String,
    o: String,
) -> Result<HttpResponse, ApiError> {
    let bucket = bucket_name(&b)?;
    let name = object_name(&o)?;
    let limits = &state.limits;
    if req.headers().contains_key("content-md5") {
        return Err(ApiError::InvalidParameter(
            "compose does not take Content-MD5: the new object's bytes are never read".into(),
        ));
    }
    let durability = durability_level(req)?;
    let conds = Conditions::from_request(req)?;
    let ctype = content_type(req);
    let headers = stored_headers(req, limits);
    let body = read_body(
        &mut payload,
        state,
        max_body_bytes(limits.max_compose_parts),
    )
    .await?;
    let parts = parse_parts(&body, limits.max_compose_parts)?;

    let (id, tmp, mut guard) = begin_put(state, &account, &bucket, &name, &conds).await?;
    let store = state.store.clone();
    let max_len = limits.default_max_content_length;
    let row = blocking(move || {
        let size = assemble(&store, &account, bucket.as_str(), &parts, &tmp, max_len)?;
        let now = now_ms();
        let row = ObjectRow {
            id,
            size,
            content_type: ctype,
            md5: String::new(),
            created_ms: now,
            modified_ms: now,
            durability,
            headers,
        };
        store.commit_put(&account, bucket.as_str(), name.as_str(), &conds, &tmp, &row)?;
        Ok(row)
    })
    .await?;
    guard.0 = None;
    tracing::debug!(id = %row.id, size = row.size, "composed");
    Ok(HttpResponse::NoContent()
        .insert_header(("Etag", row.id.as_str()))
        .insert_header(("Last-Modified", http_date_ms(row.modified_ms)))
        .finish())
}

/// Checks every part's row first (bucket, existence, pinned id, total
/// size), then makes `tmp` a segment directory of hard links to the parts'
/// files, in order (bodies.rs), and fsyncs it. Returns the size.
fn assemble(
    store: &Store,
    account: &str,
    bucket: &str,
    parts: &[Part],
    tmp: &Path,
    max_len: u64,
) -> Result<u64, ApiError> {
    let mut rows = Vec::with_capacity(parts.len());
    let mut total = 0u64;
    for p in parts {
        let row = store
            .get_object(account, bucket, p.name.as_str())?
            .ok_or_else(|| ApiError::InvalidComposePart(format!("{} does not exist", p.name)))?;
        if p.etag.as_deref().is_some_and(|e| e != row.id) {
            return Err(ApiError::InvalidComposePart(format!(
                "{} is not {}",
                p.name,
                p.etag.as_deref().unwrap_or_default()
            )));
        }
        total = total
            .checked_add(row.size)
            .filter(|t| *t <= max_len)
            .ok_or(ApiError::MaxContentLengthExceeded(max_len))?;
        rows.push(row);
    }
    std::fs::create_dir(tmp)?;
    let mut next = 0;
    for (p, row) in parts.iter().zip(&rows) {
        let n = match store.bodies().link_into(tmp, &mut next, &row.id) {
            Ok(n) => n,
            // A body is never rewritten in place, so a part that is gone
            // was replaced or deleted after its row was read.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ApiError::InvalidComposePart(format!(
                    "{} was replaced or deleted during the compose",
                    p.name
                )))
            }
            Err(e) if e.get_ref().is_some_and(|i| i.is::<TooManySegments>()) => {
                return Err(ApiError::InvalidParameter(format!(
                    "the composed object would have more than {MAX_SEGMENTS} segments \
                     (its parts are composed objects themselves)"
                )))
            }
            Err(e) => return Err(e.into()),
        };
        if n != row.size {
            tracing::error!(id = %row.id, expected = row.size, got = n, "body shorter than its row");
            return Err(ApiError::Internal);
        }
    }
    std::fs::File::open(tmp)?.sync_all()?;
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies() {
        let p = parse_parts(br#"{"parts":[{"name":"a","etag":"x"},{"name":"b"}]}"#, 3).unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].etag.as_deref(), Some("x"));
        assert!(p[1].etag.is_none());
        for bad in [
            &br#"{"parts":[]}"#[..],
            br#"{"parts":[{"name":""}]}"#,
            br#"{"parts":[{"name":"a","size":1}]}"#,
            br#"{"parts":[{"name":"a"},{"name":"b"},{"name":"c"},{"name":"d"}]}"#,
            b"not json",
        ] {
            assert!(
                parse_parts(bad, 3).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
