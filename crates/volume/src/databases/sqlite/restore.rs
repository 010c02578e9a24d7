//! Point-in-time restore of a replicated SQLite database: a lineage's base, then its
//! segments in order, up to the newest transaction or the last one read at or before a
//! time (docs/FORMAT.md, "SQLite WAL segments").
//!
//! Guarantees: the chain is checked before a byte is written (a hole is refused with the
//! lineage and the missing transactions named, [`holdfast_repo::Error::ChainGap`]:
//! never a silently older database); the result is written beside the target, fsynced,
//! checked with `PRAGMA integrity_check` and only then renamed over the target path, so
//! a failed restore leaves no half database at the target.

use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use holdfast_repo::wal::{self, Plan, Target};
use holdfast_repo::{Id, Repository};

use super::integrity_check;
use crate::databases::DatabaseError;

/// What [`restore_to_time`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PointRestore {
    /// The file written.
    pub path: PathBuf,
    /// The lineage it came from.
    pub lineage: Id,
    /// The last transaction replayed.
    pub txid: u64,
    /// When that transaction was read from the live WAL (the point reached; the base's
    /// time when no transaction was replayed).
    pub reached: DateTime<Utc>,
    /// Segments read.
    pub segments: usize,
    /// Base parts read.
    pub parts: usize,
}

fn err(path: &Path, e: impl std::fmt::Display) -> DatabaseError {
    DatabaseError::Sqlite {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

fn io(path: &Path, e: std::io::Error) -> DatabaseError {
    DatabaseError::Io {
        path: path.to_path_buf(),
        source: e,
    }
}

/// Plans a restore of `database` (its name: its path in the volume) to `target`
/// without reading more than the listing and the heads: for `--dry-run`.
pub async fn plan_restore(
    repo: &Repository,
    database: &str,
    target: Target,
) -> Result<Plan, holdfast_repo::Error> {
    let all = wal::lineages(repo).await?;
    wal::plan(&all, database, target)
}

/// Restores `database` as of `target` to the file `dest` (which must not exist; its
/// directory must). Refuses a chain with a hole, runs `PRAGMA integrity_check`.
pub async fn restore_to_time(
    repo: &Repository,
    database: &str,
    target: Target,
    dest: &Path,
) -> Result<PointRestore, DatabaseError> {
    if dest.exists() {
        return Err(err(dest, "exists already: restore writes a new file"));
    }
    let plan = plan_restore(repo, database, target)
        .await
        .map_err(|e| err(Path::new(database), e))?;
    let mut tmp_name = dest.as_os_str().to_owned();
    tmp_name.push(".holdfast-restore");
    let tmp = PathBuf::from(tmp_name);
    let r = replay(repo, &plan, &tmp).await;
    let done = match r {
        Ok(done) => done,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    let problems = integrity_check(&tmp)?;
    for side in crate::sqlite::sidecars(&tmp) {
        let _ = std::fs::remove_file(side);
    }
    if !problems.is_empty() {
        let _ = std::fs::remove_file(&tmp);
        return Err(err(
            Path::new(database),
            format!(
                "integrity_check failed after the replay: {}",
                problems.join("; ")
            ),
        ));
    }
    std::fs::rename(&tmp, dest).map_err(|e| io(dest, e))?;
    if let Some(dir) = dest.parent()
        && let Ok(d) = std::fs::File::open(dir)
    {
        let _ = d.sync_all();
    }
    Ok(PointRestore {
        path: dest.to_path_buf(),
        ..done
    })
}

async fn replay(repo: &Repository, plan: &Plan, tmp: &Path) -> Result<PointRestore, DatabaseError> {
    let head = &plan.head;
    let ps = u64::from(head.page_size);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(tmp)
        .map_err(|e| io(tmp, e))?;
    let rerr = |e: holdfast_repo::Error| err(Path::new(&head.database), e);
    let write = |f: &mut std::fs::File, n: u32, data: &[u8]| -> Result<(), DatabaseError> {
        f.seek(SeekFrom::Start((u64::from(n) - 1) * ps))
            .map_err(|e| io(tmp, e))?;
        f.write_all(data).map_err(|e| io(tmp, e))
    };
    for part in 0..head.parts.len() {
        let pages = wal::read_base_part(repo, head, part as u32)
            .await
            .map_err(rerr)?;
        for p in pages {
            write(&mut f, p.number, &p.data)?;
        }
    }
    let mut size = Some(head.pages);
    let mut txid = 0;
    let mut reached = head.time;
    let mut read = 0;
    let whole = plan.segments.iter().map(|s| (s, None));
    let partial = plan.partial.iter().map(|s| (s, plan.until));
    for (s, until) in whole.chain(partial) {
        let seg = wal::read_segment(repo, &s.key).await.map_err(rerr)?;
        read += 1;
        for t in &seg.txns {
            if until.is_some_and(|u| t.time > u) {
                break;
            }
            for p in &t.pages {
                write(&mut f, p.number, &p.data)?;
            }
            size = Some(u64::from(t.db_pages));
            txid = t.txid;
            reached = t.time;
        }
    }
    if let Some(pages) = size {
        f.set_len(pages * ps).map_err(|e| io(tmp, e))?;
    }
    f.sync_all().map_err(|e| io(tmp, e))?;
    Ok(PointRestore {
        path: tmp.to_path_buf(),
        lineage: head.lineage,
        txid,
        reached,
        segments: read,
        parts: head.parts.len(),
    })
}
