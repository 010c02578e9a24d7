//! The undo of a restore of one path ([`super::path`]): a swap the other way. The
//! entries the restore kept are hard-linked (never copied) into the stage of a new swap,
//! which moves what the restore brought in aside — kept in turn, with its own manifest,
//! so an undo can itself be undone — and the old entries back in. The first restore's
//! kept directory is removed and its manifest names the undo only once the swap has
//! committed ([`super::path::settle`], which the next restore or undo of the volume also
//! runs, so a crash in between is finished there). A crash at any step leaves the path
//! old or new, whole, as every swap does.

use std::path::{Path, PathBuf};

use super::kept::{self, Kept, State};
use super::path::{PathError, PathOptions, PathRestored, abort, begin, live, settle};
use crate::config::Volume;
use crate::guard::{self, Door};
use crate::swap::{Selection, Swap};

/// Puts back what restore `id` replaced on `volume` (see the module doc). Blocking.
pub fn undo_path(volume: &Volume, id: &str, opts: &PathOptions) -> Result<PathRestored, PathError> {
    let name = volume.name.clone();
    let manifest_err = |source| PathError::Manifest {
        volume: name.clone(),
        source,
    };
    if kept::read(&volume.path, id)
        .map_err(manifest_err)?
        .is_none()
    {
        return Err(PathError::NoSuchRestore {
            volume: name,
            id: id.to_string(),
        });
    }
    guard::enter(volume, Door::Replace).map_err(PathError::Guard)?;
    let swap = begin(volume, &format!("undo of restore {id}"), opts)?;
    let target = swap.target().to_path_buf();
    let original = match kept::read(&target, id) {
        Ok(Some(k)) => k,
        Ok(None) => {
            let e = PathError::NoSuchRestore {
                volume: name.clone(),
                id: id.to_string(),
            };
            return Err(abort(swap, &name, e));
        }
        Err(source) => return Err(abort(swap, &name, manifest_err(source))),
    };
    let st = kept::state(&target, &original);
    if st != State::Done {
        let reason = match st {
            State::Undone => "it was undone already",
            State::Pending => "it has not finished (the next guard recovers it)",
            _ => "it never replaced anything",
        };
        let e = PathError::NotUndoable {
            volume: name.clone(),
            id: id.to_string(),
            reason: reason.into(),
        };
        return Err(abort(swap, &name, e));
    }
    let from = kept::kept_dir(&target, id);
    for rel in &original.went_aside {
        if let Err(source) = link_tree(&from.join(rel), &swap.stage().join(rel)) {
            let e = PathError::Stage {
                volume: name.clone(),
                path: swap.stage().join(rel),
                source,
            };
            return Err(abort(swap, &name, e));
        }
    }
    let undo = match plan_undo(&name, &swap, &original) {
        Ok(m) => m,
        Err(e) => return Err(abort(swap, &name, e)),
    };
    let selection = Selection::Paths {
        new: original.went_aside.iter().map(PathBuf::from).collect(),
        old: original.came_in.iter().map(PathBuf::from).collect(),
    };
    swap.commit(selection).map_err(|source| PathError::Commit {
        volume: name.clone(),
        path: original.path.clone(),
        source,
    })?;
    settle(&target).map_err(manifest_err)?;
    Ok(PathRestored {
        kept: undo,
        files: 0,
        bytes: 0,
    })
}

/// The manifest of an undo of `original`.
fn plan_undo(volume: &str, swap: &Swap, original: &Kept) -> Result<Kept, PathError> {
    let mut came_in = Vec::new();
    for rel in &original.went_aside {
        came_in.push(live(volume, swap.target(), rel)?.0);
    }
    let mut went_aside = Vec::new();
    for rel in &original.came_in {
        if live(volume, swap.target(), rel)?.1 {
            went_aside.push(rel.clone());
        }
    }
    let k = Kept {
        version: 1,
        id: swap.id().to_string(),
        volume: volume.to_string(),
        snapshot: None,
        path: original.path.clone(),
        came_in,
        went_aside,
        undoes: Some(original.id.clone()),
        undone_by: None,
        started: chrono::Utc::now().to_rfc3339(),
    };
    kept::write(swap.target(), &k).map_err(|source| PathError::Manifest {
        volume: volume.to_string(),
        source,
    })?;
    Ok(k)
}

/// Hard-links the tree `src` into `dst` (made, with its parents): directories are made
/// with their mode, owner and times, everything else is linked (a symlink as itself).
fn link_tree(src: &Path, dst: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    if let Some(parent) = dst.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut dirs = Vec::new();
    for entry in walkdir::WalkDir::new(src).follow_links(false) {
        let entry = entry.map_err(std::io::Error::other)?;
        let rel = entry
            .path()
            .strip_prefix(src)
            .map_err(std::io::Error::other)?;
        let to = if rel.as_os_str().is_empty() {
            dst.to_path_buf()
        } else {
            dst.join(rel)
        };
        if entry.file_type().is_dir() {
            std::fs::create_dir(&to)?;
            dirs.push((to, entry.metadata().map_err(std::io::Error::other)?));
        } else {
            std::fs::hard_link(entry.path(), &to)?;
        }
    }
    for (dir, meta) in dirs.iter().rev() {
        let f = std::fs::File::open(dir)?;
        if rustix::process::geteuid().is_root() {
            let uid = rustix::process::Uid::from_raw(meta.uid());
            let gid = rustix::process::Gid::from_raw(meta.gid());
            rustix::fs::fchown(&f, Some(uid), Some(gid))?;
        }
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(meta.mode() & 0o7777))?;
        let mtime = rustix::fs::Timespec {
            tv_sec: meta.mtime(),
            tv_nsec: meta.mtime_nsec() as _,
        };
        let times = rustix::fs::Timestamps {
            last_access: mtime,
            last_modification: mtime,
        };
        rustix::fs::futimens(&f, &times)?;
    }
    Ok(())
}
