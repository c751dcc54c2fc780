//! HTTP Signature authentication and the account/operators authorization
//! rule (buckets-api.md "Authentication").
//!
//! Order of checks, each with its own wire code: header present (401
//! `AuthorizationRequired`), scheme (403 `AuthorizationSchemeNotAllowed`),
//! parameters and `keyId` shape (403 `InvalidSignature` / `InvalidKeyId`),
//! `date` signed, present, parseable and within the clock-skew window (400
//! `InvalidHeader`), account known (403 `AccountDoesNotExist`), not blocked
//! (403 `AccountBlocked`), key known (403 `KeyDoesNotExist`), signature (403
//! `InvalidSignature`), then the path's account (403 `AuthorizationFailed`).

use std::time::{Duration, SystemTime};

use actix_web::HttpRequest;
use s3gw_httpsig::{parse_authorization, signing_string, Algorithm, AuthError};

use crate::config::{Accounts, Extensions, Limits};
use crate::error::ApiError;

/// Who signed a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub login: String,
    pub subuser: Option<String>,
    pub operator: bool,
    /// A sub-user an RBAC rule grants its account's buckets.
    pub granted: bool,
}

fn header_value(req: &HttpRequest, name: &str) -> Option<String> {
    let mut values = req.headers().get_all(name).peekable();
    values.peek()?;
    let parts: Vec<&str> = values.filter_map(|v| v.to_str().ok()).collect();
    Some(parts.join(", "))
}

fn auth_error(e: AuthError) -> ApiError {
    let msg = e.to_string();
    match e {
        AuthError::SchemeNotAllowed => ApiError::AuthorizationSchemeNotAllowed(msg),
        AuthError::InvalidKeyId(_) => ApiError::InvalidKeyId(msg),
        AuthError::Malformed(_) | AuthError::UnknownAlgorithm(_) => ApiError::InvalidSignature(msg),
        AuthError::MissingHeader(_) => ApiError::InvalidHeader(msg),
    }
}

/// Verifies the request's signature and returns the caller.
pub fn authenticate(
    req: &HttpRequest,
    accounts: &Accounts,
    limits: &Limits,
    extensions: &Extensions,
) -> Result<Caller, ApiError> {
    let value = req
        .headers()
        .get("authorization")
        .ok_or_else(|| ApiError::AuthorizationRequired("Authorization header required".into()))?
        .to_str()
        .map_err(|_| ApiError::InvalidSignature("Authorization header is not ASCII".into()))?;
    let sig = parse_authorization(value).map_err(auth_error)?;
    // The real verifier (http-signature 1.1.0) knows the hashes sha1,
    // sha256 and sha512 and the key types rsa, dsa and ecdsa; anything else
    // fails while parsing the header, before any key is looked up.
    match sig.algorithm {
        Algorithm::EcdsaSha384 => {
            return Err(ApiError::InvalidHeader(
                "SHA384 is not a supported hash algorithm".into(),
            ))
        }
        Algorithm::Ed25519 if !extensions.ed25519_signatures => {
            return Err(ApiError::InvalidHeader(
                "ED25519 type keys are not supported".into(),
            ))
        }
        _ => {}
    }

    if !sig.headers.iter().any(|h| h == "date") {
        return Err(ApiError::InvalidHeader(
            "the date header must be signed".into(),
        ));
    }
    let date = header_value(req, "date")
        .ok_or_else(|| ApiError::InvalidHeader("Date header required".into()))?;
    let when = httpdate::parse_http_date(&date)
        .map_err(|_| ApiError::InvalidHeader(format!("invalid Date header {date:?}")))?;
    let now = SystemTime::now();
    let skew = now
        .duration_since(when)
        .or_else(|_| when.duration_since(now))
        .unwrap_or(Duration::MAX);
    if skew > limits.clock_skew {
        return Err(ApiError::InvalidHeader(
            "Date header is too far from the server clock".into(),
        ));
    }

    let key_id = &sig.key_id;
    let account = accounts
        .by_login
        .get(&key_id.login)
        .ok_or_else(|| ApiError::AccountDoesNotExist(format!("{} does not exist", key_id.login)))?;
    if account.blocked {
        return Err(ApiError::AccountBlocked(format!(
            "{} is blocked",
            key_id.login
        )));
    }
    let identity = match &key_id.subuser {
        None => &account.own,
        Some(sub) => account.subusers.get(sub).ok_or_else(|| {
            ApiError::AccountDoesNotExist(format!("{}/{sub} does not exist", key_id.login))
        })?,
    };
    let key = identity
        .keys
        .get(&key_id.fingerprint)
        .ok_or_else(|| ApiError::KeyDoesNotExist(format!("{key_id} does not exist")))?;

    let path_and_query = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let signing = signing_string(&sig.headers, req.method().as_str(), path_and_query, |h| {
        header_value(req, h)
    })
    .map_err(auth_error)?;
    key.verify(sig.algorithm, signing.as_bytes(), &sig.signature)
        .map_err(|_| ApiError::InvalidSignature("the signature does not verify".into()))?;

    Ok(Caller {
        login: key_id.login.clone(),
        subuser: key_id.subuser.clone(),
        operator: account.operator,
        granted: identity.granted,
    })
}

/// node-mahi's rule: an operator ACCOUNT may act on any `/:account/...`; an
/// account on its own; a sub-user (of any account, operators' included)
/// only on its own account and only when an RBAC rule grants it.
pub fn authorize(caller: &Caller, account: &str) -> Result<(), ApiError> {
    let allowed = match &caller.subuser {
        None => caller.operator || caller.login == account,
        Some(_) => caller.granted && caller.login == account,
    };
    if allowed {
        Ok(())
    } else {
        Err(ApiError::AuthorizationFailed(format!(
            "{} is not allowed to access {account}",
            caller.login
        )))
    }
}
