//! `holdfast restore SNAPSHOT --database NAME --yes`: loads one configured database back
//! through [`holdfast_volume::restore::database`] (SQLite staged, checked and swapped in;
//! Postgres through `pg_restore`; the protocols are written there). This file runs the
//! guard before a SQLite swap, prints the outcome, and maps a wrong request (an unknown
//! database, a snapshot of another volume, Redis) to exit 2.

use std::process::ExitCode;

use holdfast_repo::{IndexedRepository, Snapshot};
use holdfast_volume::config::Database;
use holdfast_volume::restore::database::{self, DatabaseOptions, DatabaseRestoreError};
use holdfast_volume::swap::SwapOptions;

use crate::context::outln;
use crate::exit::Failure;
use crate::global::GlobalArgs;

/// A usage error (exit 2) for a wrong request, an error (exit 1) otherwise.
fn failure(e: DatabaseRestoreError) -> Failure {
    if e.is_input() {
        Failure::usage(e)
    } else {
        anyhow::Error::from(e).into()
    }
}

/// Restores database `name` from `snap`.
pub async fn run(
    g: &GlobalArgs,
    repo: &IndexedRepository,
    snap: &Snapshot,
    name: &str,
    keep_old: bool,
) -> Result<ExitCode, Failure> {
    let config = crate::context::load_config(g)?;
    let (volume, db) = database::locate(&config, &g.config, snap, name).map_err(failure)?;
    if matches!(db, Database::Sqlite { .. }) {
        super::guard_replace(volume)?;
    }
    let opts = DatabaseOptions {
        swap: SwapOptions::standard(keep_old),
        on_index: Some(super::index_warnings()),
    };
    let done = database::restore_database(repo, volume, db, snap, &opts)
        .await
        .map_err(failure)?;
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
    if !g.quiet {
        outln!(
            "restored database {name} ({}) from the snapshot of {}",
            done.kind,
            snap.time.to_rfc3339()
        );
    }
    Ok(ExitCode::SUCCESS)
}
