//! One card per volume: whether it is protected, its usage, mounted and writable state,
//! its alerts (each error once, [`super::once`]), the last backup, and — for a viewer
//! with the token — its snapshots: a timeline and the newest ones as text (id, time,
//! bytes added), readable on a phone and in a screenshot.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use holdfast_volume::status::VolumeStatus;
use holdfast_volume::units::format_size;

use super::once::Once;
use super::{age, esc};
use crate::http::AppState;
use crate::survey::SnapshotEntry;

/// Snapshots shown per volume on the timeline.
const TIMELINE: usize = 30;
/// Snapshots listed as text per volume.
const LISTED: usize = 5;

/// What a card needs besides the volume's status.
pub struct CardContext<'a> {
    /// The server's state.
    pub state: &'a AppState,
    /// The snapshots, when the viewer may see them.
    pub snaps: Option<&'a [SnapshotEntry]>,
    /// Now.
    pub now: DateTime<Utc>,
    /// The banner says backups cannot run (the per-volume alert saying so is left out).
    pub banner: bool,
    /// The session's CSRF token: the viewer is logged in and may restore.
    pub csrf: Option<&'a str>,
}

/// The card of volume `s`.
pub fn volume(out: &mut String, cx: &CardContext<'_>, s: &VolumeStatus, once: &mut Once) {
    let ok = s.is_healthy();
    let pct = s.usage_percent.clamp(0.0, 100.0);
    let level = if !ok || pct >= s.details.alert_at {
        "bad"
    } else if pct >= s.details.alert_at * 0.8 {
        "warn"
    } else {
        "ok"
    };
    let backup_ok = s.backup_alerts().is_empty();
    let _ = writeln!(
        out,
        "<section class=\"volume {}\" data-volume=\"{}\" data-state=\"{}\" data-backup=\"{}\">",
        if ok { "healthy" } else { "failing" },
        esc(&s.name),
        if ok { "ok" } else { "failing" },
        if backup_ok { "ok" } else { "failing" }
    );
    let _ = writeln!(
        out,
        "<h2>{} <span class=\"badge {}\">{}</span></h2><p class=\"path\">{}</p>",
        esc(&s.name),
        if ok { "ok" } else { "bad" },
        if ok { "PROTECTED" } else { "NOT PROTECTED" },
        esc(&s.path.display().to_string())
    );
    let _ = writeln!(
        out,
        "<div class=\"bar\" role=\"img\" aria-label=\"{pct:.1}% used\"><div class=\"fill {level}\" style=\"width:{pct:.1}%\"></div></div>\
         <p class=\"usage\">{pct:.1}% used · {} free of {}</p>",
        esc(&format_size(s.size_available)),
        esc(&format_size(s.size_total))
    );
    let flag = |b: bool, yes: &str, no: &str| {
        if b {
            format!("<span class=\"ok\">{yes}</span>")
        } else {
            format!("<span class=\"bad\">{no}</span>")
        }
    };
    let required = cx
        .state
        .config
        .volume(&s.name)
        .is_some_and(|v| v.require_mount);
    let mounted = if s.mounted || required {
        flag(s.mounted, "mounted", "not mounted")
    } else {
        "<span class=\"muted\">not a mount point</span>".to_string()
    };
    let _ = writeln!(
        out,
        "<ul class=\"flags\"><li>{}</li><li>{}</li><li>{}</li></ul>",
        mounted,
        flag(s.writable, "writable", "not writable"),
        flag(s.database_exists, "databases present", "database missing")
    );
    let alerts: Vec<&String> = s
        .alerts
        .iter()
        .filter(|a| !(cx.banner && a.starts_with("backups cannot run")))
        .collect();
    if !alerts.is_empty() {
        out.push_str("<ul class=\"alerts\">");
        for a in alerts {
            let (text, referred) = once.say(a);
            let class = if referred || text.len() < 60 {
                ""
            } else {
                " class=\"error\""
            };
            let _ = write!(out, "<li{class}>{}</li>", esc(&text));
        }
        out.push_str("</ul>\n");
    }
    let stats = cx.state.metrics.backup_stats(&s.name);
    let mut last = match stats.last_success {
        Some(t) => format!(
            "{} ago (<time>{}</time>)",
            esc(&age(cx.now - t)),
            t.format("%Y-%m-%d %H:%M UTC")
        ),
        None => "never".to_string(),
    };
    if let (Some(_), Some(at)) = (&s.last_backup_error, s.details.last_backup_failed_at) {
        last.push_str(&format!(
            " · the last attempt failed {} ago",
            esc(&age(cx.now - at))
        ));
    }
    let _ = writeln!(
        out,
        "<p class=\"backup {}\">Last backup: {last}</p>",
        if backup_ok { "ok" } else { "bad" },
    );
    if let Some(all) = cx.snaps {
        snapshots(out, s, all);
        if cx.csrf.is_some() {
            let _ = writeln!(
                out,
                "<p class=\"browse\"><a href=\"/browse?volume={}\">Browse the snapshots of {}</a></p>",
                super::kit::enc(&s.name),
                esc(&s.name)
            );
            restore_form(out, s, all);
        }
    }
    out.push_str("</section>\n");
}

/// The form that picks a snapshot and a path of the volume and asks for the
/// confirmation ([`super::restore`]).
fn restore_form(out: &mut String, s: &VolumeStatus, all: &[SnapshotEntry]) {
    let mine: Vec<&SnapshotEntry> = all
        .iter()
        .filter(|e| e.volume.as_deref() == Some(s.name.as_str()))
        .collect();
    if mine.is_empty() {
        return;
    }
    let name = esc(&s.name);
    let _ = write!(
        out,
        "<details class=\"restore\"><summary>Restore a file or folder</summary>\
         <form class=\"inline\" method=\"get\" action=\"/restore\">\
         <input type=\"hidden\" name=\"volume\" value=\"{name}\">\
         <label for=\"snap-{name}\">Snapshot</label><select id=\"snap-{name}\" name=\"snapshot\">"
    );
    for e in mine.iter().rev() {
        let _ = write!(
            out,
            "<option value=\"{}\">{} · {}</option>",
            esc(&e.id.to_hex()),
            esc(&e.id.short()),
            e.time.format("%Y-%m-%d %H:%M UTC")
        );
    }
    let _ = writeln!(
        out,
        "</select><label for=\"path-{name}\">Path</label>\
         <input id=\"path-{name}\" name=\"path\" required placeholder=\"uploads/photo.jpg\">\
         <button type=\"submit\">Review</button></form></details>"
    );
}

/// The volume's snapshots: a timeline (oldest to newest) and the newest as text.
fn snapshots(out: &mut String, s: &VolumeStatus, all: &[SnapshotEntry]) {
    let mine: Vec<&SnapshotEntry> = all
        .iter()
        .filter(|e| e.volume.as_deref() == Some(s.name.as_str()))
        .collect();
    let count = crate::text::count(mine.len(), "snapshot");
    let _ = write!(out, "<div class=\"timeline\" aria-hidden=\"true\">");
    for e in mine.iter().rev().take(TIMELINE).rev() {
        let _ = write!(
            out,
            "<span class=\"snap\" title=\"{} · {}\"></span>",
            esc(&e.id.short()),
            e.time.format("%Y-%m-%d %H:%M UTC")
        );
    }
    let _ = writeln!(out, "<span class=\"count\">{}</span></div>", esc(&count));
    if mine.is_empty() {
        return;
    }
    let _ = write!(
        out,
        "<ol class=\"snaps\" aria-label=\"{} of volume {}, newest first\">",
        esc(&count),
        esc(&s.name)
    );
    for e in mine.iter().rev().take(LISTED) {
        let _ = write!(
            out,
            "<li><span class=\"id\">{}</span><time datetime=\"{}\">{}</time><span class=\"added\">{} added</span></li>",
            esc(&e.id.short()),
            e.time.to_rfc3339(),
            e.time.format("%Y-%m-%d %H:%M UTC"),
            esc(&format_size(e.added))
        );
    }
    out.push_str("</ol>\n");
    if mine.len() > LISTED {
        let oldest = mine
            .first()
            .map(|e| e.time.format("%Y-%m-%d %H:%M UTC").to_string());
        let _ = writeln!(
            out,
            "<p class=\"muted\">and {} older, back to <time>{}</time></p>",
            mine.len() - LISTED,
            oldest.unwrap_or_default()
        );
    }
}
