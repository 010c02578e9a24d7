//! `GET /api/v1/snapshots`: every snapshot, as `holdfast snapshots --json` prints them.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use super::AppState;
use super::error::{ApiError, ApiResult};
use crate::survey::{SnapshotEntry, list};

fn unavailable(e: crate::Error) -> ApiError {
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, crate::error::chain(&e))
}

/// `GET /api/v1/snapshots`.
pub async fn get_snapshots(
    State(state): State<Arc<AppState>>,
) -> ApiResult<Json<Vec<SnapshotEntry>>> {
    Ok(Json(
        list(&state.repo, &state.metrics)
            .await
            .map_err(unavailable)?,
    ))
}
