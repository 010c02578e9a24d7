//! Taking a base for one destination (docs/FORMAT.md, "SQLite WAL segments": how a
//! lineage starts): the WAL's current generation up to the cursor as the first segment,
//! the database file's pages in parts sealed and sent as they are read (the pin handed
//! over and the WAL read between parts, so the app's checkpoints go on), what was read
//! meanwhile as the second segment, and the head last. Nothing is staged on the volume
//! and no write lock is taken.

use std::path::Path;
use std::time::{Duration, Instant};

/// The longest wait between base attempts on a store that does not answer.
const MAX_BASE_WAIT: Duration = Duration::from_secs(300);

use chrono::{DateTime, Utc};
use holdfast_repo::Step;
use holdfast_repo::wal::{self, Head, Page, Reason};

use super::{Follower, Live, NO_ANSWER, PollReport, Staged, io_err, repo_err, segment};
use crate::databases::DatabaseError;
use crate::databases::sqlite::wal::{Cursor, read_txns};

impl Follower {
    /// A new lineage for destination `i`: the WAL's current generation up to the cursor
    /// as the first segment, the database file's pages in parts (the pin renewed and the
    /// WAL read between parts), what was read meanwhile, then the head.
    pub(super) async fn base(&mut self, i: usize, now: DateTime<Utc>, report: &mut PollReport) {
        if let Some((until, _)) = self.dests[i].base_wait
            && Instant::now() < until
        {
            return;
        }
        match self.try_base(i, now, report).await {
            Ok(true) => {
                report.bases.push(self.dests[i].dest.name.clone());
                self.dests[i].status.error = None;
                self.dests[i].base_wait = None;
            }
            Ok(false) => {}
            Err(e) => {
                let msg = e.to_string();
                if msg.contains(NO_ANSWER) {
                    let wait = self.dests[i]
                        .base_wait
                        .map_or(self.opts.store_timeout, |(_, w)| w * 2)
                        .min(MAX_BASE_WAIT);
                    self.dests[i].base_wait = Some((Instant::now() + wait, wait));
                }
                self.dests[i].status.error = Some(msg);
            }
        }
    }

    async fn try_base(
        &mut self,
        i: usize,
        now: DateTime<Utc>,
        report: &mut PollReport,
    ) -> Result<bool, DatabaseError> {
        let Some(cursor) = self.cursor else {
            // No WAL yet: the database file alone is the base.
            return self.base_from(i, None, now, report).await;
        };
        self.base_from(i, Some(cursor), now, report).await
    }

    async fn base_from(
        &mut self,
        i: usize,
        cursor: Option<Cursor>,
        now: DateTime<Utc>,
        report: &mut PollReport,
    ) -> Result<bool, DatabaseError> {
        let path = self.path.clone();
        let timeout = self.opts.store_timeout;
        let repo = self.dests[i].dest.repo.clone();
        let lineage = wal::new_lineage().map_err(|e| repo_err(&path, e))?;
        let page_size = match (cursor, self.pins.as_ref()) {
            (Some(c), _) => c.header.page_size,
            (None, Some(p)) => p.page_size()?,
            (None, None) => return Ok(false),
        };
        let acked_at_start = self.next_seq - 1;
        // The generation's frames up to the cursor: the first segment.
        let mut txid = 0;
        if let Some(c) = cursor
            && c.frames > 0
        {
            let txns = read_txns(&self.wal_path, Cursor::start(c.header), c.frames)
                .map_err(|e| io_err(&self.wal_path, e))?;
            if txns.last().map(|t| t.end) != Some(c) {
                // The generation moved under us (the WAL restarted while no pin held it):
                // the cursor names frames that are gone, so start again from the WAL as
                // it is now at the next poll; every destination needs a new base.
                self.pins = None;
                self.cursor = None;
                self.identity = None;
                self.break_all(Reason::Reset, report);
                return Ok(false);
            }
            let staged: Vec<Staged> = txns
                .into_iter()
                .map(|txn| Staged {
                    seq: 0,
                    time: now,
                    txn,
                })
                .collect();
            let refs: Vec<&Staged> = staged.iter().collect();
            let seg = segment(lineage, 1, page_size, &refs);
            txid = seg.last();
            put(timeout, wal::write_segment(&repo, &seg))
                .await
                .map_err(|e| repo_err(&path, e))?;
        }
        // The file's pages, part by part, renewing the pin and reading the WAL between.
        let mut file = std::fs::File::open(&path).map_err(|e| io_err(&path, e))?;
        let size = file.metadata().map_err(|e| io_err(&path, e))?.len();
        let pages = size / page_size as u64;
        let per_part = (self.opts.part_bytes / page_size as u64).max(1);
        let mut parts = Vec::new();
        let mut next = 1u64;
        while next <= pages {
            let n = per_part.min(pages - next + 1);
            let chunk = read_pages(&mut file, &path, next, n, page_size)?;
            let id = put(
                timeout,
                wal::write_base_part(&repo, &lineage, parts.len() as u32, &chunk),
            )
            .await
            .map_err(|e| repo_err(&path, e))?;
            self.opts
                .failpoints
                .hit(Step::WalBaseAfterPart)
                .await
                .map_err(|e| repo_err(&path, e))?;
            parts.push(id);
            next += n;
            if let Some(p) = self.pins.as_mut() {
                p.renew()?;
            }
            if self.read_new(now, report)? {
                return Ok(false); // the WAL restarted under the base: next poll
            }
        }
        // What was read while the parts were sent: after the first segment.
        let during: Vec<&Staged> = self
            .queue
            .iter()
            .filter(|s| s.seq > acked_at_start)
            .collect();
        if !during.is_empty() {
            let seg = segment(lineage, txid + 1, page_size, &during);
            txid = seg.last();
            put(timeout, wal::write_segment(&repo, &seg))
                .await
                .map_err(|e| repo_err(&path, e))?;
        }
        let acked = during.last().map_or(acked_at_start, |s| s.seq);
        // A follower that starts (again, after a crash) records where the newest chain
        // of this database in the repository stopped.
        if self.dests[i].previous.is_none()
            && let Ok(Ok(all)) = tokio::time::timeout(timeout, wal::lineages(&repo)).await
            && let Some(l) = wal::chain::of_database(&all, &self.opts.database).last()
        {
            self.dests[i].previous = Some(wal::Previous {
                lineage: l.id,
                txid: l.last_txid(),
                time: l.last_time(),
            });
        }
        let d = &mut self.dests[i];
        let head = Head {
            version: 1,
            lineage,
            database: self.opts.database.clone(),
            volume: self.opts.volume.clone(),
            hostname: gethostname(),
            time: now,
            page_size,
            parts,
            pages,
            consistent: txid,
            reason: d.need,
            previous: d.previous.clone(),
            postgres: None,
        };
        let failpoints = self.opts.failpoints.clone();
        failpoints
            .hit(Step::WalBaseBeforeHead)
            .await
            .map_err(|e| repo_err(&path, e))?;
        put(timeout, wal::write_head(&repo, &head))
            .await
            .map_err(|e| repo_err(&path, e))?;
        failpoints
            .hit(Step::WalAfterHead)
            .await
            .map_err(|e| repo_err(&path, e))?;
        d.live = Some(Live {
            lineage,
            next_txid: txid + 1,
            written: Vec::new(),
            level0_since_compact: 0,
        });
        d.acked = acked;
        d.status.lineage = Some(lineage);
        d.status.txid = txid;
        d.status.needs_base = None;
        d.status.shipped = Some(now);
        Ok(true)
    }
}

async fn put<T>(
    timeout: Duration,
    f: impl std::future::Future<Output = holdfast_repo::Result<T>>,
) -> Result<T, String> {
    match tokio::time::timeout(timeout, f).await {
        Ok(Ok(t)) => Ok(t),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("{NO_ANSWER} {timeout:?}")),
    }
}

fn gethostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

fn read_pages(
    file: &mut std::fs::File,
    path: &Path,
    first: u64,
    n: u64,
    page_size: u32,
) -> Result<Vec<Page>, DatabaseError> {
    use std::io::{Read, Seek, SeekFrom};
    let ps = page_size as u64;
    file.seek(SeekFrom::Start((first - 1) * ps))
        .map_err(|e| io_err(path, e))?;
    let mut out = Vec::with_capacity(n as usize);
    for k in 0..n {
        let mut buf = vec![0u8; ps as usize];
        match file.read_exact(&mut buf) {
            Ok(()) => {}
            // The file shrank (a checkpoint after a VACUUM): the replay truncates.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(io_err(path, e)),
        }
        out.push(Page {
            number: (first + k) as u32,
            data: buf.into(),
        });
    }
    Ok(out)
}
