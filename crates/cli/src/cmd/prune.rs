//! `holdfast prune`: removes the data no snapshot references (repacking packs that are
//! mostly unused) in two phases: unused packs are marked, and deleted by a later prune
//! after the grace period; `--instant-delete` deletes at once; `--dry-run` reports what
//! would be freed.

use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use holdfast_repo::PruneOptions;

use crate::context::{self, outln};
use crate::exit::Failure;
use crate::global::GlobalArgs;

/// Flags of `holdfast prune`.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Repack a pack when more than this share of it is unused (e.g. 5%, 0%, 100%).
    #[arg(long, value_name = "PERCENT", default_value = "5%", value_parser = parse_percent)]
    pub max_unused: f64,
    /// Report what would be freed; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Delete unused packs now instead of marking them for a later prune (only when no
    /// other holdfast process uses the repository meanwhile).
    #[arg(long)]
    pub instant_delete: bool,
    /// Wait up to DUR (e.g. 10m) for another operation's lock instead of failing at once.
    #[arg(long, value_name = "DUR")]
    pub retry_lock: Option<holdfast_volume::units::HumanDuration>,
}

fn parse_percent(s: &str) -> Result<f64, String> {
    let n: f64 = s
        .trim()
        .trim_end_matches('%')
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a percentage (e.g. 5%)"))?;
    if (0.0..=100.0).contains(&n) {
        Ok(n / 100.0)
    } else {
        Err(format!("{s:?} is not between 0% and 100%"))
    }
}

/// Runs `holdfast prune`.
pub async fn run(g: &GlobalArgs, args: PruneArgs) -> Result<ExitCode, Failure> {
    let repo = context::open_repo(g).await?;
    let opts = PruneOptions {
        max_unused: args.max_unused,
        dry_run: args.dry_run,
        instant_delete: args.instant_delete,
        lock: crate::common::lock_options(args.retry_lock),
        ..PruneOptions::default()
    };
    let report = holdfast_repo::prune(&repo, &opts)
        .await
        .map_err(context::fail)?;
    if g.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&report).context("encoding report")?
        );
    } else {
        context::out!("{}", holdfast_repo::prune::text::render(&report));
    }
    Ok(ExitCode::SUCCESS)
}
