//! Unsigned requests: who owns the addressed bucket, and whether its ACL,
//! an object's ACL or its CORS rules let an anonymous caller in. Runs
//! before dispatch for every request without a signature
//! ([`Handlers::handle`]).

// The registry API is filled in by the sharing work (issue 12).
#![allow(dead_code)]

use super::*;

impl Handlers {
    /// Admits an unsigned request: sets `r.cx.tenant` to the account that
    /// owns the addressed bucket, or refuses with AccessDenied. Requests
    /// that authenticate themselves (a POST form's signed policy) or need
    /// no account (a CORS preflight) pass to their handler.
    pub(super) async fn admit_anonymous(&self, r: &mut S3Request) -> Result<(), S3Error> {
        match r.endpoint {
            Endpoint::PostObject | Endpoint::OptionsObject => Ok(()),
            _ => Err(S3ErrorCode::AccessDenied.into()),
        }
    }

    /// The account owning `bucket` as the public registry records it
    /// (`None`: the name is not reachable without a signature). Cached with
    /// the bucket-configuration staleness bound.
    pub(super) async fn public_owner(
        &self,
        _request_id: &str,
        _bucket: &BucketName,
    ) -> Result<Option<Tenant>, S3Error> {
        Ok(None)
    }

    /// Records (`on`) or withdraws the reason a bucket name must be
    /// reachable without a signature; the name stays in the public registry
    /// while any reason holds. 409 when the name is already registered by
    /// another account.
    pub(super) async fn expose(
        &self,
        _cx: &RequestContext,
        _bucket: &BucketName,
        _why: Exposure,
        _on: bool,
    ) -> Result<(), S3Error> {
        Ok(())
    }
}

/// Why a bucket name is in the public registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Exposure {
    /// The bucket's ACL, or an object's, grants anonymous access.
    Acl,
    /// The bucket has CORS rules (preflights are unsigned).
    Cors,
}
