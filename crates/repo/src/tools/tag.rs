//! `tag`: adds, removes or sets tags of snapshots. A snapshot object is immutable and
//! named by its hash, so a change writes a new snapshot object and then deletes the old
//! one, under the exclusive lock (as restic does). The new snapshot records in
//! `original` the id the snapshot had before its first change (or the original it
//! already recorded), so copies made before the change still recognise it.
//!
//! `--remove shrunk` ([`crate::snapshot::SHRUNK`]) also clears the snapshot's shrunk
//! flag: the user accepts that the files are really gone, and the snapshot counts as
//! unflagged from then on (for `latest`, automatic restores, retention, and the next
//! backup's comparison).

use serde::Serialize;

use crate::error::{Error, Result};
use crate::id::Id;
use crate::lock::{Lock, LockOptions};
use crate::repository::Repository;
use crate::snapshot::{SHRUNK, Snapshot, snapshot_key};

/// Options of [`tag`].
#[derive(Clone, Debug, Default)]
pub struct TagOptions {
    /// Snapshot specs (id prefix, `latest`, `latest:VOLUME`, `latest~N`).
    pub snapshots: Vec<String>,
    /// Tags to add.
    pub add: Vec<String>,
    /// Tags to remove.
    pub remove: Vec<String>,
    /// Replace every tag with these (applied before `add` and `remove`).
    pub set: Option<Vec<String>>,
    /// How the exclusive lock is taken.
    pub lock: LockOptions,
}

/// One snapshot changed.
#[derive(Clone, Debug, Serialize)]
pub struct TagChange {
    /// The old snapshot id (deleted).
    pub old: Id,
    /// The new snapshot id.
    pub new: Id,
    /// The tags now.
    pub tags: Vec<String>,
    /// True when the shrunk flag was cleared.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cleared_shrunk: bool,
}

/// What [`tag`] did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct TagReport {
    /// Snapshots rewritten.
    pub changed: Vec<TagChange>,
    /// Snapshots whose tags were already as asked.
    pub unchanged: Vec<Id>,
}

/// The tags after the change, sorted and without duplicates.
fn new_tags(old: &[String], opts: &TagOptions) -> Vec<String> {
    let mut tags: Vec<String> = opts.set.clone().unwrap_or_else(|| old.to_vec());
    tags.extend(opts.add.iter().cloned());
    tags.retain(|t| !opts.remove.contains(t));
    tags.sort();
    tags.dedup();
    tags
}

/// Changes the tags of the named snapshots.
pub async fn tag(repo: &Repository, opts: &TagOptions) -> Result<TagReport> {
    if opts.add.is_empty() && opts.remove.is_empty() && opts.set.is_none() {
        return Err(Error::Invalid(
            "nothing to do: give --add, --remove or --set".into(),
        ));
    }
    if opts.snapshots.is_empty() {
        return Err(Error::Invalid("no snapshot given".into()));
    }
    let lock = Lock::acquire_with(repo, true, &opts.lock).await?;
    let result = lock.run("tag", under_lock(repo, opts, &lock)).await;
    lock.release_after(result).await
}

async fn under_lock(repo: &Repository, opts: &TagOptions, lock: &Lock) -> Result<TagReport> {
    let mut chosen: Vec<(Id, Snapshot)> = Vec::new();
    for spec in &opts.snapshots {
        let found = repo.find_snapshot(spec).await?;
        if !chosen.iter().any(|(id, _)| *id == found.0) {
            chosen.push(found);
        }
    }
    let mut report = TagReport::default();
    for (id, snap) in chosen {
        let tags = new_tags(&snap.tags, opts);
        let mut old_sorted = snap.tags.clone();
        old_sorted.sort();
        old_sorted.dedup();
        let clear = snap.shrunk.is_some() && opts.remove.iter().any(|t| t == SHRUNK);
        if tags == old_sorted && !clear {
            report.unchanged.push(id);
            continue;
        }
        let changed = Snapshot {
            tags: tags.clone(),
            original: Some(snap.original.unwrap_or(id)),
            shrunk: if clear { None } else { snap.shrunk.clone() },
            ..snap
        };
        lock.check().await?;
        let new = repo.save_snapshot(&changed).await?;
        repo.store().delete_file(&snapshot_key(&id)).await?;
        repo.uncache(&snapshot_key(&id));
        report.changed.push(TagChange {
            old: id,
            new,
            tags,
            cleared_shrunk: clear,
        });
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_remove_set() {
        let o = |add: &[&str], remove: &[&str], set: Option<&[&str]>| TagOptions {
            add: add.iter().map(|s| (*s).to_owned()).collect(),
            remove: remove.iter().map(|s| (*s).to_owned()).collect(),
            set: set.map(|s| s.iter().map(|t| (*t).to_owned()).collect()),
            ..Default::default()
        };
        let old = vec!["b".to_owned(), "a".to_owned()];
        assert_eq!(new_tags(&old, &o(&["c", "a"], &[], None)), ["a", "b", "c"]);
        assert_eq!(new_tags(&old, &o(&[], &["a"], None)), ["b"]);
        assert_eq!(new_tags(&old, &o(&["y"], &[], Some(&["x"]))), ["x", "y"]);
        assert!(new_tags(&old, &o(&[], &[], Some(&[]))).is_empty());
    }

    /// Finding 1: a backup of a volume that lost every file is flagged against the last
    /// good snapshot (so is the next empty one), and `--remove shrunk` accepts the
    /// deletion: the flag is cleared and the next backup compares with the accepted one.
    #[tokio::test]
    async fn remove_shrunk_accepts_a_real_deletion() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::io("tmp", e))?;
        for n in 0..4 {
            std::fs::write(dir.path().join(format!("f{n}")), "x").map_err(|e| Error::io("f", e))?;
        }
        let repo = crate::test_support::memory_repo().await?;
        let mut irepo = repo.load_index().await?;
        let mut opts = crate::BackupOptions::new(dir.path());
        opts.volume = Some("v".into());
        let good = crate::backup(&mut irepo, &opts).await?;
        assert!(good.snapshot.shrunk.is_none());
        for n in 0..4 {
            std::fs::remove_file(dir.path().join(format!("f{n}")))
                .map_err(|e| Error::io("f", e))?;
        }
        let empty = crate::backup(&mut irepo, &opts).await?;
        let flag = empty.snapshot.shrunk.clone().expect("flagged");
        assert_eq!(
            (flag.reference, flag.files_before, flag.files_after),
            (good.id, 4, 0)
        );
        let again = crate::backup(&mut irepo, &opts).await?;
        assert_eq!(again.snapshot.shrunk.map(|s| s.reference), Some(good.id));
        let report = tag(
            &repo,
            &TagOptions {
                snapshots: vec![again.id.to_hex()],
                remove: vec![SHRUNK.into()],
                ..Default::default()
            },
        )
        .await?;
        assert!(report.changed[0].cleared_shrunk);
        let (_, accepted) = repo.find_snapshot("latest:v").await?;
        assert!(accepted.shrunk.is_none());
        assert_eq!(repo.find_restorable("v").await?.id, report.changed[0].new);
        let next = crate::backup(&mut irepo, &opts).await?;
        assert!(next.snapshot.shrunk.is_none());
        Ok(())
    }
}
