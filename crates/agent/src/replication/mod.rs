//! `[[replicas]]` under `run`/`serve`: when each replica is brought up to date, what
//! its last run did, how far it is behind, and when that is an alert.
//!
//! How it works:
//! - a replica with `schedule = "after-backup"` (the default) has a worker that waits
//!   for a signal; every successful backup (scheduled or `POST /api/v1/backups`) sends
//!   one ([`Replication::after_backup`]) and returns at once, so a backup's result never
//!   waits for a replication. Signals that arrive while the worker runs collapse into
//!   one more run, so a replica never replicates twice at the same time and never
//!   misses the last backup;
//! - a replica with a cron schedule is one scheduler job, `replicate:NAME`, with its own
//!   lock (the scheduler skips a tick that finds it still running);
//! - each run opens the source and the replica (with the replica's own password),
//!   copies what the replica lacks, applies the replica's retention
//!   ([`crate::replication::replicas::replicate_one`]) and logs ONE INFO line with the outcome, the
//!   snapshots and bytes copied, the duration and the lag left ([`lag`]: what the lag
//!   means, the one definition every report uses);
//! - at start, and every probe interval, the state is refreshed: the lag is measured
//!   once at start, and a replica whose last run failed, or that has lacked newer
//!   snapshots than its newest copy for longer than its interval × 1.5 + 15 min
//!   (after-backup: the backups' `backup_max_age`), gets an alert saying "replica". The alerts go to
//!   `/api/v1/status` (each volume's `alerts` and `replicas`), the status page and the
//!   `holdfast_replica_*` metrics, never to `/readyz`.

pub mod lag;
pub mod replicas;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use holdfast_repo::copy::Lag;
use holdfast_volume::config::{AFTER_BACKUP, Config, Replica};
use holdfast_volume::freshness::{self, MAX_AGE_MARGIN, one_line, rfc3339};
use holdfast_volume::status::{ReplicaStatus, VolumeStatus};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::access::RepoAccess;
use crate::metrics::Metrics;
use crate::schedule::{Job, JobFn};

/// What is known of one replica.
#[derive(Debug, Clone, Default)]
struct State {
    last_run: Option<DateTime<Utc>>,
    last_success: Option<DateTime<Utc>>,
    last_error: Option<String>,
    lag: Option<Lag>,
    copied: u64,
}

/// One replica with its state, signal and lock.
struct Entry {
    replica: Replica,
    name: String,
    state: Mutex<State>,
    wake: Notify,
    lock: Arc<tokio::sync::Mutex<()>>,
}

/// Every replica of the configuration and what the server knows of it.
pub struct Replication {
    config: Arc<Config>,
    repo: RepoAccess,
    metrics: Arc<Metrics>,
    entries: Vec<Arc<Entry>>,
}

impl std::fmt::Debug for Replication {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replication")
            .field("replicas", &self.entries.len())
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Replication {
    /// The replicas of `config`, none run yet.
    pub fn new(config: Arc<Config>, repo: RepoAccess, metrics: Arc<Metrics>) -> Replication {
        let entries = config
            .replicas
            .iter()
            .map(|r| {
                Arc::new(Entry {
                    name: r.display_name(),
                    replica: r.clone(),
                    state: Mutex::new(State::default()),
                    wake: Notify::new(),
                    lock: Arc::default(),
                })
            })
            .collect();
        Replication {
            config,
            repo,
            metrics,
            entries,
        }
    }

    /// Signals every after-backup replica; returns at once.
    pub fn after_backup(&self) {
        for e in self.entries.iter().filter(|e| e.replica.after_backup()) {
            e.wake.notify_one();
        }
    }

    /// One scheduler job per replica with a cron schedule: `replicate:NAME`.
    pub fn jobs(self: &Arc<Self>, cancel: &CancellationToken) -> crate::Result<Vec<Job>> {
        let mut jobs = Vec::new();
        for (i, e) in self.entries.iter().enumerate() {
            let Some(cron) = e.replica.cron() else {
                continue;
            };
            let (this, cancel) = (self.clone(), cancel.clone());
            let run: JobFn = Arc::new(move || {
                let (this, cancel) = (this.clone(), cancel.clone());
                Box::pin(async move { this.run(i, &cancel, false).await })
            });
            jobs.push(Job::new(
                &format!("replicate:{}", e.name),
                cron,
                run,
                e.lock.clone(),
            )?);
        }
        Ok(jobs)
    }

    /// Starts the after-backup workers and the refresh timer (every `every`); the handle
    /// resolves once `cancel` fired and a running replication stopped.
    pub fn spawn(self: &Arc<Self>, every: Duration, cancel: CancellationToken) -> JoinHandle<()> {
        let mut tasks = Vec::new();
        for (i, e) in self.entries.iter().enumerate() {
            if !e.replica.after_backup() {
                continue;
            }
            let (this, e, cancel) = (self.clone(), e.clone(), cancel.clone());
            tasks.push(tokio::spawn(async move {
                loop {
                    tokio::select! {
                        () = cancel.cancelled() => return,
                        () = e.wake.notified() => {}
                    }
                    let _running = e.lock.lock().await;
                    if cancel.is_cancelled() {
                        return;
                    }
                    match this.run(i, &cancel, true).await {
                        Ok(_) => this.metrics.job_run(&format!("replicate:{}", e.name), "ok"),
                        Err(_) => this
                            .metrics
                            .job_run(&format!("replicate:{}", e.name), "failed"),
                    }
                }
            }));
        }
        let this = self.clone();
        let timer = tokio::spawn(async move {
            tokio::select! {
                () = cancel.cancelled() => return,
                () = this.measure_all() => {}
            }
            loop {
                this.refresh(Utc::now());
                tokio::select! {
                    () = cancel.cancelled() => return,
                    () = tokio::time::sleep(every) => {}
                }
            }
        });
        tasks.push(timer);
        tokio::spawn(async move {
            for t in tasks {
                if let Err(e) = t.await {
                    tracing::error!("a replication task failed: {e}");
                }
            }
        })
    }

    /// Measures every replica's lag once (at start), without copying.
    async fn measure_all(&self) {
        if self.entries.is_empty() || !self.repo.is_configured() || self.repo.password.is_none() {
            return;
        }
        let Ok(source) = self.repo.open().await else {
            return;
        };
        for e in &self.entries {
            let measured = async {
                let target = crate::replication::replicas::open_replica(&e.replica).await?;
                Ok::<_, crate::Error>(holdfast_repo::copy::lag(&source, &target).await?)
            }
            .await;
            match measured {
                Ok(lag) => {
                    let mut s = lock(&e.state);
                    if s.lag.is_none() {
                        s.lag = Some(lag);
                    }
                }
                Err(err) => {
                    tracing::warn!(
                        "replica {}: cannot measure the lag: {}",
                        e.name,
                        crate::error::chain(&err)
                    );
                }
            }
        }
    }

    /// Replicates to replica `i` now and gives the outcome in one line; `log` logs it
    /// (INFO, or ERROR on failure): a scheduler job's outcome is logged by the scheduler.
    async fn run(&self, i: usize, cancel: &CancellationToken, log: bool) -> crate::Result<String> {
        let e = &self.entries[i];
        let started = Utc::now();
        let clock = Instant::now();
        lock(&e.state).last_run = Some(started);
        let result = async {
            let source = self.repo.open().await?;
            crate::replication::replicas::replicate_one(&source, &e.replica, cancel).await
        }
        .await;
        let took = clock.elapsed().as_secs_f64();
        let outcome = match result {
            Ok(report) => {
                let copied = report.copy.copied.len();
                let bytes = report.copy.stats.bytes_uploaded;
                let forgotten = report.forget.as_ref().map_or(0, |f| f.deleted);
                let summary = format!(
                    "copied {}, {} uploaded, forgot {forgotten}, in {took:.1} s; lag {}, {} s",
                    crate::text::count(copied, "snapshot"),
                    crate::text::count(bytes, "byte"),
                    crate::text::count(report.lag.missing, "snapshot"),
                    report.lag.lag_seconds
                );
                if log {
                    tracing::info!("replica {}: ok: {summary}", e.name);
                }
                let mut s = lock(&e.state);
                s.last_success = Some(Utc::now());
                s.last_error = None;
                s.lag = Some(report.lag);
                s.copied += copied as u64;
                Ok(summary)
            }
            Err(err) => {
                let message = one_line(&crate::error::chain(&err));
                if log {
                    tracing::error!("replica {}: failed after {took:.1} s: {message}", e.name);
                }
                lock(&e.state).last_error = Some(message);
                Err(err)
            }
        };
        self.refresh(Utc::now());
        outcome
    }

    /// How old a missing snapshot may get before the replica is behind: its cron
    /// interval × 1.5 + 15 min, or the backups' `backup_max_age` for after-backup.
    fn max_age(&self, r: &Replica, now: DateTime<Utc>) -> Option<Duration> {
        match r.cron() {
            Some(expr) => {
                freshness::schedule_interval(expr, now).map(|i| i + i / 2 + MAX_AGE_MARGIN)
            }
            None => freshness::max_age(&self.config, now),
        }
    }

    /// Every replica's state and alerts at `now`.
    pub fn statuses(&self, now: DateTime<Utc>) -> Vec<ReplicaStatus> {
        self.entries
            .iter()
            .map(|e| {
                let s = lock(&e.state).clone();
                let lag_seconds = s.lag.as_ref().map(|l| lag::seconds(l, now));
                let mut alerts = Vec::new();
                if let Some(err) = &s.last_error {
                    alerts.push(format!(
                        "replica {}: the last replication failed: {err}",
                        e.name
                    ));
                }
                if let (Some(l), Some(max)) = (&s.lag, self.max_age(&e.replica, now))
                    && lag::overdue(l, max, now)
                {
                    alerts.push(format!(
                        "replica {}: behind by {} for longer than {}",
                        e.name,
                        crate::text::count(l.missing, "snapshot"),
                        freshness::age(chrono::Duration::from_std(max).unwrap_or_default())
                    ));
                }
                ReplicaStatus {
                    name: e.name.clone(),
                    schedule: e
                        .replica
                        .cron()
                        .map_or_else(|| AFTER_BACKUP.to_string(), str::to_string),
                    last_run: s.last_run.map(rfc3339),
                    last_success: s.last_success.map(rfc3339),
                    last_error: s.last_error.clone(),
                    lag_snapshots: s.lag.as_ref().map(|l| l.missing),
                    lag_seconds,
                    copied: s.copied,
                    alerts,
                }
            })
            .collect()
    }

    /// Puts the replicas' state into the metrics.
    fn refresh(&self, now: DateTime<Utc>) {
        let statuses = self.statuses(now);
        let success: Vec<Option<DateTime<Utc>>> = self
            .entries
            .iter()
            .map(|e| lock(&e.state).last_success)
            .collect();
        self.metrics.set_replicas(&statuses, &success);
    }

    /// Adds every replica (and its alerts, after the volume's own) to each volume of
    /// `/api/v1/status`.
    pub fn apply(&self, statuses: &mut [VolumeStatus]) {
        if self.entries.is_empty() {
            return;
        }
        let now = Utc::now();
        self.refresh(now);
        let replicas = self.statuses(now);
        for s in statuses {
            s.alerts
                .extend(replicas.iter().flat_map(|r| r.alerts.iter().cloned()));
            s.replicas = replicas.clone();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replication(extra: &str) -> Replication {
        let config: Config = format!(
            "[schedule]\nbackup = \"0 * * * *\"\n\
             [[replicas]]\nname = \"off\"\nurl = \"file:///nonexistent/r\"\npassword_env = \"P\"\n{extra}"
        )
        .parse()
        .expect("valid config");
        Replication::new(Arc::new(config), RepoAccess::default(), Arc::default())
    }

    #[test]
    fn a_failed_run_or_an_old_lag_is_a_replica_alert() {
        let r = replication("");
        let now = Utc::now();
        assert!(r.statuses(now)[0].alerts.is_empty());
        lock(&r.entries[0].state).last_error = Some("boom".into());
        let s = &r.statuses(now)[0];
        assert_eq!(s.alerts.len(), 1);
        assert!(s.alerts[0].contains("replica off"), "{:?}", s.alerts);
        {
            let mut st = lock(&r.entries[0].state);
            st.last_error = None;
            st.lag = Some(Lag {
                missing: 2,
                source_latest: Some(now - chrono::Duration::minutes(10)),
                replica_latest: Some(now - chrono::Duration::minutes(70)),
                source_oldest_missing: Some(now - chrono::Duration::minutes(40)),
                lag_seconds: 4200,
            });
        }
        let s = &r.statuses(now)[0];
        assert_eq!(s.lag_snapshots, Some(2));
        // Drift: `copy --replicas` printed source-newest minus replica-newest (60 min
        // here) while /api/v1/status said now minus the newest missing (10 min). Now
        // both say how much recent history the replica lacks: 70 min.
        assert_eq!(s.lag_seconds, Some(4200));
        let lag = lock(&r.entries[0].state).lag.clone().expect("lag");
        assert_eq!(s.lag_seconds, Some(lag.seconds_at(now)));
        assert!(s.alerts.is_empty(), "hourly backups: 1h45m allowed");
        let later = now + chrono::Duration::hours(1);
        let s = &r.statuses(later)[0];
        assert!(
            s.alerts[0].starts_with("replica off: behind by 2"),
            "{:?}",
            s.alerts
        );
        let text = {
            r.refresh(later);
            r.metrics.render(&[])
        };
        assert!(
            text.contains("holdfast_replica_lag_snapshots{replica=\"off\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("holdfast_replica_lag_seconds{replica=\"off\"} 7800\n"),
            "{text}"
        );
        assert!(
            text.contains("holdfast_replica_failing{replica=\"off\"} 1\n"),
            "{text}"
        );
    }

    #[test]
    fn a_cron_replica_is_a_scheduler_job() {
        let r = Arc::new(replication("schedule = \"*/5 * * * *\"\n"));
        let jobs = r.jobs(&CancellationToken::new()).expect("jobs");
        assert_eq!(jobs.len(), 1);
        assert_eq!(jobs[0].name, "replicate:off");
        assert_eq!(r.statuses(Utc::now())[0].schedule, "*/5 * * * *");
    }
}
