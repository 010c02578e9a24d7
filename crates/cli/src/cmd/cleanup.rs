//! `holdfast cleanup PATH --older-than DUR [--filter GLOB] [--dry-run]`: deletes files
//! older than DUR in a directory or under a store URL and reports count and bytes. A
//! directory inside a configured volume passes that volume's guard first (an unmounted
//! volume or one with an interrupted restore pending is left alone, exit 3).

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, anyhow};
use clap::Args;
use holdfast_volume::cleanup::{CleanupError, CleanupOptions, cleanup_path};
use holdfast_volume::guard::{self, Door};
use holdfast_volume::units::parse_duration;

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
    let opts = CleanupOptions {
        older_than: args.older_than,
        filter: args.filter.clone(),
        dry_run: args.dry_run,
        now: None,
    };
    if !args.path.contains("://")
        && let Some(config) = holdfast_volume::config::Config::load_optional(&g.config)
            .map_err(anyhow::Error::from)?
        && let Some(volume) = guard::volume_of(&config, std::path::Path::new(&args.path))
    {
        guard::enter(volume, Door::Write).map_err(|r| Failure {
            error: anyhow!("{r}; nothing was deleted"),
            code: crate::exit::PROBLEMS,
        })?;
    }
    let report = cleanup_path(&args.path, &opts).await.map_err(|e| match e {
        CleanupError::NotADirectory { .. } | CleanupError::BadFilter { .. } => {
            Failure::usage(anyhow::Error::from(e))
        }
        other => Failure::from(anyhow::Error::from(other)),
    })?;
    for problem in &report.problems {
        crate::global::stderr_line(tracing::Level::WARN, &problem.to_string());
    }
    if g.json {
        println!(
            "{}",
            serde_json::to_string(&report).context("encoding report")?
        );
    } else if !g.quiet {
        print!(
            "{}",
            holdfast_volume::cleanup::text::render(&report, args.dry_run)
        );
    }
    if report.errors > 0 {
        return Err(anyhow!(
            "{} could not be inspected or deleted",
            holdfast_repo::text::count(report.errors, "file")
        )
        .into());
    }
    Ok(ExitCode::SUCCESS)
}
