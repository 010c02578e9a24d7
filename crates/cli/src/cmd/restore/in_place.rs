//! `holdfast restore SNAPSHOT --in-place --yes`: restores a snapshot into its own volume
//! through [`holdfast_volume::restore::in_place`] (stage, check, swap; the protocol and its
//! crash guarantee are written there). This file maps flags to options, runs the guard,
//! shows progress and prints the outcome: a snapshot of an unconfigured volume or path is
//! refused (exit 2) and can be restored elsewhere with `--target DIR`.

use std::process::ExitCode;

use anyhow::{Context, anyhow};
use holdfast_repo::{Id, IndexedRepository, Snapshot};
use holdfast_volume::config::Config;
use holdfast_volume::restore::in_place::{self, InPlaceError, InPlaceOptions};
use holdfast_volume::swap::SwapOptions;

use crate::context::outln;
use crate::exit::Failure;
use crate::global::GlobalArgs;

/// Restores `snap` into its configured volume with a journaled swap.
pub async fn run(
    g: &GlobalArgs,
    repo: &IndexedRepository,
    id: Id,
    snap: &Snapshot,
    include: &[String],
    keep_old: bool,
) -> Result<ExitCode, Failure> {
    if !include.is_empty() {
        return Err(Failure::usage(anyhow!(
            "--in-place restores the whole snapshot; use --target DIR with --include"
        )));
    }
    let config = Config::load_optional(&g.config)
        .with_context(|| format!("loading {}", g.config.display()))?;
    let volume =
        in_place::volume_of(config.as_ref(), &g.config, id, snap).map_err(Failure::usage)?;
    super::guard::guard_replace(volume)?;
    let progress = std::sync::Arc::new(holdfast_repo::Progress::default());
    let opts = InPlaceOptions {
        swap: SwapOptions::standard(keep_old),
        progress: Some(progress.clone()),
        on_index: Some(super::guard::index_warnings()),
        ..Default::default()
    };
    let bar = crate::progress::show(g, progress, crate::progress::Unit::Bytes);
    let restored = in_place::restore_in_place(repo, volume, id, snap, &opts).await;
    drop(bar);
    let done = restored.map_err(|e| {
        if let InPlaceError::Damaged { damaged, .. } = &e {
            for d in damaged {
                crate::global::stderr_note(
                    tracing::Level::WARN,
                    &format!("damaged: {}: {}", d.path, d.error),
                    "",
                );
            }
        }
        anyhow::Error::from(e)
    })?;
    if let Some(kept) = &done.kept {
        crate::global::stderr_note(
            tracing::Level::INFO,
            &format!(
                "the old data of volume {} is kept in {}",
                volume.name,
                kept.display()
            ),
            "",
        );
    }
    if !g.quiet {
        outln!(
            "restored snapshot {} in place into {}: {} files, {}",
            done.snapshot,
            done.path.display(),
            done.files,
            indicatif::HumanBytes(done.bytes)
        );
    }
    Ok(ExitCode::SUCCESS)
}
