//! Bucket and object configuration: versioning, ACLs, and the
//! configurations s3gw answers as absent (CORS, lifecycle, policy, tagging,
//! encryption).

use super::*;

impl Handlers {
    pub(super) async fn get_bucket_versioning(&self, r: S3Request) -> HResult {
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
    pub(super) async fn put_bucket_versioning(&self, mut r: S3Request) -> HResult {
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

    pub(super) async fn get_bucket_acl(&self, r: S3Request) -> HResult {
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

    pub(super) async fn get_object_acl(&self, r: S3Request) -> HResult {
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
    pub(super) async fn put_acl(&self, mut r: S3Request) -> HResult {
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
    pub(super) async fn unconfigured(&self, r: S3Request, code: S3ErrorCode) -> HResult {
        let bucket = bucket(&r)?;
        self.backend
            .head_bucket(&r.cx, &bucket)
            .await
            .map_err(backend_error)?;
        Err(S3Error::new(code).extra("BucketName", bucket.as_str()))
    }

    /// Deleting a configuration that does not exist succeeds in S3.
    pub(super) async fn delete_unconfigured(&self, r: S3Request) -> HResult {
        let bucket = bucket(&r)?;
        self.backend
            .head_bucket(&r.cx, &bucket)
            .await
            .map_err(backend_error)?;
        Ok(HttpResponse::NoContent().finish())
    }
}
