//! On-demand backups as jobs: `POST /api/v1/backups` starts one and answers `202` with
//! its id; `GET /api/v1/jobs/{id}` reports it (`?wait=true` holds the answer until the
//! job ends, at most [`WAIT_LIMIT`]). Restores of one path and their undos
//! ([`crate::http::restores`]) are jobs of the same list, with their bytes done / total
//! read live while they run.
//!
//! A job runs on a task of its own that holds the server's backup lock, so no request
//! lifetime decides a backup's fate: a client that goes away leaves the backup running to
//! its end, and a shutdown waits for it (a second signal exits at once; the repository's
//! commit protocol leaves no partial snapshot). The last [`KEEP`] jobs are remembered.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use chrono::{DateTime, Utc};
use holdfast_repo::Progress;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::backup::{BackupReport, backup_volumes};
use crate::http::AppState;
use crate::http::error::{ApiError, ApiResult};

/// Jobs remembered for `GET /api/v1/jobs/{id}`.
pub const KEEP: usize = 100;
/// The longest `?wait=true` holds an answer.
pub const WAIT_LIMIT: Duration = Duration::from_secs(60);

/// Where a job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    /// Still running.
    Running,
    /// Every volume was backed up.
    Succeeded,
    /// At least one volume failed; `error` says which and why.
    Failed,
}

/// A job as `GET /api/v1/jobs/{id}` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct JobView {
    /// The job id.
    pub id: String,
    /// What it does: `backup`.
    pub kind: &'static str,
    /// The one volume it backs up, or none for every volume.
    pub volume: Option<String>,
    /// Where it stands.
    pub status: JobStatus,
    /// When it started.
    pub started: DateTime<Utc>,
    /// When it ended.
    pub finished: Option<DateTime<Utc>>,
    /// The snapshots it made, once it succeeded.
    pub snapshots: Option<Vec<BackupReport>>,
    /// Why it failed.
    pub error: Option<String>,
    /// A restore's snapshot (short id).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<String>,
    /// A restore's path, relative to the volume.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// A restore's bytes of file content: done / total (the total grows as files are
    /// found).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<JobProgress>,
    /// What a restore or an undo did, once it succeeded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restore: Option<crate::http::restores::RestoreView>,
}

/// Bytes done and the total known so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct JobProgress {
    /// Bytes done.
    pub done: u64,
    /// Bytes to do, as known so far.
    pub total: u64,
}

/// One remembered job: its view, and the live counter of a restore.
type Entry = (String, watch::Sender<JobView>, Option<Arc<Progress>>);

/// The jobs of this server.
#[derive(Default)]
pub struct BackupJobs {
    jobs: Mutex<VecDeque<Entry>>,
}

impl BackupJobs {
    fn start(&self, volume: Option<String>) -> watch::Sender<JobView> {
        self.start_job(JobView::new("backup", volume), None)
    }

    /// Remembers a new running job (forgetting the oldest finished ones beyond [`KEEP`]).
    pub(crate) fn start_job(
        &self,
        view: JobView,
        progress: Option<Arc<Progress>>,
    ) -> watch::Sender<JobView> {
        let id = view.id.clone();
        let (tx, _) = watch::channel(view);
        let mut jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        // Forget the oldest finished jobs beyond the limit; running ones stay.
        while jobs.len() >= KEEP {
            match jobs
                .iter()
                .position(|(_, j, _)| j.borrow().status != JobStatus::Running)
            {
                Some(i) => {
                    jobs.remove(i);
                }
                None => break,
            }
        }
        jobs.push_back((id, tx.clone(), progress));
        tx
    }

    fn find(&self, id: &str) -> Option<(watch::Receiver<JobView>, Option<Arc<Progress>>)> {
        let jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        jobs.iter()
            .find(|(i, _, _)| i == id)
            .map(|(_, tx, p)| (tx.subscribe(), p.clone()))
    }

    /// Job `id` as it stands, with a running restore's live progress.
    pub fn view(&self, id: &str) -> Option<JobView> {
        self.find(id)
            .map(|(rx, p)| with_progress(rx.borrow().clone(), p.as_deref()))
    }

    /// Every remembered job, newest first, with a running restore's live progress.
    pub fn list(&self) -> Vec<JobView> {
        let jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        jobs.iter()
            .rev()
            .map(|(_, tx, p)| with_progress(tx.borrow().clone(), p.as_deref()))
            .collect()
    }
}

impl JobView {
    /// A running job of `kind` that has just started.
    pub fn new(kind: &'static str, volume: Option<String>) -> JobView {
        JobView {
            id: uuid::Uuid::new_v4().simple().to_string(),
            kind,
            volume,
            status: JobStatus::Running,
            started: Utc::now(),
            finished: None,
            snapshots: None,
            error: None,
            snapshot: None,
            path: None,
            progress: None,
            restore: None,
        }
    }
}

/// The view with the counter's figures while the job runs (its last ones once it ended).
fn with_progress(mut view: JobView, progress: Option<&Progress>) -> JobView {
    if let Some(p) = progress {
        let (done, total) = p.get();
        view.progress = Some(JobProgress {
            done,
            total: total.max(done),
        });
    }
    view
}

/// Query of `POST /api/v1/backups`.
#[derive(Debug, Deserialize)]
pub struct BackupQuery {
    /// Only this volume.
    pub volume: Option<String>,
}

/// `POST /api/v1/backups[?volume=NAME]`: `202` with the job (and a `Location` header),
/// `409` while a backup is already running, `404` for an unknown volume.
pub async fn post_backup(
    State(state): State<Arc<AppState>>,
    Query(q): Query<BackupQuery>,
) -> ApiResult<(StatusCode, HeaderMap, Json<JobView>)> {
    if let Some(v) = &q.volume
        && state.config.volume(v).is_none()
    {
        return Err(ApiError::not_found(format!("no volume named {v:?}")));
    }
    let Ok(guard) = state.backup_lock.clone().try_lock_owned() else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "a backup is already running",
        ));
    };
    let job = state.backup_jobs.start(q.volume.clone());
    let view = job.borrow().clone();
    let st = state.clone();
    tokio::spawn(async move {
        let _running = guard;
        let sinks = st.backup_sinks();
        let result = backup_volumes(&st.repo, &st.config, q.volume.as_deref(), &sinks).await;
        st.metrics
            .job_run("backup", if result.is_ok() { "ok" } else { "failed" });
        *st.snapshot_cache.lock().await = None;
        job.send_modify(|v| {
            v.finished = Some(Utc::now());
            match result {
                Ok(reports) => {
                    v.status = JobStatus::Succeeded;
                    v.snapshots = Some(reports);
                }
                Err(e) => {
                    let message = crate::error::chain(&e);
                    if e.is_logged() {
                        tracing::info!("backup job {}: failed (logged above)", v.id);
                    } else {
                        tracing::error!("backup job {}: {message}", v.id);
                    }
                    v.status = JobStatus::Failed;
                    v.error = Some(message);
                }
            }
        });
    });
    let mut headers = HeaderMap::new();
    if let Ok(h) = HeaderValue::from_str(&format!("/api/v1/jobs/{}", view.id)) {
        headers.insert(header::LOCATION, h);
    }
    Ok((StatusCode::ACCEPTED, headers, Json(view)))
}

/// Query of `GET /api/v1/jobs/{id}`.
#[derive(Debug, Deserialize)]
pub struct JobQuery {
    /// Hold the answer until the job ends (at most [`WAIT_LIMIT`]).
    #[serde(default)]
    pub wait: bool,
}

/// `GET /api/v1/jobs/{id}[?wait=true]`: the job, or `404`.
pub async fn get_job(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    Query(q): Query<JobQuery>,
) -> ApiResult<Json<JobView>> {
    let Some((mut rx, progress)) = state.backup_jobs.find(&id) else {
        return Err(ApiError::not_found(format!("no job {id:?}")));
    };
    if q.wait {
        let ended = rx.wait_for(|v| v.status != JobStatus::Running);
        // Past the limit, or if the job's task is gone, answer with what is known.
        let _ = tokio::time::timeout(WAIT_LIMIT, ended).await;
    }
    let view = rx.borrow().clone();
    Ok(Json(with_progress(view, progress.as_deref())))
}
