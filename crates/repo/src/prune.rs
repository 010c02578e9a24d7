//! `prune`: removes the data no snapshot references. The only operation that deletes
//! packs.
//!
//! **Two-phase delete.** Prune never deletes an indexed pack at once. A pack it no longer
//! needs is first *marked*: the new index lists it in its `marked` section with the time
//! (docs/FORMAT.md, "Index"). Its blobs can still be read, so a snapshot that references
//! one restores, but backups do not deduplicate against a blob that only a marked pack
//! holds ([`crate::index::Index::contains_for_dedup`]). A later prune deletes a marked pack
//! once its mark is older than `mark_grace` (default 24 hours), but first it marks again:
//! a pack holding a used blob that no unmarked pack holds — a snapshot committed after the
//! mark references it — is *rescued* (listed as normal again), never deleted. A client
//! that loaded the index before the mark and was paused past its lock (so no lock check
//! could stop it in time) thus still finds its data, unless it sleeps through the whole
//! grace period. `instant_delete` deletes at once, for users who know no other client
//! runs.
//!
//! How it works, holding the exclusive lock (so no backup is writing):
//!
//! 1. **Mark.** Load every index file and snapshot (a damaged one stops prune: what it
//!    references is unknown), walk the snapshots' trees and collect every tree and data
//!    blob they reference.
//! 2. **Plan** ([`plan`]). Give every used blob one home: the fullest unmarked pack that
//!    holds it, else the fullest marked one (which is then rescued). A pack with no used
//!    blob is obsolete; one whose unused share of its bytes exceeds `max_unused` (default
//!    5 %) is repacked; the others stay. Obsolete packs are marked, or deleted when their
//!    mark is past the grace period. Packs in the store that no index lists (left by an
//!    interrupted backup or prune) are marked (with the blobs their trailers list) once
//!    older than `unindexed_grace`, and deleted like any marked pack
//!    (default 1 hour) in store time: the pack's modification time against the store's
//!    clock read from prune's own lock ([`Lock::store_now`]), never this host's clock.
//!    A backup paused past its lock may still write an index file naming such a pack;
//!    it then names a marked pack, which no backup deduplicates against, never a
//!    deleted one. With `instant_delete` they are deleted at once.
//! 3. **Repack.** Copy each used blob of a repacked pack into new packs, authenticating
//!    it first; a blob envelope is bound to its blob id, not to its pack, so the encrypted
//!    bytes are copied verbatim. The repacked pack is then obsolete.
//! 4. **Write the new index**: one set of index files listing every kept, rescued and new
//!    pack, and the marked ones as marked.
//! 5. **Delete the old index files**, then
//! 6. **delete the packs** whose mark expired (or every obsolete one with
//!    `instant_delete`) and old unindexed ones last, then stale temp files of a file
//!    store.
//!
//! Before each delete step prune checks that its lock is still held ([`Lock::check`]),
//! and it stops as soon as the lock is lost or the caller cancels. Killed between any two
//! steps, the repository stays whole: before step 4 the new packs are merely unindexed;
//! between 4 and 5 every kept blob is indexed twice (both copies exist) and a pack marked
//! in one index file is marked for every reader; after 5 the old packs are unindexed.
//! The next prune deletes what is left over.

pub(crate) mod io;
mod plan;
pub mod text;

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::failpoint::{Failpoints, Step};
use crate::id::Id;
use crate::index::{IndexPack, MarkedPack};
use crate::lock::{Lock, LockOptions};
use crate::pack::{TARGET_SIZE, pack_key};
use crate::repository::Repository;
use crate::wal::{WalPruneOptions, WalPruneReport};
use io::{delete_all, list_sizes, read_index_files, repack, write_index};
use plan::{Fate, PackPlan};

/// A point where a prune can be told to stop (to test that an interrupted prune leaves a
/// sound repository).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PrunePhase {
    /// New packs are written, nothing else changed.
    PacksWritten,
    /// The new index is written; old index files and packs are still there.
    IndexWritten,
    /// The old index files are deleted; obsolete packs are still there.
    OldIndexDeleted,
}

/// Options of [`prune`].
#[derive(Clone, Debug)]
pub struct PruneOptions {
    /// Repack a pack when more than this fraction of its bytes is unused (default 0.05).
    pub max_unused: f64,
    /// Only report what would be done.
    pub dry_run: bool,
    /// Packs no index lists are deleted only when older than this (default 1 hour).
    pub unindexed_grace: chrono::TimeDelta,
    /// A pack marked for deletion is deleted by a prune that runs at least this long
    /// after the mark (default 24 hours).
    pub mark_grace: chrono::TimeDelta,
    /// Every point of a replicated database this far back stays restorable: `wal/`
    /// lineages reaching into it are kept (default 24 hours).
    pub point_in_time: chrono::TimeDelta,
    /// Delete unused packs at once instead of marking them (only safe when no other
    /// client uses the repository meanwhile); marked packs go too, whatever their age.
    pub instant_delete: bool,
    /// Stop after this phase, leaving the rest to the next prune.
    pub stop_after: Option<PrunePhase>,
    /// How the lock is taken.
    pub lock: LockOptions,
    /// Cancelling it stops the prune (as a lost lock does).
    pub cancel: CancellationToken,
    /// Test hooks at each step.
    pub failpoints: Failpoints,
}

impl Default for PruneOptions {
    fn default() -> Self {
        PruneOptions {
            max_unused: 0.05,
            dry_run: false,
            unindexed_grace: chrono::TimeDelta::hours(1),
            mark_grace: chrono::TimeDelta::hours(24),
            point_in_time: chrono::TimeDelta::hours(24),
            instant_delete: false,
            stop_after: None,
            lock: LockOptions::default(),
            cancel: CancellationToken::new(),
            failpoints: Failpoints::from_env(),
        }
    }
}

/// What [`prune`] did (or, in a dry run, would do).
#[derive(Clone, Debug, Default, Serialize)]
pub struct PruneReport {
    /// Nothing was changed.
    pub dry_run: bool,
    /// Snapshots whose data is kept.
    pub snapshots: usize,
    /// Packs in the store before.
    pub packs_before: usize,
    /// Packs in the store after.
    pub packs_after: usize,
    /// Unused indexed packs deleted (whose mark expired, or every one with
    /// `instant_delete`, which deletes repacked packs too).
    pub packs_deleted: usize,
    /// Packs whose used blobs were moved to new packs.
    pub packs_repacked: usize,
    /// New packs written by repacking.
    pub packs_written: usize,
    /// Packs newly marked for deletion (unused or repacked); a later prune deletes them
    /// after the grace period.
    pub packs_marked: usize,
    /// Packs an earlier prune marked that stay marked (their grace period runs).
    pub marked_waiting: usize,
    /// Marked packs listed as normal again because a snapshot needs them.
    pub packs_rescued: usize,
    /// Bytes in packs that are marked for deletion after this prune.
    pub marked_bytes: u64,
    /// Packs no index listed, deleted (with `instant_delete`).
    pub unindexed_deleted: usize,
    /// Packs no index listed, older than the grace period: marked for deletion (a later
    /// prune deletes them after the mark grace period).
    pub unindexed_marked: usize,
    /// Packs no index listed, kept because they are younger than the grace period.
    pub unindexed_kept: usize,
    /// Packs an index listed but the store lacks (dropped from the index).
    pub packs_missing: usize,
    /// Stale temp files of a file store removed.
    pub temp_files_removed: usize,
    /// Their size in bytes.
    pub temp_bytes_removed: u64,
    /// Blobs referenced by the snapshots.
    pub blobs_used: usize,
    /// Indexed blobs no snapshot references.
    pub blobs_unused: usize,
    /// Repository size (data, index and snapshot objects) before, in bytes.
    pub size_before: u64,
    /// Repository size after (estimated in a dry run), in bytes.
    pub size_after: u64,
    /// `size_before - size_after`.
    pub bytes_freed: u64,
    /// Wall time in seconds.
    pub duration_s: f64,
    /// Set when the prune stopped early on request.
    pub stopped_after: Option<PrunePhase>,
    /// What was deleted of `wal/` (replicated databases' lineages no kept point needs).
    pub wal: WalPruneReport,
}

/// Removes unreferenced data (see the module doc for how and in which order).
pub async fn prune(repo: &Repository, opts: &PruneOptions) -> Result<PruneReport> {
    if !(0.0..=1.0).contains(&opts.max_unused) {
        return Err(Error::Invalid(format!(
            "max unused {} is not a fraction between 0 and 1",
            opts.max_unused
        )));
    }
    if opts.mark_grace < chrono::TimeDelta::zero() {
        return Err(Error::Invalid("mark grace period is negative".into()));
    }
    let lock = Lock::acquire_for(repo, !opts.dry_run, &opts.lock, &opts.cancel).await?;
    let result = lock.run("prune", run(repo, opts, &lock)).await;
    lock.release_after(result).await
}

/// What happens to one indexed pack in the end.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Listed as normal (kept or rescued).
    List,
    /// Listed as marked since this time.
    Mark(chrono::DateTime<chrono::Utc>),
    /// Deleted now.
    Delete,
    /// Dropped from the index (missing from the store).
    Drop,
}

fn outcome(p: &PackPlan, opts: &PruneOptions, now: chrono::DateTime<chrono::Utc>) -> Outcome {
    match (p.fate, p.marked) {
        (Fate::Missing, _) => Outcome::Drop,
        (Fate::Keep, _) => Outcome::List,
        _ if opts.instant_delete => Outcome::Delete,
        (Fate::Delete, Some(t)) if t + opts.mark_grace <= now => Outcome::Delete,
        (Fate::Delete, Some(t)) => Outcome::Mark(t),
        (Fate::Delete | Fate::Repack, _) => Outcome::Mark(now),
    }
}

async fn run(repo: &Repository, opts: &PruneOptions, lock: &Lock) -> Result<PruneReport> {
    let started = Instant::now();
    let data = list_sizes(repo, "data/").await?;
    let index_objects = list_sizes(repo, "index/").await?;
    let snapshot_bytes: u64 = list_sizes(repo, "snapshots/")
        .await?
        .values()
        .map(|l| l.size)
        .sum();
    let packs: HashMap<Id, &io::Listed> = data
        .iter()
        .filter_map(|(k, l)| Some((k.rsplit('/').next()?.parse::<Id>().ok()?, l)))
        .collect();
    let size_before = data
        .values()
        .chain(index_objects.values())
        .map(|l| l.size)
        .sum::<u64>()
        + snapshot_bytes;
    let mut old_index: Vec<String> = index_objects.keys().cloned().collect();
    old_index.sort();
    let files = read_index_files(repo, &old_index).await?;
    let irepo = repo.load_index().await?;
    let snapshots = repo.snapshots().await?;
    let used = plan::mark(&irepo, &snapshots).await?;
    let sizes: HashMap<Id, u64> = packs.iter().map(|(id, l)| (*id, l.size)).collect();
    let plan = plan::decide(&files, &sizes, &used, opts.max_unused)?;
    // Store time (docs/FORMAT.md, "Locks"): the age of marks and of unindexed packs is
    // never judged by this host's clock.
    let now = lock.store_now();
    let outcomes: Vec<Outcome> = plan.packs.iter().map(|p| outcome(p, opts, now)).collect();

    let indexed: HashSet<Id> = plan.packs.iter().map(|p| p.id).collect();
    let cutoff = now - opts.unindexed_grace;
    let (mut unindexed_old, mut unindexed_young) = (Vec::new(), 0);
    for (id, l) in &packs {
        if indexed.contains(id) {
            continue;
        }
        match l.modified {
            Some(t) if t < cutoff => unindexed_old.push((*id, l.size)),
            _ => unindexed_young += 1,
        }
    }
    unindexed_old.sort();
    // Two-phase for unindexed packs too: a pack no index lists is marked (its blobs read
    // from its authenticated trailer), and only a later prune deletes it. A backup paused
    // past its lock may still write an index file naming it; that file then names a
    // marked pack, not a deleted one.
    let unindexed_marks: Vec<MarkedPack> = if opts.instant_delete || opts.dry_run {
        Vec::new()
    } else {
        let ids: Vec<Id> = unindexed_old.iter().map(|(id, _)| *id).collect();
        io::trailers(repo, ids)
            .await?
            .into_iter()
            .map(|(id, blobs)| MarkedPack {
                id,
                time: now,
                blobs,
            })
            .collect()
    };
    let unindexed_delete: Vec<(Id, u64)> = if opts.instant_delete {
        unindexed_old.clone()
    } else {
        Vec::new()
    };
    let with = |pred: &dyn Fn(&PackPlan, Outcome) -> bool| {
        plan.packs
            .iter()
            .zip(&outcomes)
            .filter(|(p, o)| pred(p, **o))
            .map(|(p, _)| p.size)
            .fold((0usize, 0u64), |(n, b), s| (n + 1, b + s))
    };
    let (deleted, deleted_bytes) = with(&|_, o| o == Outcome::Delete);
    let (unused_deleted, _) = with(&|p, o| o == Outcome::Delete && p.fate == Fate::Delete);
    let (newly_marked, _) =
        with(&|p, o| matches!(o, Outcome::Mark(t) if t == now) && p.fate != Fate::Keep);
    let (waiting, _) = with(&|p, o| matches!(o, Outcome::Mark(t) if Some(t) == p.marked));
    let (_, marked_bytes) = with(&|_, o| matches!(o, Outcome::Mark(_)));
    let (rescued, _) = with(&|p, _| p.rescued());
    let mut report = PruneReport {
        dry_run: opts.dry_run,
        snapshots: snapshots.len(),
        packs_before: packs.len(),
        packs_deleted: unused_deleted,
        packs_repacked: plan.packs.iter().filter(|p| p.fate == Fate::Repack).count(),
        packs_marked: newly_marked,
        marked_waiting: waiting,
        packs_rescued: rescued,
        marked_bytes,
        unindexed_deleted: unindexed_delete.len(),
        unindexed_marked: if opts.instant_delete {
            0
        } else {
            unindexed_old.len()
        },
        unindexed_kept: unindexed_young,
        packs_missing: plan
            .packs
            .iter()
            .filter(|p| p.fate == Fate::Missing)
            .count(),
        blobs_used: plan.used_blobs,
        blobs_unused: plan.unused_blobs,
        size_before,
        ..PruneReport::default()
    };
    let unindexed_bytes: u64 = unindexed_delete.iter().map(|(_, s)| s).sum();
    let doomed = deleted_bytes + unindexed_bytes;
    // The index changes unless every pack stays as it is listed now.
    let rewrite_index = plan.packs.iter().zip(&outcomes).any(|(p, o)| match o {
        Outcome::List => p.marked.is_some(),
        Outcome::Mark(t) => Some(*t) != p.marked,
        Outcome::Delete | Outcome::Drop => true,
    }) || !unindexed_marks.is_empty();
    let old_index_bytes: u64 = index_objects.values().map(|l| l.size).sum();
    // `done`: every deletion happened (or, in a dry run, would happen).
    let finish = |mut r: PruneReport, added: u64, new_packs: usize, done: bool| {
        let gone = if done {
            doomed + if rewrite_index { old_index_bytes } else { 0 }
        } else {
            0
        };
        r.size_after = size_before.saturating_sub(gone) + added;
        r.bytes_freed = size_before.saturating_sub(r.size_after);
        r.packs_written = new_packs;
        r.packs_after = packs.len() + new_packs;
        if done {
            r.packs_after -= deleted + r.unindexed_deleted;
        }
        r.duration_s = started.elapsed().as_secs_f64();
        r
    };
    if opts.dry_run {
        let moved: u64 = plan
            .packs
            .iter()
            .filter(|p| p.fate == Fate::Repack)
            .flat_map(|p| p.used.iter().map(|b| u64::from(b.length)))
            .sum();
        let new_packs = usize::try_from(moved.div_ceil(TARGET_SIZE as u64)).unwrap_or(0);
        let mut report = finish(report, moved, new_packs, true);
        report.wal = prune_wal_objects(repo, opts, lock).await?;
        return Ok(report);
    }
    opts.failpoints.hit(Step::PruneAfterMark).await?;

    let (new_packs, new_bytes) = repack(&irepo, &plan.packs).await?;
    let written = new_packs.len();
    opts.failpoints.hit(Step::PruneAfterRepack).await?;
    if opts.stop_after == Some(PrunePhase::PacksWritten) {
        report.stopped_after = opts.stop_after;
        return Ok(finish(report, new_bytes, written, false));
    }

    let mut added = new_bytes;
    if rewrite_index {
        let mut listing: Vec<IndexPack> = Vec::new();
        let mut marked: Vec<MarkedPack> = Vec::new();
        for (p, o) in plan.packs.iter().zip(&outcomes) {
            match o {
                Outcome::List => listing.push(IndexPack {
                    id: p.id,
                    blobs: p.blobs.clone(),
                }),
                Outcome::Mark(time) => marked.push(MarkedPack {
                    id: p.id,
                    time: *time,
                    blobs: p.blobs.clone(),
                }),
                Outcome::Delete | Outcome::Drop => {}
            }
        }
        marked.extend(unindexed_marks);
        listing.extend(new_packs);
        added += write_index(repo, listing, marked).await?;
        opts.failpoints.hit(Step::PruneAfterIndex).await?;
        if opts.stop_after == Some(PrunePhase::IndexWritten) {
            report.stopped_after = opts.stop_after;
            return Ok(finish(report, added, written, false));
        }
        lock.check().await?;
        delete_all(repo, old_index).await?;
        opts.failpoints.hit(Step::PruneAfterDelete).await?;
        if opts.stop_after == Some(PrunePhase::OldIndexDeleted) {
            report.stopped_after = opts.stop_after;
            return Ok(finish(report, added, written, false));
        }
    }
    let obsolete: Vec<String> = plan
        .packs
        .iter()
        .zip(&outcomes)
        .filter(|(_, o)| **o == Outcome::Delete)
        .map(|(p, _)| p.id)
        .chain(unindexed_delete.iter().map(|(id, _)| *id))
        .map(|id| pack_key(&id))
        .collect();
    if !obsolete.is_empty() {
        lock.check().await?;
        delete_all(repo, obsolete).await?;
        opts.failpoints.hit(Step::PruneAfterDelete).await?;
    }
    let mut report = finish(report, added, written, true);
    report.wal = prune_wal_objects(repo, opts, lock).await?;
    remove_temp_files(repo, opts, &mut report).await;
    Ok(report)
}

/// The `wal/` lineages no kept point needs, deleted under this prune's lock
/// ([`crate::wal::keep`]): the point-in-time window is `opts.point_in_time`, the grace
/// the unindexed packs' grace.
async fn prune_wal_objects(
    repo: &Repository,
    opts: &PruneOptions,
    lock: &Lock,
) -> Result<WalPruneReport> {
    let wal = WalPruneOptions {
        point_in_time: opts.point_in_time,
        grace: opts.unindexed_grace,
        dry_run: opts.dry_run,
        failpoints: opts.failpoints.clone(),
    };
    crate::wal::keep::prune_wal_locked(repo, &wal, lock).await
}

/// Removes a file store's temp files older than the unindexed grace period (left by
/// killed writers); a failure only warns, since the prune itself is done.
async fn remove_temp_files(repo: &Repository, opts: &PruneOptions, report: &mut PruneReport) {
    let older_than = opts.unindexed_grace.to_std().unwrap_or_default();
    match repo.store().remove_stale_temp(older_than).await {
        Ok(r) => {
            report.temp_files_removed = usize::try_from(r.deleted).unwrap_or(usize::MAX);
            report.temp_bytes_removed = r.bytes;
        }
        Err(e) => tracing::warn!("prune could not remove stale temp files: {e}"),
    }
}

#[cfg(test)]
mod tests;
