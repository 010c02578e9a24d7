//! A restore's outcome as text and as the JSON document `holdfast restore --json`
//! prints: the summary of a restore, the plan of a dry run, and the warnings about a
//! damaged index that a restore read around ([`IndexRecovery`]).

use std::fmt::Write as _;
use std::path::Path;

use serde_json::{Value, json};

use super::{Action, RestoreSummary};
use crate::id::Id;
use crate::repair::IndexRecovery;
use crate::text::{bytes, count};

/// The one line a restore of snapshot `id` to `target` ends with: the counts, the bytes,
/// what was overwritten or kept, and how many entries were damaged.
pub fn summary(id: Id, target: &Path, s: &RestoreSummary) -> String {
    format!(
        "restored snapshot {} to {}: {}, {}, {}, {}{}{}",
        id.short(),
        target.display(),
        count(s.files, "file"),
        count(s.dirs, "dir"),
        count(s.symlinks, "symlink"),
        bytes(s.bytes),
        if s.overwritten + s.skipped > 0 {
            format!("; {} overwritten, {} kept", s.overwritten, s.skipped)
        } else {
            String::new()
        },
        if s.damaged.is_empty() {
            String::new()
        } else {
            format!("; {} DAMAGED", s.damaged.len())
        }
    )
}

/// The `--json` document of a restore that took `duration_s` seconds.
pub fn summary_json(id: Id, s: &RestoreSummary, duration_s: f64) -> Value {
    let damaged: Vec<_> = s
        .damaged
        .iter()
        .map(|d| json!({"path": d.path, "error": d.error}))
        .collect();
    json!({
        "snapshot": id.to_hex(), "files": s.files, "dirs": s.dirs, "symlinks": s.symlinks,
        "bytes": s.bytes, "overwritten": s.overwritten, "skipped": s.skipped,
        "damaged": damaged, "duration_s": duration_s,
    })
}

/// How many planned entries a dry run would write, overwrite and keep.
fn planned_counts(s: &RestoreSummary) -> (usize, usize, usize) {
    let n = |a: Action| s.planned.iter().filter(|p| p.action == a).count();
    (n(Action::Write), n(Action::Overwrite), n(Action::Skip))
}

/// A dry run as text: with `verbose` every planned path and its action, then (unless
/// `quiet`) one line of counts.
pub fn dry_run(id: Id, target: &Path, s: &RestoreSummary, verbose: bool, quiet: bool) -> String {
    let (write, over, skip) = planned_counts(s);
    let mut out = String::new();
    if verbose {
        for p in &s.planned {
            let _ = writeln!(out, "{:<9} {}", p.action.name(), p.path);
        }
    }
    if !quiet {
        let _ = writeln!(
            out,
            "dry run of snapshot {} to {}: would write {write} new, overwrite {over}, keep {skip} ({} of file content); nothing was written",
            id.short(),
            target.display(),
            bytes(s.bytes),
        );
    }
    out
}

/// A dry run as the `--json` document: the counts and every planned entry.
pub fn dry_run_json(id: Id, target: &Path, s: &RestoreSummary) -> Value {
    let (write, over, skip) = planned_counts(s);
    let planned: Vec<_> = s
        .planned
        .iter()
        .map(|p| json!({"path": p.path, "action": p.action.name()}))
        .collect();
    json!({
        "snapshot": id.to_hex(), "target": target.display().to_string(), "dry_run": true,
        "write": write, "overwrite": over, "skip": skip, "bytes": s.bytes,
        "entries": planned,
    })
}

/// The warnings about what loading the index found: each damaged index file and pack,
/// and, unless the index was clean, how many packs were read from their trailers and how
/// to make the repair permanent.
pub fn index_warnings(recovery: &IndexRecovery) -> Vec<String> {
    let mut lines = Vec::new();
    for bad in &recovery.index_damaged {
        lines.push(format!(
            "index file {} is damaged ({}); reading the packs' own trailers instead",
            bad.object, bad.error
        ));
    }
    for bad in &recovery.packs_damaged {
        lines.push(format!("damaged pack {}: {}", bad.object, bad.error));
    }
    if !recovery.is_clean() {
        lines.push(format!(
            "{} pack(s) no readable index file lists were read from their trailers ({} \
             usable); unless a backup is still running, run `holdfast repair index --yes` \
             to rebuild the index",
            recovery.packs_read, recovery.packs_recovered
        ));
    }
    lines
}
