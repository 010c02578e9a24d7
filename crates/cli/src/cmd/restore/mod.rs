//! `holdfast restore SNAPSHOT --target DIR`: the snapshot root's contents into DIR;
//! exit 3 when some entries were damaged (they are listed, the rest is restored).
//! `--in-place --yes` restores into the configured volume the snapshot is of
//! ([`in_place`]); `--database NAME --yes` loads one database back ([`database`]). Both
//! are protocols of the volume crate ([`holdfast_volume::restore`]: stage, restore,
//! check, swap); those files only map flags, run the guard and print. Every restore
//! first recovers an interrupted swap ([`swap::recover_volumes`]; docs/RESTORE.md).
//!
//! With `--target`, a non-empty DIR is refused (exit 2) unless `--overwrite` names a mode;
//! `--dry-run` prints what would be written, overwritten and skipped. The decisions are
//! the repository crate's (`holdfast_repo::restore::overwrite`); this file maps flags.

use std::process::ExitCode;

use holdfast_repo::restore::{Overwrite, text};
use holdfast_repo::{IndexedRepository, RestoreOptions};
use holdfast_volume::config::Config;
use holdfast_volume::swap;

use crate::context::{self, out, outln};
use crate::exit::{self, Failure};
use crate::global::GlobalArgs;

mod args;
mod database;
mod guard;
mod in_place;
mod postgres;

pub use args::RestoreArgs;

/// Runs `holdfast restore`.
pub async fn run(g: &GlobalArgs, args: RestoreArgs) -> Result<ExitCode, Failure> {
    if let Some(target) = database::point_wanted(g, &args)? {
        return database::run_point(g, &args, target).await;
    }
    if args.database.is_some() && args.target.is_some() {
        return Err(Failure::usage(anyhow::anyhow!(
            "--database with --target restores a replicated SQLite database to a point in \
             time (--time, or `replicate` in holdfast.toml); a snapshot's database goes back \
             into its volume (--yes), or restore the snapshot with --target and --include"
        )));
    }
    if args.dry_run && args.target.is_none() {
        return Err(Failure::usage(anyhow::anyhow!(
            "--dry-run needs --target DIR (or --database NAME of a replicated database)"
        )));
    }
    // A restore elsewhere may run without a usable holdfast.toml; then there is nothing
    // configured to recover.
    let mut overwrite: Option<Overwrite> = args.overwrite.map(Into::into);
    let mut shown_as_always = false;
    if let Some(target) = &args.target {
        // Refuse a non-empty target before anything else (no repository access needed);
        // a dry run changes nothing, so it shows what `--overwrite always` would do.
        match holdfast_repo::restore::overwrite::check_target(target, overwrite) {
            Ok(()) => {}
            Err(holdfast_repo::Error::TargetNotEmpty { .. }) if args.dry_run => {
                overwrite = Some(Overwrite::Always);
                shown_as_always = true;
            }
            Err(e @ holdfast_repo::Error::TargetNotEmpty { .. }) => {
                return Err(Failure::usage(anyhow::anyhow!(
                    "{e}; or, to replace the configured volume the snapshot is of, --in-place \
                     --yes instead of --target"
                )));
            }
            Err(e) => return Err(context::fail(e)),
        }
    }
    if let Ok(Some(config)) = Config::load_optional(&g.config) {
        // Every interrupted swap is finished or rolled back before anything reads or
        // replaces the volumes' data; stderr says which.
        for line in swap::recover_volumes(&config).map_err(anyhow::Error::from)? {
            crate::global::stderr_note(tracing::Level::INFO, &line, "");
        }
    }
    // The restore loads the index under its lock (and warns from `index_warnings`); no
    // index is loaded before it.
    let repo = IndexedRepository::without_index(context::open_repo(g).await?);
    // `restore --database NAME` targets the volume holding that database: a plain
    // `latest` means that volume's latest (crate::select).
    let target_volume = args.database.as_ref().and_then(|name| {
        Config::load_optional(&g.config)
            .ok()
            .flatten()?
            .volumes
            .into_iter()
            .find(|v| v.databases.iter().any(|d| d.answers_to(name)))
            .map(|v| v.name)
    });
    let (id, snap) =
        crate::select::find(g, &repo, &args.snapshot, target_volume.as_deref()).await?;
    if (args.in_place || args.database.is_some()) && !args.yes {
        return Err(Failure::usage(anyhow::anyhow!(
            "this replaces live data: add --yes to confirm (stop the app first)"
        )));
    }
    if let Some(name) = &args.database {
        return database::run(g, &repo, &snap, name, args.keep_old).await;
    }
    let Some(target) = args.target.clone() else {
        return in_place::run(g, &repo, id, &snap, &args.include, args.keep_old).await;
    };
    let progress = std::sync::Arc::new(holdfast_repo::Progress::default());
    let opts = RestoreOptions {
        target: target.clone(),
        include: args.include,
        overwrite,
        dry_run: args.dry_run,
        progress: Some(progress.clone()),
        on_index: Some(guard::index_warnings()),
        ..Default::default()
    };
    let started = std::time::Instant::now();
    let bar = (!args.dry_run)
        .then(|| crate::progress::show(g, progress, crate::progress::Unit::Bytes))
        .flatten();
    let restored = holdfast_repo::restore(&repo, &snap, &opts).await;
    drop(bar);
    let s = match restored {
        Ok(s) => s,
        Err(e) if e.is_input() => return Err(context::fail(e)),
        Err(e) => {
            return Err(anyhow::Error::from(e)
                .context(format!(
                    "restoring snapshot {} to {}",
                    id.short(),
                    target.display()
                ))
                .into());
        }
    };
    if args.dry_run {
        if shown_as_always && !g.quiet {
            crate::global::stderr_note(
                tracing::Level::INFO,
                &format!(
                    "{} is not empty: a restore needs --overwrite always|if-changed|never; \
                     shown as --overwrite always",
                    target.display()
                ),
                "",
            );
        }
        if g.json {
            outln!("{}", text::dry_run_json(id, &target, &s));
        } else {
            out!("{}", text::dry_run(id, &target, &s, g.verbose > 0, g.quiet));
        }
        return Ok(ExitCode::SUCCESS);
    }
    for d in &s.damaged {
        crate::global::stderr_note(
            tracing::Level::WARN,
            &format!("damaged: {}: {}", d.path, d.error),
            "",
        );
    }
    if g.json {
        let duration_s = started.elapsed().as_secs_f64();
        outln!("{}", text::summary_json(id, &s, duration_s));
    } else if !g.quiet {
        outln!("{}", text::summary(id, &target, &s));
    }
    Ok(exit::problems_if(!s.damaged.is_empty()))
}
