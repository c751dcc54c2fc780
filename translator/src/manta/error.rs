//! Native failures and the ONE function that maps them to S3 errors
//! (style.md: versitygw's one mapping function per foreign store, without
//! its pass-through of unknown codes).

use crate::backend::{BackendError, BodyError};

/// Everything that can go wrong talking to the store, before it is given an
/// S3 meaning by [`map_native`].
#[derive(Debug, thiserror::Error)]
pub enum NativeFailure {
    /// The store answered with an error status (and, normally, a JSON body).
    #[error("native {status} {code}: {message}")]
    Status {
        status: u16,
        code: String,
        message: String,
    },
    /// No usable answer: connect failure, timeout, connection lost.
    #[error("native transport ({kind}): {detail}")]
    Transport { kind: TransportKind, detail: String },
    /// An answer we cannot understand (malformed listing line, missing header).
    #[error("native protocol: {0}")]
    Protocol(String),
    /// The request body stream handed to us failed; nothing was committed.
    #[error("request body failed: {0}")]
    Body(BodyError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    Connect,
    Timeout,
    Other,
}

impl std::fmt::Display for TransportKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TransportKind::Connect => "connect",
            TransportKind::Timeout => "timeout",
            TransportKind::Other => "connection",
        })
    }
}

impl NativeFailure {
    pub(crate) fn transport(e: &reqwest::Error) -> Self {
        let kind = if e.is_timeout() {
            TransportKind::Timeout
        } else if e.is_connect() {
            TransportKind::Connect
        } else {
            TransportKind::Other
        };
        // The full source chain: reqwest's own Display is terse.
        let mut detail = e.to_string();
        let mut src = std::error::Error::source(e);
        while let Some(s) = src {
            detail.push_str(": ");
            detail.push_str(&s.to_string());
            src = s.source();
        }
        NativeFailure::Transport { kind, detail }
    }

    /// The native error code, when the store answered with one.
    pub(crate) fn code(&self) -> Option<&str> {
        match self {
            NativeFailure::Status { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// THE mapping from native answers to S3 errors (buckets-api.md "Errors" ->
/// the gateway's S3 error table). Codes the gateway's own validation makes
/// impossible (bad parameters, auth of the operator key) are our bugs or a
/// misconfiguration: InternalError, detail logged, never sent to the client.
pub fn map_native(f: NativeFailure) -> BackendError {
    let (status, code, message) = match f {
        NativeFailure::Body(e) => return BackendError::Body(e),
        NativeFailure::Protocol(d) => {
            tracing::warn!(detail = %d, "native store answered something unexpected");
            return BackendError::Internal(d);
        }
        NativeFailure::Transport { kind, detail } => {
            tracing::warn!(%kind, %detail, "native store unreachable");
            return BackendError::ServiceUnavailable(format!("{kind}: {detail}"));
        }
        NativeFailure::Status {
            status,
            code,
            message,
        } => (status, code, message),
    };
    match code.as_str() {
        "BucketNotFound" => BackendError::NoSuchBucket,
        "ObjectNotFound" => BackendError::NoSuchKey,
        "PreconditionFailed" => BackendError::PreconditionFailed,
        "BucketNotEmpty" => BackendError::BucketNotEmpty,
        // Bucket names are per account natively, and the gateway only ever
        // addresses the caller's own namespace: an existing name is theirs.
        "BucketAlreadyExists" => BackendError::BucketAlreadyOwnedByYou,
        "InvalidBucketName" => BackendError::InvalidBucketName,
        // S3 keys are validated at the edge (1..1024 bytes, no NUL): what the
        // store still refuses is a name too long once the gateway's hidden
        // prefix is added, or a store with a stricter rule.
        "InvalidBucketObjectName" => BackendError::KeyTooLongError,
        // A listing parameter the real server refuses (a prefix with `../`
        // or over its length limit, a marker with control characters).
        "InvalidParameter" | "InvalidArgumentError" => {
            BackendError::InvalidArgument(native_message(&code, &message))
        }
        "InvalidHeader"
        | "BadRequest"
        | "InvalidUpdate"
        | "InvalidDurabilityLevel"
        | "ContentLengthRequired" => {
            tracing::warn!(status, %code, %message, "native store refused a request");
            BackendError::InvalidRequest(native_message(&code, &message))
        }
        "ContentMD5Mismatch" => BackendError::BadDigest,
        // Callers resolve ranges themselves against the object size first;
        // reaching this means the object shrank in between.
        "RequestedRangeNotSatisfiable" => BackendError::InvalidRange { size: 0 },
        "MaxContentLengthExceeded" => BackendError::EntityTooLarge,
        "UploadTimeout" => BackendError::RequestTimeout,
        "ThrottledError" => BackendError::SlowDown,
        "AccountBlocked" | "AccountDoesNotExist" | "AuthorizationFailed" => {
            BackendError::AccessDenied
        }
        "NotImplemented" => BackendError::NotImplemented("native operation"),
        "ServiceUnavailable" | "NotEnoughSpace" => {
            tracing::warn!(status, %code, %message, "native store unavailable");
            BackendError::ServiceUnavailable(format!("{code}: {message}"))
        }
        _ if status == 503 => {
            tracing::warn!(status, %code, %message, "native store unavailable");
            BackendError::ServiceUnavailable(format!("{code}: {message}"))
        }
        // No native 4xx ever becomes an S3 500: an unknown code is named
        // by its status class.
        _ if (400..500).contains(&status) => {
            tracing::warn!(status, %code, %message, "unexpected native client error");
            by_status(status, &code, &message)
        }
        _ => {
            tracing::warn!(status, %code, %message, "unexpected native error");
            BackendError::Internal(format!("native {status} {code}: {message}"))
        }
    }
}

/// The client-visible text of a native refusal (no internal detail: the
/// store's own message about the caller's parameter).
fn native_message(code: &str, message: &str) -> String {
    if message.is_empty() {
        code.to_owned()
    } else {
        format!("{code}: {message}")
    }
}

/// A native 4xx with a code this table does not know, by status. 401/403
/// with an unknown code (the operator's own key refused: a
/// misconfiguration, logged above) are AccessDenied, not 500.
fn by_status(status: u16, code: &str, message: &str) -> BackendError {
    match status {
        401 | 403 => BackendError::AccessDenied,
        404 => BackendError::NoSuchKey,
        // The store did not get our request in time (actix-web answers a
        // bare 408 to a connection whose first head is late, e.g. when it
        // is starved accepting a burst of new connections). The gateway
        // sends its head at once, so the client did not cause this: a
        // retryable 503, not S3's client error RequestTimeout (a client's
        // own slow body is caught by the gateway's body idle timeout; the
        // store's explicit `UploadTimeout` stays RequestTimeout above).
        408 => BackendError::SlowDown,
        409 => BackendError::ConditionalRequestConflict,
        412 => BackendError::PreconditionFailed,
        413 => BackendError::EntityTooLarge,
        416 => BackendError::InvalidRange { size: 0 },
        429 => BackendError::SlowDown,
        _ => BackendError::InvalidRequest(native_message(code, message)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(status: u16, code: &str) -> BackendError {
        map_native(NativeFailure::Status {
            status,
            code: code.into(),
            message: "m".into(),
        })
    }

    #[test]
    fn table() {
        assert!(matches!(
            st(404, "BucketNotFound"),
            BackendError::NoSuchBucket
        ));
        assert!(matches!(st(404, "ObjectNotFound"), BackendError::NoSuchKey));
        assert!(matches!(
            st(412, "PreconditionFailed"),
            BackendError::PreconditionFailed
        ));
        assert!(matches!(
            st(409, "BucketNotEmpty"),
            BackendError::BucketNotEmpty
        ));
        assert!(matches!(
            st(409, "BucketAlreadyExists"),
            BackendError::BucketAlreadyOwnedByYou
        ));
        assert!(matches!(
            st(422, "InvalidBucketName"),
            BackendError::InvalidBucketName
        ));
        assert!(matches!(
            st(422, "InvalidBucketObjectName"),
            BackendError::KeyTooLongError
        ));
        assert!(matches!(
            st(400, "ContentMD5Mismatch"),
            BackendError::BadDigest
        ));
        assert!(matches!(
            st(416, "RequestedRangeNotSatisfiable"),
            BackendError::InvalidRange { .. }
        ));
        assert!(matches!(st(503, "ThrottledError"), BackendError::SlowDown));
        assert!(matches!(st(408, "Unknown"), BackendError::SlowDown));
        assert!(matches!(
            st(408, "UploadTimeout"),
            BackendError::RequestTimeout
        ));
        assert!(matches!(
            st(503, "InternalError"),
            BackendError::ServiceUnavailable(_)
        ));
        assert!(matches!(
            st(500, "InternalError"),
            BackendError::Internal(_)
        ));
        assert!(matches!(st(500, "SomethingNew"), BackendError::Internal(_)));
        assert!(matches!(
            st(403, "InvalidSignature"),
            BackendError::AccessDenied
        ));
        assert!(matches!(
            st(403, "AuthorizationFailed"),
            BackendError::AccessDenied
        ));
        assert!(matches!(
            st(400, "InvalidParameter"),
            BackendError::InvalidArgument(_)
        ));
        assert!(matches!(
            st(400, "InvalidHeader"),
            BackendError::InvalidRequest(_)
        ));
        assert!(matches!(
            st(400, "InvalidUpdate"),
            BackendError::InvalidRequest(_)
        ));
        // No native 4xx is ever an S3 500, known code or not.
        for status in [
            400u16, 401, 403, 404, 405, 408, 409, 411, 412, 413, 416, 422, 429,
        ] {
            assert!(
                !matches!(st(status, "SomethingNew"), BackendError::Internal(_)),
                "{status}"
            );
        }
        assert!(matches!(
            map_native(NativeFailure::Transport {
                kind: TransportKind::Timeout,
                detail: "x".into()
            }),
            BackendError::ServiceUnavailable(_)
        ));
        assert!(matches!(
            map_native(NativeFailure::Protocol("x".into())),
            BackendError::Internal(_)
        ));
    }
}
