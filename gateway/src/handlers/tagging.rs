//! Tagging: object tags (native metadata) and bucket tags (the bucket's
//! configuration record).

use super::*;

impl Handlers {
    pub(super) async fn get_bucket_tagging(&self, r: S3Request) -> HResult {
        self.unconfigured(r, S3ErrorCode::NoSuchTagSet).await
    }

    pub(super) async fn put_bucket_tagging(&self, r: S3Request) -> HResult {
        Err(not_implemented(r.endpoint.name()))
    }

    pub(super) async fn delete_bucket_tagging(&self, r: S3Request) -> HResult {
        self.delete_unconfigured(r).await
    }

    pub(super) async fn get_object_tagging(&self, r: S3Request) -> HResult {
        Err(not_implemented(r.endpoint.name()))
    }

    pub(super) async fn put_object_tagging(&self, r: S3Request) -> HResult {
        Err(not_implemented(r.endpoint.name()))
    }

    pub(super) async fn delete_object_tagging(&self, r: S3Request) -> HResult {
        Err(not_implemented(r.endpoint.name()))
    }
}
