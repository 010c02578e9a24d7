//! An opened repository with its index loaded ([`IndexedRepository`]): it locates blobs,
//! reads them from the store or the cached tree packs, authenticates and decompresses
//! them, and parses trees. A blob that fails authentication is read again up to
//! [`REREADS`] times before it counts as damaged (see the parent module).

use std::ops::Deref;
use std::sync::Arc;

use bytes::Bytes;

use super::{REREADS, Repository, store_err};
use crate::error::{Error, Result};
use crate::id::Id;
use crate::index::{BlobLocation, Index};
use crate::pack::pack_key;
use crate::tree::Tree;

/// A repository with its index loaded: can read blobs and trees, and back up.
#[derive(Clone)]
pub struct IndexedRepository {
    pub(crate) repo: Repository,
    pub(crate) index: Arc<Index>,
}

impl Deref for IndexedRepository {
    type Target = Repository;
    fn deref(&self) -> &Repository {
        &self.repo
    }
}

impl IndexedRepository {
    /// The repository with an empty index, for a caller that only hands it to
    /// [`crate::restore()`] or [`crate::backup()`]: they load the index under their lock.
    /// Nothing can be located through it until then.
    pub fn without_index(repo: Repository) -> IndexedRepository {
        IndexedRepository {
            repo,
            index: Arc::default(),
        }
    }

    /// The loaded index.
    pub fn index(&self) -> &Index {
        &self.index
    }

    /// Drops the loaded index to free its memory (over 100 MB at a million blobs):
    /// [`crate::restore()`] and [`crate::backup()`] load their own under their lock, so a
    /// caller that loaded one to look around need not hold it beside theirs. Nothing
    /// can be located until an index is loaded again.
    pub fn drop_index(&mut self) {
        self.index = Arc::default();
    }

    /// Lists `data/` once and forgets the index entries of packs the store lacks
    /// (docs/FORMAT.md, "Invariant": no index entry is trusted for deduplication unless
    /// its pack exists). Called under a lock that keeps prune out, so every pack left in
    /// the index stays until the lock is released. Returns every stored pack with its
    /// size.
    pub async fn drop_missing_packs(&mut self) -> Result<std::collections::HashMap<Id, u64>> {
        let opts = holdfast_store::ListOptions {
            recursive: true,
            filter: None,
        };
        let metas: Vec<holdfast_store::ObjectMeta> =
            futures::TryStreamExt::try_collect(self.repo.store().list("data/", opts))
                .await
                .map_err(Error::from)?;
        let stored: std::collections::HashMap<Id, u64> = metas
            .into_iter()
            .filter_map(|m| Some((m.key.rsplit('/').next()?.parse::<Id>().ok()?, m.size)))
            .collect();
        let missing = Arc::make_mut(&mut self.index).drop_missing_packs(|p| stored.contains_key(p));
        if let Some(first) = missing.first() {
            tracing::warn!(
                "the index names {} pack(s) missing from the store ({} first): nothing is \
                 deduplicated against them; `holdfast repair index` removes their entries",
                missing.len(),
                pack_key(first)
            );
        }
        Ok(stored)
    }

    /// The location of a blob, or [`Error::NotFound`].
    pub fn locate(&self, id: &Id) -> Result<BlobLocation> {
        self.index
            .get(id)
            .ok_or_else(|| Error::not_found(format!("blob {id} (not in the index)")))
    }

    /// Decrypts a blob envelope read from the store and checks its id.
    pub(crate) fn open_blob(&self, id: &Id, loc: &BlobLocation, sealed: &[u8]) -> Result<Vec<u8>> {
        let what = format!("blob {id} in pack {}", loc.pack);
        let plain = self
            .keys()
            .open(&what, &id.0, sealed, loc.raw_length as usize)?;
        if self.keys().blob_id(&plain) != *id {
            return Err(Error::corrupt(&what, "content does not match its id"));
        }
        Ok(plain)
    }

    /// Reads, authenticates and decompresses one blob.
    pub async fn read_blob(&self, id: &Id) -> Result<Vec<u8>> {
        let loc = self.locate(id)?;
        let key = pack_key(&loc.pack);
        let range = loc.offset..loc.offset + u64::from(loc.length);
        let sealed = match (&self.inner.cache, loc.kind) {
            (Some(c), crate::pack::BlobType::Tree) => {
                if let Some(b) = c.get_range(&key, range.clone())
                    && b.len() == loc.length as usize
                    && let Ok(plain) = self.open_blob(id, &loc, &b)
                {
                    return Ok(plain);
                }
                c.remove(&key);
                self.read_tree_pack(&key, range).await?
            }
            _ => self
                .inner
                .store
                .read_range(&key, range)
                .await
                .map_err(|e| store_err(e, &key))?,
        };
        if sealed.len() != loc.length as usize {
            return Err(Error::corrupt(
                &key,
                format!("blob {id} cut short (pack truncated?)"),
            ));
        }
        match self.open_blob(id, &loc, &sealed) {
            Ok(plain) => Ok(plain),
            Err(first) => {
                self.uncache(&key);
                // Read again before it counts as damaged: a byte changed on the way is
                // not damage of the stored pack.
                for _ in 0..REREADS {
                    let again = self
                        .inner
                        .store
                        .read_range(&key, loc.offset..loc.offset + u64::from(loc.length))
                        .await
                        .map_err(|e| store_err(e, &key))?;
                    if let Ok(plain) = self.open_blob(id, &loc, &again) {
                        return Ok(plain);
                    }
                }
                Err(first)
            }
        }
    }

    async fn read_tree_pack(&self, key: &str, range: std::ops::Range<u64>) -> Result<Bytes> {
        let pack = self.read_cached(key).await?;
        let (s, e) = (range.start as usize, range.end as usize);
        if e > pack.len() {
            return Err(Error::corrupt(
                key,
                "pack shorter than its index says (truncated?)",
            ));
        }
        Ok(pack.slice(s..e))
    }

    /// Reads and parses a tree blob.
    pub async fn load_tree(&self, id: &Id) -> Result<Tree> {
        let bytes = self.read_blob(id).await?;
        Tree::parse(&format!("tree {id}"), &bytes)
    }
}
