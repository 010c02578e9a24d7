//! `PUT|GET|DELETE /api/v1/cache/{key}`: seed 000's TTL disk cache over HTTP, a
//! [`DiskCache`] in `.holdfast/cache` of the first volume (so it survives restarts on
//! the persistent volume), or in memory when no volume is configured. The TTL comes
//! from `?ttl=60s` or an `X-Ttl` header (a duration such as `90s`, `15m`, `1d`, or plain
//! seconds) and defaults to one hour; an expired key answers 404. Values are at most
//! [`MAX_VALUE`] bytes.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use holdfast_store::{DiskCache, Store};
use serde::Deserialize;

use super::error::{ApiError, ApiResult};
use super::paths::STATE_DIR;
use super::server::AppState;

/// TTL when the request gives none.
pub const DEFAULT_TTL: Duration = Duration::from_secs(3600);
/// Largest value accepted.
pub const MAX_VALUE: usize = 16 * 1024 * 1024;

/// The in-memory cache used when no volume is configured.
pub fn in_memory() -> anyhow::Result<DiskCache> {
    Ok(DiskCache::new(Store::open("memory://")?, "cache"))
}

/// The cache: the first volume's `.holdfast/cache` (503 while that volume is missing),
/// or the in-memory one without volumes.
pub async fn cache(state: &AppState) -> ApiResult<DiskCache> {
    match state.config.volumes.first() {
        Some(v) => {
            let vs = state.volumes.get(&v.name).await?;
            Ok(DiskCache::new(vs.store, &format!("{STATE_DIR}/cache")))
        }
        None => Ok(state.memory_cache.clone()),
    }
}

/// Query of a PUT.
#[derive(Debug, Deserialize)]
pub struct TtlQuery {
    /// Time to live.
    pub ttl: Option<String>,
}

/// Parses a TTL: a duration (`60s`, `15m`, `1d12h`) or plain seconds.
pub fn parse_ttl(text: &str) -> ApiResult<Duration> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    holdfast_volume::units::parse_duration(text)
        .map_err(|e| ApiError::bad_request(format!("ttl: {e}")))
}

/// `PUT /api/v1/cache/{key}`: stores the body for the TTL (204).
pub async fn put_entry(
    State(state): State<Arc<AppState>>,
    Path(key): Path<String>,
    Query(q): Query<TtlQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<StatusCode> {
    let header_ttl = headers.get("x-ttl").and_then(|v| v.to_str().ok());
    let ttl = match q.ttl.as_deref().or(header_ttl) {
        Some(t) => parse_ttl(t)?,
        None => DEFAULT_TTL,
    };
    cache(&state).await?.set(&key, body, ttl).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/cache/{key}`: the value, or 404 when absent or expired.
pub async fn get_entry(
    State(state): State<Arc<AppState>>,
    Path(key): Path<String>,
) -> ApiResult<Response> {
    match cache(&state).await?.get(&key).await? {
        Some(v) => {
            let mut res = v.into_response();
            res.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            );
            Ok(res)
        }
        None => Err(ApiError::not_found(format!(
            "no cache entry {key:?} (absent or expired)"
        ))),
    }
}

/// `DELETE /api/v1/cache/{key}`: 204 whether or not it existed.
pub async fn delete_entry(
    State(state): State<Arc<AppState>>,
    Path(key): Path<String>,
) -> ApiResult<StatusCode> {
    cache(&state).await?.delete(&key).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls() {
        assert_eq!(parse_ttl("60s").ok(), Some(Duration::from_secs(60)));
        assert_eq!(parse_ttl("90").ok(), Some(Duration::from_secs(90)));
        assert_eq!(parse_ttl("1h30m").ok(), Some(Duration::from_secs(5400)));
        assert!(parse_ttl("soon").is_err());
    }
}
