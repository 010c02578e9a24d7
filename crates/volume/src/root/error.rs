//! What can stop an access beneath a volume root ([`RootError`]), and the few kinds a
//! caller tells apart ([`RootErrorKind`]): a front end maps the kind to its own answer
//! (the HTTP API to a status code) without reading messages.

use std::path::PathBuf;

use rustix::io::Errno;

/// Why an access beneath a volume root failed; each names the path (relative to the
/// root) or the root itself.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RootError {
    /// The volume root cannot be opened (missing, not a directory, not mounted yet).
    #[error("volume {}: {source}", root.display())]
    Open {
        /// The configured root.
        root: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The path could name something outside the volume (absolute, `..` or `.`
    /// segment, empty segment, NUL) or is empty.
    #[error("path {path:?} refused: {reason}")]
    Refused {
        /// The path as given.
        path: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The path names one of holdfast's own entries (its state directory, temporary files).
    #[error("{name} belongs to holdfast")]
    Reserved {
        /// The path as given.
        path: String,
        /// The reserved name it reaches (`.holdfast/`, `.holdfast-part-*`, …).
        name: String,
    },
    /// A component of the path is a symlink: it is never followed.
    #[error("path {path:?} goes through a symlink; refused")]
    Symlink {
        /// The path as given.
        path: String,
    },
    /// A component that should be a directory is a file.
    #[error("{prefix:?} is a file, not a directory")]
    NotADirectory {
        /// The path as given.
        path: String,
        /// The leading part of it that is a file.
        prefix: String,
    },
    /// The path is a directory where a file is wanted.
    #[error("{path:?} is a directory")]
    IsADirectory {
        /// The path as given.
        path: String,
    },
    /// The path is neither a regular file nor a directory (a socket, a device, a FIFO).
    #[error("{path:?} is not a regular file")]
    NotAFile {
        /// The path as given.
        path: String,
    },
    /// The file system refused an operation on the path.
    #[error("{path}: {source}")]
    Io {
        /// The path as given.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
}

/// The classes of [`RootError`] a caller answers differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RootErrorKind {
    /// The volume root is not there (not mounted?): try again later.
    Unavailable,
    /// The path itself is malformed.
    BadPath,
    /// The path is holdfast's own, goes through a symlink, or the file system denies
    /// the access (permissions, read-only).
    Forbidden,
    /// The path exists with another type than the operation needs.
    Conflict,
    /// The file system is full or the quota is spent.
    NoSpace,
    /// Anything else: an input/output error of the file system.
    Other,
}

impl RootError {
    /// The class of this error (see [`RootErrorKind`]).
    pub fn kind(&self) -> RootErrorKind {
        match self {
            RootError::Open { .. } => RootErrorKind::Unavailable,
            RootError::Refused { .. } => RootErrorKind::BadPath,
            RootError::Reserved { .. } | RootError::Symlink { .. } => RootErrorKind::Forbidden,
            RootError::NotADirectory { .. }
            | RootError::IsADirectory { .. }
            | RootError::NotAFile { .. } => RootErrorKind::Conflict,
            RootError::Io { source, .. } => match Errno::from_io_error(source) {
                Some(Errno::NOSPC | Errno::DQUOT) => RootErrorKind::NoSpace,
                Some(Errno::ACCESS | Errno::PERM | Errno::ROFS) => RootErrorKind::Forbidden,
                _ => RootErrorKind::Other,
            },
        }
    }

    /// True when the request cannot be served as asked (a bad or refused path, a type
    /// conflict, a denied access), as opposed to a volume or file system failure.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self.kind(),
            RootErrorKind::BadPath | RootErrorKind::Forbidden | RootErrorKind::Conflict
        )
    }

    pub(super) fn io(path: &str, e: impl Into<std::io::Error>) -> RootError {
        RootError::Io {
            path: path.to_string(),
            source: e.into(),
        }
    }

    pub(super) fn symlink(path: &str) -> RootError {
        RootError::Symlink {
            path: path.to_string(),
        }
    }

    pub(super) fn is_dir(path: &str) -> RootError {
        RootError::IsADirectory {
            path: path.to_string(),
        }
    }

    pub(super) fn not_file(path: &str) -> RootError {
        RootError::NotAFile {
            path: path.to_string(),
        }
    }
}
