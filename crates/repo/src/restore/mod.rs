//! `restore`: writes a snapshot's root contents into a target directory.
//!
//! How it works: the trees are walked first (names were checked by the tree parser: one
//! component, no `..`, `/` or NUL). Directories are created parents first and each one
//! is checked to be a real directory, never a symlink, before anything is written in
//! it. Files are written to fresh temp names opened with `O_EXCL | O_NOFOLLOW`,
//! their blobs fetched pack by pack in range requests ([`files`]), then metadata is set
//! and each temp file renamed over the final name. Symlinks are made
//! after all files, so no file is ever written through one; directory modes and times
//! are set last, deepest first. A damaged blob or tree spoils only the files that need
//! it: they are listed in the summary and the rest is restored.
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

use std::collections::HashSet;
use std::fs::File;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use filetime::FileTime;
use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

mod files;
pub mod overwrite;

use crate::browse::{Entry, walk};
use crate::error::{Error, Result};
use crate::repository::IndexedRepository;
use crate::snapshot::Snapshot;
use crate::tree::{Node, NodeType};
pub use overwrite::{Action, Overwrite, Planned};

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

fn select(entries: Vec<Entry>, include: Option<&GlobSet>) -> Vec<Entry> {
    let Some(set) = include else { return entries };
    let chosen: HashSet<PathBuf> = entries
        .iter()
        .filter(|e| {
            e.path
                .ancestors()
                .any(|a| !a.as_os_str().is_empty() && set.is_match(a))
        })
        .map(|e| e.path.clone())
        .collect();
    let needed: HashSet<&Path> = chosen.iter().flat_map(|p| p.ancestors()).collect();
    entries
        .into_iter()
        .filter(|e| needed.contains(e.path.as_path()))
        .collect()
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
        Ok((fresh, _)) => restore_locked(&fresh, snapshot, opts, token.child_token()).await,
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
    let (entries, tree_errors) = walk(repo, snapshot.tree).await;
    if let Some((_, e)) = tree_errors.iter().find(|(_, e)| e.is_unavailable()) {
        return Err(Error::Unavailable(e.to_string()));
    }
    opts.failpoints
        .hit(crate::failpoint::Step::RestoreAfterTrees)
        .await?;
    let entries = select(entries, include.as_ref());
    let mut summary = RestoreSummary::default();
    for (path, e) in tree_errors {
        summary.damaged.push(Damaged {
            path: format!("{}/", path.display()),
            error: e.to_string(),
        });
    }
    let target = if opts.dry_run && !opts.target.exists() {
        opts.target.clone()
    } else {
        std::fs::create_dir_all(&opts.target).map_err(|e| Error::io(&opts.target, e))?;
        std::fs::canonicalize(&opts.target).map_err(|e| Error::io(&opts.target, e))?
    };
    let job = Job {
        repo: repo.clone(),
        rt: tokio::runtime::Handle::current(),
        target,
        damaged: Mutex::new(Vec::new()),
        fatal: Mutex::new(None),
        cancel,
        mode: opts.overwrite,
        dry_run: opts.dry_run,
    };
    let summary = tokio::task::spawn_blocking(move || job.run(entries, summary))
        .await
        .map_err(|e| Error::Internal(format!("restore task: {e}")))??;
    Ok(summary)
}

/// Threads that fetch and write blobs: enough to keep the cores busy on a local store,
/// more on a remote one, where each read mostly waits on the network.
fn restore_threads(store: &holdfast_store::Store) -> usize {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    if store.local_root().is_some() {
        cores.max(4)
    } else {
        (cores * 2).max(8)
    }
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
}

pub(super) fn io_text(e: std::io::Error) -> String {
    e.to_string()
}

impl Job {
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

    fn run(self, entries: Vec<Entry>, mut summary: RestoreSummary) -> Result<RestoreSummary> {
        let me_root = std::fs::metadata("/proc/self")
            .map(|m| m.uid() == 0)
            .unwrap_or(false);
        let mut bad_dirs: HashSet<PathBuf> = HashSet::new();
        let blocked =
            |p: &Path, bad: &HashSet<PathBuf>| p.ancestors().skip(1).any(|a| bad.contains(a));
        let (mut dirs, mut files, mut links) = (Vec::new(), Vec::new(), Vec::new());
        for e in entries {
            match e.node.kind {
                NodeType::Dir => dirs.push(e),
                NodeType::File => files.push(e),
                NodeType::Symlink => links.push(e),
            }
        }
        for d in &dirs {
            if blocked(&d.path, &bad_dirs) {
                bad_dirs.insert(d.path.clone());
                continue;
            }
            let made = if self.dry_run {
                would_make_dir(&self.target.join(&d.path))
            } else {
                self.make_dir(&self.target.join(&d.path))
            };
            match made {
                Ok(()) => summary.dirs += 1,
                Err(e) => {
                    self.fail(&d.path, e);
                    bad_dirs.insert(d.path.clone());
                }
            }
        }
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(restore_threads(self.repo.store()))
            .build()
            .map_err(|e| Error::Internal(format!("restore threads: {e}")))?;
        let mut replacing: HashSet<&Path> = HashSet::new();
        let mut wanted: Vec<&Entry> = Vec::new();
        for f in files.iter().filter(|f| !blocked(&f.path, &bad_dirs)) {
            match self.decide(f, &mut summary) {
                Action::Skip => continue,
                Action::Overwrite => {
                    replacing.insert(&f.path);
                }
                Action::Write => {}
            }
            if self.dry_run {
                summary.files += 1;
                summary.bytes += f.node.size;
            } else {
                wanted.push(f);
            }
        }
        let written: Vec<(&Entry, u64)> = if self.dry_run {
            Vec::new()
        } else {
            pool.install(|| self.restore_files(wanted, me_root))
        };
        if !self.dry_run {
            summary.files = written.len() as u64;
            summary.bytes = written.iter().map(|(_, n)| n).sum();
            summary.overwritten = written
                .iter()
                .filter(|(e, _)| replacing.contains(e.path.as_path()))
                .count() as u64;
        }
        for l in links.iter().filter(|l| !blocked(&l.path, &bad_dirs)) {
            let action = self.decide(l, &mut summary);
            if action == Action::Skip {
                continue;
            }
            if self.dry_run {
                summary.symlinks += 1;
                continue;
            }
            match self.symlink(l, me_root) {
                Ok(()) => {
                    summary.symlinks += 1;
                    summary.overwritten += u64::from(action == Action::Overwrite);
                }
                Err(e) => self.fail(&l.path, e),
            }
        }
        if self.dry_run {
            summary.overwritten = summary
                .planned
                .iter()
                .filter(|p| p.action == Action::Overwrite)
                .count() as u64;
            summary
                .damaged
                .extend(self.damaged.into_inner().unwrap_or_default());
            return Ok(summary);
        }
        self.sync_dirs(written.iter().map(|(e, _)| e.path.as_path()));
        for d in dirs.iter().rev().filter(|d| !bad_dirs.contains(&d.path)) {
            if let Err(e) = set_dir_meta(&self.target.join(&d.path), &d.node, me_root) {
                self.fail(&d.path, e);
            }
        }
        if let Some(e) = self.fatal.into_inner().ok().flatten() {
            return Err(e);
        }
        if self.cancel.is_cancelled() {
            return Err(Error::Cancelled("restore".into()));
        }
        summary
            .damaged
            .extend(self.damaged.into_inner().unwrap_or_default());
        Ok(summary)
    }

    /// What happens to a file or symlink entry; counts a skip, and in a dry run lists it.
    fn decide(&self, entry: &Entry, summary: &mut RestoreSummary) -> Action {
        let dest = self.target.join(&entry.path);
        let action = overwrite::decide(&self.repo, &entry.node, &dest, self.mode);
        if action == Action::Skip {
            summary.skipped += 1;
        }
        if self.dry_run {
            summary.planned.push(Planned {
                path: entry.path.to_string_lossy().into_owned(),
                action,
            });
        }
        action
    }

    /// Fsyncs the directories that received files, so the renames survive a crash.
    /// A directory that cannot be synced is reported as damaged.
    fn sync_dirs<'a>(&self, paths: impl Iterator<Item = &'a Path>) {
        let dirs: HashSet<&Path> = paths.filter_map(Path::parent).collect();
        for d in dirs {
            if let Err(e) = File::open(self.target.join(d)).and_then(|f| f.sync_all()) {
                self.fail(d, format!("syncing the directory: {e}"));
            }
        }
    }

    fn make_dir(&self, path: &Path) -> Result<(), String> {
        match std::fs::create_dir(path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let m = std::fs::symlink_metadata(path).map_err(io_text)?;
                if m.is_dir() {
                    Ok(())
                } else {
                    Err("exists and is not a directory (refusing to follow it)".into())
                }
            }
            Err(e) => Err(e.to_string()),
        }
    }

    fn symlink(&self, entry: &Entry, me_root: bool) -> Result<(), String> {
        let dest = self.target.join(&entry.path);
        let target = entry.node.os_target().ok_or("symlink without target")?;
        if let Ok(m) = std::fs::symlink_metadata(&dest) {
            if m.is_dir() {
                return Err("a directory is in the way".into());
            }
            std::fs::remove_file(&dest).map_err(io_text)?;
        }
        std::os::unix::fs::symlink(&target, &dest).map_err(io_text)?;
        if me_root {
            let _ = std::os::unix::fs::lchown(&dest, Some(entry.node.uid), Some(entry.node.gid));
        }
        let t = mtime(&entry.node);
        filetime::set_symlink_file_times(&dest, t, t).map_err(io_text)
    }
}

/// The dry-run twin of `Job::make_dir`: fine when missing or a real directory.
fn would_make_dir(path: &Path) -> Result<(), String> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if !m.is_dir() => Err("exists and is not a directory (refusing to follow it)".into()),
        _ => Ok(()),
    }
}

fn mtime(node: &Node) -> FileTime {
    FileTime::from_unix_time(
        node.mtime_ns.div_euclid(1_000_000_000),
        node.mtime_ns.rem_euclid(1_000_000_000) as u32,
    )
}

fn set_file_meta(file: &File, node: &Node, me_root: bool) -> std::io::Result<()> {
    if me_root {
        std::os::unix::fs::fchown(file, Some(node.uid), Some(node.gid))?;
    }
    file.set_permissions(std::fs::Permissions::from_mode(node.mode & 0o7777))?;
    let t = mtime(node);
    filetime::set_file_handle_times(file, Some(t), Some(t))
}

fn set_dir_meta(path: &Path, node: &Node, me_root: bool) -> std::io::Result<()> {
    if me_root {
        std::os::unix::fs::lchown(path, Some(node.uid), Some(node.gid))?;
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(node.mode & 0o7777))?;
    let t = mtime(node);
    filetime::set_file_times(path, t, t)
}
