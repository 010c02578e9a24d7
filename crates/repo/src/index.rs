//! The index: which pack holds each blob. Index files (docs/FORMAT.md, "Index") are
//! parsed and merged into one in-memory map.
//!
//! An index file also lists the packs a prune has *marked* for deletion (the first phase
//! of its two-phase delete, see [`crate::prune`]). A marked pack still exists and its
//! blobs can be read ([`Index::get`]), so a snapshot that references one restores, but a
//! backup never deduplicates against a blob that only a marked pack holds
//! ([`Index::contains_for_dedup`]): the next prune may delete that pack.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::crypto::{AD_INDEX, Keys};
use crate::error::{Error, Result};
use crate::id::Id;
use crate::pack::{BlobType, PackedBlob};

/// The stored form of an index file written by a backup: packs and their blobs.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct IndexFile {
    /// Packs and their blobs.
    pub packs: Vec<IndexPack>,
}

/// An index file with its marks: the full stored form (a backup's index file is one
/// without marks). Readers of the index use [`MarkedIndexFile::open`].
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct MarkedIndexFile {
    /// Packs and their blobs.
    pub packs: Vec<IndexPack>,
    /// Packs a prune marked for deletion (absent in index files written before marks).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub marked: Vec<MarkedPack>,
}

/// A pack marked for deletion: it exists until a later prune, run after the grace
/// period, finds no snapshot that needs it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MarkedPack {
    /// Pack id.
    pub id: Id,
    /// When it was marked.
    pub time: chrono::DateTime<chrono::Utc>,
    /// The blobs in it.
    pub blobs: Vec<PackedBlob>,
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
        let json = serde_json::to_vec(self).map_err(|e| Error::Internal(e.to_string()))?;
        keys.seal(AD_INDEX, &json, 3)
    }

    /// Decrypts and parses a stored index file, leaving out its marked packs (use
    /// [`MarkedIndexFile::open`] to load an index).
    pub fn open(keys: &Keys, object: &str, bytes: &[u8]) -> Result<IndexFile> {
        MarkedIndexFile::open(keys, object, bytes).map(|f| IndexFile { packs: f.packs })
    }
}

impl MarkedIndexFile {
    /// Encrypts the index file for storing.
    pub fn seal(&self, keys: &Keys) -> Result<Vec<u8>> {
        let json = serde_json::to_vec(self).map_err(|e| Error::Invalid(e.to_string()))?;
        keys.seal(AD_INDEX, &json, 3)
    }

    /// Decrypts and parses a stored index file, with or without marks.
    pub fn open(keys: &Keys, object: &str, bytes: &[u8]) -> Result<MarkedIndexFile> {
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
    /// Packs some index file lists as marked (a mark anywhere wins).
    marked: HashSet<Id>,
}

impl Index {
    /// Adds every pack of an index file.
    pub fn add_file(&mut self, file: &IndexFile) {
        for p in &file.packs {
            self.insert(p.id, &p.blobs);
        }
    }

    /// Adds every pack of an index file, the marked ones as marked.
    pub fn add_marked_file(&mut self, file: &MarkedIndexFile) {
        for p in &file.marked {
            self.marked.insert(p.id);
            self.insert(p.id, &p.blobs);
        }
        for p in &file.packs {
            self.insert(p.id, &p.blobs);
        }
    }

    /// Adds one (unmarked) pack's blobs.
    pub fn add_pack(&mut self, pack: Id, blobs: &[PackedBlob]) {
        self.insert(pack, blobs);
    }

    fn insert(&mut self, pack: Id, blobs: &[PackedBlob]) {
        self.packs.insert(pack);
        let marked = self.marked.contains(&pack);
        for b in blobs {
            let loc = BlobLocation {
                pack,
                kind: b.kind,
                offset: b.offset,
                length: b.length,
                raw_length: b.raw_length,
            };
            match self.blobs.get_mut(&b.id) {
                None => {
                    self.blobs.insert(b.id, loc);
                }
                // A copy in a pack that is not marked is preferred.
                Some(old) if !marked && self.marked.contains(&old.pack) => *old = loc,
                Some(_) => {}
            }
        }
    }

    /// The location of a blob (in a marked pack when no other pack holds it): for
    /// reading.
    pub fn get(&self, id: &Id) -> Option<&BlobLocation> {
        self.blobs.get(id)
    }

    /// True when the blob is stored (in any pack, marked or not).
    pub fn contains(&self, id: &Id) -> bool {
        self.blobs.contains_key(id)
    }

    /// The location of a blob a backup may deduplicate against: `None` when no pack
    /// but a marked one holds it, since a later prune may delete that pack.
    pub fn get_for_dedup(&self, id: &Id) -> Option<&BlobLocation> {
        self.blobs
            .get(id)
            .filter(|loc| !self.marked.contains(&loc.pack))
    }

    /// True when a backup may deduplicate against the blob (see
    /// [`Index::get_for_dedup`]).
    pub fn contains_for_dedup(&self, id: &Id) -> bool {
        self.get_for_dedup(id).is_some()
    }

    /// True when some index file lists `pack` as marked for deletion.
    pub fn is_marked(&self, pack: &Id) -> bool {
        self.marked.contains(pack)
    }

    /// Number of blobs.
    pub fn len(&self) -> usize {
        self.blobs.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.blobs.is_empty()
    }

    /// Every indexed pack, marked or not.
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

    fn one_blob(pack: &[u8]) -> Vec<PackedBlob> {
        vec![PackedBlob {
            id: Id::hash(b"b"),
            kind: BlobType::Data,
            offset: u64::from(pack[0]),
            length: 50,
            raw_length: 9,
        }]
    }

    #[test]
    fn a_blob_only_in_a_marked_pack_is_readable_but_not_for_dedup() {
        let marked = MarkedPack {
            id: Id::hash(b"m"),
            time: chrono::Utc::now(),
            blobs: one_blob(b"m"),
        };
        let mut idx = Index::default();
        idx.add_marked_file(&MarkedIndexFile {
            packs: vec![],
            marked: vec![marked.clone()],
        });
        let b = Id::hash(b"b");
        assert_eq!(idx.get(&b).map(|l| l.pack), Some(Id::hash(b"m")));
        assert!(idx.contains(&b) && !idx.contains_for_dedup(&b));
        // A copy in a normal pack, listed before or after the mark, is preferred.
        for first_marked in [true, false] {
            let normal = MarkedIndexFile {
                packs: vec![IndexPack {
                    id: Id::hash(b"n"),
                    blobs: one_blob(b"n"),
                }],
                marked: vec![],
            };
            let mark = MarkedIndexFile {
                packs: vec![],
                marked: vec![marked.clone()],
            };
            let mut idx = Index::default();
            let files = if first_marked {
                [mark, normal]
            } else {
                [normal, mark]
            };
            for f in &files {
                idx.add_marked_file(f);
            }
            assert_eq!(
                idx.get_for_dedup(&b).map(|l| l.pack),
                Some(Id::hash(b"n")),
                "{first_marked}"
            );
        }
    }

    #[test]
    fn old_index_files_without_marks_still_parse() -> Result<()> {
        let keys = Keys::derive(&MasterKey::generate()?);
        let sealed = keys.seal(AD_INDEX, br#"{"packs": []}"#, 3)?;
        let f = MarkedIndexFile::open(&keys, "index/x", &sealed)?;
        assert!(f.packs.is_empty() && f.marked.is_empty());
        Ok(())
    }
}
