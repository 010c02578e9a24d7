//! SQLite WAL segments (docs/FORMAT.md, "SQLite WAL segments"): the objects under
//! `wal/` that replicate a SQLite database between snapshots. Postgres WAL goes through
//! the same segment kind ([`pg`], "Postgres WAL segments").
//!
//! A **lineage** is one base (the database's pages, in parts) and a contiguous run of
//! **segments**, each holding the pages of transactions `first..=last` (txids count from
//! 1 within the lineage). Replaying the base and segments `1..=n` in order gives the
//! database as it was after transaction `n`. This module owns the object format (seal,
//! name, open and check), [`chain`] lists lineages and plans a restore (refusing a chain
//! with a hole, [`crate::Error::ChainGap`]), [`keep`] decides what prune keeps, and
//! [`compact`] merges runs of segments so a restore reads a bounded number of objects.
//!
//! Invariants:
//! - every object is named by the BLAKE3 of its bytes, checked on read, and its
//!   authenticated payload repeats the lineage, part or level, range and time of its
//!   name: a renamed or moved object is damage, named;
//! - a lineage's head is written after its base parts and its first segment: a lineage
//!   without a head is never restored from;
//! - segments need no repository lock: prune never deletes the newest complete lineage
//!   of a database nor an object younger than its grace ([`keep`]).

pub mod chain;
pub mod compact;
pub mod keep;
pub mod pg;

use bytes::Bytes;
use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::id::Id;
use crate::repository::Repository;

pub use chain::{Lineage, Plan, SegmentRef, Target, lineages, plan};
pub use compact::{CompactReport, compact};
pub use keep::{WalPruneOptions, WalPruneReport, prune_wal};

/// Associated data of a lineage head.
pub const AD_HEAD: &[u8] = b"holdfast:wal-head";
/// Associated data of a base part.
pub const AD_BASE: &[u8] = b"holdfast:wal-base";
/// Associated data of a segment.
pub const AD_SEGMENT: &[u8] = b"holdfast:wal-segment";

/// Why a lineage started (recorded in its head).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Reason {
    /// The first lineage of the database.
    Start,
    /// Local state reached its bound while a destination was away: frames were dropped.
    Gap,
    /// The WAL restarted in a way that could have dropped frames not yet read.
    Reset,
    /// The database file was replaced (another inode, another page size).
    Replaced,
    /// The database was restored.
    Restore,
}

/// Where the lineage before this one stopped.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Previous {
    /// Its lineage id.
    pub lineage: Id,
    /// The last transaction it holds.
    pub txid: u64,
    /// The time of that transaction, when known.
    pub time: Option<DateTime<Utc>>,
}

/// The head of a lineage: its commit, written after the base and the first segment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    /// Format version (1).
    pub version: u32,
    /// The lineage id (random).
    pub lineage: Id,
    /// The database's name: its path in the volume (`db/app.db`).
    pub database: String,
    /// The volume, when the database lives in a configured one.
    pub volume: Option<String>,
    /// The host that follows the database.
    pub hostname: String,
    /// When the base was taken.
    pub time: DateTime<Utc>,
    /// The database's page size.
    pub page_size: u32,
    /// The base parts in order (their object ids).
    pub parts: Vec<Id>,
    /// Pages in the base.
    pub pages: u64,
    /// The txid from which a replay is a consistent database.
    pub consistent: u64,
    /// Why this lineage started.
    pub reason: Reason,
    /// Where the lineage before it stopped.
    pub previous: Option<Previous>,
    /// The cluster and timeline of a Postgres lineage ("Postgres WAL segments"); `None`
    /// for a SQLite lineage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postgres: Option<pg::PgSource>,
}

/// One page image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page {
    /// Page number, from 1.
    pub number: u32,
    /// Its bytes (the page size).
    pub data: Bytes,
}

/// One committed transaction: the pages it wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Txn {
    /// Its number in the lineage (from 1).
    pub txid: u64,
    /// When holdfast read its commit from the WAL.
    pub time: DateTime<Utc>,
    /// The database size in pages after it.
    pub db_pages: u32,
    /// The pages it wrote, in WAL order (a page may repeat; the last copy wins).
    pub pages: Vec<Page>,
}

/// A segment: transactions `first..=last` of a lineage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    /// The lineage.
    pub lineage: Id,
    /// 0 as followed, 1–3 compacted.
    pub level: u8,
    /// The database's page size.
    pub page_size: u32,
    /// The transactions, contiguous.
    pub txns: Vec<Txn>,
}

impl Segment {
    /// The first txid (0 for an empty segment, which is never written).
    pub fn first(&self) -> u64 {
        self.txns.first().map_or(0, |t| t.txid)
    }

    /// The last txid.
    pub fn last(&self) -> u64 {
        self.txns.last().map_or(0, |t| t.txid)
    }

    /// The time of the last transaction.
    pub fn time(&self) -> DateTime<Utc> {
        self.txns.last().map_or(DateTime::UNIX_EPOCH, |t| t.time)
    }

    /// Bytes of page data it holds.
    pub fn page_bytes(&self) -> u64 {
        self.txns
            .iter()
            .flat_map(|t| &t.pages)
            .map(|p| p.data.len() as u64)
            .sum()
    }
}

/// A `wal/` key, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WalKey {
    /// `wal/<lineage>/h-<id>`.
    Head {
        /// Lineage.
        lineage: Id,
    },
    /// `wal/<lineage>/b-<part>-<id>`.
    Base {
        /// Lineage.
        lineage: Id,
        /// Part number, from 0.
        part: u32,
    },
    /// `wal/<lineage>/<level>-<first>-<last>-<ms>-<id>`.
    Segment {
        /// Lineage.
        lineage: Id,
        /// Level.
        level: u8,
        /// First txid.
        first: u64,
        /// Last txid.
        last: u64,
        /// Time of the last transaction.
        time: DateTime<Utc>,
    },
}

impl WalKey {
    /// Parses a key under `wal/`; `None` for anything else (a stray or temp file).
    pub fn parse(key: &str) -> Option<WalKey> {
        let rest = key.strip_prefix("wal/")?;
        let (lineage, name) = rest.split_once('/')?;
        let lineage: Id = lineage.parse().ok()?;
        let fields: Vec<&str> = name.split('-').collect();
        fields.last()?.parse::<Id>().ok()?;
        match fields.as_slice() {
            ["h", _] => Some(WalKey::Head { lineage }),
            ["b", part, _] if part.len() == 8 => Some(WalKey::Base {
                lineage,
                part: u32::from_str_radix(part, 16).ok()?,
            }),
            [level, first, last, ms, _] if level.len() == 1 && first.len() == 16 => {
                let ms = i64::from_str_radix(ms, 16).ok()?;
                Some(WalKey::Segment {
                    lineage,
                    level: level.parse().ok()?,
                    first: u64::from_str_radix(first, 16).ok()?,
                    last: u64::from_str_radix(last, 16).ok()?,
                    time: Utc.timestamp_millis_opt(ms).single()?,
                })
            }
            _ => None,
        }
    }
}

fn head_key(lineage: &Id, id: &Id) -> String {
    format!("wal/{lineage}/h-{id}")
}

fn base_key(lineage: &Id, part: u32, id: &Id) -> String {
    format!("wal/{lineage}/b-{part:08x}-{id}")
}

fn segment_key(seg: &Segment, id: &Id) -> String {
    format!(
        "wal/{}/{}-{:016x}-{:016x}-{:012x}-{id}",
        seg.lineage,
        seg.level,
        seg.first(),
        seg.last(),
        seg.time().timestamp_millis().max(0)
    )
}

#[derive(Serialize, Deserialize)]
struct TxnHeader {
    txid: u64,
    time: DateTime<Utc>,
    db_pages: u32,
    pages: u32,
}

#[derive(Serialize, Deserialize)]
struct SegmentHeader {
    lineage: Id,
    level: u8,
    first: u64,
    last: u64,
    page_size: u32,
    txns: Vec<TxnHeader>,
}

#[derive(Serialize, Deserialize)]
struct BaseHeader {
    lineage: Id,
    part: u32,
    pages: u32,
}

fn encode(header: &impl Serialize, pages: &[&Page]) -> Result<Vec<u8>> {
    let json = serde_json::to_vec(header).map_err(|e| Error::Internal(e.to_string()))?;
    let size: usize = pages.iter().map(|p| 4 + p.data.len()).sum();
    let mut out = Vec::with_capacity(4 + json.len() + size);
    out.extend_from_slice(&(json.len() as u32).to_le_bytes());
    out.extend_from_slice(&json);
    for p in pages {
        out.extend_from_slice(&p.number.to_le_bytes());
        out.extend_from_slice(&p.data);
    }
    Ok(out)
}

/// Splits a payload into its header and `count` page records of `page_size` bytes.
fn decode<'a, T: for<'de> Deserialize<'de>>(key: &str, payload: &'a [u8]) -> Result<(T, &'a [u8])> {
    let len = payload
        .get(..4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .ok_or_else(|| Error::corrupt(key, "payload too short"))?;
    let json = payload
        .get(4..4 + len)
        .ok_or_else(|| Error::corrupt(key, "header runs past the payload"))?;
    let header =
        serde_json::from_slice(json).map_err(|e| Error::corrupt(key, format!("header: {e}")))?;
    Ok((header, &payload[4 + len..]))
}

fn read_pages(key: &str, mut records: &[u8], count: usize, page_size: u32) -> Result<Vec<Page>> {
    let ps = page_size as usize;
    if !(512..=65536).contains(&ps) || !ps.is_power_of_two() {
        return Err(Error::corrupt(key, format!("page size {ps}")));
    }
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let rec = records
            .get(..4 + ps)
            .ok_or_else(|| Error::corrupt(key, "page records end early"))?;
        let number = u32::from_le_bytes([rec[0], rec[1], rec[2], rec[3]]);
        if number == 0 {
            return Err(Error::corrupt(key, "page number 0"));
        }
        out.push(Page {
            number,
            data: Bytes::copy_from_slice(&rec[4..]),
        });
        records = &records[4 + ps..];
    }
    if !records.is_empty() {
        return Err(Error::corrupt(key, "bytes after the last page record"));
    }
    Ok(out)
}

/// Reads a `wal/` object and checks it against the id that ends its name, reading it
/// again (as every object named by its hash) while a copy fails the check.
async fn read_wal_named(repo: &Repository, key: &str) -> Result<Bytes> {
    let id: Id = key
        .rsplit('-')
        .next()
        .unwrap_or_default()
        .parse()
        .map_err(|_| Error::corrupt(key, "name does not end with an id"))?;
    let mut last = None;
    for _ in 0..=crate::repository::REREADS {
        let b = repo.read(key).await?;
        let got = Id::hash(&b);
        if got == id {
            return Ok(b);
        }
        last = Some(got);
    }
    Err(Error::corrupt(
        key,
        format!(
            "content does not match its name (hashes to {})",
            last.map(|h| h.to_hex()).unwrap_or_default()
        ),
    ))
}

async fn store_sealed(repo: &Repository, ad: &[u8], payload: &[u8]) -> Result<(Vec<u8>, Id)> {
    let sealed = repo.keys().seal(ad, payload, 3)?;
    let id = Id::hash(&sealed);
    Ok((sealed, id))
}

/// Seals and stores a segment; returns its key and stored size. An empty segment is
/// refused: a segment always holds at least one transaction.
pub async fn write_segment(repo: &Repository, seg: &Segment) -> Result<(String, u64)> {
    if seg.txns.is_empty() {
        return Err(Error::Internal("an empty segment".into()));
    }
    if seg.txns.windows(2).any(|w| w[1].txid != w[0].txid + 1) {
        return Err(Error::Internal(
            "a segment's txids must be contiguous".into(),
        ));
    }
    let header = SegmentHeader {
        lineage: seg.lineage,
        level: seg.level,
        first: seg.first(),
        last: seg.last(),
        page_size: seg.page_size,
        txns: seg
            .txns
            .iter()
            .map(|t| TxnHeader {
                txid: t.txid,
                time: t.time,
                db_pages: t.db_pages,
                pages: t.pages.len() as u32,
            })
            .collect(),
    };
    let pages: Vec<&Page> = seg.txns.iter().flat_map(|t| &t.pages).collect();
    let payload = encode(&header, &pages)?;
    let (sealed, id) = store_sealed(repo, AD_SEGMENT, &payload).await?;
    let key = segment_key(seg, &id);
    let size = sealed.len() as u64;
    repo.store().write(&key, Bytes::from(sealed)).await?;
    Ok((key, size))
}

/// Reads, checks and opens the segment stored under `key`.
pub async fn read_segment(repo: &Repository, key: &str) -> Result<Segment> {
    let Some(WalKey::Segment {
        lineage,
        level,
        first,
        last,
        time,
    }) = WalKey::parse(key)
    else {
        return Err(Error::corrupt(key, "not a segment name"));
    };
    let sealed = read_wal_named(repo, key).await?;
    let payload = repo.keys().open(key, AD_SEGMENT, &sealed, 0)?;
    let (h, records): (SegmentHeader, _) = decode(key, &payload)?;
    if h.lineage != lineage || h.level != level || h.first != first || h.last != last {
        return Err(Error::corrupt(
            key,
            "its content names another lineage, level or range",
        ));
    }
    let count: usize = h.txns.iter().map(|t| t.pages as usize).sum();
    let mut pages = read_pages(key, records, count, h.page_size)?.into_iter();
    let mut txns = Vec::with_capacity(h.txns.len());
    for (want, t) in (first..).zip(h.txns) {
        if t.txid != want {
            return Err(Error::corrupt(key, "transactions are not contiguous"));
        }
        txns.push(Txn {
            txid: t.txid,
            time: t.time,
            db_pages: t.db_pages,
            pages: pages.by_ref().take(t.pages as usize).collect(),
        });
    }
    let seg = Segment {
        lineage,
        level,
        page_size: h.page_size,
        txns,
    };
    if seg.last() != last || seg.time().timestamp_millis() != time.timestamp_millis() {
        return Err(Error::corrupt(
            key,
            "its content ends at another txid or time",
        ));
    }
    Ok(seg)
}

/// Seals and stores base part `part` of `lineage`; returns its id.
pub async fn write_base_part(
    repo: &Repository,
    lineage: &Id,
    part: u32,
    pages: &[Page],
) -> Result<Id> {
    let header = BaseHeader {
        lineage: *lineage,
        part,
        pages: pages.len() as u32,
    };
    let refs: Vec<&Page> = pages.iter().collect();
    let payload = encode(&header, &refs)?;
    let (sealed, id) = store_sealed(repo, AD_BASE, &payload).await?;
    repo.store()
        .write(&base_key(lineage, part, &id), Bytes::from(sealed))
        .await?;
    Ok(id)
}

/// Reads, checks and opens base part `part` (object `id`) of the lineage of `head`.
pub async fn read_base_part(repo: &Repository, head: &Head, part: u32) -> Result<Vec<Page>> {
    let id = head
        .parts
        .get(part as usize)
        .ok_or_else(|| Error::not_found(format!("base part {part} of lineage {}", head.lineage)))?;
    let key = base_key(&head.lineage, part, id);
    let sealed = read_wal_named(repo, &key).await?;
    let payload = repo.keys().open(&key, AD_BASE, &sealed, 0)?;
    let (h, records): (BaseHeader, _) = decode(&key, &payload)?;
    if h.lineage != head.lineage || h.part != part {
        return Err(Error::corrupt(
            &key,
            "its content names another lineage or part",
        ));
    }
    read_pages(&key, records, h.pages as usize, head.page_size)
}

/// Seals and stores a lineage head (the lineage's commit); returns its key.
pub async fn write_head(repo: &Repository, head: &Head) -> Result<String> {
    let payload = encode(head, &[])?;
    let (sealed, id) = store_sealed(repo, AD_HEAD, &payload).await?;
    let key = head_key(&head.lineage, &id);
    repo.store().write(&key, Bytes::from(sealed)).await?;
    Ok(key)
}

/// Reads, checks and opens the head stored under `key`.
pub async fn read_head(repo: &Repository, key: &str) -> Result<Head> {
    let Some(WalKey::Head { lineage }) = WalKey::parse(key) else {
        return Err(Error::corrupt(key, "not a head name"));
    };
    let sealed = read_wal_named(repo, key).await?;
    let payload = repo.keys().open(key, AD_HEAD, &sealed, 0)?;
    let (head, rest): (Head, _) = decode(key, &payload)?;
    if !rest.is_empty() || head.lineage != lineage {
        return Err(Error::corrupt(key, "its content names another lineage"));
    }
    Ok(head)
}

/// A new random lineage id.
pub fn new_lineage() -> Result<Id> {
    let mut b = [0u8; 32];
    crate::crypto::random_bytes(&mut b)?;
    Ok(Id(b))
}

#[cfg(test)]
mod tests;
