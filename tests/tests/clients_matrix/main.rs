//! The real-client matrix (issue 6): real S3 client programs, run as
//! subprocesses against a started `s3gw` process, with every result
//! checked (downloaded bytes equal uploaded bytes, listings list what was
//! written), not just exit codes.
//!
//! One test binary so that the clients run in parallel (`cargo test` runs
//! test binaries one after another, the tests inside one binary
//! concurrently); each test starts its own gateway with a fresh data
//! directory and keys, so no test depends on another.
//!
//! # Layout
//! - [`support`]: locating client programs (a missing one FAILS the test),
//!   running them with deadlines, the generated 200-file tree, tree and
//!   file comparisons, the `/etc/hosts` guard for virtual-host addressing,
//!   starting `s3gw`.
//! - [`awscli`]: aws cli (`s3` high-level commands and `s3api`), path-style
//!   and virtual-host, presigned URLs fetched with curl.
//! - [`boto3`]: runs `tests/clients/boto3_matrix.py` (every supported
//!   operation, SigV4 and SigV2, presigned GET/PUT, 100 MiB transfers).
//! - [`s3cmd`]: s3cmd with SigV2 and with SigV4, signed URLs with curl.
//! - [`rclone`]: rclone copy/sync/check of the 200-file tree, MD5 on.
//! - [`ldap`]: s3gw fronting a separate buckets-lite with keys from slapd.
//!
//! aws-sdk-s3 for Rust (default settings, checksum trailers on) is covered
//! by `tests/tests/gateway.rs`.

mod awscli;
mod boto3;
mod ldap;
mod rclone;
mod s3cmd;
mod support;
