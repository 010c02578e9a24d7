//! A migration report as text, as `holdfast migrate` prints it: what was found and
//! copied, where the metadata went for a store, and the verification. The JSON form is
//! [`MigrateReport`]'s own serialisation.

use std::fmt::Write as _;
use std::path::Path;

use holdfast_repo::text::count;

use super::{MANIFEST_KEY, MigrateReport};
use crate::units::format_size;

/// The report of a migration from `src` to `dst` (`to_store`: a store URL, whose
/// metadata lives in the manifest).
pub fn render(report: &MigrateReport, src: &Path, dst: &Path, to_store: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}, {} in {} → {}: {} copied ({}), {} already there; {}, {}{}",
        count(report.files, "file"),
        format_size(report.bytes),
        src.display(),
        dst.display(),
        report.copied,
        format_size(report.copied_bytes),
        report.skipped,
        count(report.symlinks, "symlink"),
        count(report.dirs, "directory"),
        if report.special > 0 {
            format!(
                "; {} skipped",
                count(report.special, "socket/FIFO/device node")
            )
        } else {
            String::new()
        }
    );
    if to_store {
        let _ = writeln!(
            out,
            "modes, owners, times and symlinks are recorded in {MANIFEST_KEY}"
        );
    }
    let _ = writeln!(
        out,
        "verified: every file's BLAKE3 hash matches on both sides ({:.1}s)",
        report.seconds
    );
    out
}
