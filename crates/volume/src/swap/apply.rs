//! The moves of a swap, shared by [`Swap::commit`](super::Swap::commit) and recovery.
//!
//! Every function here is idempotent: it looks where each entry is before it moves it,
//! so running it again after a crash at any point (or twice) finishes the same swap.
//! An old entry is moved aside unless it is aside already, or unless the name is also a
//! new entry that is no longer in the stage (then what is live is the new one). A new
//! entry is moved in when it is still in the stage.

use std::collections::{BTreeSet, HashSet};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use super::SwapError;
use super::failpoint::{Hook, Step};
use super::fsops;
use super::journal::{Journal, Phase};

/// Calls the hook after `step`; its error is a simulated crash.
pub(crate) fn hit(hook: Option<&Hook>, step: Step) -> Result<(), SwapError> {
    match hook {
        Some(h) => h(step).map_err(|e| SwapError::Interrupted {
            step: step.to_string(),
            reason: e.to_string(),
        }),
        None => Ok(()),
    }
}

fn open(path: &Path) -> Result<OwnedFd, SwapError> {
    fsops::open_dir(path).map_err(|e| SwapError::io(path, e))
}

fn open_opt(path: &Path) -> Result<Option<OwnedFd>, SwapError> {
    match fsops::open_dir(path) {
        Ok(fd) => Ok(Some(fd)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(SwapError::io(path, e)),
    }
}

fn parents(rels: &[PathBuf]) -> BTreeSet<PathBuf> {
    rels.iter()
        .map(|r| r.parent().map(Path::to_path_buf).unwrap_or_default())
        .collect()
}

/// Moves the journal's old entries aside and its new entries in, then syncs the
/// directories. Returns how many entries it moved out and in.
pub(crate) fn forward(
    j: &Journal,
    work: &Path,
    hook: Option<&Hook>,
) -> Result<(usize, usize), SwapError> {
    let jpath = work.join(super::journal::JOURNAL);
    let old = j.old_paths(&jpath)?;
    let new = j.new_paths(&jpath)?;
    let new_set: HashSet<&PathBuf> = new.iter().collect();
    let root = open(&j.target)?;
    let work_fd = open(work)?;
    let stage = open_opt(&j.stage)?;
    let aside = fsops::mkdir_beneath(work_fd.as_fd(), Path::new("old"))
        .map_err(|e| SwapError::io(&j.old, e))?;
    let in_stage = |rel: &Path| -> Result<bool, SwapError> {
        match &stage {
            Some(s) => fsops::exists_beneath(s.as_fd(), rel)
                .map_err(|e| SwapError::io(&j.stage.join(rel), e)),
            None => Ok(false),
        }
    };
    let (mut moved_out, mut moved_in) = (0, 0);
    for (i, rel) in old.iter().enumerate() {
        let live = j.target.join(rel);
        let io = |e| SwapError::io(&live, e);
        if fsops::exists_beneath(aside.as_fd(), rel).map_err(io)? {
            continue;
        }
        if new_set.contains(rel) && !in_stage(rel)? {
            continue;
        }
        let (parent, name) = fsops::split(rel).map_err(io)?;
        let Some(src) = fsops::open_beneath(root.as_fd(), parent).map_err(io)? else {
            continue;
        };
        if fsops::lstat_at(src.as_fd(), name).map_err(io)?.is_none() {
            continue;
        }
        let dst = fsops::mkdir_beneath(aside.as_fd(), parent)
            .map_err(|e| SwapError::io(&j.old.join(parent), e))?;
        fsops::move_noreplace(src.as_fd(), dst.as_fd(), name).map_err(io)?;
        moved_out += 1;
        hit(hook, Step::MovedOld(i))?;
    }
    for p in parents(&old) {
        fsops::sync_beneath(root.as_fd(), &p).map_err(|e| SwapError::io(&j.target.join(&p), e))?;
        fsops::sync_beneath(aside.as_fd(), &p).map_err(|e| SwapError::io(&j.old.join(&p), e))?;
    }
    fsops::sync(&work_fd).map_err(|e| SwapError::io(work, e))?;
    hit(hook, Step::OldSynced)?;
    if let Some(stage) = &stage {
        for (i, rel) in new.iter().enumerate() {
            let live = j.target.join(rel);
            let (parent, name) = fsops::split(rel).map_err(|e| SwapError::io(&live, e))?;
            let staged = j.stage.join(rel);
            let Some(src) = fsops::open_beneath(stage.as_fd(), parent)
                .map_err(|e| SwapError::io(&staged, e))?
            else {
                continue;
            };
            if fsops::lstat_at(src.as_fd(), name)
                .map_err(|e| SwapError::io(&staged, e))?
                .is_none()
            {
                continue;
            }
            let dst = fsops::open_beneath(root.as_fd(), parent)
                .map_err(|e| SwapError::io(&live, e))?
                .ok_or_else(|| SwapError::Refused {
                    path: j.target.join(parent),
                    reason: "the directory vanished during the swap".into(),
                })?;
            fsops::move_noreplace(src.as_fd(), dst.as_fd(), name).map_err(|e| {
                if e.kind() == std::io::ErrorKind::AlreadyExists {
                    SwapError::Refused {
                        path: live.clone(),
                        reason: "appeared during the swap (stop the app first); the next restore or run finishes the swap once it is moved away".into(),
                    }
                } else {
                    SwapError::io(&live, e)
                }
            })?;
            moved_in += 1;
            hit(hook, Step::MovedNew(i))?;
        }
        for p in parents(&new) {
            fsops::sync_beneath(root.as_fd(), &p)
                .map_err(|e| SwapError::io(&j.target.join(&p), e))?;
            fsops::sync_beneath(stage.as_fd(), &p)
                .map_err(|e| SwapError::io(&j.stage.join(&p), e))?;
        }
    }
    hit(hook, Step::NewSynced)?;
    Ok((moved_out, moved_in))
}

/// After the new data is in place: marks the journal `swapped`, deletes (or keeps) the
/// old copy, removes the journal and the work directory. Returns where the old copy is
/// kept, if it is.
pub(crate) fn finish(
    j: &mut Journal,
    work: &Path,
    hook: Option<&Hook>,
) -> Result<Option<PathBuf>, SwapError> {
    if j.phase != Phase::Swapped {
        j.phase = Phase::Swapped;
        j.write(work)?;
    }
    hit(hook, Step::JournalSwapped)?;
    let kept = match &j.keep {
        Some(keep) => {
            if fsops::open_dir(&j.old).is_ok() {
                let parent = keep.parent().unwrap_or(work);
                std::fs::create_dir_all(parent).map_err(|e| SwapError::io(parent, e))?;
                std::fs::rename(&j.old, keep).map_err(|e| SwapError::io(keep, e))?;
                fsops::sync(open(parent)?).map_err(|e| SwapError::io(parent, e))?;
            }
            Some(keep.clone())
        }
        None => {
            fsops::remove_tree(&j.old).map_err(|e| SwapError::io(&j.old, e))?;
            None
        }
    };
    hit(hook, Step::OldRemoved)?;
    Journal::remove(work)?;
    hit(hook, Step::JournalRemoved)?;
    remove_work(work)?;
    Ok(kept)
}

/// Undoes a swap that never got past `staging`: the stage goes, nothing live changes.
pub(crate) fn roll_back(work: &Path) -> Result<(), SwapError> {
    for sub in ["new", "scratch"] {
        let p = work.join(sub);
        fsops::remove_tree(&p).map_err(|e| SwapError::io(&p, e))?;
    }
    Journal::remove(work)?;
    remove_work(work)
}

/// Removes a work directory whose journal is gone (nothing in it is needed any more).
pub(crate) fn remove_work(work: &Path) -> Result<(), SwapError> {
    fsops::remove_tree(work).map_err(|e| SwapError::io(work, e))?;
    if let Some(parent) = work.parent() {
        fsops::sync(open(parent)?).map_err(|e| SwapError::io(parent, e))?;
    }
    Ok(())
}
