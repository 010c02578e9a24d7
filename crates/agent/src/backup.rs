//! A backup of the configured volumes by the agent (the scheduled backup job and the
//! on-demand jobs of [`crate::http::jobs`]): [`backup_volumes`] runs the same
//! orchestration as `holdfast backup` ([`holdfast_volume::backup::backup_all`]) and
//! reports each outcome exactly once to its [`BackupSinks`]: the metrics, the volume's
//! freshness record, the protection state, the notifier and the after-backup replicas.

use std::sync::Arc;

use holdfast_volume::backup::{
    BackupStep, VolumeBackupError, VolumeBackupOptions, VolumeOutcome, backup_all, record_failure,
};
use holdfast_volume::config::{Config, Volume};
use holdfast_volume::freshness::one_line;

use crate::access::RepoAccess;
use crate::error::{Context as _, Error, Result};
use crate::metrics::Metrics;
use crate::notify::{Event, Notifier};
use crate::protection::Watch;
use crate::replication::Replication;
use crate::survey::survey;

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

/// Who hears about each outcome of a backup of configured volumes, for `holdfast
/// backup` (the notifier) and the agent (the metrics too) alike. Recording the failure
/// on the volume itself stays with the caller: the agent logs it, the command's error
/// line already says it.
pub struct BackupObserver<'a> {
    /// The `[[notify]]` targets.
    pub notifier: &'a Notifier,
    /// The agent's counters; `None` for the command.
    pub metrics: Option<&'a Metrics>,
}

impl BackupObserver<'_> {
    /// One step of [`backup_all`]: a finished volume is counted and announced.
    pub fn step(&self, step: &BackupStep<'_>) {
        match (step, self.metrics) {
            (BackupStep::Finished(v, Ok(s)), Some(m)) => {
                m.backup_succeeded(&v.name, s.snapshot.time, s.duration, s.snapshot.added);
            }
            (BackupStep::Finished(v, Err(e)), Some(m)) => {
                m.backup_failed(&v.name, &one_line(&e.to_string()));
            }
            _ => {}
        }
        for event in Event::of_step(step) {
            self.notifier.notify(event);
        }
    }

    /// Every volume failed before its backup started (the repository could not be
    /// opened, or a `before_backup` hook failed): each is counted and announced with
    /// `message`.
    pub fn all_failed(&self, volumes: &[&Volume], message: &str) {
        for v in volumes {
            if let Some(m) = self.metrics {
                m.backup_failed(&v.name, message);
            }
            self.notifier.notify(Event::BackupFailed {
                volume: v.name.clone(),
                error: message.to_owned(),
            });
        }
    }
}

/// Backs up every volume (or only `only`) through [`backup_all`] (the same orchestration
/// as `holdfast backup`), counting, recording and announcing each outcome; afterwards
/// the repository survey is refreshed and, when a snapshot was committed, the
/// after-backup replicas are signalled (without waiting for them). Every volume is tried; the error lists those
/// that failed, as [`Error::Logged`] when each failure was logged already (one
/// `backup failed volume=…` line per volume, by [`backup_all`] and [`record_failure`]):
/// the job that ran the backup keeps the message for its status but does not log it a
/// second time.
pub async fn backup_volumes(
    access: &RepoAccess,
    config: &Config,
    only: Option<&str>,
    sinks: &BackupSinks,
) -> Result<Vec<BackupReport>> {
    let volumes: Vec<_> = config
        .volumes
        .iter()
        .filter(|v| only.is_none_or(|o| o == v.name))
        .collect();
    if volumes.is_empty() {
        return Err(Error::NoVolume);
    }
    let (metrics, notifier) = (&sinks.metrics, &sinks.notifier);
    let observer = BackupObserver {
        notifier,
        metrics: Some(metrics),
    };
    let fail_all = |e: &Error| {
        let message = one_line(&crate::error::chain(e));
        for v in &volumes {
            record_failure(v, &message);
        }
        observer.all_failed(&volumes, &message);
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
                .set_repository_problem(Some(one_line(&crate::error::chain(&e))));
            fail_all(&e);
            return Err(Error::Logged {
                message: crate::error::chain(&e),
            });
        }
    };
    let mut observe = |step: BackupStep<'_>| observer.step(&step);
    let opts = VolumeBackupOptions::default();
    let results = backup_all(&mut repo, config, &volumes, &opts, &mut observe).await;
    if let Err(e) = survey(&repo, metrics).await {
        tracing::warn!(
            "reading the repository after the backup: {}",
            crate::error::chain(&e)
        );
    }
    let results = match results {
        Ok(r) => r,
        Err(e) => {
            if matches!(e, VolumeBackupError::BeforeHook(_)) {
                // backup_all recorded the failures on the volumes already.
                observer.all_failed(&volumes, &one_line(&e.to_string()));
                return Err(Error::Logged {
                    message: e.to_string(),
                });
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
        return Err(Error::Logged {
            message: format!("backup failed: {}", failed.join("; ")),
        });
    }
    Ok(reports)
}
