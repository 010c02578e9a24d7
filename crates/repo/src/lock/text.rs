//! An unlock report as text and as the JSON `holdfast unlock --json` prints: each lock
//! removed and kept, with its kind, holder and last refresh.

use std::fmt::Write as _;

use serde_json::{Value, json};

use super::{LockInfo, UnlockReport};

/// `KEY: exclusive lock of pid N on HOST (last refreshed T)`, or `KEY: unreadable`.
pub fn describe(key: &str, info: Option<&LockInfo>) -> String {
    match info {
        Some(i) => format!(
            "{key}: {} lock of pid {} on {} (last refreshed {})",
            if i.exclusive { "exclusive" } else { "shared" },
            i.pid,
            i.hostname,
            i.time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ),
        None => format!("{key}: unreadable"),
    }
}

/// A line per lock removed and kept, then the counts.
pub fn unlock(report: &UnlockReport) -> String {
    let mut out = String::new();
    for (k, i) in &report.removed {
        let _ = writeln!(out, "removed {}", describe(k, i.as_ref()));
    }
    for (k, i) in &report.kept {
        let _ = writeln!(out, "kept    {}", describe(k, i.as_ref()));
    }
    let _ = writeln!(
        out,
        "{} locks removed, {} kept",
        report.removed.len(),
        report.kept.len()
    );
    out
}

/// The report as the `--json` document: `removed` and `kept`, each `{key, lock}`.
pub fn unlock_json(report: &UnlockReport) -> Value {
    let row = |(k, i): &(String, Option<LockInfo>)| json!({"key": k, "lock": i});
    json!({
        "removed": report.removed.iter().map(row).collect::<Vec<_>>(),
        "kept": report.kept.iter().map(row).collect::<Vec<_>>(),
    })
}
