//! Picking a snapshot when some are flagged [`crate::Shrunk`]: what a person's `latest`
//! is told ([`Repository::find_snapshot_noting`]) and what an automatic restore takes
//! ([`Repository::find_restorable`]).
//!
//! The rule (docs/RETENTION.md, "Shrunk snapshots"): a selector the user typed resolves
//! as written — `latest` is the newest snapshot, flagged or not — and the caller is handed
//! the newest unflagged snapshot of the same group to warn with. An automatic restore
//! (`restore_if_empty`, `restore_if_missing`) never takes a flagged snapshot when an
//! unflagged one exists: it takes the newest unflagged one and names the newer flagged
//! ones it passed over.

use crate::error::Result;
use crate::id::Id;
use crate::snapshot::{Selector, Snapshot, newest_intact};

use super::Repository;

/// A snapshot found by a selector, and, when it is a flagged `latest…`, the newest
/// unflagged snapshot of its group.
#[derive(Clone, Debug)]
pub struct Picked {
    /// The snapshot id.
    pub id: Id,
    /// The snapshot.
    pub snapshot: Snapshot,
    /// Set when the selector was `latest…` and picked a flagged snapshot: the newest
    /// unflagged one of the same volume or path, if any.
    pub intact: Option<(Id, Snapshot)>,
}

/// The snapshot an automatic restore of a volume takes.
#[derive(Clone, Debug)]
pub struct Restorable {
    /// The snapshot id.
    pub id: Id,
    /// The snapshot.
    pub snapshot: Snapshot,
    /// The newer snapshots of the volume that are flagged and were passed over, newest
    /// first (empty when the newest snapshot is taken).
    pub passed_over: Vec<(Id, Snapshot)>,
}

impl Repository {
    /// [`Repository::find_snapshot`], plus the newest unflagged snapshot of the group
    /// when `spec` is a `latest…` selector that picked a flagged one.
    pub async fn find_snapshot_noting(&self, spec: &str) -> Result<Picked> {
        let (id, snapshot) = self.find_snapshot(spec).await?;
        let latest = Selector::parse(spec).is_ok_and(|s| s.is_latest());
        let intact = if latest && snapshot.shrunk.is_some() {
            let (list, _) = self.snapshots_lenient().await?;
            newest_intact(&list, &snapshot).cloned()
        } else {
            None
        };
        Ok(Picked {
            id,
            snapshot,
            intact,
        })
    }

    /// The snapshot of `volume` an automatic restore takes: the newest one that is not
    /// flagged, else (every one is flagged) the newest. `NotFound` when the volume has
    /// none.
    pub async fn find_restorable(&self, volume: &str) -> Result<Restorable> {
        let (id, snapshot) = self.find_snapshot(&format!("latest:{volume}")).await?;
        if snapshot.shrunk.is_none() {
            return Ok(Restorable {
                id,
                snapshot,
                passed_over: Vec::new(),
            });
        }
        let (list, _) = self.snapshots_lenient().await?;
        let Some((good, good_snap)) = newest_intact(&list, &snapshot).cloned() else {
            return Ok(Restorable {
                id,
                snapshot,
                passed_over: Vec::new(),
            });
        };
        let mut passed_over: Vec<(Id, Snapshot)> = list
            .into_iter()
            .filter(|(i, s)| s.same_group(&snapshot) && (s.time, *i) > (good_snap.time, good))
            .collect();
        passed_over.sort_by_key(|(id, s)| std::cmp::Reverse((s.time, *id)));
        Ok(Restorable {
            id: good,
            snapshot: good_snap,
            passed_over,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::error::{Error, Result};

    /// Finding 1: `restore_if_empty` restored the empty snapshot of an unmounted volume.
    #[tokio::test]
    async fn automatic_restores_pass_over_shrunk_snapshots() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::io("tmp", e))?;
        std::fs::write(dir.path().join("f"), "x").map_err(|e| Error::io("f", e))?;
        let repo = crate::test_support::memory_repo().await?;
        let mut irepo = repo.load_index().await?;
        let mut opts = crate::BackupOptions::new(dir.path());
        opts.volume = Some("v".into());
        let good = crate::backup(&mut irepo, &opts).await?;
        let same = repo.find_restorable("v").await?;
        assert_eq!((same.id, same.passed_over.len()), (good.id, 0));
        std::fs::remove_file(dir.path().join("f")).map_err(|e| Error::io("f", e))?;
        let empty = crate::backup(&mut irepo, &opts).await?;
        assert!(empty.snapshot.shrunk.is_some());
        let pick = repo.find_restorable("v").await?;
        assert_eq!(pick.id, good.id);
        let passed: Vec<_> = pick.passed_over.iter().map(|(id, _)| *id).collect();
        assert_eq!(passed, [empty.id]);
        let found = repo.find_snapshot_noting("latest:v").await?;
        assert_eq!(found.id, empty.id);
        assert_eq!(found.intact.map(|(id, _)| id), Some(good.id));
        let by_id = repo.find_snapshot_noting(&empty.id.to_hex()).await?;
        assert!(by_id.intact.is_none());
        assert!(matches!(
            repo.find_restorable("other").await,
            Err(Error::NotFound { .. })
        ));
        Ok(())
    }
}
