//! s3gw-httpsig: the HTTP Signature scheme of the native buckets API
//! (Joyent's `http-signature`, draft-cavage-http-signatures as Manta uses it),
//! shared by `buckets-lite` (verify) and the translator (sign).
//!
//! The wire shape, from `shared/buckets-api.md` "Authentication":
//!
//! ```text
//! Authorization: Signature keyId="/<login>/keys/<md5 fp>",algorithm="rsa-sha256",headers="date",signature="<base64>"
//! ```
//!
//! The signing string is `"<lowercase-name>: <value>"` per listed header joined
//! by `\n`; `(request-target)` is `"(request-target): <lowercase method> <path+query>"`.
//! ECDSA signatures travel ASN.1 DER-encoded (what node's `sshpk` and
//! `http-signature` produce); RSA is PKCS#1 v1.5; Ed25519 is our extension
//! (the raw 64-byte signature).
//!
//! # Layout
//! - [`Algorithm`]: wire algorithm names.
//! - [`PublicKey`] / [`PrivateKey`]: key parsing (OpenSSH, PEM), MD5
//!   fingerprints, raw sign/verify for every algorithm.
//! - [`KeyId`]: the `keyId` parameter, parsed.
//! - [`Signer`]: builds `Authorization` values, caching the date-only one.
//! - [`parse_authorization`], [`signing_string`]: the verifier's side.
//! - [`http_date`]: the `Date` header format.

use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::SystemTime;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use md5::{Digest as _, Md5};
use rsa::Pkcs1v15Sign;
use sha1::Sha1;
use sha2::{Sha256, Sha384, Sha512};
use signature::hazmat::{PrehashSigner, PrehashVerifier};
use signature::{Signer as _, Verifier as _};

/// A signature algorithm as named on the wire (`algorithm="rsa-sha256"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    RsaSha1,
    RsaSha256,
    RsaSha512,
    EcdsaSha256,
    EcdsaSha384,
    EcdsaSha512,
    Ed25519,
}

impl Algorithm {
    /// Every algorithm, for tests and tables.
    pub const ALL: [Algorithm; 7] = [
        Algorithm::RsaSha1,
        Algorithm::RsaSha256,
        Algorithm::RsaSha512,
        Algorithm::EcdsaSha256,
        Algorithm::EcdsaSha384,
        Algorithm::EcdsaSha512,
        Algorithm::Ed25519,
    ];

    /// The wire name, e.g. `"rsa-sha256"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::RsaSha1 => "rsa-sha1",
            Algorithm::RsaSha256 => "rsa-sha256",
            Algorithm::RsaSha512 => "rsa-sha512",
            Algorithm::EcdsaSha256 => "ecdsa-sha256",
            Algorithm::EcdsaSha384 => "ecdsa-sha384",
            Algorithm::EcdsaSha512 => "ecdsa-sha512",
            Algorithm::Ed25519 => "ed25519",
        }
    }

    fn family(self) -> Family {
        match self {
            Algorithm::RsaSha1 | Algorithm::RsaSha256 | Algorithm::RsaSha512 => Family::Rsa,
            Algorithm::EcdsaSha256 | Algorithm::EcdsaSha384 | Algorithm::EcdsaSha512 => {
                Family::Ecdsa
            }
            Algorithm::Ed25519 => Family::Ed25519,
        }
    }

    /// The message digest for RSA/ECDSA (Ed25519 hashes internally).
    fn digest(self, message: &[u8]) -> Vec<u8> {
        match self {
            Algorithm::RsaSha1 => Sha1::digest(message).to_vec(),
            Algorithm::RsaSha256 | Algorithm::EcdsaSha256 => Sha256::digest(message).to_vec(),
            Algorithm::EcdsaSha384 => Sha384::digest(message).to_vec(),
            Algorithm::RsaSha512 | Algorithm::EcdsaSha512 => Sha512::digest(message).to_vec(),
            Algorithm::Ed25519 => message.to_vec(),
        }
    }

    /// PKCS#1 v1.5 padding with the DigestInfo prefix of this algorithm's hash.
    fn rsa_padding(self) -> Pkcs1v15Sign {
        match self {
            // The `sha1` crate's `oid` feature is off in the workspace; the
            // DigestInfo prefix for SHA-1 is fixed by RFC 8017 section 9.2 note 1.
            Algorithm::RsaSha1 => Pkcs1v15Sign {
                hash_len: Some(20),
                prefix: Box::new([
                    0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00,
                    0x04, 0x14,
                ]),
            },
            Algorithm::RsaSha512 => Pkcs1v15Sign::new::<Sha512>(),
            _ => Pkcs1v15Sign::new::<Sha256>(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Rsa,
    Ecdsa,
    Ed25519,
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Algorithm {
    type Err = AuthError;

    /// Case-insensitive, as node's http-signature lowercases the parameter.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Algorithm::ALL
            .into_iter()
            .find(|a| a.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| AuthError::UnknownAlgorithm(s.to_owned()))
    }
}

/// A key could not be parsed or converted.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("unrecognised key format")]
    UnknownFormat,
    #[error("unsupported key type: {0}")]
    Unsupported(String),
    #[error("encrypted private keys are not supported")]
    Encrypted,
    #[error("invalid key: {0}")]
    Invalid(String),
}

/// A signature could not be made or did not verify.
#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    #[error("algorithm {alg} does not fit a {key} key")]
    AlgorithmMismatch { alg: Algorithm, key: &'static str },
    #[error("malformed signature")]
    Malformed,
    #[error("signature does not verify")]
    Mismatch,
    #[error("signing failed: {0}")]
    Signing(String),
}

/// An `Authorization` header or its signed headers are unusable. Each variant
/// maps to one wire error of the contract (see [`AuthError::wire_code`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("authorization scheme is not Signature")]
    SchemeNotAllowed,
    #[error("malformed Signature parameters: {0}")]
    Malformed(String),
    #[error("invalid keyId: {0}")]
    InvalidKeyId(String),
    #[error("unknown algorithm: {0}")]
    UnknownAlgorithm(String),
    #[error("signed header {0} is missing from the request")]
    MissingHeader(String),
}

impl AuthError {
    /// The native error code (buckets-api.md "Errors") this failure answers with.
    pub fn wire_code(&self) -> &'static str {
        match self {
            AuthError::SchemeNotAllowed => "AuthorizationSchemeNotAllowed",
            AuthError::InvalidKeyId(_) => "InvalidKeyId",
            AuthError::Malformed(_) | AuthError::UnknownAlgorithm(_) => "InvalidSignature",
            AuthError::MissingHeader(_) => "InvalidHeader",
        }
    }
}

#[derive(Clone)]
enum PubInner {
    Rsa(rsa::RsaPublicKey),
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
    P521(p521::ecdsa::VerifyingKey),
    Ed25519(ed25519_dalek::VerifyingKey),
}

/// A public key that can verify HTTP signatures.
#[derive(Clone)]
pub struct PublicKey {
    inner: PubInner,
    /// The SSH wire-format blob (RFC 4253 section 6.6): source of the MD5
    /// fingerprint and of the OpenSSH line.
    blob: ssh_key::public::KeyData,
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({} {})", self.kind(), self.md5_fingerprint())
    }
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.blob == other.blob
    }
}
impl Eq for PublicKey {}

fn invalid(e: impl fmt::Display) -> KeyError {
    KeyError::Invalid(e.to_string())
}

impl PublicKey {
    fn from_inner(inner: PubInner) -> Result<Self, KeyError> {
        use ssh_key::public::{EcdsaPublicKey, KeyData};
        let blob = match &inner {
            PubInner::Rsa(k) => KeyData::Rsa(k.try_into().map_err(invalid)?),
            PubInner::P256(k) => KeyData::Ecdsa(EcdsaPublicKey::from(k)),
            PubInner::P384(k) => KeyData::Ecdsa(EcdsaPublicKey::from(k)),
            PubInner::P521(k) => KeyData::Ecdsa(EcdsaPublicKey::from(k)),
            PubInner::Ed25519(k) => KeyData::Ed25519(k.into()),
        };
        Ok(PublicKey { inner, blob })
    }

    fn from_key_data(data: &ssh_key::public::KeyData) -> Result<Self, KeyError> {
        use ssh_key::public::{EcdsaPublicKey, KeyData};
        let inner = match data {
            KeyData::Rsa(k) => PubInner::Rsa(k.try_into().map_err(invalid)?),
            KeyData::Ecdsa(k @ EcdsaPublicKey::NistP256(_)) => {
                PubInner::P256(k.try_into().map_err(invalid)?)
            }
            KeyData::Ecdsa(k @ EcdsaPublicKey::NistP384(_)) => {
                PubInner::P384(k.try_into().map_err(invalid)?)
            }
            KeyData::Ecdsa(EcdsaPublicKey::NistP521(p)) => PubInner::P521(
                p521::ecdsa::VerifyingKey::from_sec1_bytes(p.as_bytes()).map_err(invalid)?,
            ),
            KeyData::Ed25519(k) => PubInner::Ed25519(k.try_into().map_err(invalid)?),
            other => return Err(KeyError::Unsupported(other.algorithm().to_string())),
        };
        Ok(PublicKey {
            inner,
            blob: data.clone(),
        })
    }

    /// Parses an `authorized_keys`-style line: `ssh-ed25519 AAAA... comment`.
    pub fn from_openssh(line: &str) -> Result<Self, KeyError> {
        let key = ssh_key::PublicKey::from_openssh(line.trim()).map_err(invalid)?;
        Self::from_key_data(key.key_data())
    }

    /// Parses a PEM public key: SPKI (`PUBLIC KEY`) of any supported type, or
    /// PKCS#1 (`RSA PUBLIC KEY`).
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        use pkcs8::DecodePublicKey;
        use rsa::pkcs1::DecodeRsaPublicKey;
        let pem = pem.trim();
        if pem.contains("BEGIN RSA PUBLIC KEY") {
            let k = rsa::RsaPublicKey::from_pkcs1_pem(pem).map_err(invalid)?;
            return Self::from_inner(PubInner::Rsa(k));
        }
        if !pem.contains("BEGIN PUBLIC KEY") {
            return Err(KeyError::UnknownFormat);
        }
        let inner = if let Ok(k) = rsa::RsaPublicKey::from_public_key_pem(pem) {
            PubInner::Rsa(k)
        } else if let Ok(k) = p256::PublicKey::from_public_key_pem(pem) {
            PubInner::P256(k.into())
        } else if let Ok(k) = p384::PublicKey::from_public_key_pem(pem) {
            PubInner::P384(k.into())
        } else if let Ok(k) = p521::PublicKey::from_public_key_pem(pem) {
            PubInner::P521(p521::ecdsa::VerifyingKey::from_affine(*k.as_affine()).map_err(invalid)?)
        } else if let Ok(k) = ed25519_dalek::VerifyingKey::from_public_key_pem(pem) {
            PubInner::Ed25519(k)
        } else {
            return Err(KeyError::UnknownFormat);
        };
        Self::from_inner(inner)
    }

    /// The `authorized_keys` line (no comment).
    pub fn to_openssh(&self) -> String {
        ssh_key::PublicKey::new(self.blob.clone(), "")
            .to_openssh()
            .expect("encoding a valid public key cannot fail")
    }

    /// `a1:b2:...`: the MD5 of the SSH wire-format public key blob, as Manta
    /// names keys (and as `ssh-keygen -E md5 -l` prints them).
    pub fn md5_fingerprint(&self) -> String {
        let bytes = ssh_key::PublicKey::new(self.blob.clone(), "")
            .to_bytes()
            .expect("encoding a valid public key cannot fail");
        let digest = Md5::digest(&bytes);
        let mut out = String::with_capacity(47);
        for (i, b) in digest.iter().enumerate() {
            if i > 0 {
                out.push(':');
            }
            out.push_str(&format!("{b:02x}"));
        }
        out
    }

    /// A short name of the key type, for messages.
    pub fn kind(&self) -> &'static str {
        match self.inner {
            PubInner::Rsa(_) => "rsa",
            PubInner::P256(_) => "ecdsa-p256",
            PubInner::P384(_) => "ecdsa-p384",
            PubInner::P521(_) => "ecdsa-p521",
            PubInner::Ed25519(_) => "ed25519",
        }
    }

    fn family(&self) -> Family {
        match self.inner {
            PubInner::Rsa(_) => Family::Rsa,
            PubInner::P256(_) | PubInner::P384(_) | PubInner::P521(_) => Family::Ecdsa,
            PubInner::Ed25519(_) => Family::Ed25519,
        }
    }

    /// Verifies `signature` (raw bytes: PKCS#1 v1.5 for RSA, DER for ECDSA,
    /// 64 bytes for Ed25519) over `message`.
    ///
    /// ECDSA: like node's `crypto.createVerify(hash)`, which Manta uses, any
    /// `ecdsa-shaN` is accepted with any curve; the digest is truncated to the
    /// curve's order as FIPS 186-4 says.
    pub fn verify(
        &self,
        alg: Algorithm,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), SignatureError> {
        if alg.family() != self.family() {
            return Err(SignatureError::AlgorithmMismatch {
                alg,
                key: self.kind(),
            });
        }
        match &self.inner {
            PubInner::Rsa(k) => k
                .verify(alg.rsa_padding(), &alg.digest(message), signature)
                .map_err(|_| SignatureError::Mismatch),
            PubInner::P256(k) => {
                let sig = p256::ecdsa::Signature::from_der(signature)
                    .map_err(|_| SignatureError::Malformed)?;
                k.verify_prehash(&alg.digest(message), &sig)
                    .map_err(|_| SignatureError::Mismatch)
            }
            PubInner::P384(k) => {
                let sig = p384::ecdsa::Signature::from_der(signature)
                    .map_err(|_| SignatureError::Malformed)?;
                k.verify_prehash(&alg.digest(message), &sig)
                    .map_err(|_| SignatureError::Mismatch)
            }
            PubInner::P521(k) => {
                let sig = p521::ecdsa::Signature::from_der(signature)
                    .map_err(|_| SignatureError::Malformed)?;
                k.verify_prehash(&alg.digest(message), &sig)
                    .map_err(|_| SignatureError::Mismatch)
            }
            PubInner::Ed25519(k) => {
                let sig = ed25519_dalek::Signature::from_slice(signature)
                    .map_err(|_| SignatureError::Malformed)?;
                k.verify(message, &sig)
                    .map_err(|_| SignatureError::Mismatch)
            }
        }
    }
}

enum PrivInner {
    Rsa(Box<rsa::RsaPrivateKey>),
    P256(p256::ecdsa::SigningKey),
    P384(p384::ecdsa::SigningKey),
    P521(p521::ecdsa::SigningKey),
    Ed25519(Box<ed25519_dalek::SigningKey>),
}

/// A private key that signs requests. `Debug` never prints key material.
pub struct PrivateKey {
    inner: PrivInner,
    public: PublicKey,
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "PrivateKey({} <redacted>)",
            self.public.md5_fingerprint()
        )
    }
}

impl PrivateKey {
    fn from_inner(inner: PrivInner) -> Result<Self, KeyError> {
        let pub_inner = match &inner {
            PrivInner::Rsa(k) => PubInner::Rsa(k.to_public_key()),
            PrivInner::P256(k) => PubInner::P256(*k.verifying_key()),
            PrivInner::P384(k) => PubInner::P384(*k.verifying_key()),
            PrivInner::P521(k) => PubInner::P521(p521::ecdsa::VerifyingKey::from(k)),
            PrivInner::Ed25519(k) => PubInner::Ed25519(k.verifying_key()),
        };
        Ok(PrivateKey {
            public: PublicKey::from_inner(pub_inner)?,
            inner,
        })
    }

    /// Parses an unencrypted private key: OpenSSH (`OPENSSH PRIVATE KEY`),
    /// PKCS#8 (`PRIVATE KEY`), PKCS#1 RSA (`RSA PRIVATE KEY`) or SEC1 EC
    /// (`EC PRIVATE KEY`).
    pub fn from_pem_or_openssh(text: &str) -> Result<Self, KeyError> {
        use pkcs8::DecodePrivateKey;
        use rsa::pkcs1::DecodeRsaPrivateKey;
        let text = text.trim();
        let inner = if text.contains("BEGIN OPENSSH PRIVATE KEY") {
            let key = ssh_key::PrivateKey::from_openssh(text).map_err(invalid)?;
            if key.is_encrypted() {
                return Err(KeyError::Encrypted);
            }
            Self::inner_from_openssh(&key)?
        } else if text.contains("BEGIN RSA PRIVATE KEY") {
            PrivInner::Rsa(Box::new(
                rsa::RsaPrivateKey::from_pkcs1_pem(text).map_err(invalid)?,
            ))
        } else if text.contains("BEGIN EC PRIVATE KEY") {
            if let Ok(k) = p256::SecretKey::from_sec1_pem(text) {
                PrivInner::P256(k.into())
            } else if let Ok(k) = p384::SecretKey::from_sec1_pem(text) {
                PrivInner::P384(k.into())
            } else if let Ok(k) = p521::SecretKey::from_sec1_pem(text) {
                PrivInner::P521(
                    p521::ecdsa::SigningKey::from_bytes(&k.to_bytes()).map_err(invalid)?,
                )
            } else {
                return Err(KeyError::Invalid("unsupported SEC1 EC key".into()));
            }
        } else if text.contains("BEGIN ENCRYPTED PRIVATE KEY") {
            return Err(KeyError::Encrypted);
        } else if text.contains("BEGIN PRIVATE KEY") {
            if let Ok(k) = rsa::RsaPrivateKey::from_pkcs8_pem(text) {
                PrivInner::Rsa(Box::new(k))
            } else if let Ok(k) = p256::SecretKey::from_pkcs8_pem(text) {
                PrivInner::P256(k.into())
            } else if let Ok(k) = p384::SecretKey::from_pkcs8_pem(text) {
                PrivInner::P384(k.into())
            } else if let Ok(k) = p521::SecretKey::from_pkcs8_pem(text) {
                PrivInner::P521(
                    p521::ecdsa::SigningKey::from_bytes(&k.to_bytes()).map_err(invalid)?,
                )
            } else if let Ok(k) = ed25519_dalek::SigningKey::from_pkcs8_pem(text) {
                PrivInner::Ed25519(Box::new(k))
            } else {
                return Err(KeyError::Invalid("unsupported PKCS#8 key".into()));
            }
        } else {
            return Err(KeyError::UnknownFormat);
        };
        Self::from_inner(inner)
    }

    fn inner_from_openssh(key: &ssh_key::PrivateKey) -> Result<PrivInner, KeyError> {
        use ssh_key::private::{EcdsaKeypair, KeypairData};
        Ok(match key.key_data() {
            // Not ssh-key's own `TryFrom`: 0.6.7 passes `p` twice as the primes.
            KeypairData::Rsa(k) => {
                let big = |m: &ssh_key::Mpint| -> Result<rsa::BigUint, KeyError> {
                    rsa::BigUint::try_from(m).map_err(invalid)
                };
                let key = rsa::RsaPrivateKey::from_components(
                    big(&k.public.n)?,
                    big(&k.public.e)?,
                    big(&k.private.d)?,
                    vec![big(&k.private.p)?, big(&k.private.q)?],
                )
                .map_err(invalid)?;
                PrivInner::Rsa(Box::new(key))
            }
            KeypairData::Ecdsa(EcdsaKeypair::NistP256 { private, .. }) => PrivInner::P256(
                p256::ecdsa::SigningKey::from_slice(private.as_slice()).map_err(invalid)?,
            ),
            KeypairData::Ecdsa(EcdsaKeypair::NistP384 { private, .. }) => PrivInner::P384(
                p384::ecdsa::SigningKey::from_slice(private.as_slice()).map_err(invalid)?,
            ),
            KeypairData::Ecdsa(EcdsaKeypair::NistP521 { private, .. }) => {
                let sk = p521::SecretKey::from_slice(private.as_slice()).map_err(invalid)?;
                PrivInner::P521(
                    p521::ecdsa::SigningKey::from_bytes(&sk.to_bytes()).map_err(invalid)?,
                )
            }
            KeypairData::Ed25519(k) => PrivInner::Ed25519(Box::new(k.try_into().map_err(invalid)?)),
            other => {
                return Err(KeyError::Unsupported(
                    other
                        .algorithm()
                        .map(|a| a.to_string())
                        .unwrap_or_else(|_| "unknown".into()),
                ))
            }
        })
    }

    /// A fresh Ed25519 key (fast; what tests and the embedded default use).
    pub fn generate_ed25519() -> Self {
        let k = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
        Self::from_inner(PrivInner::Ed25519(Box::new(k))).expect("ed25519 keys always encode")
    }

    /// A fresh RSA key of `bits` bits (slow: seconds for 2048 bits in a
    /// debug build; tests should prefer Ed25519 or ECDSA).
    pub fn generate_rsa(bits: usize) -> Result<Self, KeyError> {
        let k = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, bits).map_err(invalid)?;
        Self::from_inner(PrivInner::Rsa(Box::new(k)))
    }

    /// A fresh ECDSA key on the curve with `bits` = 256, 384 or 521.
    pub fn generate_ecdsa(bits: u32) -> Result<Self, KeyError> {
        let mut rng = rand::rngs::OsRng;
        let inner = match bits {
            256 => PrivInner::P256(p256::ecdsa::SigningKey::random(&mut rng)),
            384 => PrivInner::P384(p384::ecdsa::SigningKey::random(&mut rng)),
            521 => PrivInner::P521(p521::ecdsa::SigningKey::random(&mut rng)),
            other => return Err(KeyError::Unsupported(format!("ecdsa-{other}"))),
        };
        Self::from_inner(inner)
    }

    /// The key as an unencrypted `OPENSSH PRIVATE KEY` document (LF endings),
    /// readable by [`PrivateKey::from_pem_or_openssh`] and `ssh-keygen`.
    pub fn to_openssh_pem(&self) -> String {
        use ssh_key::private::{EcdsaKeypair, KeypairData, RsaKeypair};
        let data = match &self.inner {
            PrivInner::Rsa(k) => KeypairData::Rsa(
                RsaKeypair::try_from(k.as_ref()).expect("a valid RSA key converts"),
            ),
            PrivInner::P256(k) => KeypairData::Ecdsa(EcdsaKeypair::NistP256 {
                public: k.verifying_key().to_encoded_point(false),
                private: p256::SecretKey::from(k).into(),
            }),
            PrivInner::P384(k) => KeypairData::Ecdsa(EcdsaKeypair::NistP384 {
                public: k.verifying_key().to_encoded_point(false),
                private: p384::SecretKey::from(k).into(),
            }),
            PrivInner::P521(k) => {
                let sk = p521::SecretKey::from_bytes(&k.to_bytes()).expect("valid scalar");
                KeypairData::Ecdsa(EcdsaKeypair::NistP521 {
                    public: p521::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(
                        &sk.public_key(),
                        false,
                    ),
                    private: sk.into(),
                })
            }
            PrivInner::Ed25519(k) => KeypairData::Ed25519(k.as_ref().into()),
        };
        let key = ssh_key::PrivateKey::new(data, "").expect("a valid key encodes");
        key.to_openssh(ssh_key::LineEnding::LF)
            .expect("a valid key encodes")
            .to_string()
    }

    pub fn public_key(&self) -> PublicKey {
        self.public.clone()
    }

    /// `rsa-sha256`, `ecdsa-sha{256,384,512}` by curve, or `ed25519`.
    pub fn default_algorithm(&self) -> Algorithm {
        match self.inner {
            PrivInner::Rsa(_) => Algorithm::RsaSha256,
            PrivInner::P256(_) => Algorithm::EcdsaSha256,
            PrivInner::P384(_) => Algorithm::EcdsaSha384,
            PrivInner::P521(_) => Algorithm::EcdsaSha512,
            PrivInner::Ed25519(_) => Algorithm::Ed25519,
        }
    }

    /// Signs `message`; ECDSA signatures come out DER-encoded.
    pub fn sign(&self, alg: Algorithm, message: &[u8]) -> Result<Vec<u8>, SignatureError> {
        if alg.family() != self.public.family() {
            return Err(SignatureError::AlgorithmMismatch {
                alg,
                key: self.public.kind(),
            });
        }
        let signing = |e: signature::Error| SignatureError::Signing(e.to_string());
        match &self.inner {
            PrivInner::Rsa(k) => k
                .sign_with_rng(
                    &mut rand::rngs::OsRng,
                    alg.rsa_padding(),
                    &alg.digest(message),
                )
                .map_err(|e| SignatureError::Signing(e.to_string())),
            PrivInner::P256(k) => {
                let sig: p256::ecdsa::Signature =
                    k.sign_prehash(&alg.digest(message)).map_err(signing)?;
                Ok(sig.to_der().as_bytes().to_vec())
            }
            PrivInner::P384(k) => {
                let sig: p384::ecdsa::Signature =
                    k.sign_prehash(&alg.digest(message)).map_err(signing)?;
                Ok(sig.to_der().as_bytes().to_vec())
            }
            PrivInner::P521(k) => {
                let sig: p521::ecdsa::Signature =
                    k.sign_prehash(&alg.digest(message)).map_err(signing)?;
                Ok(sig.to_der().as_bytes().to_vec())
            }
            PrivInner::Ed25519(k) => Ok(k.sign(message).to_bytes().to_vec()),
        }
    }
}

/// The `keyId` of a signature: `/login/keys/fp` or `/login/subuser/keys/fp`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyId {
    pub login: String,
    pub subuser: Option<String>,
    pub fingerprint: String,
}

impl FromStr for KeyId {
    type Err = AuthError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || AuthError::InvalidKeyId(s.to_owned());
        let rest = s.strip_prefix('/').ok_or_else(bad)?;
        let parts: Vec<&str> = rest.split('/').collect();
        if parts.iter().any(|p| p.is_empty()) {
            return Err(bad());
        }
        match parts.as_slice() {
            [login, "keys", fp] => Ok(KeyId {
                login: (*login).to_owned(),
                subuser: None,
                fingerprint: (*fp).to_owned(),
            }),
            [login, sub, "keys", fp] => Ok(KeyId {
                login: (*login).to_owned(),
                subuser: Some((*sub).to_owned()),
                fingerprint: (*fp).to_owned(),
            }),
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.subuser {
            Some(sub) => write!(f, "/{}/{}/keys/{}", self.login, sub, self.fingerprint),
            None => write!(f, "/{}/keys/{}", self.login, self.fingerprint),
        }
    }
}

/// Signs native requests as one key. `Send + Sync`: share it through an `Arc`.
pub struct Signer {
    key_id: KeyId,
    key: PrivateKey,
    alg: Algorithm,
    /// The last `(date, Authorization)` of [`Signer::sign_date`]: the `Date`
    /// string changes once a second, so most requests reuse it.
    date_cache: Mutex<Option<(String, String)>>,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("key_id", &self.key_id.to_string())
            .field("algorithm", &self.alg)
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// A signer using the key's [`PrivateKey::default_algorithm`].
    pub fn new(key_id: KeyId, key: PrivateKey) -> Self {
        let alg = key.default_algorithm();
        Self::with_algorithm(key_id, key, alg)
    }

    /// A signer using `alg` (which must fit the key type).
    pub fn with_algorithm(key_id: KeyId, key: PrivateKey, alg: Algorithm) -> Self {
        Signer {
            key_id,
            key,
            alg,
            date_cache: Mutex::new(None),
        }
    }

    pub fn key_id(&self) -> &KeyId {
        &self.key_id
    }

    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    pub fn private_key(&self) -> &PrivateKey {
        &self.key
    }

    fn header_value(&self, headers: &str, signing: &str) -> String {
        let sig = self
            .key
            .sign(self.alg, signing.as_bytes())
            .expect("the algorithm was chosen to fit the key");
        format!(
            "Signature keyId=\"{}\",algorithm=\"{}\",headers=\"{}\",signature=\"{}\"",
            self.key_id,
            self.alg,
            headers,
            B64.encode(sig)
        )
    }

    /// Authorization value signing only `date: <date>` (headers="date").
    pub fn sign_date(&self, date: &str) -> String {
        let mut cache = self.date_cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((d, v)) = cache.as_ref() {
            if d == date {
                return v.clone();
            }
        }
        let value = self.header_value("date", &format!("date: {date}"));
        *cache = Some((date.to_owned(), value.clone()));
        value
    }

    /// Authorization over the listed `(name, value)` headers in order;
    /// `("(request-target)", _)` stands for the request line (its value is
    /// ignored and computed from `method` and `path_and_query`).
    pub fn sign_headers(
        &self,
        method: &str,
        path_and_query: &str,
        headers: &[(&str, &str)],
    ) -> String {
        let names: Vec<String> = headers
            .iter()
            .map(|(n, _)| n.to_ascii_lowercase())
            .collect();
        let signing = signing_string(&names, method, path_and_query, |name| {
            headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| (*v).to_owned())
        })
        .expect("every listed header has a value");
        self.header_value(&names.join(" "), &signing)
    }
}

/// A parsed `Authorization: Signature ...` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureHeader {
    pub key_id: KeyId,
    pub algorithm: Algorithm,
    /// Lowercase signed header names, in order; `["date"]` when absent.
    pub headers: Vec<String>,
    pub signature: Vec<u8>,
}

/// Parses `Signature keyId="..",algorithm="..",headers="..",signature=".."`.
///
/// Parameter order is free and unknown parameters are ignored, as in node's
/// http-signature parser; `keyId`, `algorithm` and `signature` are required.
pub fn parse_authorization(value: &str) -> Result<SignatureHeader, AuthError> {
    let value = value.trim();
    let (scheme, params) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("Signature") {
        return Err(AuthError::SchemeNotAllowed);
    }
    let malformed = |m: &str| AuthError::Malformed(m.to_owned());
    let mut key_id = None;
    let mut algorithm = None;
    let mut headers = None;
    let mut signature = None;
    let mut rest = params.trim_start();
    while !rest.is_empty() {
        let (name, after) = rest
            .split_once('=')
            .ok_or_else(|| malformed("parameter without '='"))?;
        let after = after
            .strip_prefix('"')
            .ok_or_else(|| malformed("unquoted parameter value"))?;
        let (val, after) = after
            .split_once('"')
            .ok_or_else(|| malformed("unterminated parameter value"))?;
        match name.trim() {
            "keyId" => key_id = Some(val),
            "algorithm" => algorithm = Some(val),
            "headers" => headers = Some(val),
            "signature" => signature = Some(val),
            _ => {}
        }
        let after = after.trim_start();
        rest = match after.strip_prefix(',') {
            Some(r) => r.trim_start(),
            None if after.is_empty() => after,
            None => return Err(malformed("expected ',' between parameters")),
        };
    }
    let key_id: KeyId = key_id.ok_or_else(|| malformed("keyId missing"))?.parse()?;
    let algorithm: Algorithm = algorithm
        .ok_or_else(|| malformed("algorithm missing"))?
        .parse()?;
    let headers = match headers {
        Some(h) => h
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(|s| s.to_ascii_lowercase())
            .collect(),
        None => vec!["date".to_owned()],
    };
    let signature = B64
        .decode(signature.ok_or_else(|| malformed("signature missing"))?)
        .map_err(|_| malformed("signature is not base64"))?;
    Ok(SignatureHeader {
        key_id,
        algorithm,
        headers,
        signature,
    })
}

/// The signing string per the contract: `"<name>: <value>"` per listed header
/// joined by `\n`; `(request-target)` is `"(request-target): <lowercase
/// method> <path+query>"`. `get` returns a request header's value by
/// lowercase name.
pub fn signing_string(
    headers: &[String],
    method: &str,
    path_and_query: &str,
    get: impl Fn(&str) -> Option<String>,
) -> Result<String, AuthError> {
    let mut out = String::with_capacity(64 * headers.len().max(1));
    for (i, name) in headers.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let name = name.to_ascii_lowercase();
        if name == "(request-target)" {
            out.push_str("(request-target): ");
            out.push_str(&method.to_ascii_lowercase());
            out.push(' ');
            out.push_str(path_and_query);
        } else {
            let value = get(&name).ok_or_else(|| AuthError::MissingHeader(name.clone()))?;
            out.push_str(&name);
            out.push_str(": ");
            out.push_str(&value);
        }
    }
    Ok(out)
}

/// RFC 7231 IMF-fixdate, e.g. `Sun, 22 Nov 2026 10:00:00 GMT`.
pub fn http_date(t: SystemTime) -> String {
    httpdate::fmt_http_date(t)
}

#[cfg(test)]
mod tests;
