//! The `holdfast` binary: parses flags, builds the options of a library operation, runs
//! it and maps every error to an exit code in one place.
//!
//! Exit codes: 0 ok, 1 error, 2 usage, 3 a check found problems.

mod cmd;
mod context;
mod exit;
mod global;
mod notify;
mod password;
mod progress;
mod replicas;
mod serve;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::exit::Failure;
use crate::global::GlobalArgs;

/// Keeps the data of stateful apps safe on persistent volumes.
#[derive(Debug, Parser)]
#[command(name = "holdfast", version, about, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

/// Every subcommand; each one lives in its own file under `cmd/`.
#[derive(Debug, Subcommand)]
enum Command {
    /// Create a repository.
    #[command(
        after_help = "Examples:\n  holdfast --repo file:///srv/backups init\n  HOLDFAST_REPOSITORY=s3://bucket/app HOLDFAST_PASSWORD_FILE=pw.txt holdfast init"
    )]
    Init(cmd::init::InitArgs),
    /// Snapshot paths: one snapshot per PATH.
    #[command(
        after_help = "Examples:\n  holdfast backup /data --tag nightly\n  holdfast backup --volume app-data"
    )]
    Backup(cmd::backup::BackupArgs),
    /// List snapshots.
    #[command(
        after_help = "Examples:\n  holdfast snapshots\n  holdfast snapshots --volume app-data --json"
    )]
    Snapshots(cmd::snapshots::SnapshotsArgs),
    /// List the entries of a snapshot.
    Ls(cmd::ls::LsArgs),
    /// Compare two snapshots.
    Diff(cmd::diff::DiffArgs),
    /// Restore a snapshot into a directory.
    #[command(
        after_help = "Examples:\n  holdfast restore latest --target ./restored\n  holdfast restore latest --target /data --overwrite if-changed --dry-run -v\n  holdfast restore latest:app-data --in-place --yes"
    )]
    Restore(cmd::restore::RestoreArgs),
    /// Check the repository (and with --read-data every blob).
    #[command(
        after_help = "Examples:\n  holdfast verify\n  holdfast verify --read-data-subset 10%\n  holdfast verify --restore-test"
    )]
    Verify(cmd::verify::VerifyArgs),
    /// Write a snapshot as a .tar or .tar.zst.
    Export(cmd::export::ExportArgs),
    /// Apply a retention policy: forget the snapshots it does not keep.
    #[command(
        after_help = "Examples:\n  holdfast forget --keep-daily 7 --keep-weekly 4 --dry-run\n  holdfast forget --keep-last 10 --prune"
    )]
    Forget(cmd::forget::ForgetArgs),
    /// Remove data no snapshot references.
    Prune(cmd::prune::PruneArgs),
    /// Rebuild a damaged index from the packs (dry run without --yes).
    Repair(cmd::repair::RepairArgs),
    /// Remove stale locks (--all: every lock).
    Unlock(cmd::unlock::UnlockArgs),
    /// Probe every volume: mounted, writable, space, databases; exit 3 on alerts.
    #[command(
        after_help = "Examples:\n  holdfast status\n  holdfast status --volume app-data --json"
    )]
    Status(cmd::status::StatusArgs),
    /// Check holdfast.toml, railway.toml/json, Compose files and .env for data-loss risks.
    Lint(cmd::lint::LintArgs),
    /// Print a holdfast.toml for the volumes of a railway.toml/json or docker-compose.yml.
    Import(cmd::import::ImportArgs),
    /// Delete files older than a duration in a directory or store URL.
    Cleanup(cmd::cleanup::CleanupArgs),
    /// Copy a volume to new storage, keeping metadata, verified by hash.
    Migrate(cmd::migrate::MigrateArgs),
    /// Scheduler, HTTP API (health, metrics, files, uploads, cache) and status page.
    #[command(
        after_help = "Examples:\n  holdfast serve\n  HOLDFAST_LISTEN=0.0.0.0:9090 holdfast serve"
    )]
    Serve(cmd::serve::ServeArgs),
    /// Guard the volumes, restore what is missing, then run the app with backups and
    /// the HTTP API beside it; exits with the app's code.
    #[command(
        after_help = "Examples:\n  holdfast run -- node server.js\n  holdfast run --listen 0.0.0.0:9090 -- ./app"
    )]
    Run(cmd::run::RunArgs),
    /// Copy snapshots to or from a second repository (or to every [[replicas]]).
    #[command(
        after_help = "Examples:\n  holdfast copy --to s3://offsite/app --to-password-file offsite.pw\n  holdfast copy --replicas"
    )]
    Copy(cmd::copy::CopyArgs),
    /// Manage the repository's passwords (key files).
    Key(cmd::key::KeyArgs),
    /// Add, remove or set tags of snapshots.
    Tag(cmd::tag::TagArgs),
    /// Find files across snapshots by glob.
    Find(cmd::find::FindArgs),
    /// Raw, deduplicated and stored sizes per volume.
    Stats(cmd::stats::StatsArgs),
    /// Print a shell completion script (bash, zsh or fish) on stdout.
    #[command(
        after_help = "Examples:\n  holdfast completions bash > /etc/bash_completion.d/holdfast\n  holdfast completions fish > ~/.config/fish/completions/holdfast.fish"
    )]
    Completions(cmd::conventions::CompletionsArgs),
    /// Print the man page (roff) on stdout.
    #[command(
        after_help = "Examples:\n  holdfast man > /usr/local/share/man/man1/holdfast.1\n  holdfast man | man -l -"
    )]
    Man,
    /// Print the version and build target (--json: one object).
    Version,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let long_running = matches!(cli.command, Command::Run(_) | Command::Serve(_));
    global::init_logging(&cli.global, long_running);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return exit::report(&Failure::from(anyhow::Error::from(e))),
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(failure) => exit::report(&failure),
    }
}

async fn run(cli: Cli) -> Result<ExitCode, Failure> {
    let g = cli.global;
    match cli.command {
        Command::Cleanup(args) => cmd::cleanup::run(&g, args).await,
        Command::Migrate(args) => cmd::migrate::run(&g, args).await,
        Command::Init(args) => cmd::init::run(&g, args).await,
        Command::Backup(args) => cmd::backup::run(&g, args).await,
        Command::Snapshots(args) => cmd::snapshots::run(&g, args).await,
        Command::Ls(args) => cmd::ls::run(&g, args).await,
        Command::Diff(args) => cmd::diff::run(&g, args).await,
        Command::Restore(args) => cmd::restore::run(&g, args).await,
        Command::Verify(args) => cmd::verify::run(&g, args).await,
        Command::Export(args) => cmd::export::run(&g, args).await,
        Command::Forget(args) => cmd::forget::run(&g, args).await,
        Command::Prune(args) => cmd::prune::run(&g, args).await,
        Command::Repair(args) => cmd::repair::run(&g, args).await,
        Command::Unlock(args) => cmd::unlock::run(&g, args).await,
        Command::Status(args) => cmd::status::run(&g, args).await,
        Command::Lint(args) => cmd::lint::run(&g, args).await,
        Command::Import(args) => cmd::import::run(&g, args).await,
        Command::Serve(args) => cmd::serve::run(&g, args).await,
        Command::Run(args) => cmd::run::run(&g, args).await,
        Command::Copy(args) => cmd::copy::run(&g, args).await,
        Command::Key(args) => cmd::key::run(&g, args).await,
        Command::Tag(args) => cmd::tag::run(&g, args).await,
        Command::Find(args) => cmd::find::run(&g, args).await,
        Command::Stats(args) => cmd::stats::run(&g, args).await,
        Command::Completions(args) => cmd::conventions::completions::<Cli>(&args),
        Command::Man => cmd::conventions::man::<Cli>(),
        Command::Version => cmd::conventions::version(g.json),
    }
}
