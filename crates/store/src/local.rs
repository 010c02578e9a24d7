//! Local-disk specifics of a `file://` store, done directly on the filesystem where
//! OpenDAL's fs service falls short: writes are a temp file of our own in
//! [`TEMP_DIR`] → fsync → rename → fsync of the directory, and the temp file is removed
//! on every failure; listing walks the tree without following symlinks (a symlink is not
//! an object, and OpenDAL's lister fails on a symlink to a directory).

use std::io::Write;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::{Stream, StreamExt};

use crate::error::{Error, ErrorKind, Result};
use crate::store::{ObjectMeta, TEMP_DIR};

/// Removes the temp file unless disarmed.
struct TempGuard(Option<PathBuf>);

impl Drop for TempGuard {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Writes `key` under `root` from a stream: temp file, fsync, rename, fsync dir.
pub(crate) async fn write_stream<S>(url: &str, root: &Path, key: &str, mut stream: S) -> Result<u64>
where
    S: Stream<Item = std::io::Result<Bytes>> + Send + Unpin,
{
    let io = |e| Error::from_io(e, "write", url, key);
    let target = root.join(key);
    let tmp_dir = root.join(TEMP_DIR);
    tokio::fs::create_dir_all(&tmp_dir).await.map_err(io)?;
    let parent = target.parent().unwrap_or(root).to_path_buf();
    tokio::fs::create_dir_all(&parent).await.map_err(io)?;
    if tokio::fs::symlink_metadata(&target)
        .await
        .is_ok_and(|m| m.is_dir())
    {
        return Err(Error::new(ErrorKind::AlreadyExists, "write", url, key)
            .with_detail("a directory has that name"));
    }
    let tmp = tmp_dir.join(uuid::Uuid::new_v4().simple().to_string());
    let mut guard = TempGuard(Some(tmp.clone()));
    let (tx, rx) = std::sync::mpsc::sync_channel::<Bytes>(4);
    let writer = {
        let tmp = tmp.clone();
        tokio::task::spawn_blocking(move || -> std::io::Result<u64> {
            let mut f = std::fs::File::create_new(&tmp)?;
            let mut n = 0u64;
            for piece in rx {
                f.write_all(&piece)?;
                n += piece.len() as u64;
            }
            f.sync_all()?;
            Ok(n)
        })
    };
    let mut failed = None;
    while let Some(piece) = stream.next().await {
        match piece {
            Ok(b) => {
                if tx.send(b).is_err() {
                    break;
                }
            }
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
    }
    drop(tx);
    let written = writer
        .await
        .map_err(|e| Error::new(ErrorKind::Other, "write", url, key).with_source(e))?
        .map_err(io)?;
    if let Some(e) = failed {
        return Err(io(e));
    }
    tokio::fs::rename(&tmp, &target).await.map_err(io)?;
    guard.0 = None;
    let dir = parent.clone();
    tokio::task::spawn_blocking(move || std::fs::File::open(&dir)?.sync_all())
        .await
        .map_err(|e| Error::new(ErrorKind::Other, "write", url, key).with_source(e))?
        .map_err(io)?;
    Ok(written)
}

/// Walks every file below `root/dir` (recursively or not) in path order and hands each
/// to `emit` as a store key until it returns false; symlinks and the temp dir are
/// skipped. A missing directory yields nothing.
pub(crate) fn list(
    url: &str,
    root: &Path,
    dir: &str,
    recursive: bool,
    mut emit: impl FnMut(Result<ObjectMeta>) -> bool,
) {
    let start = root.join(dir.trim_end_matches('/'));
    if !start.is_dir() {
        return;
    }
    let walk = walkdir::WalkDir::new(&start)
        .follow_links(false)
        .min_depth(1)
        .max_depth(if recursive { usize::MAX } else { 1 })
        .sort_by_file_name();
    let at_root = dir.trim_matches('/').is_empty();
    for entry in walk
        .into_iter()
        .filter_entry(|e| !(at_root && e.depth() == 1 && e.file_name() == TEMP_DIR))
    {
        let item = match entry {
            Ok(e) if !e.file_type().is_file() => continue,
            Ok(e) => {
                let Ok(rel) = e.path().strip_prefix(root) else {
                    continue;
                };
                let key = rel.to_string_lossy().into_owned();
                match e.metadata() {
                    Ok(m) => Ok(ObjectMeta {
                        key,
                        size: m.len(),
                        modified: m.modified().ok().map(DateTime::<Utc>::from),
                    }),
                    Err(err) => {
                        Err(Error::new(ErrorKind::Other, "list", url, &key).with_detail(err))
                    }
                }
            }
            Err(err) => {
                let path = err
                    .path()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default();
                Err(Error::new(ErrorKind::Other, "list", url, &path).with_detail(err))
            }
        };
        if !emit(item) {
            return;
        }
    }
}
