//! One file or folder of a snapshot back into its live volume, as a job:
//!
//! - `POST /api/v1/restores` `{"snapshot", "path", "volume"}` checks the request (the
//!   volume is configured, the path is plain and not holdfast's own, the snapshot exists
//!   and is of that volume) and answers `202` with the job; the restore runs on a task of
//!   its own ([`holdfast_volume::restore::path`]: stage, swap, the replaced entries kept)
//!   and `GET /api/v1/jobs/{id}` shows its bytes done / total, then what it did;
//! - `POST /api/v1/restores/{id}/undo` puts back what restore `{id}` replaced (a job as
//!   well, `202`);
//! - `GET /api/v1/restores` lists the restores kept on every volume, newest first, with
//!   where each stands.
//!
//! A restore or undo holds the server's backup lock while it runs, so a backup never
//! reads a volume in the middle of a swap (it waits, as a second backup would).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use chrono::Utc;
use holdfast_repo::Progress;
use holdfast_volume::restore::kept::{self, Kept, State as KeptState};
use holdfast_volume::restore::path::{
    PathOptions, PathRestored, check_path, restore_path, undo_path,
};
use serde::{Deserialize, Serialize};

use crate::http::AppState;
use crate::http::error::{ApiError, ApiResult};
use crate::http::jobs::{JobProgress, JobStatus, JobView};

/// The body of `POST /api/v1/restores`.
#[derive(Debug, Deserialize)]
pub struct RestoreRequest {
    /// The snapshot: an id or its prefix, `latest`, `latest:VOLUME`.
    pub snapshot: String,
    /// The file or folder, relative to the volume.
    pub path: String,
    /// The volume; the snapshot's own when left out.
    #[serde(default)]
    pub volume: Option<String>,
}

/// A restore kept on a volume, as the job and `GET /api/v1/restores` show it.
#[derive(Debug, Clone, Serialize)]
pub struct RestoreView {
    /// The id to undo it with.
    pub id: String,
    /// The volume.
    pub volume: String,
    /// The snapshot it came from (short id); none for an undo.
    pub snapshot: Option<String>,
    /// The path asked for.
    pub path: String,
    /// What came in (the path, or its topmost folder that was missing).
    pub came_in: Vec<String>,
    /// What was moved aside into `.holdfast/kept/<id>/` (empty: the path did not exist).
    pub went_aside: Vec<String>,
    /// The restore this one undoes.
    pub undoes: Option<String>,
    /// The undo that put this one's kept entries back.
    pub undone_by: Option<String>,
    /// Where it stands: `done`, `pending`, `void`, `undone`.
    pub state: KeptState,
    /// When it started (RFC 3339).
    pub started: String,
    /// Files restored (0 for an undo, and in a listing).
    pub files: u64,
    /// Bytes of file content restored.
    pub bytes: u64,
}

impl RestoreView {
    fn of(k: Kept, state: KeptState, files: u64, bytes: u64) -> RestoreView {
        RestoreView {
            id: k.id,
            volume: k.volume,
            snapshot: k.snapshot,
            path: k.path,
            came_in: k.came_in,
            went_aside: k.went_aside,
            undoes: k.undoes,
            undone_by: k.undone_by,
            state,
            started: k.started,
            files,
            bytes,
        }
    }
}

fn repo_error(e: holdfast_repo::Error) -> ApiError {
    let status = match &e {
        holdfast_repo::Error::NotFound { .. } => StatusCode::NOT_FOUND,
        holdfast_repo::Error::AmbiguousLatest { .. } => StatusCode::CONFLICT,
        e if e.is_input() => StatusCode::BAD_REQUEST,
        e if e.is_unavailable() => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    ApiError::new(status, e.to_string())
}

fn accepted(view: JobView) -> (StatusCode, HeaderMap, Json<JobView>) {
    let mut headers = HeaderMap::new();
    if let Ok(h) = HeaderValue::from_str(&format!("/api/v1/jobs/{}", view.id)) {
        headers.insert(header::LOCATION, h);
    }
    (StatusCode::ACCEPTED, headers, Json(view))
}

/// Ends job `job` with the outcome of a restore or an undo.
fn finish(
    job: &tokio::sync::watch::Sender<JobView>,
    volume: &std::path::Path,
    result: Result<PathRestored, String>,
) {
    job.send_modify(|v| {
        v.finished = Some(Utc::now());
        match result {
            Ok(done) => {
                let state = kept::state(volume, &done.kept);
                v.status = JobStatus::Succeeded;
                v.restore = Some(RestoreView::of(done.kept, state, done.files, done.bytes));
            }
            Err(message) => {
                tracing::error!("{} job {}: {message}", v.kind, v.id);
                v.status = JobStatus::Failed;
                v.error = Some(message);
            }
        }
    });
}

/// `POST /api/v1/restores`: `202` with the job; `400` for a path that is not plain or
/// is holdfast's own, or a snapshot of another volume; `404` for an unknown volume or
/// snapshot; `409` for an ambiguous `latest`.
pub async fn post_restore(
    State(state): State<Arc<AppState>>,
    Json(req): Json<RestoreRequest>,
) -> ApiResult<(StatusCode, HeaderMap, Json<JobView>)> {
    start_restore(&state, req).await.map(accepted)
}

/// Checks a restore and starts its job (the API's and the page's); the job's first view.
pub async fn start_restore(state: &Arc<AppState>, req: RestoreRequest) -> ApiResult<JobView> {
    let repo = state
        .repo
        .open()
        .await
        .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, crate::error::chain(&e)))?;
    let (id, snap) = repo
        .find_snapshot(&req.snapshot)
        .await
        .map_err(repo_error)?;
    let name = match req.volume.clone().or_else(|| snap.volume.clone()) {
        Some(n) => n,
        None => {
            return Err(ApiError::bad_request(format!(
                "snapshot {} is of {}, not of a volume: name the volume",
                id.short(),
                snap.root
            )));
        }
    };
    let Some(volume) = state.config.volume(&name).cloned() else {
        return Err(ApiError::not_found(format!("no volume named {name:?}")));
    };
    check_path(&name, &req.path).map_err(|e| ApiError::bad_request(e.to_string()))?;
    if snap.volume.as_deref() != Some(name.as_str()) {
        return Err(ApiError::bad_request(format!(
            "snapshot {} is not of volume {name}",
            id.short()
        )));
    }
    let progress = Arc::new(Progress::default());
    let mut view = JobView::new("restore", Some(name.clone()));
    view.snapshot = Some(id.short());
    view.path = Some(req.path.clone());
    view.progress = Some(JobProgress { done: 0, total: 0 });
    let job = state
        .backup_jobs
        .start_job(view.clone(), Some(progress.clone()));
    let st = state.clone();
    tokio::spawn(async move {
        let _running = st.backup_lock.clone().lock_owned().await;
        let opts = PathOptions {
            progress: Some(progress),
            hook: holdfast_volume::swap::failpoint::from_env(),
            ..Default::default()
        };
        let result = match repo.load_index().await {
            Ok(indexed) => restore_path(&indexed, &volume, id, &snap, &req.path, &opts)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(format!("loading the index: {e}")),
        };
        st.metrics
            .job_run("restore", if result.is_ok() { "ok" } else { "failed" });
        finish(&job, &volume.path, result);
    });
    Ok(view)
}

/// `POST /api/v1/restores/{id}/undo`: `202` with the job; `404` when no volume keeps
/// restore `{id}`; `409` when it cannot be undone (not finished, or undone already).
pub async fn post_undo(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, HeaderMap, Json<JobView>)> {
    start_undo(&state, id).map(accepted)
}

/// Checks an undo and starts its job (the API's and the page's); the job's first view.
pub fn start_undo(state: &Arc<AppState>, id: String) -> ApiResult<JobView> {
    let found = state.config.volumes.iter().find_map(|v| {
        kept::read(&v.path, &id)
            .ok()
            .flatten()
            .map(|k| (v.clone(), k))
    });
    let Some((volume, k)) = found else {
        return Err(ApiError::not_found(format!("no restore {id:?} is kept")));
    };
    let now = kept::state(&volume.path, &k);
    if now != KeptState::Done {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("restore {id} cannot be undone: it is {now:?}").to_lowercase(),
        ));
    }
    let mut view = JobView::new("undo", Some(volume.name.clone()));
    view.path = Some(k.path.clone());
    view.snapshot = k.snapshot.clone();
    let job = state.backup_jobs.start_job(view.clone(), None);
    let st = state.clone();
    tokio::spawn(async move {
        let _running = st.backup_lock.clone().lock_owned().await;
        let v = volume.clone();
        let result = tokio::task::spawn_blocking(move || {
            let opts = PathOptions {
                hook: holdfast_volume::swap::failpoint::from_env(),
                ..Default::default()
            };
            undo_path(&v, &id, &opts).map_err(|e| e.to_string())
        })
        .await
        .unwrap_or_else(|e| Err(format!("the undo task ended abnormally: {e}")));
        st.metrics
            .job_run("undo", if result.is_ok() { "ok" } else { "failed" });
        finish(&job, &volume.path, result);
    });
    Ok(view)
}

/// `GET /api/v1/restores`: every restore kept on every volume, newest first.
pub async fn list_restores(State(state): State<Arc<AppState>>) -> Json<Vec<RestoreView>> {
    Json(listed(&state))
}

/// The restores kept on every volume, newest first (also for the page).
pub fn listed(state: &AppState) -> Vec<RestoreView> {
    let mut out: Vec<RestoreView> = state
        .config
        .volumes
        .iter()
        .flat_map(|v| {
            kept::list(&v.path).into_iter().map(|k| {
                let s = kept::state(&v.path, &k);
                RestoreView::of(k, s, 0, 0)
            })
        })
        .collect();
    out.sort_by(|a, b| b.id.cmp(&a.id));
    out
}
