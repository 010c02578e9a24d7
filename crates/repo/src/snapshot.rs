//! Snapshots: the encrypted JSON record written last by a backup (the commit), and the
//! selection of a snapshot by id prefix, `latest`, `latest:VOLUME` and `latest~N`.

use serde::{Deserialize, Serialize};

use crate::crypto::{AD_SNAPSHOT, Keys};
use crate::error::{Error, Result};
use crate::id::Id;

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
}

/// The store key of a snapshot.
pub fn snapshot_key(id: &Id) -> String {
    format!("snapshots/{id}")
}

/// This machine's host name.
pub fn hostname() -> String {
    gethostname::gethostname().to_string_lossy().into_owned()
}

/// Picks a snapshot by `spec`: an id prefix, `latest`, `latest:VOLUME`, or either of
/// the latter with `~N` (the N-th before the newest: `latest~1` is the one before
/// `latest`).
pub fn select<'a>(list: &'a [(Id, Snapshot)], spec: &str) -> Result<&'a (Id, Snapshot)> {
    if let Some(rest) = spec.strip_prefix("latest") {
        let (rest, back) = match rest.rsplit_once('~') {
            Some((head, n)) => {
                let n: usize = n.parse().map_err(|_| {
                    Error::Invalid(format!(
                        "snapshot {spec:?}: expected latest~N with N a number"
                    ))
                })?;
                (head, n)
            }
            None => (rest, 0),
        };
        let volume = match rest {
            "" => None,
            r => Some(
                r.strip_prefix(':')
                    .filter(|v| !v.is_empty())
                    .ok_or_else(|| {
                        Error::Invalid(format!(
                            "snapshot {spec:?}: expected latest, latest:VOLUME, latest~N or \
                     latest:VOLUME~N"
                        ))
                    })?,
            ),
        };
        let mut group: Vec<&'a (Id, Snapshot)> = list
            .iter()
            .filter(|(_, s)| volume.is_none_or(|v| s.volume.as_deref() == Some(v)))
            .collect();
        group.sort_by_key(|(id, s)| std::cmp::Reverse((s.time, *id)));
        let what = match volume {
            Some(v) => format!("snapshot of volume {v}"),
            None => "snapshot latest (repository has none)".to_owned(),
        };
        return match group.get(back) {
            Some(s) => Ok(*s),
            None if group.is_empty() => Err(Error::not_found(what)),
            None => Err(Error::not_found(format!(
                "snapshot {spec} (only {} to go back through)",
                group.len()
            ))),
        };
    }
    if spec.is_empty() || !spec.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::Invalid(format!(
            "snapshot {spec:?}: expected an id prefix, latest or latest:VOLUME"
        )));
    }
    let spec = spec.to_ascii_lowercase();
    let mut found = list.iter().filter(|(id, _)| id.to_hex().starts_with(&spec));
    match (found.next(), found.next()) {
        (Some(s), None) => Ok(s),
        (None, _) => Err(Error::not_found(format!("snapshot {spec}"))),
        (Some(_), Some(_)) => Err(Error::Invalid(format!(
            "snapshot id prefix {spec} is ambiguous"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(time: i64, volume: Option<&str>) -> Snapshot {
        let time = chrono::DateTime::from_timestamp(time, 0).unwrap_or_default();
        crate::test_support::bare_snapshot(time, "h", "/r", volume, &[])
    }

    #[test]
    fn selects_by_spec() -> Result<()> {
        let list = vec![
            (Id::hash(b"1"), snap(10, Some("a"))),
            (Id::hash(b"2"), snap(30, None)),
            (Id::hash(b"3"), snap(20, Some("a"))),
        ];
        assert_eq!(select(&list, "latest")?.0, Id::hash(b"2"));
        assert_eq!(select(&list, "latest:a")?.0, Id::hash(b"3"));
        assert!(matches!(
            select(&list, "latest:b"),
            Err(Error::NotFound { .. })
        ));
        let hex = Id::hash(b"1").to_hex();
        assert_eq!(select(&list, &hex[..8])?.0, Id::hash(b"1"));
        assert!(matches!(select(&list, "xyz"), Err(Error::Invalid(_))));
        assert_eq!(select(&list, "latest~1")?.0, Id::hash(b"3"));
        assert_eq!(select(&list, "latest~2")?.0, Id::hash(b"1"));
        assert_eq!(select(&list, "latest:a~1")?.0, Id::hash(b"1"));
        assert_eq!(select(&list, "latest:a~0")?.0, Id::hash(b"3"));
        assert!(matches!(
            select(&list, "latest:a~2"),
            Err(Error::NotFound { .. })
        ));
        assert!(matches!(select(&list, "latest~x"), Err(Error::Invalid(_))));
        assert!(matches!(select(&list, "latestx"), Err(Error::Invalid(_))));
        assert!(matches!(
            select(&list, "0000000000"),
            Err(Error::NotFound { .. })
        ));
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
