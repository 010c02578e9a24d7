//! `[[replicas]]` of holdfast.toml: opens each replica with its own password (from
//! `password_file` or `password_env`) and runs [`holdfast_repo::copy::replicate`] on it:
//! copy every snapshot it lacks, then apply its retention. One replica failing does not
//! stop the others; each outcome says what happened, with the lag left.
//!
//! `run`/`serve` call [`replicate_one`] after every backup or on the replica's cron
//! schedule (`crate::replication`).

use holdfast_repo::Repository;
use holdfast_repo::copy::{CopyOptions, ReplicateOptions, ReplicateReport};
use holdfast_volume::config::{Config, Replica};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::access::PasswordSource;
use crate::error::{Context as _, Error, Result};

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

impl ReplicaOutcome {
    /// The outcome in one line, as `holdfast copy --replicas` prints it: copied, skipped
    /// and forgotten snapshots and the lag left, or why it failed; `None` when it
    /// neither ran nor failed.
    pub fn line(&self) -> Option<String> {
        match (&self.report, &self.error) {
            (Some(r), _) => Some(format!(
                "replica {}: {} copied, {} skipped, {} forgotten; lag {} ({} s)",
                self.name,
                r.copy.copied.len(),
                r.copy.skipped.len(),
                r.forget.as_ref().map_or(0, |f| f.deleted),
                crate::text::count(r.lag.missing, "snapshot"),
                r.lag.lag_seconds
            )),
            (None, Some(e)) => Some(format!("replica {}: FAILED: {e}", self.name)),
            (None, None) => None,
        }
    }
}

/// The replica's password: `password_file`, else `password_env`.
fn replica_password(r: &Replica) -> Result<(String, String)> {
    let source = match (&r.password_file, &r.password_env) {
        (Some(f), _) => PasswordSource::File(f.clone()),
        (None, Some(var)) => PasswordSource::Env(var.clone()),
        (None, None) => {
            return Err(Error::ReplicaPassword {
                replica: r.display_name(),
            });
        }
    };
    let password = source
        .read()
        .with_context(|| format!("replica {}", r.display_name()))?;
    Ok((password, source.describe()))
}

/// Opens a replica's repository with its own password.
pub async fn open_replica(replica: &Replica) -> Result<Repository> {
    let (password, source) = replica_password(replica)?;
    crate::access::open_url(&replica.url, password, &source)
        .await
        .with_context(|| format!("opening replica {}", replica.display_name()))
}

/// Replicates `source` to one replica.
pub async fn replicate_one(
    source: &Repository,
    replica: &Replica,
    cancel: &CancellationToken,
) -> Result<ReplicateReport> {
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
                let message = crate::error::chain(&e);
                tracing::error!("replica {name}: {message}");
                ReplicaOutcome {
                    name,
                    report: None,
                    error: Some(message),
                }
            }
        };
        out.push(outcome);
    }
    out
}
