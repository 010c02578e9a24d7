//! `holdfast restore ID --database NAME --yes`: one configured database back from a
//! snapshot of the volume holding it ([`locate`] finds both and refuses a snapshot of
//! another volume).
//!
//! - **SQLite**, through the volume's journaled swap: the snapshot's copy is staged
//!   inside the volume, checked with `integrity_check` (a failure stops it there, the
//!   live file untouched), and made durable; then the live file moves aside together
//!   with its `-wal`, `-shm` and `-journal` (so the live WAL is never deleted before the
//!   new copy is in, and a crash leaves the old set or the new one), and the copy moves
//!   in. The caller has passed the guard of the volume first.
//! - **Postgres**: the snapshot's `.holdfast-databases/NAME.pgdump` is staged in a
//!   temporary directory and loaded with `pg_restore --clean --if-exists`.
//! - **Redis** is restored with its volume ([`super::in_place`]), never alone.

use std::path::{Path, PathBuf};

use holdfast_repo::restore::Damaged;
use holdfast_repo::{IndexedRepository, OnIndex, RestoreOptions, Snapshot};

use crate::backup::snapshot_path;
use crate::config::{Config, Database, Volume};
use crate::databases::{DatabaseError, postgres, sqlite};
use crate::layout::RESTORE_PREFIX;
use crate::swap::{Selection, Swap, SwapError, SwapOptions};

/// How [`restore_database`] runs.
#[derive(Clone, Default)]
pub struct DatabaseOptions {
    /// The swap's options for SQLite ([`SwapOptions::standard`] in a real run;
    /// `keep_old` keeps the replaced file and its side files in `.holdfast/kept/`).
    pub swap: SwapOptions,
    /// Told what loading the index found ([`RestoreOptions::on_index`]).
    pub on_index: Option<OnIndex>,
}

/// What [`restore_database`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct DatabaseRestored {
    /// The database's name.
    pub name: String,
    /// Its kind (`sqlite`, `postgres`).
    pub kind: &'static str,
    /// Where the replaced SQLite file (with its `-wal`/`-shm`) is kept, when
    /// [`SwapOptions::keep_old`] asked.
    pub kept: Option<PathBuf>,
}

/// What can stop a database restore; each names the database.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DatabaseRestoreError {
    /// No configured database has this name.
    #[error("no database {name} in {} (databases: {})", config.display(), known.join(", "))]
    Unknown {
        /// The name asked for.
        name: String,
        /// The configuration file looked in.
        config: PathBuf,
        /// The configured databases.
        known: Vec<String>,
    },
    /// The snapshot is of another volume than the one holding the database.
    #[error(
        "the snapshot is of {of}, not of volume {volume} that holds database {name} \
         (try latest:{volume})"
    )]
    OtherVolume {
        /// The database.
        name: String,
        /// The volume holding it.
        volume: String,
        /// What the snapshot is of (its volume, or its root).
        of: String,
    },
    /// A Redis database is restored with its volume.
    #[error(
        "redis data is restored with its volume: holdfast restore SNAPSHOT --in-place --yes \
         (stop redis first)"
    )]
    Redis {
        /// The database.
        name: String,
    },
    /// `--time` for a database that is not a SQLite file.
    #[error(
        "database {name}: --time needs a SQLite database with `replicate` set (point-in-time \
         replication); restore a snapshot without --time"
    )]
    NotReplicated {
        /// The database.
        name: String,
    },
    /// The temporary directory for a Postgres dump cannot be made.
    #[error("database {name}: creating a staging directory: {source}")]
    TempDir {
        /// The database.
        name: String,
        /// The cause.
        source: std::io::Error,
    },
    /// Restoring the database's file from the snapshot failed.
    #[error("database {name}: restoring the database file: {source}")]
    Fetch {
        /// The database.
        name: String,
        /// The cause.
        source: holdfast_repo::Error,
    },
    /// The snapshot's copy is damaged.
    #[error(
        "the snapshot's copy of {name} is damaged: {}",
        super::damaged_list(damaged)
    )]
    Damaged {
        /// The database.
        name: String,
        /// The damaged entries.
        damaged: Vec<Damaged>,
    },
    /// The snapshot holds no copy of the database.
    #[error("the snapshot holds no {} for database {name}", rel.display())]
    NotInSnapshot {
        /// The database.
        name: String,
        /// The path the copy would have in the snapshot.
        rel: PathBuf,
    },
    /// The staged copy cannot be read.
    #[error("database {name}: {}: {source}", path.display())]
    Open {
        /// The database.
        name: String,
        /// The staged copy.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// `pg_restore` or `integrity_check` failed to run.
    #[error("{source}")]
    Database {
        /// The database.
        name: String,
        /// The cause.
        source: DatabaseError,
    },
    /// The staged SQLite copy fails `integrity_check` (the live file was not touched).
    #[error("the snapshot's copy of {name} fails integrity_check: {}", problems.join(", "))]
    Integrity {
        /// The database.
        name: String,
        /// What `integrity_check` said.
        problems: Vec<String>,
    },
    /// The swap could not start (nothing was touched).
    #[error("volume {volume}: {source}")]
    Begin {
        /// The volume.
        volume: String,
        /// The cause.
        source: SwapError,
    },
    /// The stage could not be removed after a failure (the live file was not touched).
    #[error("database {name}: removing the stage: {source}")]
    Abort {
        /// The database.
        name: String,
        /// The cause.
        source: SwapError,
    },
    /// A blocking task (`pg_restore`, the swap) ended abnormally.
    #[error("database {name}: {what}: {reason}")]
    Task {
        /// The database.
        name: String,
        /// Which task.
        what: &'static str,
        /// What the task said.
        reason: String,
    },
    /// The swap could not finish (the next recovery finishes or rolls it back).
    #[error("swapping database {name} into volume {volume}: {source}")]
    Commit {
        /// The database.
        name: String,
        /// The volume.
        volume: String,
        /// The cause.
        source: SwapError,
    },
}

impl DatabaseRestoreError {
    /// True when the request itself is wrong (an unknown database, a snapshot of another
    /// volume, a Redis database): nothing was tried.
    pub fn is_input(&self) -> bool {
        matches!(
            self,
            DatabaseRestoreError::Unknown { .. }
                | DatabaseRestoreError::OtherVolume { .. }
                | DatabaseRestoreError::Redis { .. }
                | DatabaseRestoreError::NotReplicated { .. }
        )
    }
}

/// The configured database `name` and the volume holding it, checked against the
/// snapshot `snap` (it must be of that volume); `config_path` is for the message.
pub fn locate<'c>(
    config: &'c Config,
    config_path: &Path,
    snap: &Snapshot,
    name: &str,
) -> Result<(&'c Volume, &'c Database), DatabaseRestoreError> {
    let found = config.volumes.iter().find_map(|v| {
        v.databases
            .iter()
            .find(|d| d.answers_to(name))
            .map(|d| (v, d))
    });
    let Some((volume, db)) = found else {
        return Err(DatabaseRestoreError::Unknown {
            name: name.to_string(),
            config: config_path.to_path_buf(),
            known: config
                .volumes
                .iter()
                .flat_map(|v| v.databases.iter().map(|d| d.name()))
                .collect(),
        });
    };
    if snap.volume.as_deref() != Some(volume.name.as_str()) {
        return Err(DatabaseRestoreError::OtherVolume {
            name: name.to_string(),
            volume: volume.name.clone(),
            of: snap.volume.clone().unwrap_or_else(|| snap.root.clone()),
        });
    }
    Ok((volume, db))
}

/// Restores database `db` of `volume` from `snap` (see the module doc).
pub async fn restore_database(
    repo: &IndexedRepository,
    volume: &Volume,
    db: &Database,
    snap: &Snapshot,
    opts: &DatabaseOptions,
) -> Result<DatabaseRestored, DatabaseRestoreError> {
    let name = db.name();
    let rel = snapshot_path(db);
    let kept = match db {
        Database::Postgres { url, .. } => {
            let staging = tempfile::Builder::new()
                .prefix(RESTORE_PREFIX)
                .tempdir()
                .map_err(|source| DatabaseRestoreError::TempDir {
                    name: name.clone(),
                    source,
                })?;
            let file = fetch(repo, snap, &rel, staging.path(), &name, opts).await?;
            let (n, u) = (name.clone(), url.clone());
            tokio::task::spawn_blocking(move || {
                let f =
                    std::fs::File::open(&file).map_err(|source| DatabaseRestoreError::Open {
                        name: n.clone(),
                        path: file.clone(),
                        source,
                    })?;
                postgres::restore(&n, &u, f)
                    .map_err(|source| DatabaseRestoreError::Database { name: n, source })
            })
            .await
            .map_err(|e| DatabaseRestoreError::Task {
                name: name.clone(),
                what: "pg_restore",
                reason: e.to_string(),
            })??;
            None
        }
        Database::Sqlite { .. } => restore_sqlite(repo, snap, volume, &rel, &name, opts).await?,
        Database::Redis { .. } => return Err(DatabaseRestoreError::Redis { name }),
    };
    Ok(DatabaseRestored {
        name,
        kind: db.kind(),
        kept,
    })
}

/// Restores the snapshot's `rel` into `dir`; the path of the restored file.
async fn fetch(
    repo: &IndexedRepository,
    snap: &Snapshot,
    rel: &Path,
    dir: &Path,
    name: &str,
    opts: &DatabaseOptions,
) -> Result<PathBuf, DatabaseRestoreError> {
    let ropts = RestoreOptions {
        target: dir.to_path_buf(),
        include: vec![rel.to_string_lossy().into_owned()],
        on_index: opts.on_index.clone(),
        ..Default::default()
    };
    let summary = holdfast_repo::restore(repo, snap, &ropts)
        .await
        .map_err(|source| DatabaseRestoreError::Fetch {
            name: name.to_string(),
            source,
        })?;
    if !summary.damaged.is_empty() {
        return Err(DatabaseRestoreError::Damaged {
            name: name.to_string(),
            damaged: summary.damaged,
        });
    }
    let staged = dir.join(rel);
    if !staged.is_file() {
        return Err(DatabaseRestoreError::NotInSnapshot {
            name: name.to_string(),
            rel: rel.to_path_buf(),
        });
    }
    Ok(staged)
}

/// Stages, checks and swaps in the snapshot's copy of SQLite database `rel`; where the
/// old copy is kept, if asked.
async fn restore_sqlite(
    repo: &IndexedRepository,
    snap: &Snapshot,
    volume: &Volume,
    rel: &Path,
    name: &str,
    opts: &DatabaseOptions,
) -> Result<Option<PathBuf>, DatabaseRestoreError> {
    let what = format!("restore of database {name}");
    let swap = Swap::begin(&volume.path, &what, opts.swap.clone()).map_err(|source| {
        DatabaseRestoreError::Begin {
            volume: volume.name.clone(),
            source,
        }
    })?;
    let abort = |swap: Swap, e: DatabaseRestoreError| match swap.abort() {
        Ok(()) => e,
        Err(source) => DatabaseRestoreError::Abort {
            name: name.to_string(),
            source,
        },
    };
    let staged = match fetch(repo, snap, rel, swap.stage(), name, opts).await {
        Ok(s) => s,
        Err(e) => return Err(abort(swap, e)),
    };
    let problems = match sqlite::integrity_check(&staged) {
        Ok(p) => p,
        Err(source) => {
            let e = DatabaseRestoreError::Database {
                name: name.to_string(),
                source,
            };
            return Err(abort(swap, e));
        }
    };
    if !problems.is_empty() {
        let e = DatabaseRestoreError::Integrity {
            name: name.to_string(),
            problems,
        };
        return Err(abort(swap, e));
    }
    // integrity_check may leave side files of the staged copy: only the database moves in.
    for side in crate::sqlite::sidecars(&staged) {
        let _ = std::fs::remove_file(side);
    }
    let selection = Selection::Paths {
        new: vec![rel.to_path_buf()],
        old: crate::sqlite::sidecars(rel),
    };
    let done = tokio::task::spawn_blocking(move || swap.commit(selection))
        .await
        .map_err(|e| DatabaseRestoreError::Task {
            name: name.to_string(),
            what: "swap",
            reason: e.to_string(),
        })?
        .map_err(|source| DatabaseRestoreError::Commit {
            name: name.to_string(),
            volume: volume.name.clone(),
            source,
        })?;
    Ok(done.kept)
}
