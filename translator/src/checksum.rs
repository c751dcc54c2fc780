//! Checksums of multipart objects, from the part checksums alone (the
//! parts are never read again):
//! - COMPOSITE: the algorithm's digest of the concatenated binary part
//!   digests, base64, suffixed `-N` (S3 user guide, "Checking object
//!   integrity", multipart uploads).
//! - FULL_OBJECT (CRC algorithms only): the whole object's CRC, combined
//!   from the part CRCs and lengths (the standard GF(2) CRC combine, as
//!   `crc_fast::checksum_combine` implements it).

use base64::Engine as _;
use crc_fast::CrcAlgorithm;
use sha2::Digest as _;

use crate::types::{Checksum, ChecksumAlgorithm, ChecksumType};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Length in bytes of an algorithm's raw digest.
pub fn digest_len(alg: ChecksumAlgorithm) -> usize {
    match alg {
        ChecksumAlgorithm::Crc32 | ChecksumAlgorithm::Crc32c => 4,
        ChecksumAlgorithm::Crc64Nvme => 8,
        ChecksumAlgorithm::Sha1 => 20,
        ChecksumAlgorithm::Sha256 => 32,
    }
}

/// The raw digest of a (full, not composite) base64 value, when it has
/// the algorithm's length.
pub fn decode_raw(alg: ChecksumAlgorithm, b64: &str) -> Option<Vec<u8>> {
    let raw = B64.decode(b64.trim()).ok()?;
    (raw.len() == digest_len(alg)).then_some(raw)
}

fn crc_algorithm(alg: ChecksumAlgorithm) -> Option<CrcAlgorithm> {
    match alg {
        ChecksumAlgorithm::Crc32 => Some(CrcAlgorithm::Crc32IsoHdlc),
        ChecksumAlgorithm::Crc32c => Some(CrcAlgorithm::Crc32Iscsi),
        ChecksumAlgorithm::Crc64Nvme => Some(CrcAlgorithm::Crc64Nvme),
        ChecksumAlgorithm::Sha1 | ChecksumAlgorithm::Sha256 => None,
    }
}

/// An incremental digest of one algorithm (server-side copies, whose bytes
/// the gateway's request verifiers never see).
pub enum Hasher {
    Crc(ChecksumAlgorithm, crc_fast::Digest),
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
}

impl Hasher {
    pub fn new(alg: ChecksumAlgorithm) -> Self {
        match crc_algorithm(alg) {
            Some(c) => Hasher::Crc(alg, crc_fast::Digest::new(c)),
            None if alg == ChecksumAlgorithm::Sha1 => Hasher::Sha1(sha1::Sha1::new()),
            None => Hasher::Sha256(sha2::Sha256::new()),
        }
    }
    pub fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Crc(_, d) => d.update(data),
            Hasher::Sha1(d) => d.update(data),
            Hasher::Sha256(d) => d.update(data),
        }
    }
    /// The full checksum of what was fed.
    pub fn finish(self) -> Checksum {
        let (algorithm, raw) = match self {
            Hasher::Crc(a, d) => (a, crc_bytes(a, d.finalize())),
            Hasher::Sha1(d) => (ChecksumAlgorithm::Sha1, d.finalize().to_vec()),
            Hasher::Sha256(d) => (ChecksumAlgorithm::Sha256, d.finalize().to_vec()),
        };
        Checksum {
            algorithm,
            value_b64: B64.encode(raw),
            kind: ChecksumType::FullObject,
        }
    }
}

/// The digest of `data` with `alg`, raw (CRCs big-endian, as S3 encodes).
pub fn digest(alg: ChecksumAlgorithm, data: &[u8]) -> Vec<u8> {
    match crc_algorithm(alg) {
        Some(c) => crc_bytes(alg, crc_fast::checksum(c, data)),
        None if alg == ChecksumAlgorithm::Sha1 => sha1::Sha1::digest(data).to_vec(),
        None => sha2::Sha256::digest(data).to_vec(),
    }
}

fn crc_bytes(alg: ChecksumAlgorithm, v: u64) -> Vec<u8> {
    if alg == ChecksumAlgorithm::Crc64Nvme {
        v.to_be_bytes().to_vec()
    } else {
        (v as u32).to_be_bytes().to_vec()
    }
}

fn crc_value(raw: &[u8]) -> u64 {
    raw.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b))
}

/// COMPOSITE checksum of parts given as raw digests, in part order.
pub fn composite(alg: ChecksumAlgorithm, parts: &[Vec<u8>]) -> Checksum {
    let concat: Vec<u8> = parts.concat();
    Checksum {
        algorithm: alg,
        value_b64: format!("{}-{}", B64.encode(digest(alg, &concat)), parts.len()),
        kind: ChecksumType::Composite,
    }
}

/// FULL_OBJECT CRC of parts given as (raw CRC, length), in part order, by
/// CRC combine; `None` for the SHA algorithms (they cannot be combined).
pub fn full_object(alg: ChecksumAlgorithm, parts: &[(Vec<u8>, u64)]) -> Option<Checksum> {
    let c = crc_algorithm(alg)?;
    let mut it = parts.iter();
    let (first, _) = it.next()?;
    let mut acc = crc_value(first);
    for (raw, len) in it {
        acc = crc_fast::checksum_combine(c, acc, crc_value(raw), *len);
    }
    Some(Checksum {
        algorithm: alg,
        value_b64: B64.encode(crc_bytes(alg, acc)),
        kind: ChecksumType::FullObject,
    })
}

/// A checksum value without a composite `-N` suffix.
pub fn without_parts_suffix(v: &str) -> &str {
    match v.rsplit_once('-') {
        Some((b, n)) if !n.is_empty() && n.bytes().all(|c| c.is_ascii_digit()) => b,
        _ => v,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [ChecksumAlgorithm; 5] = [
        ChecksumAlgorithm::Crc32,
        ChecksumAlgorithm::Crc32c,
        ChecksumAlgorithm::Crc64Nvme,
        ChecksumAlgorithm::Sha1,
        ChecksumAlgorithm::Sha256,
    ];

    #[test]
    fn known_answers() {
        // Check values of the catalogue of CRCs ("123456789").
        let hexd = |a| hex::encode(digest(a, b"123456789"));
        assert_eq!(hexd(ChecksumAlgorithm::Crc32), "cbf43926");
        assert_eq!(hexd(ChecksumAlgorithm::Crc32c), "e3069283");
        assert_eq!(hexd(ChecksumAlgorithm::Crc64Nvme), "ae8b14860a799888");
        // Values computed independently (Python zlib / hashlib) for parts
        // "a"*10 and "b"*7.
        let (p1, p2) = (vec![b'a'; 10], vec![b'b'; 7]);
        let parts = |a| vec![digest(a, &p1), digest(a, &p2)];
        assert_eq!(
            composite(ChecksumAlgorithm::Crc32, &parts(ChecksumAlgorithm::Crc32)).value_b64,
            "Pe5qPw==-2"
        );
        assert_eq!(
            composite(ChecksumAlgorithm::Sha256, &parts(ChecksumAlgorithm::Sha256)).value_b64,
            "jc5gBogxLXF8i01VKn6NNnaBl/DUk0KzF/Y4H3iWWMI=-2"
        );
        let full = full_object(
            ChecksumAlgorithm::Crc32,
            &[
                (digest(ChecksumAlgorithm::Crc32, &p1), 10),
                (digest(ChecksumAlgorithm::Crc32, &p2), 7),
            ],
        )
        .unwrap();
        assert_eq!(full.value_b64, "TMpPXQ==");
        assert_eq!(full.kind, ChecksumType::FullObject);
    }

    #[test]
    fn combine_equals_whole_data_crc() {
        // Parts of uneven sizes, including empty and single-byte ones.
        let data: Vec<u8> = (0..100_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let cuts = [0usize, 1, 1, 4097, 50_000, 99_999, 100_000];
        for alg in [
            ChecksumAlgorithm::Crc32,
            ChecksumAlgorithm::Crc32c,
            ChecksumAlgorithm::Crc64Nvme,
        ] {
            let parts: Vec<(Vec<u8>, u64)> = cuts
                .windows(2)
                .map(|w| {
                    let p = &data[w[0]..w[1]];
                    (digest(alg, p), p.len() as u64)
                })
                .collect();
            let whole = B64.encode(digest(alg, &data));
            assert_eq!(
                full_object(alg, &parts).unwrap().value_b64,
                whole,
                "{alg:?}"
            );
        }
        assert!(full_object(ChecksumAlgorithm::Sha256, &[(vec![0; 32], 1)]).is_none());
    }

    #[test]
    fn incremental_equals_one_shot() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7) as u8).collect();
        for alg in ALL {
            let mut h = Hasher::new(alg);
            for piece in data.chunks(333) {
                h.update(piece);
            }
            assert_eq!(
                h.finish().value_b64,
                B64.encode(digest(alg, &data)),
                "{alg:?}"
            );
        }
    }

    #[test]
    fn lengths_and_suffix() {
        for alg in ALL {
            let v = B64.encode(digest(alg, b"x"));
            assert!(decode_raw(alg, &v).is_some());
            assert!(
                decode_raw(alg, "AAAA").is_none(),
                "3 bytes fit no algorithm"
            );
        }
        assert!(decode_raw(ChecksumAlgorithm::Crc32, "not base64!").is_none());
        assert_eq!(without_parts_suffix("abc=-12"), "abc=");
        assert_eq!(without_parts_suffix("abc="), "abc=");
    }
}
