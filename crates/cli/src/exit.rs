//! Maps the outcome of a command to the process exit code and prints the error chain.

use std::io::ErrorKind;
use std::process::ExitCode;

/// Exit code for success.
pub const OK: u8 = 0;
/// Exit code for an error.
pub const ERROR: u8 = 1;
/// Exit code for bad usage (bad flags, bad arguments).
pub const USAGE: u8 = 2;
/// Exit code when a check (status, verify, lint, an incomplete backup) found problems.
pub const PROBLEMS: u8 = 3;

/// A failed command: the error and the exit code it maps to.
#[derive(Debug)]
pub struct Failure {
    /// The error chain to print.
    pub error: anyhow::Error,
    /// The process exit code.
    pub code: u8,
}

impl Failure {
    /// A usage error (exit 2).
    pub fn usage(error: impl Into<anyhow::Error>) -> Self {
        Failure {
            error: error.into(),
            code: USAGE,
        }
    }
}

impl From<anyhow::Error> for Failure {
    /// An error (exit 1), or a usage error (exit 2) when a holdfast.toml is invalid: a
    /// bad config is the user's input, whichever command read it.
    fn from(error: anyhow::Error) -> Self {
        let invalid_config = error.chain().any(|c| {
            matches!(
                c.downcast_ref::<holdfast_volume::config::ConfigError>(),
                Some(holdfast_volume::config::ConfigError::Invalid { .. })
            )
        });
        let code = if invalid_config { USAGE } else { ERROR };
        Failure { error, code }
    }
}

/// The exit code for a check that found problems (or not).
pub fn problems_if(found: bool) -> ExitCode {
    ExitCode::from(if found { PROBLEMS } else { OK })
}

/// Prints the error chain on stderr and returns its exit code; a broken pipe is success.
pub fn report(failure: &Failure) -> ExitCode {
    for cause in failure.error.chain() {
        if let Some(io) = cause.downcast_ref::<std::io::Error>()
            && io.kind() == ErrorKind::BrokenPipe
        {
            return ExitCode::SUCCESS;
        }
    }
    crate::global::stderr_line(tracing::Level::ERROR, &format!("{:#}", failure.error));
    ExitCode::from(failure.code)
}
