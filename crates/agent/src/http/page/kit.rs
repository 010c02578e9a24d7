//! What the snapshot pages ([`super::browse`], [`super::compare`]) share: the strict
//! reading of a query string, links, the page frame and the error page.
//!
//! A query value is percent-decoded byte for byte and must then be UTF-8: an overlong
//! or broken encoding (`%C0%AE`) is a `400`, never a replacement character that would
//! slip past the path check. Every path read from a query goes through
//! [`crate::http::browse::checked_relative`], the check the JSON routes use (relative,
//! no empty, `.` or `..` component, no NUL).

use std::fmt::Write as _;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use holdfast_repo::Id;

use super::{esc, style};
use crate::http::AppState;
use crate::http::browse::checked_relative;
use crate::http::error::{ApiError, ApiResult};

/// Entries, changes or matches per page when `limit` is not given.
pub const PAGE: usize = 100;
/// Most entries one page shows.
pub const MAX_PAGE: usize = 1_000;

/// A query string, decoded strictly (see the module doc).
#[derive(Debug, Default)]
pub struct Params(Vec<(String, String)>);

impl Params {
    /// The pairs of a raw query string (`None`: no query).
    pub fn parse(raw: Option<&str>) -> ApiResult<Params> {
        let mut pairs = Vec::new();
        for part in raw.unwrap_or_default().split('&').filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            pairs.push((decode(k)?, decode(v)?));
        }
        Ok(Params(pairs))
    }

    /// The first value of `name`, when present and not empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// The path in `name` (the root when absent), through the one path check.
    pub fn path(&self, name: &str) -> ApiResult<String> {
        checked_relative(self.get(name).unwrap_or_default())
    }

    /// The page size: `limit`, 1..=[`MAX_PAGE`], else [`PAGE`].
    pub fn limit(&self) -> usize {
        self.get("limit")
            .and_then(|l| l.parse::<usize>().ok())
            .unwrap_or(PAGE)
            .clamp(1, MAX_PAGE)
    }
}

/// Percent-decodes `s` (`+` is a space) and requires UTF-8.
fn decode(s: &str) -> ApiResult<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' if b.len() > i + 2
                && b[i + 1].is_ascii_hexdigit()
                && b[i + 2].is_ascii_hexdigit() =>
            {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("00");
                out.push(u8::from_str_radix(hex, 16).unwrap_or(0));
                i += 3;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| {
        ApiError::bad_request("the query is not UTF-8 (an overlong or broken percent-encoding)")
    })
}

/// `s` percent-encoded for a query value or a URL path (`/` kept).
pub fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// A snapshot's time as the pages show it.
pub fn time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// A `<time>` element.
pub fn time_tag(t: chrono::DateTime<chrono::Utc>) -> String {
    format!(
        "<time datetime=\"{}\">{}</time>",
        t.to_rfc3339(),
        esc(&time(t))
    )
}

/// A snapshot's short id as a link to its root folder.
pub fn snap_link(id: &Id) -> String {
    format!(
        "<a class=\"id\" href=\"/browse/{}\">{}</a>",
        id.to_hex(),
        esc(&id.short())
    )
}

/// The link to `path` of snapshot `id`: its folder page or its file page.
pub fn entry_href(id: &Id, path: &str, dir: bool) -> String {
    if dir {
        format!("/browse/{}?path={}", id.to_hex(), enc(path))
    } else {
        format!("/browse/{}/file?path={}", id.to_hex(), enc(path))
    }
}

/// True when the request carries a valid session cookie (the login of
/// [`super::login`]; a bearer token is not one).
pub fn logged_in(state: &AppState, headers: &HeaderMap) -> bool {
    super::restore::logged_in(state, headers).is_some()
}

/// `303` to the login form.
pub fn to_login() -> Response {
    let mut res = StatusCode::SEE_OTHER.into_response();
    res.headers_mut()
        .insert(header::LOCATION, HeaderValue::from_static("/login"));
    res
}

/// A whole page: the header with the navigation, then `body` in `<main>`.
pub fn frame(status: StatusCode, title: &str, body: &str) -> Response {
    let mut out = style::head(title, false);
    let _ = write!(
        out,
        "<header><div class=\"top\"><h1><a href=\"/\">holdfast</a></h1>\
         <nav aria-label=\"pages\"><a href=\"/\">Status</a><a href=\"/browse\">Snapshots</a>\
         <a href=\"/compare\">Compare</a><a href=\"/search\">Search</a></nav></div></header>\n\
         <main>{body}</main>\n</body>\n</html>\n"
    );
    let mut res = (status, Html(out)).into_response();
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    res
}

/// The page of an error: its status and its one-line message.
pub fn error_page(e: &ApiError) -> Response {
    frame(
        e.status,
        "holdfast: not shown",
        &format!(
            "<section class=\"wide\"><h2>Not shown</h2><p class=\"bad error\">{}</p>\
             <p><a href=\"/browse\">Back to the snapshots</a></p></section>",
            esc(&e.message)
        ),
    )
}

/// `Ok` as is, an error as [`error_page`].
pub fn answer(r: ApiResult<Response>) -> Response {
    r.unwrap_or_else(|e| error_page(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_decode_strictly() {
        let p = Params::parse(Some("path=a%2Fb+c&x=%e2%9c%93&empty=")).expect("parse");
        assert_eq!(p.get("path"), Some("a/b c"));
        assert_eq!(p.get("x"), Some("✓"));
        assert_eq!(p.get("empty"), None);
        assert!(Params::parse(Some("path=%c0%ae%c0%ae")).is_err());
        assert!(Params::parse(Some("path=%ff")).is_err());
        for bad in ["..", "%2e%2e/x", "/etc/passwd", "a%00b", "a//b", "a/./b"] {
            let p = Params::parse(Some(&format!("path={bad}"))).expect("parse");
            assert!(p.path("path").is_err(), "{bad}");
        }
        assert_eq!(enc("a b/ü&"), "a%20b/%C3%BC%26");
    }
}
