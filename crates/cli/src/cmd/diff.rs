//! `holdfast diff A B`: paths added (+), removed (-), modified (M) or with changed
//! metadata only (U) from snapshot A to snapshot B.

use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use crate::context::{self, out, outln};
use crate::exit::Failure;
use crate::global::GlobalArgs;

/// Flags of `holdfast diff`.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The older snapshot.
    pub a: String,
    /// The newer snapshot.
    pub b: String,
}

/// Runs `holdfast diff`.
pub async fn run(g: &GlobalArgs, args: DiffArgs) -> Result<ExitCode, Failure> {
    let repo = context::open_indexed(g).await?;
    let (_, a) = crate::select::find(g, &repo, &args.a, None).await?;
    let (_, b) = crate::select::find(g, &repo, &args.b, None).await?;
    let changes = holdfast_repo::diff(&repo, &a, &b)
        .await
        .map_err(context::fail)?;
    if g.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&changes).context("encoding diff")?
        );
        return Ok(ExitCode::SUCCESS);
    }
    out!("{}", holdfast_repo::browse::text::diff(&changes));
    Ok(ExitCode::SUCCESS)
}
