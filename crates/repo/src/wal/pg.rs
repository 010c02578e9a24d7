//! Postgres WAL in the repository (docs/FORMAT.md, "Postgres WAL segments"): one
//! lineage per timeline of a cluster, its id derived from the cluster's
//! `system_identifier` and the timeline, holding segment files (as level-0 segment
//! objects whose range is the segment number), other files (history, backup labels,
//! partial segments), gap records and base marks.
//!
//! Invariants:
//! - a Postgres lineage's head is written before its first object ([`ensure_head`]), and
//!   names the cluster, so prune tells Postgres lineages from SQLite ones by the head;
//! - every object is checked against the id in its name and its authenticated header
//!   repeats the lineage, range and Postgres file name of its key;
//! - prune deletes only what lies before the oldest kept base of a cluster
//!   ([`pg_doomed`]): a kept base keeps the WAL it needs to reach the next kept one.

use std::collections::BTreeMap;

use bytes::Bytes;
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use futures::{StreamExt, TryStreamExt};
use holdfast_store::ListOptions;
use serde::{Deserialize, Serialize};

use super::{AD_SEGMENT, Head, Reason, read_head, read_wal_named, store_sealed};
use crate::error::{Error, Result};
use crate::id::Id;
use crate::repository::Repository;

/// Associated data of a base mark.
pub const AD_BASE_MARK: &[u8] = b"holdfast:wal-pg-base";
/// Associated data of a gap record.
pub const AD_GAP: &[u8] = b"holdfast:wal-pg-gap";

/// The cluster and timeline a Postgres lineage holds (recorded in its head).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PgSource {
    /// The cluster's `system_identifier` (decimal in JSON: it passes 2^53).
    #[serde(with = "decimal")]
    pub system_identifier: u64,
    /// The timeline.
    pub timeline: u32,
    /// `wal_segment_size` in bytes (16 MiB by default).
    pub segment_size: u32,
}

mod decimal {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl PgSource {
    /// Segments per `XXXXXXXX` step of a segment file name.
    fn per_xlogid(&self) -> u64 {
        0x1_0000_0000u64 / u64::from(self.segment_size.max(1))
    }

    /// The segment file name of `segno` on this timeline.
    pub fn segment_name(&self, segno: u64) -> String {
        let per = self.per_xlogid();
        format!(
            "{:08X}{:08X}{:08X}",
            self.timeline,
            segno / per,
            segno % per
        )
    }

    /// The segment number of a segment file name on any timeline (`None` for another
    /// kind of file).
    pub fn segno_of(&self, name: &str) -> Option<u64> {
        let (_, log, seg) = parse_segment_name(name)?;
        Some(u64::from(log) * self.per_xlogid() + u64::from(seg))
    }

    /// The segment number holding `lsn`.
    pub fn segno_of_lsn(&self, lsn: u64) -> u64 {
        lsn / u64::from(self.segment_size.max(1))
    }

    /// The same cluster on another timeline.
    pub fn on_timeline(&self, timeline: u32) -> PgSource {
        PgSource { timeline, ..*self }
    }
}

/// Splits `TTTTTTTTXXXXXXXXYYYYYYYY` into timeline, log and segment.
pub fn parse_segment_name(name: &str) -> Option<(u32, u32, u32)> {
    if name.len() != 24 || !name.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let h = |r: std::ops::Range<usize>| u32::from_str_radix(&name[r], 16).ok();
    Some((h(0..8)?, h(8..16)?, h(16..24)?))
}

/// The timeline a Postgres archive file belongs to (segments, `.history`, `.backup`,
/// `.partial`), or `None` for a name Postgres does not archive.
pub fn timeline_of(name: &str) -> Option<u32> {
    let ok = name
        .bytes()
        .all(|b| b.is_ascii_hexdigit() || b == b'.' || b.is_ascii_lowercase());
    if !ok || name.len() < 8 || name.contains('/') || name.contains('-') {
        return None;
    }
    let head = &name[..8];
    if !head.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let tli = u32::from_str_radix(head, 16).ok()?;
    let rest = &name[8..];
    let segment_like = rest.len() >= 16 && rest[..16].bytes().all(|b| b.is_ascii_hexdigit());
    match rest {
        ".history" => Some(tli),
        _ if segment_like && rest.len() == 16 => Some(tli),
        _ if segment_like && rest.ends_with(".partial") && rest.len() == 24 => Some(tli),
        _ if segment_like && rest.ends_with(".backup") => Some(tli),
        _ => None,
    }
}

/// The lineage id of one timeline of one cluster (keyed, so it says nothing about it).
pub fn lineage_id(repo: &Repository, system_identifier: u64, timeline: u32) -> Id {
    let mut input = b"holdfast postgres lineage\0".to_vec();
    input.extend_from_slice(&system_identifier.to_le_bytes());
    input.extend_from_slice(&timeline.to_le_bytes());
    repo.keys().blob_id(&input)
}

#[derive(Serialize, Deserialize)]
struct FileHeader {
    lineage: Id,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    level: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    first: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last: Option<u64>,
    postgres: FileSource,
}

#[derive(Serialize, Deserialize)]
struct FileSource {
    #[serde(with = "decimal")]
    system_identifier: u64,
    timeline: u32,
    name: String,
    size: u64,
}

/// What identifies the head of a Postgres lineage.
#[derive(Clone, Debug)]
pub struct PgOwner {
    /// The volume the cluster's data lives in, when configured.
    pub volume: Option<String>,
    /// The database's name in holdfast.toml.
    pub database: String,
    /// This host.
    pub hostname: String,
}

/// Writes the head of the lineage of `src` unless one exists (several equivalent heads
/// are harmless). Called before the lineage's first object.
pub async fn ensure_head(repo: &Repository, src: &PgSource, owner: &PgOwner) -> Result<Id> {
    let lineage = lineage_id(repo, src.system_identifier, src.timeline);
    let prefix = format!("wal/{lineage}/h-");
    let opts = ListOptions {
        recursive: false,
        filter: None,
    };
    let existing: Vec<holdfast_store::ObjectMeta> = repo
        .store()
        .list(&format!("wal/{lineage}/"), opts)
        .try_collect()
        .await?;
    if existing.iter().any(|m| m.key.starts_with(&prefix)) {
        return Ok(lineage);
    }
    let head = Head {
        version: 1,
        lineage,
        database: owner.database.clone(),
        volume: owner.volume.clone(),
        hostname: owner.hostname.clone(),
        time: Utc::now(),
        page_size: 0,
        parts: Vec::new(),
        pages: 0,
        consistent: 0,
        reason: Reason::Start,
        previous: None,
        postgres: Some(*src),
    };
    super::write_head(repo, &head).await?;
    Ok(lineage)
}

/// Seals and stores one archived file (a segment, history, backup label or partial
/// segment) of the lineage of `src` (whose head must exist); returns its key and size.
pub async fn write_file(
    repo: &Repository,
    src: &PgSource,
    name: &str,
    bytes: &[u8],
    time: DateTime<Utc>,
) -> Result<(String, u64)> {
    let lineage = lineage_id(repo, src.system_identifier, src.timeline);
    let segno = src.segno_of(name);
    let header = FileHeader {
        lineage,
        level: segno.map(|_| 0),
        first: segno,
        last: segno,
        postgres: FileSource {
            system_identifier: src.system_identifier,
            timeline: src.timeline,
            name: name.to_string(),
            size: bytes.len() as u64,
        },
    };
    let payload = encode_raw(&header, bytes)?;
    let (sealed, id) = store_sealed(repo, AD_SEGMENT, &payload).await?;
    let key = match segno {
        Some(n) => format!(
            "wal/{lineage}/0-{n:016x}-{n:016x}-{:012x}-{id}",
            time.timestamp_millis().max(0)
        ),
        None => format!("wal/{lineage}/x-{name}-{id}"),
    };
    let size = sealed.len() as u64;
    repo.store().write(&key, Bytes::from(sealed)).await?;
    Ok((key, size))
}

fn encode_raw(header: &impl Serialize, body: &[u8]) -> Result<Vec<u8>> {
    let json = serde_json::to_vec(header).map_err(|e| Error::Internal(e.to_string()))?;
    let mut out = Vec::with_capacity(4 + json.len() + body.len());
    out.extend_from_slice(&(json.len() as u32).to_le_bytes());
    out.extend_from_slice(&json);
    out.extend_from_slice(body);
    Ok(out)
}

fn decode_raw<'a, T: for<'de> Deserialize<'de>>(
    key: &str,
    payload: &'a [u8],
) -> Result<(T, &'a [u8])> {
    super::decode(key, payload)
}

/// Reads, checks and opens the archived file stored under `key`, which must be the file
/// `name`; returns its bytes.
pub async fn read_file(repo: &Repository, key: &str, name: &str) -> Result<Bytes> {
    let sealed = read_wal_named(repo, key).await?;
    let payload = repo.keys().open(key, AD_SEGMENT, &sealed, 0)?;
    let (h, body): (FileHeader, _) = decode_raw(key, &payload)?;
    let lineage = lineage_id(repo, h.postgres.system_identifier, h.postgres.timeline);
    let in_key = key.starts_with(&format!("wal/{}/", h.lineage));
    if h.lineage != lineage || !in_key || h.postgres.name != name {
        return Err(Error::corrupt(
            key,
            "its content names another cluster, timeline or file",
        ));
    }
    if body.len() as u64 != h.postgres.size {
        return Err(Error::corrupt(key, "its size differs from its header"));
    }
    Ok(Bytes::copy_from_slice(body))
}

/// A gap: segments `first..=last` of a lineage were dropped unarchived.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gap {
    /// The lineage.
    pub lineage: Id,
    /// First segment number dropped.
    pub first: u64,
    /// Last segment number dropped.
    pub last: u64,
    /// When the drop happened.
    pub time: DateTime<Utc>,
    /// Why (`spool_full`).
    pub reason: String,
}

/// Records a gap in the lineage of `src`; returns its key.
pub async fn write_gap(repo: &Repository, src: &PgSource, gap: &Gap) -> Result<String> {
    let lineage = lineage_id(repo, src.system_identifier, src.timeline);
    if gap.lineage != lineage {
        return Err(Error::Internal("a gap of another lineage".into()));
    }
    let payload = encode_raw(gap, &[])?;
    let (sealed, id) = store_sealed(repo, AD_GAP, &payload).await?;
    let key = format!("wal/{lineage}/g-{:016x}-{:016x}-{id}", gap.first, gap.last);
    repo.store().write(&key, Bytes::from(sealed)).await?;
    Ok(key)
}

/// A base backup held by a snapshot: where its WAL starts and when it became
/// consistent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BaseMark {
    /// The lineage of its start timeline.
    pub lineage: Id,
    /// The snapshot holding the base.
    pub snapshot: Id,
    /// The snapshot's volume.
    pub volume: Option<String>,
    /// The database's name.
    pub database: String,
    /// The segment holding the start LSN.
    pub start: u64,
    /// The segment holding the stop LSN.
    pub stop: u64,
    /// The start LSN (`X/Y`).
    pub start_lsn: String,
    /// The stop LSN.
    pub stop_lsn: String,
    /// When the base became consistent (a restore reaches no earlier point with it).
    pub time: DateTime<Utc>,
}

/// Writes the mark of a base backup (after its snapshot is committed).
pub async fn write_base_mark(repo: &Repository, mark: &BaseMark) -> Result<String> {
    let payload = encode_raw(mark, &[])?;
    let (sealed, id) = store_sealed(repo, AD_BASE_MARK, &payload).await?;
    let key = format!(
        "wal/{}/k-{:016x}-{:012x}-{id}",
        mark.lineage,
        mark.start,
        mark.time.timestamp_millis().max(0)
    );
    repo.store().write(&key, Bytes::from(sealed)).await?;
    Ok(key)
}

async fn read_small<T: for<'de> Deserialize<'de>>(
    repo: &Repository,
    key: &str,
    ad: &[u8],
) -> Result<T> {
    let sealed = read_wal_named(repo, key).await?;
    let payload = repo.keys().open(key, ad, &sealed, 0)?;
    let (v, _): (T, _) = decode_raw(key, &payload)?;
    Ok(v)
}

/// A stored segment file of a Postgres lineage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PgSegmentRef {
    /// Its key.
    pub key: String,
    /// Its segment number.
    pub segno: u64,
    /// When it was archived.
    pub time: DateTime<Utc>,
    /// When the store wrote it.
    pub written: Option<DateTime<Utc>>,
}

/// One Postgres lineage as listed.
#[derive(Clone, Debug)]
pub struct PgLineage {
    /// The lineage id.
    pub id: Id,
    /// Its head key and the cluster it names.
    pub head: Option<(String, Head)>,
    /// Segments by segment number (a segment archived twice appears twice).
    pub segments: Vec<PgSegmentRef>,
    /// Other files: (Postgres name, key, written).
    pub files: Vec<(String, String, Option<DateTime<Utc>>)>,
    /// Gap records: (key, gap).
    pub gaps: Vec<(String, Gap)>,
    /// Base marks: (key, mark, written).
    pub bases: Vec<(String, BaseMark, Option<DateTime<Utc>>)>,
}

impl PgLineage {
    /// The cluster and timeline, from the head.
    pub fn source(&self) -> Option<PgSource> {
        self.head.as_ref().and_then(|(_, h)| h.postgres)
    }
}

/// A gap record or base mark read while listing: (is a gap, key, when written, payload).
type SmallObject = (bool, String, Option<DateTime<Utc>>, Vec<u8>);

/// Every Postgres lineage (those whose head names a cluster), with their objects.
pub async fn pg_lineages(repo: &Repository) -> Result<Vec<PgLineage>> {
    let opts = ListOptions {
        recursive: true,
        filter: None,
    };
    let metas: Vec<holdfast_store::ObjectMeta> =
        repo.store().list("wal/", opts).try_collect().await?;
    let mut by_id: BTreeMap<Id, Vec<holdfast_store::ObjectMeta>> = BTreeMap::new();
    for m in metas {
        let Some((lin, _)) = m.key.strip_prefix("wal/").and_then(|r| r.split_once('/')) else {
            continue;
        };
        if let Ok(id) = lin.parse::<Id>() {
            by_id.entry(id).or_default().push(m);
        }
    }
    let mut out = Vec::new();
    for (id, objs) in by_id {
        let Some(hk) = objs
            .iter()
            .map(|m| m.key.clone())
            .find(|k| name_of(k).starts_with("h-"))
        else {
            continue;
        };
        let head = read_head(repo, &hk).await?;
        if head.postgres.is_none() {
            continue;
        }
        let mut l = PgLineage {
            id,
            head: Some((hk, head)),
            segments: Vec::new(),
            files: Vec::new(),
            gaps: Vec::new(),
            bases: Vec::new(),
        };
        let mut smalls = Vec::new();
        for m in objs {
            let name = name_of(&m.key).to_string();
            let fields: Vec<&str> = name.split('-').collect();
            match fields.as_slice() {
                ["0", first, _, ms, _] => {
                    let (Ok(segno), Ok(ms)) =
                        (u64::from_str_radix(first, 16), i64::from_str_radix(ms, 16))
                    else {
                        continue;
                    };
                    let time = Utc.timestamp_millis_opt(ms).single().unwrap_or_default();
                    l.segments.push(PgSegmentRef {
                        key: m.key.clone(),
                        segno,
                        time,
                        written: m.modified,
                    });
                }
                ["x", file, _] => l.files.push((file.to_string(), m.key.clone(), m.modified)),
                ["g", ..] | ["k", ..] => smalls.push((fields[0] == "g", m.key.clone(), m.modified)),
                _ => {}
            }
        }
        let read: Vec<Result<SmallObject>> = futures::stream::iter(smalls)
            .map(|(gap, key, written)| async move {
                let ad = if gap { AD_GAP } else { AD_BASE_MARK };
                let sealed = read_wal_named(repo, &key).await?;
                let payload = repo.keys().open(&key, ad, &sealed, 0)?;
                Ok((gap, key, written, payload.to_vec()))
            })
            .buffer_unordered(16)
            .collect()
            .await;
        for r in read {
            let (gap, key, written, payload) = r?;
            if gap {
                let (g, _): (Gap, _) = decode_raw(&key, &payload)?;
                check_lineage(&key, &g.lineage, &id)?;
                l.gaps.push((key, g));
            } else {
                let (b, _): (BaseMark, _) = decode_raw(&key, &payload)?;
                check_lineage(&key, &b.lineage, &id)?;
                l.bases.push((key, b, written));
            }
        }
        l.segments.sort_by_key(|s| (s.segno, s.time));
        l.bases.sort_by_key(|(_, b, _)| b.time);
        out.push(l);
    }
    Ok(out)
}

fn check_lineage(key: &str, got: &Id, want: &Id) -> Result<()> {
    if got == want {
        Ok(())
    } else {
        Err(Error::corrupt(key, "its content names another lineage"))
    }
}

fn name_of(key: &str) -> &str {
    key.rsplit('/').next().unwrap_or(key)
}

/// Finds the key of archived file `name` of the cluster `system_identifier` (the
/// newest copy when archived twice), listing only its timeline's lineage.
pub async fn find_file(
    repo: &Repository,
    system_identifier: u64,
    segment_size: u32,
    name: &str,
) -> Result<Option<String>> {
    let Some(tli) = timeline_of(name) else {
        return Ok(None);
    };
    let src = PgSource {
        system_identifier,
        timeline: tli,
        segment_size,
    };
    let lineage = lineage_id(repo, system_identifier, tli);
    let prefix = match src.segno_of(name) {
        Some(n) => format!("wal/{lineage}/0-{n:016x}-{n:016x}-"),
        None => format!("wal/{lineage}/x-{name}-"),
    };
    let opts = ListOptions {
        recursive: false,
        filter: None,
    };
    let metas: Vec<holdfast_store::ObjectMeta> = repo
        .store()
        .list(&format!("wal/{lineage}/"), opts)
        .try_collect()
        .await?;
    Ok(metas
        .into_iter()
        .filter(|m| m.key.starts_with(&prefix))
        .max_by_key(|m| m.key.clone())
        .map(|m| m.key))
}

/// Reads and checks the head stored under `key` of a Postgres lineage.
pub async fn read_pg_head(repo: &Repository, key: &str) -> Result<Head> {
    let h = read_head(repo, key).await?;
    if h.postgres.is_none() {
        return Err(Error::corrupt(key, "not the head of a Postgres lineage"));
    }
    Ok(h)
}

/// Reads a gap record (for tests and status).
pub async fn read_gap(repo: &Repository, key: &str) -> Result<Gap> {
    read_small(repo, key, AD_GAP).await
}

/// The keys prune deletes of Postgres lineages, in order (segments, gaps, files, then
/// base marks), given the snapshots kept and the store's now: per cluster, everything
/// before the start of its oldest kept base; nothing of a cluster without a kept base;
/// nothing younger than `grace`. See the module doc.
pub fn pg_doomed(
    all: &[PgLineage],
    kept_snapshots: &[Id],
    now: DateTime<Utc>,
    grace: TimeDelta,
) -> Vec<String> {
    let young = |w: &Option<DateTime<Utc>>| w.is_none_or(|w| w > now - grace);
    let mut oldest: BTreeMap<u64, u64> = BTreeMap::new();
    for l in all {
        let Some(src) = l.source() else { continue };
        for (_, b, _) in &l.bases {
            if kept_snapshots.contains(&b.snapshot) {
                let e = oldest.entry(src.system_identifier).or_insert(b.start);
                *e = (*e).min(b.start);
            }
        }
    }
    let (mut segs, mut gaps, mut marks) = (Vec::new(), Vec::new(), Vec::new());
    for l in all {
        let Some(src) = l.source() else { continue };
        let Some(&start) = oldest.get(&src.system_identifier) else {
            continue;
        };
        for s in &l.segments {
            if s.segno < start && !young(&s.written) {
                segs.push(s.key.clone());
            }
        }
        for (k, g) in &l.gaps {
            if g.last < start && g.time < now - grace {
                gaps.push(k.clone());
            }
        }
        for (k, b, w) in &l.bases {
            if b.start < start && !young(w) && !kept_snapshots.contains(&b.snapshot) {
                marks.push(k.clone());
            }
        }
    }
    segs.extend(gaps);
    segs.extend(marks);
    segs
}

#[cfg(test)]
mod tests;
