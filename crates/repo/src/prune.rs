//! `prune`: removes the data no snapshot references. The only operation that deletes
//! packs.
//!
//! How it works, holding the exclusive lock (so no backup is writing):
//!
//! 1. **Mark.** Load every index file and snapshot (a damaged one stops prune: what it
//!    references is unknown), walk the snapshots' trees and collect every tree and data
//!    blob they reference.
//! 2. **Plan** ([`plan`]). Give every used blob one home: the fullest pack that holds it.
//!    A pack with no used blob is deleted; one whose unused share of its bytes exceeds
//!    `max_unused` (default 5 %) is repacked; the others stay. Packs in the store that
//!    no index lists (left by an interrupted backup or prune) are deleted once older than
//!    `unindexed_grace` (default 1 hour), so packs a backup uploaded but has not indexed
//!    yet survive even if that backup's lock went stale.
//! 3. **Repack.** Copy each used blob of a repacked pack into new packs, authenticating
//!    it first; a blob envelope is bound to its blob id, not to its pack, so the encrypted
//!    bytes are copied verbatim.
//! 4. **Write the new index**: one set of index files listing every kept and new pack.
//! 5. **Delete the old index files**, then
//! 6. **delete the obsolete packs** (repacked, unused, old unindexed) last.
//!
//! Killed between any two steps, the repository stays whole: before step 4 the new packs
//! are merely unindexed; between 4 and 5 every kept blob is indexed twice (both copies
//! exist); after 5 the old packs are unindexed. The next prune deletes what is left over.

mod plan;

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::id::Id;
use crate::index::{BlobLocation, IndexFile, IndexPack};
use crate::lock::{Lock, LockOptions};
use crate::pack::{BlobType, PackWriter, TARGET_SIZE, pack_key};
use crate::repository::{IndexedRepository, Repository};
use plan::{Fate, PackPlan};

/// Packs listed per new index file.
const PACKS_PER_INDEX: usize = 5000;

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
    /// Stop after this phase, leaving the rest to the next prune.
    pub stop_after: Option<PrunePhase>,
    /// How the lock is taken.
    pub lock: LockOptions,
}

impl Default for PruneOptions {
    fn default() -> Self {
        PruneOptions {
            max_unused: 0.05,
            dry_run: false,
            unindexed_grace: chrono::TimeDelta::hours(1),
            stop_after: None,
            lock: LockOptions::default(),
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
    /// Indexed packs deleted because no snapshot uses them.
    pub packs_deleted: usize,
    /// Packs whose used blobs were moved to new packs.
    pub packs_repacked: usize,
    /// New packs written by repacking.
    pub packs_written: usize,
    /// Packs no index listed, deleted.
    pub unindexed_deleted: usize,
    /// Packs no index listed, kept because they are younger than the grace period.
    pub unindexed_kept: usize,
    /// Packs an index listed but the store lacks (dropped from the index).
    pub packs_missing: usize,
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
}

/// Removes unreferenced data (see the module doc for how and in which order).
pub async fn prune(repo: &Repository, opts: &PruneOptions) -> Result<PruneReport> {
    if !(0.0..=1.0).contains(&opts.max_unused) {
        return Err(Error::Invalid(format!(
            "max unused {} is not a fraction between 0 and 1",
            opts.max_unused
        )));
    }
    let lock = Lock::acquire_with(repo, !opts.dry_run, &opts.lock).await?;
    let result = run(repo, opts).await;
    let released = lock.release().await;
    let report = result?;
    released?;
    Ok(report)
}

struct Listed {
    size: u64,
    modified: Option<chrono::DateTime<chrono::Utc>>,
}

async fn list_sizes(repo: &Repository, prefix: &str) -> Result<HashMap<String, Listed>> {
    let opts = holdfast_store::ListOptions {
        recursive: true,
        filter: None,
    };
    let metas: Vec<holdfast_store::ObjectMeta> =
        repo.store().list(prefix, opts).try_collect().await?;
    Ok(metas
        .into_iter()
        .map(|m| {
            let l = Listed {
                size: m.size,
                modified: m.modified,
            };
            (m.key, l)
        })
        .collect())
}

async fn read_index_files(repo: &Repository, keys: &[String]) -> Result<Vec<(String, IndexFile)>> {
    futures::stream::iter(keys.iter().cloned())
        .map(|key| async move {
            let bytes = repo.read_cached(&key).await?;
            let file = match IndexFile::open(repo.keys(), &key, &bytes) {
                Ok(f) => f,
                Err(Error::Corrupt { .. }) => {
                    repo.uncache(&key);
                    IndexFile::open(repo.keys(), &key, &repo.read(&key).await?)?
                }
                Err(e) => return Err(e),
            };
            Ok((key, file))
        })
        .buffer_unordered(16)
        .try_collect()
        .await
}

async fn run(repo: &Repository, opts: &PruneOptions) -> Result<PruneReport> {
    let started = Instant::now();
    let data = list_sizes(repo, "data/").await?;
    let index_objects = list_sizes(repo, "index/").await?;
    let snapshot_bytes: u64 = list_sizes(repo, "snapshots/")
        .await?
        .values()
        .map(|l| l.size)
        .sum();
    let packs: HashMap<Id, &Listed> = data
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

    let indexed: HashSet<Id> = plan.packs.iter().map(|p| p.id).collect();
    let cutoff = chrono::Utc::now() - opts.unindexed_grace;
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
    let count = |f: Fate| plan.packs.iter().filter(|p| p.fate == f).count();
    let bytes_of = |f: Fate| {
        plan.packs
            .iter()
            .filter(|p| p.fate == f)
            .map(|p| p.size)
            .sum::<u64>()
    };
    let mut report = PruneReport {
        dry_run: opts.dry_run,
        snapshots: snapshots.len(),
        packs_before: packs.len(),
        packs_deleted: count(Fate::Delete),
        packs_repacked: count(Fate::Repack),
        unindexed_deleted: unindexed_old.len(),
        unindexed_kept: unindexed_young,
        packs_missing: count(Fate::Missing),
        blobs_used: plan.used_blobs,
        blobs_unused: plan.unused_blobs,
        size_before,
        ..PruneReport::default()
    };
    let unindexed_bytes: u64 = unindexed_old.iter().map(|(_, s)| s).sum();
    let doomed = bytes_of(Fate::Delete) + bytes_of(Fate::Repack) + unindexed_bytes;
    let rewrite_index = plan.packs.iter().any(|p| p.fate != Fate::Keep);
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
            r.packs_after -= r.packs_deleted + r.packs_repacked + r.unindexed_deleted;
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
        return Ok(finish(report, moved, new_packs, true));
    }

    let (new_packs, new_bytes) = repack(&irepo, &plan.packs).await?;
    let written = new_packs.len();
    if opts.stop_after == Some(PrunePhase::PacksWritten) {
        report.stopped_after = opts.stop_after;
        return Ok(finish(report, new_bytes, written, false));
    }

    let mut added = new_bytes;
    if rewrite_index {
        let mut listing: Vec<IndexPack> = plan
            .packs
            .iter()
            .filter(|p| p.fate == Fate::Keep)
            .map(|p| IndexPack {
                id: p.id,
                blobs: p.blobs.clone(),
            })
            .collect();
        listing.extend(new_packs);
        added += write_index(repo, listing).await?;
        if opts.stop_after == Some(PrunePhase::IndexWritten) {
            report.stopped_after = opts.stop_after;
            return Ok(finish(report, added, written, false));
        }
        delete_all(repo, old_index.iter().cloned()).await?;
        if opts.stop_after == Some(PrunePhase::OldIndexDeleted) {
            report.stopped_after = opts.stop_after;
            return Ok(finish(report, added, written, false));
        }
    }
    let obsolete = plan
        .packs
        .iter()
        .filter(|p| matches!(p.fate, Fate::Delete | Fate::Repack))
        .map(|p| p.id)
        .chain(unindexed_old.iter().map(|(id, _)| *id))
        .map(|id| pack_key(&id));
    delete_all(repo, obsolete).await?;
    Ok(finish(report, added, written, true))
}

/// Copies the used blobs of every repacked pack into new packs; returns their index
/// entries and total size.
async fn repack(repo: &IndexedRepository, packs: &[PackPlan]) -> Result<(Vec<IndexPack>, u64)> {
    let mut out = Vec::new();
    let mut bytes = 0u64;
    let mut writers = [PackWriter::default(), PackWriter::default()];
    // Up to four packs are downloaded ahead; blobs are copied in pack order. The stream
    // carries owned values only, so the future stays `Send` for any caller.
    let todo: Vec<(usize, String)> = packs
        .iter()
        .enumerate()
        .filter(|(_, p)| p.fate == Fate::Repack)
        .map(|(i, p)| (i, pack_key(&p.id)))
        .collect();
    let mut reads = futures::stream::iter(todo)
        .map(|(i, key)| {
            let repo = repo.clone();
            async move { repo.read(&key).await.map(|whole| (i, key, whole)) }
        })
        .buffered(4);
    while let Some(read) = reads.next().await {
        let (i, key, whole) = read?;
        let p = &packs[i];
        for b in &p.used {
            let end = b.offset + u64::from(b.length);
            let sealed = usize::try_from(b.offset)
                .ok()
                .zip(usize::try_from(end).ok())
                .and_then(|(s, e)| whole.get(s..e))
                .ok_or_else(|| {
                    Error::corrupt(&key, format!("blob {} lies beyond its end", b.id))
                })?;
            let loc = BlobLocation {
                pack: p.id,
                kind: b.kind,
                offset: b.offset,
                length: b.length,
                raw_length: b.raw_length,
            };
            repo.open_blob(&b.id, &loc, sealed)?;
            let w = &mut writers[usize::from(b.kind == BlobType::Tree)];
            w.add(b.id, b.kind, sealed, b.raw_length as usize);
            if w.len() >= TARGET_SIZE {
                let full = std::mem::take(w);
                bytes += store_pack(repo, full, &mut out).await?;
            }
        }
    }
    for w in writers {
        if !w.is_empty() {
            bytes += store_pack(repo, w, &mut out).await?;
        }
    }
    Ok((out, bytes))
}

async fn store_pack(repo: &Repository, w: PackWriter, out: &mut Vec<IndexPack>) -> Result<u64> {
    let p = w.finish(repo.keys())?;
    let n = p.bytes.len() as u64;
    repo.store().write(&pack_key(&p.id), p.bytes).await?;
    out.push(IndexPack {
        id: p.id,
        blobs: p.blobs,
    });
    Ok(n)
}

/// Writes index files listing `packs`; returns their total size.
async fn write_index(repo: &Repository, packs: Vec<IndexPack>) -> Result<u64> {
    let mut bytes = 0u64;
    let mut rest = packs;
    while !rest.is_empty() {
        let tail = rest.split_off(rest.len().min(PACKS_PER_INDEX));
        let file = IndexFile { packs: rest };
        let sealed = file.seal(repo.keys())?;
        bytes += sealed.len() as u64;
        let id = Id::hash(&sealed);
        repo.store()
            .write(&format!("index/{id}"), Bytes::from(sealed))
            .await?;
        rest = tail;
    }
    Ok(bytes)
}

async fn delete_all(repo: &Repository, keys: impl Iterator<Item = String>) -> Result<()> {
    let keys: Vec<String> = keys.collect();
    futures::stream::iter(keys)
        .map(|key| async move {
            repo.store().delete_file(&key).await?;
            repo.uncache(&key);
            Ok::<_, Error>(())
        })
        .buffer_unordered(8)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests;
