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
    /// The backend refused access (EACCES, EPERM, a read-only file system, HTTP 403).
    PermissionDenied,
    /// The backend has no room left (ENOSPC, a disk quota).
    StorageFull,
    /// The backend is unreachable, throttling or timed out; retrying later may work.
    Unavailable,
    /// The store URL (or `STORAGE_TYPE` environment) is malformed or incomplete.
    InvalidUrl,
    /// A store setting (such as `HOLDFAST_STORE_RETRY_FOR`) is malformed.
    InvalidConfig,
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
            ErrorKind::StorageFull => "storage full",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::InvalidUrl => "invalid store url",
            ErrorKind::InvalidConfig => "invalid store setting",
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

    /// The cause as text (without the operation, URL and key).
    pub(crate) fn detail(&self) -> &str {
        self.0.detail.trim_start_matches(": ")
    }

    /// True when retrying later may succeed.
    pub fn is_temporary(&self) -> bool {
        self.0.kind == ErrorKind::Unavailable
    }

    /// Maps an OpenDAL error, keeping it as the cause; a request signer that found no
    /// credentials is [`ErrorKind::PermissionDenied`] saying which variables to set.
    pub(crate) fn from_dal(e: opendal::Error, op: &'static str, url: &str, key: &str) -> Self {
        if let Some(hint) = credential_hint(&e, url) {
            // The signer's own error dumps its provider chain: only its kind is logged.
            tracing::debug!("{op} {url}: request signer: {}", e.message());
            return Error::new(ErrorKind::PermissionDenied, op, url, key).with_detail(hint);
        }
        let kind = dal_kind(&e);
        let detail = dal_detail(&e);
        Error::new(kind, op, url, key)
            .with_detail(detail)
            .with_source(e)
    }

    /// The kind an OpenDAL error maps to.
    pub(crate) fn from_dal_ref(e: &opendal::Error) -> ErrorKind {
        dal_kind(e)
    }

    /// Maps a local I/O error, keeping it as the cause.
    pub(crate) fn from_io(e: std::io::Error, op: &'static str, url: &str, key: &str) -> Self {
        use std::io::ErrorKind as K;
        if let Some(dal) = e.get_ref().and_then(|r| r.downcast_ref::<opendal::Error>()) {
            if let Some(hint) = credential_hint(dal, url) {
                tracing::debug!("{op} {url}: request signer: {}", dal.message());
                return Error::new(ErrorKind::PermissionDenied, op, url, key).with_detail(hint);
            }
            let (kind, detail) = (dal_kind(dal), dal_detail(dal));
            return Error::new(kind, op, url, key)
                .with_detail(detail)
                .with_source(e);
        }
        let kind = match e.kind() {
            K::NotFound => ErrorKind::NotFound,
            K::AlreadyExists => ErrorKind::AlreadyExists,
            K::PermissionDenied | K::ReadOnlyFilesystem => ErrorKind::PermissionDenied,
            K::StorageFull | K::QuotaExceeded => ErrorKind::StorageFull,
            K::TimedOut | K::Interrupted | K::WouldBlock => ErrorKind::Unavailable,
            _ => ErrorKind::Other,
        };
        let detail = if kind == ErrorKind::StorageFull {
            format!("{e}: free space on that disk or grow it, then run the command again")
        } else {
            e.to_string()
        };
        Error::new(kind, op, url, key)
            .with_detail(detail)
            .with_source(e)
    }
}

/// The stable kind of an OpenDAL error.
fn dal_kind(e: &opendal::Error) -> ErrorKind {
    use opendal::ErrorKind as K;
    match e.kind() {
        K::NotFound => ErrorKind::NotFound,
        K::AlreadyExists | K::ConditionNotMatch => ErrorKind::AlreadyExists,
        K::PermissionDenied => ErrorKind::PermissionDenied,
        K::RateLimited => ErrorKind::Unavailable,
        K::ConfigInvalid => ErrorKind::InvalidUrl,
        K::Unsupported => ErrorKind::Unsupported,
        K::RangeNotSatisfied => ErrorKind::InvalidRange,
        // The runtime cancelled the backend's blocking task: holdfast is stopping (the
        // app of `run` exited, a signal came). Not an outage: never retried or
        // reported as one.
        _ if cancelled(e) => ErrorKind::Other,
        // Persistent: temporary, and the retry layer's attempts did not help.
        _ if e.is_temporary() || e.is_persistent() => ErrorKind::Unavailable,
        _ => ErrorKind::Other,
    }
}

/// What to do when the request signer of an S3 or Azure store failed: it found no
/// credentials (or could not use them) before any request was sent.
fn credential_hint(e: &opendal::Error, url: &str) -> Option<&'static str> {
    let signer = matches!(
        e.message(),
        "signing http request" | "loading credential to sign http request"
    ) || e.message().starts_with("failed to sign");
    if !signer {
        return None;
    }
    if url.starts_with("s3:") {
        Some(
            "no usable S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY \
             (or write them into the URL, s3://KEY:SECRET@bucket/prefix, or run where an \
             instance role or ~/.aws/credentials provides them)",
        )
    } else if url.starts_with("azblob:") || url.starts_with("az:") {
        Some(
            "no usable Azure credentials: set AZURE_STORAGE_ACCOUNT and AZURE_STORAGE_KEY \
             (or AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_SAS_TOKEN)",
        )
    } else {
        None
    }
}

/// An OpenDAL error in a few words: its message and the innermost cause
/// (`send http request: Connection refused (os error 111)`), without the request context
/// its `Display` repeats (uri, response headers) or the causes in between, which each
/// repeat the innermost one.
/// True when the cause of `e` is a tokio task the runtime cancelled (OpenDAL runs local
/// file I/O on blocking tasks and reports their `JoinError` as "tokio task join failed").
fn cancelled(e: &opendal::Error) -> bool {
    let mut next = std::error::Error::source(e);
    while let Some(cause) = next {
        if cause
            .downcast_ref::<tokio::task::JoinError>()
            .is_some_and(tokio::task::JoinError::is_cancelled)
        {
            return true;
        }
        next = cause.source();
    }
    false
}

fn dal_detail(e: &opendal::Error) -> String {
    let message = first_line(e.message()).trim();
    let mut root: Option<&dyn std::error::Error> = None;
    let mut next = std::error::Error::source(e);
    while let Some(cause) = next {
        root = Some(cause);
        next = cause.source();
    }
    let root = root.map(|r| r.to_string());
    let root = root.as_deref().map(|r| first_line(r).trim());
    match root {
        Some(r) if !r.is_empty() && !message.contains(r) => {
            if message.is_empty() {
                r.to_string()
            } else {
                format!("{message}: {r}")
            }
        }
        _ if message.is_empty() => e.kind().to_string(),
        _ => message.to_string(),
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}

/// The result type of store operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    const EPERM: i32 = 1;
    const EACCES: i32 = 13;
    const ENOSPC: i32 = 28;
    const EROFS: i32 = 30;
    const EDQUOT: i32 = 122;

    /// Finding: when `run`'s app exited while the start-up survey was still reading the
    /// repository, the runtime cancelled the store's blocking read and holdfast printed
    /// "unavailable: … tokio task join failed: task 71 was cancelled; retrying for up to
    /// 2m". A cancelled task is not an outage: it is neither retried nor reported as one.
    #[tokio::test]
    async fn a_cancelled_blocking_task_is_not_an_outage() {
        let task = tokio::spawn(std::future::pending::<()>());
        task.abort();
        let join = task.await.expect_err("aborted");
        assert!(join.is_cancelled());
        // As OpenDAL reports it, after its retry layer marked it persistent.
        let dal = opendal::Error::new(opendal::ErrorKind::Unexpected, "tokio task join failed")
            .set_source(join)
            .set_persistent();
        let e = Error::from_dal(dal, "read", "file:///r", "config");
        assert_ne!(e.kind(), ErrorKind::Unavailable, "{e}");
        assert!(!e.is_temporary(), "{e}");
    }

    fn io(code: i32) -> Error {
        Error::from_io(
            std::io::Error::from_raw_os_error(code),
            "write",
            "file:///srv/repo",
            "data/ab/pack",
        )
    }

    /// Finding: a pack upload that failed for ENOSPC reached the user as "invalid
    /// argument: pack upload stopped"; the store's error must say what happened and
    /// carry a kind the caller can match.
    #[test]
    fn a_full_disk_is_storage_full_and_says_so() {
        for code in [ENOSPC, EDQUOT] {
            let e = io(code);
            assert_eq!(e.kind(), ErrorKind::StorageFull, "{e}");
            let msg = e.to_string();
            assert!(
                msg.contains("data/ab/pack") && msg.contains("file:///srv/repo"),
                "{msg}"
            );
        }
        assert!(
            io(ENOSPC).to_string().contains("No space left on device"),
            "{}",
            io(ENOSPC)
        );
    }

    #[test]
    fn refused_access_is_permission_denied_and_says_so() {
        for code in [EACCES, EPERM, EROFS] {
            let e = io(code);
            assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
        }
        assert!(
            io(EROFS).to_string().contains("Read-only file system"),
            "{}",
            io(EROFS)
        );
        let dal = opendal::Error::new(opendal::ErrorKind::PermissionDenied, "AccessDenied")
            .with_context("status", "403");
        let e = Error::from_dal(dal, "write", "s3://b/p", "data/ab/pack");
        assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
        assert!(e.to_string().contains("AccessDenied"), "{e}");
    }

    /// Issue 16: an S3 store without credentials dumped the signer's provider chain and
    /// never said which variables to set.
    #[test]
    fn a_signer_without_credentials_says_which_variables_to_set() {
        for message in [
            "signing http request",
            "loading credential to sign http request",
        ] {
            let dal = opendal::Error::new(opendal::ErrorKind::Unexpected, message).set_source(
                std::io::Error::other("ProvideCredentialChain { providers: [..] }"),
            );
            let e = Error::from_dal(dal, "read", "s3://b/p", "config");
            assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
            let text = e.to_string();
            assert!(
                text.contains("set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"),
                "{text}"
            );
            assert!(!text.contains("ProvideCredentialChain"), "{text}");
            assert!(std::error::Error::source(&e).is_none());
        }
    }

    /// Issue 16: an unreachable endpoint's error repeated the cause three times inside
    /// the request context; the detail is the message and the innermost cause, once.
    #[test]
    fn a_transport_error_is_its_message_and_innermost_cause() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "Connection refused");
        let dal = opendal::Error::new(opendal::ErrorKind::Unexpected, "send http request")
            .with_context("uri", "http://127.0.0.1:9/b/config")
            .set_source(io)
            .set_temporary();
        let e = Error::from_dal(
            dal,
            "read",
            "s3://b/p?endpoint=http://127.0.0.1:9",
            "config",
        );
        assert_eq!(
            e.to_string(),
            "read s3://b/p?endpoint=http://127.0.0.1:9 key config: unavailable: send http \
             request: Connection refused"
        );
    }

    /// OpenDAL marks an error that stayed temporary through its own retries
    /// "persistent"; that is still the store being unavailable, not damage.
    #[test]
    fn retried_out_transient_errors_are_unavailable() {
        let dal = opendal::Error::new(opendal::ErrorKind::Unexpected, "send http request")
            .set_temporary()
            .set_persistent();
        let e = Error::from_dal(dal, "read", "s3://b/p", "config");
        assert_eq!(e.kind(), ErrorKind::Unavailable, "{e}");
        assert!(e.to_string().contains("unavailable"), "{e}");
        let through_io = std::io::Error::other(
            opendal::Error::new(opendal::ErrorKind::Unexpected, "read body").set_temporary(),
        );
        let e = Error::from_io(through_io, "read", "s3://b/p", "config");
        assert_eq!(e.kind(), ErrorKind::Unavailable, "{e}");
    }
}
