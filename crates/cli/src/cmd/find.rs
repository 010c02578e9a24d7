//! `holdfast find PATTERN`: which snapshots hold a matching entry, with its size and
//! modification time ([`holdfast_repo::find`]).

use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use holdfast_repo::tools::FindOptions;

use crate::context::{self, out, outln};
use crate::exit::Failure;
use crate::filter::FilterArgs;
use crate::global::GlobalArgs;

/// Flags of `holdfast find`.
#[derive(Debug, Args)]
pub struct FindArgs {
    /// Glob: a name (`*.db`) matched at any depth, or a path (`db/*.db`, `**/x`)
    /// matched from the snapshot's root.
    pub pattern: String,
    #[command(flatten)]
    pub filter: FilterArgs,
}

/// Runs `holdfast find`.
pub async fn run(g: &GlobalArgs, args: FindArgs) -> Result<ExitCode, Failure> {
    let opts = FindOptions {
        pattern: args.pattern,
        filter: args.filter.filter()?,
    };
    let repo = context::open_indexed(g).await?;
    let found = holdfast_repo::find(&repo, &opts)
        .await
        .map_err(context::fail)?;
    if g.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&found).context("encoding matches")?
        );
        return Ok(ExitCode::SUCCESS);
    }
    out!("{}", holdfast_repo::tools::text::found(&found));
    if found.is_empty() && !g.quiet {
        eprintln!("holdfast: no match");
    }
    Ok(ExitCode::SUCCESS)
}
