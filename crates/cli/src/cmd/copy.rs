//! `holdfast copy`: copies snapshots to (`--to URL`) or from (`--from URL`) a second
//! repository with its own password, or (`--replicas`) brings every `[[replicas]]` of
//! holdfast.toml up to date. The protocol is [`holdfast_repo::copy`]; this file only
//! finds the passwords and prints the report.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use holdfast_agent::access::PasswordSource;
use holdfast_repo::{CopyOptions, CopyReport, Repository};
use holdfast_volume::config::Config;
use tokio_util::sync::CancellationToken;

use crate::context::{self, out, outln};
use crate::exit::{self, Failure};
use crate::global::GlobalArgs;

/// Flags of `holdfast copy`.
#[derive(Debug, Args)]
pub struct CopyArgs {
    /// Snapshots to copy (id prefix, latest, latest:VOLUME, latest~N); all when none.
    #[arg(value_name = "SNAPSHOT")]
    pub snapshots: Vec<String>,
    /// Copy into this repository.
    #[arg(long, value_name = "URL", conflicts_with_all = ["from", "replicas"])]
    pub to: Option<String>,
    /// Copy from this repository into the one of --repo / holdfast.toml.
    #[arg(long, value_name = "URL", conflicts_with = "replicas")]
    pub from: Option<String>,
    /// File holding the password of the --to repository (else HOLDFAST_TO_PASSWORD).
    #[arg(long, value_name = "FILE")]
    pub to_password_file: Option<PathBuf>,
    /// File holding the password of the --from repository (else HOLDFAST_FROM_PASSWORD).
    #[arg(long, value_name = "FILE")]
    pub from_password_file: Option<PathBuf>,
    /// Replicate to every [[replicas]] of holdfast.toml (copy what each lacks, then
    /// apply its retention).
    #[arg(long)]
    pub replicas: bool,
    /// Only say what would be copied.
    #[arg(long)]
    pub dry_run: bool,
}

/// The other repository's password (the file flag, else the environment variable) and
/// where it came from.
fn other_password(
    file: Option<&PathBuf>,
    var: &str,
    flag: &str,
) -> anyhow::Result<(String, String)> {
    let source = match file {
        Some(f) => PasswordSource::File(f.clone()),
        None => PasswordSource::Env(var.to_owned()),
    };
    let password = source.read().with_context(|| {
        format!("no password for the other repository: set {var} or pass {flag}")
    })?;
    Ok((password, source.describe()))
}

/// Opens the other repository at `url`.
async fn open_other(url: &str, (password, source): (String, String)) -> anyhow::Result<Repository> {
    Ok(holdfast_agent::access::open_url(url, password, &source).await?)
}

/// Runs `holdfast copy`.
pub async fn run(g: &GlobalArgs, args: CopyArgs) -> Result<ExitCode, Failure> {
    let cancel = tokio_util::sync::CancellationToken::new();
    crate::interrupt::Interrupt::cancelling(cancel.clone());
    if args.replicas {
        return run_replicas(g, &cancel).await;
    }
    let here = context::open_repo(g).await?;
    let (source, target) = match (&args.to, &args.from) {
        (Some(url), None) => {
            let pw = other_password(
                args.to_password_file.as_ref(),
                "HOLDFAST_TO_PASSWORD",
                "--to-password-file",
            )?;
            (here, open_other(url, pw).await?)
        }
        (None, Some(url)) => {
            let pw = other_password(
                args.from_password_file.as_ref(),
                "HOLDFAST_FROM_PASSWORD",
                "--from-password-file",
            )?;
            (open_other(url, pw).await?, here)
        }
        _ => {
            return Err(Failure::usage(anyhow::anyhow!(
                "give --to URL, --from URL or --replicas"
            )));
        }
    };
    let progress = std::sync::Arc::new(holdfast_repo::Progress::default());
    let opts = CopyOptions {
        snapshots: args.snapshots,
        dry_run: args.dry_run,
        cancel,
        progress: Some(progress.clone()),
        ..CopyOptions::default()
    };
    let bar = crate::progress::show(g, progress, crate::progress::Unit::Items("snapshots"));
    let report = holdfast_repo::copy(&source, &target, &opts).await;
    drop(bar);
    let report = report.map_err(context::fail)?;
    print_report(g, &report)?;
    Ok(ExitCode::SUCCESS)
}

/// Prints a copy report (JSON with --json).
fn print_report(g: &GlobalArgs, r: &CopyReport) -> anyhow::Result<()> {
    if g.json {
        outln!("{}", serde_json::to_string_pretty(r)?);
        return Ok(());
    }
    if g.quiet {
        return Ok(());
    }
    out!("{}", holdfast_repo::copy::text::render(r));
    Ok(())
}

/// `holdfast copy --replicas`: every replica of holdfast.toml; exit 3 when one failed.
async fn run_replicas(g: &GlobalArgs, cancel: &CancellationToken) -> Result<ExitCode, Failure> {
    let config = Config::load_optional(&g.config)
        .with_context(|| format!("reading {}", g.config.display()))?
        .unwrap_or_default();
    if config.replicas.is_empty() {
        return Err(Failure::usage(anyhow::anyhow!(
            "no [[replicas]] in {}",
            g.config.display()
        )));
    }
    let source = crate::context::open_repo(g).await?;
    let outcomes =
        holdfast_agent::replication::replicas::replicate_all(&config, &source, |_| true, cancel)
            .await;
    let failed = outcomes.iter().any(|o| o.error.is_some());
    if g.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&outcomes).map_err(anyhow::Error::from)?
        );
    } else {
        for line in outcomes.iter().filter_map(|o| o.line()) {
            outln!("{line}");
        }
    }
    Ok(exit::problems_if(failed))
}
