//! The uploader: sends the spool's files to the repository and `pg fetch` brings them
//! back (docs/FORMAT.md, "Postgres WAL segments").
//!
//! - Files are sent in parallel (`parallel` at a time) and each is deleted from the spool
//!   only after the store acknowledged its write (the store writes atomically and
//!   durably): a crash in between sends it again, which stores an equivalent copy.
//! - A lineage's head is written before its first file ([`ensure_head`]).
//! - Drops the spool recorded become gap records in the repository before anything
//!   else, and only then are their `gap-` files deleted from the spool; a pass that recorded one tells
//!   its caller, which asks for a new base backup.
//! - A failed file stays in the spool; the pass goes on with the others and reports the
//!   first error.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use holdfast_repo::Repository;
use holdfast_repo::wal::pg::{
    Gap, PgOwner, PgSource, ensure_head, find_file, lineage_id, read_file, write_file, write_gap,
};

use super::archive::{DroppedFile, Spool, WalArchiveError, segment_header, system_identifier};

/// What one [`upload_pass`] did.
#[derive(Clone, Debug, Default)]
pub struct UploadReport {
    /// Files sent (and removed from the spool).
    pub uploaded: usize,
    /// Their bytes.
    pub bytes: u64,
    /// The newest archive time among them.
    pub newest: Option<DateTime<Utc>>,
    /// Gap records written to the repository in this pass.
    pub gaps: Vec<Gap>,
    /// The first file that failed, and why (it stays in the spool).
    pub error: Option<String>,
}

fn repo_err(what: impl Into<String>) -> impl FnOnce(holdfast_repo::Error) -> WalArchiveError {
    let what = what.into();
    move |source| WalArchiveError::Repo { what, source }
}

/// Groups drops by lineage into runs of consecutive segments.
fn gap_runs(drops: &[DroppedFile]) -> Vec<(PgSource, u64, u64, DateTime<Utc>, String)> {
    let mut by: BTreeMap<(u64, u32), Vec<&DroppedFile>> = BTreeMap::new();
    for d in drops {
        let Ok(sysid) = d.system_identifier.parse::<u64>() else {
            continue;
        };
        by.entry((sysid, d.timeline)).or_default().push(d);
    }
    let mut out = Vec::new();
    for ((sysid, tli), ds) in by {
        let src = PgSource {
            system_identifier: sysid,
            timeline: tli,
            segment_size: ds[0].segment_size,
        };
        let mut segs: Vec<(u64, DateTime<Utc>)> = ds
            .iter()
            .filter_map(|d| d.segno.map(|n| (n, d.time)))
            .collect();
        segs.sort();
        let mut run: Option<(u64, u64, DateTime<Utc>)> = None;
        for (n, t) in segs {
            run = match run {
                Some((f, l, _)) if n <= l + 1 => Some((f, l.max(n), t)),
                Some((f, l, lt)) => {
                    out.push((src, f, l, lt, "spool_full".to_string()));
                    Some((n, n, t))
                }
                None => Some((n, n, t)),
            };
        }
        if let Some((f, l, t)) = run {
            out.push((src, f, l, t, "spool_full".to_string()));
        }
        for d in ds.iter().filter(|d| d.segno.is_none()) {
            out.push((src, 0, 0, d.time, format!("spool_full: {}", d.name)));
        }
    }
    out
}

/// Sends what the spool holds: recorded drops first (as gap records), then every
/// waiting file, `parallel` at a time. See the module doc.
pub async fn upload_pass(
    repo: &Repository,
    spool: &Spool,
    owner: &PgOwner,
    parallel: usize,
) -> Result<UploadReport, WalArchiveError> {
    let mut report = UploadReport::default();
    let recorded = spool.drops()?;
    if !recorded.is_empty() {
        let (files, drops): (Vec<_>, Vec<_>) = recorded.into_iter().unzip();
        for (src, first, last, time, reason) in gap_runs(&drops) {
            ensure_head(repo, &src, owner)
                .await
                .map_err(repo_err("writing a Postgres lineage head"))?;
            let gap = Gap {
                lineage: lineage_id(repo, src.system_identifier, src.timeline),
                first,
                last,
                time,
                reason,
            };
            write_gap(repo, &src, &gap)
                .await
                .map_err(repo_err("recording a gap in the Postgres WAL"))?;
            report.gaps.push(gap);
        }
        spool.clear_drops(&files)?;
    }
    let waiting = spool.waiting()?;
    let mut sources: Vec<PgSource> = waiting.iter().map(|s| s.source).collect();
    sources.sort_by_key(|s| (s.system_identifier, s.timeline));
    sources.dedup();
    for src in &sources {
        ensure_head(repo, src, owner)
            .await
            .map_err(repo_err("writing a Postgres lineage head"))?;
    }
    let results: Vec<Result<(u64, DateTime<Utc>), WalArchiveError>> =
        futures::stream::iter(waiting)
            .map(|s| async move {
                let bytes = tokio::fs::read(&s.path)
                    .await
                    .map_err(|e| WalArchiveError::Io {
                        path: s.path.clone(),
                        source: e,
                    })?;
                write_file(repo, &s.source, &s.name, &bytes, s.time)
                    .await
                    .map_err(repo_err(format!("archiving {}", s.name)))?;
                tokio::fs::remove_file(&s.path)
                    .await
                    .map_err(|e| WalArchiveError::Io {
                        path: s.path.clone(),
                        source: e,
                    })?;
                Ok((s.size, s.time))
            })
            .buffer_unordered(parallel.max(1))
            .collect()
            .await;
    for r in results {
        match r {
            Ok((size, time)) => {
                report.uploaded += 1;
                report.bytes += size;
                report.newest = report.newest.max(Some(time));
            }
            Err(e) if report.error.is_none() => report.error = Some(e.to_string()),
            Err(_) => {}
        }
    }
    Ok(report)
}

/// Where [`fetch`] found a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FetchedFrom {
    /// The spool (not uploaded yet).
    Spool,
    /// The repository.
    Repository,
}

/// `restore_command = 'holdfast pg fetch %f %p'`: writes file `name` of the cluster whose
/// data directory is `data_dir` to `dest` (relative to `data_dir`), from the spool when
/// it is still there, else from the repository (checked against its name and header).
/// Written to a temp name and renamed, so Postgres never reads half a file.
pub async fn fetch(
    repo: Option<&Repository>,
    spool: Option<&Spool>,
    data_dir: &Path,
    name: &str,
    dest: &Path,
) -> Result<FetchedFrom, WalArchiveError> {
    let dest = data_dir.join(dest);
    let tmp = dest.with_extension("holdfast-fetch");
    let write = |bytes: &[u8]| -> Result<(), WalArchiveError> {
        std::fs::write(&tmp, bytes).map_err(|e| WalArchiveError::Io {
            path: tmp.clone(),
            source: e,
        })?;
        std::fs::rename(&tmp, &dest).map_err(|e| WalArchiveError::Io {
            path: dest.clone(),
            source: e,
        })
    };
    if let Some(spool) = spool
        && let Some(path) = spool.find(name)?
    {
        let bytes = std::fs::read(&path).map_err(|e| WalArchiveError::Io { path, source: e })?;
        write(&bytes)?;
        return Ok(FetchedFrom::Spool);
    }
    let Some(repo) = repo else {
        return Err(WalArchiveError::NotFound { name: name.into() });
    };
    let sysid = system_identifier(data_dir)?;
    let segment_size = 16 << 20;
    let key = find_file(repo, sysid, segment_size, name)
        .await
        .map_err(repo_err(format!("looking for {name}")))?;
    let Some(key) = key else {
        return Err(WalArchiveError::NotFound { name: name.into() });
    };
    let bytes = read_file(repo, &key, name)
        .await
        .map_err(repo_err(format!("reading {name}")))?;
    if let Some((_, s, _)) = segment_header(&bytes)
        && s != sysid
    {
        return Err(WalArchiveError::NotWal {
            path: dest,
            reason: "the stored segment belongs to another cluster".into(),
        });
    }
    write(&bytes)?;
    Ok(FetchedFrom::Repository)
}
