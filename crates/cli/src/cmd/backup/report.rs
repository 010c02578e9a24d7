//! What `holdfast backup` prints for each snapshot it commits, by paths or by volumes:
//! the summary ([`holdfast_repo::backup::text`]) or, with `--json`, one array of reports,
//! and the warnings of an incomplete or shrunk snapshot on stderr.

use anyhow::Context;
use holdfast_repo::BackupReport;

use crate::context::{out, outln};
use crate::global::GlobalArgs;

/// Prints one snapshot's summary (with `--json`, keeps its report for [`print_reports`])
/// and its warnings; true when the snapshot is incomplete or flagged shrunk (exit 3).
pub(super) fn report(
    g: &GlobalArgs,
    summary: &holdfast_repo::BackupSummary,
    reports: &mut Vec<BackupReport>,
) -> anyhow::Result<bool> {
    let s = &summary.snapshot;
    if g.json {
        reports.push(BackupReport::new(summary.id, s, summary.duration));
    } else if !g.quiet {
        out!("{}", holdfast_repo::backup::text::summary(summary));
    }
    for e in &s.errors {
        crate::global::stderr_line(tracing::Level::WARN, &e.to_string());
    }
    if let Some(note) = holdfast_repo::backup::text::shrunk_warning(summary.id, s) {
        crate::global::stderr_note(tracing::Level::WARN, &note, "");
    }
    Ok(s.incomplete || s.shrunk.is_some())
}

/// With `--json`, prints the reports of the snapshots committed: one array, the shape
/// backup jobs of the HTTP API report (docs/JSON.md).
pub(super) fn print_reports(g: &GlobalArgs, reports: &[BackupReport]) -> anyhow::Result<()> {
    if g.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(reports).context("encoding the backup reports")?
        );
    }
    Ok(())
}
