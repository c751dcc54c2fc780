//! s3gw-httpsig (stub; see docs)
