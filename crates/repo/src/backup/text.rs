//! A backup's summary as text, as `holdfast backup` prints it for each snapshot: the
//! snapshot line (files, size, bytes added, time, incomplete) and the line of files new,
//! changed and unmodified, and the warning for a snapshot committed flagged shrunk. The
//! JSON form is [`crate::BackupReport`].

use super::BackupSummary;
use crate::id::Id;
use crate::snapshot::Snapshot;
use crate::text::bytes;

/// The two lines of one snapshot's summary, each ending in a newline.
pub fn summary(summary: &BackupSummary) -> String {
    let s = &summary.snapshot;
    let c = &summary.changes;
    format!(
        "snapshot {} of {}: {} files, {}, {} added in {:.1}s{}\n  Files: {} new, {} changed, {} unmodified\n",
        summary.id.short(),
        s.root,
        s.files,
        bytes(s.size),
        bytes(s.added),
        summary.duration.as_secs_f64(),
        if s.incomplete { " (INCOMPLETE)" } else { "" },
        c.new,
        c.changed,
        c.unmodified
    )
}

/// The warning for snapshot `id`, committed flagged shrunk ([`crate::Shrunk`]): what it
/// holds against the snapshot it was compared with, and the two ways on; `None` when
/// it is not flagged.
pub fn shrunk_warning(id: Id, s: &Snapshot) -> Option<String> {
    let shrunk = s.shrunk.as_ref()?;
    Some(format!(
        "WARNING: snapshot {} of {} is flagged shrunk: {} files, {} where snapshot {} had {} \
         files, {}. Is the volume mounted? The snapshot is kept; automatic restores take \
         snapshot {} instead and `forget` keeps that one. If the files are really gone, \
         accept it with `holdfast tag {} --remove shrunk`",
        id.short(),
        s.group(),
        shrunk.files_after,
        bytes(shrunk.size_after),
        shrunk.reference.short(),
        shrunk.files_before,
        bytes(shrunk.size_before),
        shrunk.reference.short(),
        id.short()
    ))
}
