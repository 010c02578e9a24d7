//! One file or directory of a snapshot back into its live volume, with an undo
//! (`POST /api/v1/restores`, `POST /api/v1/restores/{id}/undo`).
//!
//! # Invariant
//!
//! A restore of path `P` changes nothing on the volume but `P` (or, when `P`'s directory
//! is gone, its topmost missing ancestor): an app writing anywhere else meanwhile is
//! untouched. After a crash at any point, and the recovery every guard does first
//! ([`crate::guard::enter`]), `P` is either the old entry or the snapshot's, whole; the
//! old entry is never lost — it is moved (never copied) into `.holdfast/kept/<id>/`,
//! described by `.holdfast/kept/<id>.json` ([`super::kept`]), and an undo puts it back
//! through the same protocol.
//!
//! # Protocol
//!
//! 1. **check**: `P` is a plain relative path ([`crate::root::check_key`]: no `..`,
//!    absolute path, NUL or empty segment, none of holdfast's own names, nor the
//!    snapshot-only `.holdfast-databases/`); the snapshot is of this volume; the guard
//!    ([`Door::Replace`]) lets the volume through and recovers any interrupted swap;
//! 2. **stage**: a journaled swap ([`crate::swap`], keeping the old copy) begins under
//!    the volume's swap lock; what will come in and go aside is read from the live
//!    volume one component at a time with `O_NOFOLLOW` (a symlink or a file on the way
//!    is refused: nothing is restored through a link) and written to the manifest,
//!    fsynced, before anything live moves;
//! 3. **restore**: only `P` of the snapshot is restored into the stage (progress in bytes
//!    through [`Progress`]); a damaged entry, or a snapshot without `P`, stops it here,
//!    the stage and the manifest go and the volume was not touched;
//! 4. **commit**: the swap moves the live `P` aside and the staged one in by rename
//!    (`RENAME_NOREPLACE`), fsyncing the directories; the old copy lands in
//!    `.holdfast/kept/<id>/`.
//!
//! **Undo** ([`undo_path`], in [`super::undo`]) is a swap the other way: the kept entries are hard-linked
//! (not copied) into the stage of a new swap, which moves what the restore brought in
//! aside (kept in turn, with its own manifest, so an undo can itself be undone) and the
//! old entries in; then the first restore's kept directory goes and its manifest says
//! who undid it. A crash in between leaves the same old-or-new state, and the next undo
//! or restore on the volume finishes the bookkeeping.

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use holdfast_repo::restore::Damaged;
use holdfast_repo::{Id, IndexedRepository, OnIndex, Progress, RestoreOptions, Snapshot};
use rustix::fs::{AtFlags, Mode, OFlags};
use rustix::io::Errno;

use super::kept::{self, Kept, KeptError, State};
pub use super::kept::{LiveEntry, live_entry};
pub use super::undo::undo_path;
use crate::config::Volume;
use crate::guard::{self, Door, Refusal};
use crate::swap::{Hook, Selection, Swap, SwapError, SwapOptions};

/// How [`restore_path`] and [`undo_path`] run.
#[derive(Clone, Default)]
pub struct PathOptions {
    /// Called after every step of the swap (tests); an error is a simulated crash.
    pub hook: Option<Hook>,
    /// Bytes of file content restored into the stage: done / total.
    pub progress: Option<Arc<Progress>>,
    /// Told what loading the index found.
    pub on_index: Option<OnIndex>,
}

/// What [`restore_path`] or [`undo_path`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct PathRestored {
    /// Its manifest: the id to undo it with, what came in and what went aside.
    pub kept: Kept,
    /// Regular files restored (0 for an undo).
    pub files: u64,
    /// Bytes of file content restored (0 for an undo).
    pub bytes: u64,
}

/// What can stop a restore of one path or its undo; each names the volume and the path
/// or the restore.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PathError {
    /// The path or the snapshot cannot be restored here (nothing was touched).
    #[error("volume {volume}: {path}: {reason}")]
    Refused {
        /// The volume.
        volume: String,
        /// The path asked for.
        path: String,
        /// Why.
        reason: String,
    },
    /// The guard refused the volume (nothing was touched).
    #[error("{0}")]
    Guard(Refusal),
    /// The swap could not start (nothing was touched).
    #[error("volume {volume}: {source}")]
    Begin {
        /// The volume.
        volume: String,
        /// The cause.
        source: SwapError,
    },
    /// Restoring into the stage failed (the volume was not touched).
    #[error("volume {volume}: staging {path} of snapshot {snapshot}: {source}")]
    Restore {
        /// The volume.
        volume: String,
        /// The snapshot (short id).
        snapshot: String,
        /// The path.
        path: String,
        /// The cause.
        source: Box<holdfast_repo::Error>,
    },
    /// Some restored entries are damaged (the volume was not touched).
    #[error(
        "volume {volume}: {path} of snapshot {snapshot} is damaged: {}; the volume was not touched",
        super::damaged_list(damaged)
    )]
    Damaged {
        /// The volume.
        volume: String,
        /// The snapshot (short id).
        snapshot: String,
        /// The path.
        path: String,
        /// The damaged entries.
        damaged: Vec<Damaged>,
    },
    /// The snapshot does not hold the path (the volume was not touched).
    #[error("volume {volume}: snapshot {snapshot} holds no {path}; the volume was not touched")]
    NotInSnapshot {
        /// The volume.
        volume: String,
        /// The snapshot (short id).
        snapshot: String,
        /// The path.
        path: String,
    },
    /// The stage could not be prepared (the volume was not touched).
    #[error("volume {volume}: preparing {}: {source}", path.display())]
    Stage {
        /// The volume.
        volume: String,
        /// The staged path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A manifest could not be read or written.
    #[error("volume {volume}: {source}")]
    Manifest {
        /// The volume.
        volume: String,
        /// The cause.
        source: KeptError,
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
    #[error("swapping {path} into volume {volume}: {source}")]
    Commit {
        /// The volume.
        volume: String,
        /// The path.
        path: String,
        /// The cause.
        source: SwapError,
    },
    /// No restore of that id was kept on the volume.
    #[error("volume {volume}: no restore {id} is kept here")]
    NoSuchRestore {
        /// The volume.
        volume: String,
        /// The restore asked for.
        id: String,
    },
    /// The restore cannot be undone (not finished, already undone, or never done).
    #[error("volume {volume}: restore {id} cannot be undone: {reason}")]
    NotUndoable {
        /// The volume.
        volume: String,
        /// The restore.
        id: String,
        /// Why.
        reason: String,
    },
}

/// Checks the path asked for (step 1 of the module doc), without touching anything.
pub fn check_path(volume: &str, path: &str) -> Result<(), PathError> {
    let refused = |reason: String| PathError::Refused {
        volume: volume.to_string(),
        path: path.to_string(),
        reason,
    };
    crate::root::check_key(path).map_err(|e| refused(e.to_string()))?;
    let first = path.split('/').next().unwrap_or_default();
    if first == crate::layout::DATABASES_DIR || crate::layout::is_own(first.as_ref()) {
        return Err(refused(format!(
            "{first} is holdfast's own; it is never restored into a volume"
        )));
    }
    Ok(())
}

/// Restores `path` (relative to the volume) of snapshot `snap` (`id`) into `volume`
/// (see the module doc). Returns the manifest to undo it with.
pub async fn restore_path(
    repo: &IndexedRepository,
    volume: &Volume,
    id: Id,
    snap: &Snapshot,
    path: &str,
    opts: &PathOptions,
) -> Result<PathRestored, PathError> {
    let name = volume.name.clone();
    let tag = id.short();
    check_path(&name, path)?;
    if snap.volume.as_deref() != Some(name.as_str()) {
        return Err(PathError::Refused {
            volume: name.clone(),
            path: path.to_string(),
            reason: format!(
                "snapshot {tag} is of {}, not of this volume",
                snap.volume
                    .as_deref()
                    .map_or_else(|| snap.root.clone(), |v| format!("volume {v}"))
            ),
        });
    }
    let v = volume.clone();
    tokio::task::spawn_blocking(move || guard::enter(&v, Door::Replace))
        .await
        .map_err(|e| PathError::Task {
            volume: name.clone(),
            reason: e.to_string(),
        })?
        .map_err(PathError::Guard)?;
    let what = format!("restore of {path} from snapshot {tag}");
    let swap = begin(volume, &what, opts)?;
    let target = swap.target().to_path_buf();
    let manifest = match plan(&name, &swap, path, Some(tag.clone()), None) {
        Ok(m) => m,
        Err(e) => return Err(abort(swap, &name, e)),
    };
    let ropts = RestoreOptions {
        target: swap.stage().to_path_buf(),
        include: vec![globset::escape(path)],
        progress: opts.progress.clone(),
        on_index: opts.on_index.clone(),
        ..Default::default()
    };
    let staged = match holdfast_repo::restore(repo, snap, &ropts).await {
        Err(source) => Err(PathError::Restore {
            volume: name.clone(),
            snapshot: tag.clone(),
            path: path.to_string(),
            source: Box::new(source),
        }),
        Ok(s) if !s.damaged.is_empty() => Err(PathError::Damaged {
            volume: name.clone(),
            snapshot: tag.clone(),
            path: path.to_string(),
            damaged: s.damaged,
        }),
        Ok(_) if std::fs::symlink_metadata(swap.stage().join(path)).is_err() => {
            Err(PathError::NotInSnapshot {
                volume: name.clone(),
                snapshot: tag.clone(),
                path: path.to_string(),
            })
        }
        Ok(s) => Ok((s.files, s.bytes)),
    };
    let (files, bytes) = match staged {
        Ok(figures) => figures,
        Err(problem) => {
            let _ = kept::remove(&target, &manifest.id);
            return Err(abort(swap, &name, problem));
        }
    };
    let selection = Selection::Paths {
        new: vec![PathBuf::from(path)],
        old: vec![PathBuf::from(path)],
    };
    let n = name.clone();
    tokio::task::spawn_blocking(move || swap.commit(selection))
        .await
        .map_err(|e| PathError::Task {
            volume: n.clone(),
            reason: e.to_string(),
        })?
        .map_err(|source| PathError::Commit {
            volume: n,
            path: path.to_string(),
            source,
        })?;
    Ok(PathRestored {
        kept: manifest,
        files,
        bytes,
    })
}

/// Begins the swap (keeping the old copy) and settles the bookkeeping of earlier
/// restores under its lock.
pub(super) fn begin(volume: &Volume, what: &str, opts: &PathOptions) -> Result<Swap, PathError> {
    let sopts = SwapOptions {
        keep_old: true,
        hook: opts.hook.clone(),
    };
    let swap = Swap::begin(&volume.path, what, sopts).map_err(|source| PathError::Begin {
        volume: volume.name.clone(),
        source,
    })?;
    if let Err(source) = settle(swap.target()) {
        let e = PathError::Manifest {
            volume: volume.name.clone(),
            source,
        };
        return Err(abort(swap, &volume.name, e));
    }
    Ok(swap)
}

/// Finishes what a crash may have left: a void manifest goes; a restore whose undo is
/// done is marked undone and its kept directory removed.
pub(super) fn settle(target: &Path) -> Result<(), KeptError> {
    for listed in kept::list(target) {
        // Read again: finishing an undo earlier in this loop changes its restore's.
        let Some(k) = kept::read(target, &listed.id)? else {
            continue;
        };
        match kept::state(target, &k) {
            State::Void => kept::remove(target, &k.id)?,
            State::Done => {
                let Some(undone) = &k.undoes else { continue };
                let Some(mut first) = kept::read(target, undone)? else {
                    continue;
                };
                if first.undone_by.is_none() {
                    first.undone_by = Some(k.id.clone());
                    kept::write(target, &first)?;
                }
                let dir = kept::kept_dir(target, undone);
                if dir.exists() {
                    std::fs::remove_dir_all(&dir).map_err(|e| KeptError {
                        path: dir.clone(),
                        reason: e.to_string(),
                    })?;
                }
            }
            State::Pending | State::Undone => {}
        }
    }
    Ok(())
}

/// Stops the swap after `e` (nothing live was touched); an error removing the stage
/// wins, as it is what the user must fix.
pub(super) fn abort(swap: Swap, volume: &str, e: PathError) -> PathError {
    match swap.abort() {
        Ok(()) => e,
        Err(source) => PathError::Abort {
            volume: volume.to_string(),
            source,
        },
    }
}

/// The manifest of a restore of `path`: read from the live volume, written before the
/// stage is filled.
fn plan(
    volume: &str,
    swap: &Swap,
    path: &str,
    snapshot: Option<String>,
    undoes: Option<String>,
) -> Result<Kept, PathError> {
    let (came_in, exists) = live(volume, swap.target(), path)?;
    let k = Kept {
        version: 1,
        id: swap.id().to_string(),
        volume: volume.to_string(),
        snapshot,
        path: path.to_string(),
        came_in: vec![came_in],
        went_aside: if exists {
            vec![path.to_string()]
        } else {
            Vec::new()
        },
        undoes,
        undone_by: None,
        started: chrono::Utc::now().to_rfc3339(),
    };
    kept::write(swap.target(), &k).map_err(|source| PathError::Manifest {
        volume: volume.to_string(),
        source,
    })?;
    Ok(k)
}

const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

/// Reads `path` on the live volume one component at a time without following a link:
/// the entry that would come in (the path, or its topmost missing ancestor) and whether
/// the path exists. A link or a file on the way is refused.
pub(super) fn live(volume: &str, root: &Path, path: &str) -> Result<(String, bool), PathError> {
    let refused = |reason: String| PathError::Refused {
        volume: volume.to_string(),
        path: path.to_string(),
        reason,
    };
    let io = |e: Errno| refused(std::io::Error::from(e).to_string());
    let mut cur: OwnedFd = rustix::fs::open(root, DIR_FLAGS, Mode::empty()).map_err(io)?;
    let segs: Vec<&str> = path.split('/').collect();
    let Some((last, dirs)) = segs.split_last() else {
        return Err(refused("empty path".into()));
    };
    for (i, seg) in dirs.iter().enumerate() {
        match rustix::fs::openat(cur.as_fd(), *seg, DIR_FLAGS, Mode::empty()) {
            Ok(fd) => cur = fd,
            Err(Errno::NOENT) => return Ok((segs[..=i].join("/"), false)),
            Err(Errno::LOOP | Errno::NOTDIR) => {
                return Err(refused(format!(
                    "{} is a link or not a directory; holdfast does not restore through it",
                    segs[..=i].join("/")
                )));
            }
            Err(e) => return Err(io(e)),
        }
    }
    match rustix::fs::statat(cur.as_fd(), *last, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(_) => Ok((path.to_string(), true)),
        Err(Errno::NOENT) => Ok((path.to_string(), false)),
        Err(e) => Err(io(e)),
    }
}
