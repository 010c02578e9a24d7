//! Postgres WAL archiving under `run`, `serve` and `holdfast pg archive --daemon`: one
//! uploader task per database with `archive = true` sends its spool to the repository
//! ([`holdfast_volume::databases::postgres::upload`]; the format and guarantees in
//! docs/FORMAT.md, "Postgres WAL segments").
//!
//! - Postgres never waits on this: `archive_command` only writes the spool; this task
//!   reads it, in parallel, every `POLL`, and a store that is away costs only lag.
//! - A repository that cannot be opened is tried again at the next poll; the state says
//!   why meanwhile, and failing for longer than 30 s is an alert.
//! - A gap (WAL dropped past the spool's bound) is recorded in the repository, alerted
//!   (`pitr_alert`, once) and followed by a new base backup of the volume as soon as the
//!   store takes writes again; the alert stays until that base is committed.
//! - Status (through [`crate::pitr::Pitr::apply`]): per database the newest archived
//!   point and its lag, the spool's bytes, the recoverable window (from the oldest base
//!   backup in the repository to the newest archived point) and the gaps; the
//!   `holdfast_postgres_*` metrics say the same.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use holdfast_repo::wal::pg::{PgOwner, pg_lineages};
use holdfast_volume::backup::{VolumeBackupOptions, backup_volume};
use holdfast_volume::config::{Config, Volume};
use holdfast_volume::databases::postgres::archive::Spool;
use holdfast_volume::databases::postgres::upload::upload_pass;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::access::RepoAccess;
use crate::notify::{Event, Notifier};

/// How often the spool is read.
pub const POLL: Duration = Duration::from_millis(100);
/// Files sent at once.
pub const PARALLEL: usize = 4;

/// What is known of one archived Postgres database.
#[derive(Debug, Clone, Default)]
pub struct PgState {
    /// Its volume.
    pub volume: String,
    /// Its name in holdfast.toml.
    pub database: String,
    /// Bytes waiting in the spool.
    pub spool_bytes: u64,
    /// Bytes sent since the start.
    pub bytes: u64,
    /// Files sent since the start.
    pub files: u64,
    /// The archive time of the newest file in the repository.
    pub newest: Option<DateTime<Utc>>,
    /// The oldest base backup's consistency time (the start of the recoverable window).
    pub window_from: Option<DateTime<Utc>>,
    /// Gaps recorded since the start.
    pub gaps: u64,
    /// A gap is recorded and no base backup has followed it yet.
    pub base_wanted: bool,
    /// The last error, and since when archiving has been failing.
    pub error: Option<(String, DateTime<Utc>)>,
}

impl PgState {
    /// Seconds since the newest archived file's archive time.
    pub fn lag_seconds(&self, now: DateTime<Utc>) -> Option<i64> {
        self.newest.map(|t| (now - t).num_seconds().max(0))
    }

    /// The alert, when there is one (see the module doc).
    pub fn alert(&self, now: DateTime<Utc>) -> Option<String> {
        if let Some((why, since)) = &self.error
            && (now - *since).num_seconds() > 30
        {
            return Some(format!(
                "database {}: WAL archiving failing since {} ({} waiting in the spool): {why}",
                self.database,
                since.format("%Y-%m-%d %H:%M:%S UTC"),
                crate::text::count(self.spool_bytes as usize, "byte")
            ));
        }
        self.base_wanted.then(|| {
            format!(
                "database {}: WAL was dropped unarchived (the spool passed its bound while the \
                 store was away): {} recorded; points after it need the new base backup, which \
                 is taken as soon as the store is back",
                self.database,
                crate::text::count(self.gaps as usize, "gap")
            )
        })
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Every archived Postgres database of a configuration and its state.
#[derive(Debug, Default)]
pub struct PgArchivers {
    entries: Vec<(Spool, Arc<Mutex<PgState>>)>,
}

impl PgArchivers {
    /// The databases of `config` with `archive = true`.
    pub fn new(config: &Config) -> PgArchivers {
        let mut entries = Vec::new();
        for v in &config.volumes {
            for db in &v.databases {
                if let Some(spool) = Spool::of(v, db) {
                    let state = PgState {
                        volume: v.name.clone(),
                        database: db.name(),
                        ..PgState::default()
                    };
                    entries.push((spool, Arc::new(Mutex::new(state))));
                }
            }
        }
        PgArchivers { entries }
    }

    /// Whether any database is archived.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every database's state.
    pub fn states(&self) -> Vec<PgState> {
        self.entries.iter().map(|(_, s)| lock(s).clone()).collect()
    }

    /// The `holdfast_postgres_*` metrics, in the Prometheus text format.
    pub fn render_metrics(&self) -> String {
        if self.entries.is_empty() {
            return String::new();
        }
        let now = Utc::now();
        let states = self.states();
        let mut out = String::new();
        let mut gauge =
            |name: &str, kind: &str, help: &str, value: &dyn Fn(&PgState) -> Option<f64>| {
                out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
                for s in &states {
                    if let Some(v) = value(s) {
                        out.push_str(&format!(
                            "{name}{{volume=\"{}\",database=\"{}\"}} {v}\n",
                            s.volume, s.database
                        ));
                    }
                }
            };
        gauge(
            "holdfast_postgres_archive_lag_seconds",
            "gauge",
            "Seconds since the newest WAL file in the repository was handed over by Postgres.",
            &|s| s.lag_seconds(now).map(|l| l as f64),
        );
        gauge(
            "holdfast_postgres_spool_bytes",
            "gauge",
            "Bytes of WAL waiting in the spool.",
            &|s| Some(s.spool_bytes as f64),
        );
        gauge(
            "holdfast_postgres_archived_bytes_total",
            "counter",
            "Bytes of WAL sent to the repository.",
            &|s| Some(s.bytes as f64),
        );
        gauge(
            "holdfast_postgres_gaps_total",
            "counter",
            "Gaps recorded: WAL dropped unarchived past the spool's bound.",
            &|s| Some(s.gaps as f64),
        );
        gauge(
            "holdfast_postgres_window_seconds",
            "gauge",
            "Length of the recoverable window: from the oldest base backup to the newest archived WAL.",
            &|s| match (s.window_from, s.newest) {
                (Some(a), Some(b)) => Some((b - a).num_seconds().max(0) as f64),
                _ => None,
            },
        );
        out
    }

    /// Starts one uploader per database; they stop when `cancel` fires.
    pub fn spawn(
        &self,
        config: Arc<Config>,
        access: RepoAccess,
        notifier: Notifier,
        cancel: CancellationToken,
    ) -> JoinSet<()> {
        let mut tasks = JoinSet::new();
        for (spool, state) in &self.entries {
            let volume = lock(state).volume.clone();
            let Some(volume) = config.volume(&volume).cloned() else {
                continue;
            };
            let (spool, state, access, notifier, cancel) = (
                spool.clone(),
                state.clone(),
                access.clone(),
                notifier.clone(),
                cancel.clone(),
            );
            tasks
                .spawn(async move { upload(spool, volume, state, access, notifier, cancel).await });
        }
        tasks
    }
}

/// One database's uploader (see the module doc).
async fn upload(
    spool: Spool,
    volume: Volume,
    state: Arc<Mutex<PgState>>,
    access: RepoAccess,
    notifier: Notifier,
    cancel: CancellationToken,
) {
    let database = lock(&state).database.clone();
    let owner = PgOwner {
        volume: Some(volume.name.clone()),
        database: database.clone(),
        hostname: holdfast_repo::snapshot::hostname(),
    };
    let failed = |why: String| {
        let mut s = lock(&state);
        let since = s.error.as_ref().map_or_else(Utc::now, |(_, t)| *t);
        if s.error.is_none() {
            tracing::warn!("database {database}: WAL archiving: {why}");
        }
        s.error = Some((why, since));
    };
    let mut raised = false;
    let mut repo = None;
    let mut ticks = tokio::time::interval(POLL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut window_at: Option<std::time::Instant> = None;
    spool.remove_stale_temps(Duration::from_secs(3600));
    tracing::info!(
        "database {database}: archiving WAL from the spool {} (bound {} bytes)",
        spool.dir.display(),
        spool.max_bytes
    );
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = ticks.tick() => {}
        }
        lock(&state).spool_bytes = spool.bytes().unwrap_or(0);
        if repo.is_none() {
            match access.open().await {
                Ok(r) => repo = Some(r),
                Err(e) => {
                    failed(crate::error::chain(&e));
                    continue;
                }
            }
        }
        let Some(r) = repo.as_ref() else { continue };
        let error = match upload_pass(r, &spool, &owner, PARALLEL).await {
            Err(e) => Some(e.to_string()),
            Ok(report) => {
                let mut s = lock(&state);
                s.files += report.uploaded as u64;
                s.bytes += report.bytes;
                s.newest = s.newest.max(report.newest);
                if !report.gaps.is_empty() {
                    s.gaps += report.gaps.len() as u64;
                    s.base_wanted = true;
                    for g in &report.gaps {
                        tracing::warn!(
                            "database {database}: WAL segments {}..={} were dropped unarchived \
                             (spool full); the gap is recorded in the repository",
                            g.first,
                            g.last
                        );
                    }
                }
                report.error
            }
        };
        match error {
            Some(why) => failed(why),
            None => {
                if lock(&state).error.take().is_some() {
                    tracing::info!("database {database}: WAL archiving is current again");
                }
                if lock(&state).base_wanted {
                    let mut opts = VolumeBackupOptions::default();
                    opts.tags.push("pg-base-after-gap".into());
                    let based = match r.load_index().await {
                        Ok(mut indexed) => backup_volume(&mut indexed, &volume, &opts)
                            .await
                            .map_err(|e| e.to_string()),
                        Err(e) => Err(e.to_string()),
                    };
                    match based {
                        Ok(summary) => {
                            tracing::info!(
                                "database {database}: new base backup after the gap in snapshot {}",
                                summary.id.short()
                            );
                            lock(&state).base_wanted = false;
                            window_at = None;
                        }
                        Err(why) => failed(format!("the base backup after a gap: {why}")),
                    }
                }
                if window_at.is_none_or(|t| t.elapsed() > Duration::from_secs(60)) {
                    window_at = Some(std::time::Instant::now());
                    if let Ok(ls) = pg_lineages(r).await {
                        let from = ls
                            .iter()
                            .filter(|l| {
                                l.head.as_ref().is_some_and(|(_, h)| h.database == database)
                            })
                            .flat_map(|l| l.bases.iter().map(|(_, b, _)| b.time))
                            .min();
                        lock(&state).window_from = from;
                    }
                }
            }
        }
        let alert = lock(&state).alert(Utc::now());
        match alert {
            Some(message) if !raised => {
                raised = true;
                notifier.notify(Event::PitrAlert {
                    volume: volume.name.clone(),
                    database: database.clone(),
                    message,
                });
            }
            Some(_) => {}
            None => raised = false,
        }
    }
}
