//! Restoring one file or folder from the page, behind the login, without a script
//! (a small one only makes the progress live):
//!
//! - `GET /restore?volume=V&snapshot=S&path=P`: the confirmation, naming exactly what
//!   will be replaced — the live entry at `V/P` (a file with its size and time, a folder
//!   with its files and bytes, or nothing) — and what comes in (`P` of snapshot `S`,
//!   with its time); one button starts it;
//! - `POST /restore` (the confirmation's form, with the session's CSRF token): starts
//!   the job ([`crate::http::restores::start_restore`]) and answers `303` to its page;
//! - `GET /jobs/{id}`: the job — bytes done / total while it runs (the page refreshes
//!   itself every 2 s; with scripts on it polls `/api/v1/jobs/{id}` instead), then what
//!   it did, with an Undo button for a restore;
//! - `POST /restores/{id}/undo` (a form with the CSRF token): starts the undo, `303` to
//!   its job's page.
//!
//! Without a session these pages send the browser to `/login`; a form without the
//! session's CSRF token is `403`.

use std::fmt::Write as _;
use std::path::Path as FsPath;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use holdfast_volume::units::format_size;

use super::{esc, style};
use crate::http::AppState;
use crate::http::auth::session;
use crate::http::error::ApiError;
use crate::http::jobs::{JobStatus, JobView};
use crate::http::restores::{RestoreRequest, start_restore, start_undo};

/// The query of the confirmation.
#[derive(Debug, serde::Deserialize)]
pub struct RestoreQuery {
    /// The volume.
    pub volume: String,
    /// The snapshot (id, prefix or `latest:VOLUME`).
    pub snapshot: String,
    /// The file or folder, relative to the volume.
    pub path: String,
}

/// The session's CSRF token, when the viewer is logged in.
pub(super) fn logged_in(state: &AppState, headers: &HeaderMap) -> Option<String> {
    state
        .token
        .as_ref()
        .and_then(|t| session(t, headers).map(|s| t.csrf(s)))
}

/// The answer that sends the browser to log in.
fn to_login() -> Response {
    see_other("/login")
}

fn forbidden() -> Response {
    ApiError::forbidden("this form needs the session and its CSRF token").into_response()
}

/// The form's fields when its CSRF token is the session's.
fn form(state: &AppState, headers: &HeaderMap, body: &[u8]) -> Option<Vec<(String, String)>> {
    let fields: Vec<(String, String)> = url::form_urlencoded::parse(body).into_owned().collect();
    let ok = state.token.as_ref().is_some_and(|t| {
        session(t, headers).is_some_and(|s| {
            fields
                .iter()
                .any(|(k, v)| k == "csrf" && t.csrf_valid(s, v))
        })
    });
    ok.then_some(fields)
}

fn get(fields: &[(String, String)], name: &str) -> String {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

fn html(status: StatusCode, title: &str, refresh: bool, body: &str) -> Response {
    let mut out = style::head(title, false);
    if refresh {
        out = out.replace(
            "<meta name=\"viewport\"",
            "<meta http-equiv=\"refresh\" content=\"2\">\n<meta name=\"viewport\"",
        );
    }
    let _ = write!(
        out,
        "<header><div class=\"top\"><h1><a href=\"/\">holdfast</a></h1>\
         <nav><a href=\"/\">Status</a></nav></div></header>\n<main>{body}</main>\n</body>\n</html>\n"
    );
    let mut res = (status, Html(out)).into_response();
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    res
}

fn see_other(to: &str) -> Response {
    let mut res = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    res
}

fn refused(e: &ApiError) -> Response {
    html(
        e.status,
        "holdfast: restore refused",
        false,
        &format!(
            "<section class=\"wide\"><h2>Not restored</h2><p class=\"bad error\">{}</p>\
             <p><a href=\"/\">Back to the status page</a></p></section>",
            esc(&e.message)
        ),
    )
}

/// What is at `rel` in the volume now, in words (never following a link).
fn live_entry(root: &FsPath, rel: &str) -> String {
    let Some(e) = holdfast_volume::restore::path::live_entry(root, rel) else {
        return "nothing: the path does not exist now, so nothing is replaced (the restore \
                creates it)"
            .into();
    };
    let when = e
        .modified
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default();
    match e.kind {
        "folder" => format!(
            "the folder as it is now: {} ({}) in {} entries, changed {when}",
            crate::text::count(e.files, "file"),
            format_size(e.bytes),
            e.entries
        ),
        "file" => format!(
            "the file as it is now: {}, changed {when}",
            format_size(e.bytes)
        ),
        kind => format!("a {kind}, changed {when}"),
    }
}

/// `GET /restore`.
pub async fn confirm(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<RestoreQuery>,
) -> Response {
    let Some(csrf) = logged_in(&state, &headers) else {
        return to_login();
    };
    let Some(volume) = state.config.volume(&q.volume) else {
        return refused(&ApiError::not_found(format!(
            "no volume named {:?}",
            q.volume
        )));
    };
    if let Err(e) = holdfast_volume::restore::path::check_path(&q.volume, &q.path) {
        return refused(&ApiError::bad_request(e.to_string()));
    }
    let snap = match state.repo.open().await {
        Ok(repo) => repo
            .find_snapshot(&q.snapshot)
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(crate::error::chain(&e)),
    };
    let (id, snap) = match snap {
        Ok(s) => s,
        Err(e) => return refused(&ApiError::not_found(e)),
    };
    let root = volume.path.clone();
    let rel = q.path.clone();
    let now = tokio::task::spawn_blocking(move || live_entry(&root, &rel))
        .await
        .unwrap_or_default();
    let body = format!(
        "<section class=\"wide confirm\"><h2>Restore <code>{path}</code> into volume {volume}?</h2>\
         <p>This replaces exactly <code>{volume}/{path}</code> — {now}.</p>\
         <p>It comes back as it was in snapshot <span class=\"id\">{id}</span> of \
         <time>{time}</time>. Nothing else in the volume changes; the app can keep running. \
         What is replaced is moved to <code>.holdfast/kept/</code> and an Undo puts it back.</p>\
         <form class=\"inline\" method=\"post\" action=\"/restore\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <input type=\"hidden\" name=\"volume\" value=\"{volume}\">\
         <input type=\"hidden\" name=\"snapshot\" value=\"{full}\">\
         <input type=\"hidden\" name=\"path\" value=\"{path}\">\
         <button type=\"submit\" id=\"confirm\">Replace {path}</button> <a href=\"/\">Cancel</a></form>\
         </section>",
        path = esc(&q.path),
        volume = esc(&q.volume),
        now = esc(&now),
        id = esc(&id.short()),
        full = esc(&id.to_hex()),
        time = snap.time.format("%Y-%m-%d %H:%M:%S UTC"),
        csrf = esc(&csrf),
    );
    html(
        StatusCode::OK,
        "holdfast: confirm the restore",
        false,
        &body,
    )
}

/// `POST /restore`.
pub async fn start(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(fields) = form(&state, &headers, &body) else {
        return forbidden();
    };
    let req = RestoreRequest {
        snapshot: get(&fields, "snapshot"),
        path: get(&fields, "path"),
        volume: Some(get(&fields, "volume")),
    };
    match start_restore(&state, req).await {
        Ok(job) => see_other(&format!("/jobs/{}", job.id)),
        Err(e) => refused(&e),
    }
}

/// `POST /restores/{id}/undo`.
pub async fn undo(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if form(&state, &headers, &body).is_none() {
        return forbidden();
    }
    match start_undo(&state, id) {
        Ok(job) => see_other(&format!("/jobs/{}", job.id)),
        Err(e) => refused(&e),
    }
}

/// The job page's script: polls the job and updates the progress, reloads at the end.
const POLL: &str = "<script>(function(){var p=document.getElementById('progress');if(!p)return;\
var id=p.getAttribute('data-job');var m=document.querySelector('meta[http-equiv=refresh]');\
if(m)m.remove();function tick(){fetch('/api/v1/jobs/'+id,{credentials:'same-origin'})\
.then(function(r){return r.json()}).then(function(j){if(j.status!=='running'){location.reload();return}\
if(j.progress){p.max=Math.max(j.progress.total,1);p.value=j.progress.done;\
document.getElementById('done').textContent=j.progress.done_text||(j.progress.done+' of '+j.progress.total+' bytes')}\
setTimeout(tick,500)}).catch(function(){setTimeout(tick,2000)})}tick()})();</script>";

/// `GET /jobs/{id}`.
pub async fn job(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let Some(csrf) = logged_in(&state, &headers) else {
        return to_login();
    };
    let Some(view) = state.backup_jobs.view(&id) else {
        return refused(&ApiError::not_found(format!("no job {id:?}")));
    };
    let running = view.status == JobStatus::Running;
    let body = job_body(&view, &csrf);
    let body = if running {
        format!("{body}{POLL}")
    } else {
        body
    };
    html(StatusCode::OK, "holdfast: restore", running, &body)
}

fn job_body(v: &JobView, csrf: &str) -> String {
    let what = match v.kind {
        "undo" => "Undo of the restore of",
        "restore" => "Restore of",
        _ => "Job",
    };
    let mut out = format!(
        "<section class=\"wide job\" data-status=\"{}\"><h2>{what} <code>{}</code> in volume {}</h2>",
        match v.status {
            JobStatus::Running => "running",
            JobStatus::Succeeded => "succeeded",
            JobStatus::Failed => "failed",
        },
        esc(v.path.as_deref().unwrap_or("")),
        esc(v.volume.as_deref().unwrap_or(""))
    );
    if let Some(s) = &v.snapshot {
        let _ = write!(
            out,
            "<p>From snapshot <span class=\"id\">{}</span>.</p>",
            esc(s)
        );
    }
    let (done, total) = v.progress.map_or((0, 0), |p| (p.done, p.total));
    match v.status {
        JobStatus::Running => {
            let _ = write!(
                out,
                "<p><progress id=\"progress\" data-job=\"{}\" value=\"{done}\" max=\"{}\"></progress> \
                 <span id=\"done\">{} of {}</span></p><p class=\"muted\">Running; this page follows it.</p>",
                esc(&v.id),
                total.max(1),
                esc(&format_size(done)),
                esc(&format_size(total))
            );
        }
        JobStatus::Failed => {
            let _ = write!(
                out,
                "<p class=\"bad error\">Failed: {}</p><p>The volume was left as it was, or as the \
                 interrupted swap is recovered to (old or new, whole).</p>",
                esc(v.error.as_deref().unwrap_or("unknown error"))
            );
        }
        JobStatus::Succeeded => {
            if let Some(r) = &v.restore {
                let replaced = if r.went_aside.is_empty() {
                    "Nothing was there before.".to_string()
                } else {
                    format!(
                        "What it replaced is kept as restore <span class=\"id\">{}</span>.",
                        esc(&r.id)
                    )
                };
                let _ = write!(
                    out,
                    "<p class=\"ok\" id=\"outcome\">Done: {} ({}) back in place. {replaced}</p>",
                    crate::text::count(r.files, "file"),
                    esc(&format_size(r.bytes)),
                );
                if v.kind == "restore" {
                    let _ = write!(
                        out,
                        "<form class=\"inline\" method=\"post\" action=\"/restores/{}/undo\">\
                         <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
                         <button type=\"submit\" id=\"undo\">Undo: put the replaced {} back</button></form>",
                        esc(&r.id),
                        esc(csrf),
                        esc(&r.path)
                    );
                } else {
                    out.push_str("<p id=\"outcome-undo\">The replaced entries are back.</p>");
                }
            }
        }
    }
    out.push_str("<p><a href=\"/\">Back to the status page</a></p></section>");
    out
}
