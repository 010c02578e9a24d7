//! Lineages as listed from the store, and the plan of a restore: which lineage, which
//! segments, up to which transaction.
//!
//! The plan covers transactions `1..=target` greedily with the segment that starts
//! where the cover stands and reaches furthest without passing the target (so a
//! compacted segment is preferred to the level-0 segments it merges). When no segment
//! starts where the cover stands, the chain has a hole there and the plan fails with
//! [`Error::ChainGap`] naming it: a restore never falls back to an older point of the
//! same lineage on its own.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use holdfast_store::ListOptions;

use super::{Head, WalKey, read_head};
use crate::error::{Error, Result};
use crate::id::Id;
use crate::repository::Repository;

/// A stored segment, as its name describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentRef {
    /// Its key.
    pub key: String,
    /// Level (0 as followed, 1–3 compacted).
    pub level: u8,
    /// First txid.
    pub first: u64,
    /// Last txid.
    pub last: u64,
    /// Time of its last transaction.
    pub time: DateTime<Utc>,
}

/// One lineage: its head (absent while incomplete), base parts and segments.
#[derive(Clone, Debug)]
pub struct Lineage {
    /// The lineage id.
    pub id: Id,
    /// The head's key and content; `None` for an incomplete lineage.
    pub head: Option<(String, Head)>,
    /// Keys of its base parts.
    pub base: Vec<String>,
    /// Its segments, by (first, level).
    pub segments: Vec<SegmentRef>,
    /// When the store wrote its newest object, if the store says.
    pub newest_write: Option<DateTime<Utc>>,
}

impl Lineage {
    /// The last txid any of its segments holds (0 when none).
    pub fn last_txid(&self) -> u64 {
        self.segments.iter().map(|s| s.last).max().unwrap_or(0)
    }

    /// The time of its newest segment, else of its head.
    pub fn last_time(&self) -> Option<DateTime<Utc>> {
        self.segments
            .iter()
            .map(|s| s.time)
            .max()
            .or(self.head.as_ref().map(|(_, h)| h.time))
    }

    /// Every key of the lineage, in the order prune deletes them: segments, base parts,
    /// then the head, so a prune stopped half way leaves an incomplete lineage.
    pub fn keys_for_delete(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.segments.iter().map(|s| s.key.clone()).collect();
        keys.extend(self.base.iter().cloned());
        keys.extend(self.head.iter().map(|(k, _)| k.clone()));
        keys
    }
}

/// Every lineage in the repository (complete or not), heads read and checked. A head
/// that cannot be read stops the listing: what it covers is unknown.
pub async fn lineages(repo: &Repository) -> Result<Vec<Lineage>> {
    let opts = ListOptions {
        recursive: true,
        filter: None,
    };
    let metas: Vec<holdfast_store::ObjectMeta> =
        repo.store().list("wal/", opts).try_collect().await?;
    let mut by_id: BTreeMap<Id, Lineage> = BTreeMap::new();
    let mut heads = Vec::new();
    for m in metas {
        let Some(k) = WalKey::parse(&m.key) else {
            continue;
        };
        let id = match &k {
            WalKey::Head { lineage } | WalKey::Base { lineage, .. } => *lineage,
            WalKey::Segment { lineage, .. } => *lineage,
        };
        let l = by_id.entry(id).or_insert_with(|| Lineage {
            id,
            head: None,
            base: Vec::new(),
            segments: Vec::new(),
            newest_write: None,
        });
        l.newest_write = l.newest_write.max(m.modified);
        match k {
            WalKey::Head { .. } => heads.push((id, m.key)),
            WalKey::Base { .. } => l.base.push(m.key),
            WalKey::Segment {
                level,
                first,
                last,
                time,
                ..
            } => l.segments.push(SegmentRef {
                key: m.key,
                level,
                first,
                last,
                time,
            }),
        }
    }
    let read: Vec<(Id, String, Result<Head>)> = futures::stream::iter(heads)
        .map(|(id, key)| async move {
            let h = read_head(repo, &key).await;
            (id, key, h)
        })
        .buffer_unordered(16)
        .collect()
        .await;
    for (id, key, h) in read {
        let head = h?;
        if let Some(l) = by_id.get_mut(&id) {
            l.head = Some((key, head));
        }
    }
    let mut out: Vec<Lineage> = by_id.into_values().collect();
    for l in &mut out {
        l.segments.sort_by_key(|s| (s.first, s.level, s.last));
        l.base.sort();
    }
    Ok(out)
}

/// The complete lineages of `database`, oldest first.
pub fn of_database<'a>(all: &'a [Lineage], database: &str) -> Vec<&'a Lineage> {
    let mut v: Vec<&Lineage> = all
        .iter()
        .filter(|l| l.head.as_ref().is_some_and(|(_, h)| h.database == database))
        .collect();
    v.sort_by_key(|l| l.head.as_ref().map(|(_, h)| (h.time, h.lineage)));
    v
}

/// The point a restore aims at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// The newest transaction stored.
    Newest,
    /// The last transaction read at or before this time.
    Time(DateTime<Utc>),
}

/// What a restore reads: a lineage's base, whole segments, and perhaps the transactions
/// of one more segment up to the target time.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The lineage's head.
    pub head: Head,
    /// Segments replayed whole, in order.
    pub segments: Vec<SegmentRef>,
    /// A level-0 segment replayed only up to the target time.
    pub partial: Option<SegmentRef>,
    /// The target time, for `partial`.
    pub until: Option<DateTime<Utc>>,
    /// The last txid of the whole segments.
    pub txid: u64,
}

impl Plan {
    /// The time of the last transaction the plan replays: the partial segment's target,
    /// else the last whole segment's time, else the base's.
    pub fn reaches(&self) -> DateTime<Utc> {
        match (&self.partial, self.until, self.segments.last()) {
            (Some(p), Some(until), _) => until.min(p.time),
            (_, _, Some(last)) => last.time,
            _ => self.head.time,
        }
    }
}

/// Plans a restore of `database` to `target` over `all` lineages: the newest complete
/// lineage whose consistent point is at or before the target, its segments from 1 to
/// the target. Fails with [`Error::ChainGap`] when they do not cover it, and with
/// [`Error::NotFound`] when no lineage reaches the target.
pub fn plan(all: &[Lineage], database: &str, target: Target) -> Result<Plan> {
    let mine = of_database(all, database);
    if mine.is_empty() {
        return Err(Error::not_found(format!(
            "replicated sqlite database {database} (no complete lineage under wal/)"
        )));
    }
    for l in mine.iter().rev() {
        let Some((_, head)) = &l.head else { continue };
        let (txid, until) = match target {
            Target::Newest => (l.last_txid(), None),
            Target::Time(t) => {
                // Object names carry times to the millisecond: so does the comparison,
                // or a lineage's own last time (as listed) would fall before its head.
                if head.time.timestamp_millis() > t.timestamp_millis() {
                    continue;
                }
                let reach = l
                    .segments
                    .iter()
                    .filter(|s| s.time <= t)
                    .map(|s| s.last)
                    .max()
                    .unwrap_or(0);
                (reach, Some(t))
            }
        };
        if txid < head.consistent {
            if target == Target::Newest {
                return Err(gap(database, l, txid + 1, head.consistent));
            }
            continue;
        }
        let segments = cover(database, l, txid)?;
        let partial = until.and_then(|_| {
            l.segments
                .iter()
                .find(|s| s.level == 0 && s.first == txid + 1)
                .cloned()
        });
        return Ok(Plan {
            head: head.clone(),
            segments,
            partial,
            until,
            txid,
        });
    }
    Err(Error::not_found(format!(
        "a point of sqlite database {database} at or before {}",
        match target {
            Target::Time(t) => t.to_rfc3339(),
            Target::Newest => "now".into(),
        }
    )))
}

fn gap(database: &str, l: &Lineage, from: u64, to: u64) -> Error {
    Error::ChainGap {
        database: database.to_string(),
        lineage: l.id.short(),
        from,
        to,
    }
}

/// Segments covering `1..=target` of `l`, or the first hole.
pub fn cover(database: &str, l: &Lineage, target: u64) -> Result<Vec<SegmentRef>> {
    let mut out = Vec::new();
    let mut pos = 1;
    while pos <= target {
        let best = l
            .segments
            .iter()
            .filter(|s| s.first == pos && s.last <= target)
            .max_by_key(|s| s.last);
        match best {
            Some(s) => {
                out.push(s.clone());
                pos = s.last + 1;
            }
            None => {
                let next = l
                    .segments
                    .iter()
                    .map(|s| s.first)
                    .filter(|&f| f > pos)
                    .min()
                    .map_or(target, |f| f - 1);
                return Err(gap(database, l, pos, next.min(target).max(pos)));
            }
        }
    }
    Ok(out)
}
