//! What prune keeps of `wal/` (docs/FORMAT.md, "Forget and prune"), and the deletion.
//!
//! Per database (lineages grouped by volume and database name, ordered by their head's
//! time; lineage *i* spans from its head's time to the next one's), a lineage is kept
//! when any of these holds:
//! - it is the newest complete lineage of its database;
//! - a kept snapshot of the same volume was taken within its span (a kept snapshot
//!   keeps the segments after it up to the next base);
//! - its span reaches into the point-in-time window (`now - point_in_time`);
//! - the store wrote one of its objects less than `grace` ago (or does not say when):
//!   a follower may be writing it, and a lineage whose head is not written yet is
//!   incomplete, not abandoned.
//!
//! Everything else is deleted whole, segments first and the head last. The decision
//! ([`doomed`]) is a pure function so a property test can try to break it.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};

use super::chain::{Lineage, lineages};
use crate::error::Result;
use crate::failpoint::{Failpoints, Step};
use crate::id::Id;
use crate::lock::Lock;
use crate::repository::Repository;

/// Options of [`prune_wal`].
#[derive(Clone, Debug)]
pub struct WalPruneOptions {
    /// How far back every point stays restorable (default 24 hours).
    pub point_in_time: TimeDelta,
    /// Objects younger than this (store time) are never deleted (default 1 hour, as
    /// prune's `unindexed_grace`).
    pub grace: TimeDelta,
    /// Report what would be deleted, delete nothing.
    pub dry_run: bool,
    /// Failpoints ([`Step::WalPruneAfterDelete`] after each object deleted).
    pub failpoints: Failpoints,
}

impl Default for WalPruneOptions {
    fn default() -> Self {
        WalPruneOptions {
            point_in_time: TimeDelta::hours(24),
            grace: TimeDelta::hours(1),
            dry_run: false,
            failpoints: Failpoints::from_env(),
        }
    }
}

/// What [`prune_wal`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct WalPruneReport {
    /// Lineages kept.
    pub kept: usize,
    /// Lineages deleted (or that would be, in a dry run).
    pub deleted: usize,
    /// Objects deleted.
    pub objects: usize,
    /// Objects of Postgres lineages deleted (or that would be, in a dry run).
    pub pg_objects: usize,
}

/// The lineages prune deletes, given the kept snapshots as (volume, time) and the store's
/// now. See the module doc for the rule.
pub fn doomed(
    all: &[Lineage],
    kept: &[(Option<String>, DateTime<Utc>)],
    now: DateTime<Utc>,
    opts: &WalPruneOptions,
) -> Vec<Id> {
    let young = |l: &Lineage| l.newest_write.is_none_or(|w| w > now - opts.grace);
    let mut groups: BTreeMap<(Option<String>, String), Vec<&Lineage>> = BTreeMap::new();
    let mut out = Vec::new();
    for l in all {
        match &l.head {
            // A Postgres lineage: its own rule (`super::pg::pg_doomed`).
            Some((_, h)) if h.postgres.is_some() => {}
            Some((_, h)) => groups
                .entry((h.volume.clone(), h.database.clone()))
                .or_default()
                .push(l),
            None if !young(l) => out.push(l.id),
            None => {}
        }
    }
    let window = now - opts.point_in_time;
    for ((volume, _), mut ls) in groups {
        ls.sort_by_key(|l| l.head.as_ref().map(|(_, h)| (h.time, h.lineage)));
        for (i, l) in ls.iter().enumerate() {
            let start = l
                .head
                .as_ref()
                .map_or(DateTime::UNIX_EPOCH, |(_, h)| h.time);
            let end = ls
                .get(i + 1)
                .and_then(|n| n.head.as_ref().map(|(_, h)| h.time));
            let newest = end.is_none();
            let holds_kept = kept
                .iter()
                .any(|(v, t)| *v == volume && *t >= start && end.is_none_or(|e| *t < e));
            let in_window = end.is_none_or(|e| e > window);
            if !(newest || holds_kept || in_window || young(l)) {
                out.push(l.id);
            }
        }
    }
    out
}

/// Deletes the `wal/` lineages no kept point needs, under an exclusive lock, judged in
/// store time. Run after `forget` (its snapshots are the kept ones) and with `prune`.
pub async fn prune_wal(repo: &Repository, opts: &WalPruneOptions) -> Result<WalPruneReport> {
    let lock = Lock::acquire(repo, true).await?;
    let result = prune_wal_locked(repo, opts, &lock).await;
    lock.release_after(result).await
}

/// [`prune_wal`] under a lock the caller holds (prune's own).
pub(crate) async fn prune_wal_locked(
    repo: &Repository,
    opts: &WalPruneOptions,
    lock: &Lock,
) -> Result<WalPruneReport> {
    let snaps = repo.snapshots().await?;
    let kept_ids: Vec<Id> = snaps.iter().map(|(id, _)| *id).collect();
    let kept: Vec<(Option<String>, DateTime<Utc>)> =
        snaps.into_iter().map(|(_, s)| (s.volume, s.time)).collect();
    let all = lineages(repo).await?;
    let gone = doomed(&all, &kept, lock.store_now(), opts);
    let pg_all = super::pg::pg_lineages(repo).await?;
    let pg_gone = super::pg::pg_doomed(&pg_all, &kept_ids, lock.store_now(), opts.grace);
    let mut report = WalPruneReport {
        kept: all.len() - gone.len(),
        deleted: gone.len(),
        objects: 0,
        pg_objects: pg_gone.len(),
    };
    if opts.dry_run {
        return Ok(report);
    }
    lock.check().await?;
    for key in &pg_gone {
        lock.ensure_live("prune of wal/")?;
        repo.store().delete_file(key).await?;
    }
    for l in all.iter().filter(|l| gone.contains(&l.id)) {
        for key in l.keys_for_delete() {
            lock.ensure_live("prune of wal/")?;
            repo.store().delete_file(&key).await?;
            report.objects += 1;
            opts.failpoints.hit(Step::WalPruneAfterDelete).await?;
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wal::{Head, Reason, SegmentRef};
    use proptest::prelude::*;

    fn t(min: i64) -> DateTime<Utc> {
        DateTime::UNIX_EPOCH + TimeDelta::minutes(min)
    }

    fn lineage(n: u8, db: &str, start: i64, written: i64, complete: bool) -> Lineage {
        let id = Id([n; 32]);
        Lineage {
            id,
            head: complete.then(|| {
                (
                    format!("wal/{id}/h-x"),
                    Head {
                        version: 1,
                        lineage: id,
                        database: db.into(),
                        volume: Some("v".into()),
                        hostname: "h".into(),
                        time: t(start),
                        page_size: 4096,
                        parts: vec![],
                        pages: 1,
                        consistent: 1,
                        reason: Reason::Start,
                        previous: None,
                        postgres: None,
                    },
                )
            }),
            base: vec![],
            segments: vec![SegmentRef {
                key: format!("wal/{id}/0-x"),
                level: 0,
                first: 1,
                last: 1,
                time: t(start + 1),
            }],
            newest_write: Some(t(written)),
        }
    }

    fn opts() -> WalPruneOptions {
        WalPruneOptions {
            point_in_time: TimeDelta::minutes(60),
            grace: TimeDelta::minutes(10),
            dry_run: false,
            failpoints: Failpoints::default(),
        }
    }

    #[test]
    fn keeps_the_newest_the_kept_snapshots_span_and_the_window() {
        let now = t(10_000);
        let all = vec![
            lineage(1, "a.db", 0, 50, true),        // old, nothing kept in it
            lineage(2, "a.db", 100, 150, true),     // holds a kept snapshot
            lineage(3, "a.db", 200, 250, true),     // old: its span ends before the window
            lineage(4, "a.db", 9_930, 9_990, true), // reaches into the window
            lineage(5, "a.db", 9_995, 9_999, true), // newest
            lineage(6, "b.db", 0, 10, true),        // newest of b.db
            lineage(7, "a.db", 0, 10, false),       // old incomplete
            lineage(8, "a.db", 0, 9_995, false),    // young incomplete
        ];
        let kept = vec![(Some("v".to_string()), t(120))];
        let mut gone = doomed(&all, &kept, now, &opts());
        gone.sort();
        assert_eq!(gone, vec![Id([1; 32]), Id([3; 32]), Id([7; 32])]);
    }

    proptest! {
        /// Prune never deletes a lineage a kept point needs: the one holding each kept
        /// snapshot's time, the newest of each database, any reaching into the window,
        /// any with a young object.
        #[test]
        fn prune_never_deletes_a_segment_a_kept_point_needs(
            specs in prop::collection::vec((0u8..3, 0i64..1000, 0i64..1000, any::<bool>()), 1..12),
            snaps in prop::collection::vec(0i64..1100, 0..6),
            now in 900i64..1200,
        ) {
            let all: Vec<Lineage> = specs
                .iter()
                .enumerate()
                .map(|(i, (db, start, age, complete))| {
                    lineage(i as u8, &format!("{db}.db"), *start, start + age / 4, *complete)
                })
                .collect();
            let kept: Vec<(Option<String>, DateTime<Utc>)> =
                snaps.iter().map(|m| (Some("v".to_string()), t(*m))).collect();
            let o = opts();
            let now = t(now);
            let gone = doomed(&all, &kept, now, &o);
            for db in 0u8..3 {
                let name = format!("{db}.db");
                let mut mine: Vec<&Lineage> = all
                    .iter()
                    .filter(|l| l.head.as_ref().is_some_and(|(_, h)| h.database == name))
                    .collect();
                mine.sort_by_key(|l| l.head.as_ref().map(|(_, h)| (h.time, h.lineage)));
                if let Some(last) = mine.last() {
                    prop_assert!(!gone.contains(&last.id), "newest of {name} deleted");
                }
                for (i, l) in mine.iter().enumerate() {
                    let start = l.head.as_ref().map(|(_, h)| h.time).unwrap_or_default();
                    let end = mine.get(i + 1).and_then(|n| n.head.as_ref().map(|(_, h)| h.time));
                    for (_, s) in &kept {
                        if *s >= start && end.is_none_or(|e| *s < e) {
                            prop_assert!(!gone.contains(&l.id), "lineage holding kept {s} deleted");
                        }
                    }
                    if end.is_none_or(|e| e > now - o.point_in_time) {
                        prop_assert!(!gone.contains(&l.id), "lineage in the window deleted");
                    }
                }
            }
            for l in &all {
                if l.newest_write.is_some_and(|w| w > now - o.grace) {
                    prop_assert!(!gone.contains(&l.id), "young lineage deleted");
                }
            }
        }
    }
}
