//! `holdfast restore SNAPSHOT --database NAME --yes`: loads one configured database back.
//! Postgres: the snapshot's `.holdfast-databases/NAME.pgdump` through
//! `pg_restore --clean --if-exists`. SQLite: through the volume's journaled swap
//! ([`holdfast_volume::swap`]): the snapshot's copy is staged inside the volume, checked
//! with `integrity_check` and made durable; then the live file moves aside together with
//! its `-wal`, `-shm` and `-journal` (so the live WAL is never deleted before the new
//! copy is in, and a crash leaves the old set or the new one), and the copy moves in.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, anyhow};
use holdfast_repo::{IndexedRepository, RestoreOptions, Snapshot};
use holdfast_volume::backup::snapshot_path;
use holdfast_volume::config::{Database, Volume};
use holdfast_volume::databases::{postgres, sqlite};
use holdfast_volume::swap::{Selection, Swap, SwapOptions};

use crate::context::outln;
use crate::exit::Failure;
use crate::global::GlobalArgs;

/// Restores database `name` from `snap`.
pub async fn run(
    g: &GlobalArgs,
    repo: &IndexedRepository,
    snap: &Snapshot,
    name: &str,
    keep_old: bool,
) -> Result<ExitCode, Failure> {
    let config = crate::context::load_config(g)?;
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
    match db {
        Database::Postgres { url, .. } => {
            let staging = tempfile::Builder::new()
                .prefix(".holdfast-restore-")
                .tempdir()
                .context("creating a staging directory")?;
            let staged = fetch(repo, snap, &rel, staging.path(), name).await?;
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
            super::guard_replace(volume)?;
            restore_sqlite(repo, snap, volume, &rel, name, keep_old).await?
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

/// Restores the snapshot's `rel` into `dir`; the path of the restored file.
async fn fetch(
    repo: &IndexedRepository,
    snap: &Snapshot,
    rel: &Path,
    dir: &Path,
    name: &str,
) -> anyhow::Result<std::path::PathBuf> {
    let opts = RestoreOptions {
        target: dir.to_path_buf(),
        include: vec![rel.to_string_lossy().into_owned()],
        on_index: Some(super::index_warnings()),
        ..Default::default()
    };
    let summary = holdfast_repo::restore(repo, snap, &opts)
        .await
        .context("restoring the database file")?;
    if !summary.damaged.is_empty() {
        return Err(anyhow!(
            "the snapshot's copy of {name} is damaged: {}",
            crate::text::damaged(&summary.damaged)
        ));
    }
    let staged = dir.join(rel);
    if !staged.is_file() {
        return Err(anyhow!(
            "the snapshot holds no {} for database {name}",
            rel.display()
        ));
    }
    Ok(staged)
}

/// Stages, checks and swaps in the snapshot's copy of SQLite database `rel`.
async fn restore_sqlite(
    repo: &IndexedRepository,
    snap: &Snapshot,
    volume: &Volume,
    rel: &Path,
    name: &str,
    keep_old: bool,
) -> anyhow::Result<()> {
    let what = format!("restore of database {name}");
    let swap = Swap::begin(&volume.path, &what, SwapOptions::standard(keep_old))
        .with_context(|| format!("volume {}", volume.name))?;
    let staged = match fetch(repo, snap, rel, swap.stage(), name).await {
        Ok(s) => s,
        Err(e) => {
            swap.abort().context("removing the stage")?;
            return Err(e);
        }
    };
    let problems = match sqlite::integrity_check(&staged) {
        Ok(p) => p,
        Err(e) => {
            swap.abort().context("removing the stage")?;
            return Err(e.into());
        }
    };
    if !problems.is_empty() {
        swap.abort().context("removing the stage")?;
        return Err(anyhow!(
            "the snapshot's copy of {name} fails integrity_check: {}",
            crate::text::list(problems.iter())
        ));
    }
    // integrity_check may leave side files of the staged copy: only the database moves in.
    for side in holdfast_volume::sqlite::sidecars(&staged) {
        let _ = std::fs::remove_file(side);
    }
    let selection = Selection::Paths {
        new: vec![rel.to_path_buf()],
        old: holdfast_volume::sqlite::sidecars(rel),
    };
    let done = tokio::task::spawn_blocking(move || swap.commit(selection))
        .await
        .map_err(|e| anyhow!("swap: {e}"))?
        .with_context(|| format!("swapping database {name} into volume {}", volume.name))?;
    if let Some(kept) = &done.kept {
        crate::global::stderr_note(
            tracing::Level::INFO,
            &format!(
                "the old copy of database {name} (with its -wal/-shm) is kept in {}",
                kept.display()
            ),
            "",
        );
    }
    Ok(())
}
