//! The index: which pack holds each blob. Index files (docs/FORMAT.md, "Index") are
//! parsed and merged into one in-memory map.
//!
//! An index file also lists the packs a prune has *marked* for deletion (the first phase
//! of its two-phase delete, see [`crate::prune`]). A marked pack still exists and its
//! blobs can be read ([`Index::get`]), so a snapshot that references one restores, but a
//! backup never deduplicates against a blob that only a marked pack holds
//! ([`Index::contains_for_dedup`]): the next prune may delete that pack.

use std::collections::HashMap;
use std::ops::Range;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::crypto::{AD_INDEX, Keys};
use crate::error::{Error, Result};
use crate::id::Id;
use crate::pack::{BlobType, PackedBlob};
use crate::repository::Repository;

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
        FilePart {
            packs: &self.packs,
            marked: &[],
        }
        .seal(keys)
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
        FilePart {
            packs: &self.packs,
            marked: &self.marked,
        }
        .seal(keys)
    }

    /// Decrypts and parses a stored index file, with or without marks.
    pub fn open(keys: &Keys, object: &str, bytes: &[u8]) -> Result<MarkedIndexFile> {
        let json = keys.open(object, AD_INDEX, bytes, 0)?;
        serde_json::from_slice(&json).map_err(|e| Error::corrupt(object, e))
    }
}

/// Most blobs one index file lists. Files hold whole packs, so a pack of more small
/// blobs is a file of its own. A reader holds a file's plaintext and parsed form beside
/// the index while it merges it, so this bounds that memory however large the backup
/// (one file of a million blobs was about 200 MB of JSON to parse at once).
pub(crate) const BLOBS_PER_FILE: usize = 50_000;
/// Most packs one index file lists.
pub(crate) const PACKS_PER_FILE: usize = 5000;

/// One index file's stored form, borrowed: the packs and marks of one part. Every
/// index file is sealed through it.
#[derive(Serialize)]
struct FilePart<'a> {
    packs: &'a [IndexPack],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    marked: &'a [MarkedPack],
}

impl FilePart<'_> {
    /// The JSON, compressed and encrypted for storing.
    fn seal(&self, keys: &Keys) -> Result<Vec<u8>> {
        let json = serde_json::to_vec(self).map_err(|e| Error::Internal(e.to_string()))?;
        keys.seal(AD_INDEX, &json, 3)
    }
}

/// Stores index files listing `packs` and then `marked`, each within
/// [`BLOBS_PER_FILE`] and [`PACKS_PER_FILE`]; returns their total size. Each file is
/// written whole under its hash (write new, then name), so a reader sees a file or
/// nothing.
pub(crate) async fn store_files(
    repo: &Repository,
    packs: &[IndexPack],
    marked: &[MarkedPack],
) -> Result<u64> {
    store_files_noting(repo, packs, marked, &mut Vec::new()).await
}

/// [`store_files`], noting in `keys` each file's key before its write starts (a write
/// that fails may still land).
pub(crate) async fn store_files_noting(
    repo: &Repository,
    packs: &[IndexPack],
    marked: &[MarkedPack],
    keys: &mut Vec<String>,
) -> Result<u64> {
    let mut bytes = 0u64;
    for (p, m) in parts(packs, marked) {
        let sealed = FilePart {
            packs: &packs[p],
            marked: &marked[m],
        }
        .seal(repo.keys())?;
        bytes += sealed.len() as u64;
        let key = format!("index/{}", Id::hash(&sealed));
        keys.push(key.clone());
        repo.store().write(&key, Bytes::from(sealed)).await?;
    }
    Ok(bytes)
}

/// Splits packs and then marked packs into the ranges of successive index files.
fn parts(packs: &[IndexPack], marked: &[MarkedPack]) -> Vec<(Range<usize>, Range<usize>)> {
    let sizes = packs
        .iter()
        .map(|p| p.blobs.len())
        .chain(marked.iter().map(|m| m.blobs.len()));
    let mut cuts = vec![0];
    let (mut blobs, mut start) = (0usize, 0usize);
    for (i, n) in sizes.enumerate() {
        if i > start && (i - start >= PACKS_PER_FILE || blobs + n > BLOBS_PER_FILE) {
            cuts.push(i);
            (start, blobs) = (i, 0);
        }
        blobs += n;
    }
    let total = packs.len() + marked.len();
    if total > 0 {
        cuts.push(total);
    }
    let split = |a: usize, b: usize| {
        (
            a.min(packs.len())..b.min(packs.len()),
            a.saturating_sub(packs.len())..b.saturating_sub(packs.len()),
        )
    };
    cuts.windows(2).map(|w| split(w[0], w[1])).collect()
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
///
/// Memory is what bounds a repository of a million files, so a blob's entry holds the
/// number of its pack in a table of packs rather than the pack's 32-byte id: 24 bytes
/// beside the key instead of 56. [`Index::reserve`] makes room for a known number of
/// blobs at once, so a large merge does not hold the old and the new table together.
#[derive(Clone, Default, Debug)]
pub struct Index {
    blobs: HashMap<Id, Slot>,
    /// Every indexed pack, numbered in the order it was first seen.
    packs: Vec<Id>,
    /// A pack's number in `packs`.
    numbers: HashMap<Id, u32>,
    /// Per pack number: some index file lists the pack as marked (a mark anywhere wins).
    marked: Vec<bool>,
}

/// A blob's location as the index holds it: the pack by its number.
#[derive(Clone, Copy, Debug)]
struct Slot {
    offset: u64,
    pack: u32,
    length: u32,
    raw_length: u32,
    kind: BlobType,
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
            let n = self.number(p.id);
            self.marked[n as usize] = true;
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

    /// Makes room for `additional` more blobs in one allocation.
    pub fn reserve(&mut self, additional: usize) {
        self.blobs.reserve(additional);
    }

    /// The number of `pack`, given it one when it is new.
    fn number(&mut self, pack: Id) -> u32 {
        if let Some(n) = self.numbers.get(&pack) {
            return *n;
        }
        // More than 2^32 packs (64 PiB at the pack size) is not a repository this
        // index can hold; the count saturates rather than wraps.
        let n = u32::try_from(self.packs.len()).unwrap_or(u32::MAX);
        self.packs.push(pack);
        self.marked.push(false);
        self.numbers.insert(pack, n);
        n
    }

    fn insert(&mut self, pack: Id, blobs: &[PackedBlob]) {
        let n = self.number(pack);
        let marked = self.marked[n as usize];
        for b in blobs {
            let slot = Slot {
                offset: b.offset,
                pack: n,
                length: b.length,
                raw_length: b.raw_length,
                kind: b.kind,
            };
            match self.blobs.get_mut(&b.id) {
                None => {
                    self.blobs.insert(b.id, slot);
                }
                // A copy in a pack that is not marked is preferred.
                Some(old) if !marked && self.marked[old.pack as usize] => *old = slot,
                Some(_) => {}
            }
        }
    }

    fn location(&self, slot: &Slot) -> BlobLocation {
        BlobLocation {
            pack: self.packs[slot.pack as usize],
            kind: slot.kind,
            offset: slot.offset,
            length: slot.length,
            raw_length: slot.raw_length,
        }
    }

    /// The location of a blob (in a marked pack when no other pack holds it): for
    /// reading.
    pub fn get(&self, id: &Id) -> Option<BlobLocation> {
        self.blobs.get(id).map(|s| self.location(s))
    }

    /// True when the blob is stored (in any pack, marked or not).
    pub fn contains(&self, id: &Id) -> bool {
        self.blobs.contains_key(id)
    }

    /// The location of a blob a backup may deduplicate against: `None` when no pack
    /// but a marked one holds it, since a later prune may delete that pack.
    pub fn get_for_dedup(&self, id: &Id) -> Option<BlobLocation> {
        self.blobs
            .get(id)
            .filter(|s| !self.marked[s.pack as usize])
            .map(|s| self.location(s))
    }

    /// True when a backup may deduplicate against the blob (see
    /// [`Index::get_for_dedup`]).
    pub fn contains_for_dedup(&self, id: &Id) -> bool {
        self.blobs
            .get(id)
            .is_some_and(|s| !self.marked[s.pack as usize])
    }

    /// Forgets every blob whose recorded copy is in a pack for which `exists` is false
    /// (a pack missing from the store), so nothing deduplicates against it; returns the
    /// missing packs. A blob with another copy elsewhere is forgotten too: it is merely
    /// stored again.
    pub fn drop_missing_packs(&mut self, exists: impl Fn(&Id) -> bool) -> Vec<Id> {
        let gone: Vec<bool> = self.packs.iter().map(|p| !exists(p)).collect();
        if !gone.contains(&true) {
            return Vec::new();
        }
        self.blobs.retain(|_, s| !gone[s.pack as usize]);
        // A missing pack counts as marked: a copy of one of its blobs added later is
        // preferred, and nothing deduplicates against it.
        for (m, g) in self.marked.iter_mut().zip(&gone) {
            *m |= *g;
        }
        self.packs
            .iter()
            .zip(&gone)
            .filter(|(_, g)| **g)
            .map(|(p, _)| *p)
            .collect()
    }

    /// True when some index file lists `pack` (marked or not).
    pub fn has_pack(&self, pack: &Id) -> bool {
        self.numbers.contains_key(pack)
    }

    /// True when some index file lists `pack` as marked for deletion.
    pub fn is_marked(&self, pack: &Id) -> bool {
        self.numbers
            .get(pack)
            .is_some_and(|n| self.marked[*n as usize])
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
    pub fn blobs(&self) -> impl Iterator<Item = (&Id, BlobLocation)> {
        self.blobs.iter().map(|(id, s)| (id, self.location(s)))
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
        let loc = idx.get(&Id::hash(b"b"));
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
    fn every_blob_keeps_its_own_pack_through_the_pack_table() {
        let mut idx = Index::default();
        idx.reserve(300);
        let pack = |p: u8| Id::hash(&[b'p', p]);
        for p in 0..30u8 {
            let blobs: Vec<PackedBlob> = (0..10u8)
                .map(|b| PackedBlob {
                    id: Id::hash(&[p, b]),
                    kind: if b == 0 {
                        BlobType::Tree
                    } else {
                        BlobType::Data
                    },
                    offset: u64::from(b) * 100 + (1 << 33),
                    length: u32::from(b) + 1,
                    raw_length: u32::from(p),
                })
                .collect();
            idx.add_pack(pack(p), &blobs);
            // A pack listed twice is one pack.
            idx.add_pack(pack(p), &blobs[..1]);
        }
        assert_eq!((idx.len(), idx.packs().count()), (300, 30));
        for p in 0..30u8 {
            for b in 0..10u8 {
                let loc = idx.get(&Id::hash(&[p, b])).expect("indexed");
                assert_eq!(loc.pack, pack(p));
                assert_eq!(
                    (loc.offset, loc.length, loc.raw_length),
                    (
                        u64::from(b) * 100 + (1 << 33),
                        u32::from(b) + 1,
                        u32::from(p)
                    )
                );
                assert_eq!(loc.kind == BlobType::Tree, b == 0);
            }
        }
        assert_eq!(idx.blobs().filter(|(_, l)| l.pack == pack(7)).count(), 10);
        assert!(!idx.is_marked(&pack(7)) && !idx.is_marked(&Id::hash(b"none")));
    }

    #[test]
    fn index_files_are_cut_at_whole_packs_within_the_blob_bound() {
        let pack = |n: usize| IndexPack {
            id: Id::hash(&n.to_le_bytes()),
            blobs: vec![
                PackedBlob {
                    id: Id::hash(b"b"),
                    kind: BlobType::Data,
                    offset: 0,
                    length: 1,
                    raw_length: 1,
                };
                n
            ],
        };
        let mark = |n: usize| MarkedPack {
            id: Id::hash(b"m"),
            time: chrono::Utc::now(),
            blobs: pack(n).blobs,
        };
        assert!(parts(&[], &[]).is_empty());
        let half = BLOBS_PER_FILE / 2;
        // Two halves fit one file; a third starts the next; an oversized pack is alone.
        let packs = [
            pack(half),
            pack(half),
            pack(1),
            pack(BLOBS_PER_FILE + 1),
            pack(3),
        ];
        let marked = [mark(2), mark(BLOBS_PER_FILE)];
        assert_eq!(
            parts(&packs, &marked),
            vec![
                (0..2, 0..0),
                (2..3, 0..0),
                (3..4, 0..0),
                (4..5, 0..1),
                (5..5, 1..2),
            ]
        );
        let many: Vec<IndexPack> = (0..PACKS_PER_FILE + 1).map(|_| pack(1)).collect();
        assert_eq!(
            parts(&many, &[]),
            vec![
                (0..PACKS_PER_FILE, 0..0),
                (PACKS_PER_FILE..PACKS_PER_FILE + 1, 0..0)
            ]
        );
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
