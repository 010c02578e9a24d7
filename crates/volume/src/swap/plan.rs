//! Settling a [`Selection`] into the journal's two entry lists, before anything live is
//! touched: every path is plain and relative, none is holdfast's own, every entry is on
//! the volume's file system (a mount inside the volume cannot be renamed), and no entry
//! moved aside holds one that comes in. A whole-volume swap leaves the file system's
//! `lost+found` where it is.

use std::collections::BTreeSet;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use super::{Selection, SwapError, fsops};
use crate::layout::{LOST_FOUND, is_own};

fn refused(path: &Path, reason: impl Into<String>) -> SwapError {
    SwapError::Refused {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

fn top_level(dir: &Path) -> Result<Vec<PathBuf>, SwapError> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).map_err(|e| SwapError::io(dir, e))? {
        let e = e.map_err(|e| SwapError::io(dir, e))?;
        out.push(PathBuf::from(e.file_name()));
    }
    out.sort();
    Ok(out)
}

fn check_rel(root: &Path, rel: &Path) -> Result<(), SwapError> {
    let plain =
        !rel.as_os_str().is_empty() && rel.components().all(|c| matches!(c, Component::Normal(_)));
    if !plain {
        return Err(refused(
            &root.join(rel),
            "not a plain path inside the volume",
        ));
    }
    match rel.components().next() {
        Some(Component::Normal(first)) if is_own(first) => Err(refused(
            &root.join(rel),
            "holdfast keeps this name for itself; it is never replaced",
        )),
        _ => Ok(()),
    }
}

/// The old and new entry lists of `selection`, relative to the volume `root`.
pub(super) fn settle(
    root: &Path,
    stage: &Path,
    selection: &Selection,
) -> Result<(Vec<PathBuf>, Vec<PathBuf>), SwapError> {
    let root_fd = fsops::open_dir(root).map_err(|e| SwapError::io(root, e))?;
    let stage_fd = fsops::open_dir(stage).map_err(|e| SwapError::io(stage, e))?;
    let (old, new) = match selection {
        Selection::Whole => {
            // The file system's own `lost+found` stays where it is, whatever the snapshot holds.
            let new: Vec<PathBuf> = top_level(stage)?
                .into_iter()
                .filter(|n| n.as_os_str() != LOST_FOUND)
                .collect();
            if let Some(own) = new.iter().find(|n| is_own(n.as_os_str())) {
                return Err(refused(
                    &stage.join(own),
                    "the new data holds a name holdfast keeps for itself",
                ));
            }
            let old = top_level(root)?
                .into_iter()
                .filter(|n| !is_own(n.as_os_str()) && n.as_os_str() != LOST_FOUND)
                .collect();
            (old, new)
        }
        Selection::Paths { new, old } => {
            let mut units = BTreeSet::new();
            for rel in new {
                check_rel(root, rel)?;
                let staged = fsops::exists_beneath(stage_fd.as_fd(), rel)
                    .map_err(|e| SwapError::io(&stage.join(rel), e))?;
                if !staged {
                    return Err(refused(&stage.join(rel), "not in the staged data"));
                }
                units.insert(unit(root, root_fd.as_fd(), rel)?);
            }
            let new: Vec<PathBuf> = units.into_iter().collect();
            for (a, b) in new.iter().zip(new.iter().skip(1)) {
                if b.starts_with(a) {
                    return Err(refused(
                        &root.join(b),
                        format!("is inside {}, which also comes in", a.display()),
                    ));
                }
            }
            let mut aside = BTreeSet::new();
            for rel in old.iter().chain(new.iter()) {
                check_rel(root, rel)?;
                let live = fsops::exists_beneath(root_fd.as_fd(), rel)
                    .map_err(|e| SwapError::io(&root.join(rel), e))?;
                if live {
                    aside.insert(rel.clone());
                }
            }
            let old: Vec<PathBuf> = aside.into_iter().collect();
            for o in &old {
                if let Some(n) = new.iter().find(|n| n.starts_with(o) && *n != o) {
                    return Err(refused(
                        &root.join(o),
                        format!("would be moved aside with {} inside it", n.display()),
                    ));
                }
            }
            (old, new)
        }
    };
    let dev = |p: &Path| {
        std::fs::symlink_metadata(p)
            .map(|m| m.dev())
            .map_err(|e| SwapError::io(p, e))
    };
    let root_dev = dev(root)?;
    if dev(stage)? != root_dev {
        return Err(refused(
            stage,
            "the stage is not on the volume's file system",
        ));
    }
    for rel in &old {
        if dev(&root.join(rel))? != root_dev {
            return Err(refused(
                &root.join(rel),
                "is another file system mounted inside the volume; it cannot be swapped",
            ));
        }
    }
    Ok((old, new))
}

/// The entry that brings `rel` in: `rel` itself, or its topmost ancestor missing on the
/// volume. An ancestor that is a symlink or not a directory is refused.
fn unit(
    root: &Path,
    root_fd: std::os::fd::BorrowedFd<'_>,
    rel: &Path,
) -> Result<PathBuf, SwapError> {
    let mut prefix = PathBuf::new();
    let comps: Vec<_> = rel.components().collect();
    for (i, c) in comps.iter().enumerate() {
        prefix.push(c);
        if i + 1 == comps.len() {
            break;
        }
        match fsops::open_beneath(root_fd, &prefix) {
            Ok(Some(_)) => {}
            Ok(None) => return Ok(prefix),
            Err(e) => {
                return Err(refused(
                    &root.join(&prefix),
                    format!("is not a plain directory ({e}); holdfast does not restore through it"),
                ));
            }
        }
    }
    Ok(prefix)
}
