//! `holdfast backup [PATH…] [--volume NAME]`: one snapshot per path, or, without paths,
//! one per configured volume (with consistent copies of its databases, between the
//! `[hooks]`); exit 3 when a snapshot is incomplete.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use holdfast_repo::{BackupOptions, BackupProgress};

use crate::context::{self, outln};
use crate::exit::{self, Failure};
use crate::global::{GlobalArgs, LogFormat};

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

pub(crate) fn progress_bar(progress: Arc<BackupProgress>) -> Option<tokio::task::JoinHandle<()>> {
    if !std::io::stderr().is_terminal() || crate::global::log_format() == LogFormat::Json {
        return None;
    }
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {elapsed} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        loop {
            tick.tick().await;
            let files = progress.files.load(Ordering::Relaxed);
            let bytes = progress.bytes.load(Ordering::Relaxed);
            bar.set_message(format!("{files} files, {}", indicatif::HumanBytes(bytes)));
            bar.tick();
        }
    }))
}

/// Runs `holdfast backup`.
pub async fn run(g: &GlobalArgs, args: BackupArgs) -> Result<ExitCode, Failure> {
    if args.paths.is_empty() {
        return volumes::run(g, &args).await;
    }
    let mut repo = context::open_indexed(g).await?;
    let mut incomplete = false;
    // SIGINT/SIGTERM stop the backup without committing and remove its lock.
    let cancel = tokio_util::sync::CancellationToken::new();
    tokio::spawn(crate::cmd::serve::stop_on_signal(cancel.clone()));
    for path in &args.paths {
        let progress = Arc::new(BackupProgress::default());
        let mut opts = BackupOptions::new(path);
        opts.cancel = cancel.clone();
        opts.tags = args.tags.clone();
        opts.time = args.time.map(|t| t.with_timezone(&chrono::Utc));
        opts.excludes = args.excludes.clone();
        opts.progress = Some(progress.clone());
        let bar = if g.json || g.quiet {
            None
        } else {
            progress_bar(progress)
        };
        let result = holdfast_repo::backup(&mut repo, &opts).await;
        if let Some(b) = bar {
            b.abort();
            eprint!("\r\x1b[2K");
        }
        let summary = result.with_context(|| format!("backing up {}", path.display()))?;
        incomplete |= report(g, &summary)?;
    }
    Ok(exit::problems_if(incomplete))
}

/// Prints one snapshot's summary (a JSON line with `--json`) and its warnings; true when
/// the snapshot is incomplete.
pub(crate) fn report(
    g: &GlobalArgs,
    summary: &holdfast_repo::BackupSummary,
) -> anyhow::Result<bool> {
    {
        let s = &summary.snapshot;
        if g.json {
            let line = serde_json::json!({
                "snapshot": summary.id.to_hex(),
                "files": s.files,
                "size": s.size,
                "added": s.added,
                "duration_s": summary.duration.as_secs_f64(),
            });
            outln!("{line}");
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
        }
        for e in &s.errors {
            crate::global::stderr_line(tracing::Level::WARN, &e.to_string());
        }
        Ok(s.incomplete)
    }
}
