//! Tagging: object tags (native metadata, `m-s3gw-tg`, see
//! translator/src/tagging.rs for the stored form) and bucket tags (the
//! bucket's configuration record), and the `x-amz-tagging` /
//! `x-amz-tagging-directive` request headers of PutObject, CopyObject and
//! CreateMultipartUpload.

use s3gw_translator::tagging::{self, Tag, TagError, TagTarget};
use serde::{Deserialize, Serialize};

use super::*;

/// `<Tagging><TagSet><Tag><Key/><Value/></Tag>...</TagSet></Tagging>`, as
/// PutObjectTagging and PutBucketTagging send it.
#[derive(Debug, Deserialize)]
struct TaggingIn {
    #[serde(rename = "TagSet")]
    tag_set: TagSetIn,
}

#[derive(Debug, Deserialize)]
struct TagSetIn {
    #[serde(rename = "Tag", default)]
    tags: Vec<TagIn>,
}

#[derive(Debug, Deserialize)]
struct TagIn {
    #[serde(rename = "Key")]
    key: String,
    #[serde(rename = "Value")]
    value: String,
}

#[derive(Debug, Serialize)]
struct TaggingOut<'a> {
    #[serde(rename = "@xmlns")]
    xmlns: &'static str,
    #[serde(rename = "TagSet")]
    tag_set: TagSetOut<'a>,
}

#[derive(Debug, Serialize)]
struct TagSetOut<'a> {
    #[serde(rename = "Tag")]
    tags: Vec<TagOut<'a>>,
}

#[derive(Debug, Serialize)]
struct TagOut<'a> {
    #[serde(rename = "Key")]
    key: &'a str,
    #[serde(rename = "Value")]
    value: &'a str,
}

fn tagging_xml(tags: &[Tag]) -> HttpResponse {
    let doc = TaggingOut {
        xmlns: NS,
        tag_set: TagSetOut {
            tags: tags
                .iter()
                .map(|t| TagOut {
                    key: &t.key,
                    value: &t.value,
                })
                .collect(),
        },
    };
    xml_ok(xml::to_xml("Tagging", &doc))
}

/// A refused tag set as S3 answers it.
fn tag_error(e: TagError) -> S3Error {
    let code = match e.code() {
        "BadRequest" => S3ErrorCode::BadRequest,
        "InvalidArgument" => S3ErrorCode::InvalidArgument,
        _ => S3ErrorCode::InvalidTag,
    };
    let err = S3Error::with_message(code, e.to_string());
    match e {
        TagError::MalformedHeader => err.extra("ArgumentName", "x-amz-tagging"),
        _ => err,
    }
}

/// The `x-amz-tagging` header of PutObject, CopyObject (REPLACE) and
/// CreateMultipartUpload, validated as an object's tag set, in the stored
/// (canonical) form; `None` when absent or empty.
pub(super) fn tagging_header(h: &HeaderMap) -> Result<Option<String>, S3Error> {
    let Some(v) = h.get("x-amz-tagging") else {
        return Ok(None);
    };
    let v = v
        .to_str()
        .map_err(|_| tag_error(TagError::MalformedHeader))?;
    let tags = tagging::parse_header(v.trim()).map_err(tag_error)?;
    Ok(tagging::encode(&tags))
}

/// CopyObject's `x-amz-tagging-directive` (COPY by default).
pub(super) fn tagging_directive(h: &HeaderMap) -> Result<TaggingDirective, S3Error> {
    match header(h, "x-amz-tagging-directive").unwrap_or("COPY") {
        "COPY" => Ok(TaggingDirective::Copy),
        "REPLACE" => Ok(TaggingDirective::Replace(tagging_header(h)?)),
        _ => Err(
            S3Error::with_message(S3ErrorCode::InvalidArgument, "Unknown tagging directive.")
                .extra("ArgumentName", "x-amz-tagging-directive"),
        ),
    }
}

/// The number of tags in a stored tag set (`x-amz-tagging-count`).
pub(super) fn tag_count(stored: &str) -> usize {
    tagging::decode(stored).len()
}

/// PutObjectTagging and PutBucketTagging carry an integrity check (S3
/// requires one): Content-MD5, or an `x-amz-checksum-*` header or trailer
/// (the body verifier checks whichever is present).
fn require_integrity(h: &HeaderMap) -> Result<(), S3Error> {
    let has_digest = h.contains_key("content-md5")
        || h.keys().any(|k| {
            k.as_str().starts_with("x-amz-checksum-") && k.as_str() != "x-amz-checksum-algorithm"
        })
        || header(h, "x-amz-sdk-checksum-algorithm").is_some()
            && header(h, "x-amz-trailer").is_some();
    if has_digest {
        Ok(())
    } else {
        Err(S3Error::with_message(
            S3ErrorCode::InvalidRequest,
            "Missing required header for this request: Content-MD5",
        ))
    }
}

impl Handlers {
    /// The verified `<Tagging>` document of a Put*Tagging request, checked
    /// against S3's rules for `target`.
    async fn read_tag_set(
        &self,
        r: &mut S3Request,
        target: TagTarget,
    ) -> Result<Vec<Tag>, S3Error> {
        require_integrity(&r.headers)?;
        let body = self.read_xml_body(r).await?;
        if body.is_empty() {
            return Err(S3ErrorCode::MissingRequestBodyError.into());
        }
        let doc: TaggingIn = xml::parse(&body)?;
        let tags: Vec<Tag> = doc
            .tag_set
            .tags
            .into_iter()
            .map(|t| Tag {
                key: t.key,
                value: t.value,
            })
            .collect();
        tagging::validate(&tags, target).map_err(tag_error)?;
        Ok(tags)
    }

    pub(super) async fn get_bucket_tagging(&self, r: S3Request) -> HResult {
        let bucket = bucket(&r)?;
        let config = self
            .bucket_configs
            .get(&*self.backend, &r.cx, &bucket)
            .await
            .map_err(backend_error)?;
        match config.tags {
            Some(tags) if !tags.is_empty() => Ok(tagging_xml(&tags)),
            _ => Err(S3Error::new(S3ErrorCode::NoSuchTagSet).extra("BucketName", bucket.as_str())),
        }
    }

    /// Replaces the bucket's tag set (an empty set removes it: S3 then
    /// answers NoSuchTagSet).
    pub(super) async fn put_bucket_tagging(&self, mut r: S3Request) -> HResult {
        let bucket = bucket(&r)?;
        let tags = self.read_tag_set(&mut r, TagTarget::Bucket).await?;
        let tags = (!tags.is_empty()).then_some(tags);
        self.bucket_configs
            .update(&*self.backend, &r.cx, &bucket, |c| c.tags = tags.clone())
            .await
            .map_err(backend_error)?;
        Ok(HttpResponse::NoContent().finish())
    }

    pub(super) async fn delete_bucket_tagging(&self, r: S3Request) -> HResult {
        let bucket = bucket(&r)?;
        self.bucket_configs
            .update(&*self.backend, &r.cx, &bucket, |c| c.tags = None)
            .await
            .map_err(backend_error)?;
        Ok(HttpResponse::NoContent().finish())
    }

    /// The object's tag set (empty when it has none: S3 never answers
    /// NoSuchTagSet for an object).
    pub(super) async fn get_object_tagging(&self, r: S3Request) -> HResult {
        let input = GetObjectInput {
            bucket: bucket(&r)?,
            key: key(&r)?,
            range: None,
            part_number: None,
            conditions: ReadConditions::default(),
            checksum_mode: false,
        };
        let out = self
            .backend
            .head_object(&r.cx, input)
            .await
            .map_err(backend_error)?;
        let tags = out
            .info
            .meta
            .tagging
            .as_deref()
            .map(tagging::decode)
            .unwrap_or_default();
        Ok(tagging_xml(&tags))
    }

    pub(super) async fn put_object_tagging(&self, mut r: S3Request) -> HResult {
        let (bucket, key) = (bucket(&r)?, key(&r)?);
        let tags = self.read_tag_set(&mut r, TagTarget::Object).await?;
        self.backend
            .put_object_tagging(&r.cx, &bucket, &key, tagging::encode(&tags))
            .await
            .map_err(backend_error)?;
        Ok(HttpResponse::Ok().finish())
    }

    pub(super) async fn delete_object_tagging(&self, r: S3Request) -> HResult {
        let (bucket, key) = (bucket(&r)?, key(&r)?);
        self.backend
            .put_object_tagging(&r.cx, &bucket, &key, None)
            .await
            .map_err(backend_error)?;
        Ok(HttpResponse::NoContent().finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_documents_keep_spaces_and_entities() {
        let doc = br#"<Tagging xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><TagSet>
            <Tag><Key> a b </Key><Value>x &amp; y </Value></Tag>
            <Tag><Key>e</Key><Value></Value></Tag>
            <Tag><Key>f</Key><Value/></Tag>
        </TagSet></Tagging>"#;
        let t: TaggingIn = xml::parse(doc).unwrap();
        let got: Vec<(&str, &str)> = t
            .tag_set
            .tags
            .iter()
            .map(|t| (t.key.as_str(), t.value.as_str()))
            .collect();
        assert_eq!(got, [(" a b ", "x & y "), ("e", ""), ("f", "")]);
        let empty: TaggingIn = xml::parse(b"<Tagging><TagSet/></Tagging>").unwrap();
        assert!(empty.tag_set.tags.is_empty());
        assert!(xml::parse::<TaggingIn>(b"<Tagging></Tagging>").is_err());
        assert!(xml::parse::<TaggingIn>(
            b"<Tagging><TagSet><Tag><Key>k</Key></Tag></TagSet></Tagging>"
        )
        .is_err());
    }
}
