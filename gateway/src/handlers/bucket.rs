//! Service and bucket operations: ListBuckets, CreateBucket, HeadBucket,
//! DeleteBucket, GetBucketLocation.

use super::*;

impl Handlers {
    pub(super) async fn list_buckets(&self, r: S3Request) -> HResult {
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

    pub(super) async fn create_bucket(&self, mut r: S3Request) -> HResult {
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

    pub(super) async fn head_bucket(&self, r: S3Request) -> HResult {
        let bucket = bucket(&r)?;
        self.backend
            .head_bucket(&r.cx, &bucket)
            .await
            .map_err(backend_error)?;
        Ok(HttpResponse::Ok()
            .insert_header(("x-amz-bucket-region", self.config.server.region.as_str()))
            .finish())
    }

    pub(super) async fn delete_bucket(&self, r: S3Request) -> HResult {
        let bucket = bucket(&r)?;
        self.backend
            .delete_bucket(&r.cx, &bucket)
            .await
            .map_err(backend_error)?;
        Ok(HttpResponse::NoContent().finish())
    }

    pub(super) async fn get_bucket_location(&self, r: S3Request) -> HResult {
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
}
