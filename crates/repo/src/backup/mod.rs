//! `backup`: one snapshot of one root. Finds the parent snapshot of the same root, takes
//! a shared lock, runs the walker (read → chunk → hash → dedup) on a blocking thread
//! feeding the pipeline (compress + encrypt → pack → upload), then writes one index file
//! for the new packs and finally the snapshot — the commit.
//!
//! The lock is held until the snapshot is written: index and snapshot are written under
//! it. Under the lock the backup loads the index and lists `data/` once, and forgets the
//! entries of packs the store lacks, so it never deduplicates against a pack that is
//! gone (docs/FORMAT.md, "Invariant"). Right before the index file and again right
//! before the snapshot [`Lock::check`] confirms the lock was neither removed nor left
//! unrefreshed past its validity. Losing the lock, or the caller's
//! [`BackupOptions::cancel`] token, stops the walker, the workers and the uploader, and
//! nothing is committed; a store error met by a backup whose lock turns out lost is
//! reported as the lost lock. A backup that fails, its lock still live, before it
//! starts writing its index file deletes the packs it uploaded (no other client can
//! know of them; with the lock lost, a prune may have marked them); once that
//! write has started it may land even when it reports a failure, and other backups may
//! deduplicate against the packs, so they stay for prune. When the lock is lost after
//! that write, the backup rewrites its index files without the packs that are gone.

mod adopt;
mod pipeline;
mod readers;
mod sources;
pub mod text;
mod walk;

pub use sources::{DATABASES_DIR, ExtraFile, ExtraSource, Overrides};

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::failpoint::{Failpoints, Step};
use crate::id::Id;
use crate::lock::{Lock, LockOptions};
use crate::repository::{IndexedRepository, Repository};
use crate::snapshot::Snapshot;
use pipeline::Pipeline;
use readers::{Feed, Readers};
use walk::{Excludes, WalkStats, Walker};

/// Live counters a caller can poll to draw progress.
#[derive(Debug, Default)]
pub struct BackupProgress {
    /// Files done.
    pub files: AtomicU64,
    /// Bytes of file content done (read or found unchanged).
    pub bytes: AtomicU64,
}

/// Options of [`backup`].
#[derive(Clone, Debug)]
pub struct BackupOptions {
    /// The root: a directory (or a single file).
    pub root: PathBuf,
    /// Volume name, when the root is a configured volume.
    pub volume: Option<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// Snapshot time (default: now).
    pub time: Option<chrono::DateTime<chrono::Utc>>,
    /// Glob patterns of entries to leave out.
    pub excludes: Vec<String>,
    /// zstd level of data blobs (0 stores raw).
    pub compression: i32,
    /// Progress counters to update.
    pub progress: Option<Arc<BackupProgress>>,
    /// Content taken from elsewhere: consistent database copies and dumps.
    pub overrides: Overrides,
    /// Cancelling it stops the backup without committing (and removes its lock).
    pub cancel: CancellationToken,
    /// How the lock is taken and kept.
    pub lock: LockOptions,
    /// Test hooks at each step.
    pub failpoints: Failpoints,
    /// The share in percent (0 to 100) of the files or bytes of the newest unflagged
    /// snapshot of the same root that may go before the new snapshot is flagged
    /// [`crate::snapshot::Shrunk`] (an empty snapshot where that one had files always is).
    pub shrink_alert: f64,
}

impl BackupOptions {
    /// Defaults for a root.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        BackupOptions {
            root: root.into(),
            volume: None,
            tags: Vec::new(),
            time: None,
            excludes: Vec::new(),
            compression: 3,
            progress: None,
            overrides: Overrides::default(),
            cancel: CancellationToken::new(),
            lock: LockOptions::default(),
            failpoints: Failpoints::from_env(),
            shrink_alert: crate::snapshot::DEFAULT_SHRINK_ALERT,
        }
    }
}

/// The result of a backup.
#[derive(Clone, Debug)]
pub struct BackupSummary {
    /// The new snapshot's id.
    pub id: Id,
    /// The snapshot written.
    pub snapshot: Snapshot,
    /// Its files against the parent snapshot.
    pub changes: FileChanges,
    /// Wall time.
    pub duration: Duration,
}

/// A backup's files against its parent snapshot, as restic counts them: a file is
/// unmodified when its size, times and inode match the parent's and its content is
/// stored; changed when the parent had a file of that name otherwise; new else.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FileChanges {
    /// Files the parent did not have.
    pub new: u64,
    /// Files the parent had, read again.
    pub changed: u64,
    /// Files taken from the parent without reading them.
    pub unmodified: u64,
}

/// Backs up one root into a new snapshot. Unreadable entries are skipped and listed; the
/// snapshot is then marked incomplete. The index of `repo` is loaded again under the
/// lock and learns the new blobs; after an error it may be empty (load it again before
/// reading with `repo`).
pub async fn backup(repo: &mut IndexedRepository, opts: &BackupOptions) -> Result<BackupSummary> {
    let started = Instant::now();
    let root = std::fs::canonicalize(&opts.root).map_err(|e| Error::io(&opts.root, e))?;
    let root_str = root.to_string_lossy().into_owned();
    let excludes = Excludes::new(&opts.excludes)?;
    let (snapshots, unreadable) = repo.snapshots_lenient().await?;
    for (key, e) in &unreadable {
        tracing::warn!("ignoring unreadable snapshot {key} when looking for a parent: {e}");
    }
    let same: Vec<(Id, Snapshot)> = snapshots
        .into_iter()
        .filter(|(_, s)| s.same_root(opts.volume.as_deref(), &root_str))
        .collect();
    // The flag compares with the newest snapshot that is not flagged itself, so a second
    // empty snapshot after a first one is flagged too (crate::snapshot, "Invariant").
    let reference = same
        .iter()
        .filter(|(_, s)| s.shrunk.is_none())
        .max_by_key(|(id, s)| (s.time, *id))
        .map(|(id, s)| (*id, s.files, s.size));
    let parent = same.into_iter().max_by_key(|(id, s)| (s.time, *id));
    let lock = Lock::acquire_for(repo, false, &opts.lock, &opts.cancel).await?;
    let mut uploaded = Vec::new();
    let result = under_lock(
        repo,
        opts,
        &lock,
        (root, excludes),
        (parent, reference),
        &mut uploaded,
    )
    .await;
    match result {
        Ok(mut summary) => {
            summary.duration = started.elapsed();
            if let Err(e) = lock.release().await {
                tracing::warn!(
                    "snapshot {} is committed, but its lock stays: {e}",
                    summary.id
                );
            }
            Ok(summary)
        }
        Err(e) => {
            // A store error may have a lost lock behind it (prune removed this backup's
            // temp file while it was paused): the lost lock is what to report.
            let e = match e {
                Error::LockLost { .. } | Error::Cancelled(_) => e,
                e => match lock.check().await {
                    Err(lost @ Error::LockLost { .. }) => {
                        tracing::debug!("the backup failed after losing its lock: {e}");
                        lost
                    }
                    _ => e,
                },
            };
            // With the lock lost, a prune may have marked these packs in its index: they
            // are left to prune, which deletes them in two phases. Cancelled (SIGINT),
            // the backup leaves them for the next one to adopt.
            if lock.lost().is_none() && !matches!(e, Error::Cancelled(_)) {
                discard(repo, &uploaded).await;
            }
            if let Err(r) = lock.release().await {
                tracing::warn!("could not remove lock: {r}");
            }
            Err(e)
        }
    }
}

/// A failpoint that the backup's cancellation interrupts; the backup stops there when
/// it is cancelled (or its lock lost).
async fn point(opts: &BackupOptions, lock: &Lock, step: Step) -> Result<()> {
    let token = lock.token();
    tokio::select! {
        r = opts.failpoints.hit(step) => r?,
        () = token.cancelled() => {}
    }
    lock.ensure_live("backup")
}

/// Deletes packs a failed backup uploaded but never indexed.
async fn discard(repo: &Repository, packs: &[Id]) {
    let mut failed = 0usize;
    for id in packs {
        if let Err(e) = repo.store().delete_file(&crate::pack::pack_key(id)).await {
            failed += 1;
            tracing::debug!("could not delete pack {id} of the failed backup: {e}");
        }
    }
    if failed > 0 {
        tracing::warn!(
            "{failed} of {} packs of the failed backup could not be deleted; prune removes them",
            packs.len()
        );
    }
}

/// The part of a backup that runs under its lock. Packs uploaded but not yet indexed are
/// left in `uploaded` when it fails.
async fn under_lock(
    repo: &mut IndexedRepository,
    opts: &BackupOptions,
    lock: &Lock,
    (root, excludes): (PathBuf, Excludes),
    (parent, reference): Previous,
    uploaded: &mut Vec<Id>,
) -> Result<BackupSummary> {
    let root_str = root.to_string_lossy().into_owned();
    let token = lock.token();
    // A prune may have run since the index was loaded: dedup only against what is stored.
    // The index loaded before the lock is dropped first, so the two are never held
    // together (at a million blobs each is over 100 MB); after a failure here the
    // repository's index stays empty until the next load.
    repo.drop_index();
    *repo = tokio::select! {
        r = repo.load_index() => r?,
        () = token.cancelled() => return Err(lock.cancelled_error("backup")),
    };
    // An index file may outlive its packs (a backup paused past its lock wrote it after
    // a prune deleted them): only packs in the store are deduplication targets.
    let stored = tokio::select! {
        r = repo.drop_missing_packs() => r?,
        () = token.cancelled() => return Err(lock.cancelled_error("backup")),
    };
    // Packs an interrupted backup stored and never indexed are reused, not sent again
    // (only by a backup that holds the one lock: a running backup's packs are its own).
    let adopted = tokio::select! {
        r = adopt::adopt(repo, lock, &stored) => r?,
        () = token.cancelled() => return Err(lock.cancelled_error("backup")),
    };
    drop(stored);
    if !adopted.is_empty() {
        let index = Arc::make_mut(&mut repo.index);
        for p in &adopted {
            index.add_pack(p.id, &p.blobs);
        }
    }
    point(opts, lock, Step::BackupLocked).await?;
    let outcome = run(
        repo,
        opts,
        root,
        excludes,
        parent.as_ref().map(|(id, s)| (*id, s.tree)),
        &token,
        uploaded,
    )
    .await;
    let (stats, tree, mut packs, added) = match outcome {
        Err(_) if token.is_cancelled() => return Err(lock.cancelled_error("backup")),
        other => other?,
    };
    // The adopted packs are indexed with this backup's own (whether used or not: an
    // unused one is then marked by prune like any other).
    packs.extend(adopted);
    point(opts, lock, Step::BackupAfterUpload).await?;
    lock.ensure_live("backup")?;
    let mut index_keys = Vec::new();
    if !packs.is_empty() {
        // A backup paused past its lock may find its packs deleted as unindexed: it
        // confirms its lock before an index file names them.
        lock.check().await?;
        // From the moment the first index write starts, it may land even if the call
        // fails (a timeout after the store committed it): another backup may then
        // deduplicate against these packs, so they are never deleted past this point.
        uploaded.clear();
        let written = crate::index::store_files_noting(repo, &packs, &[], &mut index_keys).await;
        if let Err(e) = written {
            return Err(retract_if_lost(repo, lock, &index_keys, e).await);
        }
        let index = Arc::make_mut(&mut repo.index);
        index.reserve(packs.iter().map(|p| p.blobs.len()).sum());
        for p in &packs {
            index.add_pack(p.id, &p.blobs);
        }
    }
    drop(packs);
    match commit(
        repo,
        opts,
        lock,
        (parent, reference),
        root_str,
        tree,
        stats,
        added,
    )
    .await
    {
        Ok(summary) => Ok(summary),
        Err(e) => Err(retract_if_lost(repo, lock, &index_keys, e).await),
    }
}

/// After a failure past the index write: when the lock turns out lost, the index files
/// this backup wrote may name packs a prune deleted meanwhile ([`retract`]).
async fn retract_if_lost(repo: &Repository, lock: &Lock, keys: &[String], e: Error) -> Error {
    if !keys.is_empty()
        && (matches!(e, Error::LockLost { .. }) || lock.lost().is_some())
        && let Err(r) = adopt::retract(repo, keys).await
    {
        tracing::warn!(
            "could not check the index files of the failed backup ({r}); \
             `holdfast repair index` checks them"
        );
    }
    e
}

/// The snapshot and its commit, after the index is written.
#[allow(clippy::too_many_arguments)]
async fn commit(
    repo: &IndexedRepository,
    opts: &BackupOptions,
    lock: &Lock,
    (parent, reference): Previous,
    root_str: String,
    tree: Id,
    stats: WalkStats,
    added: u64,
) -> Result<BackupSummary> {
    point(opts, lock, Step::BackupAfterIndex).await?;
    let shrunk = reference.and_then(|(id, files, size)| {
        let after = (stats.files, stats.size);
        crate::snapshot::Shrunk::check(id, (files, size), after, opts.shrink_alert)
    });
    let changes = stats.changes;
    let snapshot = Snapshot {
        version: 1,
        time: opts.time.unwrap_or_else(crate::clock::now),
        hostname: crate::snapshot::hostname(),
        root: root_str,
        volume: opts.volume.clone(),
        tags: opts.tags.clone(),
        tree,
        parent: parent.map(|(id, _)| id),
        files: stats.files,
        dirs: stats.dirs,
        size: stats.size,
        added,
        incomplete: !stats.errors.is_empty(),
        errors: stats.errors,
        original: None,
        shrunk,
    };
    point(opts, lock, Step::BackupBeforeSnapshot).await?;
    // The last thing before the commit. A pause between this check and the write is
    // covered by prune's two-phase delete (docs/FORMAT.md, "Invariant").
    lock.check().await?;
    let id = repo.save_snapshot(&snapshot).await?;
    // Committed: whatever happens to the lock now, the snapshot stands.
    opts.failpoints.hit(Step::BackupAfterSnapshot).await?;
    Ok(BackupSummary {
        id,
        snapshot,
        changes,
        duration: Duration::ZERO,
    })
}

/// The parent snapshot, and the (id, files, bytes) of the newest unflagged snapshot of
/// the same root that the new snapshot is compared with for the shrunk flag.
type Previous = (Option<(Id, Snapshot)>, Option<(Id, u64, u64)>);

type Outcome = (WalkStats, Id, Vec<crate::index::IndexPack>, u64);

async fn run(
    repo: &IndexedRepository,
    opts: &BackupOptions,
    root: PathBuf,
    excludes: Excludes,
    parent: Option<(Id, Id)>,
    token: &CancellationToken,
    uploaded: &mut Vec<Id>,
) -> Result<Outcome> {
    let pipeline = Pipeline::start(repo, opts.compression, token.clone());
    let feed = Feed {
        repo: repo.clone(),
        jobs: pipeline.sender(),
        seen: Arc::new(Mutex::new(HashSet::new())),
        progress: opts.progress.clone(),
        cancel: token.clone(),
        abandoned: Arc::new(AtomicBool::new(false)),
    };
    let readers = Readers::start(&feed);
    let mut walker = Walker {
        feed,
        readers,
        rt: tokio::runtime::Handle::current(),
        excludes,
        stats: WalkStats::default(),
        overrides: opts.overrides.clone(),
    };
    let walked = tokio::task::spawn_blocking(move || {
        let r = walker.root(&root, parent.map(|(_, tree)| tree));
        let Walker { readers, stats, .. } = walker;
        if r.is_ok() {
            readers.finish();
        }
        r.map(|tree| (tree, stats))
    })
    .await
    .map_err(|e| Error::task("backup walker", e));
    let (stored, written) = pipeline.finish().await;
    uploaded.extend(written);
    let stored = stored?;
    let (tree, stats) = walked??;
    Ok((stats, tree, stored.packs, stored.bytes))
}
