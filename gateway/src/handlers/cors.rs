//! CORS: PutBucketCors / GetBucketCors / DeleteBucketCors, the preflight
//! (`OPTIONS`) and the CORS headers on actual requests.

use super::*;

impl Handlers {
    pub(super) async fn get_bucket_cors(&self, r: S3Request) -> HResult {
        self.unconfigured(r, S3ErrorCode::NoSuchCORSConfiguration)
            .await
    }

    pub(super) async fn put_bucket_cors(&self, r: S3Request) -> HResult {
        Err(not_implemented(r.endpoint.name()))
    }

    pub(super) async fn delete_bucket_cors(&self, r: S3Request) -> HResult {
        self.delete_unconfigured(r).await
    }

    pub(super) async fn options_object(&self, r: S3Request) -> HResult {
        Err(not_implemented(r.endpoint.name()))
    }
}
