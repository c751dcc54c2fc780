//! The native error table (buckets-api.md "Errors"): one enum, one wire code
//! and status per variant, one JSON body shape.

use actix_web::http::StatusCode;
use actix_web::HttpResponse;

/// Every error buckets-lite answers with. The message goes to the client; it
/// never carries internal details (those are logged).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    #[error("{0} already exists")]
    BucketAlreadyExists(String),
    #[error("{0} is not empty")]
    BucketNotEmpty(String),
    #[error("{0} was not found")]
    BucketNotFound(String),
    #[error("{0} was not found")]
    ObjectNotFound(String),
    #[error("{0} is not a valid bucket name")]
    InvalidBucketName(String),
    #[error("invalid object name: {0}")]
    InvalidBucketObjectName(String),
    #[error("precondition failed")]
    PreconditionFailed,
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    InvalidHeader(String),
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    InvalidParameter(String),
    #[error("durability-level must be 1..6")]
    InvalidDurabilityLevel,
    #[error("{0}")]
    InvalidUpdate(String),
    #[error("Content-MD5 expected to be {expected}, but was {computed}")]
    ContentMd5Mismatch { expected: String, computed: String },
    #[error("Content-Length or Transfer-Encoding: chunked is required")]
    ContentLengthRequired,
    #[error("request body exceeds max-content-length {0}")]
    MaxContentLengthExceeded(u64),
    #[error("requested range not satisfiable")]
    RequestedRangeNotSatisfiable(u64),
    #[error("upload timed out")]
    UploadTimeout,
    #[error("{0}")]
    AuthorizationRequired(String),
    #[error("{0}")]
    AuthorizationSchemeNotAllowed(String),
    #[error("{0}")]
    AuthorizationFailed(String),
    #[error("{0}")]
    InvalidSignature(String),
    #[error("{0}")]
    InvalidKeyId(String),
    #[error("{0}")]
    KeyDoesNotExist(String),
    #[error("{0}")]
    AccountDoesNotExist(String),
    #[error("{0}")]
    AccountBlocked(String),
    #[error("{0} does not exist")]
    ResourceNotFound(String),
    #[error("compose part {0}")]
    InvalidComposePart(String),
    #[error("not enough space")]
    NotEnoughSpace,
    #[error("internal error")]
    Internal,
    #[error("storage unavailable")]
    StorageUnavailable,
}

impl ApiError {
    /// Wire code and HTTP status, the one table.
    pub fn code_and_status(&self) -> (&'static str, u16) {
        use ApiError::*;
        match self {
            BucketAlreadyExists(_) => ("BucketAlreadyExists", 409),
            BucketNotEmpty(_) => ("BucketNotEmpty", 409),
            BucketNotFound(_) => ("BucketNotFound", 404),
            ObjectNotFound(_) => ("ObjectNotFound", 404),
            InvalidBucketName(_) => ("InvalidBucketName", 422),
            InvalidBucketObjectName(_) => ("InvalidBucketObjectName", 422),
            PreconditionFailed => ("PreconditionFailed", 412),
            BadRequest(_) => ("BadRequest", 400),
            InvalidHeader(_) => ("InvalidHeader", 400),
            InvalidArgument(_) => ("InvalidArgumentError", 400),
            InvalidParameter(_) => ("InvalidParameter", 400),
            InvalidDurabilityLevel => ("InvalidDurabilityLevel", 400),
            InvalidUpdate(_) => ("InvalidUpdate", 400),
            ContentMd5Mismatch { .. } => ("ContentMD5Mismatch", 400),
            ContentLengthRequired => ("ContentLengthRequired", 411),
            MaxContentLengthExceeded(_) => ("MaxContentLengthExceeded", 413),
            RequestedRangeNotSatisfiable(_) => ("RequestedRangeNotSatisfiable", 416),
            UploadTimeout => ("UploadTimeout", 408),
            AuthorizationRequired(_) => ("AuthorizationRequired", 401),
            AuthorizationSchemeNotAllowed(_) => ("AuthorizationSchemeNotAllowed", 403),
            AuthorizationFailed(_) => ("AuthorizationFailed", 403),
            InvalidSignature(_) => ("InvalidSignature", 403),
            InvalidKeyId(_) => ("InvalidKeyId", 403),
            KeyDoesNotExist(_) => ("KeyDoesNotExist", 403),
            AccountDoesNotExist(_) => ("AccountDoesNotExist", 403),
            AccountBlocked(_) => ("AccountBlocked", 403),
            ResourceNotFound(_) => ("ResourceNotFound", 404),
            // Extension (compose.rs): a named part is missing or is not the
            // object id the request pinned.
            InvalidComposePart(_) => ("InvalidComposePart", 409),
            NotEnoughSpace => ("NotEnoughSpace", 507),
            Internal => ("InternalError", 500),
            StorageUnavailable => ("InternalError", 503),
        }
    }

    /// The JSON error response `{"code":..,"message":..}`; a 409 in the
    /// nested shape the real buckets-api sends for its conflicts,
    /// `{"message":..,"statusCode":409,"body":{"code":..,"message":..}}`
    /// (buckets-api.md "Where the real server differs").
    pub fn to_response(&self) -> HttpResponse {
        let (code, status_code) = self.code_and_status();
        let status = StatusCode::from_u16(status_code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let message = self.to_string();
        let body = if status_code == 409 {
            serde_json::json!({
                "message": message,
                "statusCode": status_code,
                "body": { "code": code, "message": message },
            })
        } else {
            serde_json::json!({ "code": code, "message": message })
        };
        let mut resp = HttpResponse::build(status);
        resp.content_type("application/json");
        match self {
            ApiError::RequestedRangeNotSatisfiable(size) => {
                resp.insert_header(("Content-Range", format!("bytes */{size}")));
            }
            ApiError::StorageUnavailable => {
                resp.insert_header(("Retry-After", "30"));
            }
            _ => {}
        }
        resp.body(body.to_string())
    }
}

impl From<rusqlite::Error> for ApiError {
    fn from(e: rusqlite::Error) -> Self {
        tracing::warn!(error = %e, "sqlite");
        match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
                ApiError::StorageUnavailable
            }
            // The disk filled up under the database (its WAL grows first):
            // the same answer as a body that does not fit.
            Some(rusqlite::ErrorCode::DiskFull) => ApiError::NotEnoughSpace,
            _ => ApiError::Internal,
        }
    }
}

impl From<std::io::Error> for ApiError {
    fn from(e: std::io::Error) -> Self {
        tracing::warn!(error = %e, "io");
        if e.kind() == std::io::ErrorKind::StorageFull {
            ApiError::NotEnoughSpace
        } else {
            ApiError::Internal
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A full disk is 507 NotEnoughSpace (as on the real server), whether a
    /// body write or the database hits it; never a 500.
    #[test]
    fn a_full_disk_is_not_enough_space() {
        let io = ApiError::from(std::io::Error::from(std::io::ErrorKind::StorageFull));
        assert_eq!(io.code_and_status(), ("NotEnoughSpace", 507));
        let sqlite = |code| {
            ApiError::from(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(code),
                None,
            ))
            .code_and_status()
        };
        assert_eq!(sqlite(rusqlite::ffi::SQLITE_FULL), ("NotEnoughSpace", 507));
        assert_eq!(sqlite(rusqlite::ffi::SQLITE_BUSY), ("InternalError", 503));
    }
}
