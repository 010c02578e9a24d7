//! What several commands share, so that no command imports another: the flags of the
//! agent's listener (`serve`, `run`), how long a command waits for its notifications,
//! and the lock retry flag (`forget`, `prune`).

use std::net::SocketAddr;
use std::time::Duration;

use clap::Args;
use holdfast_repo::LockOptions;

/// How long a command waits for queued notifications before it exits.
pub const FLUSH_LIMIT: Duration = Duration::from_secs(15);

/// The address `serve` and `run` listen on by default: loopback, on a port apps rarely
/// take (`$PORT` is usually 3000, 5000, 8000 or 8080).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8425";

/// Flags of `holdfast serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port (the address is printed on stderr).
    /// Use 0.0.0.0:8425 to be reachable from a private network (set HOLDFAST_API_TOKEN).
    #[arg(
        long,
        value_name = "ADDR",
        default_value = DEFAULT_LISTEN,
        env = "HOLDFAST_LISTEN"
    )]
    pub listen: SocketAddr,
}

/// Lock options that wait up to `retry` for a conflicting lock to go away.
pub fn lock_options(retry: Option<holdfast_volume::units::HumanDuration>) -> LockOptions {
    LockOptions {
        wait: retry.map(|d| d.get()).unwrap_or_default(),
        ..LockOptions::default()
    }
}
