//! `holdfast serve [--listen ADDR]`: the scheduler, the HTTP API and the status page,
//! without a child process. SIGTERM or SIGINT stops accepting requests, lets running
//! requests and a running job finish, then exits 0; a second signal exits at once.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Args;
use tokio_util::sync::CancellationToken;

use crate::exit::Failure;
use crate::global::GlobalArgs;
use holdfast_agent::{ServeOptions, serve};

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

/// Runs `holdfast serve`.
pub async fn run(g: &GlobalArgs, args: ServeArgs) -> Result<ExitCode, Failure> {
    let config = crate::context::load_config(g)?;
    let repo = crate::context::access(g)?;
    let token = std::env::var("HOLDFAST_API_TOKEN")
        .ok()
        .filter(|t| !t.is_empty());
    let shutdown = CancellationToken::new();
    // The first SIGTERM or SIGINT shuts down; a second one exits at once (a running
    // backup is then abandoned: no snapshot, only data a later backup adopts).
    crate::interrupt::Interrupt::cancelling(shutdown.clone());
    let opts = ServeOptions {
        config,
        listen: args.listen,
        token,
        repo,
    };
    serve(opts, shutdown).await.map_err(anyhow::Error::from)?;
    Ok(ExitCode::SUCCESS)
}
