//! Which keys the file API accepts. A request path is refused before anything is touched
//! when it could name something outside the volume:
//!
//! 1. the raw (still percent-encoded) path may not hide a separator or NUL: `%2F`, `%5C`
//!    and `%00` are refused outright, so `..%2F..%2Fetc` never becomes a path;
//! 2. the decoded key must pass the store's key rules (no `..` or `.` segment — which
//!    also catches `%2e%2e` once decoded — no absolute path, empty segment, backslash or
//!    NUL);
//! 3. holdfast's own directories (`.holdfast`, `.holdfast-tmp`) are off limits;
//! 4. on a local volume no component of the key may be a symlink, so a link inside the
//!    volume that points elsewhere cannot be followed; and a directory where the file
//!    should be, or a file where a directory should be, is a 409 before the store is
//!    asked.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use axum::http::StatusCode;
use holdfast_store::{ObjectMeta, Store, TEMP_DIR, key_problem};

use super::error::{ApiError, ApiResult};

/// The directory of a volume where holdfast keeps its own state (cache, schedule).
pub const STATE_DIR: &str = ".holdfast";

/// The configured volumes, each opened as a store on first use. A volume whose
/// directory does not exist (not mounted yet, say) answers 503 and is never created:
/// opening a file store creates its root, which would put data in the container's
/// throw-away layer.
#[derive(Debug, Default)]
pub struct Volumes {
    paths: BTreeMap<String, PathBuf>,
    open: Mutex<BTreeMap<String, VolumeStore>>,
}

impl Volumes {
    /// The volumes of a configuration, none opened yet.
    pub fn new(volumes: &[holdfast_volume::config::Volume]) -> Self {
        let paths = volumes
            .iter()
            .map(|v| (v.name.clone(), v.path.clone()))
            .collect();
        Volumes {
            paths,
            open: Mutex::default(),
        }
    }

    /// The store of volume `name`: 404 when there is no such volume, 503 when its
    /// directory is missing.
    pub async fn get(&self, name: &str) -> ApiResult<VolumeStore> {
        let Some(path) = self.paths.get(name) else {
            return Err(ApiError::not_found(format!("no volume named {name:?}")));
        };
        if !tokio::fs::metadata(path).await.is_ok_and(|m| m.is_dir()) {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "volume {name}: {} is not a directory (not mounted?)",
                    path.display()
                ),
            ));
        }
        let mut open = self
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(vs) = open.get(name) {
            return Ok(vs.clone());
        }
        let vs = VolumeStore::open(path)?;
        open.insert(name.to_string(), vs.clone());
        Ok(vs)
    }
}

/// One volume as the file API sees it.
#[derive(Debug, Clone)]
pub struct VolumeStore {
    /// The store over the volume.
    pub store: Store,
    /// Its root directory when it is on local disk.
    pub root: Option<PathBuf>,
}

impl VolumeStore {
    /// The store over a volume directory.
    pub fn open(path: &Path) -> Result<Self, holdfast_store::Error> {
        let store = Store::open(&path.to_string_lossy())?;
        let root = store.local_root().map(Path::to_path_buf);
        Ok(VolumeStore { store, root })
    }

    /// Checks a key taken from a request (see the module doc) and returns it.
    pub async fn checked_key(&self, raw_path: &str, key: &str) -> ApiResult<String> {
        check_raw(raw_path)?;
        check_key(key)?;
        if let Some(root) = &self.root {
            let (root, k) = (root.clone(), key.to_string());
            tokio::task::spawn_blocking(move || check_local(&root, &k)).await??;
        }
        Ok(key.to_string())
    }
}

/// Every regular file under `root` whose key starts with `prefix`, without following or
/// listing symlinks and without holdfast's own directories; keys use `/`. (A local walk
/// rather than the store's lister, which cannot list a directory holding a symlink to a
/// directory.)
pub fn local_files(root: &Path, prefix: &str) -> Vec<ObjectMeta> {
    let mut out = Vec::new();
    let walk = walkdir::WalkDir::new(root)
        .follow_links(false)
        .min_depth(1)
        .into_iter();
    let walk = walk.filter_entry(|e| {
        e.depth() != 1 || {
            let name = e.file_name().to_string_lossy();
            name != STATE_DIR && name != TEMP_DIR
        }
    });
    for entry in walk {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!("listing {}: {e}", root.display());
                continue;
            }
        };
        if !entry.file_type().is_file() {
            continue;
        }
        let Ok(rel) = entry.path().strip_prefix(root) else {
            continue;
        };
        let Some(key) = rel.to_str().map(str::to_string) else {
            continue;
        };
        if !key.starts_with(prefix) {
            continue;
        }
        let Ok(meta) = entry.metadata() else { continue };
        let modified = meta
            .modified()
            .ok()
            .map(chrono::DateTime::<chrono::Utc>::from);
        out.push(ObjectMeta {
            key,
            size: meta.len(),
            modified,
        });
    }
    out
}

/// Refuses encoded separators and NUL in the raw request path.
pub fn check_raw(raw_path: &str) -> ApiResult<()> {
    let lower = raw_path.to_ascii_lowercase();
    for bad in ["%2f", "%5c", "%00"] {
        if lower.contains(bad) {
            return Err(ApiError::bad_request(format!(
                "encoded `/`, `\\` or NUL ({bad}) is not allowed in a path"
            )));
        }
    }
    Ok(())
}

/// Refuses keys that break the store's rules or reach into holdfast's own directories.
pub fn check_key(key: &str) -> ApiResult<()> {
    if let Some(why) = key_problem(key, false) {
        return Err(ApiError::bad_request(format!(
            "path {key:?} refused: {why}"
        )));
    }
    let first = key.split('/').next().unwrap_or_default();
    if first == STATE_DIR || first == TEMP_DIR {
        return Err(ApiError::forbidden(format!("{first}/ belongs to holdfast")));
    }
    Ok(())
}

/// Walks `key` below `root`: any component that is a symlink is 403; a directory where
/// a file is meant (the last component) or a file where a directory is meant (any
/// other) is 409. Components that do not exist yet are fine (a PUT creates them).
pub fn check_local(root: &Path, key: &str) -> ApiResult<()> {
    let mut p = root.to_path_buf();
    let segments: Vec<&str> = key.split('/').collect();
    for (i, seg) in segments.iter().enumerate() {
        p.push(seg);
        let last = i + 1 == segments.len();
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(ApiError::forbidden(format!(
                    "path {key:?} goes through a symlink; refused"
                )));
            }
            Ok(m) if last && m.is_dir() => {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    format!("{key:?} is a directory"),
                ));
            }
            Ok(m) if !last && !m.is_dir() => {
                let what = segments[..=i].join("/");
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    format!("{what:?} is a file, not a directory"),
                ));
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(ApiError::internal(format!("{key}: {e}"))),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_encoded_separators() {
        for raw in ["/a/..%2Fb", "/a/%2fetc", "/a/x%00", "/a/%5C..%5Cb"] {
            assert!(check_raw(raw).is_err(), "{raw}");
        }
        assert!(check_raw("/a/b%20c.txt").is_ok());
    }

    #[test]
    fn refuses_bad_keys() {
        for key in [
            "../x",
            "a/../b",
            "/etc/passwd",
            "a//b",
            ".holdfast/cache/x",
            ".holdfast-tmp/x",
            "a\0b",
        ] {
            assert!(check_key(key).is_err(), "{key:?}");
        }
        assert!(check_key("a/..b/c").is_ok());
    }

    #[test]
    fn refuses_symlinked_components() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let outside = tempfile::tempdir()?;
        std::os::unix::fs::symlink(outside.path(), dir.path().join("link"))?;
        std::fs::create_dir(dir.path().join("real"))?;
        assert!(check_local(dir.path(), "link/x").is_err());
        assert!(check_local(dir.path(), "link").is_err());
        assert!(check_local(dir.path(), "real/new/file").is_ok());
        std::fs::write(dir.path().join("real/f"), "x")?;
        let conflict = |k| check_local(dir.path(), k).err().map(|e| e.status);
        assert_eq!(conflict("real"), Some(StatusCode::CONFLICT));
        assert_eq!(conflict("real/f/x"), Some(StatusCode::CONFLICT));
        assert_eq!(conflict("real/f"), None);
        Ok(())
    }
}
