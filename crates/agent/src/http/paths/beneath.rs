//! Every file the HTTP API touches on a volume is reached from a descriptor of the volume
//! root, one component at a time, never by path: each directory is opened with
//! `openat(parent, name, O_DIRECTORY | O_NOFOLLOW)`, so a symlink anywhere on the way
//! (planted before the request, or swapped in while it runs) makes the open fail instead
//! of leading outside. Missing directories are made with `mkdirat` in the parent just
//! opened (and the parent fsynced). The last component is opened, created, renamed or unlinked relative to the
//! parent's descriptor with `O_NOFOLLOW`, so nothing is checked by path and then opened
//! by path. Writes go to a temporary file made in the parent directory, fsynced, renamed
//! over the target within that directory and the directory fsynced; a write that is not
//! committed removes its temporary file.
//!
//! Callers pass keys already validated by [`super::check_key`] (no `..`, `.`, empty
//! segment or NUL); the walk refuses those too, as a second line.

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use axum::http::StatusCode;
use holdfast_store::ObjectMeta;
use rustix::fs::{AtFlags, Dir, FileType, Mode, OFlags, Stat};
use rustix::io::Errno;

use crate::http::error::{ApiError, ApiResult};

/// Names of the temporary files of writes start with this; they are never listed or
/// served, and requests may not name them.
pub const TEMP_PREFIX: &str = ".holdfast-part-";

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
    /// Its size and modification time, keyed by the request's key.
    pub meta: ObjectMeta,
}

fn errno_msg(key: &str, e: Errno) -> ApiError {
    match e {
        Errno::NOSPC | Errno::DQUOT => {
            ApiError::new(StatusCode::INSUFFICIENT_STORAGE, format!("{key}: {e}"))
        }
        Errno::ACCESS | Errno::PERM | Errno::ROFS => ApiError::forbidden(format!("{key}: {e}")),
        _ => ApiError::internal(format!("{key}: {e}")),
    }
}

fn symlink_refused(key: &str) -> ApiError {
    ApiError::forbidden(format!("path {key:?} goes through a symlink; refused"))
}

fn conflict(msg: String) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, msg)
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

fn segments(key: &str) -> ApiResult<Vec<&str>> {
    let segs: Vec<&str> = key.split('/').collect();
    if segs
        .iter()
        .any(|s| s.is_empty() || *s == "." || *s == ".." || s.contains('\0'))
    {
        return Err(ApiError::bad_request(format!("path {key:?} refused")));
    }
    Ok(segs)
}

impl Root {
    /// Opens the volume root (the configured path itself may be a link: it is trusted).
    pub fn open(path: &Path) -> ApiResult<Root> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        match rustix::fs::open(path, flags, Mode::empty()) {
            Ok(fd) => Ok(Root {
                fd,
                path: path.to_path_buf(),
            }),
            Err(e) => Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("volume {}: {e}", path.display()),
            )),
        }
    }

    /// Opens the directory `segs` below the root, making missing ones when `create`;
    /// `None` when one is missing and not made. `key` is for messages.
    fn dir(&self, segs: &[&str], create: bool, key: &str) -> ApiResult<Option<OwnedFd>> {
        let mut cur = rustix::io::dup(&self.fd).map_err(|e| errno_msg(key, e))?;
        for (i, seg) in segs.iter().enumerate() {
            let mut made = false;
            let next = loop {
                match rustix::fs::openat(&cur, *seg, DIR_FLAGS, Mode::empty()) {
                    Ok(fd) => break fd,
                    Err(Errno::NOENT) if create && !made => {
                        match rustix::fs::mkdirat(&cur, *seg, Mode::from_raw_mode(0o755)) {
                            // The new entry is made durable in its parent.
                            Ok(()) => rustix::fs::fsync(&cur).map_err(|e| errno_msg(key, e))?,
                            Err(Errno::EXIST) => {}
                            Err(e) => return Err(errno_msg(key, e)),
                        }
                        made = true;
                    }
                    Err(Errno::NOENT) => return Ok(None),
                    Err(Errno::LOOP | Errno::NOTDIR) => {
                        return match kind_at(&cur, seg) {
                            Ok(Some(FileType::Directory)) | Ok(None) => Err(symlink_refused(key)),
                            Ok(Some(FileType::Symlink)) => Err(symlink_refused(key)),
                            Ok(Some(_)) => {
                                let what = segs[..=i].join("/");
                                Err(conflict(format!("{what:?} is a file, not a directory")))
                            }
                            Err(e) => Err(errno_msg(key, e)),
                        };
                    }
                    Err(e) => return Err(errno_msg(key, e)),
                }
            };
            cur = next;
        }
        Ok(Some(cur))
    }

    /// The parent directory of `key` and its last component.
    fn parent<'k>(&self, key: &'k str, create: bool) -> ApiResult<(Option<OwnedFd>, &'k str)> {
        let segs = segments(key)?;
        let Some((name, dirs)) = segs.split_last() else {
            return Err(ApiError::bad_request("empty path"));
        };
        Ok((self.dir(dirs, create, key)?, name))
    }

    /// Opens the regular file `key` for reading; `None` when it does not exist. A
    /// symlink is 403, a directory (or anything but a regular file) 409.
    pub fn open_file(&self, key: &str) -> ApiResult<Option<Opened>> {
        let (Some(dir), name) = self.parent(key, false)? else {
            return Ok(None);
        };
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
        let fd = match rustix::fs::openat(&dir, name, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => return Ok(None),
            Err(Errno::LOOP) => return Err(symlink_refused(key)),
            Err(e) => return Err(errno_msg(key, e)),
        };
        let st = rustix::fs::fstat(&fd).map_err(|e| errno_msg(key, e))?;
        match FileType::from_raw_mode(st.st_mode) {
            FileType::RegularFile => {}
            FileType::Directory => return Err(conflict(format!("{key:?} is a directory"))),
            _ => return Err(conflict(format!("{key:?} is not a regular file"))),
        }
        Ok(Some(Opened {
            meta: meta_of(key.to_string(), &st),
            file: std::fs::File::from(fd),
        }))
    }

    /// Starts an atomic write of `key`: the parent directories are made as needed and a
    /// temporary file is created in the parent and returned open for writing. Also says
    /// whether `key` existed.
    pub fn create(&self, key: &str) -> ApiResult<(Pending, std::fs::File, bool)> {
        let (dir, name) = self.parent(key, true)?;
        let dir = dir.ok_or_else(|| ApiError::internal(format!("{key}: parent vanished")))?;
        let existed = match kind_at(&dir, name) {
            Ok(None) => false,
            Ok(Some(FileType::RegularFile)) => true,
            Ok(Some(FileType::Directory)) => {
                return Err(conflict(format!("{key:?} is a directory")));
            }
            Ok(Some(FileType::Symlink)) => return Err(symlink_refused(key)),
            Ok(Some(_)) => return Err(conflict(format!("{key:?} is not a regular file"))),
            Err(e) => return Err(errno_msg(key, e)),
        };
        let temp = format!("{TEMP_PREFIX}{}", uuid::Uuid::new_v4().simple());
        let flags =
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = rustix::fs::openat(&dir, temp.as_str(), flags, Mode::from_raw_mode(0o644))
            .map_err(|e| errno_msg(key, e))?;
        let pending = Pending {
            dir,
            name: name.to_string(),
            temp: Some(temp),
            key: key.to_string(),
        };
        Ok((pending, std::fs::File::from(fd), existed))
    }

    /// Removes the regular file `key`: `false` when there is none; a symlink is 403, a
    /// directory 409. The parent directory is fsynced.
    pub fn remove(&self, key: &str) -> ApiResult<bool> {
        let (Some(dir), name) = self.parent(key, false)? else {
            return Ok(false);
        };
        match kind_at(&dir, name) {
            Ok(None) => return Ok(false),
            Ok(Some(FileType::Directory)) => {
                return Err(conflict(format!("{key:?} is a directory")));
            }
            Ok(Some(FileType::Symlink)) => return Err(symlink_refused(key)),
            Ok(Some(_)) => {}
            Err(e) => return Err(errno_msg(key, e)),
        }
        match rustix::fs::unlinkat(&dir, name, AtFlags::empty()) {
            Ok(()) => {}
            Err(Errno::NOENT) => return Ok(false),
            Err(Errno::ISDIR) => return Err(conflict(format!("{key:?} is a directory"))),
            Err(e) => return Err(errno_msg(key, e)),
        }
        rustix::fs::fsync(&dir).map_err(|e| errno_msg(key, e))?;
        Ok(true)
    }

    /// Every regular file whose key starts with `prefix`, walked through descriptors
    /// without following symlinks; `skip_top` names are left out at the root, and
    /// temporary files everywhere.
    pub fn list(&self, prefix: &str, skip_top: &[&str]) -> ApiResult<Vec<ObjectMeta>> {
        let base = prefix.rsplit_once('/').map_or("", |(d, _)| d);
        let mut out = Vec::new();
        let top = base.split('/').next().unwrap_or_default();
        if skip_top.contains(&top) {
            return Ok(out);
        }
        let dir = if base.is_empty() {
            rustix::io::dup(&self.fd).map_err(|e| errno_msg(prefix, e))?
        } else {
            match self.dir(&segments(base)?, false, prefix) {
                Ok(Some(fd)) => fd,
                Ok(None) => return Ok(out),
                Err(e) if e.status.is_client_error() => return Ok(out),
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
            if name == "." || name == ".." || name.starts_with(TEMP_PREFIX) {
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
    pub fn commit(mut self, file: std::fs::File) -> ApiResult<ObjectMeta> {
        file.sync_all()
            .map_err(|e| ApiError::internal(format!("{}: {e}", self.key)))?;
        let st = rustix::fs::fstat(&file).map_err(|e| errno_msg(&self.key, e))?;
        drop(file);
        let temp = self.temp.take().unwrap_or_default();
        let renamed = rustix::fs::renameat(&self.dir, temp.as_str(), &self.dir, self.name.as_str());
        if let Err(e) = renamed {
            self.temp = Some(temp);
            return Err(match e {
                Errno::ISDIR | Errno::NOTEMPTY | Errno::EXIST => {
                    conflict(format!("{:?} is a directory", self.key))
                }
                e => errno_msg(&self.key, e),
            });
        }
        rustix::fs::fsync(&self.dir).map_err(|e| errno_msg(&self.key, e))?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    fn status<T: std::fmt::Debug>(r: ApiResult<T>) -> Option<StatusCode> {
        r.err().map(|e| e.status)
    }

    #[test]
    fn never_follows_links() -> Result<(), Box<dyn std::error::Error>> {
        let vol = tempfile::tempdir()?;
        let outside = tempfile::tempdir()?;
        std::fs::write(outside.path().join("secret"), "outside")?;
        std::os::unix::fs::symlink(outside.path(), vol.path().join("link"))?;
        std::os::unix::fs::symlink(outside.path().join("secret"), vol.path().join("file-link"))?;
        let root = Root::open(vol.path()).map_err(|e| e.message)?;
        assert_eq!(
            status(root.open_file("link/secret")),
            Some(StatusCode::FORBIDDEN)
        );
        assert_eq!(
            status(root.open_file("file-link")),
            Some(StatusCode::FORBIDDEN)
        );
        assert_eq!(status(root.create("link/new")), Some(StatusCode::FORBIDDEN));
        assert_eq!(
            status(root.remove("link/secret")),
            Some(StatusCode::FORBIDDEN)
        );
        assert!(root.list("link/", &[]).map_err(|e| e.message)?.is_empty());
        std::fs::create_dir_all(vol.path().join(".holdfast/cache"))?;
        std::fs::write(vol.path().join(".holdfast/cache/x"), "own")?;
        let own = |p| {
            root.list(p, &[".holdfast"])
                .map(|v| v.len())
                .map_err(|e| e.message)
        };
        assert_eq!(
            (own("")?, own(".holdfast/")?, own(".holdfast/cache/x")?),
            (0, 0, 0)
        );
        assert_eq!(std::fs::read_dir(outside.path())?.count(), 1);
        Ok(())
    }

    #[test]
    fn writes_are_atomic_and_leave_no_temp() -> Result<(), Box<dyn std::error::Error>> {
        let vol = tempfile::tempdir()?;
        let root = Root::open(vol.path()).map_err(|e| e.message)?;
        let (p, mut f, existed) = root.create("a/b/c.txt").map_err(|e| e.message)?;
        assert!(!existed);
        f.write_all(b"hello")?;
        let meta = p.commit(f).map_err(|e| e.message)?;
        assert_eq!(meta.size, 5);
        assert_eq!(
            std::fs::read_to_string(vol.path().join("a/b/c.txt"))?,
            "hello"
        );
        let (p, f, existed) = root.create("a/b/c.txt").map_err(|e| e.message)?;
        assert!(existed);
        drop((p, f));
        assert_eq!(std::fs::read_dir(vol.path().join("a/b"))?.count(), 1);
        assert_eq!(status(root.create("a/b")), Some(StatusCode::CONFLICT));
        assert_eq!(
            status(root.create("a/b/c.txt/d")),
            Some(StatusCode::CONFLICT)
        );
        let listed = root.list("a/", &[]).map_err(|e| e.message)?;
        assert_eq!(listed.len(), 1);
        assert!(root.remove("a/b/c.txt").map_err(|e| e.message)?);
        assert!(!root.remove("a/b/c.txt").map_err(|e| e.message)?);
        Ok(())
    }
}
