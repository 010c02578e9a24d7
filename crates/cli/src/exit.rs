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
    crate::global::stderr_line(tracing::Level::ERROR, &chain_line(&failure.error));
    ExitCode::from(failure.code)
}

/// The error chain as one line, `outer: cause: root cause`, each cause said once: a
/// cause whose text the messages before it already contain (a library error that
/// formats its source into its own message) is left out, and so is an empty one. A store
/// error ends the line: its message already says the cause in a few words, and the
/// backend's errors beneath it repeat it with the whole request context.
pub fn chain_line(error: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in error.chain() {
        let text = cause.to_string();
        let text = text.trim();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(text)) {
            parts.push(text.to_string());
        }
        if cause.is::<holdfast_store::Error>() {
            break;
        }
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A library error that formats its source into its own message.
    #[derive(Debug)]
    struct Inner {
        path: String,
        source: std::io::Error,
    }

    impl std::fmt::Display for Inner {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "reading {}: {}", self.path, self.source)
        }
    }

    impl std::error::Error for Inner {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.source)
        }
    }

    #[test]
    fn a_cause_already_in_the_message_is_said_once() {
        let io = std::io::Error::from(std::io::ErrorKind::NotFound);
        let io_text = io.to_string();
        let e = anyhow::Error::from(Inner {
            path: "x/y".into(),
            source: io,
        })
        .context("opening repository file:///r");
        let line = chain_line(&e);
        assert_eq!(line.matches(&io_text).count(), 1, "{line}");
        assert!(
            line.starts_with("opening repository file:///r: reading x/y: "),
            "{line}"
        );
    }
}
