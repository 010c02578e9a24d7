//! `stats`: how much data the snapshots hold and how much the repository stores for
//! them, per group (volume, else root path) and in total. `raw` is the sum of the
//! snapshots' file sizes (what restoring every one would write); `deduplicated` the
//! plaintext of the distinct blobs they reference; `stored` those blobs' envelopes
//! (compressed and encrypted); the compression ratio is deduplicated / stored. Each
//! tree is read once per group.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use super::{SnapshotFilter, group_of};
use crate::error::Result;
use crate::id::Id;
use crate::repository::IndexedRepository;

/// Sizes of one group (or of all).
#[derive(Clone, Debug, Default, Serialize)]
pub struct StatsGroup {
    /// `volume:NAME`, `path:ROOT`, or `total`.
    pub group: String,
    /// Snapshots counted.
    pub snapshots: usize,
    /// Sum of the snapshots' file sizes.
    pub raw: u64,
    /// Plaintext bytes of the distinct blobs referenced (data and trees).
    pub deduplicated: u64,
    /// Stored (compressed, encrypted) bytes of those blobs.
    pub stored: u64,
    /// Distinct blobs referenced.
    pub blobs: u64,
    /// `deduplicated / stored` (1 when nothing is stored).
    pub compression_ratio: f64,
    /// `raw / stored` (1 when nothing is stored).
    pub space_saving_ratio: f64,
}

/// What [`stats`] found.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Stats {
    /// One entry per group, by name.
    pub groups: Vec<StatsGroup>,
    /// Everything the filter passed, each blob counted once.
    pub total: StatsGroup,
    /// Bytes of every pack the index lists (including data no snapshot uses).
    pub packs_bytes: u64,
    /// Packs the index lists.
    pub packs: usize,
}

#[derive(Default)]
struct Acc {
    snapshots: usize,
    raw: u64,
    blobs: HashSet<Id>,
    trees: HashSet<Id>,
}

impl Acc {
    fn finish(self, group: String, repo: &IndexedRepository) -> StatsGroup {
        let (mut dedup, mut stored) = (0u64, 0u64);
        for b in &self.blobs {
            if let Some(loc) = repo.index().get(b) {
                dedup += u64::from(loc.raw_length);
                stored += u64::from(loc.length);
            }
        }
        let ratio = |a: u64| {
            if stored == 0 {
                1.0
            } else {
                a as f64 / stored as f64
            }
        };
        StatsGroup {
            group,
            snapshots: self.snapshots,
            raw: self.raw,
            deduplicated: dedup,
            stored,
            blobs: self.blobs.len() as u64,
            compression_ratio: ratio(dedup),
            space_saving_ratio: ratio(self.raw),
        }
    }
}

/// Sizes of the snapshots the filter passes.
pub async fn stats(repo: &IndexedRepository, filter: &SnapshotFilter) -> Result<Stats> {
    let snaps = filter.apply(repo.snapshots().await?);
    let mut groups: HashMap<String, Acc> = HashMap::new();
    let mut total = Acc::default();
    for (_, s) in &snaps {
        let acc = groups.entry(group_of(s)).or_default();
        acc.snapshots += 1;
        acc.raw += s.size;
        total.snapshots += 1;
        total.raw += s.size;
        let mut stack = vec![s.tree];
        while let Some(t) = stack.pop() {
            if !acc.trees.insert(t) {
                continue;
            }
            acc.blobs.insert(t);
            total.blobs.insert(t);
            let tree = repo.load_tree(&t).await?;
            for n in tree.nodes {
                for c in n.content {
                    acc.blobs.insert(c);
                    total.blobs.insert(c);
                }
                if let Some(sub) = n.subtree {
                    stack.push(sub);
                }
            }
        }
    }
    let mut out: Vec<StatsGroup> = groups
        .into_iter()
        .map(|(g, acc)| acc.finish(g, repo))
        .collect();
    out.sort_by(|a, b| a.group.cmp(&b.group));
    let mut packs: HashMap<Id, u64> = HashMap::new();
    for (_, loc) in repo.index().blobs() {
        let end = loc.offset + u64::from(loc.length);
        let e = packs.entry(loc.pack).or_default();
        *e = (*e).max(end);
    }
    Ok(Stats {
        groups: out,
        total: total.finish("total".into(), repo),
        packs_bytes: packs.values().sum(),
        packs: packs.len(),
    })
}
