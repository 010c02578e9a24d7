//! `holdfast restore ID --in-place --yes`: a chosen snapshot replaces its own volume.
//!
//! The target is the path of the configured volume the snapshot was taken of
//! ([`volume_of`]: looked up by the snapshot's volume name), never the `root` the
//! snapshot itself records: a snapshot of an unconfigured volume or path is refused and
//! can be restored elsewhere. The snapshot is restored into the stage of a swap inside
//! the volume's `.holdfast/swap/`, checked (any damaged entry stops it there, the live
//! data untouched), its database dumps dropped, and the volume's top-level entries are
//! swapped for the staged ones. A crash at any point leaves the old or the new entries
//! whole once the next `restore` or `run` has recovered; `.holdfast` itself is never
//! swapped. A file the snapshot shares with the live data at the same path is read from
//! the live copy, blob by blob, each blob checked against its id, instead of fetched
//! ([`RestoreOptions::reuse`]): the live data is only read.

use std::path::PathBuf;
use std::sync::Arc;

use holdfast_repo::restore::Damaged;
use holdfast_repo::{
    Id, IndexedRepository, OnIndex, Progress, ReadOptions, RestoreOptions, Snapshot,
};

use crate::config::{Config, Volume};
use crate::swap::{Selection, Swap, SwapError, SwapOptions};

/// How [`restore_in_place`] runs.
#[derive(Clone, Default)]
pub struct InPlaceOptions {
    /// The swap's options ([`SwapOptions::standard`] in a real run; `keep_old` keeps the
    /// replaced data in `.holdfast/kept/`).
    pub swap: SwapOptions,
    /// Bytes of file content restored into the stage.
    pub progress: Option<Arc<Progress>>,
    /// Told what loading the index found ([`RestoreOptions::on_index`]).
    pub on_index: Option<OnIndex>,
    /// How file contents are read from the store ([`RestoreOptions::reads`]).
    pub reads: ReadOptions,
}

/// What [`restore_in_place`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct InPlaceRestored {
    /// The snapshot (short id).
    pub snapshot: String,
    /// The volume's directory.
    pub path: PathBuf,
    /// Regular files restored.
    pub files: u64,
    /// Bytes of file content restored.
    pub bytes: u64,
    /// Where the replaced data is kept, when [`SwapOptions::keep_old`] asked.
    pub kept: Option<PathBuf>,
}

/// What can stop an in-place restore; each names the snapshot or the volume.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InPlaceError {
    /// The snapshot is not of a configured volume.
    #[error(
        "snapshot {snapshot} is of {of}, which is not a configured volume in {}: restore it \
         elsewhere with --target DIR",
        config.display()
    )]
    NotConfigured {
        /// The snapshot (short id).
        snapshot: String,
        /// What it is of: `volume NAME`, or the path it recorded.
        of: String,
        /// The configuration file looked in.
        config: PathBuf,
    },
    /// The swap could not start (nothing was touched).
    #[error("volume {volume}: {source}")]
    Begin {
        /// The volume.
        volume: String,
        /// The cause.
        source: SwapError,
    },
    /// Restoring into the stage failed (the volume was not touched).
    #[error("volume {volume}: staging the restore of snapshot {snapshot}: {source}")]
    Restore {
        /// The volume.
        volume: String,
        /// The snapshot (short id).
        snapshot: String,
        /// The cause.
        source: holdfast_repo::Error,
    },
    /// Some entries of the snapshot are damaged (the volume was not touched).
    #[error(
        "volume {volume}: snapshot {snapshot} is damaged ({} entries); the volume was not \
         touched",
        damaged.len()
    )]
    Damaged {
        /// The volume.
        volume: String,
        /// The snapshot (short id).
        snapshot: String,
        /// Every damaged entry.
        damaged: Vec<Damaged>,
    },
    /// The stage could not be prepared (the volume was not touched).
    #[error("volume {volume}: {source}")]
    Stage {
        /// The volume.
        volume: String,
        /// The cause.
        source: SwapError,
    },
    /// The stage could not be removed after a failure (the volume was not touched; the
    /// next recovery removes it).
    #[error("volume {volume}: removing the stage: {source}")]
    Abort {
        /// The volume.
        volume: String,
        /// The cause.
        source: SwapError,
    },
    /// The task that commits the swap ended abnormally (the next recovery finishes or
    /// rolls back the swap).
    #[error("volume {volume}: swap: {reason}")]
    Task {
        /// The volume.
        volume: String,
        /// What the task said.
        reason: String,
    },
    /// The swap could not finish (the next recovery finishes or rolls it back).
    #[error("swapping the restored data into volume {volume}: {source}")]
    Commit {
        /// The volume.
        volume: String,
        /// The cause.
        source: SwapError,
    },
}

/// The configured volume `snap` is of, or [`InPlaceError::NotConfigured`]; `config_path`
/// is for the message.
pub fn volume_of<'c>(
    config: Option<&'c Config>,
    config_path: &std::path::Path,
    id: Id,
    snap: &Snapshot,
) -> Result<&'c Volume, InPlaceError> {
    let volume = snap
        .volume
        .as_deref()
        .and_then(|name| config.and_then(|c| c.volume(name)));
    volume.ok_or_else(|| InPlaceError::NotConfigured {
        snapshot: id.short(),
        of: snap
            .volume
            .as_deref()
            .map_or_else(|| snap.root.clone(), |v| format!("volume {v}")),
        config: config_path.to_path_buf(),
    })
}

/// Restores snapshot `snap` (`id`) into `volume` whole (see the module doc).
pub async fn restore_in_place(
    repo: &IndexedRepository,
    volume: &Volume,
    id: Id,
    snap: &Snapshot,
    opts: &InPlaceOptions,
) -> Result<InPlaceRestored, InPlaceError> {
    let tag = id.short();
    let name = volume.name.clone();
    let what = format!("in-place restore of snapshot {tag}");
    let swap = Swap::begin(&volume.path, &what, opts.swap.clone()).map_err(|source| {
        InPlaceError::Begin {
            volume: name.clone(),
            source,
        }
    })?;
    let abort_err = |source| InPlaceError::Abort {
        volume: name.clone(),
        source,
    };
    let ropts = RestoreOptions {
        target: swap.stage().to_path_buf(),
        include: Vec::new(),
        progress: opts.progress.clone(),
        on_index: opts.on_index.clone(),
        reads: opts.reads.clone(),
        // What the snapshot shares with the live data is copied from it, not fetched.
        reuse: Some(volume.path.clone()),
        ..Default::default()
    };
    let summary = match holdfast_repo::restore(repo, snap, &ropts).await {
        Ok(s) => s,
        Err(source) => {
            swap.abort().map_err(abort_err)?;
            return Err(InPlaceError::Restore {
                volume: name,
                snapshot: tag,
                source,
            });
        }
    };
    if !summary.damaged.is_empty() {
        swap.abort().map_err(abort_err)?;
        return Err(InPlaceError::Damaged {
            volume: name,
            snapshot: tag,
            damaged: summary.damaged,
        });
    }
    if let Err(source) = super::drop_dumps(&swap) {
        swap.abort().map_err(abort_err)?;
        return Err(InPlaceError::Stage {
            volume: name,
            source,
        });
    }
    let done = tokio::task::spawn_blocking(move || swap.commit(Selection::Whole))
        .await
        .map_err(|e| InPlaceError::Task {
            volume: name.clone(),
            reason: e.to_string(),
        })?
        .map_err(|source| InPlaceError::Commit {
            volume: name.clone(),
            source,
        })?;
    Ok(InPlaceRestored {
        snapshot: tag,
        path: volume.path.clone(),
        files: summary.files,
        bytes: summary.bytes,
        kept: done.kept,
    })
}
