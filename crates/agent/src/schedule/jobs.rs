//! The scheduled work, built from holdfast.toml: `[schedule] backup` (every volume
//! with its databases, one snapshot each, inside `[hooks]`), `verify` (the repository's
//! structure), `prune` (`forget` with `[retention]`, then `prune`; the repository's own
//! locks keep it apart from backups) and each `[[cleanup]]` (`holdfast cleanup` on a
//! schedule: files under `path` older than `older_than`, only those matching `filter`;
//! a cleanup without its own schedule follows the backup schedule).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use holdfast_repo::{ForgetOptions, PruneOptions};
use holdfast_volume::cleanup::{CleanupOptions, CleanupReport, cleanup_path};
use holdfast_volume::config::{CleanupJob, Config, Retention};
use holdfast_volume::guard::{self, Door};

use crate::access::RepoAccess;
use crate::backup::{BackupSinks, backup_volumes};
use crate::error::Result;
use crate::notify::{Event, Notifier};
use crate::schedule::{Job, JobFn};
use crate::verify::{VerifyRunOptions, verify_and_drill};

/// What the jobs need.
#[derive(Clone)]
pub struct JobContext {
    /// The configuration.
    pub config: Arc<Config>,
    /// The repository.
    pub repo: RepoAccess,
    /// Where backups report their outcome.
    pub sinks: BackupSinks,
    /// Shared with `POST /api/v1/backups`.
    pub backup_lock: Arc<tokio::sync::Mutex<()>>,
}

/// Every job the configuration schedules.
pub fn build(ctx: &JobContext) -> Result<Vec<Job>> {
    let schedule = &ctx.config.schedule;
    let mut jobs = Vec::new();
    if let Some(p) = &schedule.backup {
        let c = ctx.clone();
        let run: JobFn = Arc::new(move || {
            let c = c.clone();
            Box::pin(async move {
                let reports = backup_volumes(&c.repo, &c.config, None, &c.sinks).await?;
                let added: u64 = reports.iter().map(|r| r.added).sum();
                Ok(backup_result(reports.len(), added))
            })
        });
        jobs.push(Job::new("backup", p, run, ctx.backup_lock.clone())?);
    }
    if let Some(p) = &schedule.verify {
        let c = ctx.clone();
        let run: JobFn = Arc::new(move || {
            let c = c.clone();
            Box::pin(async move {
                verify(
                    &c.repo,
                    c.config.schedule.restore_test.then_some(&*c.config),
                    &c.sinks.notifier,
                )
                .await
            })
        });
        jobs.push(Job::new("verify", p, run, Arc::default())?);
    }
    if let Some(p) = &schedule.prune {
        let (repo, retention) = (ctx.repo.clone(), ctx.config.retention.clone());
        let run: JobFn = Arc::new(move || {
            let (repo, retention) = (repo.clone(), retention.clone());
            Box::pin(async move { forget_and_prune(&repo, &retention).await })
        });
        jobs.push(Job::new("prune", p, run, Arc::default())?);
    }
    let base = ctx
        .config
        .source
        .as_ref()
        .and_then(|p| p.parent())
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let base = std::path::absolute(&base).unwrap_or(base);
    for (i, c) in ctx.config.cleanup.iter().enumerate() {
        let Some(p) = c.schedule.as_ref().or(schedule.backup.as_ref()) else {
            tracing::warn!(
                "[[cleanup]] {} has no schedule and there is no backup schedule: not run",
                c.path
            );
            continue;
        };
        let mut name = format!("cleanup:{}", c.path);
        if jobs.iter().any(|j| j.name == name) {
            name = format!("{name}#{}", i + 1);
        }
        let (job, base, config) = (c.clone(), base.clone(), ctx.config.clone());
        let run: JobFn = Arc::new(move || {
            let (job, base, config) = (job.clone(), base.clone(), config.clone());
            Box::pin(async move {
                guard_cleanup(&config, &job, &base).await?;
                let r = cleanup(&job, &base, Utc::now()).await?;
                Ok(format!(
                    "deleted {}, {}, {}",
                    crate::text::count(r.deleted, "file"),
                    holdfast_volume::units::format_size(r.bytes),
                    crate::text::count(r.errors, "error")
                ))
            })
        });
        jobs.push(Job::new(&name, p, run, Arc::default())?);
    }
    Ok(jobs)
}

/// The result of a scheduled backup, sizes as the command line prints them
/// (`2 snapshots, 281.4 KiB added`).
fn backup_result(snapshots: usize, added: u64) -> String {
    format!(
        "{}, {} added",
        crate::text::count(snapshots, "snapshot"),
        holdfast_volume::units::format_size(added)
    )
}

/// `holdfast verify` without `--read-data` ([`crate::verify`]): the structure of the
/// repository, then, with `[schedule] restore_test`, a restore drill of each volume's
/// latest snapshot; any problem fails the run. The result (with the drills' measured
/// restore time) is notified.
async fn verify(repo: &RepoAccess, drill: Option<&Config>, notifier: &Notifier) -> Result<String> {
    let opts = VerifyRunOptions {
        drill: drill.map(Some),
        ..VerifyRunOptions::default()
    };
    let run = match repo.open().await {
        Ok(repo) => verify_and_drill(&repo, opts, |_| {}).await,
        Err(e) => Err(e),
    };
    match run {
        Ok(run) => {
            notifier.notify(run.event());
            run.into_result()
        }
        Err(e) => {
            notifier.notify(Event::VerifyFinished {
                ok: false,
                problems: 1,
                restore_time: None,
                summary: holdfast_volume::freshness::one_line(&crate::error::chain(&e)),
            });
            Err(e)
        }
    }
}

/// `forget` with `[retention]` (skipped when it is empty), then `prune`.
async fn forget_and_prune(repo: &RepoAccess, retention: &Retention) -> Result<String> {
    let repo = repo.open().await?;
    let mut forgotten = 0;
    if !retention.is_empty() {
        let opts = ForgetOptions {
            policy: retention.policy(),
            ..ForgetOptions::default()
        };
        forgotten = holdfast_repo::forget(&repo, &opts).await?.deleted;
    }
    let p = holdfast_repo::prune(&repo, &PruneOptions::default()).await?;
    Ok(format!(
        "forgot {}; packs {} -> {} ({} deleted, {} repacked); replicated wal: {} deleted",
        crate::text::count(forgotten, "snapshot"),
        p.packs_before,
        p.packs_after,
        p.packs_deleted,
        p.packs_repacked,
        crate::text::count(p.wal.deleted, "lineage"),
    ))
}

/// The guard before a `[[cleanup]]` job deletes files inside a configured volume
/// ([`guard::volume_of`], then [`Door::Write`]): an unmounted volume, or one with an
/// interrupted restore pending, is left alone and the job fails with the reason.
async fn guard_cleanup(config: &Arc<Config>, job: &CleanupJob, base: &Path) -> Result<()> {
    if job.path.contains("://") {
        return Ok(());
    }
    let target = base.join(&job.path);
    let Some(volume) = guard::volume_of(config, &target).cloned() else {
        return Ok(());
    };
    tokio::task::spawn_blocking(move || guard::enter(&volume, Door::Write)).await??;
    Ok(())
}

/// Runs one `[[cleanup]]` entry through the volume crate's cleanup (the same rules as
/// `holdfast cleanup`): files under `path` last modified before `now - older_than`, only
/// those matching `filter` when set. A relative `path` is relative to `base` (the config
/// file's directory); a missing directory is an empty report and is not created.
pub async fn cleanup(job: &CleanupJob, base: &Path, now: DateTime<Utc>) -> Result<CleanupReport> {
    let target = if job.path.contains("://") || Path::new(&job.path).is_absolute() {
        job.path.clone()
    } else {
        base.join(&job.path).to_string_lossy().into_owned()
    };
    let opts = CleanupOptions {
        older_than: job.older_than.get(),
        filter: job.filter.clone(),
        dry_run: false,
        now: Some(now.into()),
    };
    let report = cleanup_path(&target, &opts).await?;
    for p in &report.problems {
        tracing::warn!("cleanup {target}: {p}");
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backup_result_says_sizes_as_the_command_line_does() {
        assert_eq!(backup_result(1, 288_160), "1 snapshot, 281.4 KiB added");
    }
    use holdfast_volume::units::HumanDuration;

    #[tokio::test]
    async fn cleanup_deletes_only_old_matching_files() -> Result<()> {
        let base = tempfile::tempdir()?;
        let root = base.path().join("files");
        std::fs::create_dir_all(root.join("sub"))?;
        for f in ["a.log", "b.txt", "sub/c.log"] {
            std::fs::write(root.join(f), "x")?;
        }
        let job = CleanupJob {
            path: "files".into(),
            older_than: HumanDuration(std::time::Duration::from_secs(3600)),
            filter: Some("*.log".into()),
            schedule: None,
        };
        let now = Utc::now();
        let r = cleanup(&job, base.path(), now).await?;
        assert_eq!(r.deleted, 0, "nothing is an hour old yet");
        let r = cleanup(&job, base.path(), now + chrono::Duration::hours(2)).await?;
        assert_eq!((r.deleted, r.errors), (2, 0));
        assert!(root.join("b.txt").exists());
        assert!(!root.join("sub/c.log").exists());
        Ok(())
    }

    /// The scheduled cleanup of a directory inside a volume with an interrupted restore
    /// pending deletes nothing and fails with the reason; the same job on a volume
    /// without one runs.
    #[tokio::test]
    async fn a_cleanup_job_leaves_a_volume_with_a_pending_swap_alone() -> Result<()> {
        let base = tempfile::tempdir()?;
        let vol = base.path().join("vol");
        std::fs::create_dir_all(vol.join("tmp"))?;
        std::fs::write(vol.join("tmp/old.log"), "x")?;
        let config: Config =
            format!("[[volumes]]\nname = \"v\"\npath = \"{}\"\n", vol.display()).parse()?;
        let config = Arc::new(config);
        let job = CleanupJob {
            path: "vol/tmp".into(),
            older_than: HumanDuration(std::time::Duration::from_secs(1)),
            filter: None,
            schedule: None,
        };
        guard_cleanup(&config, &job, base.path()).await?;
        std::fs::create_dir_all(vol.join(".holdfast/swap/0001"))?;
        let refused = guard_cleanup(&config, &job, base.path())
            .await
            .expect_err("a pending swap refuses the cleanup");
        assert!(
            refused
                .to_string()
                .contains("an interrupted restore is pending"),
            "{refused}"
        );
        assert!(vol.join("tmp/old.log").exists());
        Ok(())
    }
}
