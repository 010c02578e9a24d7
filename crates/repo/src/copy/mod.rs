//! `copy`: copies snapshots from one repository into another that has its own password
//! and keys (docs/FORMAT.md, "Copy").
//!
//! The target has its own blob id key, so every blob is decrypted from the source,
//! hashed with the target's key and, unless the target already holds it, sealed with
//! the target's encryption key; trees are rewritten with the new ids, bottom-up. A
//! source tree or blob already mapped in this run is not read again.
//!
//! Each snapshot is its own commit, as a backup is: under a shared lock on the source
//! (no prune may delete what is being read) and a shared lock on the target, the copy
//! stores the snapshot's packs, then one index file naming them, checks its target lock
//! ([`Lock::check`]) and writes the snapshot last. A copy keeps the original's time,
//! hostname, root, volume, tags and counts, and records in `original` the id of the
//! snapshot first written by a backup; a source snapshot whose `original` (or own id)
//! some target snapshot already records is skipped, so running a copy again copies only
//! what is missing, in either direction.
//!
//! **Resuming.** Packs are built deterministically (see [`sink`]): an interrupted copy,
//! run again, builds the same packs and finds them stored, so it sends none of them
//! again; it only reads the source once more.

mod replicate;
mod sink;
pub mod text;

pub use replicate::{Lag, ReplicateOptions, ReplicateReport, lag, missing, replicate};
pub use sink::{REUSE_WITHIN, SinkStats};

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use futures::StreamExt;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::id::Id;
use crate::lock::{Lock, LockOptions};
use crate::pack::BlobType;
use crate::repository::{IndexedRepository, Repository};
use crate::snapshot::Snapshot;
use sink::Sink;

/// Source blobs read (and sealed) at the same time.
const READ_AHEAD: usize = 8;

/// Options of [`copy`].
#[derive(Clone, Debug)]
pub struct CopyOptions {
    /// Snapshots to copy (id prefix, `latest`, `latest:VOLUME`, `latest~N`…); empty:
    /// every snapshot of the source.
    pub snapshots: Vec<String>,
    /// zstd level of data blobs in the target (0 stores raw).
    pub compression: i32,
    /// Report what would be copied, write nothing.
    pub dry_run: bool,
    /// How the locks are taken and kept.
    pub lock: LockOptions,
    /// Cancelling it stops the copy; snapshots already committed stay.
    pub cancel: CancellationToken,
    /// Counts the source snapshots handled (total: those selected), for a progress bar.
    pub progress: Option<std::sync::Arc<crate::progress::Progress>>,
}

impl Default for CopyOptions {
    fn default() -> Self {
        CopyOptions {
            snapshots: Vec::new(),
            compression: 3,
            dry_run: false,
            lock: LockOptions::default(),
            cancel: CancellationToken::new(),
            progress: None,
        }
    }
}

/// One snapshot copied (or skipped).
#[derive(Clone, Debug, Serialize)]
pub struct CopiedSnapshot {
    /// Its id in the source.
    pub source: Id,
    /// Its id in the target (`None` in a dry run).
    pub target: Option<Id>,
    /// The first snapshot it copies.
    pub original: Id,
    /// Snapshot time.
    pub time: chrono::DateTime<chrono::Utc>,
    /// Volume, if any.
    pub volume: Option<String>,
    /// Root path.
    pub root: String,
    /// Bytes of the packs stored for it (uploaded or reused).
    pub added: u64,
}

/// What [`copy`] did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct CopyReport {
    /// Snapshots copied, oldest first.
    pub copied: Vec<CopiedSnapshot>,
    /// Snapshots the target already held a copy of (`target` names that copy).
    pub skipped: Vec<CopiedSnapshot>,
    /// Packs, bytes and blobs stored.
    #[serde(flatten)]
    pub stats: SinkStats,
    /// Bytes of plaintext read from the source.
    pub bytes_read: u64,
    /// True when nothing was written on purpose.
    pub dry_run: bool,
    /// Wall time in seconds.
    pub duration_s: f64,
}

/// The id a snapshot is known by across copies: its `original`, else its own id.
pub fn original_of(id: &Id, s: &Snapshot) -> Id {
    s.original.unwrap_or(*id)
}

/// Copies snapshots of `source` into `target` (both opened with their own passwords).
pub async fn copy(
    source: &Repository,
    target: &Repository,
    opts: &CopyOptions,
) -> Result<CopyReport> {
    let started = Instant::now();
    if source.config().id == target.config().id {
        return Err(Error::Invalid(
            "source and target are the same repository".into(),
        ));
    }
    let src_lock = Lock::acquire_for(source, false, &opts.lock, &opts.cancel).await?;
    let result = match Lock::acquire_for(target, false, &opts.lock, &src_lock.token()).await {
        Ok(tgt_lock) => {
            let r = under_locks(source, target, opts, &src_lock, &tgt_lock).await;
            let r = tgt_lock.release_after(r).await;
            src_lock.release_after(r).await
        }
        Err(e) => src_lock.release_after(Err(e)).await,
    };
    result.map(|mut r| {
        r.duration_s = started.elapsed().as_secs_f64();
        r
    })
}

/// The snapshots of `source` that `specs` name (all when empty), oldest first.
async fn chosen(source: &Repository, specs: &[String]) -> Result<Vec<(Id, Snapshot)>> {
    let mut list = if specs.is_empty() {
        source.snapshots().await?
    } else {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for spec in specs {
            let (id, s) = source.find_snapshot(spec).await?;
            if seen.insert(id) {
                out.push((id, s));
            }
        }
        out
    };
    list.sort_by_key(|(id, s)| (s.time, *id));
    Ok(list)
}

async fn under_locks(
    source: &Repository,
    target: &Repository,
    opts: &CopyOptions,
    src_lock: &Lock,
    tgt_lock: &Lock,
) -> Result<CopyReport> {
    let token = tgt_lock.token();
    let work = async {
        let src = source.load_index().await?;
        let mut tgt = target.load_index().await?;
        // Deduplicate only against packs the target has (docs/FORMAT.md, "Invariant").
        tgt.drop_missing_packs().await?;
        let wanted = chosen(source, &opts.snapshots).await?;
        let mut held: HashMap<Id, Id> = HashMap::new();
        for (id, s) in tgt.snapshots().await? {
            held.insert(original_of(&id, &s), id);
        }
        Ok::<_, Error>((src, tgt, wanted, held))
    };
    let (src, tgt, wanted, mut held) = tokio::select! {
        r = work => r?,
        () = token.cancelled() => return Err(tgt_lock.cancelled_error("copy")),
    };
    let mut report = CopyReport {
        dry_run: opts.dry_run,
        ..CopyReport::default()
    };
    let mut walker = Walker {
        src,
        sink: Sink::new(tgt, tgt_lock.store_clock()),
        trees: HashMap::new(),
        blobs: HashMap::new(),
        level: opts.compression,
        bytes_read: 0,
    };
    if let Some(p) = &opts.progress {
        p.set_total(wanted.len() as u64);
    }
    for (id, snap) in wanted {
        if let Some(p) = &opts.progress {
            p.add(1);
        }
        let original = original_of(&id, &snap);
        let entry = CopiedSnapshot {
            source: id,
            target: held.get(&original).copied(),
            original,
            time: snap.time,
            volume: snap.volume.clone(),
            root: snap.root.clone(),
            added: 0,
        };
        if entry.target.is_some() {
            report.skipped.push(entry);
            continue;
        }
        if opts.dry_run {
            report.copied.push(entry);
            continue;
        }
        let copied = tokio::select! {
            r = copy_one(&mut walker, tgt_lock, src_lock, &held, id, &snap) => r,
            () = token.cancelled() => Err(tgt_lock.cancelled_error("copy")),
        };
        let (new_id, added) = match copied {
            Ok(v) => v,
            Err(e) => {
                walker.sink.abort();
                return Err(e);
            }
        };
        held.insert(original, new_id);
        tracing::info!("copied snapshot {} as {}", id.short(), new_id.short());
        report.copied.push(CopiedSnapshot {
            target: Some(new_id),
            added,
            ..entry
        });
    }
    report.stats = walker.sink.stats;
    report.bytes_read = walker.bytes_read;
    Ok(report)
}

/// Copies one snapshot: data, index, then (lock checked) the snapshot.
async fn copy_one(
    walker: &mut Walker,
    tgt_lock: &Lock,
    src_lock: &Lock,
    held: &HashMap<Id, Id>,
    id: Id,
    snap: &Snapshot,
) -> Result<(Id, u64)> {
    let tree = walker.tree(snap.tree).await?;
    let added = walker.sink.flush().await?;
    src_lock.ensure_live("copy")?;
    let parent = snap.parent.and_then(|p| held.get(&p).copied());
    let copy = Snapshot {
        tree,
        parent,
        added,
        original: Some(original_of(&id, snap)),
        ..snap.clone()
    };
    // The commit, right after the lock check (docs/FORMAT.md, "Invariant").
    tgt_lock.check().await?;
    let new_id = walker.sink.target().save_snapshot(&copy).await?;
    Ok((new_id, added))
}

/// A source tree being copied: its nodes (blobs already mapped) and the next one whose
/// subtree is still to copy.
struct TreeFrame {
    id: Id,
    tree: crate::tree::Tree,
    next: usize,
}

/// Walks source trees and feeds the sink.
struct Walker {
    src: IndexedRepository,
    sink: Sink,
    /// Source tree id → target tree id, for trees copied in this run.
    trees: HashMap<Id, Id>,
    /// Source blob id → target blob id, for data blobs read in this run.
    blobs: HashMap<Id, Id>,
    level: i32,
    bytes_read: u64,
}

impl Walker {
    /// The target id of source tree `id` when this run copied it and the target has it.
    fn copied(&self, id: &Id) -> Option<Id> {
        self.trees.get(id).filter(|t| self.sink.has(t)).copied()
    }

    /// Loads source tree `id` and maps its files' blobs into the target.
    async fn open(&mut self, id: Id) -> Result<TreeFrame> {
        let mut tree = self.src.load_tree(&id).await?;
        self.map_contents(&tree).await?;
        for node in &mut tree.nodes {
            for c in &mut node.content {
                *c = *self.blobs.get(&*c).ok_or_else(|| {
                    Error::Internal(format!("blob {c} of tree {id} was not mapped"))
                })?;
            }
        }
        Ok(TreeFrame { id, tree, next: 0 })
    }

    /// Copies the tree `id` and everything below it; returns its id in the target.
    /// Depth-first with an explicit stack (any depth costs heap, not call stack): a
    /// tree's blobs are mapped when it is reached, the tree itself is stored once every
    /// subtree below it is.
    async fn tree(&mut self, id: Id) -> Result<Id> {
        if let Some(t) = self.copied(&id) {
            return Ok(t);
        }
        let first = self.open(id).await?;
        let mut stack = vec![first];
        while let Some(frame) = stack.last_mut() {
            if let Some(node) = frame.tree.nodes.get_mut(frame.next) {
                match node.subtree {
                    Some(sub) => match self.copied(&sub) {
                        Some(t) => {
                            node.subtree = Some(t);
                            frame.next += 1;
                        }
                        None => {
                            let below = self.open(sub).await?;
                            stack.push(below);
                        }
                    },
                    None => frame.next += 1,
                }
                continue;
            }
            let Some(mut done) = stack.pop() else { break };
            let bytes = done.tree.to_bytes()?;
            let keys = self.sink.target().clone();
            let tid = keys.keys().blob_id(&bytes);
            if !self.sink.has(&tid) {
                let sealed = keys.keys().seal_synthetic(&tid.0, &bytes, 3)?;
                self.sink
                    .add(tid, BlobType::Tree, &sealed, bytes.len())
                    .await?;
            }
            self.trees.insert(done.id, tid);
            match stack.last_mut() {
                Some(parent) => {
                    if let Some(node) = parent.tree.nodes.get_mut(parent.next) {
                        node.subtree = Some(tid);
                    }
                    parent.next += 1;
                }
                None => return Ok(tid),
            }
        }
        Err(Error::Internal(format!(
            "the copy of tree {id} ended without a result"
        )))
    }

    /// Reads, re-hashes and seals every data blob of the files of `tree` that is not
    /// mapped yet, several at a time, adding them to the sink in order.
    async fn map_contents(&mut self, tree: &crate::tree::Tree) -> Result<()> {
        let mut todo = Vec::new();
        let mut queued = HashSet::new();
        for node in &tree.nodes {
            for c in &node.content {
                if !self.blobs.contains_key(c) && queued.insert(*c) {
                    todo.push(*c);
                }
            }
        }
        let (src, tgt, level) = (self.src.clone(), self.sink.target().clone(), self.level);
        let mut results = futures::stream::iter(todo)
            .map(|sid| {
                let (src, tgt) = (src.clone(), tgt.clone());
                async move {
                    let plain = src.read_blob(&sid).await?;
                    tokio::task::spawn_blocking(move || {
                        let tid = tgt.keys().blob_id(&plain);
                        let sealed = if tgt.index.contains_for_dedup(&tid) {
                            None
                        } else {
                            Some(tgt.keys().seal_synthetic(&tid.0, &plain, level)?)
                        };
                        Ok::<_, Error>((sid, tid, sealed, plain.len()))
                    })
                    .await
                    .map_err(|e| Error::task("sealing a blob", e))?
                }
            })
            .buffered(READ_AHEAD);
        while let Some(r) = results.next().await {
            let (sid, tid, sealed, raw) = r?;
            self.bytes_read += raw as u64;
            if let Some(sealed) = sealed {
                self.sink.add(tid, BlobType::Data, &sealed, raw).await?;
            }
            self.blobs.insert(sid, tid);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
