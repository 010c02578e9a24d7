//! `holdfast restore SNAPSHOT --in-place --yes`: restores a snapshot into its own volume.
//!
//! The target is the path of the configured volume the snapshot was taken of (looked up
//! by the snapshot's volume name in holdfast.toml), never the `root` the snapshot itself
//! records: a snapshot of an unconfigured volume or path is refused (exit 2) and can be
//! restored elsewhere with `--target DIR`. The data is replaced through the volume
//! crate's journaled swap ([`holdfast_volume::swap`]): the snapshot is restored into a
//! stage inside the volume's `.holdfast/swap/`, checked (any damaged entry stops it there,
//! with the live data untouched), then the volume's top-level entries are swapped for the
//! staged ones. A crash at any point leaves the old or the new entries whole once the
//! next `restore` or `run` has recovered; `.holdfast` itself is never swapped.

use std::process::ExitCode;

use anyhow::{Context, anyhow};
use holdfast_repo::{Id, IndexedRepository, RestoreOptions, Snapshot};
use holdfast_volume::config::Config;
use holdfast_volume::swap::{Selection, Swap, SwapOptions};

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
    let tag = id.short();
    let config = Config::load_optional(&g.config)
        .with_context(|| format!("loading {}", g.config.display()))?;
    let volume = snap
        .volume
        .as_deref()
        .and_then(|name| config.as_ref().and_then(|c| c.volume(name)));
    let Some(volume) = volume else {
        return Err(Failure::usage(anyhow!(
            "snapshot {tag} is of {}, which is not a configured volume in {}: restore it elsewhere with --target DIR",
            snap.volume
                .as_deref()
                .map_or_else(|| snap.root.clone(), |v| format!("volume {v}")),
            g.config.display()
        )));
    };
    let root = volume.path.clone();
    super::guard_replace(volume)?;
    let what = format!("in-place restore of snapshot {tag}");
    let opts = SwapOptions::standard(keep_old);
    let swap =
        Swap::begin(&root, &what, opts).with_context(|| format!("volume {}", volume.name))?;
    let progress = std::sync::Arc::new(holdfast_repo::Progress::default());
    let ropts = RestoreOptions {
        target: swap.stage().to_path_buf(),
        include: Vec::new(),
        progress: Some(progress.clone()),
        on_index: Some(super::index_warnings()),
        ..Default::default()
    };
    let bar = crate::progress::show(g, progress, crate::progress::Unit::Bytes);
    let restored = holdfast_repo::restore(repo, snap, &ropts).await;
    drop(bar);
    let summary = match restored {
        Ok(s) => s,
        Err(e) => {
            swap.abort().context("removing the stage")?;
            return Err(anyhow::Error::from(e).context("staging the restore").into());
        }
    };
    if !summary.damaged.is_empty() {
        for d in &summary.damaged {
            crate::global::stderr_note(
                tracing::Level::WARN,
                &format!("damaged: {}: {}", d.path, d.error),
                "",
            );
        }
        swap.abort().context("removing the stage")?;
        return Err(anyhow!("the snapshot is damaged; the volume was not touched").into());
    }
    // Database dumps live in the snapshot only; the volume never held them.
    let dumps = swap.stage().join(holdfast_repo::DATABASES_DIR);
    if dumps.exists() {
        std::fs::remove_dir_all(&dumps).with_context(|| format!("removing {}", dumps.display()))?;
    }
    let done = tokio::task::spawn_blocking(move || swap.commit(Selection::Whole))
        .await
        .map_err(|e| anyhow!("swap: {e}"))?
        .with_context(|| format!("swapping the restored data into volume {}", volume.name))?;
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
            "restored snapshot {tag} in place into {}: {} files, {}",
            root.display(),
            summary.files,
            indicatif::HumanBytes(summary.bytes)
        );
    }
    Ok(ExitCode::SUCCESS)
}
