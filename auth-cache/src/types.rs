//! The values a lookup hands out: checked key ids, secrets that never print.

use std::fmt;
use std::str::FromStr;

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Shortest access key id UFDS accepts (`accesskey.js`: `^\w+$`, 16..128).
pub const ACCESS_KEY_ID_MIN: usize = 16;
/// Longest access key id UFDS accepts.
pub const ACCESS_KEY_ID_MAX: usize = 128;

/// An access key id: 16..=128 word characters (`[A-Za-z0-9_]`), as UFDS's
/// schema requires. Parsed once at the edge; the id may be logged.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccessKeyId(String);

/// Why a string is not an [`AccessKeyId`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an access key id is {ACCESS_KEY_ID_MIN}..={ACCESS_KEY_ID_MAX} characters of [A-Za-z0-9_]")]
pub struct InvalidAccessKeyId;

impl AccessKeyId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for AccessKeyId {
    type Err = InvalidAccessKeyId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok_len = (ACCESS_KEY_ID_MIN..=ACCESS_KEY_ID_MAX).contains(&s.len());
        if ok_len && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            Ok(AccessKeyId(s.to_owned()))
        } else {
            Err(InvalidAccessKeyId)
        }
    }
}

impl fmt::Display for AccessKeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for AccessKeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AccessKeyId({})", self.0)
    }
}

/// A secret access key. Zeroed when dropped, printed as a placeholder by
/// `Debug` and `Display`, compared in constant time.
#[derive(Clone)]
pub struct SecretKey(Zeroizing<String>);

impl SecretKey {
    /// Wraps a secret (taking ownership, so no other copy is left behind by
    /// this call).
    pub fn new(secret: String) -> SecretKey {
        SecretKey(Zeroizing::new(secret))
    }

    /// The bytes to key an HMAC with.
    pub fn expose_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }

    /// The secret as text: only for showing a newly created key to its
    /// owner once, or writing it to the keys file.
    pub fn expose_str(&self) -> &str {
        &self.0
    }

    /// Constant-time equality (the length is not secret).
    pub fn ct_eq(&self, other: &SecretKey) -> bool {
        self.expose_bytes().ct_eq(other.expose_bytes()).into()
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

impl fmt::Display for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A key's `status` (ufds.md). Only `Active` keys authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize, serde::Serialize)]
pub enum KeyStatus {
    /// Authenticates.
    Active,
    /// Switched off by its owner (also: a key without `status`).
    Inactive,
    /// A temporary credential past its expiration.
    Expired,
}

impl KeyStatus {
    /// UFDS's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Active => "Active",
            KeyStatus::Inactive => "Inactive",
            KeyStatus::Expired => "Expired",
        }
    }

    /// Parses UFDS's spelling (exact, as the schema's `caseExactMatch`).
    pub fn parse(s: &str) -> Option<KeyStatus> {
        match s {
            "Active" => Some(KeyStatus::Active),
            "Inactive" => Some(KeyStatus::Inactive),
            "Expired" => Some(KeyStatus::Expired),
            _ => None,
        }
    }
}

impl fmt::Display for KeyStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The account that owns a key: its S3 namespace is this account's buckets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// UFDS uuid of the account.
    pub uuid: String,
    /// The account's login (`/:login/buckets/...`).
    pub login: String,
}

/// The sub-user a key belongs to, when it is not the account's own key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubUser {
    /// UFDS uuid of the sub-user.
    pub uuid: String,
    /// The sub-user's bare login (without the `<account-uuid>/` prefix).
    pub login: String,
}

/// Everything the gateway needs to verify a request signed with a key.
#[derive(Debug, Clone)]
pub struct Credential {
    /// The key id.
    pub access_key_id: AccessKeyId,
    /// The secret (never printed).
    pub secret: SecretKey,
    /// The owning account.
    pub account: Account,
    /// The owning sub-user, for a sub-user's key.
    pub subuser: Option<SubUser>,
    /// Always `Active` for credentials returned by a lookup.
    pub status: KeyStatus,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_key_id_bounds() {
        assert!("ef6358afcebdade99a8829f03cdcba93"
            .parse::<AccessKeyId>()
            .is_ok());
        assert!("a_b_C_d_0123456789".parse::<AccessKeyId>().is_ok());
        assert!("short".parse::<AccessKeyId>().is_err());
        assert!("0123456789abcde".parse::<AccessKeyId>().is_err()); // 15
        assert!("0123456789abcdef".parse::<AccessKeyId>().is_ok()); // 16
        assert!("x".repeat(128).parse::<AccessKeyId>().is_ok());
        assert!("x".repeat(129).parse::<AccessKeyId>().is_err());
        assert!("0123456789abcdef*".parse::<AccessKeyId>().is_err());
        assert!("0123456789abcdef)(uid=*".parse::<AccessKeyId>().is_err());
    }

    #[test]
    fn secret_never_prints() {
        let s = SecretKey::new("tdc_supersecretvalue".into());
        assert!(!format!("{s:?}").contains("supersecret"));
        assert!(!format!("{s}").contains("supersecret"));
        let c = Credential {
            access_key_id: "0123456789abcdef".parse().unwrap(),
            secret: s.clone(),
            account: Account {
                uuid: "u".into(),
                login: "l".into(),
            },
            subuser: None,
            status: KeyStatus::Active,
        };
        assert!(!format!("{c:?}").contains("supersecret"));
        assert!(s.ct_eq(&SecretKey::new("tdc_supersecretvalue".into())));
        assert!(!s.ct_eq(&SecretKey::new("tdc_supersecretvaluf".into())));
        assert!(!s.ct_eq(&SecretKey::new("tdc_".into())));
    }
}
