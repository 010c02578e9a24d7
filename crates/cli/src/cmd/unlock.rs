//! `holdfast unlock`: removes stale locks (not refreshed for 30 minutes, or held by a
//! process of this host that is gone); `--all` removes every lock.

use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use holdfast_repo::UnlockOptions;
use holdfast_repo::lock::LockInfo;

use crate::context::{self, outln};
use crate::exit::Failure;
use crate::global::GlobalArgs;

/// Flags of `holdfast unlock`.
#[derive(Debug, Args)]
pub struct UnlockArgs {
    /// Remove every lock, fresh ones too (only when no other holdfast uses the repository).
    #[arg(long)]
    pub all: bool,
}

fn describe(key: &str, info: Option<&LockInfo>) -> String {
    match info {
        Some(i) => format!(
            "{key}: {} lock of pid {} on {} (last refreshed {})",
            if i.exclusive { "exclusive" } else { "shared" },
            i.pid,
            i.hostname,
            i.time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ),
        None => format!("{key}: unreadable"),
    }
}

/// Runs `holdfast unlock`.
pub async fn run(g: &GlobalArgs, args: UnlockArgs) -> Result<ExitCode, Failure> {
    let repo = context::open_repo(g).await?;
    if args.all {
        crate::global::stderr_line(
            tracing::Level::WARN,
            "removing every lock, fresh ones included; a backup or prune still running on \
             this repository is no longer protected",
        );
    }
    let opts = UnlockOptions {
        all: args.all,
        ..UnlockOptions::default()
    };
    let report = holdfast_repo::unlock(&repo, &opts)
        .await
        .context("removing locks")?;
    if g.json {
        let row = |(k, i): &(String, Option<LockInfo>)| serde_json::json!({"key": k, "lock": i});
        let out = serde_json::json!({
            "removed": report.removed.iter().map(row).collect::<Vec<_>>(),
            "kept": report.kept.iter().map(row).collect::<Vec<_>>(),
        });
        outln!(
            "{}",
            serde_json::to_string_pretty(&out).context("encoding report")?
        );
        return Ok(ExitCode::SUCCESS);
    }
    for (k, i) in &report.removed {
        outln!("removed {}", describe(k, i.as_ref()));
    }
    for (k, i) in &report.kept {
        outln!("kept    {}", describe(k, i.as_ref()));
    }
    outln!(
        "{} locks removed, {} kept",
        report.removed.len(),
        report.kept.len()
    );
    Ok(ExitCode::SUCCESS)
}
