//! Logging in to the page with the API token, and out ([`crate::http::auth`] for the
//! session and its CSRF token):
//!
//! - `GET /login`: the form (a password field; the browser posts it, the token never
//!   lands in a URL, a log or the history);
//! - `POST /login` (`token=…`, form-encoded): a right token answers `303` to `/` with the
//!   session cookie (`HttpOnly`, `SameSite=Strict`); a wrong one `401` with the form
//!   again; `404` when no token is configured;
//! - `POST /logout` (`csrf=…`): `303` to `/` with the cookie cleared; `403` without the
//!   session's CSRF token (another site cannot log a user out).

use std::fmt::Write as _;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use chrono::Utc;

use super::{esc, style};
use crate::http::AppState;
use crate::http::auth::{cleared_cookie, session, session_cookie};
use crate::http::error::ApiError;

/// The largest login or logout form read.
pub const MAX_FORM: usize = 4096;

/// The login form (a `POST` to `/login`).
pub const FORM: &str = "<form class=\"inline\" method=\"post\" action=\"/login\">\
     <label for=\"token\">API token</label> \
     <input id=\"token\" type=\"password\" name=\"token\" autocomplete=\"current-password\" required> \
     <button type=\"submit\">Log in</button></form>";

/// The log-out button, and the session's CSRF token for the page's scripts
/// (`#session[data-csrf]`).
pub fn logout_form(out: &mut String, csrf: &str) {
    let _ = writeln!(
        out,
        "<div id=\"session\" data-csrf=\"{0}\" hidden></div>\
         <section class=\"wide\"><form class=\"inline\" method=\"post\" action=\"/logout\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{0}\">\
         <span class=\"muted\">Logged in with the API token.</span> \
         <button class=\"secondary\" type=\"submit\">Log out</button></form></section>",
        esc(csrf)
    );
}

fn page(status: StatusCode, note: &str) -> Response {
    let mut out = style::head("holdfast: log in", false);
    let _ = writeln!(
        out,
        "<header><div class=\"top\"><h1><a href=\"/\">holdfast</a></h1></div></header>\
         <main><section class=\"login\"><h2>Log in</h2><p>{}</p>{FORM}</section></main>\
         </body></html>",
        esc(note)
    );
    let mut res = (status, Html(out)).into_response();
    no_store(res.headers_mut());
    res
}

fn no_store(h: &mut HeaderMap) {
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
}

fn see_other(cookie: &str) -> Response {
    let mut res = StatusCode::SEE_OTHER.into_response();
    let h = res.headers_mut();
    h.insert(header::LOCATION, HeaderValue::from_static("/"));
    if let Ok(v) = HeaderValue::from_str(cookie) {
        h.insert(header::SET_COOKIE, v);
    }
    no_store(h);
    res
}

/// The value of field `name` of a form-encoded body.
fn field(body: &[u8], name: &str) -> Option<String> {
    url::form_urlencoded::parse(body)
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// `GET /login`.
pub async fn get_login(State(state): State<Arc<AppState>>) -> Response {
    if state.token.is_none() {
        return ApiError::not_found("the API is off: set HOLDFAST_API_TOKEN to turn it on")
            .into_response();
    }
    page(
        StatusCode::OK,
        "Snapshots, replicas and restores are shown after logging in with the API token.",
    )
}

/// `POST /login`.
pub async fn post_login(State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    let Some(token) = &state.token else {
        return ApiError::not_found("the API is off: set HOLDFAST_API_TOKEN to turn it on")
            .into_response();
    };
    match field(&body, "token") {
        Some(t) if token.matches(&t) => see_other(&session_cookie(&token.new_session(Utc::now()))),
        _ => page(StatusCode::UNAUTHORIZED, "Wrong token: try again."),
    }
}

/// `POST /logout`.
pub async fn post_logout(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(token) = &state.token else {
        return ApiError::not_found("the API is off").into_response();
    };
    let ok = session(token, &headers)
        .zip(field(&body, "csrf"))
        .is_some_and(|(s, c)| token.csrf_valid(s, &c));
    if !ok {
        return ApiError::forbidden("logging out needs the session and its CSRF token")
            .into_response();
    }
    see_other(&cleared_cookie())
}
