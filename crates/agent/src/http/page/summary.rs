//! The header: one sentence that answers "is my data protected, where, and since when",
//! then the facts behind it — the repository and the replicas (to a viewer with the
//! token: a redacted URL still names a bucket and host), the last verify and whether a
//! restore drill runs with it.
//!
//! "Protected" is the one word for it everywhere on the page: a volume is protected when
//! it is healthy (mounted as required, writable, not full) and its last backup is
//! recent and did not fail ([`VolumeStatus::is_healthy`]); the whole is protected when
//! every volume is and backups can run at all.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use holdfast_volume::status::{ReplicaStatus, VolumeStatus};

use super::{age, esc};
use crate::http::AppState;
use crate::schedule::JobInfo;
use crate::survey::SnapshotEntry;

/// What the header is made of.
pub struct Facts<'a> {
    /// The server's state.
    pub state: &'a AppState,
    /// Every volume, probed.
    pub statuses: &'a [VolumeStatus],
    /// Why backups cannot run at all.
    pub problems: &'a [String],
    /// The snapshots, when the viewer may see them.
    pub snaps: Option<&'a [SnapshotEntry]>,
    /// The `[[replicas]]`.
    pub replicas: &'a [ReplicaStatus],
    /// The scheduled jobs.
    pub jobs: &'a BTreeMap<String, JobInfo>,
    /// The viewer has the token.
    pub shown: bool,
    /// Now.
    pub now: DateTime<Utc>,
}

fn minute(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// The one-line answer, as HTML, and whether it is good news.
pub fn sentence(f: &Facts<'_>) -> (String, bool) {
    let n = f.statuses.len();
    let volumes = crate::text::count(n, "volume");
    if n == 0 {
        return ("NOT protected: no volumes are configured".into(), false);
    }
    if !f.problems.is_empty() {
        return (
            "NOT protected: backups cannot run (the reasons are below)".into(),
            false,
        );
    }
    let failing: Vec<&str> = f
        .statuses
        .iter()
        .filter(|s| !s.is_healthy())
        .map(|s| s.name.as_str())
        .collect();
    if !failing.is_empty() {
        return (
            format!(
                "NOT protected: {} of {volumes} failing ({})",
                failing.len(),
                esc(&failing.join(", "))
            ),
            false,
        );
    }
    let last: Vec<Option<DateTime<Utc>>> = f
        .statuses
        .iter()
        .map(|s| f.state.metrics.backup_stats(&s.name).last_success)
        .collect();
    let all = if n == 1 {
        "The volume is".to_string()
    } else {
        format!("All {volumes} are")
    };
    let mut out = format!("{all} protected");
    // Since when: with the snapshots, the time from which every volume can be restored
    // (the newest of each volume's oldest snapshot); without them, the time since which
    // every volume has had a backup.
    let restorable = f.snaps.and_then(|snaps| {
        f.statuses
            .iter()
            .map(|s| {
                snaps
                    .iter()
                    .filter(|e| e.volume.as_deref() == Some(s.name.as_str()))
                    .map(|e| e.time)
                    .min()
            })
            .collect::<Option<Vec<_>>>()
            .and_then(|v| v.into_iter().max())
    });
    let oldest_last = last
        .iter()
        .copied()
        .collect::<Option<Vec<_>>>()
        .and_then(|v| v.into_iter().min());
    match (restorable, oldest_last) {
        (Some(t), _) => {
            let _ = write!(out, " since <time>{}</time>", minute(t));
        }
        (None, Some(t)) => {
            let _ = write!(out, ", each backed up since <time>{}</time>", minute(t));
        }
        (None, None) => {}
    }
    if let Some(t) = oldest_last {
        let _ = write!(
            out,
            " · newest backups at most {} old",
            esc(&age(f.now - t))
        );
    }
    let _ = write!(out, " · to the repository");
    if f.shown
        && let Some(url) = f.state.repo.shown()
    {
        let _ = write!(out, " <code>{}</code>", esc(&url));
    }
    match (f.replicas.len(), f.shown) {
        (0, _) => {}
        (_, true) => {
            let names: Vec<String> = f.replicas.iter().map(|r| esc(&r.name)).collect();
            let noun = if names.len() == 1 {
                "replica"
            } else {
                "replicas"
            };
            let _ = write!(out, " and the {noun} {}", names.join(", "));
        }
        (k, false) => {
            let _ = write!(out, " and {}", crate::text::count(k, "replica"));
        }
    }
    (out, true)
}

/// The last verify (with its restore drill, when `[schedule] restore_test`).
fn verify(f: &Facts<'_>) -> (String, bool) {
    let drill = f.state.config.schedule.restore_test;
    let what = if drill {
        "Last verify and restore drill"
    } else {
        "Last verify"
    };
    let Some(j) = f.jobs.get("verify") else {
        return (
            format!("{what}: not scheduled (<code>[schedule] verify</code>)"),
            true,
        );
    };
    let text = match (j.last_run, j.last_result.as_deref()) {
        (_, _) if j.running => "running now".to_string(),
        (Some(t), Some(r)) if r.starts_with("ok") => format!("passed {} ago", age(f.now - t)),
        (Some(t), Some(_)) => {
            return (
                format!("{what}: FAILED {} ago", esc(&age(f.now - t))),
                false,
            );
        }
        _ => match j.next {
            Some(n) if n > f.now => format!("not run yet (next in {})", age(n - f.now)),
            _ => "not run yet".to_string(),
        },
    };
    (format!("{what}: {}", esc(&text)), true)
}

/// The header: title, time, the sentence and the facts.
pub fn header(out: &mut String, f: &Facts<'_>) {
    let (line, good) = sentence(f);
    let _ = writeln!(
        out,
        "<header><div class=\"top\"><h1><a href=\"/\">holdfast</a></h1><span class=\"when\">{}</span></div>\
         <p class=\"summary {}\" role=\"status\">{line}</p>",
        esc(&f.now.format("%Y-%m-%d %H:%M:%S UTC").to_string()),
        if good { "ok" } else { "bad" },
    );
    out.push_str("<ul class=\"facts\">");
    let (v, ok) = verify(f);
    let _ = write!(
        out,
        "<li{}>{v}</li>",
        if ok { "" } else { " class=\"bad\"" }
    );
    if f.shown {
        for r in f.replicas {
            let state = if !r.alerts.is_empty() {
                "<span class=\"bad\">failing</span>".to_string()
            } else if r.lag_snapshots == Some(0) {
                "up to date".to_string()
            } else {
                match &r.last_success {
                    Some(t) => format!("last copied {}", esc(t)),
                    None => "not copied yet".to_string(),
                }
            };
            let _ = write!(out, "<li>Replica {}: {state}</li>", esc(&r.name));
        }
    }
    out.push_str("</ul></header>\n");
}
