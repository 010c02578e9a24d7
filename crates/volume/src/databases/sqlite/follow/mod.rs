//! The WAL follower: reads newly committed transactions from a live SQLite database and
//! ships them as segments (docs/FORMAT.md, "SQLite WAL segments") to one or more
//! destinations, each a repository with its own key.
//!
//! Call [`Follower::poll`] once per interval (`replicate = "1s"`); each call:
//! 1. checks the database file is the one it followed (device and inode): a file
//!    replaced underneath starts a new lineage (`replaced`) on every destination;
//! 2. hands the pin over ([`super::pin`]) and reads the WAL from its cursor: only
//!    frames up to the last valid commit frame (salts and cumulative checksum per
//!    SQLite's WAL format), so a transaction is shipped whole or not at all. A new WAL
//!    generation right after the one it read (checkpoint sequence + 1) follows on; any
//!    other change starts new lineages (`reset`);
//! 3. checkpoints PASSIVE; past `checkpoint_bytes` of WAL it runs the reset window, and
//!    past `truncate_bytes` a TRUNCATE that never waits;
//! 4. ships what each destination lacks as one segment, all destinations at once, each
//!    under its own time limit, and takes a base for a destination that needs one.
//!
//! Guarantees (each with a test in `tests/integration/sqlite_follow.rs`):
//! - **The app never waits on the network or the store.** Nothing holdfast does while
//!   it talks to a store holds a SQLite lock the app needs: segments are sealed from
//!   memory after the WAL was read; a base is read from the database file under a read
//!   transaction only (`a_base_never_blocks_the_writer`: the writer runs with no busy
//!   timeout at all; `a_writer_and_the_follower_restore_to_a_gap_free_prefix`).
//! - **No write lock while encoding or uploading a base** (litestream#1332): the base is
//!   the file's pages read under the pin, made consistent by replaying the current WAL
//!   generation from frame 1 (docs/FORMAT.md).
//! - **Checkpoints:** PASSIVE every poll, TRUNCATE only past `truncate_bytes` and with
//!   no wait, never RESTART. No pin is older than one interval plus `store_timeout`
//!   (it is renewed at every poll and between base parts), so the app's checkpoints
//!   copy everything up to the last poll; the WAL restarts through the reset window
//!   and stays near `checkpoint_bytes` (`a_checkpoint_storm_keeps_the_chain`). An app
//!   that runs TRUNCATE or RESTART checkpoints itself finds them busy while a pin is
//!   held (as with Litestream's read lock): with a busy timeout it waits that long.
//! - **A follower killed at any moment** leaves a restorable gap-free prefix, and a
//!   new follower takes a new base (`a_follower_killed_at_any_moment_leaves_a_restorable_prefix`,
//!   a real process and SIGKILL), and so does one killed at each write of its own
//!   (the `wal-*` failpoints: a base part stored without its head, the head next, the
//!   head stored but not recorded, a segment stored but the cursor not advanced, a
//!   compacted segment stored; `every_wal_failpoint_killed_leaves_restorable_points`
//!   in `tests/integration/sqlite_crash.rs`, which also kills a prune of `wal/`).
//! - **Local state is bounded:** staged transactions are held in memory, never on the
//!   volume, up to `local_bound` bytes (default 64 MiB). Past it, every destination
//!   still lacking the oldest staged transaction is dropped to "needs a base" with a
//!   gap recorded; the follower keeps reading the WAL (the app is unaffected) and the
//!   destination gets a new base (`gap`) once its store answers
//!   (`a_store_away_stays_bounded_reports_the_gap_and_rebases`).
//! - **Destinations are independent:** each has its own lineage and cursor; one that
//!   fails holds back only itself (`a_destination_down_does_not_hold_back_another`).
//!   One that stalls delays a poll by at most `store_timeout` (all destinations are
//!   written at once), and after a base attempt it did not answer, the next attempt
//!   waits `store_timeout`, doubling up to 5 minutes.

use std::collections::VecDeque;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use holdfast_repo::wal::{self, Page, Previous, Reason, Segment, SegmentRef, Txn};
use holdfast_repo::{Failpoints, Id, Repository, Step};

mod base;

use super::pin::Pins;
use super::wal::{Cursor, WalTxn, read_header, read_txns};
use crate::databases::DatabaseError;

/// How a database is followed.
#[derive(Clone, Debug)]
pub struct FollowOptions {
    /// The database's name: its path in the volume (`db/app.db`).
    pub database: String,
    /// The volume it lives in.
    pub volume: Option<String>,
    /// Bytes of transactions staged in memory at most (default 64 MiB).
    pub local_bound: u64,
    /// WAL size past which the reset window runs (default 4 MiB).
    pub checkpoint_bytes: u64,
    /// WAL size past which a TRUNCATE checkpoint is tried (default 64 MiB).
    pub truncate_bytes: u64,
    /// Bytes of pages per base part (default 4 MiB).
    pub part_bytes: u64,
    /// How long one destination may take per poll before it counts as down.
    pub store_timeout: Duration,
    /// Failpoints at each write of the follower (`wal-*` steps; from
    /// `HOLDFAST_FAILPOINTS` in debug builds).
    pub failpoints: Failpoints,
}

impl FollowOptions {
    /// The defaults for database `name`.
    pub fn new(name: &str) -> FollowOptions {
        FollowOptions {
            database: name.to_string(),
            volume: None,
            local_bound: 64 << 20,
            checkpoint_bytes: 4 << 20,
            truncate_bytes: 64 << 20,
            part_bytes: 4 << 20,
            store_timeout: Duration::from_secs(10),
            failpoints: Failpoints::from_env(),
        }
    }
}

/// A repository segments go to, with a name for status and messages.
#[derive(Clone)]
pub struct Destination {
    /// `repository` or the replica's name.
    pub name: String,
    /// The opened repository.
    pub repo: Repository,
}

/// One destination's replication state, for status and metrics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DestinationStatus {
    /// Its name.
    pub name: String,
    /// The lineage it follows, when it has a complete one.
    pub lineage: Option<Id>,
    /// The last transaction shipped.
    pub txid: u64,
    /// When the last shipped transaction was read from the WAL.
    pub shipped: Option<DateTime<Utc>>,
    /// Why it needs a new base, when it does.
    pub needs_base: Option<Reason>,
    /// Gaps so far (times its chain broke while it was away).
    pub gaps: u64,
    /// Bytes stored so far.
    pub bytes: u64,
    /// The last error, cleared by the next success.
    pub error: Option<String>,
}

/// What one [`Follower::poll`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PollReport {
    /// Transactions read from the WAL.
    pub read: usize,
    /// Bytes staged in memory after the poll.
    pub staged: u64,
    /// Destinations whose chain broke this poll, and why.
    pub breaks: Vec<(String, Reason)>,
    /// Destinations that got a new base this poll.
    pub bases: Vec<String>,
    /// Segments written this poll (all destinations).
    pub segments: usize,
}

/// How a store that did not answer in time is reported.
const NO_ANSWER: &str = "no answer within";

struct Staged {
    seq: u64,
    time: DateTime<Utc>,
    txn: WalTxn,
}

struct Live {
    lineage: Id,
    next_txid: u64,
    written: Vec<SegmentRef>,
    level0_since_compact: usize,
}

struct Dest {
    dest: Destination,
    live: Option<Live>,
    need: Reason,
    previous: Option<Previous>,
    acked: u64,
    status: DestinationStatus,
    /// After a base attempt the store did not answer in time: no new attempt before
    /// this instant, and the wait that doubles at each such attempt (a stalled store
    /// must not cost every poll `store_timeout`; a store that refuses costs nothing).
    base_wait: Option<(std::time::Instant, Duration)>,
}

/// Follows one SQLite database in WAL mode (see the module doc).
pub struct Follower {
    path: PathBuf,
    wal_path: PathBuf,
    opts: FollowOptions,
    pins: Option<Pins>,
    identity: Option<(u64, u64)>,
    cursor: Option<Cursor>,
    queue: VecDeque<Staged>,
    next_seq: u64,
    staged: u64,
    dests: Vec<Dest>,
}

fn io_err(path: &Path, e: std::io::Error) -> DatabaseError {
    DatabaseError::Io {
        path: path.to_path_buf(),
        source: e,
    }
}

fn repo_err(path: &Path, e: impl std::fmt::Display) -> DatabaseError {
    DatabaseError::Sqlite {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

impl Follower {
    /// A follower of the database at `path` (in WAL mode) shipping to `dests`. Nothing
    /// is opened until the first poll.
    pub fn new(path: &Path, opts: FollowOptions, dests: Vec<Destination>) -> Follower {
        let mut wal_path = path.as_os_str().to_owned();
        wal_path.push("-wal");
        Follower {
            path: path.to_path_buf(),
            wal_path: PathBuf::from(wal_path),
            opts,
            pins: None,
            identity: None,
            cursor: None,
            queue: VecDeque::new(),
            next_seq: 1,
            staged: 0,
            dests: dests
                .into_iter()
                .map(|d| Dest {
                    status: DestinationStatus {
                        name: d.name.clone(),
                        lineage: None,
                        txid: 0,
                        shipped: None,
                        needs_base: Some(Reason::Start),
                        gaps: 0,
                        bytes: 0,
                        error: None,
                    },
                    dest: d,
                    live: None,
                    need: Reason::Start,
                    previous: None,
                    acked: 0,
                    base_wait: None,
                })
                .collect(),
        }
    }

    /// Every destination's state.
    pub fn status(&self) -> Vec<DestinationStatus> {
        self.dests.iter().map(|d| d.status.clone()).collect()
    }

    /// Bytes staged in memory now (never more than `local_bound` after a poll).
    pub fn staged_bytes(&self) -> u64 {
        self.staged
    }

    /// Makes every destination start a new lineage at the next poll, with `reason`
    /// (after a restore into the live volume: [`Reason::Restore`]).
    pub fn rebase(&mut self, reason: Reason) {
        self.pins = None;
        self.cursor = None;
        self.identity = None;
        let mut report = PollReport::default();
        self.break_all(reason, &mut report);
    }

    /// One interval's work, stamping what it reads with the local clock.
    pub async fn poll(&mut self) -> Result<PollReport, DatabaseError> {
        self.poll_at(Utc::now()).await
    }

    /// [`Follower::poll`] with the time to stamp the transactions read with.
    pub async fn poll_at(&mut self, now: DateTime<Utc>) -> Result<PollReport, DatabaseError> {
        let mut report = PollReport::default();
        self.advance(now, &mut report)?;
        self.checkpoint(now, &mut report)?;
        self.bound(&mut report);
        self.ship(&mut report).await;
        for i in 0..self.dests.len() {
            if self.dests[i].live.is_none() {
                self.base(i, now, &mut report).await;
            }
        }
        self.trim();
        report.staged = self.staged;
        Ok(report)
    }

    fn break_all(&mut self, reason: Reason, report: &mut PollReport) {
        for d in &mut self.dests {
            if let Some(l) = d.live.take() {
                d.previous = Some(Previous {
                    lineage: l.lineage,
                    txid: l.next_txid - 1,
                    time: d.status.shipped,
                });
                d.need = reason;
                d.status.needs_base = Some(reason);
                report.breaks.push((d.dest.name.clone(), reason));
            }
        }
        self.queue.clear();
        self.staged = 0;
    }

    /// Steps 1 and 2 of the module doc: identity, pin, read.
    fn advance(
        &mut self,
        now: DateTime<Utc>,
        report: &mut PollReport,
    ) -> Result<(), DatabaseError> {
        let meta = std::fs::metadata(&self.path).map_err(|e| io_err(&self.path, e))?;
        let identity = (meta.dev(), meta.ino());
        if self.identity != Some(identity) {
            if self.identity.is_some() {
                self.break_all(Reason::Replaced, report);
            }
            self.pins = None;
            self.cursor = None;
            self.pins = Some(Pins::open(&self.path)?);
            self.identity = Some(identity);
        }
        if let Some(p) = self.pins.as_mut() {
            p.renew()?;
        }
        self.read_new(now, report).map(|_| ())
    }

    /// Reads what was committed since the cursor; true when the WAL changed in a way
    /// that breaks the chain (every live destination then needs a base).
    fn read_new(
        &mut self,
        now: DateTime<Utc>,
        report: &mut PollReport,
    ) -> Result<bool, DatabaseError> {
        let Some(h) = read_header(&self.wal_path).map_err(|e| io_err(&self.wal_path, e))? else {
            return Ok(false);
        };
        let mut reset = false;
        let from = match self.cursor {
            Some(c) if c.header.same_generation(&h) => c,
            Some(c) if c.header.followed_by(&h) => Cursor::start(h),
            Some(_) => {
                self.break_all(Reason::Reset, report);
                reset = true;
                Cursor::start(h)
            }
            None => Cursor::start(h),
        };
        let txns =
            read_txns(&self.wal_path, from, u64::MAX).map_err(|e| io_err(&self.wal_path, e))?;
        self.cursor = Some(txns.last().map_or(from, |t| t.end));
        self.stage(txns, now, report);
        Ok(reset)
    }

    fn stage(&mut self, txns: Vec<WalTxn>, now: DateTime<Utc>, report: &mut PollReport) {
        report.read += txns.len();
        for txn in txns {
            self.staged += txn.bytes();
            self.queue.push_back(Staged {
                seq: self.next_seq,
                time: now,
                txn,
            });
            self.next_seq += 1;
        }
    }

    /// Step 3: PASSIVE, the reset window past `checkpoint_bytes`, TRUNCATE past
    /// `truncate_bytes`.
    fn checkpoint(
        &mut self,
        now: DateTime<Utc>,
        report: &mut PollReport,
    ) -> Result<(), DatabaseError> {
        let size = std::fs::metadata(&self.wal_path).map_or(0, |m| m.len());
        let Some(pins) = self.pins.as_mut() else {
            return Ok(());
        };
        if size <= self.opts.checkpoint_bytes {
            pins.passive()?;
            return Ok(());
        }
        let (wal_path, cursor) = (self.wal_path.clone(), self.cursor);
        let tail = pins.reset_window(|| match cursor {
            Some(c) => read_txns(&wal_path, c, u64::MAX).map_err(|e| io_err(&wal_path, e)),
            None => Ok(Vec::new()),
        })?;
        if let Some((txns, _)) = tail {
            if let Some(t) = txns.last() {
                self.cursor = Some(t.end);
            }
            self.stage(txns, now, report);
            if size > self.opts.truncate_bytes
                && let Some(p) = self.pins.as_ref()
            {
                p.truncate()?;
            }
        }
        Ok(())
    }

    /// The local-state bound: past it, destinations lacking the oldest staged
    /// transaction break with a gap, and what no live destination needs is dropped.
    fn bound(&mut self, report: &mut PollReport) {
        if self.staged <= self.opts.local_bound {
            return;
        }
        let newest = self.next_seq - 1;
        for d in &mut self.dests {
            if d.live.is_some() && d.acked < newest {
                let l = d.live.take().expect("checked live");
                d.previous = Some(Previous {
                    lineage: l.lineage,
                    txid: l.next_txid - 1,
                    time: d.status.shipped,
                });
                d.need = Reason::Gap;
                d.status.needs_base = Some(Reason::Gap);
                d.status.gaps += 1;
                report.breaks.push((d.dest.name.clone(), Reason::Gap));
                tracing::warn!(
                    "sqlite {}: destination {} is behind by more than {} bytes: replication \
                     has a gap; a new base follows when it is back",
                    self.opts.database,
                    d.dest.name,
                    self.opts.local_bound
                );
            }
        }
        self.trim();
    }

    /// Drops staged transactions every live destination has (all of them when none is).
    fn trim(&mut self) {
        let keep_from = self
            .dests
            .iter()
            .filter(|d| d.live.is_some())
            .map(|d| d.acked + 1)
            .min()
            .unwrap_or(self.next_seq);
        while self.queue.front().is_some_and(|s| s.seq < keep_from) {
            if let Some(s) = self.queue.pop_front() {
                self.staged -= s.txn.bytes();
            }
        }
    }

    /// Step 4: one segment per live destination, all at once.
    async fn ship(&mut self, report: &mut PollReport) {
        let timeout = self.opts.store_timeout;
        let page_size = self.cursor.map_or(4096, |c| c.header.page_size);
        let queue = &self.queue;
        let failpoints = &self.opts.failpoints;
        let futs = self
            .dests
            .iter_mut()
            .filter(|d| d.live.is_some())
            .map(|d| async move {
                let pending: Vec<&Staged> = queue.iter().filter(|s| s.seq > d.acked).collect();
                if pending.is_empty() {
                    return 0;
                }
                let live = d.live.as_mut().expect("filtered live");
                let seg = segment(live.lineage, live.next_txid, page_size, &pending);
                let r = tokio::time::timeout(timeout, async {
                    let stored = wal::write_segment(&d.dest.repo, &seg).await?;
                    failpoints.hit(Step::WalAfterSegment).await?;
                    Ok::<_, holdfast_repo::Error>(stored)
                })
                .await;
                match r {
                    Ok(Ok((key, size))) => {
                        live.written.push(SegmentRef {
                            key,
                            level: 0,
                            first: seg.first(),
                            last: seg.last(),
                            time: seg.time(),
                        });
                        live.level0_since_compact += 1;
                        live.next_txid = seg.last() + 1;
                        d.acked = pending.last().map_or(d.acked, |s| s.seq);
                        d.status.txid = seg.last();
                        d.status.shipped = Some(seg.time());
                        d.status.bytes += size;
                        d.status.error = None;
                        if live.level0_since_compact >= wal::compact::FAN_IN {
                            compact_own(&d.dest.repo, live, failpoints).await;
                        }
                        1
                    }
                    Ok(Err(e)) => {
                        d.status.error = Some(e.to_string());
                        0
                    }
                    Err(_) => {
                        d.status.error = Some(format!("{NO_ANSWER} {timeout:?}"));
                        0
                    }
                }
            });
        report.segments += futures::future::join_all(futs).await.iter().sum::<usize>();
    }
}

/// One segment of `staged`, txids from `first`.
fn segment(lineage: Id, first: u64, page_size: u32, staged: &[&Staged]) -> Segment {
    Segment {
        lineage,
        level: 0,
        page_size,
        txns: staged
            .iter()
            .enumerate()
            .map(|(k, s)| Txn {
                txid: first + k as u64,
                time: s.time,
                db_pages: s.txn.db_pages,
                pages: s
                    .txn
                    .pages
                    .iter()
                    .map(|(n, d)| Page {
                        number: *n,
                        data: d.clone(),
                    })
                    .collect(),
            })
            .collect(),
    }
}

/// Compacts the segments this follower wrote to its lineage, then forgets the level-0
/// ones the new level covers (a failure is only logged: compaction is an optimisation).
async fn compact_own(repo: &Repository, live: &mut Live, failpoints: &Failpoints) {
    live.level0_since_compact = 0;
    let lineage = wal::Lineage {
        id: live.lineage,
        head: None,
        base: Vec::new(),
        segments: live.written.clone(),
        newest_write: None,
    };
    let compacted = match wal::compact(repo, &lineage).await {
        Ok(r) => failpoints.hit(Step::WalAfterCompact).await.map(|()| r),
        Err(e) => Err(e),
    };
    match compacted {
        Ok(r) => {
            live.written.extend(r.segments);
            let top = live
                .written
                .iter()
                .filter(|s| s.level > 0)
                .map(|s| s.last)
                .max();
            live.written
                .retain(|s| s.level > 0 || top.is_none_or(|t| s.first > t));
        }
        Err(e) => tracing::warn!("compacting lineage {}: {e}", live.lineage.short()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>(_: &T) {}

    /// The daemon runs each follower in a task of its own: its poll must be `Send`.
    #[test]
    fn a_poll_can_run_in_a_spawned_task() {
        let store = holdfast_store::Store::open("memory://").expect("store");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let opts = holdfast_repo::InitOptions {
            password: "pw".into(),
            kdf: holdfast_repo::KdfParams::insecure_fast(),
        };
        let repo = rt
            .block_on(holdfast_repo::init(store, &opts))
            .expect("init");
        let mut f = Follower::new(
            Path::new("/nonexistent.db"),
            FollowOptions::new("x.db"),
            vec![Destination {
                name: "r".into(),
                repo,
            }],
        );
        let fut = f.poll();
        assert_send(&fut);
        let e = rt.block_on(fut).expect_err("no such database");
        assert!(e.to_string().contains("nonexistent.db"), "{e}");
    }
}
