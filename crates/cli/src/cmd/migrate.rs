//! `holdfast migrate SRC DST`: copies a volume to a new directory with its metadata (or
//! into a store URL, with the metadata in a manifest object), in parallel, skipping what is
//! already there, then verifies both sides by BLAKE3 hash.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use holdfast_store::Store;
use holdfast_volume::migrate::{MigrateOptions, migrate, migrate_to_store, text};

use crate::exit::Failure;
use crate::global::GlobalArgs;

/// Flags of `holdfast migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The volume directory to copy (only read).
    pub src: PathBuf,
    /// The new directory (created if missing; must not overlap SRC), or a store URL
    /// (file:///…, s3://bucket/prefix, azblob://…): files become objects and their
    /// metadata goes to a manifest object.
    pub dst: PathBuf,
    /// Parallel copy workers (default: 2–4 by CPU count).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=16))]
    pub workers: Option<u16>,
}

/// Runs `holdfast migrate`.
pub async fn run(g: &GlobalArgs, args: MigrateArgs) -> Result<ExitCode, Failure> {
    let mut opts = MigrateOptions::default();
    if let Some(n) = args.workers {
        opts.workers = usize::from(n);
    }
    let progress = std::sync::Arc::new(holdfast_repo::Progress::default());
    opts.progress = Some(progress.clone());
    let bar = crate::progress::show(g, progress, crate::progress::Unit::Bytes);
    let dst_text = args.dst.to_string_lossy().into_owned();
    let report = if dst_text.contains("://") {
        let store = Store::open(&dst_text).map_err(|e| Failure::usage(anyhow::Error::from(e)))?;
        migrate_to_store(&args.src, &store, &opts)
            .await
            .map_err(anyhow::Error::from)?
    } else {
        let (src, dst) = (args.src.clone(), args.dst.clone());
        tokio::task::spawn_blocking(move || migrate(&src, &dst, &opts))
            .await
            .context("migrate panicked")?
            .map_err(anyhow::Error::from)?
    };
    drop(bar);
    if g.json {
        println!(
            "{}",
            serde_json::to_string(&report).context("encoding report")?
        );
    } else if !g.quiet {
        let to_store = dst_text.contains("://");
        print!("{}", text::render(&report, &args.src, &args.dst, to_store));
    }
    Ok(ExitCode::SUCCESS)
}
