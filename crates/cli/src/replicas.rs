//! `[[replicas]]` of holdfast.toml: opens each replica with its own password (from
//! `password_file` or `password_env`) and runs [`holdfast_repo::copy::replicate`] on it:
//! copy every snapshot it lacks, then apply its retention. One replica failing does not
//! stop the others; each outcome says what happened, with the lag left.
//!
//! `run`/`serve` call [`replicate_one`] after every backup or on the replica's cron
//! schedule (`crate::serve::replication`).

use std::process::ExitCode;

use anyhow::Context;
use holdfast_repo::Repository;
use holdfast_repo::copy::{CopyOptions, ReplicateOptions, ReplicateReport};
use holdfast_volume::config::{Config, Replica};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::context::{self, outln};
use crate::global::GlobalArgs;

/// The outcome for one replica.
#[derive(Debug, Serialize)]
pub struct ReplicaOutcome {
    /// The replica's name (or redacted URL).
    pub name: String,
    /// What the run did, when it ran.
    #[serde(flatten)]
    pub report: Option<ReplicateReport>,
    /// Why it failed, when it did (never holds a secret).
    pub error: Option<String>,
}

/// The replica's password: `password_file`, else `password_env`.
fn replica_password(r: &Replica) -> anyhow::Result<String> {
    if let Some(f) = &r.password_file {
        return crate::password::from_file(f);
    }
    let var = r.password_env.as_deref().with_context(|| {
        format!(
            "replica {}: set password_file or password_env",
            r.display_name()
        )
    })?;
    crate::password::from_env(var).with_context(|| {
        format!(
            "replica {}: environment variable {var} is not set",
            r.display_name()
        )
    })
}

/// Opens a replica's repository with its own password.
pub async fn open_replica(replica: &Replica) -> anyhow::Result<Repository> {
    crate::cmd::copy::open_url(&replica.url, replica_password(replica)?)
        .await
        .with_context(|| format!("opening replica {}", replica.display_name()))
}

/// Replicates `source` to one replica.
pub async fn replicate_one(
    source: &Repository,
    replica: &Replica,
    cancel: &CancellationToken,
) -> anyhow::Result<ReplicateReport> {
    let target = open_replica(replica).await?;
    let opts = ReplicateOptions {
        copy: CopyOptions {
            cancel: cancel.clone(),
            ..CopyOptions::default()
        },
        retention: Some(replica.retention.policy()),
    };
    holdfast_repo::copy::replicate(source, &target, &opts)
        .await
        .with_context(|| format!("replicating to {}", replica.display_name()))
}

/// Replicates `source` to every replica of `config` that `which` picks, one after the
/// other (`|_| true`: all; `Replica::after_backup`: those to update after a backup).
pub async fn replicate_all(
    config: &Config,
    source: &Repository,
    which: impl Fn(&Replica) -> bool,
    cancel: &CancellationToken,
) -> Vec<ReplicaOutcome> {
    let mut out = Vec::new();
    for r in config.replicas.iter().filter(|r| which(r)) {
        let name = r.display_name();
        let outcome = match replicate_one(source, r, cancel).await {
            Ok(report) => ReplicaOutcome {
                name,
                report: Some(report),
                error: None,
            },
            Err(e) => {
                tracing::error!("replica {name}: {e:#}");
                ReplicaOutcome {
                    name,
                    report: None,
                    error: Some(format!("{e:#}")),
                }
            }
        };
        out.push(outcome);
    }
    out
}

/// `holdfast copy --replicas`: every replica of holdfast.toml; exit 3 when one failed.
pub async fn run_cli(
    g: &GlobalArgs,
    cancel: &CancellationToken,
) -> Result<ExitCode, crate::exit::Failure> {
    let config = Config::load_optional(&g.config)
        .with_context(|| format!("reading {}", g.config.display()))?
        .unwrap_or_default();
    if config.replicas.is_empty() {
        return Err(crate::exit::Failure::usage(anyhow::anyhow!(
            "no [[replicas]] in {}",
            g.config.display()
        )));
    }
    let source = context::open_repo(g).await?;
    let outcomes = replicate_all(&config, &source, |_| true, cancel).await;
    let failed = outcomes.iter().any(|o| o.error.is_some());
    if g.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&outcomes).map_err(anyhow::Error::from)?
        );
    } else {
        for o in &outcomes {
            match (&o.report, &o.error) {
                (Some(r), _) => outln!(
                    "replica {}: {} copied, {} skipped, {} forgotten; lag {} ({} s)",
                    o.name,
                    r.copy.copied.len(),
                    r.copy.skipped.len(),
                    r.forget.as_ref().map_or(0, |f| f.deleted),
                    crate::text::count(r.lag.missing, "snapshot"),
                    r.lag.lag_seconds
                ),
                (None, Some(e)) => outln!("replica {}: FAILED: {e}", o.name),
                (None, None) => {}
            }
        }
    }
    Ok(crate::cmd::copy::replication_code(failed))
}
