//! SQLite point-in-time replication under `run` and `serve` (and, through
//! [`crate::pg_archive`], the archiving of Postgres WAL): every database with
//! `replicate = "1s"` is followed by its own task, which ships the newly committed
//! transactions of its WAL at that interval to the repository and to each `[[replicas]]`
//! ([`holdfast_volume::databases::sqlite::Follower`]; the format and its guarantees in
//! docs/FORMAT.md, "SQLite WAL segments", and in the follower's module doc).
//!
//! - The app never waits on this: the follower reads the WAL beside the app, holds no
//!   write lock while it encodes or uploads, and stages at most `local_bound` bytes in
//!   memory; a destination that is away costs only itself.
//! - A destination that cannot be opened (repository not initialised, wrong password,
//!   store away) is tried again at the next interval; the state says why meanwhile.
//! - The lag of a database ([`DatabaseState::lag_seconds`]) is the age of the newest
//!   transaction every destination holds — how much of the app's writes a restore would
//!   miss now. A replication failing for longer than three intervals (at least 30 s), or
//!   one that had to skip writes (a gap: the store was away past the local bound), is an
//!   alert in `/api/v1/status`, on the status page and in `holdfast status`'s API
//!   counterpart, and the `holdfast_sqlite_*` metrics say the same.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use holdfast_volume::config::Config;
use holdfast_volume::databases::sqlite::{Destination, FollowOptions, Follower};
use holdfast_volume::status::{ReplicatedDatabase, VolumeStatus};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::access::RepoAccess;
use crate::notify::{Event, Notifier};

/// What is known of one replicated database.
#[derive(Debug, Clone, Default)]
pub struct DatabaseState {
    /// Its volume.
    pub volume: String,
    /// Its path in the volume (its name in `restore --database … --time`).
    pub database: String,
    /// The replication interval.
    pub every: Duration,
    /// The newest transaction time every destination holds.
    pub shipped: Option<DateTime<Utc>>,
    /// Bytes shipped, all destinations together.
    pub bytes: u64,
    /// Bytes staged in memory now.
    pub staged: u64,
    /// Gaps recorded (writes that could not be staged while a store was away).
    pub gaps: u64,
    /// The last error, and since when replication has been failing.
    pub error: Option<(String, DateTime<Utc>)>,
}

impl DatabaseState {
    /// Seconds since the newest transaction every destination holds (`None` before the
    /// first one).
    pub fn lag_seconds(&self, now: DateTime<Utc>) -> Option<i64> {
        self.shipped.map(|t| (now - t).num_seconds().max(0))
    }

    /// The alert, when there is one (see the module doc).
    pub fn alert(&self, now: DateTime<Utc>) -> Option<String> {
        let allowance = (self.every * 3).max(Duration::from_secs(30));
        if let Some((why, since)) = &self.error
            && (now - *since).to_std().unwrap_or_default() > allowance
        {
            return Some(format!(
                "database {}: point-in-time replication failing since {}: {why}",
                self.database,
                since.format("%Y-%m-%d %H:%M:%S UTC")
            ));
        }
        (self.gaps > 0).then(|| {
            format!(
                "database {}: point-in-time replication skipped writes {} (a store was away \
                 past the local bound); a new base was started, so points before the gap come \
                 from the older chain",
                self.database,
                crate::text::count(self.gaps, "time")
            )
        })
    }
}

/// Every replicated database of a configuration and its state.
#[derive(Debug, Default)]
pub struct Pitr {
    entries: Vec<(PathBuf, Arc<Mutex<DatabaseState>>)>,
    /// The Postgres databases archived beside them ([`crate::pg_archive`]).
    pg: crate::pg_archive::PgArchivers,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Pitr {
    /// The databases of `config` with `replicate` set.
    pub fn new(config: &Config) -> Pitr {
        let mut entries = Vec::new();
        for v in &config.volumes {
            for db in &v.databases {
                let (Some(every), Some(rel)) = (db.replicate(), db.sqlite_path()) else {
                    continue;
                };
                let state = DatabaseState {
                    volume: v.name.clone(),
                    database: rel.to_string_lossy().into_owned(),
                    every,
                    ..DatabaseState::default()
                };
                entries.push((v.resolve(rel), Arc::new(Mutex::new(state))));
            }
        }
        Pitr {
            entries,
            pg: crate::pg_archive::PgArchivers::new(config),
        }
    }

    /// Whether any database is replicated or archived.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.pg.is_empty()
    }

    /// The archived Postgres databases.
    pub fn postgres(&self) -> &crate::pg_archive::PgArchivers {
        &self.pg
    }

    /// Every database's state.
    pub fn states(&self) -> Vec<DatabaseState> {
        self.entries.iter().map(|(_, s)| lock(s).clone()).collect()
    }

    /// Adds each replicated database, its newest point, lag and alert to its volume.
    pub fn apply(&self, statuses: &mut [VolumeStatus]) {
        let now = Utc::now();
        for state in self.states() {
            let Some(s) = statuses.iter_mut().find(|s| s.name == state.volume) else {
                continue;
            };
            s.databases.push(ReplicatedDatabase {
                database: state.database.clone(),
                newest_point: state.shipped.map(holdfast_volume::freshness::rfc3339),
                lag_seconds: state.lag_seconds(now),
                ..ReplicatedDatabase::default()
            });
            if let Some(alert) = state.alert(now) {
                s.alerts.push(alert);
            }
        }
        for state in self.pg.states() {
            let Some(s) = statuses.iter_mut().find(|s| s.name == state.volume) else {
                continue;
            };
            s.databases.push(ReplicatedDatabase {
                database: state.database.clone(),
                newest_point: state.newest.map(holdfast_volume::freshness::rfc3339),
                lag_seconds: state.lag_seconds(now),
                kind: Some("postgres".into()),
                spool_bytes: Some(state.spool_bytes),
                window_from: state.window_from.map(holdfast_volume::freshness::rfc3339),
                gaps: Some(state.gaps),
            });
            if let Some(alert) = state.alert(now) {
                s.alerts.push(alert);
            }
        }
    }

    /// The `holdfast_sqlite_*` metrics, in the Prometheus text format.
    pub fn render_metrics(&self) -> String {
        let pg = self.pg.render_metrics();
        if self.entries.is_empty() {
            return pg;
        }
        let now = Utc::now();
        let states = self.states();
        let mut out = String::new();
        let mut gauge =
            |name: &str, kind: &str, help: &str, value: &dyn Fn(&DatabaseState) -> Option<f64>| {
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
            "holdfast_sqlite_replication_lag_seconds",
            "gauge",
            "Seconds since the newest transaction every destination holds.",
            &|s| s.lag_seconds(now).map(|l| l as f64),
        );
        gauge(
            "holdfast_sqlite_replication_bytes_total",
            "counter",
            "Bytes of WAL segments and bases shipped, all destinations together.",
            &|s| Some(s.bytes as f64),
        );
        gauge(
            "holdfast_sqlite_local_state_bytes",
            "gauge",
            "Bytes of transactions staged in memory, waiting for a destination.",
            &|s| Some(s.staged as f64),
        );
        out.push_str(&pg);
        out
    }

    /// Starts one task per database; they stop when `cancel` fires. An alert goes to
    /// `notifier` once, when it is raised (`pitr_alert`).
    pub fn spawn(
        &self,
        config: Arc<Config>,
        access: RepoAccess,
        notifier: Notifier,
        cancel: CancellationToken,
    ) -> JoinSet<()> {
        let mut tasks = JoinSet::new();
        for (path, state) in &self.entries {
            let (path, state, config, access, notifier, cancel) = (
                path.clone(),
                state.clone(),
                config.clone(),
                access.clone(),
                notifier.clone(),
                cancel.clone(),
            );
            tasks.spawn(async move { follow(path, state, config, access, notifier, cancel).await });
        }
        let mut pg = self.pg.spawn(config, access, notifier, cancel);
        tasks.spawn(async move { while pg.join_next().await.is_some() {} });
        tasks
    }
}

/// Opens the destinations: the repository, then each replica that opens.
async fn destinations(config: &Config, access: &RepoAccess) -> Result<Vec<Destination>, String> {
    let repo = access.open().await.map_err(|e| crate::error::chain(&e))?;
    let mut dests = vec![Destination {
        name: "repository".to_owned(),
        repo,
    }];
    for r in &config.replicas {
        match crate::replication::replicas::open_replica(r).await {
            Ok(repo) => dests.push(Destination {
                name: r.display_name(),
                repo,
            }),
            Err(e) => tracing::warn!(
                "point-in-time replication: replica {} left out until the next start: {}",
                r.display_name(),
                crate::error::chain(&e)
            ),
        }
    }
    Ok(dests)
}

/// One database's task: open the destinations (again at every interval until they
/// open), then poll the follower at every interval.
async fn follow(
    path: PathBuf,
    state: Arc<Mutex<DatabaseState>>,
    config: Arc<Config>,
    access: RepoAccess,
    notifier: Notifier,
    cancel: CancellationToken,
) {
    let mut raised = false;
    let (every, database, volume) = {
        let s = lock(&state);
        (s.every, s.database.clone(), s.volume.clone())
    };
    let failed = |why: String| {
        let mut s = lock(&state);
        let since = s.error.as_ref().map_or_else(Utc::now, |(_, t)| *t);
        if s.error.is_none() {
            tracing::warn!("database {database}: point-in-time replication: {why}");
        }
        s.error = Some((why, since));
    };
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut follower = loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = ticks.tick() => {}
        }
        match destinations(&config, &access).await {
            Ok(dests) => {
                let mut opts = FollowOptions::new(&database);
                opts.volume = Some(volume.clone());
                tracing::info!(
                    "database {database}: point-in-time replication every {} ms to {}",
                    every.as_millis(),
                    crate::text::count(dests.len(), "destination")
                );
                break Follower::new(&path, opts, dests);
            }
            Err(why) => failed(why),
        }
    };
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let polled = follower.poll().await;
        let dests = follower.status();
        let mut s = lock(&state);
        s.staged = follower.staged_bytes();
        s.bytes = dests.iter().map(|d| d.bytes).sum();
        s.gaps = dests.iter().map(|d| d.gaps).max().unwrap_or(0);
        s.shipped = dests.iter().map(|d| d.shipped).min().flatten();
        let error = match polled {
            Err(e) => Some(e.to_string()),
            Ok(report) => {
                for (dest, reason) in &report.breaks {
                    tracing::warn!(
                        "database {database}: a new chain starts at {dest} ({reason:?})"
                    );
                }
                dests
                    .iter()
                    .find_map(|d| d.error.as_ref().map(|e| format!("{}: {e}", d.name)))
            }
        };
        match error {
            Some(why) => {
                drop(s);
                failed(why);
            }
            None => {
                if s.error.take().is_some() {
                    tracing::info!(
                        "database {database}: point-in-time replication is current again"
                    );
                }
                drop(s);
            }
        }
        let alert = lock(&state).alert(Utc::now());
        match alert {
            Some(message) if !raised => {
                raised = true;
                notifier.notify(Event::PitrAlert {
                    volume: volume.clone(),
                    database: database.clone(),
                    message,
                });
            }
            Some(_) => {}
            None => raised = false,
        }
    }
}
