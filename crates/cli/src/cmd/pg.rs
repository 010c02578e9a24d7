//! `holdfast pg archive %p` and `holdfast pg fetch %f %p`: Postgres' `archive_command`
//! and `restore_command` (the protocols in
//! [`holdfast_volume::databases::postgres`]); `holdfast pg archive --daemon` runs the
//! uploader ([`holdfast_agent::pg_archive`]) without `run`/`serve`. A restore of an
//! archived database to a point in time is `restore --database` (`cmd/restore/postgres.rs`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Subcommand};
use holdfast_volume::config::Config;
use holdfast_volume::databases::postgres::archive::{DEFAULT_SPOOL_BYTES, Spool};
use holdfast_volume::databases::postgres::configured::{self, SpoolChoiceError};
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
    #[command(
        after_help = "Examples:\n  holdfast pg archive pg_wal/000000010000000000000003\n  holdfast pg archive --daemon\n  archive_command = 'holdfast pg archive %p'"
    )]
    Archive(ArchiveArgs),
    /// restore_command: write a WAL file from the spool or the repository to a path.
    #[command(
        after_help = "Examples:\n  holdfast pg fetch 000000010000000000000003 pg_wal/RECOVERYXLOG\n  restore_command = 'holdfast pg fetch %f %p'"
    )]
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
    configured::spool(&config, a.database.as_deref()).map_err(|e| match e {
        SpoolChoiceError::Several => anyhow::anyhow!("{e}: pass --database NAME"),
        e => anyhow::anyhow!("{e} in {}: pass --spool DIR", g.config.display()),
    })
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
            if let Some(warning) = done.warning() {
                crate::global::stderr_line(tracing::Level::WARN, &warning);
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
