//! `holdfast verify [--read-data]`: checks the repository; exit 3 when damage is found,
//! each problem listed with the paths and snapshots it affects.

use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use holdfast_repo::VerifyOptions;

use crate::context::{self, outln};
use crate::exit::{self, Failure};
use crate::global::GlobalArgs;

/// Flags of `holdfast verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Also read every pack back and authenticate every blob.
    #[arg(long)]
    pub read_data: bool,
}

/// Runs `holdfast verify`.
pub async fn run(g: &GlobalArgs, args: VerifyArgs) -> Result<ExitCode, Failure> {
    let repo = context::open_repo(g).await?;
    let report = holdfast_repo::verify(
        &repo,
        &VerifyOptions {
            read_data: args.read_data,
        },
    )
    .await
    .context("verifying the repository")?;
    if g.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&report).context("encoding report")?
        );
    } else {
        for p in &report.problems {
            outln!("DAMAGED {}: {}", p.object, p.error);
            for s in &p.snapshots {
                outln!("  snapshot {s}");
            }
            for path in &p.paths {
                outln!("  path {path}");
            }
        }
        if !g.quiet {
            outln!(
                "{} snapshots, {} packs, {} blobs{}: {}",
                report.snapshots,
                report.packs,
                report.blobs,
                if args.read_data {
                    format!(", {} packs read", report.packs_read)
                } else {
                    String::new()
                },
                if report.problems.is_empty() {
                    "no problems".to_owned()
                } else {
                    format!("{} problems", report.problems.len())
                }
            );
        }
    }
    Ok(exit::problems_if(!report.problems.is_empty()))
}
