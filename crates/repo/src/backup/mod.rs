//! `backup`: one snapshot of one root. Finds the parent snapshot of the same root, takes
//! a shared lock, runs the walker (read → chunk → hash → dedup) on a blocking thread
//! feeding the pipeline (compress + encrypt → pack → upload), then writes one index file
//! for the new packs and finally the snapshot — the commit.

mod pipeline;
mod sources;
mod walk;

pub use sources::{DATABASES_DIR, ExtraFile, ExtraSource, Overrides};

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::id::Id;
use crate::index::IndexFile;
use crate::lock::Lock;
use crate::repository::IndexedRepository;
use crate::snapshot::Snapshot;
use pipeline::Pipeline;
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
    /// Wall time.
    pub duration: Duration,
}

/// Backs up one root into a new snapshot. Unreadable entries are skipped and listed; the
/// snapshot is then marked incomplete. The index of `repo` learns the new blobs.
pub async fn backup(repo: &mut IndexedRepository, opts: &BackupOptions) -> Result<BackupSummary> {
    let started = Instant::now();
    let root = std::fs::canonicalize(&opts.root).map_err(|e| Error::io(&opts.root, e))?;
    let root_str = root.to_string_lossy().into_owned();
    let excludes = Excludes::new(&opts.excludes)?;
    let (snapshots, unreadable) = repo.snapshots_lenient().await?;
    for (key, e) in &unreadable {
        tracing::warn!("ignoring unreadable snapshot {key} when looking for a parent: {e}");
    }
    let parent = snapshots
        .into_iter()
        .filter(|(_, s)| s.same_root(opts.volume.as_deref(), &root_str))
        .max_by_key(|(id, s)| (s.time, *id));
    let lock = Lock::acquire(repo, false).await?;
    // A prune may have run since the index was loaded: dedup only against what is stored.
    match repo.load_index().await {
        Ok(fresh) => *repo = fresh,
        Err(e) => {
            lock.release().await.ok();
            return Err(e);
        }
    }
    let result = run(
        repo,
        opts,
        root,
        excludes,
        parent.as_ref().map(|(id, s)| (*id, s.tree)),
    )
    .await;
    let released = lock.release().await;
    let (stats, tree, packs, added) = result?;
    released?;
    let mut index_file = IndexFile { packs };
    if !index_file.packs.is_empty() {
        let bytes = index_file.seal(repo.keys())?;
        let id = Id::hash(&bytes);
        repo.store()
            .write(&format!("index/{id}"), Bytes::from(bytes))
            .await?;
        let index = Arc::make_mut(&mut repo.index);
        index.add_file(&index_file);
        index_file.packs.clear();
    }
    let snapshot = Snapshot {
        version: 1,
        time: opts.time.unwrap_or_else(chrono::Utc::now),
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
    };
    let id = repo.save_snapshot(&snapshot).await?;
    Ok(BackupSummary {
        id,
        snapshot,
        duration: started.elapsed(),
    })
}

type Outcome = (WalkStats, Id, Vec<crate::index::IndexPack>, u64);

async fn run(
    repo: &IndexedRepository,
    opts: &BackupOptions,
    root: PathBuf,
    excludes: Excludes,
    parent: Option<(Id, Id)>,
) -> Result<Outcome> {
    let pipeline = Pipeline::start(repo, opts.compression);
    let mut walker = Walker {
        repo: repo.clone(),
        rt: tokio::runtime::Handle::current(),
        jobs: pipeline.sender(),
        excludes,
        progress: opts.progress.clone(),
        seen: HashSet::new(),
        stats: WalkStats::default(),
        overrides: opts.overrides.clone(),
    };
    let walked = tokio::task::spawn_blocking(move || {
        let r = walker.root(&root, parent.map(|(_, tree)| tree));
        r.map(|tree| (tree, walker.stats))
    })
    .await
    .map_err(|e| Error::Invalid(format!("backup walker: {e}")));
    let stored = pipeline.finish().await?;
    let (tree, stats) = walked??;
    Ok((stats, tree, stored.packs, stored.bytes))
}
