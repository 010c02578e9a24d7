//! The local cache of immutable objects (index files, snapshots, tree packs) for remote
//! repositories, under `$XDG_CACHE_HOME/holdfast/<repository id>/`. It is disposable:
//! every failure to use it is ignored, and whatever is read from it is checked against
//! its name and authenticated by the caller like a download (a copy that fails either
//! check is removed and downloaded again).

use std::io::Write;
use std::ops::Range;
use std::path::PathBuf;

use bytes::Bytes;

/// A cache directory for one repository.
pub(crate) struct Cache {
    dir: PathBuf,
}

impl Cache {
    /// The cache of repository `repo_id`, or `None` when there is no cache directory.
    pub(crate) fn open(repo_id: &str) -> Option<Cache> {
        let base = std::env::var_os("HOLDFAST_CACHE_DIR")
            .map(PathBuf::from)
            .or_else(dirs::cache_dir)?;
        if repo_id.is_empty() || !repo_id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        Some(Cache {
            dir: base.join("holdfast").join(repo_id),
        })
    }

    fn path(&self, key: &str) -> Option<PathBuf> {
        let safe = key
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..");
        safe.then(|| self.dir.join(key))
    }

    /// A cached object.
    pub(crate) fn get(&self, key: &str) -> Option<Bytes> {
        std::fs::read(self.path(key)?).ok().map(Bytes::from)
    }

    /// A range of a cached object, read alone (a tree blob of a 16 MiB pack costs its
    /// own bytes, not the pack's); `None` when the copy is missing or too short.
    pub(crate) fn get_range(&self, key: &str, range: Range<u64>) -> Option<Bytes> {
        use std::os::unix::fs::FileExt;
        let len = usize::try_from(range.end.checked_sub(range.start)?).ok()?;
        let file = std::fs::File::open(self.path(key)?).ok()?;
        let mut buf = vec![0u8; len];
        file.read_exact_at(&mut buf, range.start).ok()?;
        Some(Bytes::from(buf))
    }

    /// Stores a copy (temp file, then rename); failures are ignored.
    pub(crate) fn put(&self, key: &str, data: &[u8]) {
        let Some(path) = self.path(key) else { return };
        let Some(parent) = path.parent() else { return };
        if std::fs::create_dir_all(parent).is_err() {
            return;
        }
        let Ok(mut tmp) = tempfile::NamedTempFile::new_in(parent) else {
            return;
        };
        if tmp.write_all(data).is_ok() {
            let _ = tmp.persist(&path);
        }
    }

    /// Drops a copy.
    pub(crate) fn remove(&self, key: &str) {
        if let Some(p) = self.path(key) {
            let _ = std::fs::remove_file(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_range_is_read_alone_and_a_short_copy_is_none() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = Cache {
            dir: dir.path().to_path_buf(),
        };
        let data: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
        cache.put("data/ab/abcd", &data);
        assert_eq!(
            cache.get_range("data/ab/abcd", 100..300).as_deref(),
            Some(&data[100..300])
        );
        assert_eq!(cache.get_range("data/ab/abcd", 9_990..10_001), None);
        assert_eq!(cache.get_range("data/ab/missing", 0..1), None);
        assert_eq!(cache.get_range("../escape", 0..1), None);
    }
}
