//! The reports of `tag`, `stats` and `find` as text, as `holdfast tag`, `holdfast stats`
//! and `holdfast find` print them. The JSON forms are the reports' own serialisations.

use std::fmt::Write as _;

use super::{Found, Stats, TagReport};
use crate::text::bytes;

/// A line per snapshot re-tagged (its new id and tags) and per snapshot left unchanged.
pub fn tag(report: &TagReport) -> String {
    let mut out = String::new();
    for c in &report.changed {
        let _ = writeln!(
            out,
            "snapshot {} is now {} [{}]{}",
            c.old.short(),
            c.new.short(),
            c.tags.join(","),
            if c.cleared_shrunk {
                " (shrunk flag cleared: the deletion is accepted)"
            } else {
                ""
            }
        );
    }
    for u in &report.unchanged {
        let _ = writeln!(out, "snapshot {}: tags unchanged", u.short());
    }
    out
}

/// A table of the groups and their total (snapshots, raw, deduplicated and stored bytes,
/// compression), then the packs.
pub fn stats(stats: &Stats) -> String {
    let mut out = format!(
        "{:<24} {:>9} {:>11} {:>13} {:>11} {:>11}\n",
        "GROUP", "SNAPSHOTS", "RAW", "DEDUPLICATED", "STORED", "COMPRESSION"
    );
    for s in stats.groups.iter().chain(std::iter::once(&stats.total)) {
        let _ = writeln!(
            out,
            "{:<24} {:>9} {:>11} {:>13} {:>11} {:>10.2}x",
            s.group,
            s.snapshots,
            bytes(s.raw),
            bytes(s.deduplicated),
            bytes(s.stored),
            s.compression_ratio
        );
    }
    let _ = writeln!(out, "packs: {} ({})", stats.packs, bytes(stats.packs_bytes));
    out
}

/// The matches under a heading per snapshot: size, modification time and path.
pub fn found(found: &[Found]) -> String {
    let mut out = String::new();
    let mut last = None;
    for f in found {
        if last != Some(f.snapshot) {
            let _ = writeln!(
                out,
                "snapshot {} ({}{}):",
                f.snapshot.short(),
                f.time.format("%Y-%m-%d %H:%M:%S"),
                f.volume
                    .as_deref()
                    .map(|v| format!(", {v}"))
                    .unwrap_or_default()
            );
            last = Some(f.snapshot);
        }
        let _ = writeln!(
            out,
            "  {:>10}  {}  {}",
            bytes(f.size),
            f.mtime.format("%Y-%m-%d %H:%M:%S"),
            f.path
        );
    }
    out
}
