//! The bearer-token gate: `Authorization: Bearer $HOLDFAST_API_TOKEN`, compared in
//! constant time (SHA-256 of both sides, then `subtle`, so neither the content nor the
//! length of the token leaks through timing). With no token configured the gated routes
//! are off and answer 404, as if they did not exist.
//!
//! The status page also accepts the token as `?token=` (its login form) and then sets
//! a cookie, [`STATUS_COOKIE`], whose value is derived from the token's hash (so the
//! cookie never holds the token itself) and is compared in constant time as well.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
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

    /// The value of the status page's cookie for this token.
    pub fn cookie_value(&self) -> String {
        let mut h = Sha256::new();
        h.update(b"holdfast status cookie\0");
        h.update(self.digest);
        format!("{:x}", h.finalize())
    }

    /// True when `presented` is this token's cookie value.
    pub fn matches_cookie(&self, presented: &str) -> bool {
        let want: [u8; 32] = Sha256::digest(self.cookie_value().as_bytes()).into();
        let got: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        got.ct_eq(&want).into()
    }
}

/// The cookie the status page sets after a `?token=` login.
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

/// Middleware: 404 when no token is configured, 401 when the header is missing or wrong.
pub async fn require_token(
    State(state): State<Arc<AppState>>,
    req: Request,
    next: Next,
) -> Response {
    let Some(token) = &state.token else {
        return ApiError::not_found("the API is off: set HOLDFAST_API_TOKEN to turn it on")
            .into_response();
    };
    match bearer(req.headers()) {
        Some(p) if token.matches(p) => next.run(req).await,
        _ => {
            let mut res = ApiError::new(StatusCode::UNAUTHORIZED, "missing or wrong bearer token")
                .into_response();
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
            res
        }
    }
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
        let c = t.cookie_value();
        assert!(t.matches_cookie(&c));
        assert!(!t.matches_cookie("s3cret"));
        assert!(!c.contains("s3cret"));
        let other = ApiToken::new("other").expect("non-empty");
        assert!(!other.matches_cookie(&c));
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
