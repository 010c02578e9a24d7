//! `forget`: applies a [`RetentionPolicy`] to the snapshots of each group and deletes the
//! `snapshots/<id>` objects of those it does not keep. Nothing else is deleted: the data
//! they alone referenced stays until [`crate::prune`] removes it.
//!
//! Snapshots are grouped by volume when they have one, else by root path (the same rule
//! that picks a backup's parent), and the policy is applied to each group on its own with
//! [`apply_policy`] (restic's semantics). A policy that would keep no snapshot of a group
//! is refused unless `allow_empty` is set. A real run holds the exclusive lock.
//!
//! Invariant (docs/RETENTION.md, "Shrunk snapshots"): while the newest snapshots of a
//! group are flagged [`crate::Shrunk`], the newest unflagged one is kept whatever the
//! policy says, with the reason [`KEPT_INTACT`] — a few nights of empty snapshots of an
//! unmounted volume never push the last good one out.
//!
//! Named snapshots instead of a policy ([`ForgetOptions::snapshots`], `forget ID…`) are
//! resolved under the same lock and removed, exactly those; the two are never combined.

use serde::Serialize;

use crate::error::{Error, Result};
use crate::id::Id;
use crate::lock::{Lock, LockOptions};
use crate::repository::Repository;
use crate::retention::{RetentionPolicy, apply_policy};
use crate::snapshot::{Snapshot, snapshot_key};

mod named;
pub mod text;

/// The reason a snapshot is kept when newer snapshots of its group are flagged shrunk.
pub const KEPT_INTACT: &str = "newest snapshot not flagged shrunk (newer ones are)";

/// Options of [`forget`].
#[derive(Clone, Debug, Default)]
pub struct ForgetOptions {
    /// Which snapshots to keep in each group.
    pub policy: RetentionPolicy,
    /// Instead of a policy: exactly these snapshots (id prefixes or selectors) are
    /// forgotten. Giving both is an error.
    pub snapshots: Vec<String>,
    /// Only the snapshots of this volume.
    pub volume: Option<String>,
    /// Decide and report, delete nothing.
    pub dry_run: bool,
    /// Allow a policy that keeps no snapshot of some group.
    pub allow_empty: bool,
    /// How the exclusive lock is taken.
    pub lock: LockOptions,
}

/// A kept snapshot and why it is kept.
#[derive(Clone, Debug, Serialize)]
pub struct Kept {
    /// Snapshot id.
    pub id: Id,
    /// Snapshot time.
    pub time: chrono::DateTime<chrono::Utc>,
    /// The rules that keep it.
    pub reasons: Vec<String>,
}

/// A snapshot that is (or, in a dry run, would be) forgotten.
#[derive(Clone, Debug, Serialize)]
pub struct Removed {
    /// Snapshot id.
    pub id: Id,
    /// Snapshot time.
    pub time: chrono::DateTime<chrono::Utc>,
}

/// The decisions for one group, newest first.
#[derive(Clone, Debug, Serialize)]
pub struct ForgetGroup {
    /// The group: the volume name, or the root path of snapshots without a volume.
    pub group: String,
    /// Volume of the group, if any.
    pub volume: Option<String>,
    /// Root path of the newest snapshot of the group.
    pub root: String,
    /// Kept snapshots.
    pub keep: Vec<Kept>,
    /// Forgotten snapshots.
    pub remove: Vec<Removed>,
}

/// What [`forget`] decided and did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ForgetReport {
    /// Per group, in order of group name.
    pub groups: Vec<ForgetGroup>,
    /// True when nothing was deleted on purpose.
    pub dry_run: bool,
    /// Snapshot objects deleted.
    pub deleted: usize,
}

/// The group a snapshot belongs to.
pub fn group_of(s: &Snapshot) -> String {
    s.volume.clone().unwrap_or_else(|| s.root.clone())
}

/// Snapshots by group: (volume, root of snapshots without a volume).
type Groups = std::collections::BTreeMap<(Option<String>, String), Vec<(Id, Snapshot)>>;

/// Decides per group which snapshots `policy` keeps (no lock, nothing deleted).
pub fn plan(snapshots: Vec<(Id, Snapshot)>, policy: &RetentionPolicy) -> Vec<ForgetGroup> {
    let mut groups: Groups = Groups::new();
    for (id, s) in snapshots {
        let key = match &s.volume {
            Some(v) => (Some(v.clone()), String::new()),
            None => (None, s.root.clone()),
        };
        groups.entry(key).or_default().push((id, s));
    }
    groups
        .into_iter()
        .map(|((volume, _), items)| {
            let decisions = keep_intact(apply_policy(
                items,
                policy,
                |(_, s)| s.time.fixed_offset(),
                |(_, s)| s.tags.as_slice(),
            ));
            let root = decisions
                .first()
                .map(|d| d.item.1.root.clone())
                .unwrap_or_default();
            let mut g = ForgetGroup {
                group: volume.clone().unwrap_or_else(|| root.clone()),
                volume,
                root,
                keep: Vec::new(),
                remove: Vec::new(),
            };
            for d in decisions {
                let (id, s) = d.item;
                if d.keep {
                    g.keep.push(Kept {
                        id,
                        time: s.time,
                        reasons: d.reasons,
                    });
                } else {
                    g.remove.push(Removed { id, time: s.time });
                }
            }
            g
        })
        .collect()
}

/// Keeps the newest unflagged snapshot of a group whose newest snapshot is flagged
/// shrunk (see the module docs); `decisions` are newest first, as [`apply_policy`] gives
/// them.
fn keep_intact(
    mut decisions: Vec<crate::retention::Decision<(Id, Snapshot)>>,
) -> Vec<crate::retention::Decision<(Id, Snapshot)>> {
    let newest_flagged = decisions.first().is_some_and(|d| d.item.1.shrunk.is_some());
    if newest_flagged
        && let Some(d) = decisions.iter_mut().find(|d| d.item.1.shrunk.is_none())
        && !d.reasons.iter().any(|r| r == KEPT_INTACT)
    {
        d.keep = true;
        d.reasons.push(KEPT_INTACT.to_owned());
    }
    decisions
}

/// Applies the policy and deletes the snapshots it does not keep; or, given
/// [`ForgetOptions::snapshots`], deletes exactly those.
pub async fn forget(repo: &Repository, opts: &ForgetOptions) -> Result<ForgetReport> {
    if !opts.snapshots.is_empty() {
        return named::forget(repo, opts).await;
    }
    if opts.policy.is_empty() {
        return Err(Error::Invalid(
            "no retention policy: give at least one keep rule".into(),
        ));
    }
    let lock = if opts.dry_run {
        None
    } else {
        Some(Lock::acquire_with(repo, true, &opts.lock).await?)
    };
    let result = run(repo, opts, lock.as_ref()).await;
    if let Some(lock) = lock {
        lock.release().await?;
    }
    result
}

async fn run(repo: &Repository, opts: &ForgetOptions, lock: Option<&Lock>) -> Result<ForgetReport> {
    let snapshots: Vec<(Id, Snapshot)> = repo
        .snapshots()
        .await?
        .into_iter()
        .filter(|(_, s)| opts.volume.is_none() || s.volume == opts.volume)
        .collect();
    let groups = plan(snapshots, &opts.policy);
    if !opts.allow_empty
        && let Some(g) = groups.iter().find(|g| g.keep.is_empty())
    {
        return Err(Error::Invalid(format!(
            "the policy ({}) keeps no snapshot of {}; refusing to forget all {} of them \
             (allow an empty group to do it anyway)",
            opts.policy,
            g.group,
            g.remove.len()
        )));
    }
    let mut deleted = 0;
    if !opts.dry_run {
        // The plan is only as good as the lock it was made under.
        if let Some(lock) = lock {
            lock.check().await?;
        }
        for g in &groups {
            for r in &g.remove {
                let key = snapshot_key(&r.id);
                repo.store().delete_file(&key).await?;
                repo.uncache(&key);
                deleted += 1;
            }
        }
    }
    Ok(ForgetReport {
        groups,
        dry_run: opts.dry_run,
        deleted,
    })
}

#[cfg(test)]
mod intact_tests;

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(day: u32, volume: Option<&str>, root: &str) -> (Id, Snapshot) {
        let time = chrono::NaiveDate::from_ymd_opt(2026, 3, day)
            .and_then(|d| d.and_hms_opt(12, 0, 0))
            .map(|t| t.and_utc())
            .unwrap_or_default();
        let s = crate::test_support::bare_snapshot(time, "h", root, volume, &[]);
        (Id::hash(format!("{day}{volume:?}{root}").as_bytes()), s)
    }

    #[tokio::test]
    async fn volume_filter_dry_run_and_empty_groups() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::io("tmp", e))?;
        std::fs::write(dir.path().join("f"), "x").map_err(|e| Error::io("f", e))?;
        let repo = crate::test_support::memory_repo().await?;
        let mut irepo = repo.load_index().await?;
        for volume in [Some("v"), Some("v"), None, None] {
            let mut opts = crate::BackupOptions::new(dir.path());
            opts.volume = volume.map(String::from);
            crate::backup(&mut irepo, &opts).await?;
        }
        let last = |n| RetentionPolicy {
            keep_last: Some(n),
            ..Default::default()
        };
        let dry = ForgetOptions {
            policy: last(1),
            dry_run: true,
            ..Default::default()
        };
        let r = forget(&repo, &dry).await?;
        assert_eq!((r.groups.len(), r.deleted), (2, 0));
        assert_eq!(repo.snapshots().await?.len(), 4);
        let only_v = ForgetOptions {
            policy: last(1),
            volume: Some("v".into()),
            ..Default::default()
        };
        let r = forget(&repo, &only_v).await?;
        assert_eq!((r.groups.len(), r.deleted), (1, 1));
        assert_eq!(r.groups[0].group, "v");
        assert_eq!(repo.snapshots().await?.len(), 3);
        let none = ForgetOptions {
            policy: RetentionPolicy {
                keep_tags: vec![vec!["missing".into()]],
                ..Default::default()
            },
            ..Default::default()
        };
        assert!(matches!(forget(&repo, &none).await, Err(Error::Invalid(_))));
        assert_eq!(repo.snapshots().await?.len(), 3);
        let allowed = ForgetOptions {
            allow_empty: true,
            ..none
        };
        assert_eq!(forget(&repo, &allowed).await?.deleted, 3);
        assert!(forget(&repo, &ForgetOptions::default()).await.is_err());
        Ok(())
    }

    #[test]
    fn groups_by_volume_else_root() {
        let list = vec![
            snap(1, Some("db"), "/a"),
            snap(2, Some("db"), "/b"),
            snap(3, None, "/a"),
            snap(4, None, "/a"),
            snap(5, None, "/c"),
        ];
        let policy = RetentionPolicy {
            keep_last: Some(1),
            ..Default::default()
        };
        let groups = plan(list, &policy);
        let shape: Vec<(String, usize, usize)> = groups
            .iter()
            .map(|g| (g.group.clone(), g.keep.len(), g.remove.len()))
            .collect();
        assert_eq!(
            shape,
            vec![
                ("/a".to_owned(), 1, 1),
                ("/c".to_owned(), 1, 0),
                ("db".to_owned(), 1, 1)
            ]
        );
        assert_eq!(groups[2].root, "/b");
        assert_eq!(groups[0].keep[0].reasons, vec!["last snapshot".to_owned()]);
    }
}
