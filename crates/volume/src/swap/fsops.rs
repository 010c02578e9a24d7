//! Directory operations of the swap, all relative to an open directory and never
//! following a symlink: a path inside the volume is opened one component at a time with
//! `O_NOFOLLOW | O_DIRECTORY`, entries are renamed with `RENAME_NOREPLACE` so nothing
//! that appeared meanwhile is overwritten, and directories are fsynced by descriptor.

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path};

use rustix::fs::{AtFlags, Mode, OFlags, RenameFlags};

const DIR_FLAGS: OFlags = OFlags::DIRECTORY
    .union(OFlags::NOFOLLOW)
    .union(OFlags::RDONLY)
    .union(OFlags::CLOEXEC);

/// Opens the directory `path` itself (its last component must not be a symlink).
pub(crate) fn open_dir(path: &Path) -> io::Result<OwnedFd> {
    Ok(rustix::fs::open(path, DIR_FLAGS, Mode::empty())?)
}

fn components(rel: &Path) -> io::Result<Vec<&OsStr>> {
    rel.components()
        .map(|c| match c {
            Component::Normal(n) => Ok(n),
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} is not a plain relative path", rel.display()),
            )),
        })
        .collect()
}

/// Opens directory `rel` beneath `dir`; `None` when a component is missing. A symlink
/// or a non-directory on the way is an error.
pub(crate) fn open_beneath(dir: BorrowedFd<'_>, rel: &Path) -> io::Result<Option<OwnedFd>> {
    let mut cur = rustix::fs::openat(dir, ".", DIR_FLAGS, Mode::empty())?;
    for name in components(rel)? {
        match rustix::fs::openat(&cur, name, DIR_FLAGS, Mode::empty()) {
            Ok(fd) => cur = fd,
            Err(rustix::io::Errno::NOENT) => return Ok(None),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Some(cur))
}

/// Opens directory `rel` beneath `dir`, creating the missing components (mode 0700).
pub(crate) fn mkdir_beneath(dir: BorrowedFd<'_>, rel: &Path) -> io::Result<OwnedFd> {
    let mut cur = rustix::fs::openat(dir, ".", DIR_FLAGS, Mode::empty())?;
    for name in components(rel)? {
        match rustix::fs::mkdirat(&cur, name, Mode::from_raw_mode(0o700)) {
            Ok(()) => rustix::fs::fsync(&cur)?,
            Err(rustix::io::Errno::EXIST) => {}
            Err(e) => return Err(e.into()),
        }
        cur = rustix::fs::openat(&cur, name, DIR_FLAGS, Mode::empty())?;
    }
    Ok(cur)
}

/// The device and file type of `name` in `dir`, without following it; `None` if absent.
pub(crate) fn lstat_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<Option<rustix::fs::Stat>> {
    match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(st)),
        Err(rustix::io::Errno::NOENT) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Whether `rel` exists beneath `dir` (its last component not followed).
pub(crate) fn exists_beneath(dir: BorrowedFd<'_>, rel: &Path) -> io::Result<bool> {
    let (parent, name) = split(rel)?;
    match open_beneath(dir, parent)? {
        Some(p) => Ok(lstat_at(p.as_fd(), name)?.is_some()),
        None => Ok(false),
    }
}

/// The parent and last component of a relative path.
pub(crate) fn split(rel: &Path) -> io::Result<(&Path, &OsStr)> {
    match (rel.parent(), rel.file_name()) {
        (Some(p), Some(n)) => Ok((p, n)),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} names no entry", rel.display()),
        )),
    }
}

/// Renames `from_dir/name` to `to_dir/name`; fails with `AlreadyExists` rather than
/// replace anything (file systems without `RENAME_NOREPLACE` get a check first).
pub(crate) fn move_noreplace(
    from_dir: BorrowedFd<'_>,
    to_dir: BorrowedFd<'_>,
    name: &OsStr,
) -> io::Result<()> {
    match rustix::fs::renameat_with(from_dir, name, to_dir, name, RenameFlags::NOREPLACE) {
        Ok(()) => Ok(()),
        Err(rustix::io::Errno::INVAL | rustix::io::Errno::NOSYS) => {
            if lstat_at(to_dir, name)?.is_some() {
                return Err(io::Error::from(io::ErrorKind::AlreadyExists));
            }
            Ok(rustix::fs::renameat(from_dir, name, to_dir, name)?)
        }
        Err(e) => Err(e.into()),
    }
}

/// fsync of an open file or directory.
pub(crate) fn sync(fd: impl AsFd) -> io::Result<()> {
    Ok(rustix::fs::fsync(fd)?)
}

/// fsync of directory `rel` beneath `dir`, if it exists.
pub(crate) fn sync_beneath(dir: BorrowedFd<'_>, rel: &Path) -> io::Result<()> {
    match open_beneath(dir, rel)? {
        Some(fd) => sync(fd),
        None => Ok(()),
    }
}

/// Flushes every file and directory of the file system that holds `fd` to disk.
pub(crate) fn sync_filesystem(fd: impl AsFd) -> io::Result<()> {
    Ok(rustix::fs::syncfs(fd)?)
}

/// Removes `path` and everything below it (symlinks are removed, not followed); a
/// missing path is fine.
pub(crate) fn remove_tree(path: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
        Ok(m) if m.is_dir() => match std::fs::remove_dir_all(path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        },
        Ok(_) => match std::fs::remove_file(path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        },
    }
}
