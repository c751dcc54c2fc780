//! Listings: ListObjects v1/v2, ListObjectVersions, ListMultipartUploads,
//! and their parameter parsing and continuation tokens.

use super::*;

impl Handlers {
    pub(super) async fn list_objects_v1(&self, r: S3Request) -> HResult {
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
            // S3 returns NextMarker only when a delimiter was given; without
            // one the client continues from the last key it got.
            next_marker: (out.is_truncated && delimiter.is_some())
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

    pub(super) async fn list_objects_v2(&self, r: S3Request) -> HResult {
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
    pub(super) async fn list_object_versions(&self, r: S3Request) -> HResult {
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

    pub(super) fn list_input(
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

    pub(super) async fn list_multipart_uploads(&self, r: S3Request) -> HResult {
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
}

pub(super) fn encoding_type(q: &Query) -> Result<bool, S3Error> {
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
pub(super) fn max_param(q: &Query, name: &str) -> Result<u32, S3Error> {
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

pub(crate) fn encode_token(key: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(key.as_bytes())
}

pub(crate) fn decode_token(t: &str) -> Result<String, S3Error> {
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

pub(super) fn contents(
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

pub(super) fn prefixes(p: Vec<String>, enc: bool) -> Vec<xml::CommonPrefix> {
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
