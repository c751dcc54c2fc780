//! [`MantaConfig`]: where the native store is, who the gateway signs as, and
//! every tunable limit of the native client, each with its default.

use std::path::PathBuf;
use std::time::Duration;

use s3gw_httpsig::PrivateKey;

/// How the translator reaches the native buckets API.
///
/// Build it with [`MantaConfig::new`] (every tunable at its default) and
/// override single fields; the gateway fills it from its own configuration
/// file (the key is read from a PEM or OpenSSH file with
/// [`PrivateKey::from_pem_or_openssh`]).
#[derive(Debug)]
pub struct MantaConfig {
    /// Base URL of the store, e.g. `https://manta.example.com` (no trailing
    /// slash needed; a path prefix is kept).
    pub url: String,
    /// Login of the operator account the gateway signs every native request
    /// as (an account in the store's `operators` group, design.md "Native
    /// authentication"). Tenants are addressed as `/:tenant-login/buckets`.
    pub operator_login: String,
    /// The operator's private key: ECDSA P-256 (the default the gateway
    /// generates), P-521 or RSA for a real buckets-api, whose verifier
    /// refuses `ed25519` and `ecdsa-sha384` signatures ([`check_operator_key`]).
    /// Ed25519 works only with buckets-lite's `ed25519_signatures` extension.
    pub operator_key: PrivateKey,
    /// PEM file of the CA certificate(s) that sign the store's TLS
    /// certificate (a private CA). Default: the platform's trust store.
    pub ca_file: Option<PathBuf>,
    /// Time allowed to open a TCP (and TLS) connection. Default 5 s.
    pub connect_timeout: Duration,
    /// Longest silence tolerated while waiting for a response or between
    /// two reads of a response body (an idle timeout, not a total one, so a
    /// 50 GiB GET is fine while it keeps moving). Default 60 s.
    pub request_timeout: Duration,
    /// How long an idle pooled connection is kept for reuse. Default 90 s.
    pub pool_idle_timeout: Duration,
    /// Idle connections kept per store host. Default 128 (the benchmark runs
    /// 16+ concurrent clients; every miss costs a TCP handshake).
    pub pool_max_idle_per_host: usize,
    /// Extra attempts for idempotent reads (GET, HEAD, listings) that failed
    /// to connect or lost their connection before any answer. Writes are
    /// never retried. Default 2.
    pub read_retries: u32,
    /// Age after which an unfinished multipart upload (its record and parts)
    /// is swept. Default 7 days.
    pub upload_ttl: Duration,
    /// A bucket's stale uploads are swept at most once per this interval per
    /// gateway instance, opportunistically when CreateMultipartUpload or
    /// ListMultipartUploads touches the bucket. Default 1 hour.
    pub sweep_interval: Duration,
    /// Largest native listing page body accepted (1024 entries are far
    /// below this; a bigger answer is a broken store). Default 16 MiB.
    pub max_list_page_bytes: usize,
    /// Largest native error body read for its JSON code. Default 64 KiB.
    pub max_error_body_bytes: usize,
    /// Native requests in flight at once for fan-out work (DeleteObjects,
    /// removing parts after Complete/Abort, DeleteBucket leftovers).
    /// Default 16.
    pub fanout_concurrency: usize,
}

impl MantaConfig {
    /// A configuration with every tunable at its documented default.
    pub fn new(
        url: impl Into<String>,
        operator_login: impl Into<String>,
        operator_key: PrivateKey,
    ) -> Self {
        MantaConfig {
            url: url.into(),
            operator_login: operator_login.into(),
            operator_key,
            ca_file: None,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(60),
            pool_idle_timeout: Duration::from_secs(90),
            pool_max_idle_per_host: 128,
            read_retries: 2,
            upload_ttl: Duration::from_secs(7 * 24 * 3600),
            sweep_interval: Duration::from_secs(3600),
            max_list_page_bytes: 16 << 20,
            max_error_body_bytes: 64 << 10,
            fanout_concurrency: 16,
        }
    }
}

/// Whether a real buckets-api accepts signatures by `key`: its verifier
/// (http-signature 1.1.0) knows rsa-sha1/256/512 and ecdsa-sha256/512, so an
/// Ed25519 key (`ed25519`) or a P-384 key (`ecdsa-sha384`) can never sign a
/// request it accepts. The message says why and what to use instead.
pub fn check_operator_key(key: &PrivateKey) -> Result<(), String> {
    match key.public_key().kind() {
        "ed25519" => Err(
            "the operator key is Ed25519, whose `ed25519` signatures the real \
             buckets-api refuses (http-signature 1.1.0 knows rsa and ecdsa with sha1/256/512 \
             only); use an ECDSA P-256 key (ssh-keygen -t ecdsa -b 256) or RSA"
                .into(),
        ),
        "ecdsa-p384" => Err(
            "the operator key is ECDSA P-384, which signs `ecdsa-sha384`, an \
             algorithm the real buckets-api refuses; use an ECDSA P-256 key \
             (ssh-keygen -t ecdsa -b 256), P-521 or RSA"
                .into(),
        ),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operator_keys_the_real_server_refuses_are_named() {
        let ed = PrivateKey::generate_ed25519();
        assert!(check_operator_key(&ed).unwrap_err().contains("Ed25519"));
        let p384 = PrivateKey::generate_ecdsa(384).unwrap();
        assert!(check_operator_key(&p384).unwrap_err().contains("P-384"));
        assert!(check_operator_key(&PrivateKey::generate_ecdsa(256).unwrap()).is_ok());
        assert!(check_operator_key(&PrivateKey::generate_ecdsa(521).unwrap()).is_ok());
    }
}
