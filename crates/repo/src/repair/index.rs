//! `repair index`: rebuilds the index from what the store holds.
//!
//! The index is derived data: every pack carries its own encrypted trailer listing its
//! blobs (docs/FORMAT.md, "Packs"). Holding the exclusive lock, repair reads every index
//! file; a sound one (authenticated, and its content matches its name) keeps its entries
//! for the packs that exist, while a damaged one is dropped. Every pack no sound index
//! file lists is downloaded, checked against its name and its trailer read. Then, only if
//! anything changed, new index files listing every readable pack (and the marks of
//! prune's two-phase delete that still apply) are written, and only after them the old
//! index files are deleted — stopped in between, the repository merely has duplicate
//! index entries. A pack that fails its check is reported and left alone.
//!
//! With `dry_run` (the default) nothing is written: the report says what would be done.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use futures::StreamExt;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::error::Result;
use crate::id::Id;
use crate::index::{IndexPack, MarkedIndexFile, MarkedPack};
use crate::lock::{Lock, LockOptions};
use crate::pack::{pack_key, read_trailer};
use crate::prune::io::{delete_all, list_sizes, write_index};
use crate::repository::Repository;

/// Options of [`repair_index`].
#[derive(Clone, Debug)]
pub struct RepairIndexOptions {
    /// Only report what would be done (the default).
    pub dry_run: bool,
    /// How the lock is taken.
    pub lock: LockOptions,
    /// Cancelling it stops the repair.
    pub cancel: CancellationToken,
}

impl Default for RepairIndexOptions {
    fn default() -> Self {
        RepairIndexOptions {
            dry_run: true,
            lock: LockOptions::default(),
            cancel: CancellationToken::new(),
        }
    }
}

/// An object repair could not use, and why.
#[derive(Clone, Debug, Serialize)]
pub struct Unusable {
    /// The object key.
    pub object: String,
    /// What is wrong with it.
    pub error: String,
}

/// What [`repair_index`] did (or, in a dry run, would do).
#[derive(Clone, Debug, Default, Serialize)]
pub struct RepairIndexReport {
    /// Nothing was changed.
    pub dry_run: bool,
    /// Packs in the store.
    pub packs: usize,
    /// Packs no sound index file listed, whose trailers were read.
    pub packs_read: usize,
    /// Packs indexed again from their trailers.
    pub packs_recovered: usize,
    /// Packs that failed their name or trailer check (not indexed).
    pub packs_damaged: Vec<Unusable>,
    /// Packs the new index lists.
    pub packs_indexed: usize,
    /// Blobs the new index lists.
    pub blobs: usize,
    /// Index files before.
    pub index_files: usize,
    /// Index files that could not be read (dropped).
    pub index_damaged: Vec<Unusable>,
    /// Index entries for packs the store lacks (dropped).
    pub entries_missing: usize,
    /// Whether the index is (or would be) rewritten.
    pub rewritten: bool,
    /// Wall time in seconds.
    pub duration_s: f64,
}

/// Rebuilds the index (see the module doc).
pub async fn repair_index(
    repo: &Repository,
    opts: &RepairIndexOptions,
) -> Result<RepairIndexReport> {
    let lock = Lock::acquire_for(repo, !opts.dry_run, &opts.lock, &opts.cancel).await?;
    let result = lock.run("repair index", run(repo, opts, &lock)).await;
    lock.release_after(result).await
}

async fn run(
    repo: &Repository,
    opts: &RepairIndexOptions,
    lock: &Lock,
) -> Result<RepairIndexReport> {
    let started = Instant::now();
    let stored: HashSet<Id> = list_sizes(repo, "data/")
        .await?
        .keys()
        .filter_map(|k| k.rsplit('/').next()?.parse::<Id>().ok())
        .collect();
    let old_index = repo.list("index/").await?;
    let mut report = RepairIndexReport {
        dry_run: opts.dry_run,
        packs: stored.len(),
        index_files: old_index.len(),
        ..RepairIndexReport::default()
    };
    let mut packs: HashMap<Id, IndexPack> = HashMap::new();
    let mut marked: HashMap<Id, MarkedPack> = HashMap::new();
    let files: Vec<(String, Result<MarkedIndexFile>)> = futures::stream::iter(old_index.clone())
        .map(|key| async move {
            let r = async {
                let bytes = repo.read_named(&key).await?;
                MarkedIndexFile::open(repo.keys(), &key, &bytes)
            }
            .await;
            (key, r)
        })
        .buffer_unordered(16)
        .collect()
        .await;
    for (key, file) in files {
        match file {
            Ok(f) => {
                for p in f.packs {
                    if stored.contains(&p.id) {
                        packs.insert(p.id, p);
                    } else {
                        report.entries_missing += 1;
                    }
                }
                for m in f.marked {
                    if stored.contains(&m.id) {
                        marked.insert(m.id, m);
                    } else {
                        report.entries_missing += 1;
                    }
                }
            }
            Err(e) if e.is_unavailable() => return Err(e),
            Err(e) => report.index_damaged.push(Unusable {
                object: key,
                error: e.to_string(),
            }),
        }
    }
    // A pack listed as kept somewhere is not marked.
    marked.retain(|id, _| !packs.contains_key(id));
    let mut unlisted: Vec<Id> = stored
        .iter()
        .filter(|id| !packs.contains_key(id) && !marked.contains_key(id))
        .copied()
        .collect();
    unlisted.sort();
    report.packs_read = unlisted.len();
    let read: Vec<(Id, Result<IndexPack>)> = futures::stream::iter(unlisted)
        .map(|id| async move {
            let key = pack_key(&id);
            let r = async {
                let bytes = repo.read_named(&key).await?;
                let blobs = read_trailer(repo.keys(), &key, &bytes)?;
                Ok(IndexPack { id, blobs })
            }
            .await;
            (id, r)
        })
        .buffer_unordered(4)
        .collect()
        .await;
    for (id, r) in read {
        match r {
            Ok(p) => {
                report.packs_recovered += 1;
                packs.insert(id, p);
            }
            Err(e) if e.is_unavailable() => return Err(e),
            Err(e) => report.packs_damaged.push(Unusable {
                object: pack_key(&id),
                error: e.to_string(),
            }),
        }
    }
    report.packs_indexed = packs.len() + marked.len();
    let mut blobs: HashSet<Id> = HashSet::new();
    for p in packs.values() {
        blobs.extend(p.blobs.iter().map(|b| b.id));
    }
    for m in marked.values() {
        blobs.extend(m.blobs.iter().map(|b| b.id));
    }
    report.blobs = blobs.len();
    report.rewritten = report.packs_recovered > 0
        || !report.index_damaged.is_empty()
        || report.entries_missing > 0;
    report.packs_damaged.sort_by(|a, b| a.object.cmp(&b.object));
    report.index_damaged.sort_by(|a, b| a.object.cmp(&b.object));
    if opts.dry_run || !report.rewritten {
        report.duration_s = started.elapsed().as_secs_f64();
        return Ok(report);
    }
    let mut listing: Vec<IndexPack> = packs.into_values().collect();
    listing.sort_by_key(|p| p.id);
    let mut marks: Vec<MarkedPack> = marked.into_values().collect();
    marks.sort_by_key(|m| m.id);
    lock.check().await?;
    write_index(repo, listing, marks).await?;
    // The new index files are in (their random nonces give them new names); the old
    // ones, sound or damaged, go.
    lock.check().await?;
    delete_all(repo, old_index).await?;
    report.duration_s = started.elapsed().as_secs_f64();
    Ok(report)
}

/// What [`index_for_reading`] found besides the sound index files.
#[derive(Clone, Debug, Default, Serialize)]
pub struct IndexRecovery {
    /// Index files that could not be read (their entries came from pack trailers).
    pub index_damaged: Vec<Unusable>,
    /// Packs no readable index file lists, whose trailers were read.
    pub packs_read: usize,
    /// Packs whose trailers were read and whose blobs were added.
    pub packs_recovered: usize,
    /// Packs that failed their name or trailer check (left out).
    pub packs_damaged: Vec<Unusable>,
}

impl IndexRecovery {
    /// True when the index files alone listed every pack and all of them were sound.
    pub fn is_clean(&self) -> bool {
        self.index_damaged.is_empty() && self.packs_read == 0
    }
}

/// Loads the index for reading (restore): every readable index file, plus, for the
/// packs no readable index file lists (an index file that is damaged or missing, or a
/// backup still writing), the blobs their own trailers list — so a damaged index costs a
/// restore nothing that the packs still hold. Nothing is written and no lock is taken;
/// [`repair_index`] makes the rebuilt index permanent. Only a store that is unavailable
/// fails it.
pub async fn index_for_reading(
    repo: &Repository,
) -> Result<(crate::repository::IndexedRepository, IndexRecovery)> {
    let (mut indexed, bad) = repo.load_index_lenient().await?;
    let mut recovery = IndexRecovery {
        index_damaged: bad
            .into_iter()
            .map(|(object, e)| Unusable {
                object,
                error: e.to_string(),
            })
            .collect(),
        ..IndexRecovery::default()
    };
    let listed: HashSet<Id> = indexed.index().packs().copied().collect();
    let mut unlisted: Vec<Id> = list_sizes(repo, "data/")
        .await?
        .keys()
        .filter_map(|k| k.rsplit('/').next()?.parse::<Id>().ok())
        .filter(|id| !listed.contains(id))
        .collect();
    if unlisted.is_empty() {
        return Ok((indexed, recovery));
    }
    unlisted.sort();
    recovery.packs_read = unlisted.len();
    let read: Vec<(Id, Result<Vec<crate::pack::PackedBlob>>)> = futures::stream::iter(unlisted)
        .map(|id| async move {
            let key = pack_key(&id);
            let r = async {
                let bytes = repo.read_named(&key).await?;
                read_trailer(repo.keys(), &key, &bytes)
            }
            .await;
            (id, r)
        })
        .buffer_unordered(4)
        .collect()
        .await;
    let mut index = indexed.index().clone();
    for (id, r) in read {
        match r {
            Ok(blobs) => {
                recovery.packs_recovered += 1;
                index.add_pack(id, &blobs);
            }
            Err(e) if e.is_unavailable() => return Err(e),
            // Deleted by a prune since the listing: nothing to recover.
            Err(crate::error::Error::NotFound { .. }) => {}
            Err(e) => recovery.packs_damaged.push(Unusable {
                object: pack_key(&id),
                error: e.to_string(),
            }),
        }
    }
    indexed.index = std::sync::Arc::new(index);
    Ok((indexed, recovery))
}
