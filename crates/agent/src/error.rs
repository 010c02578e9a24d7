//! The one public error of the agent crate: what went wrong, with the repository,
//! volume, replica, job or path in the message, and the typed cause beneath it.
//!
//! An error that adds context (`reading password file …`, `opening replica …`,
//! `loading the index`) says only that context in its own message and keeps the cause
//! as its [`source`](std::error::Error::source), so a caller that prints the chain
//! (`outer: cause: root cause`, see [`chain`]) says each part once. [`Error::is_input`]
//! tells the caller's input or settings (no repository, no or wrong password, a bad
//! setting or cron expression, an invalid holdfast.toml) apart from failures of the
//! repository, the store or the machine; the HTTP edge maps that to a status code.

use std::fmt::Display;
use std::path::PathBuf;

use holdfast_volume::config::ConfigError;

/// Result with the agent [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the agent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No repository URL and no `STORAGE_TYPE`.
    #[error(
        "no repository given: pass --repo URL, set HOLDFAST_REPOSITORY, set [repository] \
         url in holdfast.toml, or set STORAGE_TYPE"
    )]
    NoRepository,
    /// No repository password from any source.
    #[error("{}", crate::access::NO_PASSWORD)]
    NoPassword,
    /// The environment variable that should hold a password is not set.
    #[error("environment variable {var} is not set")]
    PasswordEnvUnset {
        /// The variable.
        var: String,
    },
    /// The password file could not be read.
    #[error("reading password file {}", path.display())]
    PasswordFile {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The password file's first line is empty.
    #[error("password file {} is empty", path.display())]
    PasswordFileEmpty {
        /// The file.
        path: PathBuf,
    },
    /// The password command could not be run, failed or printed no password.
    #[error("{what}")]
    PasswordCommand {
        /// What went wrong, without the password.
        what: String,
        /// The cause, when there is one.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// A replica names neither `password_file` nor `password_env`.
    #[error("replica {replica}: set password_file or password_env")]
    ReplicaPassword {
        /// The replica's name.
        replica: String,
    },
    /// The password does not open the repository.
    #[error(
        "wrong password for repository {repo}: the password from {from} does not open it (if \
         it is right, the repository's `config` object may be damaged: `holdfast verify`)"
    )]
    WrongPassword {
        /// The repository (redacted URL).
        repo: String,
        /// Where the password came from.
        from: String,
    },
    /// No repository at the URL.
    #[error("no repository at {repo}: check the URL, or run `holdfast init` to create one there")]
    NotInitialized {
        /// The repository (redacted URL).
        repo: String,
    },
    /// A setting from the environment does not parse.
    #[error("{name}={text}")]
    Setting {
        /// The variable.
        name: String,
        /// Its value.
        text: String,
        /// Why it does not parse.
        #[source]
        source: holdfast_volume::units::UnitError,
    },
    /// A duration setting from the environment is zero.
    #[error("{name} must be more than zero")]
    ZeroSetting {
        /// The variable.
        name: String,
    },
    /// A scheduled job's cron expression does not parse.
    #[error("job {job}: bad cron expression {pattern:?}")]
    Cron {
        /// The job.
        job: String,
        /// The expression.
        pattern: String,
        /// Why it does not parse.
        #[source]
        source: croner::errors::CronError,
    },
    /// There is nothing to back up (no volume, or no volume of that name).
    #[error("no volume to back up")]
    NoVolume,
    /// A backup failure already logged, one line per volume: whoever ran the backup
    /// keeps the message for its status but does not log it a second time.
    #[error("{message}")]
    Logged {
        /// The failure, in one line.
        message: String,
    },
    /// `run` does not start the app: a volume failed the guard, or backups cannot run
    /// under `[alerts] require_backups = true` (each reason is said before).
    #[error("{message}")]
    StartRefused {
        /// How many checks failed and what was not started.
        message: String,
    },
    /// A restore into a live volume before the app starts (`restore_if_empty`,
    /// `restore_if_missing`) failed; the volume is as it was.
    #[error(transparent)]
    Restore(Box<dyn std::error::Error + Send + Sync + 'static>),
    /// `verify` or its restore drill found problems.
    #[error("{message}")]
    Problems {
        /// How many, and the first.
        message: String,
    },
    /// Context for the error beneath it: what was being done, with the path,
    /// repository, replica or object.
    #[error("{context}")]
    Context {
        /// What was being done.
        context: String,
        /// The cause: the library error itself (a store error, an invalid holdfast.toml,
        /// an I/O error), so a caller walking the chain finds its type.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    /// The repository failed.
    #[error(transparent)]
    Repo(#[from] holdfast_repo::Error),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] holdfast_store::Error),
    /// holdfast.toml could not be read or is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A volume's backup failed.
    #[error(transparent)]
    VolumeBackup(#[from] holdfast_volume::backup::VolumeBackupError),
    /// A cleanup job failed.
    #[error(transparent)]
    Cleanup(#[from] holdfast_volume::cleanup::CleanupError),
    /// The guard of a volume's door refused.
    #[error(transparent)]
    Refused(#[from] holdfast_volume::guard::Refusal),
    /// An I/O error (always beneath a [`Error::Context`] naming the path or socket).
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// A background task panicked or was cancelled.
    #[error(transparent)]
    Task(#[from] tokio::task::JoinError),
}

impl Error {
    /// True when the error is the caller's input or settings (repository, password,
    /// environment, cron, holdfast.toml), not a failure of the repository, the store or
    /// the machine.
    pub fn is_input(&self) -> bool {
        match self {
            Error::NoRepository
            | Error::NoPassword
            | Error::PasswordEnvUnset { .. }
            | Error::PasswordFile { .. }
            | Error::PasswordFileEmpty { .. }
            | Error::PasswordCommand { .. }
            | Error::ReplicaPassword { .. }
            | Error::WrongPassword { .. }
            | Error::NotInitialized { .. }
            | Error::Setting { .. }
            | Error::ZeroSetting { .. }
            | Error::Cron { .. }
            | Error::NoVolume
            | Error::Config(ConfigError::Invalid { .. }) => true,
            Error::Repo(e) => repo_input(e),
            Error::Context { source, .. } => {
                if let Some(e) = source.downcast_ref::<Error>() {
                    e.is_input()
                } else if let Some(e) = source.downcast_ref::<holdfast_repo::Error>() {
                    repo_input(e)
                } else {
                    matches!(
                        source.downcast_ref::<ConfigError>(),
                        Some(ConfigError::Invalid { .. })
                    )
                }
            }
            _ => false,
        }
    }

    /// The library error a wrapping variant holds, else the error itself: what a
    /// [`Error::Context`] keeps as its source.
    fn into_cause(self) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        match self {
            Error::Repo(e) => Box::new(e),
            Error::Store(e) => Box::new(e),
            Error::Config(e) => Box::new(e),
            Error::VolumeBackup(e) => Box::new(e),
            Error::Cleanup(e) => Box::new(e),
            Error::Refused(e) => Box::new(e),
            Error::Io(e) => Box::new(e),
            Error::Task(e) => Box::new(e),
            e => Box::new(e),
        }
    }

    /// True when the failure was logged already, one line per volume (see
    /// [`Error::Logged`]).
    pub fn is_logged(&self) -> bool {
        matches!(self, Error::Logged { .. })
    }

    /// Wraps `self` beneath `context`.
    pub fn context(self, context: impl Display) -> Error {
        Error::Context {
            context: context.to_string(),
            source: self.into_cause(),
        }
    }
}

/// A repository error that is the caller's input: a bad argument, a missing snapshot.
fn repo_input(e: &holdfast_repo::Error) -> bool {
    matches!(
        e,
        holdfast_repo::Error::Invalid(_) | holdfast_repo::Error::NotFound { .. }
    )
}

/// The error and its causes in one line, `outer: cause: root cause`, the way the
/// daemon's logs and statuses have always shown them.
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

/// Adds context to a result whose error converts into [`Error`].
pub(crate) trait Context<T> {
    /// Puts the error beneath `context`.
    fn context(self, context: impl Display) -> Result<T>;
    /// Puts the error beneath the context `f` builds (only on failure).
    fn with_context<C: Display>(self, f: impl FnOnce() -> C) -> Result<T>;
}

impl<T, E: Into<Error>> Context<T> for std::result::Result<T, E> {
    fn context(self, context: impl Display) -> Result<T> {
        self.map_err(|e| e.into().context(context))
    }

    fn with_context<C: Display>(self, f: impl FnOnce() -> C) -> Result<T> {
        self.map_err(|e| e.into().context(f()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The chain reads as a context error always has: the context, then each cause once.
    #[test]
    fn context_says_itself_and_keeps_its_cause() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "gone");
        let e: Result<()> = Err(io).context("reading /x");
        let e = e.expect_err("an error");
        assert_eq!(e.to_string(), "reading /x");
        assert_eq!(chain(&e), "reading /x: gone");
        assert!(!e.is_input());
        assert!(Error::NoPassword.context("opening").is_input());
        let store = holdfast_store::Store::open("bogus://x").expect_err("no such scheme");
        let e = Error::from(store).context("repository URL bogus://x");
        let mut causes =
            std::iter::successors(Some(&e as &(dyn std::error::Error + 'static)), |c| {
                c.source()
            });
        assert!(causes.any(|c| c.is::<holdfast_store::Error>()), "{e:?}");
        let store_text = std::error::Error::source(&e)
            .map(ToString::to_string)
            .unwrap_or_default();
        assert!(!store_text.is_empty());
        let line = chain(&e);
        assert!(line.starts_with(&format!("repository URL bogus://x: {store_text}")));
        assert!(
            !line.contains(&format!("{store_text}: {store_text}")),
            "{line}"
        );
    }
}
