//! A copy report as text, as `holdfast copy` prints it: one line per snapshot copied
//! (or that would be) and skipped, then the counts, packs and read rate. The JSON form
//! is [`CopyReport`]'s own serialisation.

use std::fmt::Write as _;

use super::CopyReport;
use crate::text::bytes;

/// The report: a line per copied and skipped snapshot, then one line of totals.
pub fn render(r: &CopyReport) -> String {
    let mut out = String::new();
    let verb = if r.dry_run { "would copy" } else { "copied" };
    for c in &r.copied {
        let _ = writeln!(
            out,
            "{verb} snapshot {} ({} {}){}",
            c.source.short(),
            c.time.format("%Y-%m-%d %H:%M:%S"),
            c.volume.as_deref().unwrap_or(&c.root),
            c.target
                .map(|t| format!(" as {}", t.short()))
                .unwrap_or_default()
        );
    }
    for s in &r.skipped {
        let _ = writeln!(
            out,
            "skipped snapshot {}: already copied{}",
            s.source.short(),
            s.target
                .map(|t| format!(" as {}", t.short()))
                .unwrap_or_default()
        );
    }
    let mb = r.bytes_read as f64 / 1e6;
    let _ = writeln!(
        out,
        "{} copied, {} skipped; {} packs uploaded ({}), {} reused; read {:.1} MB in {:.1} s ({:.1} MB/s)",
        r.copied.len(),
        r.skipped.len(),
        r.stats.packs_uploaded,
        bytes(r.stats.bytes_uploaded),
        r.stats.packs_reused,
        mb,
        r.duration_s,
        mb / r.duration_s.max(1e-3)
    );
    out
}
