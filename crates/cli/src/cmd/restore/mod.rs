//! `holdfast restore SNAPSHOT --target DIR`: the snapshot root's contents into DIR;
//! exit 3 when some entries were damaged (they are listed, the rest is restored).
//! `--in-place --yes` restores into the configured volume the snapshot is of
//! ([`in_place`]); `--database NAME --yes` loads one database back ([`database`]). Both
//! are protocols of the volume crate ([`holdfast_volume::restore`]: stage, restore,
//! check, swap); those files only map flags, run the guard and print. Every restore
//! first recovers an interrupted swap ([`recover_swaps`]; docs/RESTORE.md).
//!
//! With `--target`, a non-empty DIR is refused (exit 2) unless `--overwrite` names a mode;
//! `--dry-run` prints what would be written, overwritten and skipped. The decisions are
//! the repository crate's (`holdfast_repo::restore::overwrite`); this file maps flags.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use holdfast_repo::restore::{Overwrite, RestoreSummary};
use holdfast_repo::{Id, IndexedRepository, RestoreOptions};
use holdfast_volume::config::{Config, Volume};
use holdfast_volume::guard::{self, Door};
use holdfast_volume::swap::{self, SwapOptions};

use crate::context::{self, outln};
use crate::exit::{self, Failure};
use crate::global::GlobalArgs;

mod database;
mod in_place;

/// Flags of `holdfast restore`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("where").required(true).multiple(true).args(["target", "in_place", "database"])))]
pub struct RestoreArgs {
    /// Snapshot: id prefix, `latest`, `latest:VOLUME` or `latest:/PATH`, each with an
    /// optional `~N`. A plain `latest` in a repository holding several volumes or paths
    /// is refused unless holdfast.toml configures one volume (then that one is used).
    pub snapshot: String,
    /// Directory that receives the snapshot root's contents.
    #[arg(long, value_name = "DIR")]
    #[arg(conflicts_with = "in_place")]
    pub target: Option<PathBuf>,
    /// Restore into the configured volume the snapshot is of: stage, verify, then swap
    /// through the journal (needs --yes).
    #[arg(long)]
    pub in_place: bool,
    /// Load this configured database back from the snapshot (needs --yes).
    #[arg(long, value_name = "NAME", conflicts_with = "in_place")]
    pub database: Option<String>,
    /// With --database: the SQLite database as of this time (RFC 3339), replayed from its
    /// point-in-time replication (`replicate` in holdfast.toml). Without it, a
    /// replicated database restored from `latest…` comes back at its newest point.
    #[arg(long, value_name = "RFC3339", requires = "database", value_parser = parse_time)]
    pub time: Option<chrono::DateTime<chrono::Utc>>,
    /// Confirm a restore that replaces live data.
    #[arg(long)]
    pub yes: bool,
    /// With --in-place or --database: keep the replaced data in the volume's
    /// `.holdfast/kept/` instead of deleting it (the path is printed).
    #[arg(long)]
    pub keep_old: bool,
    /// Only paths matching this glob, or inside a matching directory (repeatable).
    #[arg(long = "include", value_name = "GLOB")]
    pub include: Vec<String>,
    /// With --target: what to do with files already in DIR (as restic 0.17). Without it a
    /// non-empty DIR is refused.
    #[arg(long, value_enum, value_name = "MODE", requires = "target")]
    pub overwrite: Option<OverwriteArg>,
    /// With --target: print what would be written, overwritten and skipped (the paths
    /// with -v); with --database of a replicated database: the base, the segments and the
    /// point it would reach. Writes nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Parses `--time`: an RFC 3339 time.
fn parse_time(s: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|e| format!("{s:?} is not an RFC 3339 time (2026-12-07T14:30:00Z): {e}"))
}

/// `--overwrite` modes.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum OverwriteArg {
    /// Overwrite every existing file.
    Always,
    /// Skip files whose size and mtime (or content) match the snapshot; overwrite others.
    IfChanged,
    /// Keep existing files; restore only the missing ones.
    Never,
}

impl From<OverwriteArg> for Overwrite {
    fn from(a: OverwriteArg) -> Overwrite {
        match a {
            OverwriteArg::Always => Overwrite::Always,
            OverwriteArg::IfChanged => Overwrite::IfChanged,
            OverwriteArg::Never => Overwrite::Never,
        }
    }
}

/// Finishes or rolls back every interrupted swap on the configured volumes, saying which
/// on stderr, before anything reads or replaces their data (`restore` and `run` call it).
pub(crate) fn recover_swaps(config: &Config) -> anyhow::Result<()> {
    for v in &config.volumes {
        let done = swap::recover(&v.path, &SwapOptions::default()).with_context(|| {
            format!(
                "volume {}: finishing an interrupted restore (nothing else was changed)",
                v.name
            )
        })?;
        for r in done {
            crate::global::stderr_note(
                tracing::Level::INFO,
                &format!("volume {}: {r}", v.name),
                "",
            );
        }
    }
    Ok(())
}

/// The guard before data is replaced ([`holdfast_volume::guard::enter`] with
/// [`Door::Replace`]): a volume that is missing, not mounted when it must be, read-only
/// or critically full is refused (exit 3, nothing restored); an interrupted swap is
/// finished first and stderr says so.
pub(super) fn guard_replace(volume: &Volume) -> Result<(), Failure> {
    match guard::enter(volume, Door::Replace) {
        Ok(admitted) => {
            for line in admitted.recovered {
                crate::global::stderr_note(tracing::Level::INFO, &line, "");
            }
            Ok(())
        }
        Err(r) => Err(Failure {
            error: anyhow::anyhow!("{r}; nothing was restored"),
            code: exit::PROBLEMS,
        }),
    }
}

/// Warns on stderr about what loading the index found ([`RestoreOptions::on_index`]): a
/// damaged or missing index file does not stop a restore, the blobs it listed are read
/// from the packs' own trailers ([`holdfast_repo::repair::index_for_reading`]), and the
/// warning says how to make the repair permanent.
pub(super) fn index_warnings() -> holdfast_repo::OnIndex {
    holdfast_repo::OnIndex(std::sync::Arc::new(|recovery| {
        for bad in &recovery.index_damaged {
            eprintln!(
                "holdfast: warning: index file {} is damaged ({}); reading the packs' own \
                 trailers instead",
                bad.object, bad.error
            );
        }
        for bad in &recovery.packs_damaged {
            eprintln!(
                "holdfast: warning: damaged pack {}: {}",
                bad.object, bad.error
            );
        }
        if !recovery.is_clean() {
            eprintln!(
                "holdfast: warning: {} pack(s) no readable index file lists were read from \
                 their trailers ({} usable); unless a backup is still running, run \
                 `holdfast repair index --yes` to rebuild the index",
                recovery.packs_read, recovery.packs_recovered
            );
        }
    }))
}

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
        recover_swaps(&config)?;
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
        on_index: Some(index_warnings()),
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
        return dry_run_report(g, id, &target, &s);
    }
    for d in &s.damaged {
        crate::global::stderr_note(
            tracing::Level::WARN,
            &format!("damaged: {}: {}", d.path, d.error),
            "",
        );
    }
    if g.json {
        let damaged: Vec<_> = s
            .damaged
            .iter()
            .map(|d| serde_json::json!({"path": d.path, "error": d.error}))
            .collect();
        let out = serde_json::json!({
            "snapshot": id.to_hex(), "files": s.files, "dirs": s.dirs, "symlinks": s.symlinks,
            "bytes": s.bytes, "overwritten": s.overwritten, "skipped": s.skipped,
            "damaged": damaged, "duration_s": started.elapsed().as_secs_f64(),
        });
        outln!("{out}");
    } else if !g.quiet {
        outln!(
            "restored snapshot {} to {}: {}, {}, {}, {}{}{}",
            id.short(),
            target.display(),
            crate::text::count(s.files, "file"),
            crate::text::count(s.dirs, "dir"),
            crate::text::count(s.symlinks, "symlink"),
            indicatif::HumanBytes(s.bytes),
            if s.overwritten + s.skipped > 0 {
                format!("; {} overwritten, {} kept", s.overwritten, s.skipped)
            } else {
                String::new()
            },
            if s.damaged.is_empty() {
                String::new()
            } else {
                format!("; {} DAMAGED", s.damaged.len())
            }
        );
    }
    Ok(exit::problems_if(!s.damaged.is_empty()))
}

/// Prints a dry run: counts (and with -v every path) as text, or one JSON document.
fn dry_run_report(
    g: &GlobalArgs,
    id: Id,
    target: &std::path::Path,
    s: &RestoreSummary,
) -> Result<ExitCode, Failure> {
    let count =
        |a: holdfast_repo::restore::Action| s.planned.iter().filter(|p| p.action == a).count();
    use holdfast_repo::restore::Action;
    let (write, over, skip) = (
        count(Action::Write),
        count(Action::Overwrite),
        count(Action::Skip),
    );
    if g.json {
        let planned: Vec<_> = s
            .planned
            .iter()
            .map(|p| serde_json::json!({"path": p.path, "action": p.action.name()}))
            .collect();
        let out = serde_json::json!({
            "snapshot": id.to_hex(), "target": target.display().to_string(), "dry_run": true,
            "write": write, "overwrite": over, "skip": skip, "bytes": s.bytes,
            "entries": planned,
        });
        outln!("{out}");
        return Ok(ExitCode::SUCCESS);
    }
    if g.verbose > 0 {
        for p in &s.planned {
            outln!("{:<9} {}", p.action.name(), p.path);
        }
    }
    if !g.quiet {
        outln!(
            "dry run of snapshot {} to {}: would write {write} new, overwrite {over}, keep {skip} ({} of file content); nothing was written",
            id.short(),
            target.display(),
            indicatif::HumanBytes(s.bytes),
        );
    }
    Ok(ExitCode::SUCCESS)
}
