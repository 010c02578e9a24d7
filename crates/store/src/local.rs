//! Local-disk specifics of a `file://` store, done directly on the filesystem where
//! OpenDAL's fs service falls short: writes are a temp file of our own in
//! [`TEMP_DIR`] → fsync → rename → fsync of the directory, and the temp file is removed
//! on every failure; every directory a write creates (`data/xx/`, `index/`, the root
//! itself) is fsynced into its parent before anything is renamed into it; listing walks the tree without following symlinks (a symlink is not
//! an object, and OpenDAL's lister fails on a symlink to a directory). Temp files that a
//! killed write left behind are removed by [`remove_stale_temp`] once they are old.

use std::io::Write;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::{Stream, StreamExt};

use crate::error::{Error, ErrorKind, Result};
use crate::store::{CleanupReport, ObjectMeta, TEMP_DIR};

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
    let parent = target.parent().unwrap_or(root).to_path_buf();
    {
        let (tmp_dir, parent) = (tmp_dir.clone(), parent.clone());
        tokio::task::spawn_blocking(move || {
            create_dir_all_durable(&tmp_dir)?;
            create_dir_all_durable(&parent)
        })
        .await
        .map_err(|e| Error::new(ErrorKind::Other, "write", url, key).with_source(e))?
        .map_err(io)?;
    }
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
    tokio::task::spawn_blocking(move || sync_dir(&dir))
        .await
        .map_err(|e| Error::new(ErrorKind::Other, "write", url, key).with_source(e))?
        .map_err(io)?;
    Ok(written)
}

/// Local disk: stage in the temp dir, fsync, then `link(2)` into place, which fails
/// atomically when the name exists.
pub(crate) async fn write_if_absent(
    url: &str,
    root: PathBuf,
    key: &str,
    data: Bytes,
) -> Result<()> {
    let (url_s, k) = (url.to_string(), key.to_string());
    tokio::task::spawn_blocking(move || -> Result<()> {
        use std::io::Write;
        let io = |e| Error::from_io(e, "write", &url_s, &k);
        let target = root.join(&k);
        let tmp_dir = root.join(TEMP_DIR);
        create_dir_all_durable(&tmp_dir).map_err(io)?;
        if let Some(parent) = target.parent() {
            create_dir_all_durable(parent).map_err(io)?;
        }
        let tmp = tmp_dir.join(uuid::Uuid::new_v4().to_string());
        let result = (|| {
            let mut f = std::fs::File::create_new(&tmp)?;
            f.write_all(&data)?;
            f.sync_all()?;
            std::fs::hard_link(&tmp, &target)
        })();
        let _ = std::fs::remove_file(&tmp);
        result.map_err(io)?;
        sync_dir(target.parent().unwrap_or(&root)).map_err(io)
    })
    .await
    .map_err(|e| Error::new(ErrorKind::Other, "write", url, key).with_source(e))?
}

/// Removes the files in `root`'s [`TEMP_DIR`] last modified more than `older_than` ago:
/// temp files of writes that were killed (a write in flight keeps touching its file).
/// Symlinks and directories there are left alone; a missing temp dir is an empty report.
pub(crate) fn remove_stale_temp(
    url: &str,
    root: &Path,
    older_than: std::time::Duration,
) -> Result<CleanupReport> {
    let dir = root.join(TEMP_DIR);
    let mut report = CleanupReport::default();
    let entries = match std::fs::read_dir(&dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(report),
        Err(e) => return Err(Error::from_io(e, "cleanup", url, TEMP_DIR)),
    };
    let now = std::time::SystemTime::now();
    for entry in entries {
        let result = entry.and_then(|e| {
            let meta = e.metadata()?;
            let age = now.duration_since(meta.modified()?).unwrap_or_default();
            if !meta.is_file() || age <= older_than {
                return Ok(None);
            }
            std::fs::remove_file(e.path())?;
            Ok(Some(meta.len()))
        });
        match result {
            Ok(Some(len)) => {
                report.deleted += 1;
                report.bytes += len;
            }
            Ok(None) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!("{}", Error::from_io(e, "cleanup", url, TEMP_DIR));
                report.errors += 1;
            }
        }
    }
    if report.deleted > 0 {
        sync_dir(&dir).map_err(|e| Error::from_io(e, "cleanup", url, TEMP_DIR))?;
    }
    Ok(report)
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

/// Creates `dir` and every missing ancestor, fsyncing each new directory's parent so its
/// entry survives a crash; returns the parents it fsynced (empty when `dir` existed).
/// A directory another process creates at the same moment counts as created here too.
pub(crate) fn create_dir_all_durable(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut missing = Vec::new();
    let mut cur = dir;
    while !cur.is_dir() {
        missing.push(cur);
        match cur.parent() {
            Some(p) => cur = p,
            None => break,
        }
    }
    let mut synced = Vec::new();
    for d in missing.into_iter().rev() {
        match std::fs::create_dir(d) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && d.is_dir() => {}
            Err(e) => return Err(e),
        }
        if let Some(parent) = d.parent() {
            sync_dir(parent)?;
            synced.push(parent.to_path_buf());
        }
    }
    Ok(synced)
}

/// fsyncs a directory so an entry created, renamed or linked in it is durable.
pub(crate) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()?;
    #[cfg(test)]
    synced::record(dir);
    Ok(())
}

/// Test-only record of every directory [`sync_dir`] fsynced, so tests can check which
/// directories a write path makes durable.
#[cfg(test)]
pub(crate) mod synced {
    use std::path::{Path, PathBuf};
    use std::sync::Mutex;

    static SYNCED: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

    pub(crate) fn record(dir: &Path) {
        if let Ok(mut v) = SYNCED.lock() {
            v.push(dir.to_path_buf());
        }
    }

    /// Removes and returns the recorded directories at or below `prefix`.
    pub(crate) fn take_under(prefix: &Path) -> Vec<PathBuf> {
        let Ok(mut v) = SYNCED.lock() else {
            return Vec::new();
        };
        let (mine, rest) = v.drain(..).partition(|p: &PathBuf| p.starts_with(prefix));
        *v = rest;
        mine
    }
}

#[cfg(test)]
mod tests {
    use super::{create_dir_all_durable, synced};
    use crate::Store;
    use bytes::Bytes;

    /// Finding: new `data/xx/`, `index/`, `snapshots/` directories were never fsynced
    /// into their parent, so a crash could lose a committed object's directory entry.
    #[tokio::test]
    async fn new_directories_are_fsynced_into_their_parent() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let base = tmp.path().canonicalize().expect("canonical");
        let root = base.join("repo");
        let store = Store::open(&format!("file://{}", root.display())).expect("open");
        store
            .write("data/ab/pack", Bytes::from_static(b"p"))
            .await
            .expect("write");
        let synced = synced::take_under(&base);
        for dir in [&base, &root, &root.join("data"), &root.join("data/ab")] {
            assert!(
                synced.contains(dir),
                "{} not fsynced: {synced:?}",
                dir.display()
            );
        }
        store
            .write_if_absent("index/i1", Bytes::from_static(b"i"))
            .await
            .expect("write_if_absent");
        let synced = synced::take_under(&base);
        for dir in [&root, &root.join("index")] {
            assert!(
                synced.contains(dir),
                "{} not fsynced: {synced:?}",
                dir.display()
            );
        }
        store.ensure_dir("snapshots").await.expect("mkdir");
        let synced = synced::take_under(&base);
        assert!(synced.contains(&root), "root not fsynced: {synced:?}");
    }

    #[test]
    fn create_dir_all_durable_syncs_each_new_dir_into_its_parent() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let base = tmp.path().to_path_buf();
        let deep = base.join("a/b/c");
        let synced = create_dir_all_durable(&deep).expect("create");
        assert_eq!(synced, [base.clone(), base.join("a"), base.join("a/b")]);
        assert!(deep.is_dir());
        assert!(create_dir_all_durable(&deep).expect("again").is_empty());
        std::fs::write(base.join("file"), b"x").expect("file");
        assert!(create_dir_all_durable(&base.join("file/sub")).is_err());
    }
}
