//! Copying one entry with its metadata: files through a temporary name, fsync and rename;
//! symlinks by target; directories' mode, owner and times set last.

use std::fs::{File, Metadata, OpenOptions, Permissions};
use std::io::ErrorKind;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::fs::{AtFlags, CWD, Timespec, Timestamps};
use rustix::process::{Gid, Uid};

use super::MigrateError;
use crate::layout::MIGRATE_PREFIX;

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

fn owner(meta: &Metadata) -> (Option<Uid>, Option<Gid>) {
    (
        Some(Uid::from_raw(meta.uid())),
        Some(Gid::from_raw(meta.gid())),
    )
}

fn timestamps(meta: &Metadata) -> Timestamps {
    Timestamps {
        last_access: Timespec {
            tv_sec: meta.atime(),
            tv_nsec: meta.atime_nsec(),
        },
        last_modification: Timespec {
            tv_sec: meta.mtime(),
            tv_nsec: meta.mtime_nsec(),
        },
    }
}

/// A temporary name next to `dst`, unique within this process.
fn temp_name(dst: &Path) -> PathBuf {
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    dst.with_file_name(format!("{MIGRATE_PREFIX}{}-{n}.tmp", std::process::id()))
}

fn not_a(kind: &str, path: &Path) -> MigrateError {
    MigrateError::io(
        "create",
        path,
        std::io::Error::new(
            ErrorKind::AlreadyExists,
            format!("exists and is not a {kind}"),
        ),
    )
}

/// Creates a destination directory (its metadata comes later, in [`finish_dir`]).
pub(super) fn make_dir(path: &Path) -> Result<(), MigrateError> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(not_a("directory", path)),
        Err(e) if e.kind() == ErrorKind::NotFound => {
            std::fs::create_dir_all(path).map_err(|e| MigrateError::io("create", path, e))
        }
        Err(e) => Err(MigrateError::io("stat", path, e)),
    }
}

/// Whether the destination already holds this file (same size and modification time).
fn same_file(dst: &Path, meta: &Metadata) -> Result<bool, MigrateError> {
    match std::fs::symlink_metadata(dst) {
        Ok(d) if d.is_dir() => Err(not_a("file", dst)),
        Ok(d) => Ok(d.is_file()
            && d.len() == meta.len()
            && d.mtime() == meta.mtime()
            && d.mtime_nsec() == meta.mtime_nsec()),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
        Err(e) => Err(MigrateError::io("stat", dst, e)),
    }
}

/// Copies a regular file unless the destination already has it; true when copied.
pub(super) fn copy_file(src: &Path, dst: &Path, meta: &Metadata) -> Result<bool, MigrateError> {
    if same_file(dst, meta)? {
        return Ok(false);
    }
    let tmp = temp_name(dst);
    let result = write_temp(src, &tmp, meta).and_then(|()| {
        std::fs::rename(&tmp, dst).map_err(|e| MigrateError::io("rename into", dst, e))
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map(|()| true)
}

fn write_temp(src: &Path, tmp: &Path, meta: &Metadata) -> Result<(), MigrateError> {
    let mut input = File::open(src).map_err(|e| MigrateError::io("read", src, e))?;
    let mut out = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(tmp)
        .map_err(|e| MigrateError::io("copy", src, e))?;
    std::io::copy(&mut input, &mut out).map_err(|e| MigrateError::io("copy", src, e))?;
    if is_root() {
        let (uid, gid) = owner(meta);
        rustix::fs::fchown(&out, uid, gid).map_err(|e| MigrateError::io("chown", tmp, e.into()))?;
    }
    out.set_permissions(Permissions::from_mode(meta.mode() & 0o7777))
        .map_err(|e| MigrateError::io("chmod", tmp, e))?;
    rustix::fs::futimens(&out, &timestamps(meta))
        .map_err(|e| MigrateError::io("set times of", tmp, e.into()))?;
    out.sync_all().map_err(|e| MigrateError::io("copy", src, e))
}

/// Recreates a symlink (atomically replacing a different one) with its owner and times.
pub(super) fn copy_symlink(src: &Path, dst: &Path, meta: &Metadata) -> Result<(), MigrateError> {
    let target = std::fs::read_link(src).map_err(|e| MigrateError::io("read link", src, e))?;
    match std::fs::symlink_metadata(dst) {
        Ok(d) if d.is_dir() => return Err(not_a("symlink", dst)),
        Ok(d)
            if d.file_type().is_symlink()
                && std::fs::read_link(dst).ok() == Some(target.clone()) => {}
        Ok(_) | Err(_) => {
            let tmp = temp_name(dst);
            std::os::unix::fs::symlink(&target, &tmp)
                .and_then(|()| std::fs::rename(&tmp, dst))
                .map_err(|e| {
                    let _ = std::fs::remove_file(&tmp);
                    MigrateError::io("create symlink", dst, e)
                })?;
        }
    }
    if is_root() {
        let (uid, gid) = owner(meta);
        rustix::fs::chownat(CWD, dst, uid, gid, AtFlags::SYMLINK_NOFOLLOW)
            .map_err(|e| MigrateError::io("chown", dst, e.into()))?;
    }
    rustix::fs::utimensat(CWD, dst, &timestamps(meta), AtFlags::SYMLINK_NOFOLLOW)
        .map_err(|e| MigrateError::io("set times of", dst, e.into()))
}

/// Gives a directory its source owner, mode and times, and fsyncs it so the renames in it
/// are durable.
pub(super) fn finish_dir(dst: &Path, meta: &Metadata) -> Result<(), MigrateError> {
    let dir = File::open(dst).map_err(|e| MigrateError::io("open", dst, e))?;
    dir.sync_all()
        .map_err(|e| MigrateError::io("sync", dst, e))?;
    if is_root() {
        let (uid, gid) = owner(meta);
        rustix::fs::fchown(&dir, uid, gid).map_err(|e| MigrateError::io("chown", dst, e.into()))?;
    }
    std::fs::set_permissions(dst, Permissions::from_mode(meta.mode() & 0o7777))
        .map_err(|e| MigrateError::io("chmod", dst, e))?;
    rustix::fs::futimens(&dir, &timestamps(meta))
        .map_err(|e| MigrateError::io("set times of", dst, e.into()))
}
