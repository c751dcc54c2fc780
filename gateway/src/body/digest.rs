//! Streaming digests over request (and, for the handlers, response)
//! bodies: the five S3 checksum algorithms, computed over slices as the
//! bytes pass, never over a copy.

use base64::Engine;
use crc_fast::CrcAlgorithm;
use s3gw_translator::{Checksum, ChecksumAlgorithm, ChecksumType};
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// Every algorithm S3 accepts in `x-amz-checksum-*`.
pub const ALGORITHMS: [ChecksumAlgorithm; 5] = [
    ChecksumAlgorithm::Crc32,
    ChecksumAlgorithm::Crc32c,
    ChecksumAlgorithm::Crc64Nvme,
    ChecksumAlgorithm::Sha1,
    ChecksumAlgorithm::Sha256,
];

/// Length in bytes of an algorithm's raw digest (the base64 value decodes
/// to exactly this many bytes, or the header is malformed).
pub fn digest_len(alg: ChecksumAlgorithm) -> usize {
    match alg {
        ChecksumAlgorithm::Crc32 | ChecksumAlgorithm::Crc32c => 4,
        ChecksumAlgorithm::Crc64Nvme => 8,
        ChecksumAlgorithm::Sha1 => 20,
        ChecksumAlgorithm::Sha256 => 32,
    }
}

/// The header (or trailer) name carrying an algorithm's value.
pub fn header_name(alg: ChecksumAlgorithm) -> String {
    format!("x-amz-checksum-{}", alg.header_suffix())
}

enum Inner {
    Crc(crc_fast::Digest),
    Sha1(Sha1),
    Sha256(Sha256),
}

/// An incremental S3 checksum.
pub struct Checksummer {
    alg: ChecksumAlgorithm,
    inner: Inner,
}

impl Checksummer {
    pub fn new(alg: ChecksumAlgorithm) -> Self {
        let inner = match alg {
            // S3's CRC32 is the ISO-HDLC (zlib) polynomial, CRC32C is
            // Castagnoli (iSCSI), CRC64NVME the NVMe polynomial.
            ChecksumAlgorithm::Crc32 => {
                Inner::Crc(crc_fast::Digest::new(CrcAlgorithm::Crc32IsoHdlc))
            }
            ChecksumAlgorithm::Crc32c => {
                Inner::Crc(crc_fast::Digest::new(CrcAlgorithm::Crc32Iscsi))
            }
            ChecksumAlgorithm::Crc64Nvme => {
                Inner::Crc(crc_fast::Digest::new(CrcAlgorithm::Crc64Nvme))
            }
            ChecksumAlgorithm::Sha1 => Inner::Sha1(Sha1::new()),
            ChecksumAlgorithm::Sha256 => Inner::Sha256(Sha256::new()),
        };
        Checksummer { alg, inner }
    }

    pub fn algorithm(&self) -> ChecksumAlgorithm {
        self.alg
    }

    pub fn update(&mut self, data: &[u8]) {
        match &mut self.inner {
            Inner::Crc(d) => d.update(data),
            Inner::Sha1(d) => d.update(data),
            Inner::Sha256(d) => d.update(data),
        }
    }

    /// The raw digest, big-endian for the CRCs (as S3 encodes them).
    pub fn finish(self) -> Vec<u8> {
        match self.inner {
            Inner::Crc(d) => {
                let v = d.finalize();
                if self.alg == ChecksumAlgorithm::Crc64Nvme {
                    v.to_be_bytes().to_vec()
                } else {
                    (v as u32).to_be_bytes().to_vec()
                }
            }
            Inner::Sha1(d) => d.finalize().to_vec(),
            Inner::Sha256(d) => d.finalize().to_vec(),
        }
    }

    /// The full-object checksum value as S3 sends it (base64).
    pub fn finish_checksum(self) -> Checksum {
        let alg = self.alg;
        Checksum {
            algorithm: alg,
            value_b64: base64::engine::general_purpose::STANDARD.encode(self.finish()),
            kind: ChecksumType::FullObject,
        }
    }
}

/// The checksum of a whole buffer (responses, tests).
pub fn checksum_of(alg: ChecksumAlgorithm, data: &[u8]) -> Checksum {
    let mut c = Checksummer::new(alg);
    c.update(data);
    c.finish_checksum()
}

/// Decodes a base64 checksum value of the right length for `alg`.
pub fn decode_value(alg: ChecksumAlgorithm, b64: &str) -> Option<Vec<u8>> {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    (raw.len() == digest_len(alg)).then_some(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        // "123456789" check values of each CRC (Rocksoft catalogue), S3-encoded.
        let b64 = |alg| checksum_of(alg, b"123456789").value_b64;
        let hexv = |alg| {
            let v = checksum_of(alg, b"123456789").value_b64;
            hex::encode(base64::engine::general_purpose::STANDARD.decode(v).unwrap())
        };
        assert_eq!(hexv(ChecksumAlgorithm::Crc32), "cbf43926");
        assert_eq!(hexv(ChecksumAlgorithm::Crc32c), "e3069283");
        assert_eq!(hexv(ChecksumAlgorithm::Crc64Nvme), "ae8b14860a799888");
        assert_eq!(
            hexv(ChecksumAlgorithm::Sha1),
            "f7c3bc1d808e04732adf679965ccc34ca7ae3441"
        );
        assert_eq!(b64(ChecksumAlgorithm::Sha1), "98O8HYCOBHMq32eZZczDTKeuNEE=");
        // The AWS trailer example: 66560 bytes of 'a' have CRC32C sOO8/Q==.
        assert_eq!(
            checksum_of(ChecksumAlgorithm::Crc32c, &vec![b'a'; 66560]).value_b64,
            "sOO8/Q=="
        );
        assert_eq!(
            checksum_of(ChecksumAlgorithm::Crc32, b"").value_b64,
            "AAAAAA=="
        );
    }

    #[test]
    fn incremental_equals_whole() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 31 % 251) as u8).collect();
        for alg in ALGORITHMS {
            let mut c = Checksummer::new(alg);
            for piece in data.chunks(333) {
                c.update(piece);
            }
            assert_eq!(c.finish_checksum(), checksum_of(alg, &data), "{alg:?}");
        }
    }

    #[test]
    fn values_must_have_the_algorithms_length() {
        assert!(decode_value(ChecksumAlgorithm::Crc32, "AAAAAA==").is_some());
        assert!(decode_value(ChecksumAlgorithm::Crc64Nvme, "AAAAAA==").is_none());
        assert!(decode_value(ChecksumAlgorithm::Sha1, "not base64!").is_none());
    }
}
