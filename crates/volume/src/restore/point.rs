//! `holdfast restore latest:VOLUME --database NAME --time T`: a replicated SQLite
//! database back as of a point in time, from its WAL segments
//! ([`crate::databases::sqlite::restore_to_time`]: the newest lineage that reaches the
//! point, a contiguous chain refused when it has a hole, `integrity_check` before it is
//! used).
//!
//! Into the live volume, through the journaled swap like a snapshot's copy
//! ([`super::database`]): the database is replayed into the stage, then the live file
//! moves aside together with its `-wal`, `-shm` and `-journal`, and the replayed file
//! moves in; the follower of `run`/`serve` sees a replaced file and starts a new
//! lineage from it (no writes after the restore are lost to an old chain). Or under a
//! directory (`--target DIR`): at its path in the volume, `DIR/db/app.db`.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use holdfast_repo::Repository;
use holdfast_repo::text::count;
use holdfast_repo::wal::{Plan, Target};

use super::database::DatabaseRestoreError;
use crate::config::{Config, Database, Volume};
use crate::databases::sqlite::{self, PointRestore};
use crate::swap::{Selection, Swap, SwapOptions};

/// Where a point-in-time restore writes.
#[derive(Debug, Clone)]
pub enum PointDest {
    /// The live volume, through a swap with these options.
    Live(SwapOptions),
    /// Under this directory, at the database's path in the volume.
    Dir(PathBuf),
}

/// What [`restore_point`] did.
#[derive(Debug, Clone)]
pub struct PointRestored {
    /// The database's name.
    pub name: String,
    /// The replay: the file, the point reached, segments and base parts read.
    pub point: PointRestore,
    /// Where the replaced file is kept, when asked.
    pub kept: Option<PathBuf>,
}

/// The configured database that answers to `name`, and its volume.
pub fn configured<'c>(config: &'c Config, name: &str) -> Option<(&'c Volume, &'c Database)> {
    config.volumes.iter().find_map(|v| {
        v.databases
            .iter()
            .find(|d| d.answers_to(name))
            .map(|d| (v, d))
    })
}

/// Whether `restore SNAPSHOT --database NAME` restores a point in time, and which: the
/// `time` asked for; else, restored from `latest…`, the newest point of a database that
/// is replicated (SQLite) or archived (Postgres). Without a config (`None`, an empty
/// machine) any database restored from `latest…` is looked for in the repository alone.
pub fn wanted(
    config: Option<&Config>,
    name: &str,
    snapshot: &str,
    time: Option<DateTime<Utc>>,
) -> Option<Target> {
    if let Some(t) = time {
        return Some(Target::Time(t));
    }
    let latest = snapshot.starts_with("latest");
    let replicated = config.is_none_or(|c| {
        configured(c, name).is_some_and(|(_, db)| db.replicate().is_some() || db.pg_archive())
    });
    (replicated && latest).then_some(Target::Newest)
}

/// The key of a replicated database in the repository: its path in the volume.
pub fn database_key(db: &Database) -> Option<String> {
    db.sqlite_path().map(|p| p.to_string_lossy().into_owned())
}

/// The plan of a point-in-time restore, for `--dry-run`.
pub async fn plan_point(
    repo: &Repository,
    db: &Database,
    target: Target,
) -> Result<Plan, DatabaseRestoreError> {
    let name = db.name();
    let key = database_key(db)
        .ok_or_else(|| DatabaseRestoreError::NotReplicated { name: name.clone() })?;
    sqlite::plan_restore(repo, &key, target)
        .await
        .map_err(|source| DatabaseRestoreError::Fetch { name, source })
}

/// Restores database `db` of `volume` as of `target` into `dest` (see the module doc).
/// The caller has passed the guard of the volume for [`PointDest::Live`].
pub async fn restore_point(
    repo: &Repository,
    volume: &Volume,
    db: &Database,
    target: Target,
    dest: PointDest,
) -> Result<PointRestored, DatabaseRestoreError> {
    let name = db.name();
    let (Some(key), Some(rel)) = (database_key(db), db.sqlite_path().map(Path::to_path_buf)) else {
        return Err(DatabaseRestoreError::NotReplicated { name });
    };
    let replay = |file: PathBuf| {
        let (name, key) = (name.clone(), key.clone());
        async move {
            if let Some(dir) = file.parent() {
                std::fs::create_dir_all(dir).map_err(|source| DatabaseRestoreError::Open {
                    name: name.clone(),
                    path: dir.to_path_buf(),
                    source,
                })?;
            }
            sqlite::restore_to_time(repo, &key, target, &file)
                .await
                .map_err(|source| DatabaseRestoreError::Database { name, source })
        }
    };
    let swap_opts = match dest {
        PointDest::Dir(dir) => {
            let point = replay(dir.join(&rel)).await?;
            return Ok(PointRestored {
                name,
                point,
                kept: None,
            });
        }
        PointDest::Live(opts) => opts,
    };
    let what = format!("point-in-time restore of database {name}");
    let swap = Swap::begin(&volume.path, &what, swap_opts).map_err(|source| {
        DatabaseRestoreError::Begin {
            volume: volume.name.clone(),
            source,
        }
    })?;
    let point = match replay(swap.stage().join(&rel)).await {
        Ok(p) => p,
        Err(e) => {
            return Err(match swap.abort() {
                Ok(()) => e,
                Err(source) => DatabaseRestoreError::Abort { name, source },
            });
        }
    };
    let selection = Selection::Paths {
        new: vec![rel.clone()],
        old: crate::sqlite::sidecars(&rel),
    };
    let done = tokio::task::spawn_blocking(move || swap.commit(selection))
        .await
        .map_err(|e| DatabaseRestoreError::Task {
            name: name.clone(),
            what: "swap",
            reason: e.to_string(),
        })?
        .map_err(|source| DatabaseRestoreError::Commit {
            name: name.clone(),
            volume: volume.name.clone(),
            source,
        })?;
    Ok(PointRestored {
        name,
        point,
        kept: done.kept,
    })
}

/// The `restore_if_missing` SQLite databases of `volume` that are replicated and gone,
/// back at their newest point (before the app starts, so it loses at most the last
/// interval of its writes instead of everything since the last snapshot). A database
/// whose replication holds nothing yet is left to the snapshot restore
/// ([`super::missing`]).
pub async fn restore_missing_points(
    repo: &Repository,
    volume: &Volume,
    swap: &SwapOptions,
) -> Result<Vec<PointRestored>, DatabaseRestoreError> {
    let missing = crate::guard::missing_files(volume);
    restore_newest_points(repo, volume, swap, |rel, _| {
        missing.iter().any(|m| m == rel)
    })
    .await
}

/// After a whole snapshot of `volume` taken at `snapshot_time` was restored
/// (`restore_if_empty`), each replicated SQLite database whose newest point is later than
/// the snapshot's copy goes on to that point, so the refilled volume loses at most the
/// last interval of its writes, not everything since the snapshot. A database whose
/// replication stopped before the snapshot keeps the snapshot's copy (never an older
/// database).
pub async fn restore_points_after(
    repo: &Repository,
    volume: &Volume,
    swap: &SwapOptions,
    snapshot_time: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<PointRestored>, DatabaseRestoreError> {
    restore_newest_points(repo, volume, swap, |_, plan| plan.reaches() > snapshot_time).await
}

/// Each replicated SQLite database of `volume` that `wanted` (its path, its newest plan)
/// picks, restored to its newest point into the live volume; one without a lineage is
/// skipped.
async fn restore_newest_points(
    repo: &Repository,
    volume: &Volume,
    swap: &SwapOptions,
    wanted: impl Fn(&Path, &Plan) -> bool,
) -> Result<Vec<PointRestored>, DatabaseRestoreError> {
    let mut done = Vec::new();
    for db in &volume.databases {
        let (Some(rel), Some(_)) = (db.sqlite_path(), db.replicate()) else {
            continue;
        };
        let plan = match plan_point(repo, db, Target::Newest).await {
            Ok(plan) => plan,
            Err(DatabaseRestoreError::Fetch {
                source: holdfast_repo::Error::NotFound { .. },
                ..
            }) => continue,
            Err(e) => return Err(e),
        };
        if !wanted(rel, &plan) {
            continue;
        }
        let dest = PointDest::Live(swap.clone());
        done.push(restore_point(repo, volume, db, Target::Newest, dest).await?);
    }
    Ok(done)
}

/// The plan of a `--dry-run` in one line: the lineage and its base, the whole segments
/// and the transaction reached.
pub fn describe_plan(plan: &Plan, name: &str) -> String {
    format!(
        "would restore database {name} from lineage {} (base of {}): {} whole, up to \
         transaction {}{}",
        plan.head.lineage.short(),
        plan.head.time.format("%Y-%m-%d %H:%M:%S UTC"),
        count(plan.segments.len(), "segment"),
        plan.txid,
        plan.until
            .map(|t| format!(", then the transactions read by {}", t.to_rfc3339()))
            .unwrap_or_default()
    )
}

impl PointRestored {
    /// What was restored, in one line: the point and transaction reached, what was
    /// read, and where the file is; `name` as the user asked for the database.
    pub fn describe(&self, name: &str) -> String {
        format!(
            "restored database {name} to {} (transaction {}; {} and {} read) at {}",
            self.point
                .reached
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            self.point.txid,
            count(self.point.segments, "segment"),
            count(self.point.parts, "base part"),
            self.point.path.display()
        )
    }
}
