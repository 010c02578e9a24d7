//! Compaction: [`FAN_IN`] contiguous segments of one level merge into one segment of the
//! next, so a restore reads at most `FAN_IN - 1` segments per level after the base
//! (docs/FORMAT.md, "Compaction").
//!
//! A compacted segment keeps every transaction's txid, time and size (so the plan can
//! still pick it by time) but only the last version of each page, all attributed to its
//! last transaction: it restores to its `last` exactly. The segments it merges stay
//! beside it, so a time inside its range is reached through them. Compaction only
//! writes (no lock): it never deletes, and a compacted segment written twice (two
//! followers, or a rerun) is a second cover of the same range, harmless to a plan.

use std::collections::BTreeMap;

use super::chain::Lineage;
use super::{Segment, Txn, read_segment, write_segment};
use crate::error::Result;
use crate::repository::Repository;

/// Segments of one level merged into one of the next.
pub const FAN_IN: usize = 16;

/// The highest level compaction writes.
pub const TOP_LEVEL: u8 = 3;

/// What [`compact`] wrote.
#[derive(Clone, Debug, Default)]
pub struct CompactReport {
    /// Compacted segments written.
    pub written: usize,
    /// Segments read.
    pub read: usize,
    /// The compacted segments written.
    pub segments: Vec<super::chain::SegmentRef>,
}

/// Merges one lineage's full runs of [`FAN_IN`] contiguous segments, level by level,
/// where the next level does not cover them yet.
pub async fn compact(repo: &Repository, lineage: &Lineage) -> Result<CompactReport> {
    let mut report = CompactReport::default();
    let mut segs = lineage.segments.clone();
    for level in 0..TOP_LEVEL {
        let upper: Vec<(u64, u64)> = segs
            .iter()
            .filter(|s| s.level == level + 1)
            .map(|s| (s.first, s.last))
            .collect();
        let mut lower: Vec<_> = segs.iter().filter(|s| s.level == level).cloned().collect();
        lower.sort_by_key(|s| s.first);
        // Walk the contiguous chain of this level from txid 1 (or where it resumes).
        let mut run = Vec::new();
        let mut next = lower.first().map_or(1, |s| s.first);
        for s in lower {
            if s.first != next {
                run.clear();
                if s.first < next {
                    continue;
                }
            }
            next = s.last + 1;
            run.push(s);
            if run.len() == FAN_IN {
                let (first, last) = (run[0].first, next - 1);
                let covered = upper.iter().any(|&(f, l)| f == first && l == last);
                if !covered {
                    let mut parts = Vec::with_capacity(FAN_IN);
                    for r in &run {
                        parts.push(read_segment(repo, &r.key).await?);
                        report.read += 1;
                    }
                    let merged = merge(&parts, level + 1);
                    let (key, _) = write_segment(repo, &merged).await?;
                    report.written += 1;
                    let r = super::chain::SegmentRef {
                        key,
                        level: level + 1,
                        first,
                        last,
                        time: merged.time(),
                    };
                    report.segments.push(r.clone());
                    segs.push(r);
                }
                run.clear();
            }
        }
    }
    Ok(report)
}

/// Merges contiguous segments into one of `level`: the last version of each page, on
/// the last transaction.
pub fn merge(parts: &[Segment], level: u8) -> Segment {
    let mut pages = BTreeMap::new();
    let mut txns: Vec<Txn> = Vec::new();
    for s in parts {
        for t in &s.txns {
            for p in &t.pages {
                pages.insert(p.number, p.clone());
            }
            txns.push(Txn {
                txid: t.txid,
                time: t.time,
                db_pages: t.db_pages,
                pages: Vec::new(),
            });
        }
    }
    if let Some(last) = txns.last_mut() {
        last.pages = pages.into_values().collect();
    }
    Segment {
        lineage: parts.first().map_or(crate::id::Id([0; 32]), |s| s.lineage),
        level,
        page_size: parts.first().map_or(4096, |s| s.page_size),
        txns,
    }
}
