//! `GET /`: the status page, server-rendered HTML with inline CSS and no script
//! ([`style`]). The header says in one sentence whether the data is protected, where it
//! goes and since when, with the last verify and the replicas under it ([`summary`]); a
//! red banner when backups cannot run (the reasons of [`crate::protection`]); one card
//! per volume ([`card`]: usage, mounted and writable state, alerts, the last backup and,
//! with the token, the snapshots as a timeline and as text); then the replicas and the
//! scheduled jobs ([`tables`]). A failing page says each error once ([`once`]). It
//! refreshes itself every 30 seconds and fits a 390 px wide phone without scrolling
//! sideways. Snapshots are listed from the repository at most once a minute (opening
//! it derives a key, which is deliberately slow).
//!
//! Volume health is public. The snapshot list (the timeline, ids, times), the
//! repository's URL and the replicas are what `/api/v1` keeps behind the token, so the
//! page shows them only to a request that presents the token — `Authorization: Bearer`,
//! `?token=` (the page's login form, which then sets a cookie) or that cookie — or when
//! `[serve] public_status = true`. Otherwise the repository is not even asked.

pub mod browse;
mod card;
pub mod compare;
mod kit;
pub mod login;
mod once;
pub mod restore;
mod style;
mod summary;
mod tables;

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use chrono::Utc;

use crate::http::AppState;
use crate::http::auth::{STATUS_COOKIE, bearer, cookie, session_cookie};
use crate::http::error::ApiResult;
use crate::survey::{SnapshotEntry, list};
use once::Once;

/// How long a snapshot listing is reused.
const SNAPSHOT_TTL: Duration = Duration::from_secs(60);

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
    /// The token was presented: snapshots shown.
    Allowed,
    /// `?token=` was right: snapshots shown and a session cookie set.
    LoggedIn,
    /// No token presented.
    Anonymous,
    /// A token was presented and it was wrong.
    Refused,
}

/// The viewer, and the session (an existing cookie, or the one a `?token=` login
/// starts) whose CSRF token the page carries.
fn viewer(state: &AppState, headers: &HeaderMap, query: &PageQuery) -> (Viewer, Option<String>) {
    let Some(token) = &state.token else {
        return (Viewer::Anonymous, None);
    };
    if let Some(t) = query.token.as_deref().filter(|t| !t.is_empty()) {
        return if token.matches(t) {
            (Viewer::LoggedIn, Some(token.new_session(Utc::now())))
        } else {
            (Viewer::Refused, None)
        };
    }
    if let Some(b) = bearer(headers) {
        return if token.matches(b) {
            (Viewer::Allowed, None)
        } else {
            (Viewer::Refused, None)
        };
    }
    match cookie(headers, STATUS_COOKIE) {
        Some(c) if token.session_valid(c, Utc::now()) => (Viewer::Allowed, Some(c.to_string())),
        Some(_) => (Viewer::Refused, None),
        None => (Viewer::Anonymous, None),
    }
}

fn login_form(out: &mut String, who: Viewer, token_set: bool) {
    let note = if !token_set {
        "Snapshots are hidden: set HOLDFAST_API_TOKEN (or [serve] public_status = true) to see them here."
    } else if who == Viewer::Refused {
        "Wrong token or an ended session: snapshots stay hidden."
    } else {
        "Snapshots, replicas and restores are shown after logging in with the API token."
    };
    let _ = writeln!(out, "<section class=\"login\"><p>{}</p>", esc(note));
    if token_set {
        out.push_str(login::FORM);
    }
    out.push_str("</section>\n");
}

/// `GET /`.
pub async fn page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(query): Query<PageQuery>,
) -> ApiResult<Response> {
    let (who, session) = viewer(&state, &headers, &query);
    // The token's viewer sees everything; `[serve] public_status` shows the snapshot
    // list to everyone, never the repository's URL or the replicas.
    let shown = matches!(who, Viewer::Allowed | Viewer::LoggedIn);
    let listed = shown || state.config.serve.public_status;
    let statuses = state.watch.current(&state.metrics, true).await;
    let snaps = if listed {
        snapshots(&state).await
    } else {
        Err(String::new())
    };
    let jobs = state.board.snapshot();
    let now = Utc::now();
    let problems = state.watch.problems();
    let replicas = state.replication.statuses(now);
    let mut once = Once::default();
    let mut out = String::with_capacity(8 * 1024);
    out.push_str(&style::head("holdfast status", true));
    let csrf = match (&state.token, &session) {
        (Some(t), Some(s)) => Some(t.csrf(s)),
        _ => None,
    };
    let facts = summary::Facts {
        state: &state,
        statuses: &statuses,
        problems: &problems,
        snaps: snaps.as_deref().ok(),
        replicas: &replicas,
        jobs: &jobs,
        shown,
        now,
    };
    summary::header(&mut out, &facts);
    if !problems.is_empty() {
        out.push_str(
            "<div class=\"banner\" role=\"alert\"><strong>Backups cannot run: the volumes are \
             NOT protected.</strong><ul>",
        );
        for p in &problems {
            once.record(p);
            let _ = write!(out, "<li class=\"error\">{}</li>", esc(p));
        }
        out.push_str("</ul></div>\n");
    }
    out.push_str("<main>\n");
    if statuses.is_empty() {
        out.push_str("<p>No volumes are configured.</p>\n");
    }
    let cx = card::CardContext {
        state: &state,
        snaps: snaps.as_deref().ok(),
        now,
        banner: !problems.is_empty(),
        csrf: csrf.as_deref(),
    };
    for s in &statuses {
        card::volume(&mut out, &cx, s, &mut once);
    }
    match &snaps {
        Err(e) if listed => {
            let (text, referred) = once.say(e);
            let class = if referred { "note" } else { "note error" };
            let _ = writeln!(
                out,
                "<p class=\"{class}\">Snapshots cannot be listed: {}</p>",
                esc(&text)
            );
        }
        _ => {}
    }
    if !shown {
        login_form(&mut out, who, state.token.is_some());
    }
    if let Some(csrf) = &csrf {
        restores_table(&mut out, &state, csrf);
        login::logout_form(&mut out, csrf);
    }
    if shown {
        tables::replicas(&mut out, &replicas, &mut once);
    }
    tables::jobs(&mut out, &jobs, now, &mut once);
    out.push_str("</main>\n</body>\n</html>\n");
    let mut res = Html(out).into_response();
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    if let (Viewer::LoggedIn, Some(s)) = (who, &session)
        && let Ok(v) = HeaderValue::from_str(&session_cookie(s))
    {
        h.insert(header::SET_COOKIE, v);
    }
    Ok(res)
}

/// The restores kept on the volumes, newest first, each with its Undo while it can be.
fn restores_table(out: &mut String, state: &AppState, csrf: &str) {
    let kept = crate::http::restores::listed(state);
    if kept.is_empty() {
        return;
    }
    out.push_str("<section class=\"wide restores\"><h2>Restores</h2><table><tr class=\"head\"><th>path</th><th>volume</th><th>from</th><th>state</th><th></th></tr>\n");
    for r in kept.iter().take(10) {
        let from = match (&r.snapshot, &r.undoes) {
            (Some(s), _) => format!("snapshot <span class=\"id\">{}</span>", esc(s)),
            (None, Some(u)) => format!("undo of <span class=\"id\">{}</span>", esc(u)),
            (None, None) => String::new(),
        };
        let state_text = format!("{:?}", r.state).to_lowercase();
        let undo = if r.state == holdfast_volume::restore::kept::State::Done {
            format!(
                "<form method=\"post\" action=\"/restores/{}/undo\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">\
                 <button class=\"secondary\" type=\"submit\">Undo</button></form>",
                esc(&r.id),
                esc(csrf)
            )
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "<tr><td data-label=\"path\"><code>{}</code></td><td data-label=\"volume\">{}</td>\
             <td data-label=\"from\">{from}</td><td data-label=\"state\">{}</td><td>{undo}</td></tr>",
            esc(&r.path),
            esc(&r.volume),
            esc(&state_text)
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
