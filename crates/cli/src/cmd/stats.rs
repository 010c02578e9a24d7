//! `holdfast stats`: raw size, deduplicated size, stored size and compression ratio, per
//! volume and in total ([`holdfast_repo::stats`]).

use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use crate::context::{self, outln};
use crate::exit::Failure;
use crate::filter::FilterArgs;
use crate::global::GlobalArgs;

/// Flags of `holdfast stats`.
#[derive(Debug, Args)]
pub struct StatsArgs {
    #[command(flatten)]
    pub filter: FilterArgs,
}

/// Runs `holdfast stats`.
pub async fn run(g: &GlobalArgs, args: StatsArgs) -> Result<ExitCode, Failure> {
    let filter = args.filter.filter()?;
    let repo = context::open_indexed(g).await?;
    let stats = holdfast_repo::stats(&repo, &filter)
        .await
        .map_err(context::fail)?;
    if g.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&stats).context("encoding stats")?
        );
        return Ok(ExitCode::SUCCESS);
    }
    outln!(
        "{:<24} {:>9} {:>11} {:>13} {:>11} {:>11}",
        "GROUP",
        "SNAPSHOTS",
        "RAW",
        "DEDUPLICATED",
        "STORED",
        "COMPRESSION"
    );
    let h = |b: u64| indicatif::HumanBytes(b).to_string();
    for s in stats.groups.iter().chain(std::iter::once(&stats.total)) {
        outln!(
            "{:<24} {:>9} {:>11} {:>13} {:>11} {:>10.2}x",
            s.group,
            s.snapshots,
            h(s.raw),
            h(s.deduplicated),
            h(s.stored),
            s.compression_ratio
        );
    }
    outln!("packs: {} ({})", stats.packs, h(stats.packs_bytes));
    Ok(ExitCode::SUCCESS)
}
