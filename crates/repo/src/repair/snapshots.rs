//! `repair snapshots`: rewrites every snapshot that needs data the repository no longer
//! has (a blob no index lists, a tree that cannot be read).
//!
//! Holding the exclusive lock, each snapshot's trees are walked once each (a memo by
//! tree id). A file that needs a missing blob is left out, and so is a directory whose
//! tree cannot be read; every tree above a change is written anew. The new trees go
//! into packs and an index file first; then each repaired snapshot is written as a new
//! snapshot (same time, root, volume and tags, plus the tag `repaired`, marked
//! incomplete and listing what was left out); only then, with `forget`, the original is
//! deleted. Stopped anywhere, the originals are still there. Snapshots that need nothing
//! missing are untouched. With `dry_run` (the default) nothing is written.

use std::collections::HashMap;

use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::error::Result;
use crate::id::Id;
use crate::index::IndexPack;
use crate::lock::{Lock, LockOptions};
use crate::pack::{BlobType, PackWriter, pack_key};
use crate::repository::{IndexedRepository, Repository};
use crate::snapshot::snapshot_key;
use crate::tree::{NodeType, Tree};

/// The tag a repaired snapshot gets.
pub const REPAIRED_TAG: &str = "repaired";

/// Options of [`repair_snapshots`].
#[derive(Clone, Debug)]
pub struct RepairSnapshotsOptions {
    /// Only report what would be done (the default).
    pub dry_run: bool,
    /// Delete each original once its repaired copy is written.
    pub forget: bool,
    /// How the lock is taken.
    pub lock: LockOptions,
    /// Cancelling it stops the repair.
    pub cancel: CancellationToken,
}

impl Default for RepairSnapshotsOptions {
    fn default() -> Self {
        RepairSnapshotsOptions {
            dry_run: true,
            forget: false,
            lock: LockOptions::default(),
            cancel: CancellationToken::new(),
        }
    }
}

/// One snapshot that needed repair.
#[derive(Clone, Debug, Serialize)]
pub struct RepairedSnapshot {
    /// The original.
    pub original: String,
    /// The repaired copy (none in a dry run).
    pub repaired: Option<String>,
    /// Paths left out (relative to the root; directories end in `/`), the first 100.
    pub dropped: Vec<String>,
    /// How many paths were left out.
    pub dropped_count: u64,
    /// Whether the original was deleted.
    pub forgotten: bool,
}

/// What [`repair_snapshots`] did (or would do).
#[derive(Clone, Debug, Default, Serialize)]
pub struct RepairSnapshotsReport {
    /// Nothing was changed.
    pub dry_run: bool,
    /// Snapshots checked.
    pub snapshots: usize,
    /// The ones that needed repair.
    pub repaired: Vec<RepairedSnapshot>,
}

/// Rewrites the snapshots that lost data (see the module doc).
pub async fn repair_snapshots(
    repo: &Repository,
    opts: &RepairSnapshotsOptions,
) -> Result<RepairSnapshotsReport> {
    let lock = Lock::acquire_for(repo, !opts.dry_run, &opts.lock, &opts.cancel).await?;
    let result = lock.run("repair snapshots", run(repo, opts, &lock)).await;
    lock.release_after(result).await
}

/// Paths listed per repaired snapshot (all are counted).
const MAX_LISTED: usize = 100;

/// A tree after repair: its id (new when anything beneath changed) and what was dropped
/// (the first [`MAX_LISTED`] paths, and how many in all).
#[derive(Clone)]
struct Fixed {
    id: Id,
    changed: bool,
    dropped: Vec<String>,
    count: u64,
}

/// A tree being repaired: its nodes left, those kept, the directory node waiting for
/// its subtree's repair, and what was dropped beneath it so far.
struct FixFrame {
    id: Id,
    nodes: std::vec::IntoIter<crate::tree::Node>,
    kept: Vec<crate::tree::Node>,
    waiting: Option<crate::tree::Node>,
    dropped: Vec<String>,
    count: u64,
    changed: bool,
}

impl FixFrame {
    /// Takes the directory `node` back with the repair of its subtree (`None`: it cannot
    /// be read, and the directory is dropped).
    fn take(&mut self, mut node: crate::tree::Node, below: Option<Fixed>) {
        match below {
            None => {
                self.dropped.push(format!("{}/", node.name));
                self.count += 1;
                self.changed = true;
            }
            Some(f) => {
                if f.changed {
                    node.subtree = Some(f.id);
                    self.changed = true;
                }
                self.count = self.count.saturating_add(f.count);
                self.dropped
                    .extend(f.dropped.iter().map(|p| format!("{}/{p}", node.name)));
                self.kept.push(node);
            }
        }
    }
}

struct Rewriter {
    repo: IndexedRepository,
    memo: HashMap<Id, Option<Fixed>>,
    pack: PackWriter,
    written: Vec<IndexPack>,
}

impl Rewriter {
    /// Loads tree `id` as a frame, or `None` (remembered) when it cannot be read.
    async fn open(&mut self, id: Id) -> Result<Option<FixFrame>> {
        match self.repo.load_tree(&id).await {
            Ok(t) => Ok(Some(FixFrame {
                id,
                nodes: t.nodes.into_iter(),
                kept: Vec::new(),
                waiting: None,
                dropped: Vec::new(),
                count: 0,
                changed: false,
            })),
            Err(e) if e.is_unavailable() => Err(e),
            Err(_) => {
                self.memo.insert(id, None);
                Ok(None)
            }
        }
    }

    /// The repaired form of tree `id`, or `None` when the tree cannot be read.
    /// Depth-first with an explicit stack: any depth costs heap, not call stack.
    async fn fix(&mut self, id: Id) -> Result<Option<Fixed>> {
        if let Some(f) = self.memo.get(&id) {
            return Ok(f.clone());
        }
        let Some(first) = self.open(id).await? else {
            return Ok(None);
        };
        let mut stack = vec![first];
        // The result of the subtree just finished, for the frame below it.
        let mut answer: Option<Option<Fixed>> = None;
        while let Some(frame) = stack.last_mut() {
            if frame.waiting.is_some()
                && let Some(below) = answer.take()
                && let Some(node) = frame.waiting.take()
            {
                frame.take(node, below);
                continue;
            }
            if let Some(node) = frame.nodes.next() {
                match (node.kind, node.subtree) {
                    (NodeType::File, _)
                        if node.content.iter().any(|b| !self.repo.index().contains(b)) =>
                    {
                        frame.dropped.push(node.name.clone());
                        frame.count += 1;
                        frame.changed = true;
                    }
                    (NodeType::Dir, Some(sub)) => match self.memo.get(&sub).cloned() {
                        Some(known) => frame.take(node, known),
                        None => {
                            frame.waiting = Some(node);
                            match self.open(sub).await? {
                                Some(below) => stack.push(below),
                                None => answer = Some(None),
                            }
                        }
                    },
                    _ => frame.kept.push(node),
                }
                continue;
            }
            let Some(mut done) = stack.pop() else { break };
            let mut tree = Tree {
                nodes: std::mem::take(&mut done.kept),
            };
            done.dropped.truncate(MAX_LISTED);
            let new_id = if done.changed {
                self.store_tree(&mut tree).await?
            } else {
                done.id
            };
            let fixed = Fixed {
                id: new_id,
                changed: done.changed,
                dropped: done.dropped,
                count: done.count,
            };
            self.memo.insert(done.id, Some(fixed.clone()));
            if stack.is_empty() {
                return Ok(Some(fixed));
            }
            answer = Some(Some(fixed));
        }
        Err(crate::error::Error::Internal(format!(
            "the repair of tree {id} ended without a result"
        )))
    }

    async fn store_tree(&mut self, tree: &mut Tree) -> Result<Id> {
        let bytes = tree.to_bytes()?;
        let id = self.repo.keys().blob_id(&bytes);
        if !self.repo.index().contains(&id) {
            let sealed = self.repo.keys().seal(&id.0, &bytes, 3)?;
            self.pack.add(id, BlobType::Tree, &sealed, bytes.len());
            if self.pack.len() >= crate::pack::TARGET_SIZE {
                self.flush().await?;
            }
        }
        Ok(id)
    }

    async fn flush(&mut self) -> Result<()> {
        let w = std::mem::take(&mut self.pack);
        if w.is_empty() {
            return Ok(());
        }
        let p = w.finish(self.repo.keys())?;
        self.repo.store().write(&pack_key(&p.id), p.bytes).await?;
        self.written.push(IndexPack {
            id: p.id,
            blobs: p.blobs,
        });
        Ok(())
    }
}

async fn run(
    repo: &Repository,
    opts: &RepairSnapshotsOptions,
    lock: &Lock,
) -> Result<RepairSnapshotsReport> {
    let irepo = repo.load_index().await?;
    let (snapshots, unreadable) = repo.snapshots_lenient().await?;
    for (key, e) in &unreadable {
        tracing::warn!("repair snapshots: skipping unreadable snapshot {key}: {e}");
    }
    let mut report = RepairSnapshotsReport {
        dry_run: opts.dry_run,
        snapshots: snapshots.len(),
        ..RepairSnapshotsReport::default()
    };
    let mut rw = Rewriter {
        repo: irepo,
        memo: HashMap::new(),
        pack: PackWriter::default(),
        written: Vec::new(),
    };
    let mut todo = Vec::new();
    for (id, snap) in snapshots {
        let (new_root, dropped, count) = match rw.fix(snap.tree).await? {
            Some(f) if !f.changed => continue,
            Some(f) => (Some(f.id), f.dropped, f.count),
            // The root itself is gone: nothing of the snapshot can be restored.
            None => (None, vec!["/".to_owned()], 1),
        };
        todo.push((id, snap, new_root, dropped, count));
    }
    if opts.dry_run {
        report.repaired = todo
            .into_iter()
            .map(|(id, _, _, dropped, dropped_count)| RepairedSnapshot {
                original: id.to_hex(),
                repaired: None,
                dropped,
                dropped_count,
                forgotten: false,
            })
            .collect();
        return Ok(report);
    }
    rw.flush().await?;
    if !rw.written.is_empty() {
        crate::index::store_files(repo, &std::mem::take(&mut rw.written), &[]).await?;
    }
    for (id, snap, new_root, dropped, dropped_count) in todo {
        lock.check().await?;
        let mut repaired = None;
        if let Some(root) = new_root {
            let mut copy = snap.clone();
            copy.tree = root;
            copy.parent = Some(id);
            if !copy.tags.iter().any(|t| t == REPAIRED_TAG) {
                copy.tags.push(REPAIRED_TAG.to_owned());
            }
            copy.incomplete = true;
            copy.files = copy.files.saturating_sub(dropped_count);
            copy.errors.push(format!(
                "repaired from snapshot {}: {dropped_count} path(s) left out because their data \
                 is lost",
                id.short()
            ));
            repaired = Some(repo.save_snapshot(&copy).await?.to_hex());
        }
        let forgotten = opts.forget && repaired.is_some();
        if forgotten {
            repo.store().delete_file(&snapshot_key(&id)).await?;
            repo.uncache(&snapshot_key(&id));
        }
        report.repaired.push(RepairedSnapshot {
            original: id.to_hex(),
            repaired,
            dropped,
            dropped_count,
            forgotten,
        });
    }
    Ok(report)
}
