//! `PUT|GET|DELETE /api/v1/cache/{key}`: seed 000's TTL disk cache over HTTP, a
//! [`DiskCache`] in `.holdfast/cache` of the first volume (so it survives restarts on
//! the persistent volume), or in memory when no volume is configured. The TTL comes
//! from `?ttl=60s` or an `X-Ttl` header (a duration such as `90s`, `15m`, `1d`, or plain
//! seconds) and defaults to one hour; an expired key answers 404. Values are at most
//! [`MAX_VALUE`] bytes.
//!
//! On a volume the entries are in the one cache format of holdfast
//! ([`holdfast_store::entry_name`], [`holdfast_store::encode_entry`]: files named by
//! the BLAKE3 hash of the key, an 8-byte big-endian expiry time in Unix milliseconds
//! followed by the value, exactly as [`DiskCache`] writes them), opened beneath the
//! volume root without following links like every
//! file API access ([`holdfast_volume::root`]): a symlinked `.holdfast` or
//! `.holdfast/cache` is refused, never followed.

use std::io::{Read as _, Write as _};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use holdfast_store::{DiskCache, Store, encode_entry, entry_name, live_value};
use serde::Deserialize;

use crate::http::AppState;
use crate::http::error::{ApiError, ApiResult};
use crate::http::paths::VolumeDir;
use holdfast_volume::layout::CACHE_DIR;

/// TTL when the request gives none.
pub const DEFAULT_TTL: Duration = Duration::from_secs(3600);
/// Largest value accepted.
pub const MAX_VALUE: usize = 16 * 1024 * 1024;

/// The in-memory cache used when no volume is configured.
pub fn in_memory() -> crate::Result<DiskCache> {
    Ok(DiskCache::new(Store::open("memory://")?, "cache"))
}

/// Where the cache lives.
#[derive(Debug)]
pub enum Cache {
    /// `.holdfast/cache` of a volume.
    Volume(VolumeDir),
    /// The in-memory cache (no volume configured).
    Memory(DiskCache),
}

/// Bytes of the expiry header of an entry.
const HEADER: usize = 8;

/// The entry's path in the volume: `.holdfast/cache/<BLAKE3 of the key>`.
fn entry_key(key: &str) -> String {
    format!("{CACHE_DIR}/{}", entry_name(key))
}

impl Cache {
    /// Stores `value` under `key` for `ttl`, replacing any previous value.
    pub async fn set(&self, key: &str, value: Bytes, ttl: Duration) -> ApiResult<()> {
        let vd = match self {
            Cache::Memory(c) => return Ok(c.set(key, value, ttl).await?),
            Cache::Volume(vd) => vd,
        };
        let entry = entry_key(key);
        vd.with_root(move |root| {
            let (pending, mut file, _) = root.create(&entry)?;
            let io = |e: std::io::Error| ApiError::internal(format!("cache entry: {e}"));
            file.write_all(&encode_entry(&value, ttl)).map_err(io)?;
            pending.commit(file)?;
            Ok(())
        })
        .await
    }

    /// The value under `key`, or `None` when absent or expired (an expired entry is
    /// removed).
    pub async fn get(&self, key: &str) -> ApiResult<Option<Bytes>> {
        let vd = match self {
            Cache::Memory(c) => return Ok(c.get(key).await?),
            Cache::Volume(vd) => vd,
        };
        let entry = entry_key(key);
        vd.with_root(move |root| {
            let Some(mut opened) = root.open_file(&entry)? else {
                return Ok(None);
            };
            let mut data = Vec::new();
            (&mut opened.file)
                .take(HEADER as u64 + MAX_VALUE as u64)
                .read_to_end(&mut data)
                .map_err(|e| ApiError::internal(format!("cache entry: {e}")))?;
            match live_value(&data) {
                Some(_) => Ok(Some(Bytes::from(data).slice(HEADER..))),
                None => {
                    root.remove(&entry)?;
                    Ok(None)
                }
            }
        })
        .await
    }

    /// Removes `key`; absent is fine.
    pub async fn delete(&self, key: &str) -> ApiResult<()> {
        let vd = match self {
            Cache::Memory(c) => return Ok(c.delete(key).await?),
            Cache::Volume(vd) => vd,
        };
        let entry = entry_key(key);
        vd.with_root(move |root| Ok(root.remove(&entry).map(|_| ())?))
            .await
    }
}

/// The cache: the first volume's `.holdfast/cache` (503 while that volume is missing),
/// or the in-memory one without volumes.
pub async fn cache(state: &AppState) -> ApiResult<Cache> {
    match state.config.volumes.first() {
        Some(v) => Ok(Cache::Volume(state.volumes.get(&v.name).await?)),
        None => Ok(Cache::Memory(state.memory_cache.clone())),
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

    /// Drift: the cache API on a volume named its entries by SHA-256 while
    /// [`DiskCache`] named them by BLAKE3, so the two could not read each other's
    /// entries. Now an entry put through the API is the entry `DiskCache` reads.
    #[tokio::test]
    async fn an_entry_put_on_a_volume_is_the_one_diskcache_reads() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config: holdfast_volume::config::Config = format!(
            "[[volumes]]\nname = \"v\"\npath = \"{}\"\n",
            dir.path().display()
        )
        .parse()
        .expect("config");
        let volumes = crate::http::paths::Volumes::new(&config.volumes);
        let cache = Cache::Volume(volumes.get("v").await.expect("volume"));
        cache
            .set("session:42", Bytes::from_static(b"hello"), DEFAULT_TTL)
            .await
            .expect("set");
        let store = Store::open(&format!("file://{}", dir.path().display())).expect("store");
        let disk = DiskCache::new(store, CACHE_DIR);
        let got = disk.get("session:42").await.expect("get");
        assert_eq!(got.as_deref(), Some(&b"hello"[..]));
        disk.set("other", Bytes::from_static(b"x"), DEFAULT_TTL)
            .await
            .expect("set");
        assert_eq!(
            cache.get("other").await.expect("get").as_deref(),
            Some(&b"x"[..])
        );
    }
}
