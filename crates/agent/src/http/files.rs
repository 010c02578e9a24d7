//! The file API over each volume's store: `PUT|GET|HEAD|DELETE
//! /api/v1/files/{volume}/{path}` and the paged listing `GET /api/v1/files/{volume}/`.
//!
//! PUT streams the body into a temporary file made in the target's directory, then
//! fsyncs it, renames it over the target and fsyncs the directory, so readers never see
//! half a file and an aborted upload leaves nothing. GET streams the file back from the
//! descriptor it opened, with single `Range` requests (206 and
//! `Content-Range`, 416 when unsatisfiable), an `ETag` made of the size and the
//! modification time, and `If-None-Match` (304). Every path goes through
//! the guard ([`crate::http::paths::guard_write`]: no write while an interrupted restore is
//! pending on the volume) and [`crate::http::paths`] first, and every file is opened beneath the volume root without
//! following links ([`holdfast_volume::root`]).

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use holdfast_store::ObjectMeta;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use crate::http::AppState;
use crate::http::error::{ApiError, ApiResult, body_error};
use crate::http::paths::{VolumeDir, check_raw, checked_key, local_files};

/// Most entries one listing page returns.
pub const MAX_PAGE: usize = 10_000;
/// Entries per listing page when `limit` is not given.
pub const DEFAULT_PAGE: usize = 1_000;

/// A strong entity tag from the size and modification time.
pub fn etag(meta: &ObjectMeta) -> String {
    let nanos = meta
        .modified
        .and_then(|t| t.timestamp_nanos_opt())
        .unwrap_or_default();
    format!("\"{:x}-{:x}\"", meta.size, nanos)
}

/// What a `Range` header asks for, against an object of a known size.
#[derive(Debug, PartialEq, Eq)]
pub enum RangeRequest {
    /// No (usable) range: the whole object.
    Full,
    /// Bytes `start..end`.
    Part(u64, u64),
    /// A range that lies outside the object: 416.
    Unsatisfiable,
}

/// Parses a single `bytes=` range; multiple or malformed ranges are ignored (the whole
/// object is sent), as RFC 9110 allows.
pub fn parse_range(header: Option<&str>, size: u64) -> RangeRequest {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return RangeRequest::Full;
    };
    if spec.contains(',') {
        return RangeRequest::Full;
    }
    let Some((a, b)) = spec.split_once('-') else {
        return RangeRequest::Full;
    };
    let (a, b) = (a.trim(), b.trim());
    if a.is_empty() {
        return match b.parse::<u64>() {
            Ok(0) => RangeRequest::Unsatisfiable,
            Ok(_) if size == 0 => RangeRequest::Unsatisfiable,
            Ok(n) => RangeRequest::Part(size.saturating_sub(n), size),
            Err(_) => RangeRequest::Full,
        };
    }
    let Ok(start) = a.parse::<u64>() else {
        return RangeRequest::Full;
    };
    let end = if b.is_empty() {
        size
    } else {
        match b.parse::<u64>() {
            Ok(last) if last >= start => last.saturating_add(1).min(size),
            _ => return RangeRequest::Full,
        }
    };
    if start >= size {
        return RangeRequest::Unsatisfiable;
    }
    RangeRequest::Part(start, end)
}

fn if_none_match(headers: &HeaderMap, tag: &str) -> bool {
    let Some(v) = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    v.split(',')
        .map(str::trim)
        .any(|t| t == "*" || t.trim_start_matches("W/") == tag)
}

fn header_value(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

fn base_headers(res: &mut Response, meta: &ObjectMeta, tag: &str) {
    let h = res.headers_mut();
    h.insert(header::ETAG, header_value(tag));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if let Some(t) = meta.modified {
        let http_date = t.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
        h.insert(header::LAST_MODIFIED, header_value(&http_date));
    }
}

async fn resolve(
    state: &AppState,
    volume_name: &str,
    uri: &OriginalUri,
    path: &str,
) -> ApiResult<(VolumeDir, String)> {
    let vd = state.volumes.get(volume_name).await?;
    let key = checked_key(uri.path(), path)?;
    Ok((vd, key))
}

fn not_found(key: &str) -> ApiError {
    ApiError::not_found(format!("no file {key:?}"))
}

/// `GET` (with `head = false`) and `HEAD` of one file.
async fn read(
    state: &AppState,
    volume_name: &str,
    uri: &OriginalUri,
    path: &str,
    headers: &HeaderMap,
    head: bool,
) -> ApiResult<Response> {
    let (vd, key) = resolve(state, volume_name, uri, path).await?;
    let k = key.clone();
    let opened = vd
        .with_root(move |root| Ok(root.open_file(&k)?))
        .await?
        .ok_or_else(|| not_found(&key))?;
    let meta = opened.meta;
    let tag = etag(&meta);
    if if_none_match(headers, &tag) {
        let mut res = StatusCode::NOT_MODIFIED.into_response();
        base_headers(&mut res, &meta, &tag);
        res.headers_mut().remove(header::CONTENT_TYPE);
        return Ok(res);
    }
    let range = parse_range(
        headers.get(header::RANGE).and_then(|v| v.to_str().ok()),
        meta.size,
    );
    let (status, span) = match range {
        RangeRequest::Full => (StatusCode::OK, None),
        RangeRequest::Part(s, e) => (StatusCode::PARTIAL_CONTENT, Some(s..e)),
        RangeRequest::Unsatisfiable => {
            let mut res =
                ApiError::new(StatusCode::RANGE_NOT_SATISFIABLE, "range outside the file")
                    .into_response();
            res.headers_mut().insert(
                header::CONTENT_RANGE,
                header_value(&format!("bytes */{}", meta.size)),
            );
            return Ok(res);
        }
    };
    let len = span.as_ref().map_or(meta.size, |r| r.end - r.start);
    let body = if head || len == 0 {
        Body::empty()
    } else {
        let mut file = tokio::fs::File::from_std(opened.file);
        if let Some(r) = &span {
            file.seek(std::io::SeekFrom::Start(r.start))
                .await
                .map_err(|e| ApiError::internal(format!("{key}: {e}")))?;
        }
        Body::from_stream(tokio_util::io::ReaderStream::new(file.take(len)))
    };
    let mut res = Response::new(body);
    *res.status_mut() = status;
    base_headers(&mut res, &meta, &tag);
    res.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    if let Some(r) = span {
        let v = format!(
            "bytes {}-{}/{}",
            r.start,
            r.end.saturating_sub(1),
            meta.size
        );
        res.headers_mut()
            .insert(header::CONTENT_RANGE, header_value(&v));
    }
    Ok(res)
}

/// `GET /api/v1/files/{volume}/{path}`.
pub async fn get_file(
    State(state): State<Arc<AppState>>,
    Path((volume_name, path)): Path<(String, String)>,
    uri: OriginalUri,
    headers: HeaderMap,
) -> ApiResult<Response> {
    read(&state, &volume_name, &uri, &path, &headers, false).await
}

/// `HEAD /api/v1/files/{volume}/{path}`.
pub async fn head_file(
    State(state): State<Arc<AppState>>,
    Path((volume_name, path)): Path<(String, String)>,
    uri: OriginalUri,
    headers: HeaderMap,
) -> ApiResult<Response> {
    read(&state, &volume_name, &uri, &path, &headers, true).await
}

/// What a PUT answers.
#[derive(Debug, Serialize)]
pub struct Written {
    /// The key written.
    pub path: String,
    /// Bytes written.
    pub size: u64,
    /// The new entity tag.
    pub etag: String,
}

/// `PUT /api/v1/files/{volume}/{path}`: 201 when created, 200 when replaced.
pub async fn put_file(
    State(state): State<Arc<AppState>>,
    Path((volume_name, path)): Path<(String, String)>,
    uri: OriginalUri,
    body: Body,
) -> ApiResult<Response> {
    crate::http::paths::guard_write(&state.config, &volume_name).await?;
    let (vd, key) = resolve(&state, &volume_name, &uri, &path).await?;
    let k = key.clone();
    let (pending, existed, file) = vd
        .with_root(move |root| {
            let (pending, file, existed) = root.create(&k)?;
            Ok((pending, existed, file))
        })
        .await?;
    let io_err = |e: std::io::Error| ApiError::internal(format!("{key}: {e}"));
    let mut file = tokio::fs::File::from_std(file);
    let mut stream = body.into_data_stream();
    let mut size = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| body_error(&e))?;
        file.write_all(&chunk).await.map_err(io_err)?;
        size += chunk.len() as u64;
    }
    file.flush().await.map_err(io_err)?;
    let file = file.into_std().await;
    let meta = tokio::task::spawn_blocking(move || pending.commit(file)).await??;
    let status = if existed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    let tag = etag(&meta);
    let mut res = (
        status,
        Json(Written {
            path: key,
            size,
            etag: tag.clone(),
        }),
    )
        .into_response();
    res.headers_mut().insert(header::ETAG, header_value(&tag));
    Ok(res)
}

/// `DELETE /api/v1/files/{volume}/{path}`: 204, or 404 when there is no such file.
pub async fn delete_file(
    State(state): State<Arc<AppState>>,
    Path((volume_name, path)): Path<(String, String)>,
    uri: OriginalUri,
) -> ApiResult<StatusCode> {
    crate::http::paths::guard_write(&state.config, &volume_name).await?;
    let (vd, key) = resolve(&state, &volume_name, &uri, &path).await?;
    let k = key.clone();
    if vd.with_root(move |root| Ok(root.remove(&k)?)).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found(&key))
    }
}

/// Query of the listing.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    /// Only keys starting with this (`photos/`, `logs/app-`).
    pub prefix: Option<String>,
    /// Page size (default 1000, at most 10000).
    pub limit: Option<usize>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// One listed file.
#[derive(Debug, Serialize)]
pub struct Entry {
    /// Key relative to the volume.
    pub path: String,
    /// Bytes.
    pub size: u64,
    /// Last modification, RFC 3339.
    pub modified: Option<String>,
}

/// A listing page.
#[derive(Debug, Serialize)]
pub struct Page {
    /// Files in key order.
    pub items: Vec<Entry>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// `GET /api/v1/files/{volume}/?prefix=…&limit=…&cursor=…`: files in key order, paged
/// by the last key of the previous page (stable while files come and go).
pub async fn list_files(
    State(state): State<Arc<AppState>>,
    Path(volume_name): Path<String>,
    uri: OriginalUri,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Page>> {
    let vd = state.volumes.get(&volume_name).await?;
    check_raw(uri.path())?;
    let prefix = q.prefix.unwrap_or_default();
    if let Some(why) = holdfast_store::key_problem(&prefix, true) {
        return Err(ApiError::bad_request(format!(
            "prefix {prefix:?} refused: {why}"
        )));
    }
    let limit = q.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
    let cursor = q.cursor.unwrap_or_default();
    let p = prefix.clone();
    let mut keys = vd.with_root(move |root| local_files(root, &p)).await?;
    keys.retain(|m| m.key.as_str() > cursor.as_str());
    keys.sort_by(|a, b| a.key.cmp(&b.key));
    let more = keys.len() > limit;
    keys.truncate(limit);
    let next_cursor = if more {
        keys.last().map(|m| m.key.clone())
    } else {
        None
    };
    let items = keys
        .into_iter()
        .map(|m| Entry {
            path: m.key,
            size: m.size,
            modified: m.modified.map(|t| t.to_rfc3339()),
        })
        .collect();
    Ok(Json(Page { items, next_cursor }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        use RangeRequest::*;
        let cases = [
            (None, 10, Full),
            (Some("bytes=0-4"), 10, Part(0, 5)),
            (Some("bytes=5-"), 10, Part(5, 10)),
            (Some("bytes=-3"), 10, Part(7, 10)),
            (Some("bytes=-30"), 10, Part(0, 10)),
            (Some("bytes=8-100"), 10, Part(8, 10)),
            (Some("bytes=10-"), 10, Unsatisfiable),
            (Some("bytes=-0"), 10, Unsatisfiable),
            (Some("bytes=0-0"), 0, Unsatisfiable),
            (Some("bytes=0-1,4-5"), 10, Full),
            (Some("bytes=5-2"), 10, Full),
            (Some("items=0-1"), 10, Full),
            (Some("bytes=x-1"), 10, Full),
        ];
        for (h, size, want) in cases {
            assert_eq!(parse_range(h, size), want, "{h:?} of {size}");
        }
    }

    #[test]
    fn etag_changes_with_size_and_time() {
        let t = chrono::Utc::now();
        let a = ObjectMeta {
            key: "a".into(),
            size: 1,
            modified: Some(t),
        };
        let b = ObjectMeta {
            size: 2,
            ..a.clone()
        };
        assert_ne!(etag(&a), etag(&b));
        let mut h = HeaderMap::new();
        h.insert(
            header::IF_NONE_MATCH,
            header_value(&format!("\"x\", {}", etag(&a))),
        );
        assert!(if_none_match(&h, &etag(&a)));
        assert!(!if_none_match(&h, &etag(&b)));
    }
}
