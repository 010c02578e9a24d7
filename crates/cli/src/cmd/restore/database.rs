//! `holdfast restore SNAPSHOT --database NAME --yes`: loads one configured database back
//! through [`holdfast_volume::restore::database`] (SQLite staged, checked and swapped in;
//! Postgres through `pg_restore`; the protocols are written there). This file runs the
//! guard before a SQLite swap, prints the outcome, and maps a wrong request (an unknown
//! database, a snapshot of another volume, Redis) to exit 2.

use std::process::ExitCode;

use holdfast_repo::wal::Target;
use holdfast_repo::{IndexedRepository, Snapshot};
use holdfast_volume::config::Database;
use holdfast_volume::restore::database::{self, DatabaseOptions, DatabaseRestoreError};
use holdfast_volume::restore::point::{self, PointDest};
use holdfast_volume::swap::SwapOptions;

use crate::context::outln;
use crate::exit::Failure;
use crate::global::GlobalArgs;

/// Says where the replaced copy of database `name` is kept, when `--keep-old` asked.
fn say_kept(name: &str, kept: Option<&std::path::Path>) {
    if let Some(kept) = kept {
        crate::global::stderr_note(
            tracing::Level::INFO,
            &format!(
                "the old copy of database {name} (with its -wal/-shm) is kept in {}",
                kept.display()
            ),
            "",
        );
    }
}

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
        super::guard::guard_replace(volume)?;
    }
    let opts = DatabaseOptions {
        swap: SwapOptions::standard(keep_old),
        on_index: Some(super::guard::index_warnings()),
    };
    let done = database::restore_database(repo, volume, db, snap, &opts)
        .await
        .map_err(failure)?;
    say_kept(name, done.kept.as_deref());
    if !g.quiet {
        outln!(
            "restored database {name} ({}) from the snapshot of {}",
            done.kind,
            snap.time.to_rfc3339()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Whether `restore --database` restores a point in time, and which: `--time T`, or the
/// newest point of a replicated database restored from `latest…`.
pub(super) fn point_wanted(
    g: &GlobalArgs,
    args: &super::args::RestoreArgs,
) -> Result<Option<Target>, Failure> {
    let Some(name) = &args.database else {
        return Ok(None);
    };
    // Without a usable config (an empty machine), an archived Postgres database is found
    // in the repository alone.
    let config = holdfast_volume::config::Config::load_optional(&g.config)
        .ok()
        .flatten();
    Ok(point::wanted(
        config.as_ref(),
        name,
        &args.snapshot,
        args.time,
    ))
}

/// `restore … --database NAME [--time T] [--target DIR] [--dry-run]` of a replicated
/// SQLite database: replayed from its WAL segments
/// ([`holdfast_volume::restore::point`]) into the live volume (needs --yes, after the
/// guard) or under DIR; prints the point reached.
pub(super) async fn run_point(
    g: &GlobalArgs,
    args: &super::args::RestoreArgs,
    target: Target,
) -> Result<ExitCode, Failure> {
    let name = args.database.as_deref().unwrap_or_default();
    let loaded = holdfast_volume::config::Config::load_optional(&g.config)
        .ok()
        .flatten();
    let found = loaded.as_ref().and_then(|c| point::configured(c, name));
    if found.is_none_or(|(_, db)| db.pg_archive()) {
        return super::postgres::run(g, args, target, found.map(|(_, db)| db)).await;
    }
    let config = crate::context::load_config(g)?;
    let Some((volume, db)) = point::configured(&config, name) else {
        return Err(failure(DatabaseRestoreError::Unknown {
            name: name.to_owned(),
            config: g.config.clone(),
            known: config
                .volumes
                .iter()
                .flat_map(|v| v.databases.iter().map(Database::name))
                .collect(),
        }));
    };
    let repo = crate::context::open_repo(g).await?;
    if args.dry_run {
        let plan = point::plan_point(&repo, db, target)
            .await
            .map_err(failure)?;
        outln!("{}", point::describe_plan(&plan, name));
        return Ok(ExitCode::SUCCESS);
    }
    let dest = match &args.target {
        Some(dir) => PointDest::Dir(dir.clone()),
        None => {
            if !args.yes {
                return Err(Failure::usage(anyhow::anyhow!(
                    "this replaces live data: add --yes to confirm (stop the app first), or \
                     pass --target DIR"
                )));
            }
            super::guard::guard_replace(volume)?;
            PointDest::Live(SwapOptions::standard(args.keep_old))
        }
    };
    let done = point::restore_point(&repo, volume, db, target, dest)
        .await
        .map_err(failure)?;
    say_kept(name, done.kept.as_deref());
    if !g.quiet {
        outln!("{}", done.describe(name));
    }
    Ok(ExitCode::SUCCESS)
}
