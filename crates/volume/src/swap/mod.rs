//! Replacing live data: one journaled stage-and-swap, used by every restore that
//! overwrites a volume's data (in-place restore, database restore, `restore_if_missing`).
//!
//! # Invariant
//!
//! After a crash at any point, and the recovery that every `restore` and `run` does
//! first ([`recover`]), the volume holds either the old set of entries or the new one,
//! whole; nothing of the swap is left behind; and holdfast's state directory
//! ([`STATE_DIR`](crate::layout::STATE_DIR)) and its other own files ([`crate::layout::OWN`]) are never
//! part of a swap, so they are never moved aside or deleted with the old data.
//!
//! # Protocol
//!
//! A swap lives in `<volume>/.holdfast/swap/<id>/` (same file system as the data, so
//! every move is a rename), under an exclusive `flock` on `.holdfast/swap/lock`:
//!
//! 1. [`Swap::begin`] creates the work directory and writes `journal.json` with phase
//!    `staging` (the journal names the target, the stage `new/` and the old-copy
//!    location `old/`). The caller writes the new data into [`Swap::stage`], laid out like
//!    the volume (and may use [`Swap::scratch`] for anything else).
//! 2. [`Swap::commit`] settles the entry lists ([`Selection`]), flushes the stage to
//!    disk (`syncfs`), and rewrites the journal with phase `staged` and both lists. From
//!    here recovery rolls forward; before it, recovery rolls back (deletes the stage).
//! 3. Every old entry is renamed into `old/` (a database with its `-wal`/`-shm`
//!    together), the directories fsynced; every staged entry is renamed into place with
//!    `RENAME_NOREPLACE`, the directories fsynced.
//! 4. The journal says `swapped`; the old copy is deleted, or moved to
//!    `.holdfast/kept/<id>` when [`SwapOptions::keep_old`] asks; then the journal and the
//!    work directory go.
//!
//! A whole-volume restore cannot rename the mount point, so it swaps the volume's
//! top-level entries; the journal lists each, and recovery checks where each one is
//! before it moves it, so it can run any number of times. The journal is written to a
//! temp name, fsynced and renamed, so it is always one phase or the next. A work
//! directory without a journal holds nothing that is needed and is deleted.

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

mod apply;
pub mod failpoint;
mod fsops;
pub mod journal;
mod plan;
mod recover;

pub use failpoint::{Hook, Step};
pub use journal::{Journal, Phase};
pub use recover::{Action, Recovery, VolumeRecoverError, recover, recover_volumes};

use journal::Name;

use crate::layout::{KEPT_DIR, SWAP_DIR};

/// What can stop a swap or its recovery; each names the path.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SwapError {
    /// A file system operation failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The swap cannot be done as asked (nothing live was touched unless it says so).
    #[error("{}: {reason}", path.display())]
    Refused {
        /// The path.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A journal cannot be read or written.
    #[error("swap journal {}: {reason}", path.display())]
    Journal {
        /// The journal.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Another process is swapping or recovering on this volume.
    #[error("{}: another holdfast process is replacing data on this volume", path.display())]
    Busy {
        /// The lock file.
        path: PathBuf,
    },
    /// An interrupted swap on this volume must be recovered first.
    #[error("{}: an interrupted swap is pending; recover it first", path.display())]
    Pending {
        /// Its work directory.
        path: PathBuf,
    },
    /// A failpoint stopped the swap (tests only), leaving it as a crash would.
    #[error("swap stopped at step {step}: {reason}")]
    Interrupted {
        /// The step.
        step: String,
        /// What the hook said.
        reason: String,
    },
}

impl SwapError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> SwapError {
        SwapError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// How a swap runs.
#[derive(Clone, Default)]
pub struct SwapOptions {
    /// Keep the old copy in `.holdfast/kept/<id>` instead of deleting it.
    pub keep_old: bool,
    /// Called after every step (tests); an error is a simulated crash there.
    pub hook: Option<Hook>,
}

impl SwapOptions {
    /// The options of a real run: no hook, except the environment's in builds with the
    /// `failpoints` feature ([`failpoint::from_env`]).
    pub fn standard(keep_old: bool) -> SwapOptions {
        SwapOptions {
            keep_old,
            hook: failpoint::from_env(),
        }
    }
}

impl std::fmt::Debug for SwapOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SwapOptions")
            .field("keep_old", &self.keep_old)
            .field("hook", &self.hook.is_some())
            .finish()
    }
}

/// Which entries a commit replaces.
#[derive(Clone, Debug)]
pub enum Selection {
    /// Every top-level entry of the volume (but holdfast's own) is replaced by the
    /// stage's top-level entries.
    Whole,
    /// These staged paths (relative to the volume) come in; these live paths go aside
    /// (those that exist), and so does any live entry a new one replaces. A new path
    /// whose parent is missing on the volume comes in as its topmost missing ancestor.
    Paths {
        /// Staged paths to move in.
        new: Vec<PathBuf>,
        /// Live paths to move aside.
        old: Vec<PathBuf>,
    },
}

/// What a committed swap did.
#[derive(Clone, Debug)]
pub struct Committed {
    /// The swap's id.
    pub id: String,
    /// Live entries moved aside.
    pub moved_out: usize,
    /// Staged entries moved in.
    pub moved_in: usize,
    /// Where the old copy is kept, if [`SwapOptions::keep_old`].
    pub kept: Option<PathBuf>,
}

/// A swap in progress: the stage is being written.
pub struct Swap {
    journal: Journal,
    work: PathBuf,
    opts: SwapOptions,
    _lock: std::fs::File,
}

impl Swap {
    /// Starts a swap on `volume`: takes the volume's swap lock, refuses when an
    /// interrupted swap is pending ([`recover`] first), creates the work directory and
    /// writes the `staging` journal. `what` describes the swap for messages.
    pub fn begin(volume: &Path, what: &str, opts: SwapOptions) -> Result<Swap, SwapError> {
        let root = std::fs::canonicalize(volume).map_err(|e| SwapError::io(volume, e))?;
        let (swaps, lock) = recover::lock(&root, true)?;
        if let Some(pending) = recover::pending(&swaps)? {
            return Err(SwapError::Pending { path: pending });
        }
        let id = format!(
            "{}-{}",
            chrono::Utc::now().format("%Y%m%dT%H%M%S%.6fZ"),
            std::process::id()
        );
        let work = swaps.join(&id);
        std::fs::create_dir(&work).map_err(|e| SwapError::io(&work, e))?;
        fsops::sync(fsops::open_dir(&swaps).map_err(|e| SwapError::io(&swaps, e))?)
            .map_err(|e| SwapError::io(&swaps, e))?;
        apply::hit(opts.hook.as_ref(), Step::Begun)?;
        let journal = Journal {
            version: 1,
            id: id.clone(),
            what: what.to_string(),
            target: root.clone(),
            stage: work.join("new"),
            old: work.join("old"),
            keep: opts.keep_old.then(|| root.join(KEPT_DIR).join(&id)),
            phase: Phase::Staging,
            old_entries: Vec::new(),
            new_entries: Vec::new(),
            started: chrono::Utc::now().to_rfc3339(),
        };
        journal.write(&work)?;
        apply::hit(opts.hook.as_ref(), Step::JournalStaging)?;
        for sub in ["new", "scratch"] {
            let p = work.join(sub);
            std::fs::create_dir(&p).map_err(|e| SwapError::io(&p, e))?;
        }
        Ok(Swap {
            journal,
            work,
            opts,
            _lock: lock,
        })
    }

    /// Where the new data goes, laid out like the volume.
    pub fn stage(&self) -> &Path {
        &self.journal.stage
    }

    /// A scratch directory on the same file system, deleted by commit and abort.
    pub fn scratch(&self) -> PathBuf {
        self.work.join("scratch")
    }

    /// The volume (canonical path).
    pub fn target(&self) -> &Path {
        &self.journal.target
    }

    /// The swap's id.
    pub fn id(&self) -> &str {
        &self.journal.id
    }

    /// Gives up before anything live was touched: the stage is deleted.
    pub fn abort(self) -> Result<(), SwapError> {
        apply::roll_back(&self.work)
    }

    /// Swaps the staged data in (see the module docs). After an error the journal stays
    /// and the next [`recover`] finishes the swap (or, if it never got to `staged`,
    /// rolls it back).
    pub fn commit(mut self, selection: Selection) -> Result<Committed, SwapError> {
        let hook = self.opts.hook.clone();
        if let Err(e) = self.settle(&selection) {
            // Nothing live was touched: a real error rolls back at once; a simulated crash
            // leaves everything as a crash would.
            if !matches!(e, SwapError::Interrupted { .. }) {
                apply::roll_back(&self.work)?;
            }
            return Err(e);
        }
        apply::hit(hook.as_ref(), Step::JournalStaged)?;
        let (moved_out, moved_in) = apply::forward(&self.journal, &self.work, hook.as_ref())?;
        let kept = apply::finish(&mut self.journal, &self.work, hook.as_ref())?;
        Ok(Committed {
            id: self.journal.id.clone(),
            moved_out,
            moved_in,
            kept,
        })
    }

    /// Settles the entry lists, makes the stage durable and writes the `staged` journal.
    fn settle(&mut self, selection: &Selection) -> Result<(), SwapError> {
        let scratch = self.scratch();
        fsops::remove_tree(&scratch).map_err(|e| SwapError::io(&scratch, e))?;
        let (old, new) = plan::settle(&self.journal.target, &self.journal.stage, selection)?;
        let stage_fd = fsops::open_dir(self.stage()).map_err(|e| SwapError::io(self.stage(), e))?;
        fsops::sync_filesystem(stage_fd.as_fd()).map_err(|e| SwapError::io(self.stage(), e))?;
        apply::hit(self.opts.hook.as_ref(), Step::StageSynced)?;
        self.journal.old_entries = old.iter().map(|p| Name::of(p)).collect();
        self.journal.new_entries = new.iter().map(|p| Name::of(p)).collect();
        self.journal.phase = Phase::Staged;
        self.journal.write(&self.work)
    }
}

/// The swaps left on `volume` (their work directories in `.holdfast/swap/`, in name
/// order): an interrupted restore, or one running right now. Read without the swap lock
/// and without changing anything, for the commands that only report ([`crate::guard`],
/// `status`). A volume without a swap area has none.
pub fn pending(volume: &Path) -> Vec<PathBuf> {
    let area = volume.join(SWAP_DIR);
    let Ok(entries) = std::fs::read_dir(&area) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect();
    out.sort();
    out
}
