//! The filesystem operations of a restore that are not file contents: making directories
//! (never following a symlink planted where one should be), symlinks, owner, mode and
//! times, and the final flush that makes everything written durable.
//!
//! Durability: a restored file is fsynced before its rename only when it replaces an
//! existing entry (the old data must stay whole until the new is on disk). Every other
//! file is renamed into place unsynced, and once all are written, [`Filesystems::sync`]
//! runs `syncfs(2)` once per filesystem that received files: a restore that returns
//! success has everything on disk, at the cost of one flush instead of one per file.
//! While the restore goes on, [`Filesystems::kick`] starts that writing early, after each
//! batch and after every [`KICK_BYTES`] written within one (a single large file is a batch
//! of its own), on a thread of its own (the kernel would otherwise wait until gigabytes are
//! dirty), so the final flush finds little left to write.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

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

/// The file systems a restore writes to, one directory of each held open from before
/// anything is written there, and the flushes of them (see the module doc).
///
/// The directories are opened early because `syncfs(2)` reports a writeback error only
/// to descriptors opened before the error happened; a background flush that meets one
/// keeps it (it is reported once per descriptor), and [`Filesystems::sync`] returns it.
#[derive(Default)]
pub(super) struct Filesystems {
    dirs: Mutex<HashMap<u64, (PathBuf, Arc<File>)>>,
    failed: Arc<Mutex<Option<(PathBuf, std::io::Error)>>>,
    running: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Bytes written since the last flush started.
    unflushed: AtomicU64,
}

/// Bytes written within a batch after which a background flush is started.
pub(super) const KICK_BYTES: u64 = 128 << 20;

type Opened = Vec<(PathBuf, Arc<File>)>;

impl Filesystems {
    /// Records the file system of `dir` (device `dev`), opening `dir` if it is the first
    /// directory seen there.
    pub(super) fn add(&self, dev: u64, dir: &Path) -> std::io::Result<()> {
        let mut dirs = self.dirs.lock().map_err(|_| poisoned())?;
        if let std::collections::hash_map::Entry::Vacant(slot) = dirs.entry(dev) {
            slot.insert((dir.to_path_buf(), Arc::new(File::open(dir)?)));
        }
        Ok(())
    }

    fn opened(&self) -> Opened {
        self.dirs
            .lock()
            .map(|d| d.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Counts `n` bytes written by a worker and starts a flush once [`KICK_BYTES`] have
    /// been written since the last one started.
    pub(super) fn wrote(&self, n: u64) {
        if self.unflushed.fetch_add(n, Ordering::Relaxed) + n >= KICK_BYTES {
            self.kick();
        }
    }

    /// Starts flushing every file system on a thread of its own, unless a flush is still
    /// running (or another worker is starting one); its first error is kept for
    /// [`Filesystems::sync`].
    pub(super) fn kick(&self) {
        let Ok(mut running) = self.running.try_lock() else {
            return;
        };
        if running.as_ref().is_some_and(|h| !h.is_finished()) {
            return;
        }
        if let Some(h) = running.take() {
            let _ = h.join();
        }
        self.unflushed.store(0, Ordering::Relaxed);
        let (dirs, failed) = (self.opened(), self.failed.clone());
        *running = Some(std::thread::spawn(move || {
            if let Err(e) = flush(&dirs)
                && let Ok(mut f) = failed.lock()
            {
                f.get_or_insert(e);
            }
        }));
    }

    fn wait(&self) {
        if let Some(h) = self.running.lock().ok().and_then(|mut r| r.take()) {
            let _ = h.join();
        }
    }

    /// Waits for a background flush, then flushes every file system once more: `syncfs`
    /// writes out the file data and the directory entries of the renames alike. Fails
    /// with the first error, from the background or from now, naming the directory.
    pub(super) fn sync(&self) -> Result<(), (PathBuf, std::io::Error)> {
        self.wait();
        if let Some(e) = self.failed.lock().ok().and_then(|mut f| f.take()) {
            return Err(e);
        }
        flush(&self.opened())
    }
}

fn poisoned() -> std::io::Error {
    std::io::Error::other("the restore's list of file systems is poisoned")
}

fn flush(dirs: &Opened) -> Result<(), (PathBuf, std::io::Error)> {
    for (dir, f) in dirs {
        rustix::fs::syncfs(&**f).map_err(|e| (dir.clone(), e.into()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writeback error is reported once per descriptor: one that a background flush
    /// met must still fail the final flush, not be lost with its thread.
    #[test]
    fn an_error_of_a_background_flush_fails_the_final_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fs = Filesystems::default();
        fs.add(1, dir.path()).expect("add");
        fs.kick();
        fs.wait();
        let io = std::io::Error::from_raw_os_error(5);
        *fs.failed.lock().expect("lock") = Some((dir.path().to_path_buf(), io));
        let (path, e) = fs.sync().expect_err("the kept error");
        assert_eq!((path.as_path(), e.raw_os_error()), (dir.path(), Some(5)));
    }

    /// One large file is a batch of its own: its writing must start before the batch
    /// ends, or the final flush writes all of it while nothing else runs.
    #[test]
    fn a_flush_starts_once_enough_is_written_within_a_batch() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fs = Filesystems::default();
        fs.add(1, dir.path()).expect("add");
        fs.wrote(KICK_BYTES - 1);
        assert!(fs.running.lock().expect("lock").is_none(), "too early");
        fs.wrote(1);
        assert!(
            fs.running.lock().expect("lock").is_some(),
            "no flush started"
        );
        assert_eq!(fs.unflushed.load(Ordering::Relaxed), 0);
        fs.sync().expect("flush");
    }

    #[test]
    fn one_directory_is_held_per_file_system() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fs = Filesystems::default();
        fs.add(7, dir.path()).expect("add");
        fs.add(7, Path::new("/nonexistent/holdfast-test"))
            .expect("not opened again");
        assert_eq!(fs.opened().len(), 1);
        fs.sync().expect("flush");
    }
}
