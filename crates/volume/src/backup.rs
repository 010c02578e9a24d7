//! Backing up a configured volume with its databases: the orchestration between the
//! volume's config and the repository.
//!
//! Order: Redis servers are asked for a fresh RDB (`BGSAVE`); every SQLite database (the
//! configured ones, and those found by their header unless `sqlite_autodetect = false`)
//! is copied through SQLite's online backup API into a private staging directory and the
//! snapshot stores that copy at the database's path, without its `-wal`/`-shm`/`-journal`
//! files; every Postgres database is dumped with `pg_dump -Fc` straight into the snapshot
//! as `.holdfast-databases/<name>.pgdump`, beside `<name>.json` with the server and
//! pg_dump versions. Then one snapshot of the volume is written. The `[hooks]` around a
//! backup run are in [`with_hooks`].
//!
//! [`backup_all`] is the one place that backs up several volumes, each with its
//! databases, inside the hooks: `holdfast backup`, the scheduled backup and
//! `POST /api/v1/backups` all call it. Every volume is tried even when one fails; each
//! outcome is logged as one line (`backup ok volume=… snapshot=… files=… added=…
//! duration=…s` at INFO, `backup failed volume=… error=…` at ERROR) and recorded in the
//! volume's [`crate::freshness::BackupRecord`]. A caller that reports failures itself
//! (`holdfast backup` ends with the failure as its error line) sets
//! [`VolumeBackupOptions::quiet_failures`], so a failure is said once. Each volume passes
//! the guard first ([`crate::guard::enter`] with [`Door::Backup`]): an unmounted
//! `require_mount` volume or a missing path is not backed up (a
//! [`VolumeBackupError::Refused`] outcome, recorded like any failure), and an interrupted
//! swap is finished before the volume is read.

use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use holdfast_repo::{
    BackupOptions, BackupSummary, ExtraFile, ExtraSource, IndexedRepository, Overrides,
};

use crate::child_env::{self, ChildEnv, ChildKind};
use crate::config::{Config, Database, Volume};
use crate::databases::{DatabaseError, postgres, redis, sqlite};
use crate::freshness::BackupRecord;
use crate::guard::{self, Door};
use crate::hooks::{self, HookError};

/// What can stop a volume backup; each names the volume or database.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VolumeBackupError {
    /// A database could not be copied or dumped.
    #[error("volume {volume}: {source}")]
    Database {
        /// The volume.
        volume: String,
        /// The cause.
        source: DatabaseError,
    },
    /// The repository failed.
    #[error("volume {volume}: {source}")]
    Repo {
        /// The volume.
        volume: String,
        /// The cause.
        source: holdfast_repo::Error,
    },
    /// A `before_backup` hook failed, so nothing was backed up.
    #[error("before_backup hook: {0}")]
    BeforeHook(HookError),
    /// An `after_backup` hook failed (the backup itself is reported separately).
    #[error("after_backup hook: {0}")]
    AfterHook(HookError),
    /// The guard refused the volume ([`crate::guard`]): nothing of it was read.
    #[error("{0}")]
    Refused(guard::Refusal),
    /// Local I/O (the staging directory).
    #[error("volume {volume}: {path}: {source}")]
    Io {
        /// The volume.
        volume: String,
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// Options of one volume backup.
#[derive(Debug, Clone, Default)]
pub struct VolumeBackupOptions {
    /// Tags of the snapshot.
    pub tags: Vec<String>,
    /// Snapshot time (default: now).
    pub time: Option<chrono::DateTime<chrono::Utc>>,
    /// Excludes on top of the volume's own.
    pub excludes: Vec<String>,
    /// Progress counters.
    pub progress: Option<Arc<holdfast_repo::BackupProgress>>,
    /// Record failures on the volumes without logging them: the caller reports them
    /// itself (as `holdfast backup` does in its final error line). Scheduled and API
    /// backups leave this off, so each failure is logged once.
    pub quiet_failures: bool,
    /// Cancelling it (SIGINT, SIGTERM) stops the running volume's backup without
    /// committing and starts no further volume; the `after_backup` hooks still run.
    pub cancel: tokio_util::sync::CancellationToken,
}

/// The database files of a volume, relative to it: configured SQLite paths plus, unless
/// autodetection is off, every SQLite file found by its header.
pub fn sqlite_databases(volume: &Volume) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = volume
        .databases
        .iter()
        .filter_map(|d| match d {
            Database::Sqlite { path, .. } => Some(path.clone()),
            _ => None,
        })
        .collect();
    if volume.sqlite_autodetect {
        for p in crate::sqlite::find_databases(&volume.path, usize::MAX) {
            if let Ok(rel) = p.strip_prefix(&volume.path) {
                found.push(rel.to_path_buf());
            }
        }
    }
    let mut seen = HashSet::new();
    found.retain(|p| seen.insert(p.clone()));
    found
}

/// Backs up one volume (see the module doc for the order of work).
pub async fn backup_volume(
    repo: &mut IndexedRepository,
    volume: &Volume,
    opts: &VolumeBackupOptions,
) -> Result<BackupSummary, VolumeBackupError> {
    let name = volume.name.clone();
    let db_err = |source| VolumeBackupError::Database {
        volume: name.clone(),
        source,
    };
    for db in &volume.databases {
        if let Database::Redis { url: Some(url), .. } = db {
            let url = url.clone();
            blocking(move || redis::bgsave(&url))
                .await
                .map_err(db_err)?;
            tracing::debug!(
                "volume {name}: Redis {} saved a fresh RDB (BGSAVE)",
                db.name()
            );
        }
    }
    let staging = tempfile::Builder::new()
        .prefix("holdfast-staging-")
        .tempdir()
        .map_err(|e| VolumeBackupError::Io {
            volume: name.clone(),
            path: std::env::temp_dir(),
            source: e,
        })?;
    let mut overrides = Overrides::default();
    let mut bases: Vec<(String, holdfast_repo::wal::pg::PgSource, Arc<PgBaseSource>)> = Vec::new();
    for (i, rel) in sqlite_databases(volume).into_iter().enumerate() {
        let live = volume.resolve(&rel);
        if !live.exists() {
            tracing::warn!(
                "volume {name}: configured database {} does not exist: check its path in \
                 holdfast.toml; this snapshot holds no copy of it",
                rel.display()
            );
            continue;
        }
        let copy = staging.path().join(format!("{i}.db"));
        let (from, to) = (live.clone(), copy.clone());
        blocking(move || sqlite::online_copy(&from, &to))
            .await
            .map_err(db_err)?;
        for suffix in crate::sqlite::SIDECAR_SUFFIXES {
            let mut side = rel.clone().into_os_string();
            side.push(suffix);
            overrides.omit.insert(PathBuf::from(side));
        }
        tracing::debug!(
            "volume {name}: database {} copied consistently (SQLite online backup)",
            rel.display()
        );
        overrides.replace.insert(rel, copy);
    }
    for db in &volume.databases {
        if let Database::Postgres { url, .. } = db {
            let db_name = db.name();
            let (n, u) = (db_name.clone(), url.clone());
            let info = blocking(move || postgres::versions(&n, &u))
                .await
                .map_err(db_err)?;
            let json = serde_json::to_vec_pretty(&info).unwrap_or_default();
            overrides.extra.push(ExtraFile {
                name: format!("{db_name}.json"),
                source: Arc::new(BytesSource(json)),
            });
            if db.pg_archive() {
                let (n, u) = (db_name.clone(), url.clone());
                let cluster = blocking(move || postgres::base::cluster(&n, &u))
                    .await
                    .map_err(db_err)?;
                let source = Arc::new(PgBaseSource {
                    name: db_name.clone(),
                    url: url.clone(),
                    running: Mutex::new(None),
                    end: Mutex::new(None),
                });
                overrides.extra.push(ExtraFile {
                    name: postgres::base::base_file_name(&db_name),
                    source: source.clone(),
                });
                bases.push((db_name.clone(), cluster, source));
                tracing::debug!(
                    "volume {name}: database {db_name}: base backup (pg_basebackup, streamed \
                     into the snapshot)"
                );
                continue;
            }
            tracing::debug!(
                "volume {name}: database {db_name} copied consistently (pg_dump -Fc, \
                 streamed into the snapshot)"
            );
            overrides.extra.push(ExtraFile {
                name: format!("{db_name}.pgdump"),
                source: Arc::new(PgDumpSource {
                    name: db_name,
                    url: url.clone(),
                    dump: Mutex::new(None),
                }),
            });
        }
    }
    let mut excludes: Vec<String> = crate::layout::OWN.iter().map(|s| s.to_string()).collect();
    excludes.extend(volume.exclude.iter().cloned());
    excludes.extend(opts.excludes.iter().cloned());
    let backup_opts = BackupOptions {
        volume: Some(name.clone()),
        tags: opts.tags.clone(),
        time: opts.time,
        excludes,
        progress: opts.progress.clone(),
        overrides,
        shrink_alert: volume.shrink_alert_percent(),
        cancel: opts.cancel.clone(),
        ..BackupOptions::new(&volume.path)
    };
    let result = holdfast_repo::backup(repo, &backup_opts).await;
    drop(staging);
    let summary = result.map_err(|source| VolumeBackupError::Repo {
        volume: name.clone(),
        source,
    })?;
    for (db_name, cluster, source) in bases {
        let end = source.end.lock().ok().and_then(|mut e| e.take());
        let Some(end) = end else { continue };
        let owner = holdfast_repo::wal::pg::PgOwner {
            volume: Some(name.clone()),
            database: db_name.clone(),
            hostname: holdfast_repo::snapshot::hostname(),
        };
        postgres::base::write_mark(repo, &cluster, &end, summary.id, &owner)
            .await
            .map_err(|source| VolumeBackupError::Repo {
                volume: name.clone(),
                source,
            })?;
        tracing::info!(
            "volume {name}: database {db_name}: base backup in snapshot {} (WAL from {:X}/{:X})",
            summary.id.short(),
            end.start_lsn >> 32,
            end.start_lsn & 0xffff_ffff
        );
    }
    Ok(summary)
}

/// Runs `before_backup` hooks, then `work`, then `after_backup` hooks — the latter even
/// when `work` failed. A failing `before_backup` hook aborts before `work`.
pub async fn with_hooks<T, F, Fut>(config: &Config, work: F) -> Result<T, VolumeBackupError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, VolumeBackupError>>,
{
    let timeout = config
        .hooks
        .timeout
        .map_or(hooks::DEFAULT_TIMEOUT, |t| t.get());
    let env = ChildEnv::new(ChildKind::Hook, &child_env::config_secrets(config));
    let before = config.hooks.before_backup.clone();
    let before_env = env.clone();
    blocking(move || hooks::run_all(&before, timeout, &before_env))
        .await
        .map_err(VolumeBackupError::BeforeHook)?;
    let result = work().await;
    let after = config.hooks.after_backup.clone();
    let after_result = blocking(move || hooks::run_all(&after, timeout, &env)).await;
    match (result, after_result) {
        (Ok(v), Ok(_)) => Ok(v),
        (Ok(_), Err(e)) => Err(VolumeBackupError::AfterHook(e)),
        (Err(e), Ok(_)) => Err(e),
        (Err(e), Err(after)) => {
            tracing::error!("after_backup hook: {after}");
            Err(e)
        }
    }
}

/// One volume's outcome in [`backup_all`].
#[derive(Debug)]
pub struct VolumeOutcome {
    /// The volume.
    pub volume: String,
    /// Its snapshot, or why there is none.
    pub result: Result<BackupSummary, VolumeBackupError>,
}

/// What [`backup_all`] reports to its caller as it goes.
#[derive(Debug)]
pub enum BackupStep<'a> {
    /// The backup of this volume starts.
    Started(&'a Volume),
    /// The backup of this volume ended.
    Finished(&'a Volume, &'a Result<BackupSummary, VolumeBackupError>),
}

/// Backs up `volumes` one after the other, each with its databases, inside the
/// `[hooks]` of `config`; see the module doc. `observe` hears each start and end (for
/// progress bars, metrics and notifications). A failing `before_backup` hook fails every
/// volume; a failing `after_backup` hook fails the whole run after the snapshots were
/// made. Otherwise the outcome of each volume is in the returned list.
pub async fn backup_all(
    repo: &mut IndexedRepository,
    config: &Config,
    volumes: &[&Volume],
    opts: &VolumeBackupOptions,
    observe: &mut (dyn FnMut(BackupStep<'_>) + Send),
) -> Result<Vec<VolumeOutcome>, VolumeBackupError> {
    let result = with_hooks(config, || async {
        let mut out = Vec::new();
        for volume in volumes {
            if opts.cancel.is_cancelled() {
                break;
            }
            observe(BackupStep::Started(volume));
            let probed = (*volume).clone();
            let result = match blocking(move || guarded(&probed)).await {
                Ok(()) => backup_volume(repo, volume, opts).await,
                Err(refused) => Err(VolumeBackupError::Refused(refused)),
            };
            match &result {
                Err(e) => failed(volume, &e.to_string(), opts),
                Ok(_) => record_outcome(volume, &result),
            }
            observe(BackupStep::Finished(volume, &result));
            out.push(VolumeOutcome {
                volume: volume.name.clone(),
                result,
            });
        }
        Ok(out)
    })
    .await;
    if let Err(VolumeBackupError::BeforeHook(e)) = &result {
        let message = format!("before_backup hook: {e}");
        for volume in volumes {
            failed(volume, &message, opts);
        }
    }
    result
}

/// The guard of a backup ([`Door::Backup`]): an interrupted swap is finished first and
/// said at WARN, and so are the problems a backup passes (read-only, full).
fn guarded(volume: &Volume) -> Result<(), guard::Refusal> {
    let admitted = guard::enter(volume, Door::Backup)?;
    for line in admitted.recovered {
        tracing::warn!("{line} (before the backup)");
    }
    for line in admitted.warnings {
        tracing::warn!("{line}; backing it up anyway");
    }
    Ok(())
}

/// Logs one volume's outcome as one line and records it in the volume's
/// [`BackupRecord`].
pub fn record_outcome(volume: &Volume, result: &Result<BackupSummary, VolumeBackupError>) {
    match result {
        Ok(s) => {
            tracing::info!(
                "backup ok volume={} snapshot={} files={} size={} added={} duration={:.1}s{}",
                volume.name,
                s.id.short(),
                s.snapshot.files,
                s.snapshot.size,
                s.snapshot.added,
                s.duration.as_secs_f64(),
                if s.snapshot.incomplete {
                    " incomplete=true"
                } else {
                    ""
                }
            );
            if let Some(shrunk) = &s.snapshot.shrunk {
                tracing::warn!(
                    "backup shrunk volume={} snapshot={} {}",
                    volume.name,
                    s.id.short(),
                    crate::freshness::one_line(&shrunk.to_string())
                );
            }
            let mut record = BackupRecord::load(&volume.path);
            let why = s.snapshot.shrunk.as_ref().map(|f| {
                format!(
                    "snapshot {} holds {f}; check the volume is mounted, or accept the \
                     deletion with `holdfast tag {} --remove shrunk`",
                    s.id.short(),
                    s.id.short()
                )
            });
            record.succeeded_shrunk(chrono::Utc::now(), why.as_deref());
            save_record(volume, &record);
        }
        Err(e) => record_failure(volume, &e.to_string()),
    }
}

/// Logs a failed backup of `volume` and records it (the repository could not be opened,
/// a hook failed, the backup itself failed).
pub fn record_failure(volume: &Volume, error: &str) {
    tracing::error!(
        "backup failed volume={} error={}",
        volume.name,
        crate::freshness::one_line(error)
    );
    save_failure(volume, error);
}

/// Records a failure of `volume`, logged unless the caller reports it itself
/// ([`VolumeBackupOptions::quiet_failures`]).
fn failed(volume: &Volume, error: &str, opts: &VolumeBackupOptions) {
    if opts.quiet_failures {
        save_failure(volume, error);
    } else {
        record_failure(volume, error);
    }
}

/// Records a failed backup of `volume` without logging it, for a caller that reports the
/// failure itself.
pub fn save_failure(volume: &Volume, error: &str) {
    let mut record = BackupRecord::load(&volume.path);
    record.failed(chrono::Utc::now(), error);
    save_record(volume, &record);
}

fn save_record(volume: &Volume, record: &BackupRecord) {
    if let Err(e) = record.save(&volume.path) {
        tracing::warn!(
            "volume {}: cannot record the backup outcome in {}: {e}",
            volume.name,
            crate::layout::BACKUP_RECORD
        );
    }
}

async fn blocking<T: Send + 'static, E: Send + 'static>(
    f: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, E> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(join) => std::panic::resume_unwind(join.into_panic()),
    }
}

#[derive(Debug)]
struct BytesSource(Vec<u8>);

impl ExtraSource for BytesSource {
    fn open(&self) -> std::io::Result<Box<dyn Read + Send>> {
        Ok(Box::new(std::io::Cursor::new(self.0.clone())))
    }

    fn finish(&self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `pg_dump` as a stream: started on open, its exit status checked on finish.
#[derive(Debug)]
struct PgDumpSource {
    name: String,
    url: String,
    dump: Mutex<Option<postgres::Dump>>,
}

impl ExtraSource for PgDumpSource {
    fn open(&self) -> std::io::Result<Box<dyn Read + Send>> {
        let mut dump =
            postgres::start_dump(&self.name, &self.url).map_err(std::io::Error::other)?;
        let out = dump
            .take_stdout()
            .ok_or_else(|| std::io::Error::other("pg_dump has no stdout"))?;
        *self
            .dump
            .lock()
            .map_err(|_| std::io::Error::other("pg_dump state poisoned"))? = Some(dump);
        Ok(Box::new(out))
    }

    fn finish(&self) -> std::io::Result<()> {
        let dump = self
            .dump
            .lock()
            .map_err(|_| std::io::Error::other("pg_dump state poisoned"))?
            .take();
        match dump {
            Some(d) => d.finish().map_err(std::io::Error::other),
            None => Err(std::io::Error::other("pg_dump was never started")),
        }
    }
}

/// `pg_basebackup` as a stream: started on open; on finish its start and stop points
/// are kept for the base mark written after the snapshot commits.
#[derive(Debug)]
struct PgBaseSource {
    name: String,
    url: String,
    running: Mutex<Option<postgres::base::BaseBackup>>,
    end: Mutex<Option<postgres::base::BaseEnd>>,
}

impl ExtraSource for PgBaseSource {
    fn open(&self) -> std::io::Result<Box<dyn Read + Send>> {
        let mut b = postgres::base::start(&self.name, &self.url).map_err(std::io::Error::other)?;
        let out = b
            .take_stdout()
            .ok_or_else(|| std::io::Error::other("pg_basebackup has no stdout"))?;
        *self
            .running
            .lock()
            .map_err(|_| std::io::Error::other("pg_basebackup state poisoned"))? = Some(b);
        Ok(Box::new(out))
    }

    fn finish(&self) -> std::io::Result<()> {
        let b = self
            .running
            .lock()
            .map_err(|_| std::io::Error::other("pg_basebackup state poisoned"))?
            .take()
            .ok_or_else(|| std::io::Error::other("pg_basebackup was never started"))?;
        let end = b.finish().map_err(std::io::Error::other)?;
        *self
            .end
            .lock()
            .map_err(|_| std::io::Error::other("pg_basebackup state poisoned"))? = Some(end);
        Ok(())
    }
}

/// Where a volume's database lives in its snapshot: SQLite files at their own path,
/// Postgres dumps under `.holdfast-databases/`.
pub fn snapshot_path(db: &Database) -> PathBuf {
    match db {
        Database::Sqlite { path, .. } => path.clone(),
        Database::Postgres { archive: true, .. } => {
            Path::new(holdfast_repo::DATABASES_DIR).join(postgres::base::base_file_name(&db.name()))
        }
        Database::Postgres { .. } => {
            Path::new(holdfast_repo::DATABASES_DIR).join(format!("{}.pgdump", db.name()))
        }
        Database::Redis { path, .. } => path.clone().unwrap_or_else(|| PathBuf::from("dump.rdb")),
    }
}
