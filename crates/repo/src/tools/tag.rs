//! `tag`: adds, removes or sets tags of snapshots. A snapshot object is immutable and
//! named by its hash, so a change writes a new snapshot object and then deletes the old
//! one, under the exclusive lock (as restic does). The new snapshot records in
//! `original` the id the snapshot had before its first change (or the original it
//! already recorded), so copies made before the change still recognise it.

use serde::Serialize;

use crate::error::{Error, Result};
use crate::id::Id;
use crate::lock::{Lock, LockOptions};
use crate::repository::Repository;
use crate::snapshot::{Snapshot, snapshot_key};

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
        if tags == old_sorted {
            report.unchanged.push(id);
            continue;
        }
        let changed = Snapshot {
            tags: tags.clone(),
            original: Some(snap.original.unwrap_or(id)),
            ..snap
        };
        lock.check().await?;
        let new = repo.save_snapshot(&changed).await?;
        repo.store().delete_file(&snapshot_key(&id)).await?;
        report.changed.push(TagChange { old: id, new, tags });
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
}
