//! `GET /`: the status page, server-rendered HTML with inline CSS and no script. A red
//! banner when backups cannot run (the reasons of [`crate::protection`]); one card per volume
//! (usage bar, mounted and writable state, alerts in red, the last backup — its age,
//! its failure, or "never" as a warning — and the snapshot timeline); a volume whose
//! backup fails or is stale is failing like one that is not mounted, and the header
//! counts it. Then the scheduled jobs with their next run. It
//! refreshes itself every 30 seconds. Snapshots are listed from the repository at most
//! once a minute (opening it derives a key, which is deliberately slow).
//!
//! Volume health is public. The snapshot list (the timeline, ids, times) is what
//! `/api/v1/snapshots` keeps behind the token, so the page shows it only to a request
//! that presents the token — `Authorization: Bearer`, `?token=` (the page's login form,
//! which then sets a cookie) or that cookie — or when `[serve] public_status = true`.
//! Otherwise the repository is not even asked.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use chrono::{DateTime, Utc};
use holdfast_volume::status::{ReplicaStatus, VolumeStatus};
use holdfast_volume::units::format_size;

use crate::http::AppState;
use crate::http::auth::{STATUS_COOKIE, bearer, cookie};
use crate::http::error::ApiResult;
use crate::schedule::JobInfo;
use crate::survey::{SnapshotEntry, list};

/// How long a snapshot listing is reused.
const SNAPSHOT_TTL: Duration = Duration::from_secs(60);
/// Snapshots shown per volume on the timeline.
const TIMELINE: usize = 30;

/// The last snapshot listing (or why there is none) and when it was taken.
pub type SnapshotCache = tokio::sync::Mutex<Option<(Instant, Result<Vec<SnapshotEntry>, String>)>>;

async fn snapshots(state: &AppState) -> Result<Vec<SnapshotEntry>, String> {
    if !state.repo.is_configured() {
        return Err("no repository configured".into());
    }
    let mut cache = state.snapshot_cache.lock().await;
    if let Some((at, r)) = &*cache
        && at.elapsed() < SNAPSHOT_TTL
    {
        return r.clone();
    }
    let fresh = match tokio::time::timeout(
        Duration::from_secs(10),
        list(&state.repo, &state.metrics),
    )
    .await
    {
        Ok(r) => r.map_err(|e| crate::error::chain(&e)),
        Err(_) => Err("the repository did not answer within 10 s".into()),
    };
    *cache = Some((Instant::now(), fresh.clone()));
    fresh
}

/// Query of the page: the login form's token.
#[derive(Debug, serde::Deserialize)]
pub struct PageQuery {
    /// The API token, from the login form.
    pub token: Option<String>,
}

/// Who is looking at the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Viewer {
    /// The token was presented (or the page is public): snapshots shown.
    Allowed,
    /// `?token=` was right: snapshots shown and the cookie set.
    LoggedIn,
    /// No token presented.
    Anonymous,
    /// A token was presented and it was wrong.
    Refused,
}

fn viewer(state: &AppState, headers: &HeaderMap, query: &PageQuery) -> Viewer {
    if state.config.serve.public_status {
        return Viewer::Allowed;
    }
    let Some(token) = &state.token else {
        return Viewer::Anonymous;
    };
    if let Some(t) = query.token.as_deref().filter(|t| !t.is_empty()) {
        return if token.matches(t) {
            Viewer::LoggedIn
        } else {
            Viewer::Refused
        };
    }
    if let Some(b) = bearer(headers) {
        return if token.matches(b) {
            Viewer::Allowed
        } else {
            Viewer::Refused
        };
    }
    match cookie(headers, STATUS_COOKIE) {
        Some(c) if token.matches_cookie(c) => Viewer::Allowed,
        Some(_) => Viewer::Refused,
        None => Viewer::Anonymous,
    }
}

fn login_form(out: &mut String, who: Viewer, token_set: bool) {
    let note = if !token_set {
        "Snapshots are hidden: set HOLDFAST_API_TOKEN (or [serve] public_status = true) to see them here."
    } else if who == Viewer::Refused {
        "Wrong token: snapshots stay hidden."
    } else {
        "Snapshots are shown with the API token."
    };
    let _ = writeln!(out, "<section class=\"login\"><p>{}</p>", esc(note));
    if token_set {
        out.push_str(
            "<form method=\"get\" action=\"/\"><input type=\"password\" name=\"token\" \
             placeholder=\"API token\" autocomplete=\"current-password\"> \
             <button type=\"submit\">Show snapshots</button></form>",
        );
    }
    out.push_str("</section>\n");
}

/// `GET /`.
pub async fn page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(query): Query<PageQuery>,
) -> ApiResult<Response> {
    let who = viewer(&state, &headers, &query);
    let shown = matches!(who, Viewer::Allowed | Viewer::LoggedIn);
    let statuses = state.watch.current(&state.metrics, true).await;
    let snaps = if shown {
        snapshots(&state).await
    } else {
        Err(String::new())
    };
    let jobs = state.board.snapshot();
    let now = Utc::now();
    let mut out = String::with_capacity(8 * 1024);
    out.push_str(HEAD);
    let failing = statuses.iter().filter(|s| !s.is_healthy()).count();
    let problems = state.watch.problems();
    let summary = if failing > 0 {
        format!(
            "{failing} of {} failing",
            crate::text::count(statuses.len(), "volume")
        )
    } else if !problems.is_empty() {
        "backups cannot run".to_string()
    } else {
        format!("{} healthy", crate::text::count(statuses.len(), "volume"))
    };
    let _ = writeln!(
        out,
        "<header><h1>holdfast</h1><p class=\"summary {}\">{}</p><p class=\"when\">{}</p></header>",
        if failing == 0 && problems.is_empty() {
            "ok"
        } else {
            "bad"
        },
        esc(&summary),
        esc(&now.format("%Y-%m-%d %H:%M:%S UTC").to_string()),
    );
    if !problems.is_empty() {
        out.push_str(
            "<div class=\"banner\" role=\"alert\"><strong>Backups cannot run: the volumes are \
             NOT protected.</strong><ul>",
        );
        for p in &problems {
            let _ = write!(out, "<li>{}</li>", esc(p));
        }
        out.push_str("</ul></div>\n");
    }
    out.push_str("<main>\n");
    if statuses.is_empty() {
        out.push_str("<p>No volumes are configured.</p>\n");
    }
    for s in &statuses {
        volume_card(&mut out, &state, s, snaps.as_deref().ok(), now);
    }
    match &snaps {
        Err(e) if shown => {
            let _ = writeln!(out, "<p class=\"note\">Snapshots: {}</p>", esc(e));
        }
        Err(_) => login_form(&mut out, who, state.token.is_some()),
        Ok(_) => {}
    }
    if shown {
        replicas_table(&mut out, &state.replication.statuses(now));
    }
    jobs_table(&mut out, &jobs, now);
    out.push_str("</main>\n</body>\n</html>\n");
    let mut res = Html(out).into_response();
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    if let (Viewer::LoggedIn, Some(token)) = (who, &state.token) {
        let c = format!(
            "{STATUS_COOKIE}={}; Path=/; HttpOnly; SameSite=Strict; Max-Age=2592000",
            token.cookie_value()
        );
        if let Ok(v) = HeaderValue::from_str(&c) {
            h.insert(header::SET_COOKIE, v);
        }
    }
    Ok(res)
}

fn volume_card(
    out: &mut String,
    state: &AppState,
    s: &VolumeStatus,
    snaps: Option<&[SnapshotEntry]>,
    now: DateTime<Utc>,
) {
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
        if ok { "OK" } else { "FAILING" },
        esc(&s.path.display().to_string())
    );
    let _ = writeln!(
        out,
        "<div class=\"bar\" title=\"{pct:.1}%\"><div class=\"fill {level}\" style=\"width:{pct:.1}%\"></div></div>\
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
    let required = state
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
    if !s.alerts.is_empty() {
        out.push_str("<ul class=\"alerts\">");
        for a in &s.alerts {
            let _ = write!(out, "<li>{}</li>", esc(a));
        }
        out.push_str("</ul>\n");
    }
    let stats = state.metrics.backup_stats(&s.name);
    let mut last = match stats.last_success {
        Some(t) => format!("{} ago", age(now - t)),
        None => "never".to_string(),
    };
    if let (Some(_), Some(at)) = (&s.last_backup_error, s.details.last_backup_failed_at) {
        last.push_str(&format!(" · the last attempt failed {} ago", age(now - at)));
    }
    let _ = writeln!(
        out,
        "<p class=\"backup {}\">Last backup: {}</p>",
        if backup_ok { "ok" } else { "bad" },
        esc(&last)
    );
    if let Some(all) = snaps {
        let mine: Vec<&SnapshotEntry> = all
            .iter()
            .filter(|e| e.volume.as_deref() == Some(s.name.as_str()))
            .collect();
        let _ = write!(
            out,
            "<div class=\"timeline\" title=\"{}\">",
            crate::text::count(mine.len(), "snapshot")
        );
        for e in mine.iter().rev().take(TIMELINE).rev() {
            let _ = write!(
                out,
                "<span class=\"snap\" title=\"{} · {} · {} added\"></span>",
                esc(&e.id.short()),
                esc(&e.time.format("%Y-%m-%d %H:%M").to_string()),
                esc(&format_size(e.added))
            );
        }
        let _ = writeln!(
            out,
            "<span class=\"count\">{}</span></div>",
            crate::text::count(mine.len(), "snapshot")
        );
    }
    out.push_str("</section>\n");
}

/// The `[[replicas]]`: schedule, last success, lag and alerts (nothing without any);
/// shown, like the snapshots, only to a viewer with the token (a redacted URL still
/// names a bucket and host).
fn replicas_table(out: &mut String, replicas: &[ReplicaStatus]) {
    if replicas.is_empty() {
        return;
    }
    out.push_str("<section class=\"replicas\"><h2>Replicas</h2>\n<table><tr><th>replica</th><th>schedule</th><th>last success</th><th>lag</th><th>state</th></tr>\n");
    for r in replicas {
        let lag = match (r.lag_snapshots, r.lag_seconds) {
            (Some(0), _) => "up to date".to_string(),
            (Some(n), Some(s)) => format!(
                "{}, newest {}",
                crate::text::count(n, "snapshot"),
                age(chrono::Duration::seconds(s))
            ),
            (Some(n), None) => crate::text::count(n, "snapshot"),
            (None, _) => "not measured yet".to_string(),
        };
        let (class, state) = if r.alerts.is_empty() {
            ("", "ok".to_string())
        } else {
            (" class=\"bad\"", r.alerts.join("; "))
        };
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td{class}>{}</td></tr>",
            esc(&r.name),
            esc(&r.schedule),
            esc(r.last_success.as_deref().unwrap_or("—")),
            esc(&lag),
            esc(&state)
        );
    }
    out.push_str("</table></section>\n");
}

fn jobs_table(
    out: &mut String,
    jobs: &std::collections::BTreeMap<String, JobInfo>,
    now: DateTime<Utc>,
) {
    out.push_str("<section class=\"jobs\"><h2>Scheduled jobs</h2>\n");
    if jobs.is_empty() {
        out.push_str("<p>No jobs are scheduled ([schedule] and [[cleanup]] in holdfast.toml).</p></section>\n");
        return;
    }
    out.push_str("<table><tr><th>job</th><th>schedule</th><th>next run</th><th>last run</th><th>result</th></tr>\n");
    for (name, j) in jobs {
        let next = match j.next {
            _ if j.running => "running now".to_string(),
            Some(t) if t > now => {
                format!("in {} ({})", age(t - now), t.format("%Y-%m-%d %H:%M UTC"))
            }
            Some(_) => "due".to_string(),
            None => "never".to_string(),
        };
        let last = j
            .last_run
            .map_or_else(|| "—".to_string(), |t| format!("{} ago", age(now - t)));
        let result = j.last_result.clone().unwrap_or_default();
        let class = if result.starts_with("failed") {
            " class=\"bad\""
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td{class}>{}</td></tr>",
            esc(name),
            esc(&j.schedule),
            esc(&next),
            esc(&last),
            esc(&result)
        );
    }
    out.push_str("</table></section>\n");
}

/// `3d 4h`, `2h 5m`, `40s`.
pub fn age(d: chrono::Duration) -> String {
    holdfast_volume::freshness::age(d)
}

/// Escapes text for HTML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const HEAD: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="refresh" content="30">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>holdfast status</title>
<style>
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;background:#f5f6f8;color:#1d2330}
header{display:flex;gap:1.5rem;align-items:baseline;padding:1rem 2rem;background:#1d2330;color:#fff}
header h1{margin:0;font-size:1.4rem}
.summary.ok{color:#7fe0a0}.summary.bad{color:#ff8a80;font-weight:600}.when{margin-left:auto;opacity:.7}
main{display:grid;grid-template-columns:repeat(auto-fill,minmax(340px,1fr));gap:1rem;padding:1.5rem 2rem}
section{background:#fff;border-radius:8px;padding:1rem 1.2rem;box-shadow:0 1px 3px rgba(0,0,0,.08)}
section.failing{border-left:6px solid #d32f2f}section.healthy{border-left:6px solid #2e7d32}
section.jobs{grid-column:1/-1}
h2{margin:0 0 .2rem;font-size:1.1rem}.path{margin:0 0 .6rem;color:#5b6475;font-family:ui-monospace,monospace;font-size:.85rem}
.badge{font-size:.7rem;padding:.1rem .45rem;border-radius:4px;vertical-align:middle;color:#fff}
.badge.ok{background:#2e7d32;color:#fff}.badge.bad{background:#d32f2f;color:#fff}
.bar{height:12px;background:#e3e6ec;border-radius:6px;overflow:hidden}
.fill{height:100%}.fill.ok{background:#43a047}.fill.warn{background:#f9a825}.fill.bad{background:#e53935}
.usage{margin:.3rem 0;font-size:.85rem;color:#5b6475}
.flags{list-style:none;padding:0;margin:.4rem 0;display:flex;gap:.8rem;font-size:.85rem}
.ok{color:#2e7d32}.bad{color:#d32f2f;font-weight:600}.muted{color:#5b6475}
.alerts{margin:.5rem 0;padding:.5rem .5rem .5rem 1.6rem;background:#fdecea;color:#b71c1c;border-radius:6px;font-size:.85rem}
.backup{margin:.4rem 0;font-size:.9rem}
.timeline{display:flex;gap:3px;align-items:center;flex-wrap:wrap}
.snap{width:9px;height:18px;background:#3f51b5;border-radius:2px;display:inline-block}
.count{margin-left:.5rem;font-size:.8rem;color:#5b6475}
table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{text-align:left;padding:.35rem .6rem;border-bottom:1px solid #eceef2}
.note{grid-column:1/-1;color:#5b6475}
section.login{grid-column:1/-1}
.banner{margin:1rem 2rem 0;padding:.8rem 1.2rem;background:#d32f2f;color:#fff;border-radius:8px}
.banner ul{margin:.4rem 0 0;padding-left:1.4rem}
</style>
</head>
<body>
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_ages() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert_eq!(age(chrono::Duration::seconds(40)), "40s");
        assert_eq!(age(chrono::Duration::seconds(3 * 3600 + 120)), "3h 2m");
        assert_eq!(
            age(chrono::Duration::days(2) + chrono::Duration::hours(5)),
            "2d 5h"
        );
    }
}
