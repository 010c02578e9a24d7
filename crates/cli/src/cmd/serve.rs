//! `holdfast serve [--listen ADDR]`: the scheduler, the HTTP API and the status page,
//! without a child process. SIGTERM or SIGINT stops accepting requests, lets running
//! requests and a running job finish, then exits 0; a second signal exits at once.

use std::process::ExitCode;

use tokio_util::sync::CancellationToken;

use crate::exit::Failure;
use crate::global::GlobalArgs;
use holdfast_agent::{Agent, AgentOptions};

/// Runs `holdfast serve`.
pub async fn run(g: &GlobalArgs, args: crate::common::ServeArgs) -> Result<ExitCode, Failure> {
    let config = crate::context::load_config(g)?;
    let repo = crate::context::access(g)?;
    let token = std::env::var("HOLDFAST_API_TOKEN")
        .ok()
        .filter(|t| !t.is_empty());
    let shutdown = CancellationToken::new();
    // The first SIGTERM or SIGINT shuts down; a second one exits at once (a running
    // backup is then abandoned: no snapshot, only data a later backup adopts).
    crate::interrupt::Interrupt::cancelling(shutdown.clone());
    let agent = Agent::new(AgentOptions {
        config,
        listen: args.listen,
        token,
        repo,
    });
    agent.run(shutdown).await.map_err(anyhow::Error::from)?;
    Ok(ExitCode::SUCCESS)
}
