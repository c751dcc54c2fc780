//! s3gw-bench: how close s3gw comes to the native store it fronts, measured
//! side by side (issue 8).
//!
//! One load generator drives three paths with the same workloads:
//! - **A**: S3 through `s3gw` in front of `buckets-lite`;
//! - **B**: the same operations as native buckets-API requests straight to
//!   `buckets-lite` (the ceiling);
//! - **C**: any other S3 endpoint, given by URL and keys (standard S3 only).
//!
//! It signs SigV4 itself (unsigned, signed SHA-256 and aws-chunked payloads)
//! and native requests with HTTP Signature, starts and stops the processes it
//! measures (or takes endpoints), and prints one table per run (or JSON).
//! `docs/benchmarks.md` says how to run it and reads the latest numbers.
//!
//! # Layout
//! - [`sigv4`]: SigV4 signing, block by block, with the AWS worked examples as tests.
//! - [`data`]: deterministic object contents generated on the fly (a 1 GiB
//!   object is never held in memory).
//! - [`s3`]: the S3 client of paths A and C.
//! - [`native`]: the buckets-API client of path B.
//! - [`store`]: one face over both clients, so each workload is written once.
//! - [`workload`]: the workloads of issue 8 (fixed seeds, bounded counts and
//!   durations) and the engine that runs one on one path.
//! - [`procs`]: starting `buckets-lite` and `s3gw`, peak RSS from `/proc`.
//! - [`report`]: the table, the targets and the JSON.
//! - [`scaling`]: how costs grow (`--scaling`): listings over 10k..1M keys,
//!   Complete over 10..1000 parts, GETs at 1..1024 connections, slow uploads.
//! - [`cli`]: the command line and the run itself (the binary is a thin `main`).

pub mod cli;
pub mod data;
pub mod native;
pub mod procs;
pub mod report;
pub mod s3;
pub mod scaling;
pub mod sigv4;
pub mod store;
pub mod workload;
