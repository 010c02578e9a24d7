//! Recovery: finishing or undoing an interrupted swap, which every `restore` and `run`
//! does first on each volume. A journal in phase `staging` is rolled back (the stage is
//! deleted, the live data was never touched); `staged` is rolled forward (the moves are
//! idempotent, see [`apply`](super::apply)); `swapped` only has the old copy and the
//! journal left to remove. A work directory without a journal is deleted.

use std::fmt;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use rustix::fs::{FlockOperation, Mode, OFlags};

use super::journal::{Journal, Phase};
use super::{SwapError, SwapOptions, apply, fsops};
use crate::layout::{KEPT_DIR, SWAP_DIR};

/// What recovery did with one interrupted swap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// The new data was not fully staged: the stage was deleted, the old data stays.
    RolledBack,
    /// The new data was staged whole: the swap was completed.
    RolledForward,
    /// The new data was already in place: the old copy and the journal were removed.
    Finished,
    /// A work directory without a journal (nothing in it was needed) was removed.
    Cleaned,
}

/// One interrupted swap that recovery dealt with.
#[derive(Clone, Debug)]
pub struct Recovery {
    /// The volume.
    pub volume: PathBuf,
    /// The swap's id.
    pub id: String,
    /// What the swap was doing (from its journal; empty for [`Action::Cleaned`]).
    pub what: String,
    /// What recovery did.
    pub action: Action,
    /// Where the old copy is kept, if the swap was asked to keep it.
    pub kept: Option<PathBuf>,
}

impl fmt::Display for Recovery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.volume.display();
        match self.action {
            Action::RolledBack => write!(
                f,
                "{v}: rolled back the interrupted {}: its new data was not fully staged; the old data is in place",
                self.what
            )?,
            Action::RolledForward => write!(
                f,
                "{v}: rolled forward the interrupted {}: its new data was staged whole and is now in place",
                self.what
            )?,
            Action::Finished => write!(
                f,
                "{v}: finished the interrupted {}: its new data was already in place",
                self.what
            )?,
            Action::Cleaned => write!(f, "{v}: removed the leftovers of swap {}", self.id)?,
        }
        if let Some(k) = &self.kept {
            write!(f, "; the old data is kept in {}", k.display())?;
        }
        Ok(())
    }
}

/// Takes the swap lock of the volume `root` (canonical): the swap area's path and the
/// locked file. With `create` a missing swap area is made; without, it is refused.
pub(super) fn lock(root: &Path, create: bool) -> Result<(PathBuf, std::fs::File), SwapError> {
    let area = root.join(SWAP_DIR);
    let rel = Path::new(SWAP_DIR);
    let root_fd = fsops::open_dir(root).map_err(|e| SwapError::io(root, e))?;
    let swaps = if create {
        fsops::mkdir_beneath(root_fd.as_fd(), rel).map_err(|e| SwapError::io(&area, e))?
    } else {
        match fsops::open_beneath(root_fd.as_fd(), rel).map_err(|e| SwapError::io(&area, e))? {
            Some(fd) => fd,
            None => {
                return Err(SwapError::Refused {
                    path: area,
                    reason: "no swap area".into(),
                });
            }
        }
    };
    let lock_path = area.join("lock");
    let fd = rustix::fs::openat(
        &swaps,
        "lock",
        OFlags::CREATE | OFlags::RDWR | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )
    .map_err(|e| SwapError::io(&lock_path, e.into()))?;
    match rustix::fs::flock(&fd, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => {}
        Err(rustix::io::Errno::WOULDBLOCK) => return Err(SwapError::Busy { path: lock_path }),
        Err(e) => return Err(SwapError::io(&lock_path, e.into())),
    }
    Ok((area, std::fs::File::from(fd)))
}

/// Work directories in the swap area, in name order.
fn works(area: &Path) -> Result<Vec<PathBuf>, SwapError> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(area).map_err(|e| SwapError::io(area, e))? {
        let e = e.map_err(|e| SwapError::io(area, e))?;
        let kind = e.file_type().map_err(|err| SwapError::io(&e.path(), err))?;
        if kind.is_dir() {
            out.push(e.path());
        }
    }
    out.sort();
    Ok(out)
}

/// The first work directory in the swap area, if any.
pub(super) fn pending(area: &Path) -> Result<Option<PathBuf>, SwapError> {
    Ok(works(area)?.into_iter().next())
}

/// A volume whose interrupted swap could not be finished or rolled back.
#[derive(Debug, thiserror::Error)]
#[error("volume {volume}: finishing an interrupted restore (nothing else was changed)")]
pub struct VolumeRecoverError {
    /// The volume's name.
    pub volume: String,
    /// Why.
    #[source]
    pub source: SwapError,
}

/// [`recover`] on every volume of `config`, before anything reads or replaces their
/// data: what was done, one line per recovery (`volume NAME: …`). The first volume that
/// fails stops it.
pub fn recover_volumes(config: &crate::config::Config) -> Result<Vec<String>, VolumeRecoverError> {
    let mut lines = Vec::new();
    for v in &config.volumes {
        let done =
            recover(&v.path, &SwapOptions::default()).map_err(|source| VolumeRecoverError {
                volume: v.name.clone(),
                source,
            })?;
        lines.extend(done.into_iter().map(|r| format!("volume {}: {r}", v.name)));
    }
    Ok(lines)
}

/// Finishes or rolls back every interrupted swap on `volume`, and removes what they
/// left. Nothing to do (no swap area, or a volume that does not exist) is `Ok(vec![])`.
pub fn recover(volume: &Path, opts: &SwapOptions) -> Result<Vec<Recovery>, SwapError> {
    let root = match std::fs::canonicalize(volume) {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(SwapError::io(volume, e)),
    };
    let root_fd = fsops::open_dir(&root).map_err(|e| SwapError::io(&root, e))?;
    let rel = Path::new(SWAP_DIR);
    if fsops::open_beneath(root_fd.as_fd(), rel)
        .map_err(|e| SwapError::io(&root.join(rel), e))?
        .is_none()
    {
        return Ok(Vec::new());
    }
    let (area, _lock) = lock(&root, false)?;
    let hook = opts.hook.as_ref();
    let mut done = Vec::new();
    for work in works(&area)? {
        let id = work
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let Some(mut j) = Journal::read(&work)? else {
            apply::remove_work(&work)?;
            done.push(Recovery {
                volume: root.clone(),
                id,
                what: String::new(),
                action: Action::Cleaned,
                kept: None,
            });
            continue;
        };
        check(&j, &root, &work)?;
        let (action, kept) = match j.phase {
            Phase::Staging => {
                apply::roll_back(&work)?;
                (Action::RolledBack, None)
            }
            Phase::Staged => {
                apply::forward(&j, &work, hook)?;
                (Action::RolledForward, apply::finish(&mut j, &work, hook)?)
            }
            Phase::Swapped => (Action::Finished, apply::finish(&mut j, &work, hook)?),
        };
        done.push(Recovery {
            volume: root.clone(),
            id,
            what: j.what.clone(),
            action,
            kept,
        });
    }
    Ok(done)
}

/// A journal must describe a swap of this volume inside this work directory.
fn check(j: &Journal, root: &Path, work: &Path) -> Result<(), SwapError> {
    let kept_ok = j
        .keep
        .as_ref()
        .is_none_or(|k| k.parent() == Some(root.join(KEPT_DIR).as_path()));
    if j.target != root || j.stage != work.join("new") || j.old != work.join("old") || !kept_ok {
        return Err(SwapError::Journal {
            path: work.join(super::journal::JOURNAL),
            reason: format!(
                "describes a swap of {} outside this volume's swap area; move it away by hand",
                j.target.display()
            ),
        });
    }
    Ok(())
}
