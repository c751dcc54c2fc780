//! Browser POST uploads (PostObject): the form fields that precede the
//! file, the POST policy document and its conditions, and the form's
//! signature (SigV4: `x-amz-signature` over the base64 policy with the
//! derived signing key; SigV2: `signature`, base64 HMAC-SHA1 of the base64
//! policy).
//!
//! Pure: parsing and checking only. The handler (handlers/post.rs) reads
//! the form, looks the key up and streams the file.
//!
//! References: the API reference's "POST Policy"
//! (sigv4-HTTPPOSTConstructPolicy) and "Browser-Based Uploads Using POST"
//! (RESTObjectPOST, HTTPPOSTForms for SigV2).

use std::fmt;
use std::time::SystemTime;

use base64::Engine;
use serde_json::Value;

use crate::auth::sigv4::{self, AmzDate, CredentialScope};
use crate::auth::{sigv2, AuthConfig};
use crate::error::{S3Error, S3ErrorCode};

/// S3 limits what precedes the file in the form ("Your POST request
/// fields preceding the upload file were too large"): names and values
/// together, 20 KiB.
pub const MAX_FORM_FIELDS_BYTES: usize = 20 << 10;

/// Form fields that need no policy condition: the signature fields, the
/// policy itself, the file and `x-ignore-*` ("Each form field that you
/// specify in a form (except x-amz-signature, file, policy, and field
/// names that have an x-ignore- prefix) must appear in the list of
/// conditions"; SigV2 forms exempt `AWSAccessKeyId` and `signature`).
pub fn exempt(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    matches!(
        n.as_str(),
        "x-amz-signature" | "file" | "policy" | "awsaccesskeyid" | "signature"
    ) || n.starts_with("x-ignore-")
}

// ---------------------------------------------------------------- fields

/// The form fields that preceded the file, in order. Names compare
/// case-insensitively (S3 treats `Content-Type` and `content-type` as
/// the same field); each name may appear once.
#[derive(Debug, Default, Clone)]
pub struct FormFields {
    fields: Vec<(String, String)>,
    bytes: usize,
}

impl FormFields {
    /// Adds a field. A repeated name is refused: a condition checked on one
    /// copy while the other is used would let a form escape its policy.
    pub fn push(&mut self, name: &str, value: String) -> Result<(), S3Error> {
        if self.get(name).is_some() {
            return Err(S3Error::with_message(
                S3ErrorCode::InvalidArgument,
                format!("POST form field {name} appears more than once."),
            )
            .extra("ArgumentName", name.to_owned()));
        }
        self.add_bytes(name.len() + value.len())?;
        self.fields.push((name.to_owned(), value));
        Ok(())
    }

    /// Counts `n` more bytes against [`MAX_FORM_FIELDS_BYTES`].
    pub fn add_bytes(&mut self, n: usize) -> Result<(), S3Error> {
        self.bytes += n;
        if self.bytes > MAX_FORM_FIELDS_BYTES {
            return Err(S3Error::new(S3ErrorCode::MaxPostPreDataLengthExceededError));
        }
        Ok(())
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Replaces a field's value (the key after `${filename}`).
    pub fn set(&mut self, name: &str, value: String) {
        match self
            .fields
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            Some((_, v)) => *v = value,
            None => self.fields.push((name.to_owned(), value)),
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }
}

// ---------------------------------------------------------------- policy

/// One condition of a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// `{"field": "value"}` or `["eq", "$field", "value"]`.
    Eq { field: String, value: String },
    /// `["starts-with", "$field", "prefix"]` (an empty prefix: any value).
    StartsWith { field: String, prefix: String },
    /// `["content-length-range", min, max]`.
    ContentLengthRange { min: u64, max: u64 },
}

impl fmt::Display for Condition {
    /// As S3 quotes it in "Policy Condition failed: [...]".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
        match self {
            Condition::Eq { field, value } => {
                write!(f, "[\"eq\", {}, {}]", q(&format!("${field}")), q(value))
            }
            Condition::StartsWith { field, prefix } => write!(
                f,
                "[\"starts-with\", {}, {}]",
                q(&format!("${field}")),
                q(prefix)
            ),
            Condition::ContentLengthRange { min, max } => {
                write!(f, "[\"content-length-range\", {min}, {max}]")
            }
        }
    }
}

impl Condition {
    /// The form field the condition is about (lower case).
    fn field(&self) -> Option<&str> {
        match self {
            Condition::Eq { field, .. } | Condition::StartsWith { field, .. } => Some(field),
            Condition::ContentLengthRange { .. } => None,
        }
    }

    /// Whether `value` (absent: empty) satisfies the condition.
    fn holds(&self, value: &str) -> bool {
        match self {
            Condition::Eq { value: want, .. } => value == want,
            // Content-Type may list several types, each of which must
            // start with the prefix.
            Condition::StartsWith { field, prefix } if field == "content-type" => value
                .split(',')
                .all(|v| v.trim_start().starts_with(prefix.as_str())),
            Condition::StartsWith { prefix, .. } => value.starts_with(prefix.as_str()),
            Condition::ContentLengthRange { .. } => true,
        }
    }
}

/// A decoded POST policy.
#[derive(Debug, Clone)]
pub struct Policy {
    pub expiration: SystemTime,
    pub conditions: Vec<Condition>,
}

fn invalid_policy(msg: &str) -> S3Error {
    S3Error::with_message(
        S3ErrorCode::InvalidPolicyDocument,
        format!("Invalid Policy: {msg}"),
    )
}

fn denied(msg: impl fmt::Display) -> S3Error {
    S3Error::with_message(
        S3ErrorCode::AccessDenied,
        format!("Invalid according to Policy: {msg}"),
    )
}

/// A condition's field name: `$name`, compared in lower case.
fn field_name(v: &Value) -> Result<String, S3Error> {
    v.as_str()
        .and_then(|s| s.strip_prefix('$'))
        .filter(|s| !s.is_empty())
        .map(str::to_ascii_lowercase)
        .ok_or_else(|| invalid_policy("Invalid Condition: field names must start with '$'."))
}

/// A length in `content-length-range`: a JSON number or a numeric string.
fn length(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

impl Policy {
    /// Decodes the `policy` form field: base64 of a JSON document with
    /// `expiration` (ISO 8601, UTC) and `conditions`.
    pub fn parse(b64: &str) -> Result<Policy, S3Error> {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b64.trim().as_bytes())
            .map_err(|_| invalid_policy("Invalid Base64 encoding."))?;
        let doc: Value =
            serde_json::from_slice(&raw).map_err(|_| invalid_policy("Invalid JSON."))?;
        let obj = doc
            .as_object()
            .ok_or_else(|| invalid_policy("Invalid JSON."))?;
        for k in obj.keys() {
            if k != "expiration" && k != "conditions" {
                return Err(invalid_policy(&format!("Unexpected field {k}.")));
            }
        }
        let expiration = obj
            .get("expiration")
            .ok_or_else(|| invalid_policy("Policy missing expiration."))?
            .as_str()
            .and_then(|s| {
                time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
            })
            .ok_or_else(|| invalid_policy("Invalid 'expiration' value."))?;
        let list = obj
            .get("conditions")
            .ok_or_else(|| invalid_policy("Policy missing conditions."))?
            .as_array()
            .ok_or_else(|| invalid_policy("Invalid 'conditions' value."))?;
        let mut conditions = Vec::with_capacity(list.len());
        for c in list {
            match c {
                Value::Object(m) => {
                    for (k, v) in m {
                        let value = v.as_str().ok_or_else(|| {
                            invalid_policy("Invalid Condition: values must be strings.")
                        })?;
                        conditions.push(Condition::Eq {
                            field: k.to_ascii_lowercase(),
                            value: value.to_owned(),
                        });
                    }
                }
                Value::Array(a) if a.len() == 3 => {
                    let op = a[0].as_str().unwrap_or("").to_ascii_lowercase();
                    conditions.push(match op.as_str() {
                        "eq" | "starts-with" => {
                            let field = field_name(&a[1])?;
                            let value = a[2]
                                .as_str()
                                .ok_or_else(|| {
                                    invalid_policy("Invalid Condition: values must be strings.")
                                })?
                                .to_owned();
                            if op == "eq" {
                                Condition::Eq { field, value }
                            } else {
                                Condition::StartsWith {
                                    field,
                                    prefix: value,
                                }
                            }
                        }
                        "content-length-range" => {
                            let (min, max) = length(&a[1]).zip(length(&a[2])).ok_or_else(|| {
                                invalid_policy(
                                    "Invalid Condition: content-length-range takes two \
                                     non-negative integers.",
                                )
                            })?;
                            if min > max {
                                return Err(invalid_policy(
                                    "Invalid Condition: content-length-range minimum exceeds \
                                     its maximum.",
                                ));
                            }
                            Condition::ContentLengthRange { min, max }
                        }
                        _ => {
                            return Err(invalid_policy(&format!(
                                "Invalid Condition: unknown operation {:?}.",
                                a[0].as_str().unwrap_or("")
                            )))
                        }
                    });
                }
                _ => return Err(invalid_policy("Invalid Condition.")),
            }
        }
        Ok(Policy {
            expiration: expiration.into(),
            conditions,
        })
    }

    /// Checks the form against the policy: not expired, every condition
    /// holds (`bucket` is the addressed bucket), every field that is not
    /// exempt is named by a condition. Gives the `content-length-range`
    /// (the tightest when several are given).
    pub fn check(
        &self,
        fields: &FormFields,
        bucket: &str,
        now: SystemTime,
    ) -> Result<Option<(u64, u64)>, S3Error> {
        if now > self.expiration {
            return Err(denied("Policy expired."));
        }
        let mut range: Option<(u64, u64)> = None;
        for c in &self.conditions {
            if let Condition::ContentLengthRange { min, max } = c {
                range = Some(match range {
                    Some((a, b)) => (a.max(*min), b.min(*max)),
                    None => (*min, *max),
                });
                continue;
            }
            let field = c.field().unwrap_or("");
            let value = if field == "bucket" {
                bucket
            } else {
                fields.get(field).unwrap_or("")
            };
            if !c.holds(value) {
                return Err(denied(format_args!("Policy Condition failed: {c}")));
            }
        }
        let uncovered: Vec<&str> = fields
            .iter()
            .map(|(n, _)| n)
            .filter(|n| !exempt(n))
            .filter(|n| {
                !self
                    .conditions
                    .iter()
                    .any(|c| c.field().is_some_and(|f| f.eq_ignore_ascii_case(n)))
            })
            .collect();
        if !uncovered.is_empty() {
            return Err(denied(format_args!(
                "Extra input fields: {}",
                uncovered.join(", ")
            )));
        }
        Ok(range)
    }
}

// ---------------------------------------------------------------- signature

/// Who signed a form, as the form claims it (checked with the key's
/// secret by [`FormSignature::verify`]).
#[derive(Debug, Clone)]
pub enum FormSignature {
    /// `x-amz-algorithm`, `x-amz-credential`, `x-amz-date`,
    /// `x-amz-signature`.
    V4 {
        scope: CredentialScope,
        signature: [u8; 32],
    },
    /// `AWSAccessKeyId`, `signature`.
    V2 {
        access_key_id: String,
        signature: Vec<u8>,
    },
}

fn missing(name: &str) -> S3Error {
    S3Error::with_message(
        S3ErrorCode::InvalidArgument,
        format!(
            "Bucket POST must contain a field named '{name}'.  If it is specified, please check \
             the order of the fields."
        ),
    )
    .extra("ArgumentName", name.to_owned())
    .extra("ArgumentValue", "")
}

impl FormSignature {
    /// The form's signature claim; `None` for an anonymous form (no
    /// signature field at all).
    pub fn parse(fields: &FormFields, cfg: &AuthConfig) -> Result<Option<FormSignature>, S3Error> {
        let v4 = ["x-amz-algorithm", "x-amz-credential", "x-amz-signature"]
            .iter()
            .any(|n| fields.get(n).is_some());
        let v2 = fields.get("AWSAccessKeyId").is_some() || fields.get("signature").is_some();
        if !v4 && !v2 {
            return Ok(None);
        }
        if fields.get("policy").is_none() {
            return Err(missing("policy"));
        }
        if v4 {
            let get = |n: &str| fields.get(n).ok_or_else(|| missing(n));
            let algorithm = get("x-amz-algorithm")?;
            if algorithm != sigv4::ALGORITHM {
                return Err(S3Error::with_message(
                    S3ErrorCode::InvalidArgument,
                    "Only AWS4-HMAC-SHA256 is supported as x-amz-algorithm.",
                )
                .extra("ArgumentName", "x-amz-algorithm")
                .extra("ArgumentValue", algorithm.to_owned()));
            }
            let credential = get("x-amz-credential")?;
            let bad = |name: &'static str, value: &str, msg: String| {
                S3Error::with_message(S3ErrorCode::InvalidArgument, msg)
                    .extra("ArgumentName", name)
                    .extra("ArgumentValue", value.to_owned())
            };
            let scope = CredentialScope::parse(credential).ok_or_else(|| {
                bad(
                    "x-amz-credential",
                    credential,
                    "Error parsing the X-Amz-Credential parameter; the Credential is mal-formed; \
                     expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\"."
                        .into(),
                )
            })?;
            let date_s = get("x-amz-date")?;
            let date = AmzDate::parse(date_s).ok_or_else(|| {
                bad(
                    "x-amz-date",
                    date_s,
                    "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"".into(),
                )
            })?;
            crate::auth::check_scope(&scope, &date, cfg)
                .map_err(|m| bad("x-amz-credential", credential, m))?;
            let sig = get("x-amz-signature")?;
            // A signature that is not 64 hex digits cannot match.
            let signature = sigv4::parse_hex32(sig)
                .ok_or_else(|| S3Error::new(S3ErrorCode::SignatureDoesNotMatch))?;
            return Ok(Some(FormSignature::V4 { scope, signature }));
        }
        if !cfg.sigv2_enabled {
            return Err(crate::auth::not_supported());
        }
        let access_key_id = fields
            .get("AWSAccessKeyId")
            .ok_or_else(|| missing("AWSAccessKeyId"))?
            .to_owned();
        let signature = base64::engine::general_purpose::STANDARD
            .decode(
                fields
                    .get("signature")
                    .ok_or_else(|| missing("signature"))?,
            )
            .unwrap_or_default();
        Ok(Some(FormSignature::V2 {
            access_key_id,
            signature,
        }))
    }

    pub fn access_key_id(&self) -> &str {
        match self {
            FormSignature::V4 { scope, .. } => &scope.access_key_id,
            FormSignature::V2 { access_key_id, .. } => access_key_id,
        }
    }

    /// Checks the signature of the base64 `policy` field (the string to
    /// sign is the field exactly as sent) with the key's secret.
    pub fn verify(&self, policy_b64: &str, secret: &[u8]) -> Result<(), S3Error> {
        let ok = match self {
            FormSignature::V4 { scope, signature } => {
                let (key, cached) =
                    sigv4::signing_key(&scope.access_key_id, secret, &scope.date, &scope.region);
                let ok = key.verify(policy_b64, signature);
                if ok && !cached {
                    sigv4::remember_signing_key(
                        &scope.access_key_id,
                        secret,
                        &scope.date,
                        &scope.region,
                        &key,
                    );
                }
                ok
            }
            FormSignature::V2 { signature, .. } => sigv2::verify(secret, policy_b64, signature),
        };
        if ok {
            Ok(())
        } else {
            Err(S3Error::new(S3ErrorCode::SignatureDoesNotMatch))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    fn form(pairs: &[(&str, &str)]) -> FormFields {
        let mut f = FormFields::default();
        for (n, v) in pairs {
            f.push(n, (*v).to_owned()).unwrap();
        }
        f
    }

    const FUTURE: &str = "2099-01-01T00:00:00.000Z";

    fn policy(conditions: &str) -> Policy {
        Policy::parse(&b64(&format!(
            r#"{{"expiration":"{FUTURE}","conditions":{conditions}}}"#
        )))
        .unwrap()
    }

    #[test]
    fn parses_every_condition_form() {
        let p = policy(
            r#"[{"bucket":"b"},["starts-with","$key","user/"],["eq","$Content-Type","text/plain"],
                ["content-length-range",1,"10"],{"x-amz-meta-a":"1"}]"#,
        );
        assert_eq!(
            p.conditions,
            vec![
                Condition::Eq {
                    field: "bucket".into(),
                    value: "b".into()
                },
                Condition::StartsWith {
                    field: "key".into(),
                    prefix: "user/".into()
                },
                Condition::Eq {
                    field: "content-type".into(),
                    value: "text/plain".into()
                },
                Condition::ContentLengthRange { min: 1, max: 10 },
                Condition::Eq {
                    field: "x-amz-meta-a".into(),
                    value: "1".into()
                },
            ]
        );
    }

    #[test]
    fn malformed_policies_are_invalid_policy_documents() {
        for doc in [
            "not base64!".to_owned(),
            b64("{not json"),
            b64(r#"{"conditions":[]}"#),
            b64(&format!(r#"{{"expiration":"{FUTURE}"}}"#)),
            b64(r#"{"expiration":"tomorrow","conditions":[]}"#),
            b64(&format!(
                r#"{{"expiration":"{FUTURE}","conditions":[["matches","$key","x"]]}}"#
            )),
            b64(&format!(
                r#"{{"expiration":"{FUTURE}","conditions":[["eq","key","x"]]}}"#
            )),
            b64(&format!(
                r#"{{"expiration":"{FUTURE}","conditions":[["content-length-range",5,1]]}}"#
            )),
            b64(&format!(
                r#"{{"expiration":"{FUTURE}","conditions":[],"extra":1}}"#
            )),
        ] {
            let e = Policy::parse(&doc).unwrap_err();
            assert_eq!(e.code, S3ErrorCode::InvalidPolicyDocument, "{doc}");
        }
    }

    #[test]
    fn expired_policy_is_access_denied() {
        let p = Policy::parse(&b64(
            r#"{"expiration":"2020-01-01T00:00:00Z","conditions":[]}"#,
        ))
        .unwrap();
        let e = p.check(&form(&[]), "b", SystemTime::now()).unwrap_err();
        assert_eq!(e.code, S3ErrorCode::AccessDenied);
        assert_eq!(e.message, "Invalid according to Policy: Policy expired.");
    }

    #[test]
    fn conditions_are_enforced_with_s3_messages() {
        let p = policy(r#"[{"bucket":"b"},["starts-with","$key","user/"]]"#);
        let now = SystemTime::now();
        assert_eq!(
            p.check(&form(&[("key", "user/x")]), "b", now).unwrap(),
            None
        );
        let e = p.check(&form(&[("key", "other")]), "b", now).unwrap_err();
        assert_eq!(
            e.message,
            r#"Invalid according to Policy: Policy Condition failed: ["starts-with", "$key", "user/"]"#
        );
        let e = p.check(&form(&[("key", "user/x")]), "c", now).unwrap_err();
        assert_eq!(
            e.message,
            r#"Invalid according to Policy: Policy Condition failed: ["eq", "$bucket", "b"]"#
        );
        let e = p
            .check(&form(&[("key", "user/x"), ("x-amz-meta-z", "1")]), "b", now)
            .unwrap_err();
        assert_eq!(
            e.message,
            "Invalid according to Policy: Extra input fields: x-amz-meta-z"
        );
        // Exempt fields need no condition; names are case-insensitive.
        let p = policy(r#"[["starts-with","$Key",""],["starts-with","$content-type","image/"]]"#);
        let f = form(&[
            ("KEY", "a"),
            ("Content-Type", "image/png, image/jpeg"),
            ("policy", "x"),
            ("x-amz-signature", "x"),
            ("AWSAccessKeyId", "x"),
            ("signature", "x"),
            ("x-ignore-me", "x"),
        ]);
        p.check(&f, "b", now).unwrap();
        let f = form(&[("key", "a"), ("Content-Type", "image/png, text/html")]);
        assert!(p.check(&f, "b", now).is_err());
    }

    #[test]
    fn the_tightest_length_range_wins() {
        let p = policy(r#"[["content-length-range",0,100],["content-length-range",10,1000]]"#);
        let r = p.check(&form(&[]), "b", SystemTime::now()).unwrap();
        assert_eq!(r, Some((10, 100)));
    }

    #[test]
    fn fields_are_bounded_and_unique() {
        let mut f = FormFields::default();
        f.push("key", "a".into()).unwrap();
        assert_eq!(
            f.push("Key", "b".into()).unwrap_err().code,
            S3ErrorCode::InvalidArgument
        );
        let e = f
            .push("x-amz-meta-big", "v".repeat(MAX_FORM_FIELDS_BYTES))
            .unwrap_err();
        assert_eq!(e.code, S3ErrorCode::MaxPostPreDataLengthExceededError);
    }

    #[test]
    fn v4_signature_is_hmac_of_the_base64_policy() {
        let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
        let policy_b64 = b64(r#"{"expiration":"2099-01-01T00:00:00Z","conditions":[]}"#);
        let key = sigv4::derive_signing_key(secret.as_bytes(), "20260101", "us-east-1", "s3");
        let sig = hex::encode(key.sign(&policy_b64));
        let f = form(&[
            ("x-amz-algorithm", "AWS4-HMAC-SHA256"),
            (
                "x-amz-credential",
                "AKIAIOSFODNN7EXAMPLE/20260101/us-east-1/s3/aws4_request",
            ),
            ("x-amz-date", "20260101T000000Z"),
            ("x-amz-signature", &sig),
            ("policy", &policy_b64),
        ]);
        let s = FormSignature::parse(&f, &AuthConfig::default())
            .unwrap()
            .unwrap();
        assert_eq!(s.access_key_id(), "AKIAIOSFODNN7EXAMPLE");
        s.verify(&policy_b64, secret.as_bytes()).unwrap();
        let e = s.verify(&policy_b64, b"other secret").unwrap_err();
        assert_eq!(e.code, S3ErrorCode::SignatureDoesNotMatch);
        // A credential dated otherwise than x-amz-date is refused.
        let mut f2 = f.clone();
        f2.set("x-amz-date", "20260102T000000Z".into());
        assert_eq!(
            FormSignature::parse(&f2, &AuthConfig::default())
                .unwrap_err()
                .code,
            S3ErrorCode::InvalidArgument
        );
    }

    #[test]
    fn v2_signature_is_base64_hmac_sha1_of_the_base64_policy() {
        use hmac::{Hmac, Mac};
        let secret = b"secret";
        let policy_b64 = b64(r#"{"expiration":"2099-01-01T00:00:00Z","conditions":[]}"#);
        let mut mac = Hmac::<sha1::Sha1>::new_from_slice(secret).unwrap();
        mac.update(policy_b64.as_bytes());
        let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        let f = form(&[
            ("AWSAccessKeyId", "AKID"),
            ("signature", &sig),
            ("policy", &policy_b64),
        ]);
        let cfg = AuthConfig {
            sigv2_enabled: true,
            ..AuthConfig::default()
        };
        let s = FormSignature::parse(&f, &cfg).unwrap().unwrap();
        s.verify(&policy_b64, secret).unwrap();
        assert!(s.verify(&policy_b64, b"nope").is_err());
        // A signed form without its policy is refused by name.
        let f = form(&[("AWSAccessKeyId", "AKID"), ("signature", &sig)]);
        let e = FormSignature::parse(&f, &cfg).unwrap_err();
        assert_eq!(e.code, S3ErrorCode::InvalidArgument);
        // No signature field at all: anonymous.
        assert!(FormSignature::parse(&form(&[("key", "k")]), &cfg)
            .unwrap()
            .is_none());
    }

    #[test]
    fn expiration_is_compared_with_now() {
        let p = policy("[]");
        let later = SystemTime::UNIX_EPOCH + Duration::from_secs(5_000_000_000);
        assert!(p.check(&form(&[]), "b", later).is_err());
    }
}
