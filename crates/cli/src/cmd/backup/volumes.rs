//! `holdfast backup` without paths: every configured volume (or those named with
//! `--volume`), each with its databases, between the `[hooks]` commands.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, anyhow};
use holdfast_repo::{BackupProgress, IndexedRepository};
use holdfast_volume::backup::{VolumeBackupOptions, backup_volume, with_hooks};
use holdfast_volume::config::Config;

use super::BackupArgs;
use crate::exit::{self, Failure};
use crate::global::GlobalArgs;

/// Backs up the selected volumes of the config file.
pub async fn run(
    g: &GlobalArgs,
    args: &BackupArgs,
    repo: &mut IndexedRepository,
) -> Result<ExitCode, Failure> {
    let config = Config::load(&g.config).with_context(|| {
        format!(
            "no PATH given, so the volumes of {} are backed up",
            g.config.display()
        )
    })?;
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
    let selected: Vec<_> = config
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
    let summaries = with_hooks(&config, || async {
        let mut out = Vec::new();
        for volume in &selected {
            let progress = Arc::new(BackupProgress::default());
            let opts = VolumeBackupOptions {
                tags: args.tags.clone(),
                time: args.time.map(|t| t.with_timezone(&chrono::Utc)),
                excludes: args.excludes.clone(),
                progress: Some(progress.clone()),
            };
            let bar = if g.json || g.quiet {
                None
            } else {
                super::progress_bar(progress)
            };
            let result = backup_volume(repo, volume, &opts).await;
            if let Some(b) = bar {
                b.abort();
                eprint!("\r\x1b[2K");
            }
            out.push(result?);
        }
        Ok(out)
    })
    .await
    .map_err(anyhow::Error::from)?;
    let mut incomplete = false;
    for summary in &summaries {
        incomplete |= super::report(g, summary)?;
    }
    Ok(exit::problems_if(incomplete))
}
