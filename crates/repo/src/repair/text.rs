//! The reports of `repair index` and `repair snapshots` as text, as `holdfast repair`
//! prints them: what was found damaged, what was (or would be) rewritten, and one
//! closing line. The JSON forms are the reports' own serialisations.

use std::fmt::Write as _;

use super::index::RepairIndexReport;
use super::snapshots::RepairSnapshotsReport;
use crate::text::count;

/// The report of `repair snapshots`: per snapshot what became of it and the paths left
/// out, then how many were checked and repaired.
pub fn snapshots(r: &RepairSnapshotsReport) -> String {
    let mut out = String::new();
    for s in &r.repaired {
        let short = s.original.get(..8).unwrap_or(&s.original);
        let to = match (&s.repaired, r.dry_run) {
            (Some(new), _) => format!("repaired as {}", new.get(..8).unwrap_or(new)),
            (None, true) => "would be repaired".to_owned(),
            (None, false) => "nothing left to keep".to_owned(),
        };
        let gone = if s.forgotten {
            ", original forgotten"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "snapshot {short} {to}{gone}: {} left out",
            count(s.dropped_count, "path")
        );
        for p in &s.dropped {
            let _ = writeln!(out, "  {p}");
        }
    }
    let verb = if r.repaired.is_empty() {
        "every snapshot has all its data: nothing to do".to_owned()
    } else if r.dry_run {
        format!(
            "{} would be repaired (run with --yes)",
            count(r.repaired.len(), "snapshot")
        )
    } else {
        format!("{} repaired", count(r.repaired.len(), "snapshot"))
    };
    let _ = writeln!(out, "{} checked; {verb}", count(r.snapshots, "snapshot"));
    out
}

/// The report of `repair index`: the damaged index files and packs, the counts, and
/// whether a new index was (or would be) written.
pub fn index(r: &RepairIndexReport) -> String {
    let mut out = String::new();
    for u in &r.index_damaged {
        let _ = writeln!(out, "damaged index file {}: {}", u.object, u.error);
    }
    for u in &r.packs_damaged {
        let _ = writeln!(out, "damaged pack {} (not indexed): {}", u.object, u.error);
    }
    let _ = writeln!(
        out,
        "{} packs in the store; {} read from their trailers, {} recovered; {} index files, \
         {} damaged; {} entries for missing packs",
        r.packs,
        r.packs_read,
        r.packs_recovered,
        r.index_files,
        r.index_damaged.len(),
        r.entries_missing
    );
    let verb = match (r.rewritten, r.dry_run) {
        (false, _) => "the index is sound: nothing to do".to_owned(),
        (true, true) => format!(
            "would write a new index of {} packs and {} blobs (run with --yes)",
            r.packs_indexed, r.blobs
        ),
        (true, false) => format!(
            "wrote a new index of {} packs and {} blobs in {:.1}s",
            r.packs_indexed, r.blobs, r.duration_s
        ),
    };
    let _ = writeln!(out, "{verb}");
    out
}
