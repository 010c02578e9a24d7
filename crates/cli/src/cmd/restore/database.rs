//! `holdfast restore SNAPSHOT --database NAME --yes`: loads one configured database back.
//! Postgres: the snapshot's `.holdfast-databases/NAME.pgdump` through
//! `pg_restore --clean --if-exists`. SQLite: the snapshot's copy of the file is staged
//! beside the live one, fsynced, and renamed over it (its `-wal`/`-shm` are removed
//! first, so the restored file is read as it was saved).

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, anyhow};
use holdfast_repo::{IndexedRepository, RestoreOptions, Snapshot};
use holdfast_volume::backup::snapshot_path;
use holdfast_volume::config::{Config, Database};
use holdfast_volume::databases::{postgres, sqlite};

use crate::context::outln;
use crate::exit::Failure;
use crate::global::GlobalArgs;

/// Restores database `name` from `snap`.
pub async fn run(
    g: &GlobalArgs,
    repo: &IndexedRepository,
    snap: &Snapshot,
    name: &str,
) -> Result<ExitCode, Failure> {
    let config =
        Config::load(&g.config).with_context(|| format!("loading {}", g.config.display()))?;
    let found = config.volumes.iter().find_map(|v| {
        v.databases
            .iter()
            .find(|d| d.name() == name)
            .map(|d| (v, d))
    });
    let Some((volume, db)) = found else {
        let known: Vec<String> = config
            .volumes
            .iter()
            .flat_map(|v| v.databases.iter().map(|d| d.name()))
            .collect();
        return Err(Failure::usage(anyhow!(
            "no database {name} in {} (databases: {})",
            g.config.display(),
            known.join(", ")
        )));
    };
    if snap.volume.as_deref() != Some(volume.name.as_str()) {
        return Err(Failure::usage(anyhow!(
            "the snapshot is of {}, not of volume {} that holds database {name} (try latest:{})",
            snap.volume.as_deref().unwrap_or(&snap.root),
            volume.name,
            volume.name
        )));
    }
    let rel = snapshot_path(db);
    let staging = tempfile::Builder::new()
        .prefix(".holdfast-restore-")
        .tempdir_in(if matches!(db, Database::Sqlite { .. }) {
            volume
                .resolve(&rel)
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or(volume.path.clone())
        } else {
            std::env::temp_dir()
        })
        .context("creating a staging directory")?;
    let opts = RestoreOptions {
        target: staging.path().to_path_buf(),
        include: vec![rel.to_string_lossy().into_owned()],
    };
    let summary = holdfast_repo::restore(repo, snap, &opts)
        .await
        .context("restoring the database file")?;
    if !summary.damaged.is_empty() {
        return Err(anyhow!(
            "the snapshot's copy of {name} is damaged: {:?}",
            summary.damaged
        )
        .into());
    }
    let staged = staging.path().join(&rel);
    if !staged.is_file() {
        return Err(anyhow!(
            "the snapshot holds no {} for database {name}",
            rel.display()
        )
        .into());
    }
    match db {
        Database::Postgres { url, .. } => {
            let (n, u, file) = (name.to_string(), url.clone(), staged.clone());
            tokio::task::spawn_blocking(move || {
                let f =
                    std::fs::File::open(&file).map_err(|e| anyhow!("{}: {e}", file.display()))?;
                postgres::restore(&n, &u, f).map_err(anyhow::Error::from)
            })
            .await
            .map_err(|e| anyhow!("pg_restore: {e}"))??;
        }
        Database::Sqlite { .. } => {
            let problems = sqlite::integrity_check(&staged).map_err(anyhow::Error::from)?;
            if !problems.is_empty() {
                return Err(anyhow!(
                    "the snapshot's copy of {name} fails integrity_check: {problems:?}"
                )
                .into());
            }
            let live = volume.resolve(&rel);
            for suffix in ["-wal", "-shm", "-journal"] {
                let mut side = live.as_os_str().to_owned();
                side.push(suffix);
                let _ = std::fs::remove_file(std::path::PathBuf::from(side));
            }
            std::fs::File::open(&staged)
                .and_then(|f| f.sync_all())
                .with_context(|| format!("syncing {}", staged.display()))?;
            std::fs::rename(&staged, &live)
                .with_context(|| format!("replacing {}", live.display()))?;
            if let Some(dir) = live.parent() {
                std::fs::File::open(dir)
                    .and_then(|d| d.sync_all())
                    .with_context(|| format!("syncing {}", dir.display()))?;
            }
        }
        Database::Redis { .. } => {
            return Err(Failure::usage(anyhow!(
                "redis data is restored with its volume: holdfast restore SNAPSHOT --in-place --yes (stop redis first)"
            )));
        }
    }
    if !g.quiet {
        outln!(
            "restored database {name} ({}) from the snapshot of {}",
            db.kind(),
            snap.time.to_rfc3339()
        );
    }
    Ok(ExitCode::SUCCESS)
}
