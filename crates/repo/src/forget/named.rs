//! `forget ID…`: removes exactly the named snapshots (id prefixes or selectors such as
//! `latest:app-data~1`), resolved under the exclusive lock of a real run (as `tag` does),
//! so the ids deleted are the ids the selectors named at that moment. A dry run takes no
//! lock and deletes nothing. No policy applies, and none may be given.

use crate::error::{Error, Result};
use crate::id::Id;
use crate::lock::Lock;
use crate::repository::Repository;
use crate::snapshot::{Snapshot, snapshot_key};

use super::{ForgetGroup, ForgetOptions, ForgetReport, Removed};

/// Forgets the snapshots of `opts.snapshots`.
pub(super) async fn forget(repo: &Repository, opts: &ForgetOptions) -> Result<ForgetReport> {
    if !opts.policy.is_empty() {
        return Err(Error::Invalid(format!(
            "give snapshots to forget or keep rules ({}), not both",
            opts.policy
        )));
    }
    if opts.volume.is_some() {
        return Err(Error::Invalid(
            "a volume selects snapshots for keep rules; name a snapshot of it with \
             latest:VOLUME or latest:VOLUME~N instead"
                .into(),
        ));
    }
    if opts.dry_run {
        let chosen = resolve(repo, &opts.snapshots).await?;
        return Ok(report(chosen, true, 0));
    }
    let lock = Lock::acquire_with(repo, true, &opts.lock).await?;
    let result = lock.run("forget", under_lock(repo, opts, &lock)).await;
    lock.release_after(result).await
}

async fn under_lock(repo: &Repository, opts: &ForgetOptions, lock: &Lock) -> Result<ForgetReport> {
    let chosen = resolve(repo, &opts.snapshots).await?;
    // The selectors were resolved under this lock; it must still hold for the deletes.
    lock.check().await?;
    let mut deleted = 0;
    for (id, _) in &chosen {
        let key = snapshot_key(id);
        repo.store().delete_file(&key).await?;
        repo.uncache(&key);
        deleted += 1;
    }
    Ok(report(chosen, false, deleted))
}

/// Every spec resolved, each snapshot once; any spec that names nothing fails the whole
/// command before anything is deleted.
async fn resolve(repo: &Repository, specs: &[String]) -> Result<Vec<(Id, Snapshot)>> {
    let mut chosen: Vec<(Id, Snapshot)> = Vec::new();
    for spec in specs {
        let found = repo.find_snapshot(spec).await?;
        if !chosen.iter().any(|(id, _)| *id == found.0) {
            chosen.push(found);
        }
    }
    Ok(chosen)
}

/// The report: one group per volume or path, listing only what is removed.
fn report(chosen: Vec<(Id, Snapshot)>, dry_run: bool, deleted: usize) -> ForgetReport {
    let mut groups: Vec<ForgetGroup> = Vec::new();
    for (id, s) in chosen {
        let removed = Removed { id, time: s.time };
        match groups.iter_mut().find(|g| g.group == s.group()) {
            Some(g) => g.remove.push(removed),
            None => groups.push(ForgetGroup {
                group: s.group().to_owned(),
                volume: s.volume.clone(),
                root: s.root.clone(),
                keep: Vec::new(),
                remove: vec![removed],
            }),
        }
    }
    groups.sort_by(|a, b| a.group.cmp(&b.group));
    for g in &mut groups {
        g.remove.sort_by_key(|r| std::cmp::Reverse(r.time));
    }
    ForgetReport {
        groups,
        dry_run,
        deleted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retention::RetentionPolicy;

    /// Finding 5: there was no way to drop one bad snapshot.
    #[tokio::test]
    async fn forget_named_removes_exactly_those() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::io("tmp", e))?;
        std::fs::write(dir.path().join("f"), "x").map_err(|e| Error::io("f", e))?;
        let repo = crate::test_support::memory_repo().await?;
        let mut irepo = repo.load_index().await?;
        let mut ids = Vec::new();
        for n in 0..3 {
            let mut opts = crate::BackupOptions::new(dir.path());
            opts.volume = Some("v".into());
            opts.time = chrono::DateTime::from_timestamp(1_700_000_000 + n * 60, 0);
            ids.push(crate::backup(&mut irepo, &opts).await?.id);
        }
        let named = |specs: &[&str], dry_run: bool| ForgetOptions {
            snapshots: specs.iter().map(|s| (*s).to_owned()).collect(),
            dry_run,
            ..Default::default()
        };
        let dry = super::super::forget(&repo, &named(&["latest:v~1"], true)).await?;
        assert_eq!(dry.groups[0].remove[0].id, ids[1]);
        assert_eq!((dry.deleted, repo.snapshots().await?.len()), (0, 3));
        let prefix = ids[0].to_hex()[..8].to_owned();
        let r =
            super::super::forget(&repo, &named(&[&prefix, "latest:v~1", &prefix], false)).await?;
        assert_eq!(r.deleted, 2);
        let left: Vec<Id> = repo
            .snapshots()
            .await?
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        assert_eq!(left, [ids[2]]);
        // A spec that names nothing fails before anything is deleted.
        let missing = named(&["latest:v", "0000000000"], false);
        assert!(super::super::forget(&repo, &missing).await.is_err());
        assert_eq!(repo.snapshots().await?.len(), 1);
        let both = ForgetOptions {
            policy: RetentionPolicy {
                keep_last: Some(1),
                ..Default::default()
            },
            ..named(&["latest"], false)
        };
        assert!(matches!(
            super::super::forget(&repo, &both).await,
            Err(Error::Invalid(_))
        ));
        Ok(())
    }
}
