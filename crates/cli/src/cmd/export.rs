//! `holdfast export SNAPSHOT --output FILE.tar[.zst]`: a tarball of the snapshot with
//! paths relative to its root.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use holdfast_repo::ExportOptions;

use crate::context::{self, outln};
use crate::exit::Failure;
use crate::global::GlobalArgs;

/// Flags of `holdfast export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Snapshot: id prefix, `latest`, `latest:VOLUME`, `latest:/PATH`, each with an
    /// optional `~N`.
    pub snapshot: String,
    /// Output file: `.tar`, or `.tar.zst` for zstd compression.
    #[arg(long, short, value_name = "FILE")]
    pub output: PathBuf,
}

/// Runs `holdfast export`.
pub async fn run(g: &GlobalArgs, args: ExportArgs) -> Result<ExitCode, Failure> {
    let repo = context::open_indexed(g).await?;
    let (id, snap) = crate::select::find(g, &repo, &args.snapshot, None).await?;
    let s = holdfast_repo::export(
        &repo,
        &snap,
        &ExportOptions {
            output: args.output.clone(),
        },
    )
    .await
    .with_context(|| {
        format!(
            "exporting snapshot {} to {}",
            id.short(),
            args.output.display()
        )
    })?;
    if g.json {
        outln!(
            "{}",
            serde_json::json!({"snapshot": id.to_hex(), "output": args.output, "entries": s.entries, "bytes": s.bytes})
        );
    } else if !g.quiet {
        outln!("{}", s.describe(id, &args.output));
    }
    Ok(ExitCode::SUCCESS)
}
