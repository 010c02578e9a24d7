//! The snapshot view of the status page, behind the login (without a session every
//! page answers `303` to `/login`), server-rendered, no script:
//!
//! - `GET /browse?volume=V`: the volumes, then the chosen volume's snapshots as a
//!   timeline, newest first, each id and time written out;
//! - `GET /browse/{id}?path=P&after=NAME&limit=N`: one folder of a snapshot, a page at a
//!   time — breadcrumbs, each entry's size and time, a next-page link (`after=` the
//!   last name shown), the folder as `tar.zst` or `zip`, and a restore link into the
//!   confirmation of [`super::restore`];
//! - `GET /browse/{id}/file?path=P`: one file — its size and time in this snapshot, and
//!   every version of it across the volume's snapshots, each with a download and a
//!   "restore this" link;
//! - `GET /browse/{id}/download?path=P`: the file, streamed by the files route's own
//!   code ([`crate::http::download::file_response`]: `Range`, `ETag`, attachment);
//! - `GET /browse/{id}/archive?path=P&format=tar.zst|zip`: the folder, streamed by the
//!   archive route's code ([`crate::http::download::archive_response`]).
//!
//! Each page calls the walks the JSON routes call ([`holdfast_repo::list_dir`],
//! [`holdfast_repo::versions`], [`holdfast_repo::browse::lookup`]) through the same
//! opened repository and tree cache; every `path` passes the JSON routes' path check
//! ([`super::kit::Params::path`]), else `400`.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use holdfast_repo::browse::{DirOptions, VersionsOptions, after_bytes, lookup, split_path};
use holdfast_repo::tree::NodeType;
use holdfast_repo::{Id, Snapshot};
use holdfast_volume::units::format_size;

use super::esc;
use super::kit::{
    Params, answer, enc, entry_href, frame, logged_in, snap_link, time, time_tag, to_login,
};
use crate::http::AppState;
use crate::http::browse::{indexed, snapshot};
use crate::http::download::{archive_response, file_response};
use crate::http::error::ApiResult;

/// Snapshots of a volume shown on its timeline.
const TIMELINE: usize = 500;

/// The repository's snapshots, newest first.
pub(super) async fn newest_first(state: &AppState) -> ApiResult<Vec<(Id, Snapshot)>> {
    let repo = indexed(state).await?;
    let mut all = repo.snapshots().await?;
    all.sort_by(|a, b| b.1.time.cmp(&a.1.time).then(b.0.cmp(&a.0)));
    Ok(all)
}

/// `GET /browse`.
pub async fn volumes(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    if !logged_in(&state, &headers) {
        return to_login();
    }
    answer(volumes_page(&state, raw.as_deref()).await)
}

async fn volumes_page(state: &AppState, raw: Option<&str>) -> ApiResult<Response> {
    let q = Params::parse(raw)?;
    let all = newest_first(state).await?;
    let mut names: Vec<String> = state
        .config
        .volumes
        .iter()
        .map(|v| v.name.clone())
        .collect();
    for (_, s) in &all {
        if let Some(v) = &s.volume
            && !names.contains(v)
        {
            names.push(v.clone());
        }
    }
    let chosen = q
        .get("volume")
        .map(str::to_owned)
        .or_else(|| (names.len() == 1).then(|| names[0].clone()));
    let mut out = String::from(
        "<section class=\"wide\"><h2>Snapshots</h2><p>Pick a volume:</p><ul class=\"picks\">",
    );
    for n in &names {
        let count = all
            .iter()
            .filter(|(_, s)| s.volume.as_deref() == Some(n))
            .count();
        let current = if chosen.as_deref() == Some(n) {
            " aria-current=\"page\""
        } else {
            ""
        };
        let _ = write!(
            out,
            "<li><a href=\"/browse?volume={}\"{current}>{}</a> <span class=\"muted\">{}</span></li>",
            enc(n),
            esc(n),
            esc(&crate::text::count(count, "snapshot"))
        );
    }
    out.push_str("</ul></section>\n");
    if let Some(v) = &chosen {
        let mine: Vec<&(Id, Snapshot)> = all
            .iter()
            .filter(|(_, s)| s.volume.as_deref() == Some(v.as_str()))
            .collect();
        let _ = write!(
            out,
            "<section class=\"wide\"><h2>Volume {} · {}, newest first</h2>",
            esc(v),
            esc(&crate::text::count(mine.len(), "snapshot"))
        );
        if mine.is_empty() {
            out.push_str("<p>No snapshot of this volume yet.</p>");
        } else {
            out.push_str("<ol class=\"timeline-list\" id=\"timeline\">");
            for (id, s) in mine.iter().take(TIMELINE) {
                let _ = write!(
                    out,
                    "<li><a class=\"id\" href=\"/browse/{}\">{}</a>{}\
                     <span class=\"muted\">{} · {} · {} added</span></li>",
                    id.to_hex(),
                    esc(&id.short()),
                    time_tag(s.time),
                    esc(&crate::text::count(s.files, "file")),
                    esc(&format_size(s.size)),
                    esc(&format_size(s.added))
                );
            }
            out.push_str("</ol>");
            if mine.len() > TIMELINE {
                let _ = write!(
                    out,
                    "<p class=\"muted\">and {} older (open one by its id: /browse/ID).</p>",
                    mine.len() - TIMELINE
                );
            }
            super::compare::forms(&mut out, v, &mine);
        }
        out.push_str("</section>\n");
    }
    Ok(frame(StatusCode::OK, "holdfast: snapshots", &out))
}

/// The breadcrumbs of `path` in snapshot `id`: the root, then each folder on the way.
fn crumbs(out: &mut String, id: &Id, snap: &Snapshot, path: &str) {
    let root = snap.volume.clone().unwrap_or_else(|| "root".into());
    let _ = write!(
        out,
        "<nav class=\"crumbs\" aria-label=\"folders\"><a href=\"/browse/{}\">{}</a>",
        id.to_hex(),
        esc(&root)
    );
    let mut walked = String::new();
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    for (i, part) in parts.iter().enumerate() {
        if !walked.is_empty() {
            walked.push('/');
        }
        walked.push_str(part);
        if i + 1 == parts.len() {
            let _ = write!(out, " / <span aria-current=\"page\">{}</span>", esc(part));
        } else {
            let _ = write!(
                out,
                " / <a href=\"{}\">{}</a>",
                esc(&entry_href(id, &walked, true)),
                esc(part)
            );
        }
    }
    out.push_str("</nav>");
}

/// The heading line of a snapshot page.
fn snapshot_line(id: &Id, snap: &Snapshot) -> String {
    let volume = snap
        .volume
        .as_deref()
        .map(|v| {
            format!(
                " of volume <a href=\"/browse?volume={}\">{}</a>",
                enc(v),
                esc(v)
            )
        })
        .unwrap_or_default();
    format!(
        "<p class=\"muted\">Snapshot <span class=\"id\">{}</span>{volume}, taken {}</p>",
        esc(&id.short()),
        time_tag(snap.time)
    )
}

/// `GET /browse/{id}`.
pub async fn tree(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    if !logged_in(&state, &headers) {
        return to_login();
    }
    answer(tree_page(&state, &id, raw.as_deref()).await)
}

async fn tree_page(state: &AppState, spec: &str, raw: Option<&str>) -> ApiResult<Response> {
    let q = Params::parse(raw)?;
    let path = q.path("path")?;
    let repo = indexed(state).await?;
    let (id, snap) = snapshot(state, &repo, spec).await?;
    let opts = DirOptions {
        path: path.clone(),
        after: after_bytes(q.get("after"), q.get("after_raw"))?,
        limit: q.limit(),
    };
    let page = holdfast_repo::list_dir(&repo, &state.browse.trees, &snap, &opts).await?;
    let title = if path.is_empty() { "/" } else { path.as_str() };
    let mut out = String::from("<section class=\"wide tree\">");
    crumbs(&mut out, &id, &snap, &path);
    let _ = write!(out, "<h2>{}</h2>{}", esc(title), snapshot_line(&id, &snap));
    let hex = id.to_hex();
    let _ = write!(
        out,
        "<p class=\"actions\">Download this folder: \
         <a href=\"/browse/{hex}/archive?path={p}&amp;format=tar.zst\">tar.zst</a> \
         <a href=\"/browse/{hex}/archive?path={p}&amp;format=zip\">zip</a>",
        p = enc(&path)
    );
    if let (Some(v), false) = (&snap.volume, path.is_empty()) {
        let _ = write!(
            out,
            " · <a href=\"/restore?volume={}&amp;snapshot={hex}&amp;path={}\">Restore this folder into the volume…</a>",
            enc(v),
            enc(&path)
        );
    }
    out.push_str("</p>");
    let from = match q.get("after") {
        Some(a) => format!(", after {}", esc(a)),
        None => String::new(),
    };
    let _ = write!(
        out,
        "<p class=\"muted\">{} in this folder{from}.</p>",
        esc(&crate::text::count(page.total, "entry"))
    );
    out.push_str(
        "<table id=\"entries\" class=\"compact\"><tr class=\"head\"><th>name</th><th>size</th><th>modified</th></tr>\n",
    );
    for e in &page.entries {
        let child = if path.is_empty() {
            e.name.clone()
        } else {
            format!("{path}/{}", e.name)
        };
        let shown = match e.kind {
            NodeType::Dir => format!("{}/", esc(&e.name)),
            NodeType::Symlink => format!(
                "{} → {}",
                esc(&e.name),
                esc(e.target.as_deref().unwrap_or(""))
            ),
            NodeType::File => esc(&e.name),
        };
        let name = if e.name_raw.is_some() || e.kind == NodeType::Symlink {
            format!("<span class=\"name\">{shown}</span>")
        } else {
            format!(
                "<a class=\"name\" href=\"{}\">{shown}</a>",
                esc(&entry_href(&id, &child, e.kind == NodeType::Dir))
            )
        };
        let size = if e.kind == NodeType::File {
            format_size(e.size)
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "<tr data-kind=\"{:?}\"><td data-label=\"name\">{name}</td>\
             <td data-label=\"size\" class=\"num\">{}</td><td data-label=\"modified\">{}</td></tr>",
            e.kind,
            esc(&size),
            time_tag(e.mtime)
        );
    }
    out.push_str("</table>");
    if let Some(next) = &page.next_after {
        let raw = page
            .next_after_raw
            .as_deref()
            .map(|r| format!("&amp;after_raw={}", enc(r)))
            .unwrap_or_default();
        let _ = write!(
            out,
            "<p class=\"pager\"><a id=\"next\" rel=\"next\" href=\"/browse/{hex}?path={}&amp;after={}{raw}&amp;limit={}\">Next {} →</a></p>",
            enc(&path),
            enc(next),
            opts.limit,
            opts.limit
        );
    }
    out.push_str("</section>");
    Ok(frame(StatusCode::OK, &format!("holdfast: {title}"), &out))
}

/// `GET /browse/{id}/file`.
pub async fn file(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    if !logged_in(&state, &headers) {
        return to_login();
    }
    answer(file_page(&state, &id, raw.as_deref()).await)
}

async fn file_page(state: &AppState, spec: &str, raw: Option<&str>) -> ApiResult<Response> {
    let q = Params::parse(raw)?;
    let path = q.path("path")?;
    let repo = indexed(state).await?;
    let (id, snap) = snapshot(state, &repo, spec).await?;
    let parts = split_path(&path)?;
    if parts.is_empty() {
        return Ok(see_other(&entry_href(&id, "", true)));
    }
    let node = lookup(&repo, &state.browse.trees, snap.tree, &parts).await?;
    if node.kind == NodeType::Dir {
        return Ok(see_other(&entry_href(&id, &path, true)));
    }
    let hex = id.to_hex();
    let mut out = String::from("<section class=\"wide file\">");
    crumbs(&mut out, &id, &snap, &path);
    let _ = write!(
        out,
        "<h2>{}</h2>{}<p>{} · modified {} · \
         <a id=\"download\" href=\"/browse/{hex}/download?path={}\">Download</a></p>",
        esc(&node.name),
        snapshot_line(&id, &snap),
        esc(&format_size(node.size)),
        time_tag(chrono::DateTime::from_timestamp_nanos(node.mtime_ns)),
        enc(&path)
    );
    out.push_str("</section>");
    if let Some(volume) = &snap.volume {
        let opts = VersionsOptions {
            volume: volume.clone(),
            path: path.clone(),
        };
        let v = holdfast_repo::versions(&repo, &state.browse.trees, &opts).await?;
        let _ = writeln!(
            out,
            "<section class=\"wide versions\"><h2>{} of {} in volume {}, newest first</h2>\
             <table id=\"versions\"><tr class=\"head\"><th>newest in</th><th>size</th>\
             <th>modified</th><th>in snapshots</th><th></th></tr>",
            esc(&crate::text::count(v.versions.len(), "version")),
            esc(&path),
            esc(volume)
        );
        for ver in &v.versions {
            let this = ver.snapshots.iter().any(|s| s.id == id);
            let shex = ver.snapshot.to_hex();
            let held = ver
                .snapshots
                .iter()
                .map(|s| format!("{} ({})", snap_link(&s.id), esc(&time(s.time))))
                .collect::<Vec<_>>()
                .join(", ");
            let links = if ver.kind == NodeType::File {
                format!(
                    "<a class=\"download\" href=\"/browse/{shex}/download?path={p}\">Download</a> · \
                     <a href=\"/restore?volume={vol}&amp;snapshot={shex}&amp;path={p}\">Restore this…</a>",
                    p = enc(&path),
                    vol = enc(volume)
                )
            } else {
                format!(
                    "<a href=\"{}\">a {:?} here</a>",
                    esc(&entry_href(&ver.snapshot, &path, ver.kind == NodeType::Dir)),
                    ver.kind
                )
            };
            let mark = if this {
                " <strong>(this snapshot's)</strong>"
            } else {
                ""
            };
            let _ = writeln!(
                out,
                "<tr class=\"version{}\"><td data-label=\"newest in\">{} {}{mark}</td>\
                 <td data-label=\"size\">{}</td><td data-label=\"modified\">{}</td>\
                 <td data-label=\"in snapshots\">{held}</td><td>{links}</td></tr>",
                if this { " this" } else { "" },
                snap_link(&ver.snapshot),
                time_tag(ver.time),
                esc(&format_size(ver.size)),
                time_tag(ver.mtime)
            );
        }
        out.push_str("</table>");
        if !v.absent.is_empty() {
            let list = v
                .absent
                .iter()
                .map(|s| snap_link(&s.id))
                .collect::<Vec<_>>()
                .join(", ");
            let _ = write!(
                out,
                "<p class=\"muted\">Absent from {}: {list}</p>",
                esc(&crate::text::count(v.absent.len(), "snapshot"))
            );
        }
        out.push_str("</section>");
    }
    Ok(frame(
        StatusCode::OK,
        &format!("holdfast: {}", node.name),
        &out,
    ))
}

fn see_other(to: &str) -> Response {
    let mut res = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    res
}

/// `GET /browse/{id}/download`.
pub async fn download(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    if !logged_in(&state, &headers) {
        return to_login();
    }
    let run = async {
        let path = Params::parse(raw.as_deref())?.path("path")?;
        file_response(&state, &id, &path, &headers).await
    };
    answer(run.await)
}

/// `GET /browse/{id}/archive`.
pub async fn archive(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    if !logged_in(&state, &headers) {
        return to_login();
    }
    let run = async {
        let q = Params::parse(raw.as_deref())?;
        let path = q.path("path")?;
        archive_response(&state, &id, &path, q.get("format")).await
    };
    answer(run.await)
}
