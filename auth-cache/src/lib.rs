//! s3gw-auth-cache (stub; see docs)
