//! What a backup does with packs no index vouches for: it *adopts* the packs an
//! interrupted backup left (stored, never indexed), so a rerun sends nothing already
//! stored; and after losing its lock it *retracts* the packs a prune deleted from the
//! index files it wrote (docs/FORMAT.md, "Invariant" and "Order of writes").
//!
//! Adopting is safe because prune never deletes an unindexed pack at once: it marks it
//! first (a marked pack is indexed, so it is not adopted), and deletes it only after the
//! grace period, once no snapshot uses it. A pack in the listing that no index names is
//! therefore still there at this backup's commit, its lock being live. Only a backup
//! whose lock is the only one adopts: the unindexed packs of a backup that is still
//! running are that backup's, which may yet delete them (a backup that fails on a store
//! error, its lock live, deletes what it uploaded; one that is cancelled or loses its
//! lock leaves them). The blob list comes from the pack's trailer, authenticated with
//! the repository's key; a pack whose trailer fails is left to prune.

use std::collections::{HashMap, HashSet};

use futures::StreamExt;

use crate::crypto::AD_TRAILER;
use crate::error::{Error, Result};
use crate::id::Id;
use crate::index::IndexPack;
use crate::lock::Lock;
use crate::pack::{decode_trailer, pack_key};
use crate::repository::{IndexedRepository, Repository};

/// Trailers read at once.
const READS_IN_FLIGHT: usize = 8;

/// Reads the trailers of the stored packs no index names (`stored`: every pack in the
/// store with its size) and returns them, ready to be indexed by this backup.
pub(super) async fn adopt(
    repo: &IndexedRepository,
    lock: &Lock,
    stored: &HashMap<Id, u64>,
) -> Result<Vec<IndexPack>> {
    let orphans: Vec<(Id, u64)> = stored
        .iter()
        .filter(|(id, _)| !repo.index().has_pack(id))
        .map(|(id, size)| (*id, *size))
        .collect();
    if orphans.is_empty() {
        return Ok(Vec::new());
    }
    if repo.list("locks/").await?.iter().any(|k| k != lock.key()) {
        tracing::debug!("another client holds a lock: unindexed packs are not adopted");
        return Ok(Vec::new());
    }
    let read: Vec<_> = futures::stream::iter(orphans)
        .map(|(id, size)| async move { (id, trailer(repo, &id, size).await) })
        .buffer_unordered(READS_IN_FLIGHT)
        .collect()
        .await;
    let mut adopted = Vec::new();
    for (id, r) in read {
        match r {
            Ok(blobs) => adopted.push(IndexPack { id, blobs }),
            Err(e) if e.is_unavailable() => return Err(e),
            Err(e) => tracing::debug!("unindexed pack {id} is not adopted: {e}"),
        }
    }
    if !adopted.is_empty() {
        tracing::info!(
            "adopting {} pack(s) an interrupted backup stored: not sent again",
            adopted.len()
        );
    }
    Ok(adopted)
}

/// A pack's blob list from its trailer, read with two range reads.
async fn trailer(repo: &Repository, id: &Id, size: u64) -> Result<Vec<crate::pack::PackedBlob>> {
    let key = pack_key(id);
    if size < 4 {
        return Err(Error::corrupt(&key, "pack shorter than 4 bytes"));
    }
    let tail = repo.store().read_range(&key, size - 4..size).await?;
    let len =
        u64::from(u32::from_le_bytes(tail.as_ref().try_into().map_err(
            |_| Error::corrupt(&key, "short read of the trailer length"),
        )?));
    if len + 4 > size {
        return Err(Error::corrupt(&key, "trailer length beyond the pack"));
    }
    let start = size - 4 - len;
    let sealed = repo.store().read_range(&key, start..size - 4).await?;
    let plain = repo.keys().open(&key, AD_TRAILER, &sealed, 0)?;
    decode_trailer(&key, &plain, start)
}

/// Rewrites this backup's own index files without the packs the store no longer has
/// (deleted by the prune that took the lock), then removes the old files. Packs still
/// present stay indexed throughout: another backup may have deduplicated against them.
pub(super) async fn retract(repo: &Repository, keys: &[String]) -> Result<()> {
    let stored: HashSet<Id> = repo
        .list("data/")
        .await?
        .iter()
        .filter_map(|k| k.rsplit('/').next()?.parse::<Id>().ok())
        .collect();
    for key in keys {
        let bytes = match repo.read_named(key).await {
            Ok(b) => b,
            Err(Error::NotFound { .. }) => continue,
            Err(e) => return Err(e),
        };
        let file = crate::index::MarkedIndexFile::open(repo.keys(), key, &bytes)?;
        let total = file.packs.len();
        let present: Vec<_> = file
            .packs
            .into_iter()
            .filter(|p| stored.contains(&p.id))
            .collect();
        if present.len() == total {
            continue;
        }
        tracing::warn!(
            "index file {key} of the failed backup names {} pack(s) that are gone: \
             rewritten without them",
            total - present.len()
        );
        if !present.is_empty() {
            crate::index::store_files(repo, &present, &[]).await?;
        }
        repo.store().delete_file(key).await?;
    }
    Ok(())
}
