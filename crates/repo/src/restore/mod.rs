//! `restore`: writes a snapshot's root contents into a target directory.
//!
//! How it works: the trees are walked depth-first and streamed ([`plan`]): tree names
//! were checked by the tree parser (one component, no `..`, `/` or NUL). Directories are
//! created parents first and each one is checked to be a real directory, never a
//! symlink, before anything is written in it. Files are restored in bounded batches
//! ([`files`]), several in flight at once: written to fresh temp names opened with
//! `O_EXCL | O_NOFOLLOW` at their final size, their blobs copied from a local copy where
//! one holds them and otherwise fetched in planned range requests ([`read`]: coalesced per
//! pack, many in flight, bounded by a window of bytes, opened on all cores, written out of
//! order), then metadata is set and each complete temp file renamed over the final name.
//! Symlinks are made after all files, so no file is ever written through one; directory
//! modes and times are set last, deepest first; one `syncfs(2)` per filesystem makes it
//! all durable before the restore reports success ([`fsops`]). A damaged blob or tree
//! spoils only the files that need it: they are listed in the summary and the rest is
//! restored. A file is renamed into place only when every one of its writes happened.
//!
//! What exists in the target is decided by [`overwrite`]: a non-empty target is refused
//! unless [`RestoreOptions::overwrite`] names a mode (restic 0.17's `always`, `if-changed`,
//! `never`); each file and symlink is then written, overwritten or skipped, and an
//! overwrite replaces the old file only by the rename of a complete, fsynced temp file
//! (the directories are fsynced after the renames). [`RestoreOptions::dry_run`] makes the
//! same decisions, lists them and writes nothing.
//!
//! A store that is unavailable (refusing, stalling, after the store's own retries) is not
//! damage: the restore stops with that error and lists nothing as damaged. Cancelling
//! [`RestoreOptions::cancel`], or losing the lock, stops every worker.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

mod files;
mod fsops;
pub mod overwrite;
mod plan;
mod read;
pub mod text;

use crate::browse::Entry;
use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::repair::IndexRecovery;
use crate::repository::IndexedRepository;
use crate::snapshot::Snapshot;
pub use overwrite::{Action, Overwrite, Planned};
pub use read::{
    CONNECTIONS_ENV, DEFAULT_WINDOW, PackReader, ReadFuture, ReadOptions, WINDOW_ENV,
    default_connections,
};

/// The start of a file's temporary name while it is being restored, beside its final
/// place; it is renamed into place when complete. Volumes list it among the names
/// holdfast owns (`holdfast_volume::layout`), so a backup never takes one in.
pub const RESTORE_TEMP_PREFIX: &str = ".holdfast-restore-";

/// Options of [`restore`].
#[derive(Clone, Debug)]
pub struct RestoreOptions {
    /// Directory that receives the root's contents (created if missing).
    pub target: PathBuf,
    /// Only paths matching one of these globs (or inside a matching directory).
    pub include: Vec<String>,
    /// Cancelling it stops the restore (files already written stay).
    pub cancel: tokio_util::sync::CancellationToken,
    /// Test hooks (by default from `HOLDFAST_FAILPOINTS`, as backup's and prune's).
    pub failpoints: crate::failpoint::Failpoints,
    /// What to do with entries already in the target; `None` refuses a target that is
    /// not empty ([`crate::Error::TargetNotEmpty`]).
    pub overwrite: Option<Overwrite>,
    /// Decide and list ([`RestoreSummary::planned`]), write nothing.
    pub dry_run: bool,
    /// Bytes of file content: the total is the snapshot's size (or, with `include`,
    /// grows as chosen files are found); done counts bytes written or found in place.
    pub progress: Option<Arc<Progress>>,
    /// Told what loading the index under the lock found (damaged index files, packs
    /// read from their own trailers) before anything is written: the command line warns
    /// from it, so it need not load the index a second time to know.
    pub on_index: Option<OnIndex>,
    /// How file contents are read: concurrent requests and the window of bytes in
    /// flight ([`ReadOptions`]).
    pub reads: ReadOptions,
    /// A directory holding an older copy of the data (the live volume an in-place restore
    /// replaces): a regular file at the same path there is chunked, and the blobs the
    /// snapshot needs that it holds are copied from it instead of fetched. Nothing there
    /// is changed. (With [`Overwrite::IfChanged`], a file being replaced in the target is
    /// used the same way.)
    pub reuse: Option<PathBuf>,
}

/// A callback given the [`IndexRecovery`] of a restore's index ([`RestoreOptions::on_index`]).
#[derive(Clone)]
pub struct OnIndex(pub Arc<dyn Fn(&IndexRecovery) + Send + Sync>);

impl std::fmt::Debug for OnIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OnIndex")
    }
}

impl Default for RestoreOptions {
    fn default() -> Self {
        RestoreOptions {
            target: PathBuf::new(),
            include: Vec::new(),
            cancel: tokio_util::sync::CancellationToken::new(),
            failpoints: crate::failpoint::Failpoints::from_env(),
            overwrite: None,
            dry_run: false,
            progress: None,
            on_index: None,
            reads: ReadOptions::default(),
            reuse: None,
        }
    }
}

/// A file or directory that could not be restored.
#[derive(Clone, Debug)]
pub struct Damaged {
    /// Path relative to the root.
    pub path: String,
    /// Why.
    pub error: String,
}

/// What a restore did.
#[derive(Clone, Debug, Default)]
pub struct RestoreSummary {
    /// Regular files restored.
    pub files: u64,
    /// Directories restored.
    pub dirs: u64,
    /// Symlinks restored.
    pub symlinks: u64,
    /// Bytes of file content written.
    pub bytes: u64,
    /// Entries that could not be restored.
    pub damaged: Vec<Damaged>,
    /// Of the files and symlinks restored, those that replaced an existing entry.
    pub overwritten: u64,
    /// Files and symlinks left as they were in the target (`never`, or unchanged).
    pub skipped: u64,
    /// In a dry run: every file and symlink with what would happen to it.
    pub planned: Vec<Planned>,
}

fn include_set(patterns: &[String]) -> Result<Option<GlobSet>> {
    if patterns.is_empty() {
        return Ok(None);
    }
    let mut b = GlobSetBuilder::new();
    for p in patterns {
        let g = GlobBuilder::new(p.trim_start_matches('/').trim_end_matches('/'))
            .literal_separator(true)
            .build()
            .map_err(|e| Error::Invalid(format!("include pattern {p:?}: {e}")))?;
        b.add(g);
    }
    b.build()
        .map(Some)
        .map_err(|e| Error::Invalid(format!("include patterns: {e}")))
}

/// Restores `snapshot` into `opts.target`. Damaged entries are listed in the summary;
/// an error is returned only when nothing sensible can be done. Holds a shared lock, and
/// reads the index again under it (a prune may have moved blobs since `repo` loaded it),
/// as [`crate::repair::index_for_reading`] does: a damaged or missing index file costs
/// nothing the packs still hold.
pub async fn restore(
    repo: &IndexedRepository,
    snapshot: &Snapshot,
    opts: &RestoreOptions,
) -> Result<RestoreSummary> {
    overwrite::check_target(&opts.target, opts.overwrite)?;
    let lock = crate::lock::Lock::shared(repo, &opts.cancel).await?;
    let token = lock.token();
    let result = match crate::repair::index_for_reading(repo).await {
        Ok((fresh, recovery)) => {
            if let Some(on_index) = &opts.on_index {
                (on_index.0)(&recovery);
            }
            restore_locked(&fresh, snapshot, opts, token.child_token()).await
        }
        Err(e) => Err(e),
    };
    let result = match result {
        Err(_) if token.is_cancelled() => Err(lock.cancelled_error("restore")),
        other => other,
    };
    let released = lock.release().await;
    let summary = result?;
    released?;
    Ok(summary)
}

async fn restore_locked(
    repo: &IndexedRepository,
    snapshot: &Snapshot,
    opts: &RestoreOptions,
    cancel: tokio_util::sync::CancellationToken,
) -> Result<RestoreSummary> {
    let include = include_set(&opts.include)?;
    let target = if opts.dry_run && !opts.target.exists() {
        opts.target.clone()
    } else {
        std::fs::create_dir_all(&opts.target).map_err(|e| Error::io(&opts.target, e))?;
        std::fs::canonicalize(&opts.target).map_err(|e| Error::io(&opts.target, e))?
    };
    if let Some(p) = &opts.progress
        && include.is_none()
    {
        p.set_total(snapshot.size);
    }
    let pool = Arc::new(
        rayon::ThreadPoolBuilder::new()
            .num_threads(restore_threads())
            .build()
            .map_err(|e| Error::Internal(format!("restore threads: {e}")))?,
    );
    let reader = Arc::new(read::Reader::new(
        repo,
        &opts.reads,
        pool.clone(),
        cancel.clone(),
    ));
    let job = Job {
        repo: repo.clone(),
        rt: tokio::runtime::Handle::current(),
        damaged: Mutex::new(Vec::new()),
        fatal: Mutex::new(None),
        cancel,
        mode: opts.overwrite,
        dry_run: opts.dry_run,
        failpoints: opts.failpoints.clone(),
        progress: opts.progress.clone(),
        counts_total: include.is_some(),
        pool,
        reader,
        reuse: opts.reuse.clone(),
        paths: Mutex::new(crate::longpath::LongPaths::new(&target)),
        target,
    };
    let root = snapshot.tree;
    tokio::task::spawn_blocking(move || job.run(root, include.as_ref(), RestoreSummary::default()))
        .await
        .map_err(|e| Error::Internal(format!("restore task: {e}")))?
}

/// Threads that open, decode and write blobs and create and rename files: the cores, and
/// a few more to cover the file system's own waits. Reads wait on the runtime, not here.
fn restore_threads() -> usize {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    cores.max(4)
}

/// A file of the snapshot waiting in a batch.
struct Queued {
    entry: Entry,
    /// It replaces an entry of the target (fsynced before its rename).
    replaces: bool,
    /// A local file that may hold some of its blobs.
    seed: Option<files::Seed>,
}

struct Job {
    repo: IndexedRepository,
    rt: tokio::runtime::Handle,
    target: PathBuf,
    damaged: Mutex<Vec<Damaged>>,
    /// Set when the store is unavailable: the restore stops and fails with it.
    fatal: Mutex<Option<Error>>,
    cancel: tokio_util::sync::CancellationToken,
    mode: Option<Overwrite>,
    dry_run: bool,
    failpoints: crate::failpoint::Failpoints,
    progress: Option<Arc<Progress>>,
    /// The progress total is counted as files are chosen (with `include`).
    counts_total: bool,
    pool: Arc<rayon::ThreadPool>,
    /// Fetches file contents for every batch (shared connections and window).
    reader: Arc<read::Reader>,
    /// See [`RestoreOptions::reuse`].
    reuse: Option<PathBuf>,
    /// Paths below the target, made short however deep they go ([`crate::longpath`]).
    paths: Mutex<crate::longpath::LongPaths>,
}

impl Job {
    /// `target/rel` as a path the kernel accepts (see [`crate::longpath`]).
    fn place(&self, rel: &std::path::Path) -> Result<crate::longpath::Place, String> {
        self.paths
            .lock()
            .map_err(|_| "the path resolver is poisoned".to_owned())?
            .place(rel)
            .map_err(|e| e.to_string())
    }

    /// Records that the store is unavailable; every worker stops.
    fn unavailable(&self, error: String) {
        if let Ok(mut f) = self.fatal.lock() {
            f.get_or_insert(Error::Unavailable(error));
        }
        self.cancel.cancel();
    }

    /// True once the restore must stop (store unavailable, cancelled).
    fn stopped(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// Counts bytes of file content done.
    fn progressed(&self, n: u64) {
        if let Some(p) = &self.progress {
            p.add(n);
        }
    }

    /// Counts bytes of a chosen file into the total (with `include`).
    fn chosen(&self, n: u64) {
        if let (Some(p), true) = (&self.progress, self.counts_total) {
            p.add_total(n);
        }
    }

    /// Records a damaged entry; a full disk is no damage of the snapshot but the end of
    /// the restore: it stops and fails naming the path it could not write.
    fn fail(&self, path: &Path, error: impl std::fmt::Display) {
        let text = error.to_string();
        // Per-entry errors arrive as the text of a std::io::Error ("… (os error N)").
        if text.contains("(os error 28)") || text.contains("(os error 122)") {
            if let Ok(mut f) = self.fatal.lock() {
                f.get_or_insert(Error::io(
                    self.target.join(path),
                    std::io::Error::from_raw_os_error(28),
                ));
            }
            self.cancel.cancel();
            return;
        }
        if let Ok(mut d) = self.damaged.lock() {
            d.push(Damaged {
                path: path.to_string_lossy().into_owned(),
                error: error.to_string(),
            });
        }
    }
}
