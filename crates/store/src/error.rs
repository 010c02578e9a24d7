//! The one public error type of the store: a stable [`ErrorKind`], the operation, the
//! credential-free store URL and the key, and the underlying cause.

use std::fmt;

/// What went wrong, stable across backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The object or directory does not exist.
    NotFound,
    /// The object exists already (a `write_if_absent` lost the race).
    AlreadyExists,
    /// The backend refused access.
    PermissionDenied,
    /// The backend is unreachable, throttling or timed out; retrying later may work.
    Unavailable,
    /// The store URL (or `STORAGE_TYPE` environment) is malformed or incomplete.
    InvalidUrl,
    /// The key is not acceptable (`..`, absolute, NUL, empty segment, too long).
    InvalidKey,
    /// The backend cannot do this operation.
    Unsupported,
    /// A directory that should be removed without `recursive` is not empty.
    DirectoryNotEmpty,
    /// The requested byte range lies outside the object.
    InvalidRange,
    /// Anything else; the message and source tell more.
    Other,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            ErrorKind::NotFound => "not found",
            ErrorKind::AlreadyExists => "already exists",
            ErrorKind::PermissionDenied => "permission denied",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::InvalidUrl => "invalid store url",
            ErrorKind::InvalidKey => "invalid key",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::DirectoryNotEmpty => "directory not empty",
            ErrorKind::InvalidRange => "invalid range",
            ErrorKind::Other => "error",
        };
        f.write_str(s)
    }
}

/// An error of a store operation; its message names the store URL and the key, never a
/// credential.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct Error(Box<Inner>);

#[derive(Debug, thiserror::Error)]
#[error("{op} {url}{sep}{key}: {kind}{detail}")]
struct Inner {
    kind: ErrorKind,
    op: &'static str,
    url: String,
    key: String,
    sep: &'static str,
    detail: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl Error {
    /// A new error of `kind` for operation `op` on `key` of the store at `url`.
    pub fn new(kind: ErrorKind, op: &'static str, url: &str, key: &str) -> Self {
        Error(Box::new(Inner {
            kind,
            op,
            url: url.to_string(),
            key: key.to_string(),
            sep: if key.is_empty() { "" } else { " key " },
            detail: String::new(),
            source: None,
        }))
    }

    /// Adds a human-readable detail to the message.
    pub fn with_detail(mut self, detail: impl fmt::Display) -> Self {
        self.0.detail = format!(": {detail}");
        self
    }

    /// Attaches the underlying cause.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.0.source = Some(Box::new(source));
        self
    }

    /// The stable kind of this error.
    pub fn kind(&self) -> ErrorKind {
        self.0.kind
    }

    /// True when retrying later may succeed.
    pub fn is_temporary(&self) -> bool {
        self.0.kind == ErrorKind::Unavailable
    }

    /// Maps an OpenDAL error, keeping it as the cause.
    pub(crate) fn from_dal(e: opendal::Error, op: &'static str, url: &str, key: &str) -> Self {
        use opendal::ErrorKind as K;
        let kind = match e.kind() {
            K::NotFound => ErrorKind::NotFound,
            K::AlreadyExists | K::ConditionNotMatch => ErrorKind::AlreadyExists,
            K::PermissionDenied => ErrorKind::PermissionDenied,
            K::RateLimited => ErrorKind::Unavailable,
            K::ConfigInvalid => ErrorKind::InvalidUrl,
            K::Unsupported => ErrorKind::Unsupported,
            K::RangeNotSatisfied => ErrorKind::InvalidRange,
            _ if e.is_temporary() => ErrorKind::Unavailable,
            _ => ErrorKind::Other,
        };
        let detail = e.to_string();
        Error::new(kind, op, url, key)
            .with_detail(first_line(&detail))
            .with_source(e)
    }

    /// Maps a local I/O error, keeping it as the cause.
    pub(crate) fn from_io(e: std::io::Error, op: &'static str, url: &str, key: &str) -> Self {
        use std::io::ErrorKind as K;
        let kind = match e.kind() {
            K::NotFound => ErrorKind::NotFound,
            K::AlreadyExists => ErrorKind::AlreadyExists,
            K::PermissionDenied => ErrorKind::PermissionDenied,
            K::TimedOut | K::Interrupted | K::WouldBlock => ErrorKind::Unavailable,
            _ => ErrorKind::Other,
        };
        let detail = e.to_string();
        Error::new(kind, op, url, key)
            .with_detail(detail)
            .with_source(e)
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}

/// The result type of store operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;
