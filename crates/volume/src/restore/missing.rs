//! `restore_if_missing`: a listed file missing from its volume comes back from the
//! volume's latest snapshot before the app starts — the newest one not flagged shrunk
//! ([`holdfast_repo::Repository::find_restorable`]; passing over flagged snapshots is
//! said, [`super::empty::passed_over_note`]).
//!
//! The missing files ([`crate::guard::missing_files`]) are restored into the stage of a
//! journaled swap, checked (a damaged entry, or a file the snapshot does not hold, stops
//! it there with the volume untouched), and swapped in together with whatever side
//! files they replace ([`crate::guard::missing_selection`]): the app never finds a
//! restored file that a crash could still take away.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use holdfast_repo::restore::Damaged;
use holdfast_repo::{IndexedRepository, RestoreOptions};

use crate::config::Volume;
use crate::guard;
use crate::swap::{Swap, SwapError, SwapOptions};

/// How [`restore_missing`] runs.
#[derive(Clone, Default)]
pub struct MissingOptions {
    /// The swap's options ([`SwapOptions::standard`] in a real run).
    pub swap: SwapOptions,
}

/// What [`restore_missing`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum Missing {
    /// No listed file is missing: nothing was done.
    NoneMissing,
    /// Files are missing but no snapshot of the volume exists yet: the app starts fresh.
    NoSnapshot {
        /// The missing files, relative to the volume.
        missing: Vec<PathBuf>,
    },
    /// The missing files were swapped in.
    Restored(MissingRestored),
}

/// The figures of a [`Missing::Restored`].
#[derive(Debug, Clone, PartialEq)]
pub struct MissingRestored {
    /// The files restored, relative to the volume.
    pub files: Vec<PathBuf>,
    /// The snapshot (short id).
    pub snapshot: String,
    /// When it was taken.
    pub time: DateTime<Utc>,
    /// Set when newer snapshots flagged shrunk were passed over, or the snapshot taken
    /// is flagged itself ([`super::empty::passed_over_note`]).
    pub note: Option<String>,
}

/// What can stop the restore of missing files; each names the volume.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MissingError {
    /// The repository cannot say which snapshot is the latest.
    #[error("finding the latest snapshot of volume {volume}: {source}")]
    Find {
        /// The volume.
        volume: String,
        /// The cause.
        source: holdfast_repo::Error,
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
    #[error("restoring {} into volume {volume}: {source}", list(files))]
    Restore {
        /// The volume.
        volume: String,
        /// The files asked for.
        files: Vec<PathBuf>,
        /// The cause.
        source: holdfast_repo::Error,
    },
    /// Some restored entries are damaged (the volume was not touched).
    #[error(
        "volume {volume}: restored with damage: {}",
        super::damaged_list(damaged)
    )]
    Damaged {
        /// The volume.
        volume: String,
        /// The damaged entries.
        damaged: Vec<Damaged>,
    },
    /// The latest snapshot does not hold some of the files (the volume was not touched).
    #[error(
        "volume {volume}: the latest snapshot ({}) holds no {}: restore an earlier \
         snapshot with `holdfast restore latest:{volume}~1 --target DIR --include {}`",
        super::time(time),
        list(absent),
        absent.first().map(|p| p.display().to_string()).unwrap_or_default()
    )]
    NotInSnapshot {
        /// The volume.
        volume: String,
        /// When the snapshot was taken.
        time: DateTime<Utc>,
        /// The files it does not hold.
        absent: Vec<PathBuf>,
    },
    /// The stage could not be removed after a failure (the next recovery removes it).
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
    #[error("swapping the restored files into volume {volume}: {source}")]
    Commit {
        /// The volume.
        volume: String,
        /// The cause.
        source: SwapError,
    },
}

/// The paths joined with `, `.
pub fn list(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Restores every missing `restore_if_missing` file of `volume` from its latest
/// snapshot (see the module doc).
pub async fn restore_missing(
    repo: &IndexedRepository,
    volume: &Volume,
    opts: &MissingOptions,
) -> Result<Missing, MissingError> {
    let missing = guard::missing_files(volume);
    if missing.is_empty() {
        return Ok(Missing::NoneMissing);
    }
    let name = volume.name.clone();
    let pick = match repo.find_restorable(&name).await {
        Ok(pick) => pick,
        Err(holdfast_repo::Error::NotFound { .. }) => return Ok(Missing::NoSnapshot { missing }),
        Err(source) => {
            return Err(MissingError::Find {
                volume: name,
                source,
            });
        }
    };
    let note = super::empty::passed_over_note(&name, &pick);
    let (id, snapshot) = (pick.id, pick.snapshot);
    let what = format!("restore of missing {}", list(&missing));
    let swap = Swap::begin(&volume.path, &what, opts.swap.clone()).map_err(|source| {
        MissingError::Begin {
            volume: name.clone(),
            source,
        }
    })?;
    let ropts = RestoreOptions {
        target: swap.stage().to_path_buf(),
        include: missing
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect(),
        ..Default::default()
    };
    let problem = match holdfast_repo::restore(repo, &snapshot, &ropts).await {
        Err(source) => Some(MissingError::Restore {
            volume: name.clone(),
            files: missing.clone(),
            source,
        }),
        Ok(s) if !s.damaged.is_empty() => Some(MissingError::Damaged {
            volume: name.clone(),
            damaged: s.damaged,
        }),
        Ok(_) => {
            let absent: Vec<PathBuf> = missing
                .iter()
                .filter(|p| std::fs::symlink_metadata(swap.stage().join(p)).is_err())
                .cloned()
                .collect();
            (!absent.is_empty()).then(|| MissingError::NotInSnapshot {
                volume: name.clone(),
                time: snapshot.time,
                absent,
            })
        }
    };
    if let Some(problem) = problem {
        swap.abort().map_err(|source| MissingError::Abort {
            volume: name.clone(),
            source,
        })?;
        return Err(problem);
    }
    let selection = guard::missing_selection(&missing);
    tokio::task::spawn_blocking(move || swap.commit(selection))
        .await
        .map_err(|e| MissingError::Task {
            volume: name.clone(),
            reason: e.to_string(),
        })?
        .map_err(|source| MissingError::Commit {
            volume: name.clone(),
            source,
        })?;
    Ok(Missing::Restored(MissingRestored {
        files: missing,
        snapshot: id.short(),
        time: snapshot.time,
        note,
    }))
}
