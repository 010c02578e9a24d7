//! `holdfast ls SNAPSHOT [PATH]`: lists the entries of a snapshot.

use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use holdfast_repo::LsOptions;
use holdfast_repo::browse::text;

use crate::context::{self, out, outln};
use crate::exit::Failure;
use crate::global::GlobalArgs;

/// Flags of `holdfast ls`.
#[derive(Debug, Args)]
pub struct LsArgs {
    /// Snapshot: id prefix, `latest`, `latest:VOLUME`, `latest:/PATH`, each with an
    /// optional `~N`.
    pub snapshot: String,
    /// Only this path (relative to the snapshot root) and what is below it.
    pub path: Option<String>,
}

/// Runs `holdfast ls`.
pub async fn run(g: &GlobalArgs, args: LsArgs) -> Result<ExitCode, Failure> {
    let repo = context::open_indexed(g).await?;
    let (_, snap) = crate::select::find(g, &repo, &args.snapshot, None).await?;
    let entries = holdfast_repo::ls(&repo, &snap, &LsOptions { path: args.path })
        .await
        .map_err(context::fail)?;
    if g.json {
        let out = text::ls_json(&entries);
        outln!(
            "{}",
            serde_json::to_string_pretty(&out).context("encoding entries")?
        );
        return Ok(ExitCode::SUCCESS);
    }
    out!("{}", text::ls(&entries));
    Ok(ExitCode::SUCCESS)
}
