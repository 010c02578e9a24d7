//! `restore_if_empty = true`: a volume that is mounted but empty (a new volume, a new
//! machine, a volume that was wiped) gets the whole latest snapshot of that volume back
//! before the app starts — the newest one not flagged shrunk
//! ([`holdfast_repo::Repository::find_restorable`]): an empty snapshot of an unmounted
//! volume never "restores" nothing over a new volume. Passing over flagged snapshots is
//! said ([`passed_over_note`]).
//!
//! "Empty" means nothing but holdfast's own entries ([`crate::layout::is_own`]: the
//! `.holdfast` state directory and its temp files) and the file system's `lost+found`.
//! The snapshot is restored into the stage of a journaled swap ([`crate::swap`]), checked
//! (a damaged entry stops it there, the volume untouched), its database dumps (which
//! live only in the snapshot) dropped, and then swapped in whole: a crash at any point
//! leaves the volume empty or filled, never half-filled, once the next `run` or
//! `restore` has recovered the swap.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use holdfast_repo::{IndexedRepository, RestoreOptions};

use crate::config::Volume;
use crate::layout::{LOST_FOUND, is_own};
use crate::swap::{Selection, Swap, SwapError, SwapOptions};

/// What can stop the refill of an empty volume; each names the volume.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RefillError {
    /// The volume directory cannot be listed.
    #[error("volume {volume}: cannot list {}: {source}", path.display())]
    List {
        /// The volume.
        volume: String,
        /// Its path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The repository cannot say which snapshot is the latest.
    #[error("volume {volume}: finding its latest snapshot: {source}")]
    Find {
        /// The volume.
        volume: String,
        /// The cause.
        source: holdfast_repo::Error,
    },
    /// Restoring into the stage failed (the volume was not touched).
    #[error("volume {volume}: restoring snapshot {snapshot}: {source}")]
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
        "volume {volume}: snapshot {snapshot} is damaged ({count} entries, first {first}); \
         the volume was not touched: run `holdfast verify --read-data`, or restore an older \
         snapshot with `holdfast restore ID --in-place --yes`"
    )]
    Damaged {
        /// The volume.
        volume: String,
        /// The snapshot (short id).
        snapshot: String,
        /// How many entries are damaged.
        count: usize,
        /// The first of them.
        first: String,
    },
    /// The task that commits the swap ended abnormally (the next recovery finishes or
    /// rolls back the swap).
    #[error(
        "volume {volume}: the swap did not finish ({reason}); the next `holdfast run` recovers it"
    )]
    Task {
        /// The volume.
        volume: String,
        /// What the task said.
        reason: String,
    },
    /// The swap could not start or finish.
    #[error("volume {volume}: {source}")]
    Swap {
        /// The volume.
        volume: String,
        /// The cause.
        source: SwapError,
    },
}

/// What [`refill`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum Refill {
    /// The volume holds data: nothing was done.
    NotEmpty,
    /// The volume is empty but no snapshot of it exists yet: the app starts on a fresh
    /// volume.
    NoSnapshot,
    /// The whole latest snapshot was swapped in.
    Restored(Refilled),
}

/// The figures of a refill.
#[derive(Debug, Clone, PartialEq)]
pub struct Refilled {
    /// The snapshot (short id).
    pub snapshot: String,
    /// When it was taken.
    pub time: chrono::DateTime<chrono::Utc>,
    /// Regular files restored.
    pub files: u64,
    /// Bytes of file content restored.
    pub bytes: u64,
    /// From the start of the restore to the swapped-in volume.
    pub duration: Duration,
    /// Set when newer snapshots flagged shrunk were passed over, or the snapshot taken
    /// is flagged itself ([`passed_over_note`]).
    pub note: Option<String>,
}

/// What an automatic restore of `volume` says about its pick: the newer snapshots
/// flagged shrunk it passed over, or that the one it took is flagged because no other
/// exists; `None` for a plain pick.
pub fn passed_over_note(volume: &str, pick: &holdfast_repo::Restorable) -> Option<String> {
    if let Some((id, newest)) = pick.passed_over.first() {
        let why = newest
            .shrunk
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default();
        return Some(format!(
            "volume {volume}: took snapshot {} ({}), the newest not flagged shrunk; passed \
             over {} newer flagged snapshot(s), newest {id_short} ({why}); if those files \
             are really gone, accept it with `holdfast tag {id_short} --remove shrunk`",
            pick.id.short(),
            pick.snapshot.time.format("%Y-%m-%d %H:%M:%S UTC"),
            pick.passed_over.len(),
            id_short = id.short(),
        ));
    }
    pick.snapshot.shrunk.as_ref().map(|why| {
        format!(
            "volume {volume}: snapshot {} is flagged shrunk ({why}) and no unflagged \
             snapshot of the volume exists; taking it",
            pick.id.short()
        )
    })
}

/// True when `path` holds nothing but holdfast's own entries and `lost+found`.
pub fn is_empty(path: &Path) -> std::io::Result<bool> {
    for entry in std::fs::read_dir(path)? {
        let name = entry?.file_name();
        if !is_own(&name) && name != LOST_FOUND {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Restores the whole latest snapshot of `volume` into it when it is empty (see the
/// module docs); `opts` are the swap's options ([`SwapOptions::standard`] in a real run).
pub async fn refill(
    repo: &IndexedRepository,
    volume: &Volume,
    opts: SwapOptions,
) -> Result<Refill, RefillError> {
    let name = volume.name.clone();
    let empty = is_empty(&volume.path).map_err(|source| RefillError::List {
        volume: name.clone(),
        path: volume.path.clone(),
        source,
    })?;
    if !empty {
        return Ok(Refill::NotEmpty);
    }
    let pick = match repo.find_restorable(&name).await {
        Ok(found) => found,
        Err(holdfast_repo::Error::NotFound { .. }) => return Ok(Refill::NoSnapshot),
        Err(source) => {
            return Err(RefillError::Find {
                volume: name,
                source,
            });
        }
    };
    let note = passed_over_note(&name, &pick);
    let (id, snapshot) = (pick.id, pick.snapshot);
    let short = id.short();
    let started = Instant::now();
    let swap_err = |source| RefillError::Swap {
        volume: name.clone(),
        source,
    };
    let what = format!("restore of the empty volume from snapshot {short}");
    let swap = Swap::begin(&volume.path, &what, opts).map_err(swap_err)?;
    let ropts = RestoreOptions {
        target: swap.stage().to_path_buf(),
        ..Default::default()
    };
    let summary = match holdfast_repo::restore(repo, &snapshot, &ropts).await {
        Ok(s) => s,
        Err(source) => {
            swap.abort().map_err(swap_err)?;
            return Err(RefillError::Restore {
                volume: name,
                snapshot: short,
                source,
            });
        }
    };
    if let Some(first) = summary.damaged.first() {
        let first = format!("{}: {}", first.path, first.error);
        swap.abort().map_err(swap_err)?;
        return Err(RefillError::Damaged {
            volume: name,
            snapshot: short,
            count: summary.damaged.len(),
            first,
        });
    }
    if let Err(e) = super::drop_dumps(&swap) {
        swap.abort().map_err(swap_err)?;
        return Err(swap_err(e));
    }
    tokio::task::spawn_blocking(move || swap.commit(Selection::Whole))
        .await
        .map_err(|e| RefillError::Task {
            volume: name.clone(),
            reason: e.to_string(),
        })?
        .map_err(swap_err)?;
    Ok(Refill::Restored(Refilled {
        snapshot: short,
        time: snapshot.time,
        files: summary.files,
        bytes: summary.bytes,
        duration: started.elapsed(),
        note,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_holdfast_state_and_lost_found_count_as_empty() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(is_empty(dir.path()).expect("list"));
        std::fs::create_dir_all(dir.path().join(".holdfast/swap")).expect("state");
        std::fs::create_dir(dir.path().join("lost+found")).expect("lost+found");
        assert!(is_empty(dir.path()).expect("list"));
        std::fs::write(dir.path().join(".env"), "x").expect("write");
        assert!(!is_empty(dir.path()).expect("list"));
    }
}
