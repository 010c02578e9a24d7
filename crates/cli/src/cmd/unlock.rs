//! `holdfast unlock`: removes stale locks (not refreshed for 30 minutes, or held by a
//! process of this host that is gone); `--all` removes every lock.

use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use holdfast_repo::UnlockOptions;
use holdfast_repo::lock::text;

use crate::context::{self, out, outln};
use crate::exit::Failure;
use crate::global::GlobalArgs;

/// Flags of `holdfast unlock`.
#[derive(Debug, Args)]
pub struct UnlockArgs {
    /// Remove every lock, fresh ones too (only when no other holdfast uses the repository).
    #[arg(long)]
    pub all: bool,
}

/// Runs `holdfast unlock`.
pub async fn run(g: &GlobalArgs, args: UnlockArgs) -> Result<ExitCode, Failure> {
    let repo = context::open_repo(g).await?;
    if args.all {
        crate::global::stderr_line(
            tracing::Level::WARN,
            "removing every lock, fresh ones included; a backup or prune still running on \
             this repository is no longer protected",
        );
    }
    let opts = UnlockOptions {
        all: args.all,
        ..UnlockOptions::default()
    };
    let report = holdfast_repo::unlock(&repo, &opts)
        .await
        .context("removing locks")?;
    if g.json {
        let out = text::unlock_json(&report);
        outln!(
            "{}",
            serde_json::to_string_pretty(&out).context("encoding report")?
        );
        return Ok(ExitCode::SUCCESS);
    }
    out!("{}", text::unlock(&report));
    Ok(ExitCode::SUCCESS)
}
