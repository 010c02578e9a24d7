//! `holdfast repair index [--yes]`: rebuilds the index from the packs' own trailers when
//! index files are damaged or missing. `holdfast repair snapshots [--yes] [--forget]`:
//! rewrites the snapshots whose files lost data, leaving those files out. Without `--yes`
//! both only say what they would do.

use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use holdfast_repo::{RepairIndexOptions, RepairSnapshotsOptions};

use crate::context::{self, out, outln};
use crate::exit::{self, Failure};
use crate::global::GlobalArgs;

/// Flags of `holdfast repair`.
#[derive(Debug, Args)]
pub struct RepairArgs {
    /// What to repair.
    #[command(subcommand)]
    pub what: RepairWhat,
}

/// What `holdfast repair` can repair.
#[derive(Debug, Subcommand)]
pub enum RepairWhat {
    /// Rebuild the index from the packs' trailers (dry run without --yes).
    #[command(after_help = "Examples:\n  holdfast repair index\n  holdfast repair index --yes")]
    Index(RepairIndexArgs),
    /// Rewrite snapshots whose files lost data, leaving those files out (dry run without
    /// --yes); the repaired copy is tagged `repaired`.
    #[command(
        after_help = "Examples:\n  holdfast repair snapshots\n  holdfast repair snapshots --yes --forget"
    )]
    Snapshots(RepairSnapshotsArgs),
}

/// Flags of `holdfast repair snapshots`.
#[derive(Debug, Args)]
pub struct RepairSnapshotsArgs {
    /// Write the repaired snapshots (without it, only report what would be done).
    #[arg(long)]
    pub yes: bool,
    /// Delete each original once its repaired copy is written.
    #[arg(long)]
    pub forget: bool,
}

/// Flags of `holdfast repair index`.
#[derive(Debug, Args)]
pub struct RepairIndexArgs {
    /// Write the new index (without it, only report what would be done).
    #[arg(long)]
    pub yes: bool,
}

/// Runs `holdfast repair`.
pub async fn run(g: &GlobalArgs, args: RepairArgs) -> Result<ExitCode, Failure> {
    match args.what {
        RepairWhat::Index(a) => index(g, a).await,
        RepairWhat::Snapshots(a) => snapshots(g, a).await,
    }
}

async fn snapshots(g: &GlobalArgs, args: RepairSnapshotsArgs) -> Result<ExitCode, Failure> {
    let repo = context::open_repo(g).await?;
    let cancel = tokio_util::sync::CancellationToken::new();
    crate::interrupt::Interrupt::cancelling(cancel.clone());
    let opts = RepairSnapshotsOptions {
        dry_run: !args.yes,
        forget: args.forget,
        cancel,
        ..RepairSnapshotsOptions::default()
    };
    let report = holdfast_repo::repair_snapshots(&repo, &opts)
        .await
        .context("repairing snapshots")?;
    if g.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&report).context("encoding report")?
        );
    } else {
        out!("{}", holdfast_repo::repair::text::snapshots(&report));
    }
    Ok(ExitCode::SUCCESS)
}

async fn index(g: &GlobalArgs, args: RepairIndexArgs) -> Result<ExitCode, Failure> {
    let repo = context::open_repo(g).await?;
    let cancel = tokio_util::sync::CancellationToken::new();
    crate::interrupt::Interrupt::cancelling(cancel.clone());
    let opts = RepairIndexOptions {
        dry_run: !args.yes,
        cancel,
        ..RepairIndexOptions::default()
    };
    let report = holdfast_repo::repair_index(&repo, &opts)
        .await
        .context("repairing the index")?;
    if g.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&report).context("encoding report")?
        );
    } else {
        out!("{}", holdfast_repo::repair::text::index(&report));
    }
    Ok(exit::problems_if(!report.packs_damaged.is_empty()))
}
