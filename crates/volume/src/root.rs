//! How a file PUT stays beneath its volume: every file holdfast reads or writes on
//! behalf of a caller (the HTTP file API, uploads, the TTL cache) is reached from an open
//! descriptor of the volume root, one component at a time, never by path.
//!
//! **Invariant**: no access through a [`Root`] touches anything outside the directory
//! tree of the root, whatever the path and whatever is swapped on the volume meanwhile.
//!
//! How:
//!
//! 1. the path is checked before anything is touched ([`path_problem`]): an absolute
//!    path, an empty, `.` or `..` segment, or a NUL is refused. Front ends check more
//!    before ([`check_key`]: the store's key rules and holdfast's own names; percent
//!    encodings are the HTTP layer's business);
//! 2. each directory on the way is opened with `openat(parent, name, O_DIRECTORY |
//!    O_NOFOLLOW)` from the descriptor of the one before, starting at the root's: a
//!    symlink anywhere on the way — planted before the request, or swapped in while it
//!    runs — makes the open fail ([`RootError::Symlink`]) instead of leading outside.
//!    Missing directories are made with `mkdirat` in the parent just opened, and the
//!    parent fsynced;
//! 3. the last component is opened, created, renamed or unlinked relative to the
//!    parent's descriptor with `O_NOFOLLOW`, so nothing is checked by path and then
//!    opened by path. A directory renamed away and replaced by a link after it was
//!    opened is still the directory that was opened: the write lands inside the volume;
//! 4. a write ([`Root::create`] → [`Pending::commit`], or [`Root::write`]) goes to a
//!    temporary file `.holdfast-part-*` made in the target's directory, which is fsynced,
//!    renamed over the target within that directory (a link swapped in at the target is
//!    replaced, never followed), and the directory fsynced: readers see the old file or
//!    the new, never half of one, and a write not committed removes its temporary file.
//!
//! The configured root itself may be a link (a mount arranged that way): it is trusted.
//! Errors are [`RootError`]s naming the path; [`RootError::kind`] classes them for a
//! front end (the HTTP API maps them to status codes at its edge).

mod error;
#[cfg(test)]
mod tests;

use std::io::Write as _;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use holdfast_store::{ObjectMeta, key_problem};
use rustix::fs::{AtFlags, Dir, FileType, Mode, OFlags, Stat};
use rustix::io::Errno;

pub use error::{RootError, RootErrorKind};

use crate::layout::{PART_PREFIX, STATE_DIR, STORE_TEMP_DIR};

/// Directory levels a listing descends at most (each level holds one descriptor).
const MAX_DEPTH: usize = 256;

const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

/// The open root directory of a volume.
#[derive(Debug)]
pub struct Root {
    fd: OwnedFd,
    path: PathBuf,
}

/// A regular file opened beneath the root, with what `fstat` said of it.
#[derive(Debug)]
pub struct Opened {
    /// The open file.
    pub file: std::fs::File,
    /// Its size and modification time, keyed by the path asked for.
    pub meta: ObjectMeta,
}

/// Why `path` could name something outside the root, or `None` when it cannot: an
/// empty path, an absolute one, an empty, `.` or `..` segment, or a NUL.
pub fn path_problem(path: &str) -> Option<&'static str> {
    if path.is_empty() {
        return Some("empty path");
    }
    if path.starts_with('/') {
        return Some("absolute path");
    }
    if path.contains('\0') {
        return Some("NUL in path");
    }
    for seg in path.split('/') {
        match seg {
            "" => return Some("empty path segment"),
            "." | ".." => return Some("`.` or `..` segment"),
            _ => {}
        }
    }
    None
}

/// Checks a path a caller asks for: the store's key rules
/// ([`holdfast_store::key_problem`]: no `..` or `.` segment, absolute path, empty
/// segment, backslash or NUL) and none of holdfast's own entries (its state directory,
/// the store's temporary directory, the temporary files of writes in progress).
pub fn check_key(key: &str) -> Result<(), RootError> {
    if let Some(reason) = key_problem(key, false) {
        return Err(RootError::Refused {
            path: key.to_string(),
            reason,
        });
    }
    let first = key.split('/').next().unwrap_or_default();
    if first == STATE_DIR || first == STORE_TEMP_DIR {
        return Err(RootError::Reserved {
            path: key.to_string(),
            name: format!("{first}/"),
        });
    }
    if key.split('/').any(|s| s.starts_with(PART_PREFIX)) {
        return Err(RootError::Reserved {
            path: key.to_string(),
            name: format!("{PART_PREFIX}*"),
        });
    }
    Ok(())
}

/// What a name in `dir` is, without following it; `None` when it does not exist.
fn kind_at(dir: impl AsFd, name: &str) -> Result<Option<FileType>, Errno> {
    match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(FileType::from_raw_mode(st.st_mode))),
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

#[allow(clippy::unnecessary_cast)]
fn meta_of(key: String, st: &Stat) -> ObjectMeta {
    let modified = chrono::DateTime::from_timestamp(st.st_mtime as i64, st.st_mtime_nsec as u32);
    ObjectMeta {
        key,
        size: u64::try_from(st.st_size).unwrap_or_default(),
        modified,
    }
}

fn segments(path: &str) -> Result<Vec<&str>, RootError> {
    match path_problem(path) {
        Some(reason) => Err(RootError::Refused {
            path: path.to_string(),
            reason,
        }),
        None => Ok(path.split('/').collect()),
    }
}

/// A fresh temporary name for a write in progress.
fn temp_name() -> String {
    format!("{PART_PREFIX}{}", uuid::Uuid::new_v4().simple())
}

impl Root {
    /// Opens the volume root (the configured path itself may be a link: it is trusted).
    pub fn open(path: &Path) -> Result<Root, RootError> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        match rustix::fs::open(path, flags, Mode::empty()) {
            Ok(fd) => Ok(Root {
                fd,
                path: path.to_path_buf(),
            }),
            Err(e) => Err(RootError::Open {
                root: path.to_path_buf(),
                source: e.into(),
            }),
        }
    }

    /// The path the root was opened at.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens the directory `segs` below the root, making missing ones when `create`;
    /// `None` when one is missing and not made. `key` is for messages.
    fn dir(&self, segs: &[&str], create: bool, key: &str) -> Result<Option<OwnedFd>, RootError> {
        let mut cur = rustix::io::dup(&self.fd).map_err(|e| RootError::io(key, e))?;
        for (i, seg) in segs.iter().enumerate() {
            let mut made = false;
            let next = loop {
                match rustix::fs::openat(&cur, *seg, DIR_FLAGS, Mode::empty()) {
                    Ok(fd) => break fd,
                    Err(Errno::NOENT) if create && !made => {
                        match rustix::fs::mkdirat(&cur, *seg, Mode::from_raw_mode(0o755)) {
                            // The new entry is made durable in its parent.
                            Ok(()) => rustix::fs::fsync(&cur).map_err(|e| RootError::io(key, e))?,
                            Err(Errno::EXIST) => {}
                            Err(e) => return Err(RootError::io(key, e)),
                        }
                        made = true;
                    }
                    Err(Errno::NOENT) => return Ok(None),
                    Err(Errno::LOOP | Errno::NOTDIR) => {
                        return match kind_at(&cur, seg) {
                            Ok(Some(FileType::Directory | FileType::Symlink) | None) => {
                                Err(RootError::symlink(key))
                            }
                            Ok(Some(_)) => Err(RootError::NotADirectory {
                                path: key.to_string(),
                                prefix: segs[..=i].join("/"),
                            }),
                            Err(e) => Err(RootError::io(key, e)),
                        };
                    }
                    Err(e) => return Err(RootError::io(key, e)),
                }
            };
            cur = next;
        }
        Ok(Some(cur))
    }

    /// The parent directory of `key` and its last component.
    fn parent<'k>(
        &self,
        key: &'k str,
        create: bool,
    ) -> Result<(Option<OwnedFd>, &'k str), RootError> {
        let segs = segments(key)?;
        let Some((name, dirs)) = segs.split_last() else {
            return Err(RootError::Refused {
                path: key.to_string(),
                reason: "empty path",
            });
        };
        Ok((self.dir(dirs, create, key)?, name))
    }

    /// Opens the regular file `key` for reading; `None` when it does not exist. A
    /// symlink is [`RootError::Symlink`], anything but a regular file a conflict.
    pub fn open_file(&self, key: &str) -> Result<Option<Opened>, RootError> {
        let (Some(dir), name) = self.parent(key, false)? else {
            return Ok(None);
        };
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
        let fd = match rustix::fs::openat(&dir, name, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => return Ok(None),
            Err(Errno::LOOP) => return Err(RootError::symlink(key)),
            Err(e) => return Err(RootError::io(key, e)),
        };
        let st = rustix::fs::fstat(&fd).map_err(|e| RootError::io(key, e))?;
        match FileType::from_raw_mode(st.st_mode) {
            FileType::RegularFile => {}
            FileType::Directory => return Err(RootError::is_dir(key)),
            _ => return Err(RootError::not_file(key)),
        }
        Ok(Some(Opened {
            meta: meta_of(key.to_string(), &st),
            file: std::fs::File::from(fd),
        }))
    }

    /// Makes the directory `key` and any missing parents (each made durable in its
    /// parent); a directory already there is fine.
    pub fn create_dir(&self, key: &str) -> Result<(), RootError> {
        let segs = segments(key)?;
        self.dir(&segs, true, key)?;
        Ok(())
    }

    /// Starts an atomic write of `key`: the parent directories are made as needed and a
    /// temporary file is created in the parent and returned open for writing. Also says
    /// whether `key` existed.
    pub fn create(&self, key: &str) -> Result<(Pending, std::fs::File, bool), RootError> {
        let (dir, name) = self.parent(key, true)?;
        let dir = dir.ok_or_else(|| {
            RootError::io(
                key,
                std::io::Error::new(std::io::ErrorKind::NotFound, "parent vanished"),
            )
        })?;
        let existed = match kind_at(&dir, name) {
            Ok(None) => false,
            Ok(Some(FileType::RegularFile)) => true,
            Ok(Some(FileType::Directory)) => return Err(RootError::is_dir(key)),
            Ok(Some(FileType::Symlink)) => return Err(RootError::symlink(key)),
            Ok(Some(_)) => return Err(RootError::not_file(key)),
            Err(e) => return Err(RootError::io(key, e)),
        };
        let temp = temp_name();
        let flags =
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = rustix::fs::openat(&dir, temp.as_str(), flags, Mode::from_raw_mode(0o644))
            .map_err(|e| RootError::io(key, e))?;
        let pending = Pending {
            dir,
            name: name.to_string(),
            temp: Some(temp),
            key: key.to_string(),
        };
        Ok((pending, std::fs::File::from(fd), existed))
    }

    /// Writes `data` as `key` durably ([`Root::create`], write, [`Pending::commit`]);
    /// returns the new file's metadata and whether `key` existed.
    pub fn write(&self, key: &str, data: &[u8]) -> Result<(ObjectMeta, bool), RootError> {
        let (pending, mut file, existed) = self.create(key)?;
        file.write_all(data).map_err(|e| RootError::io(key, e))?;
        Ok((pending.commit(file)?, existed))
    }

    /// Removes the regular file `key`: `false` when there is none; a symlink is
    /// refused, a directory a conflict. The parent directory is fsynced.
    pub fn remove(&self, key: &str) -> Result<bool, RootError> {
        let (Some(dir), name) = self.parent(key, false)? else {
            return Ok(false);
        };
        match kind_at(&dir, name) {
            Ok(None) => return Ok(false),
            Ok(Some(FileType::Directory)) => return Err(RootError::is_dir(key)),
            Ok(Some(FileType::Symlink)) => return Err(RootError::symlink(key)),
            Ok(Some(_)) => {}
            Err(e) => return Err(RootError::io(key, e)),
        }
        match rustix::fs::unlinkat(&dir, name, AtFlags::empty()) {
            Ok(()) => {}
            Err(Errno::NOENT) => return Ok(false),
            Err(Errno::ISDIR) => return Err(RootError::is_dir(key)),
            Err(e) => return Err(RootError::io(key, e)),
        }
        rustix::fs::fsync(&dir).map_err(|e| RootError::io(key, e))?;
        Ok(true)
    }

    /// Every regular file of the caller's data whose key starts with `prefix`: like
    /// [`Root::list`] without holdfast's own directories at the top (its state
    /// directory and the store's temporary directory).
    pub fn list_files(&self, prefix: &str) -> Result<Vec<ObjectMeta>, RootError> {
        self.list(prefix, &[STATE_DIR, STORE_TEMP_DIR])
    }

    /// Every regular file whose key starts with `prefix`, walked through descriptors
    /// without following symlinks; `skip_top` names are left out at the root, and
    /// temporary files everywhere. A prefix whose directory cannot be reached (through a
    /// link, a file, denied) lists nothing; a malformed one is refused.
    pub fn list(&self, prefix: &str, skip_top: &[&str]) -> Result<Vec<ObjectMeta>, RootError> {
        let base = prefix.rsplit_once('/').map_or("", |(d, _)| d);
        let mut out = Vec::new();
        let top = base.split('/').next().unwrap_or_default();
        if skip_top.contains(&top) {
            return Ok(out);
        }
        let dir = if base.is_empty() {
            rustix::io::dup(&self.fd).map_err(|e| RootError::io(prefix, e))?
        } else {
            match self.dir(&segments(base)?, false, prefix) {
                Ok(Some(fd)) => fd,
                Ok(None) => return Ok(out),
                Err(e) if e.is_refusal() => return Ok(out),
                Err(e) => return Err(e),
            }
        };
        let start = if base.is_empty() {
            String::new()
        } else {
            format!("{base}/")
        };
        self.walk(dir, &start, prefix, skip_top, &mut out);
        Ok(out)
    }

    fn walk(
        &self,
        dir: OwnedFd,
        at: &str,
        prefix: &str,
        skip_top: &[&str],
        out: &mut Vec<ObjectMeta>,
    ) {
        let mut subdirs = Vec::new();
        let entries = match Dir::read_from(&dir) {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!("listing {}/{at}: {e}", self.path.display());
                return;
            }
        };
        for entry in entries {
            let Ok(entry) = entry else { continue };
            let Ok(name) = std::str::from_utf8(entry.file_name().to_bytes()) else {
                continue;
            };
            if name == "." || name == ".." || name.starts_with(PART_PREFIX) {
                continue;
            }
            if at.is_empty() && skip_top.contains(&name) {
                continue;
            }
            let key = format!("{at}{name}");
            // A directory matters when it may hold keys with the prefix.
            let wanted_dir = prefix.starts_with(&format!("{key}/")) || key.starts_with(prefix);
            let Ok(st) = rustix::fs::statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW) else {
                continue;
            };
            match FileType::from_raw_mode(st.st_mode) {
                FileType::RegularFile if key.starts_with(prefix) => {
                    out.push(meta_of(key, &st));
                }
                FileType::Directory if wanted_dir => subdirs.push((name.to_string(), key)),
                _ => {}
            }
        }
        if at.matches('/').count() >= MAX_DEPTH && !subdirs.is_empty() {
            tracing::warn!(
                "listing {}: directories deeper than {MAX_DEPTH} levels below {at} left out",
                self.path.display()
            );
            return;
        }
        for (name, key) in subdirs {
            if let Ok(fd) = rustix::fs::openat(&dir, name.as_str(), DIR_FLAGS, Mode::empty()) {
                self.walk(fd, &format!("{key}/"), prefix, skip_top, out);
            }
        }
    }
}

/// A write in progress: a temporary file in the target's directory. [`Pending::commit`]
/// renames it over the target; dropped uncommitted, it is removed.
#[derive(Debug)]
pub struct Pending {
    dir: OwnedFd,
    name: String,
    temp: Option<String>,
    key: String,
}

impl Pending {
    /// Fsyncs `file` (the temporary file), renames it over the target within the same
    /// directory and fsyncs the directory; returns the new file's metadata.
    pub fn commit(mut self, file: std::fs::File) -> Result<ObjectMeta, RootError> {
        file.sync_all().map_err(|e| RootError::io(&self.key, e))?;
        let st = rustix::fs::fstat(&file).map_err(|e| RootError::io(&self.key, e))?;
        drop(file);
        let temp = self.temp.take().unwrap_or_default();
        let renamed = rustix::fs::renameat(&self.dir, temp.as_str(), &self.dir, self.name.as_str());
        if let Err(e) = renamed {
            self.temp = Some(temp);
            return Err(match e {
                Errno::ISDIR | Errno::NOTEMPTY | Errno::EXIST => RootError::is_dir(&self.key),
                e => RootError::io(&self.key, e),
            });
        }
        rustix::fs::fsync(&self.dir).map_err(|e| RootError::io(&self.key, e))?;
        Ok(meta_of(self.key.clone(), &st))
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(temp) = self.temp.take()
            && let Err(e) = rustix::fs::unlinkat(&self.dir, temp.as_str(), AtFlags::empty())
        {
            tracing::warn!("removing the temporary file of {}: {e}", self.key);
        }
    }
}
