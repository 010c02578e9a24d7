//! The read-only half of prune: mark every blob the snapshots reference, give each used
//! blob one home pack, and decide per pack whether it is kept, repacked or deleted.
//!
//! Packs an earlier prune marked for deletion take part too, after every unmarked pack:
//! a used blob that only a marked pack holds (a snapshot committed after the mark
//! references it) makes that pack *rescued*, kept or repacked like any other.

use std::collections::{BTreeMap, HashMap, HashSet};

use futures::StreamExt;

use crate::error::{Error, Result};
use crate::id::Id;
use crate::index::MarkedIndexFile;
use crate::pack::{PackedBlob, pack_key};
use crate::repository::IndexedRepository;
use crate::snapshot::Snapshot;

/// What happens to one indexed pack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fate {
    /// Stays as it is and stays in the index.
    Keep,
    /// Its used blobs move to new packs, then it is deleted.
    Repack,
    /// Holds no used blob: deleted.
    Delete,
    /// Listed by an index file but not in the store: dropped from the index.
    Missing,
}

/// One indexed pack and what prune does with it.
pub(crate) struct PackPlan {
    pub id: Id,
    /// Every blob the index lists in it.
    pub blobs: Vec<PackedBlob>,
    /// The blobs whose one kept copy is here.
    pub used: Vec<PackedBlob>,
    /// Size in the store (0 when missing).
    pub size: u64,
    pub fate: Fate,
    /// When an earlier prune marked it for deletion (the latest mark when several index
    /// files mark it; a mark anywhere wins over an unmarked listing).
    pub marked: Option<chrono::DateTime<chrono::Utc>>,
}

impl PackPlan {
    /// A marked pack that holds a used blob no unmarked pack holds.
    pub fn rescued(&self) -> bool {
        self.marked.is_some() && !self.used.is_empty()
    }
}

/// The whole plan.
pub(crate) struct Plan {
    pub packs: Vec<PackPlan>,
    /// Blobs referenced by some snapshot (trees and data).
    pub used_blobs: usize,
    /// Distinct indexed blobs that no snapshot references.
    pub unused_blobs: usize,
}

/// Every blob id reachable from the snapshots' trees. Fails when a tree cannot be read:
/// what it references would be unknown.
pub(crate) async fn mark(
    repo: &IndexedRepository,
    snapshots: &[(Id, Snapshot)],
) -> Result<HashSet<Id>> {
    let mut used = HashSet::new();
    let mut todo: Vec<(Id, Id)> = snapshots.iter().map(|(sid, s)| (s.tree, *sid)).collect();
    while !todo.is_empty() {
        let batch: Vec<(Id, Id)> = std::mem::take(&mut todo)
            .into_iter()
            .filter(|(tree, _)| used.insert(*tree))
            .collect();
        let loaded: Vec<_> = futures::stream::iter(batch)
            .map(|(tree, sid)| async move { (tree, sid, repo.load_tree(&tree).await) })
            .buffer_unordered(16)
            .collect()
            .await;
        for (tree, sid, result) in loaded {
            let t = result.map_err(|e| {
                Error::corrupt(
                    format!("tree {tree} of snapshot {sid}"),
                    format!(
                        "{e}; prune does not run on a damaged repository (run `holdfast verify`)"
                    ),
                )
            })?;
            for node in t.nodes {
                used.extend(node.content);
                if let Some(sub) = node.subtree {
                    todo.push((sub, sid));
                }
            }
        }
    }
    Ok(used)
}

/// Decides the fate of every indexed pack. `files` are the index files, `listed` the
/// packs in the store with their sizes.
pub(crate) fn decide(
    files: &[(String, MarkedIndexFile)],
    listed: &HashMap<Id, u64>,
    used: &HashSet<Id>,
    max_unused: f64,
) -> Result<Plan> {
    let mut by_pack: BTreeMap<Id, Vec<PackedBlob>> = BTreeMap::new();
    let mut marks: HashMap<Id, chrono::DateTime<chrono::Utc>> = HashMap::new();
    for (_, f) in files {
        for p in &f.packs {
            by_pack.entry(p.id).or_insert_with(|| p.blobs.clone());
        }
        for p in &f.marked {
            by_pack.entry(p.id).or_insert_with(|| p.blobs.clone());
            let t = marks.entry(p.id).or_insert(p.time);
            *t = (*t).max(p.time);
        }
    }
    let ratio = |blobs: &[PackedBlob]| {
        let total: u64 = blobs.iter().map(|b| u64::from(b.length)).sum();
        let live: u64 = blobs
            .iter()
            .filter(|b| used.contains(&b.id))
            .map(|b| u64::from(b.length))
            .sum();
        if total == 0 {
            0.0
        } else {
            live as f64 / total as f64
        }
    };
    // Unmarked packs claim their used blobs before marked ones, the fullest first, so a
    // blob stored twice (a repack interrupted after its new packs were indexed) keeps the
    // copy in the fuller pack and a marked pack is rescued only when it must be.
    let mut order: Vec<(bool, f64, Id)> = by_pack
        .iter()
        .filter(|(id, _)| listed.contains_key(id))
        .map(|(id, blobs)| (marks.contains_key(id), ratio(blobs), *id))
        .collect();
    order.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.total_cmp(&a.1)).then(a.2.cmp(&b.2)));
    let mut claimed: HashSet<Id> = HashSet::new();
    let mut packs = Vec::with_capacity(by_pack.len());
    for (_, _, id) in order {
        let blobs = by_pack.remove(&id).unwrap_or_default();
        let size = listed.get(&id).copied().unwrap_or_default();
        let mut here = Vec::new();
        let mut unused_bytes = 0u64;
        for b in &blobs {
            if used.contains(&b.id) && claimed.insert(b.id) {
                here.push(b.clone());
            } else {
                unused_bytes += u64::from(b.length);
            }
        }
        let fate = if here.is_empty() {
            Fate::Delete
        } else if size > 0 && unused_bytes as f64 / size as f64 > max_unused {
            Fate::Repack
        } else {
            Fate::Keep
        };
        packs.push(PackPlan {
            id,
            blobs,
            used: here,
            size,
            fate,
            marked: marks.get(&id).copied(),
        });
    }
    for (id, blobs) in by_pack {
        packs.push(PackPlan {
            marked: marks.get(&id).copied(),
            id,
            blobs,
            used: Vec::new(),
            size: 0,
            fate: Fate::Missing,
        });
    }
    if let Some(lost) = used.iter().find(|b| !claimed.contains(b)) {
        let why = match packs.iter().find(|p| p.blobs.iter().any(|b| b.id == *lost)) {
            Some(p) => format!("its pack {} is missing", pack_key(&p.id)),
            None => "it is in no index file".to_owned(),
        };
        return Err(Error::corrupt(
            format!("blob {lost}"),
            format!(
                "a snapshot needs it but {why}; prune does not run on a damaged repository \
                 (run `holdfast verify`)"
            ),
        ));
    }
    let indexed: HashSet<Id> = packs
        .iter()
        .flat_map(|p| p.blobs.iter().map(|b| b.id))
        .collect();
    Ok(Plan {
        used_blobs: used.len(),
        unused_blobs: indexed.iter().filter(|b| !used.contains(b)).count(),
        packs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::IndexPack;
    use crate::pack::BlobType;

    fn blob(n: u8, len: u32, offset: u64) -> PackedBlob {
        PackedBlob {
            id: Id([n; 32]),
            kind: BlobType::Data,
            offset,
            length: len,
            raw_length: len,
        }
    }

    fn pack(n: u8, blobs: Vec<PackedBlob>) -> IndexPack {
        IndexPack {
            id: Id([100 + n; 32]),
            blobs,
        }
    }

    fn file(packs: Vec<IndexPack>) -> MarkedIndexFile {
        MarkedIndexFile {
            packs,
            marked: vec![],
        }
    }

    #[test]
    fn a_marked_pack_is_rescued_only_when_it_alone_holds_a_used_blob() -> Result<()> {
        let t = chrono::Utc::now();
        let mark = |p: IndexPack| crate::index::MarkedPack {
            id: p.id,
            time: t,
            blobs: p.blobs,
        };
        let f = MarkedIndexFile {
            // Blob 1 is also in unmarked pack 3; blob 2 only in marked pack 2.
            packs: vec![pack(3, vec![blob(1, 1000, 0)])],
            marked: vec![
                mark(pack(1, vec![blob(1, 1000, 0)])),
                mark(pack(2, vec![blob(2, 1000, 0)])),
                mark(pack(4, vec![blob(4, 1000, 0)])),
            ],
        };
        let listed: HashMap<Id, u64> = [1, 2, 3, 4]
            .into_iter()
            .map(|n| (Id([100 + n; 32]), 1100))
            .collect();
        let used: HashSet<Id> = [1, 2].into_iter().map(|n| Id([n; 32])).collect();
        let plan = decide(&[("index/a".into(), f)], &listed, &used, 0.5)?;
        let get = |n: u8| plan.packs.iter().find(|p| p.id == Id([100 + n; 32]));
        let state = |n: u8| get(n).map(|p| (p.fate, p.marked.is_some(), p.rescued()));
        assert_eq!(state(1), Some((Fate::Delete, true, false)));
        assert_eq!(state(2), Some((Fate::Keep, true, true)));
        assert_eq!(state(3), Some((Fate::Keep, false, false)));
        assert_eq!(state(4), Some((Fate::Delete, true, false)));
        Ok(())
    }

    #[test]
    fn fates_follow_usage_and_threshold() -> Result<()> {
        let file = MarkedIndexFile {
            marked: vec![],
            packs: vec![
                pack(1, vec![blob(1, 1000, 0), blob(2, 1000, 1000)]),
                pack(2, vec![blob(3, 1000, 0), blob(4, 10, 1000)]),
                pack(3, vec![blob(5, 1000, 0)]),
                pack(4, vec![blob(6, 1000, 0)]),
            ],
        };
        let listed: HashMap<Id, u64> = [(1, 2100), (2, 1100), (3, 1100)]
            .into_iter()
            .map(|(n, size)| (Id([100 + n; 32]), size))
            .collect();
        let used: HashSet<Id> = [1, 3].into_iter().map(|n| Id([n; 32])).collect();
        let plan = decide(&[("index/a".into(), file)], &listed, &used, 0.05)?;
        let fate = |n: u8| {
            plan.packs
                .iter()
                .find(|p| p.id == Id([100 + n; 32]))
                .map(|p| p.fate)
        };
        assert_eq!(fate(1), Some(Fate::Repack));
        assert_eq!(fate(2), Some(Fate::Keep));
        assert_eq!(fate(3), Some(Fate::Delete));
        assert_eq!(fate(4), Some(Fate::Missing));
        assert_eq!((plan.used_blobs, plan.unused_blobs), (2, 4));
        Ok(())
    }

    #[test]
    fn a_blob_stored_twice_stays_in_the_fuller_pack() -> Result<()> {
        let old = pack(1, vec![blob(1, 1000, 0), blob(2, 1000, 1000)]);
        let new = pack(2, vec![blob(1, 1000, 0)]);
        let files = vec![
            ("index/old".to_owned(), file(vec![old])),
            ("index/new".to_owned(), file(vec![new])),
        ];
        let listed: HashMap<Id, u64> = [(Id([101; 32]), 2100), (Id([102; 32]), 1100)]
            .into_iter()
            .collect();
        let used: HashSet<Id> = [Id([1; 32])].into_iter().collect();
        let plan = decide(&files, &listed, &used, 0.05)?;
        let fates: Vec<(Id, Fate)> = plan.packs.iter().map(|p| (p.id, p.fate)).collect();
        assert_eq!(
            fates,
            vec![(Id([102; 32]), Fate::Keep), (Id([101; 32]), Fate::Delete)]
        );
        Ok(())
    }

    #[test]
    fn a_used_blob_in_a_missing_pack_is_refused() {
        let file = file(vec![pack(1, vec![blob(1, 10, 0)])]);
        let used: HashSet<Id> = [Id([1; 32])].into_iter().collect();
        let r = decide(&[("index/a".into(), file)], &HashMap::new(), &used, 0.05);
        assert!(matches!(r, Err(Error::Corrupt { .. })));
    }
}
