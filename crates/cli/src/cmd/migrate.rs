//! `holdfast migrate SRC DST`: copies a volume to a new directory with its metadata, in
//! parallel, skipping what is already there, then verifies both sides by BLAKE3 hash.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, anyhow};
use clap::Args;
use holdfast_volume::migrate::{MigrateOptions, migrate};
use holdfast_volume::units::format_size;

use crate::exit::Failure;
use crate::global::GlobalArgs;

/// Flags of `holdfast migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The volume directory to copy (only read).
    pub src: PathBuf,
    /// The new directory (created if missing; must not overlap SRC).
    pub dst: PathBuf,
    /// Parallel copy workers (default: 2–4 by CPU count).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=16))]
    pub workers: Option<u16>,
}

/// Runs `holdfast migrate`.
pub async fn run(g: &GlobalArgs, args: MigrateArgs) -> Result<ExitCode, Failure> {
    if args.dst.to_string_lossy().contains("://") {
        return Err(Failure::usage(anyhow!(
            "migrate copies to a directory; to put a volume in a store use `holdfast backup`"
        )));
    }
    let mut opts = MigrateOptions::default();
    if let Some(n) = args.workers {
        opts.workers = usize::from(n);
    }
    let (src, dst) = (args.src.clone(), args.dst.clone());
    let report = tokio::task::spawn_blocking(move || migrate(&src, &dst, &opts))
        .await
        .context("migrate panicked")?
        .map_err(anyhow::Error::from)?;
    if g.json {
        println!(
            "{}",
            serde_json::to_string(&report).context("encoding report")?
        );
    } else if !g.quiet {
        println!(
            "{} file(s), {} in {} → {}: {} copied ({}), {} already there; {} symlink(s), {} \
             director(ies){}",
            report.files,
            format_size(report.bytes),
            args.src.display(),
            args.dst.display(),
            report.copied,
            format_size(report.copied_bytes),
            report.skipped,
            report.symlinks,
            report.dirs,
            if report.special > 0 {
                format!("; {} socket/FIFO/device node(s) skipped", report.special)
            } else {
                String::new()
            }
        );
        println!(
            "verified: every file's BLAKE3 hash matches on both sides ({:.1}s)",
            report.seconds
        );
    }
    Ok(ExitCode::SUCCESS)
}
