//! Comparing two snapshots and searching by name, behind the login like
//! [`super::browse`]:
//!
//! - `GET /compare?a=A&b=B&path=P&after=CURSOR`: what changed from snapshot `A` to `B`
//!   (added, removed, changed, metadata only; sizes before and after), like
//!   `holdfast diff`, a page at a time ([`holdfast_repo::diff_page`], as the JSON diff
//!   route); without `a` and `b` it shows the form that picks them;
//! - `GET /search?pattern=GLOB&volume=V&after=CURSOR`: the paths matching a glob across
//!   snapshots, newest first, a page at a time ([`holdfast_repo::find_page`]).
//!
//! `path` passes the JSON routes' path check, else `400`.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use holdfast_repo::browse::{Change, DiffOptions, FindPageOptions};
use holdfast_repo::tree::NodeType;
use holdfast_repo::{Id, Snapshot};
use holdfast_volume::units::format_size;

use super::esc;
use super::kit::{
    Params, answer, enc, entry_href, frame, logged_in, snap_link, time, time_tag, to_login,
};
use crate::http::AppState;
use crate::http::browse::{indexed, snapshot};
use crate::http::error::ApiResult;

/// Snapshots offered in the compare form's lists.
const CHOICES: usize = 200;

fn options(out: &mut String, snaps: &[&(Id, Snapshot)], selected: Option<&Id>) {
    for (id, s) in snaps.iter().take(CHOICES) {
        let sel = if Some(id) == selected {
            " selected"
        } else {
            ""
        };
        let vol = s.volume.as_deref().unwrap_or("");
        let _ = write!(
            out,
            "<option value=\"{}\"{sel}>{} · {} {}</option>",
            id.to_hex(),
            esc(&id.short()),
            esc(&time(s.time)),
            esc(vol)
        );
    }
}

/// The compare and search forms for volume `volume` whose snapshots, newest first,
/// are `snaps`: compare preselects the two newest (older as `a`).
pub fn forms(out: &mut String, volume: &str, snaps: &[&(Id, Snapshot)]) {
    let b = snaps.first().map(|s| &s.0);
    let a = snaps.get(1).map(|s| &s.0).or(b);
    compare_form(out, snaps, a, b, "");
    search_form(out, Some(volume), "");
}

fn compare_form(
    out: &mut String,
    snaps: &[&(Id, Snapshot)],
    a: Option<&Id>,
    b: Option<&Id>,
    path: &str,
) {
    out.push_str(
        "<form class=\"inline pick\" method=\"get\" action=\"/compare\"><h3>Compare two snapshots</h3>\
         <label for=\"cmp-a\">from</label><select id=\"cmp-a\" name=\"a\">",
    );
    options(out, snaps, a);
    out.push_str("</select><label for=\"cmp-b\">to</label><select id=\"cmp-b\" name=\"b\">");
    options(out, snaps, b);
    let _ = write!(
        out,
        "</select><label for=\"cmp-path\">below</label>\
         <input id=\"cmp-path\" name=\"path\" value=\"{}\" placeholder=\"(everything)\">\
         <button type=\"submit\">Compare</button></form>",
        esc(path)
    );
}

fn search_form(out: &mut String, volume: Option<&str>, pattern: &str) {
    out.push_str(
        "<form class=\"inline pick\" method=\"get\" action=\"/search\"><h3>Search by name</h3>",
    );
    if let Some(v) = volume {
        let _ = write!(
            out,
            "<input type=\"hidden\" name=\"volume\" value=\"{}\">",
            esc(v)
        );
    }
    let _ = write!(
        out,
        "<label for=\"find-pattern\">name or glob</label>\
         <input id=\"find-pattern\" name=\"pattern\" required value=\"{}\" placeholder=\"*.jpg\">\
         <button type=\"submit\">Search</button></form>",
        esc(pattern)
    );
}

/// `GET /compare`.
pub async fn compare(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    if !logged_in(&state, &headers) {
        return to_login();
    }
    answer(compare_page(&state, raw.as_deref()).await)
}

fn change_word(c: Change) -> &'static str {
    match c {
        Change::Added => "added",
        Change::Removed => "removed",
        Change::Modified => "changed",
        Change::Metadata => "metadata",
    }
}

async fn compare_page(state: &AppState, raw: Option<&str>) -> ApiResult<Response> {
    let q = Params::parse(raw)?;
    let path = q.path("path")?;
    let all = super::browse::newest_first(state).await?;
    let refs: Vec<&(Id, Snapshot)> = all.iter().collect();
    let (Some(a), Some(b)) = (q.get("a"), q.get("b")) else {
        let mut out = String::from("<section class=\"wide\"><h2>Compare</h2>");
        let b = refs.first().map(|s| &s.0);
        let a = refs.get(1).map(|s| &s.0).or(b);
        compare_form(&mut out, &refs, a, b, &path);
        out.push_str("</section>");
        return Ok(frame(StatusCode::OK, "holdfast: compare", &out));
    };
    let repo = indexed(state).await?;
    let (ida, sa) = snapshot(state, &repo, a).await?;
    let (idb, sb) = snapshot(state, &repo, b).await?;
    let opts = DiffOptions {
        path: path.clone(),
        after: q.get("after").map(str::to_owned),
        limit: q.limit(),
    };
    let page = holdfast_repo::diff_page(&repo, &state.browse.trees, &sa, &sb, &opts).await?;
    let below = if path.is_empty() {
        String::new()
    } else {
        format!(" below {}", esc(&path))
    };
    let mut out = format!(
        "<section class=\"wide diff\"><h2>From {} to {}{below}</h2>\
         <p class=\"muted\">{} ({}) → {} ({}): {}.</p>",
        snap_link(&ida),
        snap_link(&idb),
        esc(&ida.short()),
        time_tag(sa.time),
        esc(&idb.short()),
        time_tag(sb.time),
        esc(&crate::text::count(page.total, "change"))
    );
    out.push_str(
        "<table id=\"changes\"><tr class=\"head\"><th>change</th><th>path</th><th>before</th><th>after</th></tr>\n",
    );
    for c in &page.changes {
        let (at, dir) = match c.change {
            Change::Removed => (&ida, c.kind == NodeType::Dir),
            _ => (&idb, c.kind == NodeType::Dir),
        };
        let size = |s: Option<u64>| match (s, c.kind) {
            (Some(n), NodeType::File) => format_size(n),
            (Some(_), _) => "—".to_string(),
            (None, _) => "—".to_string(),
        };
        let shown = if dir {
            format!("{}/", c.path)
        } else {
            c.path.clone()
        };
        let _ = writeln!(
            out,
            "<tr class=\"{w}\"><td data-label=\"change\" class=\"{w}\">{w}</td>\
             <td data-label=\"path\"><a class=\"name\" href=\"{}\">{}</a></td>\
             <td data-label=\"before\">{}</td><td data-label=\"after\">{}</td></tr>",
            esc(&entry_href(at, &c.path, dir)),
            esc(&shown),
            esc(&size(c.size_before)),
            esc(&size(c.size_after)),
            w = change_word(c.change),
        );
    }
    out.push_str("</table>");
    if let Some(next) = &page.next_after {
        let _ = write!(
            out,
            "<p class=\"pager\"><a id=\"next\" rel=\"next\" href=\"/compare?a={}&amp;b={}&amp;path={}&amp;after={}&amp;limit={}\">Next {} →</a></p>",
            ida.to_hex(),
            idb.to_hex(),
            enc(&path),
            enc(next),
            opts.limit,
            opts.limit
        );
    }
    compare_form(&mut out, &refs, Some(&ida), Some(&idb), &path);
    out.push_str("</section>");
    Ok(frame(StatusCode::OK, "holdfast: compare", &out))
}

/// `GET /search`.
pub async fn search(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    if !logged_in(&state, &headers) {
        return to_login();
    }
    answer(search_page(&state, raw.as_deref()).await)
}

async fn search_page(state: &AppState, raw: Option<&str>) -> ApiResult<Response> {
    let q = Params::parse(raw)?;
    let volume = q.get("volume");
    let mut out = String::from("<section class=\"wide search\"><h2>Search</h2>");
    search_form(&mut out, volume, q.get("pattern").unwrap_or_default());
    let Some(pattern) = q.get("pattern") else {
        out.push_str("</section>");
        return Ok(frame(StatusCode::OK, "holdfast: search", &out));
    };
    let repo = indexed(state).await?;
    let opts = FindPageOptions {
        pattern: pattern.to_owned(),
        volume: volume.map(str::to_owned),
        after: q.get("after").map(str::to_owned),
        limit: q.limit(),
    };
    let page = holdfast_repo::find_page(&repo, &opts).await?;
    let within = volume
        .map(|v| format!(" in volume {}", esc(v)))
        .unwrap_or_default();
    let _ = write!(
        out,
        "<p class=\"muted\">Matches of <span class=\"name\">{}</span>{within}, newest snapshot first{}.</p>",
        esc(pattern),
        if page.found.is_empty() { ": none" } else { "" }
    );
    out.push_str(
        "<table id=\"found\"><tr class=\"head\"><th>path</th><th>snapshot</th><th>size</th><th>modified</th></tr>\n",
    );
    for f in &page.found {
        let dir = f.kind == NodeType::Dir;
        let shown = if dir {
            format!("{}/", f.path)
        } else {
            f.path.clone()
        };
        let size = if f.kind == NodeType::File {
            format_size(f.size)
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "<tr><td data-label=\"path\"><a class=\"name\" href=\"{}\">{}</a></td>\
             <td data-label=\"snapshot\">{} {}</td><td data-label=\"size\">{}</td>\
             <td data-label=\"modified\">{}</td></tr>",
            esc(&entry_href(&f.snapshot, &f.path, dir)),
            esc(&shown),
            snap_link(&f.snapshot),
            time_tag(f.time),
            esc(&size),
            time_tag(f.mtime)
        );
    }
    out.push_str("</table>");
    if let Some(next) = &page.next {
        let vol = volume
            .map(|v| format!("&amp;volume={}", enc(v)))
            .unwrap_or_default();
        let _ = write!(
            out,
            "<p class=\"pager\"><a id=\"next\" rel=\"next\" href=\"/search?pattern={}{vol}&amp;after={}&amp;limit={}\">Next {} →</a></p>",
            enc(pattern),
            enc(next),
            opts.limit,
            opts.limit
        );
    }
    out.push_str("</section>");
    Ok(frame(StatusCode::OK, "holdfast: search", &out))
}
