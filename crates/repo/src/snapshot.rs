//! Snapshots: the encrypted JSON record written last by a backup (the commit), the
//! `shrunk` flag of a snapshot that holds far less than the one before it ([`Shrunk`]),
//! and the selection of a snapshot by id prefix, `latest`, `latest:VOLUME`,
//! `latest:/PATH` and `latest~N` ([`select`]).
//!
//! Invariant of the flag: a backup compares what it read with the newest snapshot of the
//! same volume (or path) that is not flagged — not merely with its parent, so a second
//! empty snapshot after a first one is flagged too. A snapshot with no files where that
//! one had some, or with more than the configured share of its files or bytes gone, is
//! still committed (it may be a real deletion) but carries `shrunk`; only `holdfast tag
//! ID --remove shrunk` clears it (the user accepts the deletion).

use serde::{Deserialize, Serialize};

use crate::crypto::{AD_SNAPSHOT, Keys};
use crate::error::{Error, Result};
use crate::id::Id;

mod select;
pub mod text;

pub use select::{Group, Selector, choices, newest_intact, select};

/// The share of a parent's files or bytes whose disappearance flags a backup as
/// [`Shrunk`] unless configured otherwise (`shrink_alert`, docs/CONFIG.md).
pub const DEFAULT_SHRINK_ALERT: f64 = 50.0;

/// The tag name that `holdfast tag ID --remove shrunk` uses to clear the flag.
pub const SHRUNK: &str = "shrunk";

/// Why a snapshot is flagged: it holds far less than the newest unflagged snapshot of
/// the same volume or path before it (the module docs give the rule).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shrunk {
    /// The snapshot it was compared with.
    pub reference: Id,
    /// Regular files in the reference.
    pub files_before: u64,
    /// Regular files in this snapshot.
    pub files_after: u64,
    /// Bytes of regular files in the reference.
    pub size_before: u64,
    /// Bytes of regular files in this snapshot.
    pub size_after: u64,
}

impl Shrunk {
    /// The flag of a new snapshot holding `after` (files, bytes), compared with snapshot
    /// `reference` that held `before`; `alert` is the share in percent (0 to 100) of the
    /// reference's files or bytes that may go before the snapshot is flagged. No files
    /// where the reference had some is always flagged.
    pub fn check(
        reference: Id,
        before: (u64, u64),
        after: (u64, u64),
        alert: f64,
    ) -> Option<Shrunk> {
        let gone = |before: u64, after: u64| {
            before > 0 && after < before && (before - after) as f64 * 100.0 > alert * before as f64
        };
        let empty = before.0 > 0 && after.0 == 0;
        (empty || gone(before.0, after.0) || gone(before.1, after.1)).then_some(Shrunk {
            reference,
            files_before: before.0,
            files_after: after.0,
            size_before: before.1,
            size_after: after.1,
        })
    }
}

impl std::fmt::Display for Shrunk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} files, {} bytes where snapshot {} had {} files, {} bytes",
            self.files_after,
            self.size_after,
            self.reference.short(),
            self.files_before,
            self.size_before
        )
    }
}

/// One snapshot of one root.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Format version (1).
    pub version: u32,
    /// When the backup was taken (or `--time`).
    pub time: chrono::DateTime<chrono::Utc>,
    /// Host that took it.
    pub hostname: String,
    /// Absolute path of the root that was backed up.
    pub root: String,
    /// Volume name, when the root is a configured volume.
    pub volume: Option<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// Tree of the root directory.
    pub tree: Id,
    /// The snapshot this one was incremental to.
    pub parent: Option<Id>,
    /// Number of regular files.
    pub files: u64,
    /// Number of directories.
    pub dirs: u64,
    /// Total bytes of regular files.
    pub size: u64,
    /// Bytes newly stored by this backup (compressed and encrypted).
    pub added: u64,
    /// True when some entries could not be read.
    pub incomplete: bool,
    /// What could not be read.
    pub errors: Vec<String>,
    /// For a snapshot made by `copy`: the id of the snapshot it copies, in the repository
    /// the first backup wrote it to (a copy of a copy keeps the first id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original: Option<Id>,
    /// Set when the snapshot holds far less than the one before it ([`Shrunk`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shrunk: Option<Shrunk>,
}

/// A snapshot as every JSON output shows it: `holdfast snapshots --json`,
/// `GET /api/v1/snapshots` and the `snapshot` object of `backup --json` and backup jobs
/// (docs/JSON.md). The stored record minus its tree id and error list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotSummary {
    /// Snapshot id (64 hex digits).
    pub id: Id,
    /// When the backup was taken.
    pub time: chrono::DateTime<chrono::Utc>,
    /// Host that took it.
    pub hostname: String,
    /// Absolute path of the root that was backed up.
    pub root: String,
    /// Volume name, when the root is a configured volume.
    pub volume: Option<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// Number of regular files.
    pub files: u64,
    /// Number of directories.
    pub dirs: u64,
    /// Total bytes of regular files.
    pub size: u64,
    /// Bytes newly stored by the backup that made it.
    pub added: u64,
    /// True when some entries could not be read.
    pub incomplete: bool,
    /// The snapshot it was incremental to.
    pub parent: Option<Id>,
    /// For a copied snapshot: the id of the snapshot it copies.
    pub original: Option<Id>,
    /// Present when the snapshot is flagged as holding far less than the one before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shrunk: Option<Shrunk>,
}

/// One backup that committed a snapshot, as `holdfast backup --json` prints it (an array
/// of these, one per root or volume) and as backup jobs of the HTTP API report it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BackupReport {
    /// The volume, or null for a path given on the command line.
    pub volume: Option<String>,
    /// The new snapshot's id.
    pub snapshot: Id,
    /// The root that was backed up.
    pub root: String,
    /// Regular files in it.
    pub files: u64,
    /// Their bytes.
    pub size: u64,
    /// Bytes added to the repository.
    pub added: u64,
    /// True when some entries could not be read.
    pub incomplete: bool,
    /// Seconds the backup took.
    pub duration_s: f64,
    /// Present when the snapshot is flagged as holding far less than the one before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shrunk: Option<Shrunk>,
}

impl BackupReport {
    /// The report of snapshot `id`, committed after `duration`.
    pub fn new(id: Id, snapshot: &Snapshot, duration: std::time::Duration) -> Self {
        BackupReport {
            volume: snapshot.volume.clone(),
            snapshot: id,
            root: snapshot.root.clone(),
            files: snapshot.files,
            size: snapshot.size,
            added: snapshot.added,
            incomplete: snapshot.incomplete,
            duration_s: duration.as_secs_f64(),
            shrunk: snapshot.shrunk.clone(),
        }
    }
}

impl Snapshot {
    /// The JSON face of this snapshot, stored under `id`.
    pub fn summary(&self, id: Id) -> SnapshotSummary {
        SnapshotSummary {
            id,
            time: self.time,
            hostname: self.hostname.clone(),
            root: self.root.clone(),
            volume: self.volume.clone(),
            tags: self.tags.clone(),
            files: self.files,
            dirs: self.dirs,
            size: self.size,
            added: self.added,
            incomplete: self.incomplete,
            parent: self.parent,
            original: self.original,
            shrunk: self.shrunk.clone(),
        }
    }

    /// Encrypts the snapshot for storing.
    pub fn seal(&self, keys: &Keys) -> Result<Vec<u8>> {
        let json = serde_json::to_vec(self).map_err(|e| Error::Internal(e.to_string()))?;
        keys.seal(AD_SNAPSHOT, &json, 3)
    }

    /// Decrypts and parses a stored snapshot.
    pub fn open(keys: &Keys, object: &str, bytes: &[u8]) -> Result<Snapshot> {
        let json = keys.open(object, AD_SNAPSHOT, bytes, 0)?;
        let s: Snapshot = serde_json::from_slice(&json).map_err(|e| Error::corrupt(object, e))?;
        if s.version != 1 {
            return Err(Error::corrupt(
                object,
                format!("unknown snapshot version {}", s.version),
            ));
        }
        Ok(s)
    }

    /// True when `other` is a backup of the same root (same volume, or same path).
    pub fn same_root(&self, volume: Option<&str>, root: &str) -> bool {
        match (&self.volume, volume) {
            (Some(a), Some(b)) => a == b,
            (None, None) => self.root == root,
            _ => false,
        }
    }

    /// The group this snapshot belongs to, as a selector names it: the volume, or the
    /// root path of a snapshot without a volume (`latest:app-data`, `latest:/srv/x`).
    pub fn group(&self) -> &str {
        self.volume.as_deref().unwrap_or(&self.root)
    }

    /// True when `other` belongs to the same group (same volume, or same path without
    /// a volume).
    pub fn same_group(&self, other: &Snapshot) -> bool {
        self.same_root(other.volume.as_deref(), &other.root)
    }
}

/// The store key of a snapshot.
pub fn snapshot_key(id: &Id) -> String {
    format!("snapshots/{id}")
}

/// This machine's host name.
pub fn hostname() -> String {
    gethostname::gethostname().to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(time: i64, volume: Option<&str>) -> Snapshot {
        let time = chrono::DateTime::from_timestamp(time, 0).unwrap_or_default();
        crate::test_support::bare_snapshot(time, "h", "/r", volume, &[])
    }

    /// Finding 1: an empty snapshot of a volume that had files was committed like any
    /// other. The rule: nothing where something was, or more than the share gone.
    #[test]
    fn shrunk_flags_nothing_replacing_something() {
        let r = Id::hash(b"r");
        let before = (3030, 1_000_000);
        let flag = Shrunk::check(r, before, (0, 0), 50.0).expect("flagged");
        assert_eq!((flag.files_before, flag.files_after), (3030, 0));
        assert_eq!(flag.reference, r);
        // Exactly half gone is not more than half.
        assert!(Shrunk::check(r, before, (1515, 500_000), 50.0).is_none());
        assert!(Shrunk::check(r, before, (1514, 1_000_000), 50.0).is_some());
        assert!(Shrunk::check(r, before, (3030, 499_999), 50.0).is_some());
        // Growth never flags; 100 % only flags an empty snapshot.
        assert!(Shrunk::check(r, before, (4000, 2_000_000), 50.0).is_none());
        assert!(Shrunk::check(r, before, (1, 1), 100.0).is_none());
        assert!(Shrunk::check(r, before, (0, 0), 100.0).is_some());
        // An empty reference flags nothing.
        assert!(Shrunk::check(r, (0, 0), (0, 0), 50.0).is_none());
    }

    /// The flag is an optional field: a record without it reads as unflagged, and an
    /// unflagged record is written without it (byte for byte what older versions wrote).
    #[test]
    fn shrunk_is_optional_in_the_record() -> Result<()> {
        let s = snap(5, None);
        let json = serde_json::to_value(&s).map_err(|e| Error::Internal(e.to_string()))?;
        assert!(json.get("shrunk").is_none());
        let mut flagged = s.clone();
        flagged.shrunk = Shrunk::check(Id::hash(b"r"), (2, 10), (0, 0), 50.0);
        let json = serde_json::to_value(&flagged).map_err(|e| Error::Internal(e.to_string()))?;
        assert_eq!(json["shrunk"]["files_before"], 2);
        Ok(())
    }

    #[test]
    fn seal_open_and_garbage() -> Result<()> {
        let keys = Keys::derive(&crate::crypto::MasterKey::generate()?);
        let s = snap(5, None);
        assert_eq!(Snapshot::open(&keys, "s", &s.seal(&keys)?)?, s);
        assert!(matches!(
            Snapshot::open(&keys, "s", &[0u8; 100]),
            Err(Error::Corrupt { .. })
        ));
        Ok(())
    }
}
