//! `holdfast pg archive %p` and `holdfast pg fetch %f %p`: Postgres' `archive_command`
//! and `restore_command` (the protocols in
//! [`holdfast_volume::databases::postgres`]); `holdfast pg archive --daemon` runs the
//! uploader ([`holdfast_agent::pg_archive`]) without `run`/`serve`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use holdfast_volume::config::Config;
use holdfast_volume::databases::postgres::archive::{Archived, DEFAULT_SPOOL_BYTES, Spool};
use holdfast_volume::databases::postgres::recover;
use holdfast_volume::databases::postgres::upload::fetch;
use tokio_util::sync::CancellationToken;

use crate::exit::Failure;
use crate::global::GlobalArgs;

/// Flags of `holdfast pg`.
#[derive(Debug, Args)]
pub struct PgArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: PgCommand,
}

/// `holdfast pg` subcommands.
#[derive(Debug, Subcommand)]
pub enum PgCommand {
    /// archive_command: hand a WAL file to the spool (never the network) and return.
    Archive(ArchiveArgs),
    /// restore_command: write a WAL file from the spool or the repository to a path.
    Fetch(FetchArgs),
}

/// Where the spool is: `--spool`, else the database's in holdfast.toml.
#[derive(Debug, Args)]
pub struct SpoolArgs {
    /// The spool directory (default: the database's, from holdfast.toml).
    #[arg(long, value_name = "DIR")]
    pub spool: Option<PathBuf>,
    /// The spool's bound in bytes with --spool (default 1 GiB).
    #[arg(long, value_name = "BYTES")]
    pub spool_bytes: Option<u64>,
    /// The database in holdfast.toml (default: the only one with archive = true).
    #[arg(long, value_name = "NAME")]
    pub database: Option<String>,
}

/// Flags of `holdfast pg archive`.
#[derive(Debug, Args)]
pub struct ArchiveArgs {
    /// The file Postgres archives (%p, relative to the data directory, the current one).
    #[arg(required_unless_present = "daemon")]
    pub path: Option<PathBuf>,
    /// Run the uploader of every archived database in holdfast.toml until stopped.
    #[arg(long)]
    pub daemon: bool,
    #[command(flatten)]
    pub spool: SpoolArgs,
}

/// Flags of `holdfast pg fetch`.
#[derive(Debug, Args)]
pub struct FetchArgs {
    /// The file Postgres asks for (%f).
    pub name: String,
    /// Where to write it (%p, relative to the data directory, the current one).
    pub dest: PathBuf,
    /// Look in the spool only (no repository).
    #[arg(long)]
    pub spool_only: bool,
    #[command(flatten)]
    pub spool: SpoolArgs,
}

fn spool_of(g: &GlobalArgs, a: &SpoolArgs) -> anyhow::Result<Spool> {
    if let Some(dir) = &a.spool {
        return Ok(Spool::new(
            dir,
            a.spool_bytes.unwrap_or(DEFAULT_SPOOL_BYTES),
        ));
    }
    let config = crate::context::load_config(g)?;
    let mut found = config.volumes.iter().flat_map(|v| {
        v.databases
            .iter()
            .filter(|d| a.database.as_ref().is_none_or(|n| *n == d.name()))
            .filter_map(move |d| Spool::of(v, d))
    });
    match (found.next(), found.next()) {
        (Some(s), None) => Ok(s),
        (None, _) => bail!(
            "no Postgres database with archive = true{} in {}: pass --spool DIR",
            a.database
                .as_ref()
                .map(|n| format!(" named {n}"))
                .unwrap_or_default(),
            g.config.display()
        ),
        (Some(_), Some(_)) => bail!("several archived Postgres databases: pass --database NAME"),
    }
}

/// Runs `holdfast pg`.
pub async fn run(g: &GlobalArgs, args: PgArgs) -> Result<ExitCode, Failure> {
    match args.command {
        PgCommand::Archive(a) if a.daemon => daemon(g).await,
        PgCommand::Archive(a) => {
            let spool = spool_of(g, &a.spool)?;
            let path = a.path.unwrap_or_default();
            let here = std::env::current_dir().context("the current directory")?;
            let done = tokio::task::spawn_blocking(move || spool.archive(&here, &path))
                .await
                .context("archiving")?
                .map_err(anyhow::Error::from)?;
            if let Archived::Dropped { spool_bytes } = done {
                crate::global::stderr_line(
                    tracing::Level::WARN,
                    &format!(
                        "the spool is full ({spool_bytes} bytes): the WAL file was dropped and \
                         the gap recorded; the uploader records it in the repository and takes \
                         a new base backup"
                    ),
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        PgCommand::Fetch(a) => {
            let spool = spool_of(g, &a.spool).ok();
            let here = std::env::current_dir().context("the current directory")?;
            let repo = if a.spool_only {
                None
            } else {
                Some(crate::context::open_repo(g).await?)
            };
            fetch(repo.as_ref(), spool.as_ref(), &here, &a.name, &a.dest)
                .await
                .with_context(|| format!("fetching {}", a.name))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `holdfast pg archive --daemon`: the uploaders of holdfast.toml until SIGINT/SIGTERM.
async fn daemon(g: &GlobalArgs) -> Result<ExitCode, Failure> {
    let config: Arc<Config> = Arc::new(crate::context::load_config(g)?);
    let access = crate::context::access(g)?;
    let archivers = holdfast_agent::pg_archive::PgArchivers::new(&config);
    if archivers.is_empty() {
        return Err(Failure::usage(anyhow::anyhow!(
            "no Postgres database with archive = true in {}",
            g.config.display()
        )));
    }
    let shutdown = CancellationToken::new();
    crate::interrupt::Interrupt::cancelling(shutdown.clone());
    let notifier = holdfast_agent::notify::Notifier::new(&config.notify);
    let mut tasks = archivers.spawn(config, access, notifier, shutdown);
    while tasks.join_next().await.is_some() {}
    Ok(ExitCode::SUCCESS)
}

/// `holdfast restore latest:VOLUME --database NAME [--time T] [--target DIR]
/// [--dry-run]` of an archived Postgres database (or of any database the repository
/// holds Postgres WAL for, on a machine without holdfast.toml): plans with
/// [`recover::plan`], replays with [`recover::recover`], prints the point reached.
pub async fn restore_point(
    g: &GlobalArgs,
    args: &crate::cmd::restore::RestoreArgs,
    target: holdfast_repo::wal::Target,
    db: Option<&holdfast_volume::config::Database>,
) -> Result<ExitCode, Failure> {
    let name = args.database.as_deref().unwrap_or_default();
    let time = match target {
        holdfast_repo::wal::Target::Time(t) => Some(t),
        _ => None,
    };
    let repo = crate::context::open_repo(g).await?;
    let plan = recover::plan(&repo, name, time)
        .await
        .map_err(anyhow::Error::from)?;
    let say_plan = format!(
        "database {name}: base backup of {} (snapshot {}, WAL from {}), {} WAL files{}{}",
        plan.base
            .time
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        plan.base.snapshot.short(),
        plan.source.segment_name(plan.base.start),
        plan.files.len(),
        time.map(|t| format!(", replayed to {}", t.to_rfc3339()))
            .unwrap_or_else(|| ", replayed to the newest point".into()),
        plan.stops_before
            .as_ref()
            .map(|s| format!(" (stops before the gap at {s})"))
            .unwrap_or_default()
    );
    if args.dry_run {
        crate::context::outln!("would restore {say_plan}");
        return Ok(ExitCode::SUCCESS);
    }
    let Some(dir) = &args.target else {
        return Err(Failure::usage(anyhow::anyhow!(
            "a Postgres database is restored to a point in time under --target DIR (an empty \
             directory): stop the server, then move the directory in place of its data \
             directory"
        )));
    };
    let user = db.and_then(|d| match d {
        holdfast_volume::config::Database::Postgres { url, .. } => {
            let c = holdfast_volume::databases::postgres::Conninfo::from_url(url);
            c.dbname
                .split_once("://")
                .and_then(|(_, r)| r.split_once('@'))
                .map(|(u, _)| u.to_string())
        }
        _ => None,
    });
    let opts = recover::RecoverOptions {
        dir: dir.clone(),
        check: std::env::var("HOLDFAST_PG_CHECK").unwrap_or_else(|_| "select 1".into()),
        parallel: 8,
        user,
        bin: std::env::var_os("HOLDFAST_PG_BIN").map(PathBuf::from),
    };
    let done = recover::recover(&repo, &plan, &opts)
        .await
        .map_err(anyhow::Error::from)?;
    let reached = done
        .reached
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true));
    if g.json {
        crate::context::outln!(
            "{}",
            serde_json::json!({
                "database": name,
                "reached": reached,
                "base": plan.base.time,
                "snapshot": plan.base.snapshot.to_hex(),
                "wal_fetched": done.fetched,
                "wal_replayed": done.replayed,
                "dir": done.dir,
            })
        );
    } else if !g.quiet {
        crate::context::outln!(
            "restored database {name} to {} ({} WAL files replayed; {}) at {}",
            reached.as_deref().unwrap_or("the base backup's end"),
            done.replayed,
            say_plan,
            done.dir.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
