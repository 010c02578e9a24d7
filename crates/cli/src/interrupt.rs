//! SIGINT and SIGTERM for a command that stops cleanly (`backup`, `serve`, `verify`,
//! `copy`, `repair`): the first signal cancels the operation and is remembered, so the
//! command can say what it left behind and exit 130 (SIGINT) or 143 (SIGTERM), the codes
//! a shell gives a process stopped by that signal; a second signal exits at once with
//! the same code.

use std::sync::{Arc, OnceLock};

use tokio_util::sync::CancellationToken;

/// A signal that stops a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGINT (Ctrl-C).
    Int,
    /// SIGTERM (`kill`, `systemctl stop`, `docker stop`).
    Term,
}

impl Signal {
    /// The signal's name, `SIGINT` or `SIGTERM`.
    pub fn name(self) -> &'static str {
        match self {
            Signal::Int => "SIGINT",
            Signal::Term => "SIGTERM",
        }
    }

    /// The exit code of a command it stopped: 128 + the signal's number.
    pub fn exit_code(self) -> u8 {
        match self {
            Signal::Int => 130,
            Signal::Term => 143,
        }
    }
}

/// The cancellation of one command by a signal.
#[derive(Debug, Clone)]
pub struct Interrupt {
    /// Cancelled on the first SIGINT or SIGTERM.
    pub token: CancellationToken,
    received: Arc<OnceLock<Signal>>,
}

impl Interrupt {
    /// Starts listening for SIGINT and SIGTERM (inside the tokio runtime).
    pub fn listen() -> Self {
        Self::cancelling(CancellationToken::new())
    }

    /// Starts listening for SIGINT and SIGTERM; the first one cancels `token` (the
    /// shutdown of `serve`, the cancellation of `verify`, `copy`, `repair`).
    pub fn cancelling(token: CancellationToken) -> Self {
        let interrupt = Interrupt {
            token,
            received: Arc::new(OnceLock::new()),
        };
        tokio::spawn(wait(interrupt.clone()));
        interrupt
    }

    /// The signal that cancelled the command, if one did.
    pub fn received(&self) -> Option<Signal> {
        self.received.get().copied()
    }
}

async fn wait(interrupt: Interrupt) {
    use tokio::signal::unix::{SignalKind, signal};
    let (mut term, mut int) = match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(t), Ok(i)) => (t, i),
        (Err(e), _) | (_, Err(e)) => {
            tracing::warn!("cannot listen for signals: {e}");
            return;
        }
    };
    let first = tokio::select! {
        _ = term.recv() => Signal::Term,
        _ = int.recv() => Signal::Int,
    };
    tracing::info!("{}: shutting down", first.name());
    let _ = interrupt.received.set(first);
    interrupt.token.cancel();
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    crate::global::stderr_note(tracing::Level::WARN, "second signal: exiting now", "");
    std::process::exit(i32::from(first.exit_code()));
}
