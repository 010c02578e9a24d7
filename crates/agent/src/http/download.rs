//! Bytes out of a snapshot, behind the API token:
//!
//! - `GET /api/v1/snapshots/{id}/files/{path}`: one file, with single `Range` requests
//!   (206 and `Content-Range`, 416 when unsatisfiable), `ETag` = the content id
//!   (`If-None-Match` answers 304), `Content-Type` sniffed from the first bytes (else
//!   `application/octet-stream`), always `Content-Disposition: attachment` and
//!   `X-Content-Type-Options: nosniff` (a page out of a snapshot never runs in the
//!   API's origin);
//! - `GET /api/v1/snapshots/{id}/archive/{path}?format=tar.zst|zip`: a directory as an
//!   archive, streamed (no `Content-Length`).
//!
//! Both stream what [`holdfast_repo::browse`] reads, blob by blob, each blob verified.
//! A damaged blob found after the head was sent ends the body with an error: the
//! connection is cut (the client sees a body shorter than `Content-Length`, or a
//! chunked body without its last chunk — never a file that looks whole) and the error
//! is logged. Paths go through [`crate::http::browse::snapshot_path`].

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::{Stream, StreamExt};
use holdfast_repo::browse::{ArchiveFormat, ArchiveOptions, FileReadOptions, lookup, split_path};
use serde::Deserialize;

use crate::http::AppState;
use crate::http::browse::{indexed, snapshot, snapshot_path};
use crate::http::error::{ApiError, ApiResult};
use crate::http::files::{RangeRequest, parse_range};

fn header_value(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

/// `attachment` with the name in both forms (ASCII fallback, RFC 8187 UTF-8).
fn disposition(name: &str) -> HeaderValue {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    header_value(&format!(
        "attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}"
    ))
}

/// The body of a stream of repository bytes; an error item is logged and ends the
/// body with an error (hyper then cuts the connection).
fn body_of(
    what: String,
    stream: impl Stream<Item = holdfast_repo::Result<bytes::Bytes>> + Send + 'static,
) -> Body {
    Body::from_stream(stream.map(move |item| {
        item.map_err(|e| {
            tracing::error!("{what}: {e}; the response was cut short");
            std::io::Error::other(e.to_string())
        })
    }))
}

fn id_param(params: &Result<Path<HashMap<String, String>>, PathRejection>) -> String {
    params
        .as_ref()
        .ok()
        .and_then(|p| p.0.get("id").cloned())
        .unwrap_or_default()
}

fn if_none_match(headers: &HeaderMap, tag: &str) -> bool {
    headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .map(str::trim)
                .any(|t| t == "*" || t.trim_start_matches("W/") == tag)
        })
}

/// `GET /api/v1/snapshots/{id}/files/{path}`.
pub async fn get_file(
    State(state): State<Arc<AppState>>,
    uri: OriginalUri,
    params: Result<Path<HashMap<String, String>>, PathRejection>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let spec = id_param(&params);
    let path = snapshot_path(uri.path(), params)?;
    file_response(&state, &spec, &path, &headers).await
}

/// The answer of the files route for snapshot `spec` and a checked `path` (the page's
/// download link answers through it too).
pub async fn file_response(
    state: &AppState,
    spec: &str,
    path: &str,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let repo = indexed(state).await?;
    let (id, snap) = snapshot(state, &repo, spec).await?;
    let trees = &state.browse.trees;
    let parts = split_path(path)?;
    if parts.is_empty() {
        return Err(ApiError::bad_request("the snapshot root is not a file"));
    }
    let node = lookup(&repo, trees, snap.tree, &parts).await?;
    let tag = format!("\"{}\"", holdfast_repo::content_id(&node).to_hex());
    if if_none_match(headers, &tag) {
        let mut res = StatusCode::NOT_MODIFIED.into_response();
        res.headers_mut().insert(header::ETAG, header_value(&tag));
        return Ok(res);
    }
    let range = parse_range(
        headers.get(header::RANGE).and_then(|v| v.to_str().ok()),
        node.size,
    );
    let (status, offset, length) = match range {
        RangeRequest::Full => (StatusCode::OK, 0, node.size),
        RangeRequest::Part(s, e) => (StatusCode::PARTIAL_CONTENT, s, e - s),
        RangeRequest::Unsatisfiable => {
            let mut res =
                ApiError::new(StatusCode::RANGE_NOT_SATISFIABLE, "range outside the file")
                    .into_response();
            res.headers_mut().insert(
                header::CONTENT_RANGE,
                header_value(&format!("bytes */{}", node.size)),
            );
            return Ok(res);
        }
    };
    let opts = FileReadOptions {
        path: path.to_owned(),
        offset,
        length: Some(length),
    };
    let read = holdfast_repo::open_file(&repo, trees, &snap, &opts).await?;
    let what = format!("snapshot {} file {path}", id.short());
    let mut stream = read.stream;
    // The first piece is read before the head: it names the type, and a file whose
    // first blob is damaged is a plain 500, not a cut connection.
    let first = match stream.next().await {
        Some(piece) => piece?,
        None => bytes::Bytes::new(),
    };
    let sniffed = if offset == 0 {
        infer::get(&first).map(|k| k.mime_type())
    } else {
        None
    };
    let rest = futures::stream::iter([Ok(first)]).chain(stream);
    let mut res = Response::new(body_of(what, rest));
    *res.status_mut() = status;
    let h = res.headers_mut();
    h.insert(header::ETAG, header_value(&tag));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(sniffed.unwrap_or("application/octet-stream")),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::CONTENT_DISPOSITION, disposition(&node.name));
    let modified = chrono::DateTime::from_timestamp_nanos(node.mtime_ns);
    h.insert(
        header::LAST_MODIFIED,
        header_value(&modified.format("%a, %d %b %Y %H:%M:%S GMT").to_string()),
    );
    if status == StatusCode::PARTIAL_CONTENT {
        let v = format!(
            "bytes {}-{}/{}",
            offset,
            (offset + length).saturating_sub(1),
            node.size
        );
        h.insert(header::CONTENT_RANGE, header_value(&v));
    }
    Ok(res)
}

/// Query of the archive route.
#[derive(Debug, Deserialize)]
pub struct ArchiveQuery {
    /// `tar.zst` (the default) or `zip`.
    pub format: Option<String>,
}

/// `GET /api/v1/snapshots/{id}/archive/{path}?format=tar.zst|zip`.
pub async fn get_archive(
    State(state): State<Arc<AppState>>,
    uri: OriginalUri,
    params: Result<Path<HashMap<String, String>>, PathRejection>,
    Query(q): Query<ArchiveQuery>,
) -> ApiResult<Response> {
    let spec = id_param(&params);
    let path = snapshot_path(uri.path(), params)?;
    archive_response(&state, &spec, &path, q.format.as_deref()).await
}

/// The answer of the archive route for snapshot `spec`, a checked `path` and a format
/// (`tar.zst` when `None`); the page's archive link answers through it too.
pub async fn archive_response(
    state: &AppState,
    spec: &str,
    path: &str,
    format: Option<&str>,
) -> ApiResult<Response> {
    let format: ArchiveFormat = format.unwrap_or("tar.zst").parse()?;
    let repo = indexed(state).await?;
    let (id, snap) = snapshot(state, &repo, spec).await?;
    let opts = ArchiveOptions {
        path: path.to_owned(),
        format,
        ..Default::default()
    };
    let stream = holdfast_repo::archive(&repo, state.browse.trees.clone(), &snap, &opts).await?;
    let base = path
        .rsplit('/')
        .next()
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
        .or_else(|| snap.volume.clone())
        .unwrap_or_else(|| "snapshot".into());
    let name = format!("{base}-{}.{}", id.short(), format.extension());
    let what = format!("snapshot {} archive of /{path}", id.short());
    let mut res = Response::new(body_of(what, stream));
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    h.insert(header::CONTENT_DISPOSITION, disposition(&name));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Ok(res)
}
