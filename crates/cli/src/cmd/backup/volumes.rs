//! `holdfast backup` without paths: every configured volume (or those named with
//! `--volume`), each with its databases, between the `[hooks]` commands, through the
//! volume crate's [`backup_all`] (the same orchestration as the scheduler and the HTTP
//! API). Each outcome is recorded on its volume and sent to the `[[notify]]` targets,
//! which get up to [`crate::common::FLUSH_LIMIT`] to receive them before the command exits.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::anyhow;
use holdfast_repo::BackupProgress;
use holdfast_volume::backup::{
    BackupStep, VolumeBackupError, VolumeBackupOptions, VolumeOutcome, backup_all, save_failure,
};
use holdfast_volume::config::{Config, Volume};
use holdfast_volume::freshness::one_line;

use super::args::BackupArgs;
use super::report::{print_reports, report};
use crate::context;
use crate::exit::{self, Failure};
use crate::global::GlobalArgs;
use holdfast_agent::backup::BackupObserver;
use holdfast_agent::notify::Notifier;

/// Backs up the selected volumes of the config file. A volume the guard refuses
/// ([`holdfast_volume::guard`]) is not backed up, the others are, and the command exits 3.
pub async fn run(g: &GlobalArgs, args: &BackupArgs) -> Result<ExitCode, Failure> {
    let config = context::load_config(g)?;
    for name in &args.volumes {
        if config.volume(name).is_none() {
            let known: Vec<&str> = config.volumes.iter().map(|v| v.name.as_str()).collect();
            return Err(Failure::usage(anyhow!(
                "no volume {name} in {} (volumes: {})",
                g.config.display(),
                known.join(", ")
            )));
        }
    }
    let selected: Vec<&Volume> = config
        .volumes
        .iter()
        .filter(|v| args.volumes.is_empty() || args.volumes.contains(&v.name))
        .collect();
    if selected.is_empty() {
        return Err(Failure::usage(anyhow!(
            "{} declares no volumes: pass PATH… or add [[volumes]]",
            g.config.display()
        )));
    }
    let notifier = Notifier::new(&config.notify);
    let result = backup(g, args, &config, &selected, &notifier).await;
    notifier.flush(crate::common::FLUSH_LIMIT).await;
    result
}

async fn backup(
    g: &GlobalArgs,
    args: &BackupArgs,
    config: &Config,
    selected: &[&Volume],
    notifier: &Notifier,
) -> Result<ExitCode, Failure> {
    let observer = BackupObserver {
        notifier,
        metrics: None,
    };
    // The backup loads the index under its lock; none is loaded before it.
    let mut repo = match context::open_repo(g).await {
        Ok(r) => holdfast_repo::IndexedRepository::without_index(r),
        Err(e) => {
            let message = one_line(&format!("{e:#}"));
            // The command's error line says it; the volumes only record it.
            for v in selected {
                save_failure(v, &message);
            }
            observer.all_failed(selected, &message);
            return Err(e.into());
        }
    };
    let progress = Arc::new(BackupProgress::default());
    // SIGINT/SIGTERM stop the running volume without committing; its lock is removed
    // and the `after_backup` hooks still run.
    let interrupt = crate::interrupt::Interrupt::listen();
    let opts = VolumeBackupOptions {
        cancel: interrupt.token.clone(),
        tags: args.tags.clone(),
        time: args.time.map(|t| t.with_timezone(&chrono::Utc)),
        excludes: args.excludes.clone(),
        progress: Some(progress.clone()),
        quiet_failures: true,
    };
    let roots = selected.iter().map(|v| v.path.clone()).collect();
    let bar = crate::progress::show_backup(g, progress, roots);
    let mut observe = |step: BackupStep<'_>| observer.step(&step);
    let result = backup_all(&mut repo, config, selected, &opts, &mut observe).await;
    drop(bar);
    if let Some(signal) = interrupt.received() {
        return Err(interrupted(signal, result.as_deref().unwrap_or_default()));
    }
    let outcomes = match result {
        Ok(o) => o,
        Err(e) => {
            if matches!(e, VolumeBackupError::BeforeHook(_)) {
                observer.all_failed(selected, &one_line(&e.to_string()));
            }
            return Err(anyhow::Error::from(e).into());
        }
    };
    let mut incomplete = false;
    let mut failed = Vec::new();
    let mut refused = false;
    let mut reports = Vec::new();
    for VolumeOutcome { result, .. } in &outcomes {
        match result {
            Ok(summary) => incomplete |= report(g, summary, &mut reports)?,
            Err(e) => {
                refused |= matches!(e, VolumeBackupError::Refused(_));
                failed.push(e.to_string());
            }
        }
    }
    print_reports(g, &reports)?;
    if !failed.is_empty() {
        // The guard found the problem on the volume: exit 3, like a check that found one.
        let error = anyhow!("backup failed: {}", failed.join("; "));
        return Err(Failure {
            error,
            code: if refused { exit::PROBLEMS } else { exit::ERROR },
        });
    }
    Ok(exit::problems_if(incomplete))
}

/// The failure of a volume backup stopped by `signal` (exit 130 or 143): which volumes
/// were committed before it, and that the rest of the repository is unchanged.
fn interrupted(signal: crate::interrupt::Signal, outcomes: &[VolumeOutcome]) -> Failure {
    let committed: Vec<&str> = outcomes
        .iter()
        .filter(|o| o.result.is_ok())
        .map(|o| o.volume.as_str())
        .collect();
    let done = if committed.is_empty() {
        "nothing was committed; the repository is unchanged".to_string()
    } else {
        format!(
            "only the snapshots of {} were committed",
            committed.join(", ")
        )
    };
    Failure {
        error: anyhow!(
            "backup cancelled by {}: {done}; run the backup again to continue",
            signal.name()
        ),
        code: signal.exit_code(),
    }
}
