//! What a restore does with entries that already exist in the target: the modes of
//! restic 0.17's `--overwrite`, the check that refuses a non-empty target when no mode was
//! chosen, and the per-entry decision ([`Action`]).
//!
//! How it works: before anything is written, [`check_target`] lists the target; a
//! non-empty one is refused unless a mode is set. Each file and symlink of the snapshot is
//! then classified by looking at its destination with `lstat` (its parent directories were
//! checked to be real directories, so no symlink planted in the target is followed):
//! missing → [`Action::Write`]; present → by the mode. `if-changed` skips a regular file
//! whose size and mtime match the snapshot's, and when only the mtime differs it chunks the
//! file as a backup would and compares blob ids, so identical content is never rewritten.
//! A planted symlink is never a regular file: `always` and `if-changed` replace the link
//! itself (rename never follows it), `never` leaves it.

use std::fs::OpenOptions;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use crate::error::{Error, Result};
use crate::repository::IndexedRepository;
use crate::tree::{Node, NodeType};

/// What to do with a file that already exists in the target (restic 0.17's modes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Overwrite {
    /// Overwrite every existing file.
    Always,
    /// Skip files whose size and mtime (or, when only the mtime differs, content) match
    /// the snapshot; overwrite the others.
    IfChanged,
    /// Keep every existing file; restore only the missing ones.
    Never,
}

impl Overwrite {
    /// The mode's name as the command line spells it.
    pub fn name(self) -> &'static str {
        match self {
            Overwrite::Always => "always",
            Overwrite::IfChanged => "if-changed",
            Overwrite::Never => "never",
        }
    }
}

/// What a restore does (or, in a dry run, would do) with one file or symlink.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Nothing there: written.
    Write,
    /// Something there: replaced (temp beside it, fsync, rename).
    Overwrite,
    /// Something there that is kept (`never`, or unchanged under `if-changed`).
    Skip,
}

impl Action {
    /// Lower-case name used in listings and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Action::Write => "write",
            Action::Overwrite => "overwrite",
            Action::Skip => "skip",
        }
    }
}

/// One entry of a restore plan.
#[derive(Clone, Debug)]
pub struct Planned {
    /// Path relative to the target.
    pub path: String,
    /// What happens to it.
    pub action: Action,
}

/// Refuses a target that exists and is not empty when no mode was chosen. A target that
/// does not exist, or is empty, is always fine.
pub fn check_target(target: &Path, mode: Option<Overwrite>) -> Result<()> {
    if mode.is_some() {
        return Ok(());
    }
    let mut names = match std::fs::read_dir(target) {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(target, e)),
    };
    let Some(first) = names.next() else {
        return Ok(());
    };
    let first = first.map_err(|e| Error::io(target, e))?;
    let entries = 1 + names.count() as u64;
    Err(Error::TargetNotEmpty {
        target: target.to_path_buf(),
        entries,
        example: first.file_name().to_string_lossy().into_owned(),
    })
}

/// Decides what happens to `node` at `dest` under `mode` (`None`: the target was empty
/// when checked, so anything found is overwritten as `always` would).
pub(super) fn decide(
    repo: &IndexedRepository,
    node: &Node,
    dest: &Path,
    mode: Option<Overwrite>,
) -> Action {
    let meta = match std::fs::symlink_metadata(dest) {
        Ok(m) => m,
        Err(_) => return Action::Write,
    };
    match mode.unwrap_or(Overwrite::Always) {
        Overwrite::Always => Action::Overwrite,
        Overwrite::Never => Action::Skip,
        Overwrite::IfChanged => match node.kind {
            NodeType::File if meta.is_file() && meta.len() == node.size => {
                let mtime_ns =
                    i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec());
                if mtime_ns == i128::from(node.mtime_ns) || same_content(repo, node, dest) {
                    Action::Skip
                } else {
                    Action::Overwrite
                }
            }
            NodeType::Symlink if meta.file_type().is_symlink() => {
                match (std::fs::read_link(dest), node.os_target()) {
                    (Ok(have), Some(want)) if have.as_os_str() == want.as_os_str() => Action::Skip,
                    _ => Action::Overwrite,
                }
            }
            _ => Action::Overwrite,
        },
    }
}

/// True when the regular file at `dest` chunks to exactly the blobs of `node`. Opened
/// with `O_NOFOLLOW`; any read error counts as different.
fn same_content(repo: &IndexedRepository, node: &Node, dest: &Path) -> bool {
    let Ok(file) = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(dest)
    else {
        return false;
    };
    let mut ids = node.content.iter();
    for chunk in repo.inner.chunker.chunks(file, node.size) {
        let Ok(chunk) = chunk else { return false };
        if ids.next() != Some(&repo.keys().blob_id(&chunk)) {
            return false;
        }
    }
    ids.next().is_none()
}
