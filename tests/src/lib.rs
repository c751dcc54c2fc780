//! s3gw-tests: end-to-end tests with real processes and real clients.
//!
//! # Layout
//! - [`procs`]: locating the workspace's built binaries and running child
//!   processes that are stopped by their own pid.
//! - [`buckets_lite`]: start a real `buckets-lite` process on a free loopback
//!   port and sign native requests against it.
//! - [`slapd`]: start a real OpenLDAP `slapd` with a UFDS-shaped schema on a
//!   free loopback port, and write UFDS-style changelog records.
//! - [`gateway`]: start a real `s3gw` process in front of the above.
//! - [`raw`]: raw HTTP/1.1 over a socket with hand-made SigV4/SigV2
//!   signatures (sign first, tamper after), for hostile requests.
//! - [`real_manta`]: the real Manta buckets stack (`scripts/real-manta.sh`)
//!   and `s3gw` in front of it, for the real-code suite.
//! - [`browser`]: a real headless Chromium (`chromium-headless-shell`) and a
//!   loopback page server, for browser (CORS) tests.
//!
//! Test binaries live in `tests/tests/*.rs`, one per area.
//!
//! Every module but [`procs`] needs the default `harness` feature; the bench
//! uses this crate without it, for [`procs::ChildProcess`].

#[cfg(feature = "harness")]
pub mod browser;
#[cfg(feature = "harness")]
pub mod buckets_lite;
#[cfg(feature = "harness")]
pub mod gateway;
pub mod procs;
#[cfg(feature = "harness")]
pub mod raw;
#[cfg(feature = "harness")]
pub mod real_manta;
#[cfg(feature = "harness")]
pub mod slapd;
