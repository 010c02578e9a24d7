//! The `holdfast` binary: parses flags, builds the options of a library operation, runs
//! it and maps every error to an exit code in one place.
//!
//! Exit codes: 0 ok, 1 error, 2 usage, 3 a check found problems, 130/143 a backup stopped
//! by SIGINT/SIGTERM ([`interrupt`]).

mod cmd;
mod common;
mod context;
mod exit;
mod filter;
mod global;
mod interrupt;
mod progress;
mod select;

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
    #[command(
        after_help = "Examples:\n  holdfast ls latest:app-data\n  holdfast ls latest:app-data db --json"
    )]
    Ls(cmd::ls::LsArgs),
    /// Compare two snapshots.
    #[command(
        after_help = "Examples:\n  holdfast diff latest:app-data~1 latest:app-data\n  holdfast diff 3f2a9c1e latest:app-data --json"
    )]
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
    #[command(
        after_help = "Examples:\n  holdfast export latest:app-data --output app-data.tar.zst\n  holdfast export 3f2a9c1e -o snapshot.tar"
    )]
    Export(cmd::export::ExportArgs),
    /// Apply a retention policy: forget the snapshots it does not keep.
    #[command(
        after_help = "Examples:\n  holdfast forget --keep-daily 7 --keep-weekly 4 --dry-run\n  holdfast forget --keep-last 10 --prune\n  holdfast forget 86b7b026 latest:app-data~1 --dry-run"
    )]
    Forget(cmd::forget::ForgetArgs),
    /// Remove data no snapshot references.
    #[command(
        after_help = "Examples:\n  holdfast prune --dry-run\n  holdfast prune --max-unused 0% --retry-lock 10m"
    )]
    Prune(cmd::prune::PruneArgs),
    /// Rebuild a damaged index from the packs (dry run without --yes).
    #[command(
        after_help = "Examples:\n  holdfast repair index\n  holdfast repair index --yes\n  holdfast repair snapshots --yes --forget"
    )]
    Repair(cmd::repair::RepairArgs),
    /// Remove stale locks (--all: every lock).
    #[command(after_help = "Examples:\n  holdfast unlock\n  holdfast unlock --all")]
    Unlock(cmd::unlock::UnlockArgs),
    /// Probe every volume: mounted, writable, space, databases; exit 3 on alerts.
    #[command(
        after_help = "Examples:\n  holdfast status\n  holdfast status --volume app-data --json"
    )]
    Status(cmd::status::StatusArgs),
    /// Check holdfast.toml, railway.toml/json, Compose files and .env for data-loss risks.
    #[command(after_help = "Examples:\n  holdfast lint\n  holdfast lint ./my-app --json")]
    Lint(cmd::lint::LintArgs),
    /// Print a holdfast.toml for the volumes of a railway.toml/json or docker-compose.yml.
    #[command(
        after_help = "Examples:\n  holdfast import railway.toml > holdfast.toml\n  holdfast import docker-compose.yml > holdfast.toml"
    )]
    Import(cmd::import::ImportArgs),
    /// Delete files older than a duration in a directory or store URL.
    #[command(
        after_help = "Examples:\n  holdfast cleanup /data/tmp --older-than 7d --dry-run\n  holdfast cleanup s3://bucket/exports --older-than 30d --filter '*.csv'"
    )]
    Cleanup(cmd::cleanup::CleanupArgs),
    /// Copy a volume to new storage, keeping metadata, verified by hash.
    #[command(
        after_help = "Examples:\n  holdfast migrate /data /mnt/new-volume\n  holdfast migrate /data s3://bucket/data-copy --workers 8"
    )]
    Migrate(cmd::migrate::MigrateArgs),
    /// Scheduler, HTTP API (health, metrics, files, uploads, cache) and status page.
    #[command(
        after_help = "Examples:\n  holdfast serve\n  HOLDFAST_LISTEN=0.0.0.0:9090 holdfast serve"
    )]
    Serve(common::ServeArgs),
    /// Guard the volumes, restore what is missing, then run the app with backups and
    /// the HTTP API beside it; exits with the app's code.
    #[command(
        after_help = "Examples:\n  holdfast run -- node server.js\n  holdfast run --listen 0.0.0.0:9090 -- ./app"
    )]
    Run(cmd::run::RunArgs),
    /// Postgres WAL archiving: archive_command and restore_command.
    #[command(
        after_help = "Examples:\n  holdfast pg archive --daemon\n  archive_command = 'holdfast pg archive %p'\n  restore_command = 'holdfast pg fetch %f %p'"
    )]
    Pg(cmd::pg::PgArgs),
    /// Copy snapshots to or from a second repository (or to every [[replicas]]).
    #[command(
        after_help = "Examples:\n  holdfast copy --to s3://offsite/app --to-password-file offsite.pw\n  holdfast copy --replicas"
    )]
    Copy(cmd::copy::CopyArgs),
    /// Manage the repository's passwords (key files).
    #[command(
        after_help = "Examples:\n  holdfast key list\n  holdfast key add --new-password-file new.pw\n  holdfast key passwd --new-password-file new.pw"
    )]
    Key(cmd::key::KeyArgs),
    /// Add, remove or set tags of snapshots.
    #[command(
        after_help = "Examples:\n  holdfast tag latest:app-data --add keep\n  holdfast tag 3f2a9c1e --remove nightly --add monthly"
    )]
    Tag(cmd::tag::TagArgs),
    /// Find files across snapshots by glob.
    #[command(
        after_help = "Examples:\n  holdfast find '*.db'\n  holdfast find 'uploads/**/*.png' --volume app-data --since 7d"
    )]
    Find(cmd::find::FindArgs),
    /// Raw, deduplicated and stored sizes per volume.
    #[command(
        after_help = "Examples:\n  holdfast stats\n  holdfast stats --volume app-data --json"
    )]
    Stats(cmd::stats::StatsArgs),
    /// Print a shell completion script (bash, zsh or fish) on stdout.
    #[command(
        after_help = "Examples:\n  holdfast completions bash > /etc/bash_completion.d/holdfast\n  holdfast completions fish > ~/.config/fish/completions/holdfast.fish"
    )]
    Completions(cmd::conventions::CompletionsArgs),
    /// Print the man page (roff) on stdout.
    #[command(
        after_help = "Examples:\n  holdfast man | man -l -\n  holdfast man --dir /usr/local/share/man/man1"
    )]
    Man(cmd::conventions::ManArgs),
    /// Print the version and build target (--json: one object).
    #[command(after_help = "Examples:\n  holdfast version\n  holdfast version --json")]
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
    let long_running = matches!(cli.command, Command::Run(_) | Command::Serve(_))
        || matches!(&cli.command, Command::Pg(cmd::pg::PgArgs { command: cmd::pg::PgCommand::Archive(a) }) if a.daemon);
    global::init_logging(&cli.global, long_running);
    holdfast_agent::console::install(Box::new(global::stderr_event));
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
        Command::Pg(args) => cmd::pg::run(&g, args).await,
        Command::Key(args) => cmd::key::run(&g, args).await,
        Command::Tag(args) => cmd::tag::run(&g, args).await,
        Command::Find(args) => cmd::find::run(&g, args).await,
        Command::Stats(args) => cmd::stats::run(&g, args).await,
        Command::Completions(args) => cmd::conventions::completions::<Cli>(&args),
        Command::Man(args) => cmd::conventions::man::<Cli>(&args),
        Command::Version => cmd::conventions::version(g.json),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    /// The `--help` of `cmd` and of every subcommand below it, by command path.
    fn helps(cmd: &mut clap::Command, path: &str, out: &mut Vec<(String, String)>) {
        out.push((path.to_owned(), cmd.render_long_help().to_string()));
        let names: Vec<String> = cmd
            .get_subcommands()
            .map(|c| c.get_name().to_owned())
            .filter(|n| n != "help")
            .collect();
        for name in names {
            if let Some(sub) = cmd.find_subcommand_mut(&name) {
                helps(sub, &format!("{path} {name}"), out);
            }
        }
    }

    /// Finding (issue 25): 15 of 27 subcommands' `--help` ended without examples, and
    /// the global options were listed among each command's own.
    #[test]
    fn every_subcommand_help_ends_with_examples_and_lists_global_options_apart() {
        let mut cmd = Cli::command();
        cmd.build();
        let mut all = Vec::new();
        helps(&mut cmd, "holdfast", &mut all);
        let (_, subcommands) = all.split_first().expect("the root's help");
        assert!(subcommands.len() >= 27, "{}", subcommands.len());
        let missing: Vec<&str> = subcommands
            .iter()
            .filter(|(_, help)| !help.contains("\nExamples:\n  holdfast "))
            .map(|(path, _)| path.as_str())
            .collect();
        assert!(missing.is_empty(), "no examples in: {missing:?}");
        for (path, help) in subcommands {
            let global = help
                .find("\nGlobal options:\n")
                .unwrap_or_else(|| panic!("{path}: no Global options heading:\n{help}"));
            let config = help.find("--config").unwrap_or_default();
            assert!(
                config > global,
                "{path}: --config not under Global options:\n{help}"
            );
        }
    }
}
