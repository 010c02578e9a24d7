//! The filesystem operations of a restore that are not file contents: making directories
//! (never following a symlink planted where one should be), symlinks, owner, mode and
//! times, and the final flush that makes everything written durable.
//!
//! Durability: a restored file is fsynced before its rename only when it replaces an
//! existing entry (the old data must stay whole until the new is on disk). Every other
//! file is renamed into place unsynced, and once all are written, [`sync_filesystems`]
//! runs `syncfs(2)` once per filesystem that received files: a restore that returns
//! success has everything on disk, at the cost of one flush instead of one per file.
//! While the restore goes on, a [`Flusher`] starts that writing early, after each batch,
//! on a thread of its own (the kernel would otherwise wait until gigabytes are dirty), so
//! the final flush finds little left to write.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use filetime::FileTime;

use crate::tree::Node;

/// The text of an I/O error, for a damaged-entry listing.
pub(super) fn io_text(e: std::io::Error) -> String {
    e.to_string()
}

/// Makes `path` (its parent exists) or accepts a real directory already there; anything
/// else in the way is refused, never followed. Returns the directory's device.
pub(super) fn make_dir(path: &Path) -> Result<u64, String> {
    match std::fs::create_dir(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e.to_string()),
    }
    let m = std::fs::symlink_metadata(path).map_err(io_text)?;
    if m.is_dir() {
        Ok(m.dev())
    } else {
        Err("exists and is not a directory (refusing to follow it)".into())
    }
}

/// The dry-run twin of [`make_dir`]: fine when missing or a real directory.
pub(super) fn would_make_dir(path: &Path) -> Result<u64, String> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if !m.is_dir() => Err("exists and is not a directory (refusing to follow it)".into()),
        Ok(m) => Ok(m.dev()),
        Err(_) => Ok(0),
    }
}

/// Makes the symlink of `node` at `dest`, replacing a file or symlink there (never a
/// directory), with its owner (as root) and times.
pub(super) fn symlink(dest: &Path, node: &Node, me_root: bool) -> Result<(), String> {
    let target = node.os_target().ok_or("symlink without target")?;
    if let Ok(m) = std::fs::symlink_metadata(dest) {
        if m.is_dir() {
            return Err("a directory is in the way".into());
        }
        std::fs::remove_file(dest).map_err(io_text)?;
    }
    std::os::unix::fs::symlink(&target, dest).map_err(io_text)?;
    if me_root {
        let _ = std::os::unix::fs::lchown(dest, Some(node.uid), Some(node.gid));
    }
    let t = mtime(node);
    filetime::set_symlink_file_times(dest, t, t).map_err(io_text)
}

fn mtime(node: &Node) -> FileTime {
    FileTime::from_unix_time(
        node.mtime_ns.div_euclid(1_000_000_000),
        node.mtime_ns.rem_euclid(1_000_000_000) as u32,
    )
}

/// Owner (as root), mode and times of a restored file, through its open handle.
pub(super) fn set_file_meta(file: &File, node: &Node, me_root: bool) -> std::io::Result<()> {
    if me_root {
        std::os::unix::fs::fchown(file, Some(node.uid), Some(node.gid))?;
    }
    file.set_permissions(std::fs::Permissions::from_mode(node.mode & 0o7777))?;
    let t = mtime(node);
    filetime::set_file_handle_times(file, Some(t), Some(t))
}

/// Owner (as root), mode and times of a restored directory.
pub(super) fn set_dir_meta(path: &Path, node: &Node, me_root: bool) -> std::io::Result<()> {
    if me_root {
        std::os::unix::fs::lchown(path, Some(node.uid), Some(node.gid))?;
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(node.mode & 0o7777))?;
    let t = mtime(node);
    filetime::set_file_times(path, t, t)
}

/// True when this process runs as root (owners are then restored).
pub(super) fn running_as_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

/// At most one background flush at a time; see the module doc. Its errors are left to
/// the final [`sync_filesystems`], which reports them.
#[derive(Default)]
pub(super) struct Flusher {
    running: Option<std::thread::JoinHandle<()>>,
}

impl Flusher {
    /// Starts flushing `dirs`' file systems unless a flush is still running.
    pub(super) fn kick(&mut self, dirs: &HashMap<u64, PathBuf>) {
        if self.running.as_ref().is_some_and(|h| !h.is_finished()) {
            return;
        }
        self.wait();
        let dirs = dirs.clone();
        self.running = Some(std::thread::spawn(move || {
            let _ = sync_filesystems(&dirs);
        }));
    }

    /// Waits for the flush running, if any.
    pub(super) fn wait(&mut self) {
        if let Some(h) = self.running.take() {
            let _ = h.join();
        }
    }
}

/// Flushes every filesystem that received files, one directory of each named: `syncfs(2)`
/// writes out the file data and the directory entries of the renames alike.
pub(super) fn sync_filesystems(
    dirs: &HashMap<u64, PathBuf>,
) -> Result<(), (PathBuf, std::io::Error)> {
    for dir in dirs.values() {
        let synced = File::open(dir).and_then(|f| rustix::fs::syncfs(&f).map_err(Into::into));
        synced.map_err(|e| (dir.clone(), e))?;
    }
    Ok(())
}
