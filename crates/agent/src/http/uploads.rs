//! `POST /api/v1/uploads/{volume}`: seed 000's multer handler. The first file part of a
//! multipart body is sniffed by its magic bytes (the client's `Content-Type` is not
//! trusted) against the `[uploads] allow` list (415 otherwise), streamed into
//! `uploads/<uuid>.<ext>` on the volume while its size is counted (413 past
//! `[uploads] max_size`; the atomic write is aborted so no partial file stays) and its
//! SHA-256 computed. The extension is the one of the sniffed type, never the client's.
//! The file is written beneath the volume root without following links, like every
//! file API write ([`holdfast_volume::root`]): a symlinked `uploads/` is refused.

use std::sync::Arc;

use axum::Json;
use axum::extract::multipart::{Field, MultipartError};
use axum::extract::{Multipart, Path, State};
use axum::http::StatusCode;
use bytes::{Bytes, BytesMut};
use holdfast_store::checksum::Hasher;
use holdfast_volume::config::Uploads;
use serde::Serialize;
use tokio::io::AsyncWriteExt;

use crate::http::AppState;
use crate::http::error::{ApiError, ApiResult};

/// `max_size` when `[uploads]` does not set one.
pub const DEFAULT_MAX_SIZE: u64 = 10 * 1024 * 1024;
/// The allow-list when `[uploads]` does not set one.
pub const DEFAULT_ALLOW: [&str; 4] = ["image/jpeg", "image/png", "image/gif", "application/pdf"];
/// Room for the other parts and the multipart framing on top of `max_size`: the whole
/// request body may not exceed `max_size` plus this.
pub const FRAMING_ALLOWANCE: u64 = 1024 * 1024;
/// Bytes read before sniffing the type.
const SNIFF_LEN: usize = 8 * 1024;
pub use holdfast_volume::layout::UPLOAD_DIR;

/// The effective upload limits.
#[derive(Debug, Clone)]
pub struct UploadLimits {
    /// Largest accepted file in bytes.
    pub max_size: u64,
    /// Accepted MIME types.
    pub allow: Vec<String>,
}

impl UploadLimits {
    /// `[uploads]` with the defaults filled in.
    pub fn from_config(u: &Uploads) -> Self {
        UploadLimits {
            max_size: u.max_size.map_or(DEFAULT_MAX_SIZE, |s| s.bytes()),
            allow: if u.allow.is_empty() {
                DEFAULT_ALLOW.iter().map(|s| (*s).to_string()).collect()
            } else {
                u.allow.clone()
            },
        }
    }
}

/// The reply to an upload.
#[derive(Debug, Serialize)]
pub struct Uploaded {
    /// The stored name, `<uuid>.<ext>`.
    pub filename: String,
    /// Where it is in the volume.
    pub path: String,
    /// Bytes.
    pub size: u64,
    /// The sniffed MIME type.
    pub mimetype: String,
    /// SHA-256 of the content, hex.
    pub sha256: String,
}

fn too_large(max: u64) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("file larger than max_size ({max} bytes)"),
    )
}

fn bad_multipart(e: MultipartError) -> ApiError {
    ApiError::new(e.status(), format!("multipart body: {}", e.body_text()))
}

/// `POST /api/v1/uploads/{volume}` (201 with [`Uploaded`]).
pub async fn upload(
    State(state): State<Arc<AppState>>,
    Path(volume_name): Path<String>,
    mut multipart: Multipart,
) -> ApiResult<(StatusCode, Json<Uploaded>)> {
    crate::http::paths::guard_write(&state.config, &volume_name).await?;
    let vd = state.volumes.get(&volume_name).await?;
    let limits = &state.uploads;
    while let Some(mut field) = multipart.next_field().await.map_err(bad_multipart)? {
        if field.file_name().is_none() {
            continue;
        }
        let head = read_head(&mut field, limits.max_size).await?;
        let Some(kind) = infer::get(&head) else {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unrecognised file type",
            ));
        };
        let mime = kind.mime_type();
        if !limits.allow.iter().any(|a| a == mime) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("{mime} is not in the upload allow-list"),
            ));
        }
        let filename = format!("{}.{}", uuid::Uuid::new_v4(), kind.extension());
        let key = format!("{UPLOAD_DIR}/{filename}");
        let k = key.clone();
        let (pending, file) = vd
            .with_root(move |root| {
                let (pending, file, _) = root.create(&k)?;
                Ok((pending, file))
            })
            .await?;
        let io_err = |e: std::io::Error| ApiError::internal(format!("{key}: {e}"));
        let mut file = tokio::fs::File::from_std(file);
        let mut hasher = Hasher::new();
        let mut size = head.len() as u64;
        hasher.update(&head);
        file.write_all(&head).await.map_err(io_err)?;
        while let Some(chunk) = field.chunk().await.map_err(bad_multipart)? {
            size += chunk.len() as u64;
            if size > limits.max_size {
                return Err(too_large(limits.max_size));
            }
            hasher.update(&chunk);
            file.write_all(&chunk).await.map_err(io_err)?;
        }
        file.flush().await.map_err(io_err)?;
        let file = file.into_std().await;
        tokio::task::spawn_blocking(move || pending.commit(file)).await??;
        let sums = hasher.finish();
        tracing::info!(volume = %volume_name, %key, size = sums.size, "upload stored");
        let reply = Uploaded {
            filename,
            path: key,
            size: sums.size,
            mimetype: mime.to_string(),
            sha256: sums.sha256,
        };
        return Ok((StatusCode::CREATED, Json(reply)));
    }
    Err(ApiError::bad_request("no file part in the multipart body"))
}

/// Reads up to [`SNIFF_LEN`] bytes of a part (less when it is shorter).
async fn read_head(field: &mut Field<'_>, max: u64) -> ApiResult<Bytes> {
    let mut head = BytesMut::new();
    while head.len() < SNIFF_LEN {
        match field.chunk().await.map_err(bad_multipart)? {
            Some(b) => head.extend_from_slice(&b),
            None => break,
        }
        if head.len() as u64 > max {
            return Err(too_large(max));
        }
    }
    Ok(head.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_in() {
        let l = UploadLimits::from_config(&Uploads::default());
        assert_eq!(l.max_size, DEFAULT_MAX_SIZE);
        assert_eq!(l.allow, DEFAULT_ALLOW);
    }

    #[test]
    fn sniffing_ignores_labels() {
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
        assert_eq!(infer::get(png).map(|k| k.mime_type()), Some("image/png"));
        assert_eq!(infer::get(b"<?php echo 1; ?>").map(|k| k.mime_type()), None);
    }
}
