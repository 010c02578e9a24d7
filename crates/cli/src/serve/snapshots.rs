//! The repository side of the server: `GET /api/v1/snapshots` (the `snapshots --json`
//! array), the repository [`survey`] behind the snapshot metrics, and
//! [`backup_volumes`], which the scheduled backup job and the on-demand jobs of
//! [`super::backup_jobs`] run. The repository is
//! opened per operation from `[repository] url` (or `--repo` / `HOLDFAST_REPOSITORY`)
//! with the password from `HOLDFAST_PASSWORD` or the password file.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;
use futures::TryStreamExt;
use holdfast_repo::{OpenOptions, Repository};
use holdfast_store::{ListOptions, Store};
use holdfast_volume::backup::{
    BackupStep, VolumeBackupError, VolumeBackupOptions, VolumeOutcome, backup_all, record_failure,
};
use holdfast_volume::config::Config;
use holdfast_volume::freshness::one_line;

use super::error::{ApiError, ApiResult};
use super::metrics::{Metrics, PATH_LABEL};
use super::replication::Replication;
use super::server::AppState;
use super::watch::Watch;
use crate::notify::{Event, Notifier};

/// Where the repository is and how to unlock it.
#[derive(Clone, Default)]
pub struct RepoAccess {
    /// Repository URL, when one is configured.
    pub url: Option<String>,
    /// The password, when one is given.
    pub password: Option<String>,
    /// The master key once unlocked: every later open of this process skips Argon2id.
    pub keys: std::sync::Arc<holdfast_repo::KeyCache>,
}

impl std::fmt::Debug for RepoAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RepoAccess")
            .field("url", &self.url.as_deref().map(holdfast_store::redact_url))
            .finish_non_exhaustive()
    }
}

impl RepoAccess {
    /// The repository and password the global flags name, resolved exactly as the
    /// other commands resolve them ([`crate::context`]); either may be absent, and only
    /// the operations that need the repository fail then.
    pub fn from_global(g: &crate::global::GlobalArgs) -> anyhow::Result<Self> {
        let url = crate::context::repo_url(g)?;
        let password = if g.password_file.is_some() {
            Some(crate::context::password(g)?)
        } else {
            crate::context::password(g).ok()
        };
        Ok(RepoAccess {
            url,
            password,
            keys: Default::default(),
        })
    }

    /// Opens the repository.
    pub async fn open(&self) -> anyhow::Result<Repository> {
        let Some(url) = &self.url else {
            bail!("no repository: set [repository] url in holdfast.toml or HOLDFAST_REPOSITORY");
        };
        let Some(password) = &self.password else {
            bail!("no repository password: set HOLDFAST_PASSWORD or HOLDFAST_PASSWORD_FILE");
        };
        let store = Store::open(url)?;
        let opts = OpenOptions {
            password: password.clone(),
            cache: None,
        };
        holdfast_repo::open_cached(store, &opts, &self.keys)
            .await
            .with_context(|| format!("opening repository {}", holdfast_store::redact_url(url)))
    }
}

/// One snapshot as `holdfast snapshots --json` and `GET /api/v1/snapshots` show it.
pub type SnapshotEntry = holdfast_repo::SnapshotSummary;

/// Every snapshot, oldest first; also refreshes the snapshot metrics.
pub async fn list(access: &RepoAccess, metrics: &Metrics) -> anyhow::Result<Vec<SnapshotEntry>> {
    let repo = access.open().await?;
    let entries = entries(&repo).await?;
    record_survey(&repo, &entries, metrics).await;
    Ok(entries)
}

async fn entries(repo: &Repository) -> anyhow::Result<Vec<SnapshotEntry>> {
    let mut entries: Vec<SnapshotEntry> = repo
        .snapshots()
        .await?
        .into_iter()
        .map(|(id, s)| s.summary(id))
        .collect();
    entries.sort_by_key(|e| e.time);
    Ok(entries)
}

/// Reads the snapshot counts, each volume's newest snapshot and the repository size
/// into the metrics (the start-up survey, the timer and the end of each backup).
pub async fn survey(repo: &Repository, metrics: &Metrics) -> anyhow::Result<()> {
    let entries = entries(repo).await?;
    record_survey(repo, &entries, metrics).await;
    Ok(())
}

async fn record_survey(repo: &Repository, entries: &[SnapshotEntry], metrics: &Metrics) {
    let mut counts = BTreeMap::new();
    let mut newest = BTreeMap::new();
    for e in entries {
        match &e.volume {
            Some(v) => {
                *counts.entry(v.clone()).or_insert(0u64) += 1;
                newest.insert(v.clone(), e.time);
            }
            None => *counts.entry(PATH_LABEL.to_string()).or_insert(0u64) += 1,
        }
    }
    metrics.set_snapshots(counts, newest);
    let opts = ListOptions {
        recursive: true,
        filter: None,
    };
    let size = repo
        .store()
        .list("", opts)
        .try_fold(0u64, |acc, m| async move { Ok(acc + m.size) });
    match size.await {
        Ok(bytes) => metrics.set_repository_size(bytes),
        Err(e) => tracing::warn!("measuring the repository: {e}"),
    }
}

/// One volume backed up (the same object `holdfast backup --json` prints).
pub type BackupReport = holdfast_repo::BackupReport;

/// What a server backup reports to: the counters, the watch state (a repository that
/// cannot be opened is a reason backups cannot run) and the notifier.
#[derive(Clone)]
pub struct BackupSinks {
    /// Counters and gauges.
    pub metrics: Arc<Metrics>,
    /// Why backups cannot run, as last seen.
    pub watch: Arc<Watch>,
    /// Push notifications.
    pub notifier: Notifier,
    /// The `[[replicas]]` to bring up to date after a backup that committed a snapshot.
    pub replication: Arc<Replication>,
}

/// A backup failure whose cause is logged already, one `backup failed volume=…` line per
/// volume ([`backup_all`], [`record_failure`]): the job that ran the backup keeps the
/// message for its status but does not log it a second time.
#[derive(Debug)]
pub struct Logged(pub String);

impl std::fmt::Display for Logged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Logged {}

/// True when `e`'s cause was logged already (see [`Logged`]).
pub fn logged(e: &anyhow::Error) -> bool {
    e.downcast_ref::<Logged>().is_some()
}

/// Backs up every volume (or only `only`) through [`backup_all`] (the same orchestration
/// as `holdfast backup`), counting, recording and announcing each outcome; afterwards
/// the repository survey is refreshed and, when a snapshot was committed, the
/// after-backup replicas are signalled (without waiting for them). Every volume is tried; the error lists those
/// that failed, as [`Logged`] when each failure was logged already.
pub async fn backup_volumes(
    access: &RepoAccess,
    config: &Config,
    only: Option<&str>,
    sinks: &BackupSinks,
) -> anyhow::Result<Vec<BackupReport>> {
    let volumes: Vec<_> = config
        .volumes
        .iter()
        .filter(|v| only.is_none_or(|o| o == v.name))
        .collect();
    if volumes.is_empty() {
        bail!("no volume to back up");
    }
    let (metrics, notifier) = (&sinks.metrics, &sinks.notifier);
    let fail_all = |e: &anyhow::Error| {
        let message = one_line(&format!("{e:#}"));
        for v in &volumes {
            record_failure(v, &message);
            metrics.backup_failed(&v.name, &message);
            notifier.notify(Event::BackupFailed {
                volume: v.name.clone(),
                error: message.clone(),
            });
        }
    };
    let opened = match access.open().await {
        Ok(r) => r.load_index().await.context("loading the index"),
        Err(e) => Err(e),
    };
    let mut repo = match opened {
        Ok(r) => {
            sinks.watch.set_repository_problem(None);
            r
        }
        Err(e) => {
            sinks
                .watch
                .set_repository_problem(Some(one_line(&format!("{e:#}"))));
            fail_all(&e);
            return Err(Logged(format!("{e:#}")).into());
        }
    };
    let mut observe = |step: BackupStep<'_>| {
        match &step {
            BackupStep::Started(_) => {}
            BackupStep::Finished(v, Ok(s)) => {
                metrics.backup_succeeded(&v.name, Utc::now(), s.duration, s.snapshot.added);
            }
            BackupStep::Finished(v, Err(e)) => {
                metrics.backup_failed(&v.name, &one_line(&e.to_string()));
            }
        }
        for event in Event::of_step(&step) {
            notifier.notify(event);
        }
    };
    let opts = VolumeBackupOptions::default();
    let results = backup_all(&mut repo, config, &volumes, &opts, &mut observe).await;
    if let Err(e) = survey(&repo, metrics).await {
        tracing::warn!("reading the repository after the backup: {e:#}");
    }
    let results = match results {
        Ok(r) => r,
        Err(e) => {
            if matches!(e, VolumeBackupError::BeforeHook(_)) {
                // backup_all recorded the failures on the volumes already.
                let message = one_line(&e.to_string());
                for v in &volumes {
                    metrics.backup_failed(&v.name, &message);
                    notifier.notify(Event::BackupFailed {
                        volume: v.name.clone(),
                        error: message.clone(),
                    });
                }
                return Err(Logged(e.to_string()).into());
            }
            return Err(e.into());
        }
    };
    let mut reports = Vec::new();
    let mut failed = Vec::new();
    for VolumeOutcome { volume, result } in results {
        match result {
            Ok(s) => {
                let mut report = BackupReport::new(s.id, &s.snapshot, s.duration);
                report.volume = Some(volume);
                reports.push(report);
            }
            Err(e) => failed.push(e.to_string()),
        }
    }
    if !reports.is_empty() {
        sinks.replication.after_backup();
    }
    if !failed.is_empty() {
        return Err(Logged(format!("backup failed: {}", failed.join("; "))).into());
    }
    Ok(reports)
}

fn unavailable(e: anyhow::Error) -> ApiError {
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, format!("{e:#}"))
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
