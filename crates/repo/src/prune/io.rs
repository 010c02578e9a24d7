//! Prune's store work: listing sizes, reading index files, copying blobs into new packs,
//! writing index files and deleting objects.

use std::collections::HashMap;

use futures::{StreamExt, TryStreamExt};

use super::plan::{Fate, PackPlan};
use crate::error::{Error, Result};
use crate::index::{BlobLocation, IndexPack, MarkedIndexFile, MarkedPack};
use crate::pack::{BlobType, PackWriter, TARGET_SIZE, pack_key};
use crate::repository::{IndexedRepository, Repository};

/// One object in the store.
pub(crate) struct Listed {
    pub size: u64,
    pub modified: Option<chrono::DateTime<chrono::Utc>>,
}

/// Every object under `prefix` with its size and time.
pub(crate) async fn list_sizes(repo: &Repository, prefix: &str) -> Result<HashMap<String, Listed>> {
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

/// Reads and opens index files (checked against their names; a cached copy that fails is
/// fetched again).
pub(super) async fn read_index_files(
    repo: &Repository,
    keys: &[String],
) -> Result<Vec<(String, MarkedIndexFile)>> {
    futures::stream::iter(keys.iter().cloned())
        .map(|key| async move {
            let bytes = repo.read_cached(&key).await?;
            let file = match MarkedIndexFile::open(repo.keys(), &key, &bytes) {
                Ok(f) => f,
                Err(Error::Corrupt { .. }) => {
                    repo.uncache(&key);
                    MarkedIndexFile::open(repo.keys(), &key, &repo.read_named(&key).await?)?
                }
                Err(e) => return Err(e),
            };
            Ok((key, file))
        })
        .buffer_unordered(16)
        .try_collect()
        .await
}

/// Copies the used blobs of every repacked pack into new packs; returns their index
/// entries and total size.
pub(super) async fn repack(
    repo: &IndexedRepository,
    packs: &[PackPlan],
) -> Result<(Vec<IndexPack>, u64)> {
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
            async move { repo.read_named(&key).await.map(|whole| (i, key, whole)) }
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

/// Writes index files listing `packs` and `marked`; returns their total size.
pub(crate) async fn write_index(
    repo: &Repository,
    packs: Vec<IndexPack>,
    marked: Vec<MarkedPack>,
) -> Result<u64> {
    crate::index::store_files(repo, &packs, &marked).await
}

/// Deletes objects, eight at a time, and their cached copies.
pub(crate) async fn delete_all(repo: &Repository, keys: Vec<String>) -> Result<()> {
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

/// The blob list of each pack, read from its authenticated trailer; a pack whose trailer
/// cannot be read (damaged, or gone meanwhile) gets an empty list, with a warning.
pub(super) async fn trailers(
    repo: &Repository,
    packs: Vec<crate::id::Id>,
) -> Result<Vec<(crate::id::Id, Vec<crate::pack::PackedBlob>)>> {
    let read: Vec<_> = futures::stream::iter(packs)
        .map(|id| async move {
            let key = pack_key(&id);
            let r = match repo.read_named(&key).await {
                Ok(bytes) => crate::pack::read_trailer(repo.keys(), &key, &bytes),
                Err(e) => Err(e),
            };
            (id, key, r)
        })
        .buffer_unordered(4)
        .collect()
        .await;
    let mut out = Vec::with_capacity(read.len());
    for (id, key, r) in read {
        match r {
            Ok(blobs) => out.push((id, blobs)),
            Err(e) if e.is_unavailable() => return Err(e),
            Err(e) => {
                tracing::warn!("unindexed pack {key} is marked without its blob list: {e}");
                out.push((id, Vec::new()));
            }
        }
    }
    Ok(out)
}
