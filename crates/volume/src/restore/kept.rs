//! What a restore of one path ([`super::path`]) keeps for its undo: the entries it
//! replaced, moved (never copied) into `.holdfast/kept/<id>/` by the swap, laid out like
//! the volume, and beside them a manifest `.holdfast/kept/<id>.json` ([`Kept`]) naming
//! what came in and what went aside.
//!
//! The manifest is written, fsynced and renamed into place *before* the swap commits,
//! under the swap's lock, so there is never kept data without its manifest. Whether the
//! restore happened is read from the volume, not from the manifest ([`state`]): the
//! kept directory exists once the swap finished (or a recovery finished it); while the
//! swap's work directory is still there it is pending; with neither, the swap rolled
//! back and the manifest is stale (removed by the next restore or undo of the volume).
//! [`live_entry`] says what a restore would replace, for a confirmation.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::layout::{KEPT_DIR, SWAP_DIR, kept_manifest};

/// The manifest of one restore of a path, or of its undo.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Kept {
    /// Format version (1).
    pub version: u32,
    /// The restore's id: the swap's, and the name of its kept directory.
    pub id: String,
    /// The volume.
    pub volume: String,
    /// The snapshot restored from (short id); `None` for an undo.
    pub snapshot: Option<String>,
    /// The path asked for, relative to the volume.
    pub path: String,
    /// Entries the swap brought in (the path, or its topmost ancestor that was missing).
    pub came_in: Vec<String>,
    /// Entries the swap moved aside into the kept directory (empty: the path did not
    /// exist).
    pub went_aside: Vec<String>,
    /// The restore this one undoes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub undoes: Option<String>,
    /// The undo that put the kept entries back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub undone_by: Option<String>,
    /// When it started (RFC 3339).
    pub started: String,
}

/// Where a restore is, read from the volume.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    /// The swap finished: the kept directory holds what it replaced.
    Done,
    /// The swap is running, or was interrupted (the next guard recovers it).
    Pending,
    /// The swap never committed (rolled back): nothing was replaced.
    Void,
    /// The kept entries were put back by an undo.
    Undone,
}

/// The kept directory of restore `id` on `volume`.
pub fn kept_dir(volume: &Path, id: &str) -> PathBuf {
    volume.join(KEPT_DIR).join(id)
}

/// Where restore `id` is (see the module doc).
pub fn state(volume: &Path, kept: &Kept) -> State {
    if kept.undone_by.is_some() {
        return State::Undone;
    }
    if kept_dir(volume, &kept.id).is_dir() {
        return State::Done;
    }
    if volume.join(SWAP_DIR).join(&kept.id).is_dir() {
        return State::Pending;
    }
    State::Void
}

/// Why a manifest cannot be read or written; names the file.
#[derive(Debug, thiserror::Error)]
#[error("{}: {reason}", path.display())]
pub struct KeptError {
    /// The manifest.
    pub path: PathBuf,
    /// Why.
    pub reason: String,
}

fn fail(path: &Path, reason: impl std::fmt::Display) -> KeptError {
    KeptError {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// Reads the manifest of restore `id`; `None` when there is none.
pub fn read(volume: &Path, id: &str) -> Result<Option<Kept>, KeptError> {
    if id.is_empty() || id.contains('/') || id.starts_with('.') {
        return Ok(None);
    }
    let path = volume.join(kept_manifest(id));
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| fail(&path, e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(fail(&path, e)),
    }
}

/// Writes the manifest whole: a temp name, fsynced, renamed, the directory fsynced.
pub fn write(volume: &Path, kept: &Kept) -> Result<(), KeptError> {
    let dir = volume.join(KEPT_DIR);
    std::fs::create_dir_all(&dir).map_err(|e| fail(&dir, e))?;
    let path = volume.join(kept_manifest(&kept.id));
    let tmp = dir.join(format!(".{}.json.tmp", kept.id));
    let bytes = serde_json::to_vec_pretty(kept).map_err(|e| fail(&path, e))?;
    let mut f = std::fs::File::create(&tmp).map_err(|e| fail(&tmp, e))?;
    f.write_all(&bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| fail(&tmp, e))?;
    std::fs::rename(&tmp, &path).map_err(|e| fail(&path, e))?;
    std::fs::File::open(&dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| fail(&dir, e))
}

/// Removes a manifest (a void restore's).
pub fn remove(volume: &Path, id: &str) -> Result<(), KeptError> {
    let path = volume.join(kept_manifest(id));
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(fail(&path, e)),
    }
}

/// Every manifest on `volume`, newest first.
pub fn list(volume: &Path) -> Vec<Kept> {
    let dir = volume.join(KEPT_DIR);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut out: Vec<Kept> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let id = name.strip_suffix(".json")?;
            read(volume, id).ok().flatten()
        })
        .collect();
    out.sort_by(|a, b| b.id.cmp(&a.id));
    out
}

/// What is at a path of the volume now: what a restore of it would replace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveEntry {
    /// `file`, `folder`, `link` or `other`.
    pub kind: &'static str,
    /// Regular files (1 for a file; those below it for a folder).
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Entries below a folder.
    pub entries: u64,
    /// When it last changed.
    pub modified: Option<chrono::DateTime<chrono::Utc>>,
}

/// What is at `path` (relative, checked with [`super::path::check_path`]) in the volume `root` now,
/// never following a link; `None` when nothing is there. A folder is walked (at most a
/// million entries are counted).
pub fn live_entry(root: &Path, path: &str) -> Option<LiveEntry> {
    let p = root.join(path);
    let meta = std::fs::symlink_metadata(&p).ok()?;
    let modified = meta
        .modified()
        .ok()
        .map(chrono::DateTime::<chrono::Utc>::from);
    let t = meta.file_type();
    let mut e = LiveEntry {
        kind: if t.is_dir() {
            "folder"
        } else if t.is_symlink() {
            "link"
        } else if t.is_file() {
            "file"
        } else {
            "other"
        },
        files: u64::from(t.is_file()),
        bytes: if t.is_file() { meta.len() } else { 0 },
        entries: 0,
        modified,
    };
    if t.is_dir() {
        for d in walkdir::WalkDir::new(&p)
            .min_depth(1)
            .follow_links(false)
            .into_iter()
            .filter_map(Result::ok)
            .take(1_000_000)
        {
            e.entries += 1;
            if d.file_type().is_file() {
                e.files += 1;
                e.bytes += d.metadata().map(|m| m.len()).unwrap_or(0);
            }
        }
    }
    Some(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manifest_round_trips_and_its_state_is_read_from_the_volume() {
        let vol = tempfile::tempdir().expect("volume");
        let k = Kept {
            version: 1,
            id: "20260101T000000.000000Z-1".into(),
            volume: "data".into(),
            snapshot: Some("1a2b3c4d".into()),
            path: "a/b".into(),
            came_in: vec!["a/b".into()],
            went_aside: vec!["a/b".into()],
            undoes: None,
            undone_by: None,
            started: "2026-01-01T00:00:00Z".into(),
        };
        write(vol.path(), &k).expect("write");
        assert_eq!(read(vol.path(), &k.id).expect("read"), Some(k.clone()));
        assert_eq!(state(vol.path(), &k), State::Void);
        std::fs::create_dir_all(vol.path().join(SWAP_DIR).join(&k.id)).expect("mkdir");
        assert_eq!(state(vol.path(), &k), State::Pending);
        std::fs::create_dir_all(kept_dir(vol.path(), &k.id)).expect("mkdir");
        assert_eq!(state(vol.path(), &k), State::Done);
        assert_eq!(list(vol.path()), vec![k.clone()]);
        assert_eq!(read(vol.path(), "../x").expect("read"), None);
    }
}
