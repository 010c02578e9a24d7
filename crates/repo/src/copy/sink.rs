//! The write side of a copy: blobs in traversal order go into a data pack and a tree
//! pack, sealed with synthetic nonces ([`Keys::seal_synthetic`]), so the same blobs in
//! the same order give byte-identical packs with identical ids.
//!
//! That is what makes a copy resumable without an index of what an interrupted run
//! stored: before it uploads a pack the sink asks the store whether `data/xx/<id>` is
//! already there, and reuses a pack of the same size written within the stale window
//! ([`REUSE_WITHIN`]) instead of sending it again. An older unindexed pack may already be
//! chosen for deletion by a prune that is paused after its last lock check (prune deletes
//! unindexed packs only once older than an hour); such a pack is never reused: its
//! trailer is sealed again with a random nonce, which gives the pack a new id, and it is
//! uploaded under that name.
//!
//! Uploads run in the background, a bounded number at a time. A failed copy deletes
//! nothing: its packs are unindexed and the next run reuses them (or prune removes them).

use std::collections::HashSet;
use std::sync::Arc;

use bytes::Bytes;
use holdfast_store::ErrorKind;
use tokio::task::JoinSet;

use crate::crypto::{AD_TRAILER, Keys};
use crate::error::{Error, Result};
use crate::id::Id;
use crate::index::IndexPack;
use crate::pack::{BlobType, FinishedPack, PackWriter, TARGET_SIZE, encode_trailer, pack_key};
use crate::repository::IndexedRepository;

/// An unindexed pack found in the store is reused only when written this recently.
pub const REUSE_WITHIN: chrono::TimeDelta = chrono::TimeDelta::minutes(30);

/// Counters of what the sink stored.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct SinkStats {
    /// Packs uploaded.
    pub packs_uploaded: u64,
    /// Packs found already stored (by an interrupted run) and reused.
    pub packs_reused: u64,
    /// Bytes of packs uploaded.
    pub bytes_uploaded: u64,
    /// Blobs stored (in uploaded or reused packs).
    pub blobs: u64,
}

/// Collects blobs into packs and uploads them to the target.
pub(crate) struct Sink {
    target: IndexedRepository,
    data: PackWriter,
    tree: PackWriter,
    /// Blobs in packs of this run (sent or on their way): not sent again.
    pending: HashSet<Id>,
    uploads: JoinSet<Result<(IndexPack, u64, bool)>>,
    in_flight: usize,
    /// Packs stored since the last [`Sink::flush`].
    done: Vec<IndexPack>,
    /// Bytes of those packs.
    done_bytes: u64,
    pub(crate) stats: SinkStats,
    /// The target store's clock (from the target lock): the age of a stored pack is
    /// judged by it, never by this host's clock.
    clock: crate::clock::StoreClock,
}

impl Sink {
    pub(crate) fn new(target: IndexedRepository, clock: crate::clock::StoreClock) -> Sink {
        let in_flight = if target.store().local_root().is_some() {
            2
        } else {
            4
        };
        Sink {
            target,
            data: PackWriter::new(),
            tree: PackWriter::default(),
            pending: HashSet::new(),
            uploads: JoinSet::new(),
            in_flight,
            done: Vec::new(),
            done_bytes: 0,
            stats: SinkStats::default(),
            clock,
        }
    }

    /// The target repository (with its index).
    pub(crate) fn target(&self) -> &IndexedRepository {
        &self.target
    }

    /// True when the target holds the blob (for dedup) or this run already sent it.
    pub(crate) fn has(&self, id: &Id) -> bool {
        self.pending.contains(id) || self.target.index.contains_for_dedup(id)
    }

    /// Adds a sealed blob (made with [`Keys::seal_synthetic`]); a blob already held is
    /// ignored. Uploads the pack once it is full.
    pub(crate) async fn add(
        &mut self,
        id: Id,
        kind: BlobType,
        sealed: &[u8],
        raw: usize,
    ) -> Result<()> {
        if self.has(&id) {
            return Ok(());
        }
        self.pending.insert(id);
        self.stats.blobs += 1;
        let w = match kind {
            BlobType::Data => &mut self.data,
            BlobType::Tree => &mut self.tree,
        };
        w.add(id, kind, sealed, raw);
        if w.len() >= TARGET_SIZE {
            let fresh = match kind {
                BlobType::Data => PackWriter::new(),
                BlobType::Tree => PackWriter::default(),
            };
            let full = std::mem::replace(w, fresh);
            self.send(full).await?;
        }
        Ok(())
    }

    async fn send(&mut self, w: PackWriter) -> Result<()> {
        while self.uploads.len() >= self.in_flight {
            self.join_one().await?;
        }
        let pack = w.finish_synthetic(self.target.keys())?;
        let repo = self.target.clone();
        let clock = self.clock;
        self.uploads
            .spawn(async move { upload(&repo, pack, clock.now()).await });
        Ok(())
    }

    async fn join_one(&mut self) -> Result<()> {
        let Some(r) = self.uploads.join_next().await else {
            return Ok(());
        };
        let (pack, bytes, reused) = r.map_err(|e| Error::task("pack upload", e))??;
        if reused {
            self.stats.packs_reused += 1;
        } else {
            self.stats.packs_uploaded += 1;
            self.stats.bytes_uploaded += bytes;
        }
        self.done_bytes += bytes;
        self.done.push(pack);
        Ok(())
    }

    /// Uploads the open packs, waits for every upload, then writes one index file for
    /// the packs stored since the last flush (the target's index learns them). Returns
    /// the bytes of those packs.
    pub(crate) async fn flush(&mut self) -> Result<u64> {
        for kind in [BlobType::Data, BlobType::Tree] {
            let w = match kind {
                BlobType::Data => &mut self.data,
                BlobType::Tree => &mut self.tree,
            };
            if !w.is_empty() {
                let full = std::mem::take(w);
                self.send(full).await?;
            }
        }
        while !self.uploads.is_empty() {
            self.join_one().await?;
        }
        if self.done.is_empty() {
            return Ok(0);
        }
        let packs = std::mem::take(&mut self.done);
        crate::index::store_files(&self.target, &packs, &[]).await?;
        let index = Arc::make_mut(&mut self.target.index);
        index.reserve(packs.iter().map(|p| p.blobs.len()).sum());
        for p in &packs {
            index.add_pack(p.id, &p.blobs);
        }
        self.pending.clear();
        Ok(std::mem::take(&mut self.done_bytes))
    }

    /// Stops the uploads in flight (after a failure).
    pub(crate) fn abort(&mut self) {
        self.uploads.abort_all();
    }
}

/// Stores one pack, or reuses the identical pack an interrupted run stored recently.
/// Returns the pack's index entry, its size and whether it was reused.
async fn upload(
    repo: &IndexedRepository,
    pack: FinishedPack,
    store_now: chrono::DateTime<chrono::Utc>,
) -> Result<(IndexPack, u64, bool)> {
    let key = pack_key(&pack.id);
    let size = pack.bytes.len() as u64;
    let pack = match repo.store().stat(&key).await {
        Ok(meta) => {
            let recent = meta.modified.is_some_and(|t| store_now - t < REUSE_WITHIN);
            if meta.size == size && recent {
                tracing::debug!("pack {} is already stored: reused", pack.id);
                return Ok((
                    IndexPack {
                        id: pack.id,
                        blobs: pack.blobs,
                    },
                    size,
                    true,
                ));
            }
            reseal(repo.keys(), pack)?
        }
        Err(e) if e.kind() == ErrorKind::NotFound => pack,
        Err(e) => return Err(e.into()),
    };
    repo.store()
        .write(&pack_key(&pack.id), pack.bytes.clone())
        .await?;
    Ok((
        IndexPack {
            id: pack.id,
            blobs: pack.blobs,
        },
        pack.bytes.len() as u64,
        false,
    ))
}

/// The same pack with its trailer sealed under a random nonce: a new pack id.
pub(crate) fn reseal(keys: &Keys, pack: FinishedPack) -> Result<FinishedPack> {
    let data_len = pack
        .blobs
        .iter()
        .map(|b| b.offset + u64::from(b.length))
        .max()
        .unwrap_or(0) as usize;
    let trailer = keys.seal(AD_TRAILER, &encode_trailer(&pack.blobs), 0)?;
    let mut buf = Vec::with_capacity(data_len + trailer.len() + 4);
    buf.extend_from_slice(&pack.bytes[..data_len]);
    buf.extend_from_slice(&trailer);
    buf.extend_from_slice(&(trailer.len() as u32).to_le_bytes());
    Ok(FinishedPack {
        id: Id::hash(&buf),
        bytes: Bytes::from(buf),
        blobs: pack.blobs,
    })
}
