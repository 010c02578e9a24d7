//! `holdfast migrate SRC DST`: copies a volume to new storage (seed 001's "migrating to
//! larger storage", done safely).
//!
//! How it works:
//! 1. Both paths are made canonical; DST inside SRC (or SRC inside DST) is refused.
//! 2. SRC is walked without following symlinks. Directories are created first.
//! 3. Regular files are copied by 2–4 workers. A file whose destination already has the
//!    same size and modification time is skipped, so a second run resumes an interrupted
//!    one. Each copy goes to a temporary name in the destination directory, gets the
//!    source's owner (when running as root), mode and times, is fsynced, then renamed
//!    over the final name: a reader never sees half a file.
//! 4. Symlinks are recreated (same target), directories get their mode, owner and times
//!    last, deepest first, and are fsynced.
//! 5. Verify: every file is hashed with BLAKE3 on both sides (also the skipped ones) and
//!    every symlink target compared; any difference fails the migration.
//!
//! DST may also be a store: see [`migrate_to_store`].
//!
//! SRC is only read. When DST runs out of space, the error names the file and the
//! partial temporary file is removed. Hard links are copied as separate files; sockets,
//! FIFOs and device nodes are counted in `special` and skipped.

mod copy;
mod store;
pub mod text;
mod verify;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use serde::Serialize;

pub use store::{MANIFEST_KEY, ManifestEntry, migrate_to_store};

/// How to migrate.
#[derive(Debug, Clone)]
pub struct MigrateOptions {
    /// Parallel copy and hash workers (clamped to 1..=16).
    pub workers: usize,
    /// Hash both sides after copying (on by default; off only for tests of the copy).
    pub verify: bool,
    /// Counts file bytes copied or found already there (total: every file's size), for a
    /// progress bar.
    pub progress: Option<std::sync::Arc<holdfast_repo::Progress>>,
}

impl Default for MigrateOptions {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        MigrateOptions {
            workers: cores.clamp(2, 4),
            verify: true,
            progress: None,
        }
    }
}

/// What a migration did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MigrateReport {
    /// Regular files in the source.
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Files copied by this run.
    pub copied: u64,
    /// Bytes copied by this run.
    pub copied_bytes: u64,
    /// Files skipped because the destination already had them.
    pub skipped: u64,
    /// Directories.
    pub dirs: u64,
    /// Symlinks.
    pub symlinks: u64,
    /// Sockets, FIFOs and device nodes left out.
    pub special: u64,
    /// Both sides hashed and found equal.
    pub verified: bool,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// Why a migration failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MigrateError {
    /// SRC is missing or not a directory.
    #[error("migrate: source {}: {message}", path.display())]
    Source {
        /// SRC.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// DST and SRC overlap.
    #[error("migrate: {message}")]
    Overlap {
        /// Which way they overlap.
        message: String,
    },
    /// DST ran out of space.
    #[error("migrate: no space left on the destination while copying {}; the source is untouched, \
             free space or pick a bigger destination and run again (copied files are kept and \
             skipped)", file.display())]
    NoSpace {
        /// The source file being copied.
        file: PathBuf,
    },
    /// Any other I/O failure.
    #[error("migrate: {op} {}: {source}", path.display())]
    Io {
        /// What was being done: "copy", "create", "read"…
        op: &'static str,
        /// The path it was done to.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The destination store refused an operation.
    #[error("migrate: {op} {key} in the destination store: {source}")]
    Store {
        /// What was being done.
        op: &'static str,
        /// The object key.
        key: String,
        /// The store's error (it names the store URL).
        #[source]
        source: holdfast_store::Error,
    },
    /// Verification found differences.
    #[error("migrate: verification failed: {count} entr{} differ, first {}", if *count == 1 { "y" } else { "ies" }, first.display())]
    Mismatch {
        /// How many entries differ.
        count: usize,
        /// The first of them (relative).
        first: PathBuf,
    },
}

impl MigrateError {
    pub(crate) fn io(op: &'static str, path: &Path, source: std::io::Error) -> Self {
        if matches!(
            source.kind(),
            std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
        ) {
            return MigrateError::NoSpace {
                file: path.to_path_buf(),
            };
        }
        MigrateError::Io {
            op,
            path: path.to_path_buf(),
            source,
        }
    }
}

/// One source entry, relative to SRC.
#[derive(Debug, Clone)]
pub(crate) enum Entry {
    Dir(PathBuf, std::fs::Metadata),
    File(PathBuf, std::fs::Metadata),
    Symlink(PathBuf, std::fs::Metadata),
}

/// Copies the directory `src` into `dst` (created if missing) and verifies the copy.
pub fn migrate(
    src: &Path,
    dst: &Path,
    opts: &MigrateOptions,
) -> Result<MigrateReport, MigrateError> {
    let started = Instant::now();
    let (src, dst) = resolve(src, dst)?;
    let mut report = MigrateReport::default();
    let entries = scan(&src, &mut report)?;
    std::fs::create_dir_all(&dst).map_err(|e| MigrateError::io("create", &dst, e))?;
    for entry in &entries {
        if let Entry::Dir(rel, _) = entry {
            copy::make_dir(&dst.join(rel))?;
        }
    }
    let files: Vec<&Entry> = entries
        .iter()
        .filter(|e| matches!(e, Entry::File(..)))
        .collect();
    let copied = AtomicU64::new(0);
    let copied_bytes = AtomicU64::new(0);
    if let Some(p) = &opts.progress {
        p.set_total(report.bytes);
    }
    run_parallel(opts.workers, &files, |entry| {
        let Entry::File(rel, meta) = entry else {
            return Ok(());
        };
        if copy::copy_file(&src.join(rel), &dst.join(rel), meta)? {
            copied.fetch_add(1, Ordering::Relaxed);
            copied_bytes.fetch_add(meta.len(), Ordering::Relaxed);
        }
        if let Some(p) = &opts.progress {
            p.add(meta.len());
        }
        Ok(())
    })?;
    report.copied = copied.into_inner();
    report.copied_bytes = copied_bytes.into_inner();
    report.skipped = report.files - report.copied;
    for entry in &entries {
        if let Entry::Symlink(rel, meta) = entry {
            copy::copy_symlink(&src.join(rel), &dst.join(rel), meta)?;
        }
    }
    for entry in entries.iter().rev() {
        if let Entry::Dir(rel, meta) = entry {
            copy::finish_dir(&dst.join(rel), meta)?;
        }
    }
    let top = std::fs::metadata(&src).map_err(|e| MigrateError::io("stat", &src, e))?;
    copy::finish_dir(&dst, &top)?;
    if opts.verify {
        verify::verify(&src, &dst, &entries, opts.workers)?;
        report.verified = true;
    }
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Canonical SRC and DST, refusing overlaps.
fn resolve(src: &Path, dst: &Path) -> Result<(PathBuf, PathBuf), MigrateError> {
    let source_err = |message: String| MigrateError::Source {
        path: src.to_path_buf(),
        message,
    };
    let src = std::fs::canonicalize(src).map_err(|e| source_err(e.to_string()))?;
    if !src.is_dir() {
        return Err(source_err("not a directory".to_string()));
    }
    let dst = canonical_maybe_missing(dst).map_err(|e| MigrateError::io("resolve", dst, e))?;
    if dst == src {
        return Err(MigrateError::Overlap {
            message: format!("source and destination are both {}", src.display()),
        });
    }
    if dst.starts_with(&src) {
        return Err(MigrateError::Overlap {
            message: format!(
                "destination {} lies inside the source {}",
                dst.display(),
                src.display()
            ),
        });
    }
    if src.starts_with(&dst) {
        return Err(MigrateError::Overlap {
            message: format!(
                "source {} lies inside the destination {}",
                src.display(),
                dst.display()
            ),
        });
    }
    Ok((src, dst))
}

/// Canonicalizes the longest existing ancestor and appends the rest.
fn canonical_maybe_missing(path: &Path) -> std::io::Result<PathBuf> {
    let absolute = std::path::absolute(path)?;
    let mut existing = absolute.as_path();
    let mut rest = Vec::new();
    while !existing.exists() {
        let Some(name) = existing.file_name() else {
            break;
        };
        rest.push(name.to_os_string());
        existing = existing.parent().unwrap_or(Path::new("/"));
    }
    let mut out = std::fs::canonicalize(existing)?;
    for part in rest.iter().rev() {
        out.push(part);
    }
    Ok(out)
}

fn scan(src: &Path, report: &mut MigrateReport) -> Result<Vec<Entry>, MigrateError> {
    let mut entries = Vec::new();
    for item in walkdir::WalkDir::new(src).min_depth(1).sort_by_file_name() {
        let item = item.map_err(|e| {
            let path = e.path().unwrap_or(src).to_path_buf();
            MigrateError::io("read", &path, std::io::Error::other(e.to_string()))
        })?;
        let rel = item
            .path()
            .strip_prefix(src)
            .unwrap_or(item.path())
            .to_path_buf();
        let meta = item.metadata().map_err(|e| {
            MigrateError::io("stat", item.path(), std::io::Error::other(e.to_string()))
        })?;
        let kind = item.file_type();
        if kind.is_dir() {
            report.dirs += 1;
            entries.push(Entry::Dir(rel, meta));
        } else if kind.is_file() {
            report.files += 1;
            report.bytes += meta.len();
            entries.push(Entry::File(rel, meta));
        } else if kind.is_symlink() {
            report.symlinks += 1;
            entries.push(Entry::Symlink(rel, meta));
        } else {
            report.special += 1;
        }
    }
    Ok(entries)
}

/// Runs `work` over `items` on `workers` threads; the first error stops the others.
pub(crate) fn run_parallel<T: Sync>(
    workers: usize,
    items: &[T],
    work: impl Fn(&T) -> Result<(), MigrateError> + Sync,
) -> Result<(), MigrateError> {
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let first_error: Mutex<Option<MigrateError>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..workers.clamp(1, 16) {
            scope.spawn(|| {
                while !failed.load(Ordering::Relaxed) {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    if let Err(e) = work(item) {
                        failed.store(true, Ordering::Relaxed);
                        let mut slot = first_error.lock().unwrap_or_else(|p| p.into_inner());
                        slot.get_or_insert(e);
                    }
                }
            });
        }
    });
    match first_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
