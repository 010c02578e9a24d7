//! The snapshot list as text, as `holdfast snapshots` prints it: a header and one row
//! per snapshot (id, time, volume, files, size, bytes added, root and tags), with what
//! marks it (incomplete, copied from another id, flagged shrunk). The JSON form is
//! [`super::SnapshotSummary`]'s own serialisation.

use std::fmt::Write as _;

use super::Snapshot;
use crate::id::Id;
use crate::text::bytes;

/// The header row of [`row`].
pub fn header() -> String {
    format!(
        "{:<10} {:<20} {:<12} {:>8} {:>10} {:>10}  {}",
        "ID", "TIME", "VOLUME", "FILES", "SIZE", "ADDED", "ROOT / TAGS"
    )
}

/// One snapshot's row.
pub fn row(id: Id, s: &Snapshot) -> String {
    format!(
        "{:<10} {:<20} {:<12} {:>8} {:>10} {:>10}  {}{}{}{}{}",
        id.short(),
        s.time.format("%Y-%m-%d %H:%M:%S"),
        s.volume.as_deref().unwrap_or("-"),
        s.files,
        bytes(s.size),
        bytes(s.added),
        s.root,
        if s.tags.is_empty() {
            String::new()
        } else {
            format!(" [{}]", s.tags.join(","))
        },
        if s.incomplete { " (incomplete)" } else { "" },
        s.original
            .map(|o| format!(" (original {})", o.short()))
            .unwrap_or_default(),
        s.shrunk
            .as_ref()
            .map(|f| format!(
                " (SHRUNK: {} files, {} where {} had {} files, {})",
                f.files_after,
                bytes(f.size_after),
                f.reference.short(),
                f.files_before,
                bytes(f.size_before)
            ))
            .unwrap_or_default(),
    )
}

/// The whole table: [`header`], then a [`row`] per snapshot.
pub fn table(list: &[(Id, Snapshot)]) -> String {
    let mut out = header();
    out.push('\n');
    for (id, s) in list {
        let _ = writeln!(out, "{}", row(*id, s));
    }
    out
}
