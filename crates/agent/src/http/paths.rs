//! Which keys the file API accepts, and how it reaches them. A request path is refused
//! before anything is touched when it could name something outside the volume:
//!
//! 1. the raw (still percent-encoded) path may not hide a separator or NUL: `%2F`, `%5C`
//!    and `%00` are refused outright, so `..%2F..%2Fetc` never becomes a path;
//! 2. the decoded key must pass the store's key rules (no `..` or `.` segment — which
//!    also catches `%2e%2e` once decoded — no absolute path, empty segment, backslash or
//!    NUL);
//! 3. holdfast's own directories (`.holdfast`, `.holdfast-tmp`) and the temporary files
//!    of writes in progress are off limits.
//!
//! Then every access goes through [`holdfast_volume::root`] (how a file PUT stays
//! beneath its volume): opened from the volume root's descriptor one component at a
//! time without following symlinks, so a link inside the volume — there before the
//! request or swapped in while it runs — is a 403 and never leads outside; a directory
//! where the file should be, or a file where a directory should be, is a 409 (its
//! errors map to status codes in [`crate::http::error`]).

use std::collections::BTreeMap;
use std::path::PathBuf;

use axum::http::StatusCode;
use holdfast_store::{ObjectMeta, TEMP_DIR, key_problem};

use crate::http::error::{ApiError, ApiResult};
pub use holdfast_volume::layout::PART_PREFIX as TEMP_PREFIX;
pub use holdfast_volume::root::Root;

/// The guard before a write into a volume's data ([`holdfast_volume::guard::enter`] with
/// [`Door::Write`](holdfast_volume::guard::Door::Write)): 409 while an interrupted
/// restore is pending on it (the data may be half replaced; a write now would be moved
/// aside or mixed into the wrong set), 503 while it is missing or not mounted as
/// `require_mount` asks. An unknown volume is left to the handler's own 404.
pub async fn guard_write(config: &holdfast_volume::config::Config, volume: &str) -> ApiResult<()> {
    use holdfast_volume::guard::{self, Door, Problem};
    let Some(v) = config.volume(volume).cloned() else {
        return Ok(());
    };
    let refused = tokio::task::spawn_blocking(move || guard::enter(&v, Door::Write)).await?;
    match refused {
        Ok(_) => Ok(()),
        Err(r) if r.problem == Problem::PendingSwap => Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("{r}; writes are refused until then"),
        )),
        Err(r) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            r.to_string(),
        )),
    }
}

/// The directory of a volume where holdfast keeps its own state (cache, schedule).
pub use holdfast_volume::layout::STATE_DIR;

/// The configured volumes. A volume whose directory does not exist (not mounted yet,
/// say) answers 503 and is never created: that would put data in the container's
/// throw-away layer.
#[derive(Debug, Default)]
pub struct Volumes {
    paths: BTreeMap<String, PathBuf>,
}

impl Volumes {
    /// The volumes of a configuration.
    pub fn new(volumes: &[holdfast_volume::config::Volume]) -> Self {
        let paths = volumes
            .iter()
            .map(|v| (v.name.clone(), v.path.clone()))
            .collect();
        Volumes { paths }
    }

    /// Volume `name`: 404 when there is no such volume, 503 when its directory is
    /// missing.
    pub async fn get(&self, name: &str) -> ApiResult<VolumeDir> {
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
        Ok(VolumeDir { path: path.clone() })
    }
}

/// One volume's directory as the file API sees it.
#[derive(Debug, Clone)]
pub struct VolumeDir {
    /// The volume's root directory.
    pub path: PathBuf,
}

impl VolumeDir {
    /// Runs `f` on a blocking thread with the volume root opened (see [`holdfast_volume::root`]).
    pub async fn with_root<T, F>(&self, f: F) -> ApiResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Root) -> ApiResult<T> + Send + 'static,
    {
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || f(&Root::open(&path)?)).await?
    }
}

/// Checks a key taken from a request (see the module doc) and returns it.
pub fn checked_key(raw_path: &str, key: &str) -> ApiResult<String> {
    check_raw(raw_path)?;
    check_key(key)?;
    Ok(key.to_string())
}

/// Every regular file under the volume whose key starts with `prefix`, without
/// following or listing symlinks and without holdfast's own directories; keys use `/`.
pub fn local_files(root: &Root, prefix: &str) -> ApiResult<Vec<ObjectMeta>> {
    Ok(root.list(prefix, &[STATE_DIR, TEMP_DIR])?)
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
    if key.split('/').any(|s| s.starts_with(TEMP_PREFIX)) {
        return Err(ApiError::forbidden(format!(
            "{TEMP_PREFIX}* files belong to holdfast"
        )));
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
            "a/.holdfast-part-1234",
            "a\0b",
        ] {
            assert!(check_key(key).is_err(), "{key:?}");
        }
        assert!(check_key("a/..b/c").is_ok());
    }
}
