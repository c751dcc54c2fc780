//! Deterministic object contents, generated on the fly.
//!
//! A 1 GiB object must never be held in memory, and the GET side must be able
//! to check bytes without having kept them: the content is a pure function of
//! `(seed, byte offset)`, so any range of any object can be regenerated (and
//! hashed) independently, which is also what multipart parts need.
//!
//! Word `w` (8 bytes, little endian) of the stream seeded `s` is
//! `splitmix64(s ^ w * GOLDEN)`: a few integer operations per 8 bytes, several
//! GB/s, so the generator costs both paths the same small amount of client CPU.

use bytes::Bytes;
use futures_util::stream::{self, Stream};
use md5::{Digest, Md5};
use sha2::Sha256;

/// Bytes per generated `Bytes` piece of a streamed body. Large enough that
/// per-piece overhead is negligible, small enough to keep client memory flat.
pub const STREAM_PIECE: usize = 256 * 1024;

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(GOLDEN);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A range of the deterministic stream of one seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Payload {
    pub seed: u64,
    pub offset: u64,
    pub len: u64,
}

impl Payload {
    /// The whole object `[0, len)` of `seed`.
    pub fn new(seed: u64, len: u64) -> Self {
        Payload {
            seed,
            offset: 0,
            len,
        }
    }

    /// A sub-range (e.g. one multipart part), relative to this payload.
    pub fn slice(&self, offset: u64, len: u64) -> Self {
        assert!(offset + len <= self.len, "slice out of range");
        Payload {
            seed: self.seed,
            offset: self.offset + offset,
            len,
        }
    }

    /// Fills `buf` with the bytes at absolute stream offset `at`.
    pub fn fill(&self, at: u64, buf: &mut [u8]) {
        let mut pos = at;
        let mut out = 0;
        while out < buf.len() {
            let word = pos / 8;
            let skip = (pos % 8) as usize;
            let bytes = splitmix64(self.seed ^ word.wrapping_mul(GOLDEN)).to_le_bytes();
            let n = (8 - skip).min(buf.len() - out);
            buf[out..out + n].copy_from_slice(&bytes[skip..skip + n]);
            out += n;
            pos += n as u64;
        }
    }

    /// The bytes as a vector (small payloads only).
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = vec![0; usize::try_from(self.len).expect("small payload")];
        self.fill(self.offset, &mut v);
        v
    }

    /// Calls `f` on consecutive pieces of at most `piece` bytes.
    pub fn for_each_piece(&self, piece: usize, mut f: impl FnMut(&[u8])) {
        let mut buf = vec![0; piece];
        let mut done = 0;
        while done < self.len {
            let n = (self.len - done).min(piece as u64) as usize;
            self.fill(self.offset + done, &mut buf[..n]);
            f(&buf[..n]);
            done += n as u64;
        }
    }

    /// A stream of `piece`-byte `Bytes` (for `reqwest::Body::wrap_stream`).
    pub fn stream(self, piece: usize) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send {
        stream::unfold(0u64, move |done| async move {
            if done >= self.len {
                return None;
            }
            let n = (self.len - done).min(piece as u64) as usize;
            let mut buf = vec![0; n];
            self.fill(self.offset + done, &mut buf);
            Some((Ok(Bytes::from(buf)), done + n as u64))
        })
    }

    /// A request body: small payloads in one buffer (as clients send small
    /// objects), larger ones streamed piece by piece, never whole in memory.
    pub fn body(self) -> reqwest::Body {
        if self.len <= STREAM_PIECE as u64 {
            reqwest::Body::from(self.to_vec())
        } else {
            reqwest::Body::wrap_stream(self.stream(STREAM_PIECE))
        }
    }

    /// MD5 of the payload.
    pub fn md5(&self) -> [u8; 16] {
        let mut h = Md5::new();
        self.for_each_piece(STREAM_PIECE, |p| h.update(p));
        h.finalize().into()
    }

    /// Hex SHA-256 of the payload (for a signed-payload PUT; computed before
    /// the request, outside the timed section, as a client hashing a file would).
    pub fn sha256_hex(&self) -> String {
        let mut h = Sha256::new();
        self.for_each_piece(STREAM_PIECE, |p| h.update(p));
        hex::encode(h.finalize())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    #[test]
    fn deterministic_and_seed_dependent() {
        let a = Payload::new(1, 1000).to_vec();
        assert_eq!(a, Payload::new(1, 1000).to_vec());
        assert_ne!(a, Payload::new(2, 1000).to_vec());
    }

    #[test]
    fn slices_match_the_whole_at_any_offset() {
        let whole = Payload::new(7, 4096).to_vec();
        for (off, len) in [(0, 1), (3, 17), (8, 8), (1001, 2000), (4095, 1)] {
            let part = Payload::new(7, 4096).slice(off, len).to_vec();
            assert_eq!(part, whole[off as usize..(off + len) as usize]);
        }
    }

    #[tokio::test]
    async fn stream_equals_vec_and_md5() {
        let p = Payload::new(9, 300_001);
        let mut got = Vec::new();
        let mut s = Box::pin(p.stream(65_536));
        while let Some(b) = s.next().await {
            got.extend_from_slice(&b.unwrap());
        }
        assert_eq!(got, p.to_vec());
        let want: [u8; 16] = Md5::digest(&got).into();
        assert_eq!(p.md5(), want);
    }
}
