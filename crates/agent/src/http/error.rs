//! [`ApiError`]: an HTTP status and a message, answered as `{"error": "…"}`; store errors
//! map to statuses by their kind, agent errors by whether they are the caller's input
//! (400) or an internal failure (500), repository errors by their kind (an ambiguous
//! snapshot selector 409 with `candidates`).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use holdfast_store::ErrorKind;

/// A refused or failed request.
#[derive(Debug)]
pub struct ApiError {
    /// The status answered.
    pub status: StatusCode,
    /// The message in the JSON body.
    pub message: String,
    /// What the caller may choose from instead (an ambiguous snapshot id prefix's full
    /// ids, the `latest:…` selectors of an ambiguous `latest`): `candidates` in the
    /// JSON body when set.
    pub candidates: Option<Vec<String>>,
}

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// An error with this status and message.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            candidates: None,
        }
    }

    /// 400 Bad Request.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 403 Forbidden.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }

    /// 404 Not Found.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// 500 Internal Server Error; the detail is logged.
    pub fn internal(message: impl std::fmt::Display) -> Self {
        tracing::error!("{message}");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message.to_string())
    }
}

impl From<holdfast_store::Error> for ApiError {
    fn from(e: holdfast_store::Error) -> Self {
        let status = match e.kind() {
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::InvalidKey => StatusCode::BAD_REQUEST,
            ErrorKind::PermissionDenied => StatusCode::FORBIDDEN,
            ErrorKind::AlreadyExists | ErrorKind::DirectoryNotEmpty => StatusCode::CONFLICT,
            ErrorKind::InvalidRange => StatusCode::RANGE_NOT_SATISFIABLE,
            ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status.is_server_error() {
            tracing::error!("{e}");
        }
        ApiError::new(status, e.to_string())
    }
}

/// A failure reading a request body: 408 when the client paused past the body timeout,
/// 400 otherwise (a malformed chunked body, a connection cut short).
pub fn body_error(e: &(dyn std::error::Error + 'static)) -> ApiError {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if c.is::<crate::http::BodyTimedOut>() {
            return ApiError::new(StatusCode::REQUEST_TIMEOUT, c.to_string());
        }
        cause = c.source();
    }
    ApiError::bad_request(format!("request body: {e}"))
}

impl From<holdfast_volume::root::RootError> for ApiError {
    /// An access beneath a volume root, mapped by its kind: a refused path 400, a
    /// symlink or holdfast's own name 403, a file/directory mix-up 409, a full volume
    /// 507, a volume that cannot be opened 503, anything else 500.
    fn from(e: holdfast_volume::root::RootError) -> Self {
        use holdfast_volume::root::RootErrorKind as K;
        let status = match e.kind() {
            K::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            K::BadPath => StatusCode::BAD_REQUEST,
            K::Forbidden => StatusCode::FORBIDDEN,
            K::Conflict => StatusCode::CONFLICT,
            K::NoSpace => StatusCode::INSUFFICIENT_STORAGE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.to_string())
    }
}

impl From<crate::Error> for ApiError {
    /// An agent error at the HTTP edge: a store error by its kind, the caller's input
    /// or settings ([`crate::Error::is_input`]) 400, a missing snapshot 404, anything
    /// else 500 (logged). The message is the whole chain.
    fn from(e: crate::Error) -> Self {
        if let crate::Error::Store(e) = e {
            return e.into();
        }
        let message = crate::error::chain(&e);
        if matches!(e, crate::Error::Repo(holdfast_repo::Error::NotFound { .. })) {
            ApiError::not_found(message)
        } else if e.is_input() {
            ApiError::bad_request(message)
        } else {
            ApiError::internal(message)
        }
    }
}

impl From<holdfast_repo::Error> for ApiError {
    /// A repository error at the HTTP edge: an ambiguous snapshot selector 409 with its
    /// candidates, a missing snapshot or path 404, the caller's input 400, a store that
    /// does not answer 503, anything else (a damaged object, say) 500, logged.
    fn from(e: holdfast_repo::Error) -> Self {
        use holdfast_repo::Error as E;
        let message = e.to_string();
        match e {
            E::AmbiguousPrefix { candidates, .. }
            | E::AmbiguousLatest {
                choices: candidates,
                ..
            } => ApiError {
                candidates: Some(candidates),
                ..ApiError::new(StatusCode::CONFLICT, message)
            },
            E::NotFound { .. } => ApiError::not_found(message),
            E::Invalid(_) | E::UnsafePath { .. } => ApiError::bad_request(message),
            e if e.is_unavailable() => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, message),
            _ => ApiError::internal(message),
        }
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(e: tokio::task::JoinError) -> Self {
        ApiError::internal(format!("background task failed: {e}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = match self.candidates {
            Some(c) => serde_json::json!({ "error": self.message, "candidates": c }),
            None => serde_json::json!({ "error": self.message }),
        };
        (self.status, Json(body)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The caller's input is 400, a missing snapshot 404, a failure of the machine 500.
    #[test]
    fn agent_errors_map_input_apart_from_internal() {
        let input = ApiError::from(crate::Error::NoPassword.context("opening repository r"));
        assert_eq!(input.status, StatusCode::BAD_REQUEST);
        assert!(
            input
                .message
                .starts_with("opening repository r: no repository password")
        );
        let missing = ApiError::from(crate::Error::Repo(holdfast_repo::Error::NotFound {
            what: "snapshot 1234".into(),
        }));
        assert_eq!(missing.status, StatusCode::NOT_FOUND);
        let io = std::io::Error::other("disk on fire");
        let internal = ApiError::from(crate::Error::from(io).context("writing /v/x"));
        assert_eq!(internal.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(internal.message, "writing /v/x: disk on fire");
    }
}
