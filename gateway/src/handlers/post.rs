//! PostObject: browser uploads (`multipart/form-data` with a signed policy
//! document, or anonymous into a public-read-write bucket).

use super::*;

impl Handlers {
    pub(super) async fn post_object(&self, r: S3Request) -> HResult {
        Err(not_implemented(r.endpoint.name()))
    }
}
