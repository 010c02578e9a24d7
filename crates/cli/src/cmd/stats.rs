//! `holdfast stats`: raw size, deduplicated size, stored size and compression ratio, per
//! volume and in total ([`holdfast_repo::stats`]).

use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use crate::context::{self, out, outln};
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
    out!("{}", holdfast_repo::tools::text::stats(&stats));
    Ok(ExitCode::SUCCESS)
}
