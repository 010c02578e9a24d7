//! The one public error of the repository crate, with stable kinds and the object id or
//! path in every message.

use std::path::PathBuf;

/// Result with the repository [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in a repository operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An object, snapshot, blob or path does not exist.
    #[error("not found: {what}")]
    NotFound {
        /// What was looked for (object key, snapshot id, path).
        what: String,
    },
    /// No key file of the repository opens with the given password.
    #[error(
        "wrong password for repository {repo}: no key file opens with it (if the password is \
         right, the repository id in `config` may be damaged: every key file is bound to it)"
    )]
    WrongPassword {
        /// The repository URL.
        repo: String,
    },
    /// An object failed authentication, parsing or an id check.
    #[error("corrupt object {object}: {reason}")]
    Corrupt {
        /// The object key or blob id.
        object: String,
        /// What was wrong with it.
        reason: String,
    },
    /// The repository already exists (init on an existing one).
    #[error("repository {repo} already exists")]
    AlreadyExists {
        /// The repository URL.
        repo: String,
    },
    /// No repository at the URL.
    #[error("no repository at {repo} (no config object; run `holdfast init` first)")]
    NotInitialized {
        /// The repository URL.
        repo: String,
    },
    /// The repository was written by a newer format.
    #[error("repository {repo} has format version {version}, this holdfast reads only 1")]
    UnsupportedVersion {
        /// The repository URL.
        repo: String,
        /// The version found in `config`.
        version: u32,
    },
    /// Another operation holds a conflicting lock.
    #[error("repository {repo} is locked: {holder}")]
    Locked {
        /// The repository URL.
        repo: String,
        /// Who holds the lock.
        holder: String,
    },
    /// A snapshot entry would land outside the restore target.
    #[error("unsafe entry {path}: {reason}")]
    UnsafePath {
        /// The entry's path inside the snapshot.
        path: String,
        /// Why it was refused.
        reason: String,
    },
    /// A bad argument (snapshot spec, glob, option): the caller's input, not the repository.
    #[error("invalid argument: {0}")]
    Invalid(String),
    /// `latest` (or `latest~N`) without a volume or path, in a repository holding
    /// snapshots of more than one: which one is meant is not for holdfast to guess.
    #[error(
        "snapshot {spec:?} is ambiguous: the repository holds snapshots of {} volumes or \
         paths; name one: {}",
        choices.len(),
        choices.join(", ")
    )]
    AmbiguousLatest {
        /// The selector as given.
        spec: String,
        /// The selectors that name one group (`latest:app-data`, `latest:/srv/x`).
        choices: Vec<String>,
    },
    /// A snapshot id prefix that more than one snapshot starts with.
    #[error(
        "snapshot id prefix {prefix} is ambiguous: {} snapshots start with it ({}); give more \
         digits",
        candidates.len(),
        candidates.join(", ")
    )]
    AmbiguousPrefix {
        /// The prefix as given.
        prefix: String,
        /// The full ids (64 hex digits) of the snapshots that start with it, sorted.
        candidates: Vec<String>,
    },
    /// The operation's lock was lost (removed by another client as stale, or not refreshed
    /// in time, e.g. while the process was paused): it stopped without committing.
    #[error("lost lock {lock} on repository {repo}: {reason}; nothing was committed")]
    LockLost {
        /// The repository URL.
        repo: String,
        /// The lock's store key.
        lock: String,
        /// Why the lock counts as lost.
        reason: String,
    },
    /// The operation was cancelled (signal, dropped request, lost lock elsewhere).
    #[error("{0} cancelled")]
    Cancelled(String),
    /// The store did not answer in time (after its retries): nothing is known to be
    /// damaged; trying again later may work.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A fault inside holdfast (a task that panicked, no random numbers, encoding).
    #[error("internal error: {0}")]
    Internal(String),
    /// The store failed.
    #[error("store: {0}")]
    Store(#[source] Box<dyn std::error::Error + Send + Sync + 'static>),
    /// A local file operation failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The local path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A SQLite lineage's segments do not cover the transactions a restore needs: it
    /// refuses rather than return an older database than asked for.
    #[error(
        "sqlite database {database}: lineage {lineage} has a gap: transactions \
         {from}..={to} are missing (no segment starts at {from}); refusing to restore \
         a database older than asked for"
    )]
    ChainGap {
        /// The database's name (its path in the volume).
        database: String,
        /// The lineage id (first 8 hex digits).
        lineage: String,
        /// The first missing transaction.
        from: u64,
        /// The last missing transaction.
        to: u64,
    },
    /// A restore target already holds entries and no overwrite mode was chosen.
    #[error(
        "target {} is not empty ({entries} {}, e.g. {example:?}): choose --overwrite always|if-changed|never (with --dry-run to see what it would change)",
        target.display(),
        if *entries == 1 { "entry" } else { "entries" }
    )]
    TargetNotEmpty {
        /// The target directory.
        target: PathBuf,
        /// How many entries it holds.
        entries: u64,
        /// One of them.
        example: String,
    },
}

impl Error {
    /// A [`Error::Corrupt`] for `object`.
    pub fn corrupt(object: impl std::fmt::Display, reason: impl std::fmt::Display) -> Self {
        Error::Corrupt {
            object: object.to_string(),
            reason: reason.to_string(),
        }
    }

    /// A [`Error::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// True when the cause is the caller's input (exit code 2 in the CLI).
    pub fn is_input(&self) -> bool {
        matches!(
            self,
            Error::Invalid(_)
                | Error::TargetNotEmpty { .. }
                | Error::AmbiguousLatest { .. }
                | Error::AmbiguousPrefix { .. }
        )
    }

    /// True when the store was unavailable (refused, stalled or throttled past its
    /// retries): not damage, and trying again later may work.
    pub fn is_unavailable(&self) -> bool {
        match self {
            Error::Unavailable(_) => true,
            Error::Store(e) => e
                .downcast_ref::<holdfast_store::Error>()
                .is_some_and(|e| e.kind() == holdfast_store::ErrorKind::Unavailable),
            _ => false,
        }
    }

    /// A [`Error::Internal`] for a task that could not be joined.
    pub fn task(what: &str, e: impl std::fmt::Display) -> Self {
        Error::Internal(format!("{what}: {e}"))
    }

    /// A [`Error::NotFound`] for `what`.
    pub fn not_found(what: impl std::fmt::Display) -> Self {
        Error::NotFound {
            what: what.to_string(),
        }
    }
}
