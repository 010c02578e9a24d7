//! The index: which pack holds each blob. Index files (docs/FORMAT.md, "Index") are
//! parsed and merged into one in-memory map.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::crypto::{AD_INDEX, Keys};
use crate::error::{Error, Result};
use crate::id::Id;
use crate::pack::{BlobType, PackedBlob};

/// The stored form of an index file.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct IndexFile {
    /// Packs and their blobs.
    pub packs: Vec<IndexPack>,
}

/// One pack in an index file.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct IndexPack {
    /// Pack id.
    pub id: Id,
    /// The blobs in it.
    pub blobs: Vec<PackedBlob>,
}

impl IndexFile {
    /// Encrypts the index file for storing.
    pub fn seal(&self, keys: &Keys) -> Result<Vec<u8>> {
        let json = serde_json::to_vec(self).map_err(|e| Error::Invalid(e.to_string()))?;
        keys.seal(AD_INDEX, &json, 3)
    }

    /// Decrypts and parses a stored index file.
    pub fn open(keys: &Keys, object: &str, bytes: &[u8]) -> Result<IndexFile> {
        let json = keys.open(object, AD_INDEX, bytes, 0)?;
        serde_json::from_slice(&json).map_err(|e| Error::corrupt(object, e))
    }
}

/// Where a blob is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlobLocation {
    /// The pack holding it.
    pub pack: Id,
    /// Data or tree.
    pub kind: BlobType,
    /// Envelope offset in the pack.
    pub offset: u64,
    /// Envelope length.
    pub length: u32,
    /// Plaintext length.
    pub raw_length: u32,
}

/// All index files merged: blob id → location.
#[derive(Clone, Default, Debug)]
pub struct Index {
    blobs: HashMap<Id, BlobLocation>,
    packs: HashSet<Id>,
}

impl Index {
    /// Adds every pack of an index file.
    pub fn add_file(&mut self, file: &IndexFile) {
        for p in &file.packs {
            self.add_pack(p.id, &p.blobs);
        }
    }

    /// Adds one pack's blobs.
    pub fn add_pack(&mut self, pack: Id, blobs: &[PackedBlob]) {
        self.packs.insert(pack);
        for b in blobs {
            self.blobs.entry(b.id).or_insert(BlobLocation {
                pack,
                kind: b.kind,
                offset: b.offset,
                length: b.length,
                raw_length: b.raw_length,
            });
        }
    }

    /// The location of a blob.
    pub fn get(&self, id: &Id) -> Option<&BlobLocation> {
        self.blobs.get(id)
    }

    /// True when the blob is stored.
    pub fn contains(&self, id: &Id) -> bool {
        self.blobs.contains_key(id)
    }

    /// Number of blobs.
    pub fn len(&self) -> usize {
        self.blobs.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.blobs.is_empty()
    }

    /// Every indexed pack.
    pub fn packs(&self) -> impl Iterator<Item = &Id> {
        self.packs.iter()
    }

    /// Every blob and its location.
    pub fn blobs(&self) -> impl Iterator<Item = (&Id, &BlobLocation)> {
        self.blobs.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::MasterKey;

    #[test]
    fn index_file_round_trip() -> Result<()> {
        let keys = Keys::derive(&MasterKey::generate()?);
        let blob = PackedBlob {
            id: Id::hash(b"b"),
            kind: BlobType::Tree,
            offset: 0,
            length: 50,
            raw_length: 9,
        };
        let f = IndexFile {
            packs: vec![IndexPack {
                id: Id::hash(b"p"),
                blobs: vec![blob],
            }],
        };
        let sealed = f.seal(&keys)?;
        let back = IndexFile::open(&keys, "index/x", &sealed)?;
        let mut idx = Index::default();
        idx.add_file(&back);
        let loc = idx.get(&Id::hash(b"b")).copied();
        assert_eq!(
            loc.map(|l| (l.pack, l.kind, l.length)),
            Some((Id::hash(b"p"), BlobType::Tree, 50))
        );
        assert!(matches!(
            IndexFile::open(
                &keys,
                "index/x",
                b"garbage garbage garbage garbage garbage garbage"
            ),
            Err(Error::Corrupt { .. })
        ));
        Ok(())
    }
}
