//! Canned ACLs: GetBucketAcl / PutBucketAcl / GetObjectAcl / PutObjectAcl
//! and GetBucketPolicyStatus (issue 12 builds the sharing model here).

use super::*;

impl Handlers {
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

    pub(super) async fn get_bucket_policy_status(&self, r: S3Request) -> HResult {
        Err(not_implemented(r.endpoint.name()))
    }
}
