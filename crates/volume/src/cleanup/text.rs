//! A cleanup report as text, as `holdfast cleanup` prints it: a line per file deleted
//! (or that would be), then the counts. The JSON form is [`CleanupReport`]'s own
//! serialisation.

use std::fmt::Write as _;

use holdfast_repo::text::count;

use super::CleanupReport;
use crate::units::format_size;

/// A line per file deleted without error, then files, bytes and errors; `dry_run` says
/// "would delete".
pub fn render(report: &CleanupReport, dry_run: bool) -> String {
    let verb = if dry_run { "would delete" } else { "deleted" };
    let mut out = String::new();
    for f in report.files.iter().filter(|f| f.error.is_none()) {
        let _ = writeln!(out, "{verb} {} ({})", f.path.display(), format_size(f.size));
    }
    let _ = writeln!(
        out,
        "{verb} {}, {} ({}); {}",
        count(report.deleted, "file"),
        format_size(report.bytes),
        count(report.bytes, "byte"),
        count(report.errors, "error")
    );
    out
}
