//! UFDS's key format (ufds.md, node-ufds `accesskey.js`): what
//! [`generate_access_key_id`] and [`generate_secret`] produce is what UFDS
//! itself would store.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::RngCore as _;

use crate::types::{AccessKeyId, SecretKey};

/// Prefix of every UFDS secret.
const SECRET_PREFIX: &str = "tdc_";
/// Random bytes in a secret.
const SECRET_RANDOM_BYTES: usize = 32;
/// `tdc_` + base64url(32 random bytes ++ 4 CRC bytes) without padding.
const SECRET_LEN: usize = SECRET_PREFIX.len() + (SECRET_RANDOM_BYTES + 4) / 3 * 4;

/// A new access key id: 16 random bytes as 32 lower-case hex characters.
pub fn generate_access_key_id() -> AccessKeyId {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
        .parse()
        .expect("32 hex characters are a valid access key id")
}

/// A new secret: `tdc_` + base64url (no padding) of 32 random bytes followed
/// by the little-endian CRC-32 of `"tdc_"` ++ those bytes (52 characters).
/// The CRC lets a server reject a mistyped secret without a lookup.
pub fn generate_secret() -> SecretKey {
    let mut buf = zeroize::Zeroizing::new([0u8; SECRET_RANDOM_BYTES + 4]);
    rand::rngs::OsRng.fill_bytes(&mut buf[..SECRET_RANDOM_BYTES]);
    let crc = secret_crc(&buf[..SECRET_RANDOM_BYTES]);
    buf[SECRET_RANDOM_BYTES..].copy_from_slice(&crc.to_le_bytes());
    let mut s = String::with_capacity(SECRET_LEN);
    s.push_str(SECRET_PREFIX);
    URL_SAFE_NO_PAD.encode_string(&buf[..], &mut s);
    SecretKey::new(s)
}

/// Whether `s` has UFDS's secret format, CRC included.
pub fn secret_format_ok(s: &str) -> bool {
    let Some(body) = s.strip_prefix(SECRET_PREFIX) else {
        return false;
    };
    if s.len() != SECRET_LEN {
        return false;
    }
    let Ok(raw) = URL_SAFE_NO_PAD.decode(body) else {
        return false;
    };
    let raw = zeroize::Zeroizing::new(raw);
    if raw.len() != SECRET_RANDOM_BYTES + 4 {
        return false;
    }
    let (random, crc) = raw.split_at(SECRET_RANDOM_BYTES);
    crc == secret_crc(random).to_le_bytes()
}

fn secret_crc(random: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(SECRET_PREFIX.as_bytes());
    h.update(random);
    h.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Secrets written by UFDS itself (the shared test LDIF, ufds.md).
    #[test]
    fn ufds_secrets_pass() {
        assert!(secret_format_ok(
            "tdc_054wl6UA--KMkjmpbSxUlqdItpwJDjoTu6vlBjim3fraYcMQ"
        ));
        assert!(secret_format_ok(
            "tdc_T19_0e-6QjkTTw-Yeep0MDbgu62E0Inn-h9zuI8-ZwD2-DpN"
        ));
        assert!(secret_format_ok(
            "tdc_XWZa53h7i9380z-ekkTIJv5uvxMUFBNqBy4c9L1MYg5ddD88"
        ));
    }

    #[test]
    fn damaged_secrets_fail() {
        // one character changed, prefix wrong, truncated, padded
        assert!(!secret_format_ok(
            "tdc_054wl6UA--KMkjmpbSxUlqdItpwJDjoTu6vlBjim3fraYcMR"
        ));
        assert!(!secret_format_ok(
            "tdx_054wl6UA--KMkjmpbSxUlqdItpwJDjoTu6vlBjim3fraYcMQ"
        ));
        assert!(!secret_format_ok(
            "tdc_054wl6UA--KMkjmpbSxUlqdItpwJDjoTu6vlBjim3fraYcM"
        ));
        assert!(!secret_format_ok(
            "tdc_054wl6UA--KMkjmpbSxUlqdItpwJDjoTu6vlBjim3fraYcMQ="
        ));
        assert!(!secret_format_ok(""));
    }

    #[test]
    fn generated_keys_have_ufds_format() {
        for _ in 0..100 {
            let id = generate_access_key_id();
            assert_eq!(id.as_str().len(), 32);
            assert!(id
                .as_str()
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
            let s = generate_secret();
            assert_eq!(s.expose_str().len(), 52);
            assert!(secret_format_ok(s.expose_str()));
        }
    }
}
