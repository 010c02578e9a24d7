//! The bearer-token gate: `Authorization: Bearer $HOLDFAST_API_TOKEN`, compared in
//! constant time (SHA-256 of both sides, then `subtle`, so neither the content nor the
//! length of the token leaks through timing). With no token configured the gated routes
//! are off and answer 404, as if they did not exist.
//!
//! The page's login (`POST /login`, or `?token=` on `/`) sets a session cookie,
//! [`STATUS_COOKIE`] (`HttpOnly`, `SameSite=Strict`, 30 days): `EXPIRY.NONCE.MAC`, the MAC
//! a keyed BLAKE3 of `EXPIRY.NONCE` under a key derived from the token's hash, so the
//! cookie never holds the token, cannot be forged without it, expires by itself, and
//! every session ends when the token changes. The same cookie opens the `/api/v1`
//! routes to the page; a request that changes anything (any method but `GET` and
//! `HEAD`) must also carry the session's CSRF token — a keyed BLAKE3 of the cookie under
//! another derived key — in `X-CSRF-Token` (or a form's `csrf` field), else `403`. Every
//! comparison is in constant time.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::http::AppState;
use crate::http::error::ApiError;

/// The configured API token, kept only as its SHA-256.
#[derive(Clone)]
pub struct ApiToken {
    digest: [u8; 32],
}

impl std::fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiToken(..)")
    }
}

impl ApiToken {
    /// A token from its text; empty text means no token.
    pub fn new(token: &str) -> Option<Self> {
        if token.is_empty() {
            return None;
        }
        Some(ApiToken {
            digest: Sha256::digest(token.as_bytes()).into(),
        })
    }

    /// True when `presented` is the token.
    pub fn matches(&self, presented: &str) -> bool {
        let d: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        d.ct_eq(&self.digest).into()
    }

    fn key(&self, purpose: &str) -> [u8; 32] {
        blake3::derive_key(purpose, &self.digest)
    }

    fn mac(&self, purpose: &str, data: &str) -> String {
        blake3::keyed_hash(&self.key(purpose), data.as_bytes())
            .to_hex()
            .to_string()
    }

    /// A new session cookie value, valid for [`SESSION_DAYS`] from `now`.
    pub fn new_session(&self, now: DateTime<Utc>) -> String {
        let expiry = (now + chrono::Duration::days(SESSION_DAYS)).timestamp();
        let body = format!("{expiry}.{}", uuid::Uuid::new_v4().simple());
        let mac = self.mac(SESSION_KEY, &body);
        format!("{body}.{mac}")
    }

    /// True when `presented` is a session this token made that has not expired.
    pub fn session_valid(&self, presented: &str, now: DateTime<Utc>) -> bool {
        let Some((body, mac)) = presented.rsplit_once('.') else {
            return false;
        };
        let want = self.mac(SESSION_KEY, body);
        let same: bool = Sha256::digest(want.as_bytes())
            .ct_eq(&Sha256::digest(mac.as_bytes()))
            .into();
        let expiry = body
            .split_once('.')
            .and_then(|(e, _)| e.parse::<i64>().ok())
            .unwrap_or(0);
        same && expiry > now.timestamp()
    }

    /// The CSRF token of session `session`.
    pub fn csrf(&self, session: &str) -> String {
        self.mac(CSRF_KEY, session)
    }

    /// True when `presented` is the CSRF token of `session`.
    pub fn csrf_valid(&self, session: &str, presented: &str) -> bool {
        let want = self.csrf(session);
        Sha256::digest(want.as_bytes())
            .ct_eq(&Sha256::digest(presented.as_bytes()))
            .into()
    }
}

/// How long a session lasts.
pub const SESSION_DAYS: i64 = 30;
const SESSION_KEY: &str = "holdfast 2026-12 status page session cookie";
const CSRF_KEY: &str = "holdfast 2026-12 status page csrf token";
/// The header that carries the CSRF token.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The `Set-Cookie` value of a new session.
pub fn session_cookie(value: &str) -> String {
    format!(
        "{STATUS_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}",
        SESSION_DAYS * 86_400
    )
}

/// The `Set-Cookie` value that ends the session.
pub fn cleared_cookie() -> String {
    format!("{STATUS_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// The session of a request: its cookie when this token made it and it has not expired.
pub fn session<'h>(token: &ApiToken, headers: &'h header::HeaderMap) -> Option<&'h str> {
    cookie(headers, STATUS_COOKIE).filter(|c| token.session_valid(c, Utc::now()))
}

/// The session cookie the page's login sets.
pub const STATUS_COOKIE: &str = "holdfast_status";

/// The bearer token of a request's `Authorization` header, if any.
pub fn bearer(headers: &header::HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

/// The value of cookie `name` in a request's `Cookie` headers, if any.
pub fn cookie<'h>(headers: &'h header::HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// Middleware: 404 when no token is configured; the bearer token, or a session cookie
/// (with its CSRF token in [`CSRF_HEADER`] for any method but `GET` and `HEAD`, else
/// 403); else 401.
pub async fn require_token(
    State(state): State<Arc<AppState>>,
    req: Request,
    next: Next,
) -> Response {
    let Some(token) = &state.token else {
        return ApiError::not_found("the API is off: set HOLDFAST_API_TOKEN to turn it on")
            .into_response();
    };
    if let Some(p) = bearer(req.headers()) {
        if token.matches(p) {
            return next.run(req).await;
        }
        return unauthorized();
    }
    let Some(s) = session(token, req.headers()) else {
        return unauthorized();
    };
    let safe = req.method() == Method::GET || req.method() == Method::HEAD;
    let csrf = req
        .headers()
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| token.csrf_valid(s, c));
    if safe || csrf {
        return next.run(req).await;
    }
    ApiError::forbidden(format!(
        "a request that changes something needs the session's CSRF token in {CSRF_HEADER}"
    ))
    .into_response()
}

fn unauthorized() -> Response {
    let mut res = ApiError::new(
        StatusCode::UNAUTHORIZED,
        "missing or wrong bearer token or session",
    )
    .into_response();
    res.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Bearer"),
    );
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_only_the_token() {
        let t = ApiToken::new("s3cret").expect("non-empty");
        assert!(t.matches("s3cret"));
        assert!(!t.matches("s3cre"));
        assert!(!t.matches("s3cret "));
        assert!(!t.matches(""));
        assert!(ApiToken::new("").is_none());
        let now = Utc::now();
        let c = t.new_session(now);
        assert!(t.session_valid(&c, now));
        assert!(!t.session_valid(&c, now + chrono::Duration::days(SESSION_DAYS + 1)));
        assert!(!t.session_valid("s3cret", now));
        assert!(!c.contains("s3cret"));
        let (body, _) = c.rsplit_once('.').expect("mac");
        assert!(!t.session_valid(&format!("{body}.{}", "0".repeat(64)), now));
        let other = ApiToken::new("other").expect("non-empty");
        assert!(!other.session_valid(&c, now));
        let csrf = t.csrf(&c);
        assert!(t.csrf_valid(&c, &csrf));
        assert!(!t.csrf_valid(&t.new_session(now), &csrf));
        assert!(!other.csrf_valid(&c, &csrf));
    }

    #[test]
    fn reads_cookies() {
        let mut h = header::HeaderMap::new();
        h.insert(
            header::COOKIE,
            header::HeaderValue::from_static("a=1; holdfast_status=abc ; b=2"),
        );
        assert_eq!(cookie(&h, STATUS_COOKIE), Some("abc"));
        assert_eq!(cookie(&h, "c"), None);
    }
}
