//! s3gw-bench (stub; see docs)
