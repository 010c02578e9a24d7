//! A verify report as text, as `holdfast verify` prints it: each problem with the
//! snapshots and paths it affects, then one line of counts. The JSON form is
//! [`VerifyReport`]'s own serialisation.

use std::fmt::Write as _;

use super::VerifyReport;
use crate::text::count;

/// Every problem, with the snapshots and paths it affects.
pub fn problems(report: &VerifyReport) -> String {
    let mut out = String::new();
    for p in &report.problems {
        let _ = writeln!(out, "DAMAGED {}: {}", p.object, p.error);
        for s in &p.snapshots {
            let _ = writeln!(out, "  snapshot {s}");
        }
        for path in &p.paths {
            let _ = writeln!(out, "  path {path}");
        }
    }
    out
}

/// The line of counts: snapshots, packs, blobs, the packs read when `reads`, and the
/// problems found.
pub fn counts(report: &VerifyReport, reads: bool) -> String {
    let read = if reads {
        format!(", {} read", count(report.packs_read, "pack"))
    } else {
        String::new()
    };
    let found = match report.problems.len() {
        0 => "no problems".to_owned(),
        n => count(n, "problem"),
    };
    format!(
        "{}, {}, {}{read}: {found}",
        count(report.snapshots, "snapshot"),
        count(report.packs, "pack"),
        count(report.blobs, "blob"),
    )
}
