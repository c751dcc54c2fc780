//! s3gw: the S3 face of the gateway.
//!
//! # Layout
//! - [`error`]: the one S3 error table.
//! - (more modules arrive with the gateway-front work: config, server,
//!   addressing, router, auth, body, xml, handlers)

pub mod error;
