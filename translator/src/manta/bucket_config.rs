//! The bucket-configuration record ([`crate::bucket_config`]) as one hidden
//! native object per bucket: read with a plain GET, written with
//! `If-None-Match: *` (first write) or `If-Match: <native id>` (every later
//! one), so two instances updating it at once never lose a write silently:
//! the loser gets PreconditionFailed and re-reads.

use reqwest::header::{
    HeaderMap, HeaderValue, CONTENT_LENGTH, CONTENT_TYPE, IF_MATCH, IF_NONE_MATCH,
};
use reqwest::Method;

use super::client::{header_str, read_limited, ReadError};
use super::error::{map_native, NativeFailure};
use super::Inner;
use crate::backend::*;
use crate::bucket_config::{
    BucketConfig, StoredBucketConfig, BUCKET_CONFIG_NAME, MAX_BUCKET_CONFIG_BYTES,
};
use crate::types::*;

fn native_id(h: &reqwest::header::HeaderMap) -> String {
    header_str(h, "etag")
        .unwrap_or_default()
        .trim_matches('"')
        .to_owned()
}

pub(crate) async fn get(
    inner: &Inner,
    cx: &RequestContext,
    bucket: &BucketName,
) -> BackendResult<Option<StoredBucketConfig>> {
    let c = &inner.client;
    let url = c.object_url(&cx.tenant.login, bucket.as_str(), BUCKET_CONFIG_NAME);
    let resp = match c
        .send(true, || c.signed(Method::GET, &url, &cx.request_id))
        .await
    {
        Ok(r) => r,
        Err(f) if f.code() == Some("ObjectNotFound") => return Ok(None),
        Err(f) => return Err(map_native(f)),
    };
    let version = native_id(resp.headers());
    let body = read_limited(resp, MAX_BUCKET_CONFIG_BYTES)
        .await
        .map_err(|e| match e {
            ReadError::Transport(f) => map_native(f),
            ReadError::TooLarge => map_native(NativeFailure::Protocol(
                "bucket config record too large".into(),
            )),
        })?;
    let config =
        BucketConfig::from_json(&body).map_err(|d| map_native(NativeFailure::Protocol(d)))?;
    Ok(Some(StoredBucketConfig { config, version }))
}

pub(crate) async fn put(
    inner: &Inner,
    cx: &RequestContext,
    bucket: &BucketName,
    config: &BucketConfig,
    expected: Option<&str>,
) -> BackendResult<String> {
    let c = &inner.client;
    let url = c.object_url(&cx.tenant.login, bucket.as_str(), BUCKET_CONFIG_NAME);
    let body = config.to_json();
    let mut h = HeaderMap::new();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(CONTENT_LENGTH, HeaderValue::from(body.len() as u64));
    match expected {
        None => h.insert(IF_NONE_MATCH, HeaderValue::from_static("*")),
        Some(v) => h.insert(
            IF_MATCH,
            HeaderValue::from_str(v).map_err(|_| BackendError::PreconditionFailed)?,
        ),
    };
    let resp = c
        .send(false, || {
            c.signed(Method::PUT, &url, &cx.request_id)
                .headers(h.clone())
                .body(body.clone())
        })
        .await
        .map_err(|f| match f.code() {
            // A CAS against a record deleted meanwhile.
            Some("ObjectNotFound") => BackendError::PreconditionFailed,
            _ => map_native(f),
        })?;
    Ok(native_id(resp.headers()))
}
