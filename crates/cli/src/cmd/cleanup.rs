//! `holdfast cleanup PATH --older-than DUR [--filter GLOB] [--dry-run]`: deletes files
//! older than DUR in a directory or under a store URL and reports count and bytes.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, anyhow};
use clap::Args;
use futures::StreamExt;
use holdfast_store::{ListOptions, Store};
use holdfast_volume::cleanup::{CleanupOptions, CleanupReport, cleanup_dir};
use holdfast_volume::units::{format_size, parse_duration};

use crate::exit::Failure;
use crate::global::GlobalArgs;

/// Flags of `holdfast cleanup`.
#[derive(Debug, Args)]
pub struct CleanupArgs {
    /// A directory, or a store URL (file:///…, s3://bucket/prefix, azblob://…).
    pub path: String,
    /// Delete files last modified longer ago than this: 7d, 12h, 30m, 2w, 1d12h.
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    pub older_than: Duration,
    /// Only files matching this glob (on the name; on the relative path if it has a `/`).
    #[arg(long, value_name = "GLOB")]
    pub filter: Option<String>,
    /// Only list what would be deleted.
    #[arg(long)]
    pub dry_run: bool,
}

/// Runs `holdfast cleanup`.
pub async fn run(g: &GlobalArgs, args: CleanupArgs) -> Result<ExitCode, Failure> {
    let report = if args.path.contains("://") {
        cleanup_store(g, &args).await?
    } else {
        let opts = CleanupOptions {
            older_than: args.older_than,
            filter: args.filter.clone(),
            dry_run: args.dry_run,
            now: None,
        };
        let dir = std::path::PathBuf::from(&args.path);
        let report = tokio::task::spawn_blocking(move || cleanup_dir(&dir, &opts))
            .await
            .context("cleanup panicked")?
            .map_err(|e| Failure::usage(anyhow::Error::from(e)))?;
        for problem in &report.problems {
            eprintln!("holdfast: warning: {problem}");
        }
        if !g.json && !g.quiet {
            for f in report.files.iter().filter(|f| f.error.is_none()) {
                let verb = if args.dry_run {
                    "would delete"
                } else {
                    "deleted"
                };
                println!("{verb} {} ({})", f.path.display(), format_size(f.size));
            }
        }
        report
    };
    print_summary(g, &args, &report)?;
    if report.errors > 0 {
        return Err(anyhow!(
            "{} file(s) could not be inspected or deleted",
            report.errors
        )
        .into());
    }
    Ok(ExitCode::SUCCESS)
}

fn print_summary(g: &GlobalArgs, args: &CleanupArgs, report: &CleanupReport) -> anyhow::Result<()> {
    if g.json {
        println!(
            "{}",
            serde_json::to_string(report).context("encoding report")?
        );
    } else if !g.quiet {
        let verb = if args.dry_run {
            "would delete"
        } else {
            "deleted"
        };
        println!(
            "{verb} {} file(s), {} ({} bytes); {} error(s)",
            report.deleted,
            format_size(report.bytes),
            report.bytes,
            report.errors
        );
    }
    Ok(())
}

/// Cleanup under a store URL: the store's own `delete_older_than` when nothing needs
/// listing, else a listing filtered here.
async fn cleanup_store(g: &GlobalArgs, args: &CleanupArgs) -> Result<CleanupReport, Failure> {
    let store = Store::open(&args.path).map_err(|e| Failure::usage(anyhow::Error::from(e)))?;
    let age = chrono::Duration::from_std(args.older_than).context("duration too large")?;
    let cutoff = chrono::Utc::now() - age;
    if args.filter.is_none() && !args.dry_run {
        let r = store
            .delete_older_than("", cutoff)
            .await
            .map_err(anyhow::Error::from)?;
        return Ok(CleanupReport {
            deleted: r.deleted,
            bytes: r.bytes,
            errors: r.errors,
            ..Default::default()
        });
    }
    let filter = args.filter.as_ref().map(|f| {
        if f.contains('/') {
            f.clone()
        } else {
            format!("**/{f}")
        }
    });
    let mut listing = store.list(
        "",
        ListOptions {
            recursive: true,
            filter,
        },
    );
    let mut report = CleanupReport::default();
    while let Some(item) = listing.next().await {
        let meta = match item {
            Ok(m) => m,
            Err(e) => {
                eprintln!("holdfast: warning: {e}");
                report.errors += 1;
                continue;
            }
        };
        if meta.modified.is_none_or(|m| m >= cutoff) {
            continue;
        }
        if !args.dry_run
            && let Err(e) = store.delete_file(&meta.key).await
        {
            eprintln!("holdfast: warning: {e}");
            report.errors += 1;
            continue;
        }
        if !g.json && !g.quiet {
            let verb = if args.dry_run {
                "would delete"
            } else {
                "deleted"
            };
            println!("{verb} {} ({})", meta.key, format_size(meta.size));
        }
        report.deleted += 1;
        report.bytes += meta.size;
    }
    Ok(report)
}
