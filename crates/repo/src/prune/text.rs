//! A prune report as text, as `holdfast prune` and `holdfast forget --prune` print it:
//! one aligned line per quantity (snapshots, blobs, packs, marked packs, replicated
//! WAL, temporary files, missing packs, size, duration). The JSON form is [`PruneReport`]'s own
//! serialisation.

use std::fmt::Write as _;

use super::PruneReport;
use crate::text::bytes;

/// The report, one line per quantity; the marked packs, temporary files and missing
/// packs only when there are any.
pub fn render(r: &PruneReport) -> String {
    let would = if r.dry_run { "would be " } else { "" };
    let mut out = String::new();
    let _ = writeln!(out, "snapshots kept:   {}", r.snapshots);
    let _ = writeln!(
        out,
        "blobs:            {} used, {} unused",
        r.blobs_used, r.blobs_unused
    );
    let _ = writeln!(
        out,
        "packs:            {} -> {} ({} deleted, {} repacked into {}, {} unindexed marked, {} unindexed deleted, {} unindexed kept)",
        r.packs_before,
        r.packs_after,
        r.packs_deleted,
        r.packs_repacked,
        r.packs_written,
        r.unindexed_marked,
        r.unindexed_deleted,
        r.unindexed_kept
    );
    if r.packs_marked + r.marked_waiting + r.packs_rescued > 0 {
        let _ = writeln!(
            out,
            "marked packs:     {} {would}newly marked, {} waiting for the grace period, {} rescued ({} marked)",
            r.packs_marked,
            r.marked_waiting,
            r.packs_rescued,
            bytes(r.marked_bytes)
        );
    }
    if r.wal.kept + r.wal.deleted + r.wal.pg_objects > 0 {
        let _ = writeln!(
            out,
            "replicated wal:   {} lineages {would}deleted ({} objects, {} Postgres segments), {} kept",
            r.wal.deleted, r.wal.objects, r.wal.pg_objects, r.wal.kept
        );
    }
    if r.temp_files_removed > 0 {
        let _ = writeln!(
            out,
            "temp files:       {} {would}removed ({})",
            r.temp_files_removed,
            bytes(r.temp_bytes_removed)
        );
    }
    if r.packs_missing > 0 {
        let _ = writeln!(
            out,
            "missing packs:    {} (dropped from the index)",
            r.packs_missing
        );
    }
    let _ = writeln!(
        out,
        "repository size:  {} -> {} ({} {would}freed)",
        bytes(r.size_before),
        bytes(r.size_after),
        bytes(r.bytes_freed)
    );
    let _ = writeln!(out, "duration:         {:.2} s", r.duration_s);
    out
}
