//! `holdfast backup [PATH…] [--volume NAME]`: one snapshot per path, or, without paths,
//! one per configured volume (with consistent copies of its databases, between the
//! `[hooks]`); exit 3 when a snapshot is incomplete.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use holdfast_repo::{BackupOptions, BackupProgress, BackupReport};

use crate::context::{self, outln};
use crate::exit::{self, Failure};
use crate::global::GlobalArgs;

pub(crate) mod volumes;

/// Flags of `holdfast backup`.
#[derive(Debug, Args)]
pub struct BackupArgs {
    /// Directories (or files) to back up; each becomes one snapshot. Without paths, every
    /// volume of holdfast.toml (or those named with --volume).
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Back up only this configured volume (repeatable).
    #[arg(long = "volume", value_name = "NAME", conflicts_with = "paths")]
    pub volumes: Vec<String>,
    /// Tag the snapshots (repeatable).
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Snapshot time instead of now (RFC 3339).
    #[arg(long, value_name = "RFC3339")]
    pub time: Option<chrono::DateTime<chrono::FixedOffset>>,
    /// Leave out entries matching a glob (a name at any depth, or a path with `/`).
    #[arg(long = "exclude", value_name = "GLOB")]
    pub excludes: Vec<String>,
}

/// Runs `holdfast backup`.
pub async fn run(g: &GlobalArgs, args: BackupArgs) -> Result<ExitCode, Failure> {
    if args.paths.is_empty() {
        return volumes::run(g, &args).await;
    }
    // The backup loads the index under its lock; none is loaded before it.
    let mut repo = holdfast_repo::IndexedRepository::without_index(context::open_repo(g).await?);
    let mut incomplete = false;
    let mut reports = Vec::new();
    // SIGINT/SIGTERM stop the backup without committing and remove its lock.
    let interrupt = crate::interrupt::Interrupt::listen();
    for (i, path) in args.paths.iter().enumerate() {
        let progress = Arc::new(BackupProgress::default());
        let mut opts = BackupOptions::new(path);
        opts.cancel = interrupt.token.clone();
        opts.tags = args.tags.clone();
        opts.time = args.time.map(|t| t.with_timezone(&chrono::Utc));
        opts.excludes = args.excludes.clone();
        opts.progress = Some(progress.clone());
        let bar = crate::progress::show_backup(g, progress, vec![path.clone()]);
        let result = holdfast_repo::backup(&mut repo, &opts).await;
        drop(bar);
        if let (Err(_), Some(signal)) = (&result, interrupt.received()) {
            return Err(interrupted(signal, path, i > 0));
        }
        let summary = result.with_context(|| format!("backing up {}", path.display()))?;
        incomplete |= report(g, &summary, &mut reports)?;
    }
    print_reports(g, &reports)?;
    Ok(exit::problems_if(incomplete))
}

/// The failure of a backup stopped by `signal` while it backed up `path` (exit 130 or
/// 143); `earlier` is true when snapshots of earlier paths were committed.
fn interrupted(signal: crate::interrupt::Signal, path: &std::path::Path, earlier: bool) -> Failure {
    let done = if earlier {
        "nothing of it was committed (the snapshots before it were)"
    } else {
        "nothing was committed; the repository is unchanged"
    };
    Failure {
        error: anyhow::anyhow!(
            "backup of {} cancelled by {}: {done}; run the backup again to continue",
            path.display(),
            signal.name()
        ),
        code: signal.exit_code(),
    }
}

/// Prints one snapshot's summary (with `--json`, keeps its report for [`print_reports`])
/// and its warnings; true when the snapshot is incomplete or flagged shrunk (exit 3).
pub(crate) fn report(
    g: &GlobalArgs,
    summary: &holdfast_repo::BackupSummary,
    reports: &mut Vec<BackupReport>,
) -> anyhow::Result<bool> {
    let s = &summary.snapshot;
    if g.json {
        reports.push(BackupReport::new(summary.id, s, summary.duration));
    } else if !g.quiet {
        outln!(
            "snapshot {} of {}: {} files, {}, {} added in {:.1}s{}",
            summary.id.short(),
            s.root,
            s.files,
            indicatif::HumanBytes(s.size),
            indicatif::HumanBytes(s.added),
            summary.duration.as_secs_f64(),
            if s.incomplete { " (INCOMPLETE)" } else { "" }
        );
        let c = &summary.changes;
        outln!(
            "  Files: {} new, {} changed, {} unmodified",
            c.new,
            c.changed,
            c.unmodified
        );
    }
    for e in &s.errors {
        crate::global::stderr_line(tracing::Level::WARN, &e.to_string());
    }
    if let Some(note) = crate::select::shrunk_warning(summary.id, s) {
        crate::global::stderr_note(tracing::Level::WARN, &note, "");
    }
    Ok(s.incomplete || s.shrunk.is_some())
}

/// With `--json`, prints the reports of the snapshots committed: one array, the shape
/// backup jobs of the HTTP API report (docs/JSON.md).
pub(crate) fn print_reports(g: &GlobalArgs, reports: &[BackupReport]) -> anyhow::Result<()> {
    if g.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(reports).context("encoding the backup reports")?
        );
    }
    Ok(())
}
