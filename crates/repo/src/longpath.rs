//! Paths deeper than the kernel takes in one piece. A directory tree may be nested far
//! past `PATH_MAX` (4096 bytes): 10,000 levels of one-letter names make a 20,000-byte
//! path, and every call given the whole of it fails with `ENAMETOOLONG`. The backup
//! walker and the restore name their files as a root plus a relative path; [`LongPaths`]
//! turns such a path into one the kernel accepts, and leaves short ones alone.
//!
//! How: a path whose whole length passes [`SHORT`] is cut, at component boundaries,
//! into segments of at most [`SEGMENT`] bytes. The directory at the end of each segment
//! but the last is held open (an *anchor*, `O_PATH`), each opened relative to the one
//! before (`openat2` with `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`: a segment never leaves
//! its anchor or follows a symlink; `openat` with `O_NOFOLLOW` on kernels before 5.6),
//! and the path handed out is `/proc/self/fd/<last anchor>/<last segment>`, under
//! [`SHORT`] bytes. The callers keep their ordinary path-based calls (`lstat`, `open`
//! with `O_NOFOLLOW`, `mkdir`, `rename`, ...), which on such a path resolve relative to
//! the anchor. This needs `/proc` (Linux) only for paths longer than [`SHORT`].
//!
//! Bounds: the anchors held are those of the last path resolved, one per [`SEGMENT`]
//! bytes of its length (10 for a 20,000-byte path), never one per level; a walk that
//! goes depth-first reuses them from one path to the next and reopens only the segments
//! that changed. A [`Place`] keeps its anchor alive (an `Arc`), so a path handed to
//! another thread stays valid however the resolver moves on. Cuts depend only on the
//! path's prefix, so neighbouring paths share their anchors.

use std::ffi::OsStr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustix::fs::{Mode, OFlags, ResolveFlags};

/// Longest full path used as it is (bytes); longer ones go through anchors.
pub(crate) const SHORT: usize = 3072;
/// Longest segment between two anchors (bytes).
pub(crate) const SEGMENT: usize = 2048;

/// A path the kernel accepts, and the open directory it is relative to, if any.
#[derive(Clone, Debug)]
pub(crate) struct Place {
    path: PathBuf,
    _anchor: Option<Arc<OwnedFd>>,
}

impl Place {
    /// The path to hand to a system call (valid while this `Place` lives).
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

struct Anchor {
    /// Bytes of the relative path it stands for (no trailing `/`; empty: the root).
    prefix: Vec<u8>,
    fd: Arc<OwnedFd>,
}

/// Resolves paths below one root into [`Place`]s; see the module doc.
pub(crate) struct LongPaths {
    root: PathBuf,
    anchors: Vec<Anchor>,
}

fn open_dir(at: Option<&OwnedFd>, path: &Path) -> std::io::Result<OwnedFd> {
    let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let Some(at) = at else {
        return Ok(rustix::fs::open(path, flags, Mode::empty())?);
    };
    let resolve = ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS;
    match rustix::fs::openat2(at, path, flags, Mode::empty(), resolve) {
        Err(e) if e == rustix::io::Errno::NOSYS => {
            Ok(rustix::fs::openat(at, path, flags, Mode::empty())?)
        }
        r => Ok(r?),
    }
}

impl LongPaths {
    /// A resolver for paths below `root`.
    pub(crate) fn new(root: &Path) -> LongPaths {
        LongPaths {
            root: root.to_path_buf(),
            anchors: Vec::new(),
        }
    }

    /// The root.
    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// `root/rel` as a path the kernel accepts: itself when short, else relative to an
    /// anchor (opened as needed). Fails when an anchor cannot be opened (a directory on
    /// the way is gone, or is not one).
    pub(crate) fn place(&mut self, rel: &Path) -> std::io::Result<Place> {
        let bytes = rel.as_os_str().as_bytes();
        if self.root.as_os_str().len() + 1 + bytes.len() <= SHORT {
            return Ok(Place {
                path: self.root.join(rel),
                _anchor: None,
            });
        }
        let keep = self
            .anchors
            .iter()
            .take_while(|a| {
                a.prefix.is_empty()
                    || (bytes.starts_with(&a.prefix) && bytes.get(a.prefix.len()) == Some(&b'/'))
            })
            .count();
        self.anchors.truncate(keep);
        if self.anchors.is_empty() {
            let fd = open_dir(None, &self.root)?;
            self.anchors.push(Anchor {
                prefix: Vec::new(),
                fd: Arc::new(fd),
            });
        }
        loop {
            let last = self.anchors.last().ok_or_else(|| {
                std::io::Error::other("no anchor (a bug: the root anchor is always there)")
            })?;
            let start = if last.prefix.is_empty() {
                0
            } else {
                last.prefix.len() + 1
            };
            let rest = &bytes[start..];
            if rest.len() <= SEGMENT {
                let path = Path::new("/proc/self/fd")
                    .join(last.fd.as_raw_fd().to_string())
                    .join(OsStr::from_bytes(rest));
                return Ok(Place {
                    path,
                    _anchor: Some(last.fd.clone()),
                });
            }
            let cut = rest[..=SEGMENT]
                .iter()
                .rposition(|&b| b == b'/')
                .filter(|&c| c > 0)
                .ok_or_else(|| {
                    std::io::Error::from_raw_os_error(rustix::io::Errno::NAMETOOLONG.raw_os_error())
                })?;
            let fd = open_dir(Some(&last.fd), Path::new(OsStr::from_bytes(&rest[..cut])))?;
            self.anchors.push(Anchor {
                prefix: bytes[..start + cut].to_vec(),
                fd: Arc::new(fd),
            });
        }
    }

    /// How many anchors are open.
    #[cfg(test)]
    pub(crate) fn anchors(&self) -> usize {
        self.anchors.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deep(root: &Path, levels: usize) -> PathBuf {
        let mut at = rustix::fs::open(root, OFlags::DIRECTORY | OFlags::RDONLY, Mode::empty())
            .expect("open root");
        for _ in 0..levels {
            rustix::fs::mkdirat(&at, "d", Mode::from_raw_mode(0o755)).expect("mkdirat");
            at = rustix::fs::openat(&at, "d", OFlags::DIRECTORY | OFlags::RDONLY, Mode::empty())
                .expect("openat");
        }
        vec!["d"; levels].iter().collect()
    }

    #[test]
    fn short_paths_are_left_alone() {
        let mut p = LongPaths::new(Path::new("/some/root"));
        let place = p.place(Path::new("a/b")).expect("place");
        assert_eq!(place.path(), Path::new("/some/root/a/b"));
        assert_eq!(p.anchors(), 0);
    }

    /// A 20,000-byte path resolves through about one anchor per segment, and the files
    /// named through it are real.
    #[test]
    fn a_path_past_path_max_is_reached_through_a_few_anchors() {
        let dir = tempfile::tempdir().expect("tempdir");
        let rel = deep(dir.path(), 10_000);
        let mut p = LongPaths::new(dir.path());
        let file = rel.join("bottom");
        let place = p.place(&file).expect("place");
        assert!(place.path().as_os_str().len() <= SHORT);
        std::fs::write(place.path(), b"deep").expect("write");
        assert!(
            p.anchors() <= 20_000 / (SEGMENT / 2) + 1,
            "{} anchors",
            p.anchors()
        );
        // A sibling path reuses the anchors; a shallower one drops the deeper ones.
        let again = p.place(&file).expect("again");
        assert_eq!(std::fs::read(again.path()).expect("read"), b"deep");
        drop(place);
        let half: PathBuf = vec!["d"; 5_000].iter().collect();
        let mid = p.place(&half).expect("mid");
        assert!(
            std::fs::symlink_metadata(mid.path())
                .expect("lstat")
                .is_dir()
        );
        // The dropped anchors' Place stays valid: it holds its own.
        assert_eq!(std::fs::read(again.path()).expect("read"), b"deep");
    }

    /// A symlink inside a segment is never followed out of the tree.
    #[test]
    fn an_anchor_never_follows_a_symlink() {
        let dir = tempfile::tempdir().expect("tempdir");
        let rel = deep(dir.path(), 3_000);
        // Replace level 100 by a symlink to the root's own chain.
        let at: PathBuf = vec!["d"; 99].iter().collect();
        let mut p = LongPaths::new(dir.path());
        let parent = p.place(&at).expect("place");
        let moved = parent.path().join("moved");
        std::fs::rename(parent.path().join("d"), &moved).expect("rename");
        std::os::unix::fs::symlink(dir.path().join("d"), parent.path().join("d")).expect("symlink");
        drop(parent);
        let mut fresh = LongPaths::new(dir.path());
        assert!(fresh.place(&rel.join("x")).is_err());
    }
}
