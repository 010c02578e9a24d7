//! Deleting old files (seed 002's `deleteOldFiles`, seed 001's workspace cleanup): every
//! regular file under a directory, or object under a store URL ([`cleanup_path`]), last
//! modified before `now - older_than`, optionally only those matching a glob.
//!
//! The walk does not follow symlinks and leaves symlinks and directories alone. A missing
//! directory is an empty report, not an error; a file that cannot be inspected or deleted
//! is counted in `errors` and the walk goes on.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

mod store;
pub mod text;

use globset::{GlobBuilder, GlobMatcher};
use serde::Serialize;

pub use store::{cleanup_path, cleanup_store};

/// What to delete.
#[derive(Debug, Clone)]
pub struct CleanupOptions {
    /// Files last modified longer ago than this are deleted.
    pub older_than: Duration,
    /// Only files matching this glob: matched against the file name when it has no `/`,
    /// else against the path relative to the directory (`*` stays within one segment).
    pub filter: Option<String>,
    /// Only report what would be deleted.
    pub dry_run: bool,
    /// The present moment (tests pass a fixed one); `None` is the clock.
    pub now: Option<SystemTime>,
}

/// One file deleted (or that would be, or that failed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CleanedFile {
    /// The file.
    pub path: PathBuf,
    /// Its size.
    pub size: u64,
    /// Why it could not be deleted.
    pub error: Option<String>,
}

/// What a cleanup did. Serializes to `{"deleted","bytes","errors"}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CleanupReport {
    /// Files deleted (in a dry run: that would be deleted).
    pub deleted: u64,
    /// Bytes those files held.
    pub bytes: u64,
    /// Entries that could not be inspected or deleted.
    pub errors: u64,
    /// Every file considered for deletion, in walk order, with any error.
    #[serde(skip)]
    pub files: Vec<CleanedFile>,
    /// Problems met while walking, with their paths.
    #[serde(skip)]
    pub problems: Vec<String>,
}

/// Why a cleanup could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CleanupError {
    /// The path exists but is not a directory.
    #[error("cleanup: {} is not a directory", path.display())]
    NotADirectory {
        /// The path.
        path: PathBuf,
    },
    /// The store URL could not be opened.
    #[error("cleanup: {source}")]
    Store {
        /// The store's error.
        #[source]
        source: holdfast_store::Error,
    },
    /// The cleanup task was cancelled or panicked.
    #[error("cleanup interrupted: {message}")]
    Interrupted {
        /// What happened.
        message: String,
    },
    /// The filter is not a valid glob.
    #[error("cleanup: bad filter `{pattern}`: {message}")]
    BadFilter {
        /// The glob.
        pattern: String,
        /// What is wrong with it.
        message: String,
    },
}

/// A compiled `--filter`: glob on the name, or on the relative path when it has a `/`.
#[derive(Debug, Clone)]
pub struct NameFilter {
    matcher: GlobMatcher,
    on_path: bool,
}

impl NameFilter {
    /// Compiles a filter glob.
    pub fn new(pattern: &str) -> Result<NameFilter, CleanupError> {
        let matcher = GlobBuilder::new(pattern)
            .literal_separator(true)
            .build()
            .map_err(|e| CleanupError::BadFilter {
                pattern: pattern.to_string(),
                message: e.kind().to_string(),
            })?
            .compile_matcher();
        Ok(NameFilter {
            matcher,
            on_path: pattern.contains('/'),
        })
    }

    /// Whether a file at `relative` (to the cleaned directory) matches.
    pub fn matches(&self, relative: &Path) -> bool {
        if self.on_path {
            self.matcher.is_match(relative)
        } else {
            relative
                .file_name()
                .is_some_and(|n| self.matcher.is_match(n))
        }
    }
}

/// Deletes (or, in a dry run, lists) the old files under `dir`.
pub fn cleanup_dir(dir: &Path, opts: &CleanupOptions) -> Result<CleanupReport, CleanupError> {
    let filter = opts.filter.as_deref().map(NameFilter::new).transpose()?;
    let mut report = CleanupReport::default();
    match std::fs::symlink_metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(report),
        Ok(m) if !m.is_dir() => return Err(CleanupError::NotADirectory { path: dir.into() }),
        _ => {}
    }
    let now = opts.now.unwrap_or_else(SystemTime::now);
    let cutoff = now
        .checked_sub(opts.older_than)
        .unwrap_or(SystemTime::UNIX_EPOCH);
    for entry in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                report.errors += 1;
                report.problems.push(e.to_string());
                continue;
            }
        };
        if !entry.file_type().is_file() {
            continue;
        }
        let relative = entry.path().strip_prefix(dir).unwrap_or(entry.path());
        if filter.as_ref().is_some_and(|f| !f.matches(relative)) {
            continue;
        }
        let meta = match entry.metadata() {
            Ok(m) => m,
            Err(e) => {
                report.errors += 1;
                report
                    .problems
                    .push(format!("{}: {e}", entry.path().display()));
                continue;
            }
        };
        let Ok(modified) = meta.modified() else {
            continue;
        };
        if modified >= cutoff {
            continue;
        }
        let size = meta.len();
        let error = if opts.dry_run {
            None
        } else {
            std::fs::remove_file(entry.path())
                .err()
                .map(|e| e.to_string())
        };
        match &error {
            None => {
                report.deleted += 1;
                report.bytes += size;
            }
            Some(e) => {
                report.errors += 1;
                report
                    .problems
                    .push(format!("{}: {e}", entry.path().display()));
            }
        }
        report.files.push(CleanedFile {
            path: entry.into_path(),
            size,
            error,
        });
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(86_400);

    fn file(dir: &Path, name: &str, bytes: usize, age: Duration, now: SystemTime) {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&path, vec![1u8; bytes]).expect("write");
        let f = std::fs::File::options()
            .write(true)
            .open(&path)
            .expect("open");
        f.set_modified(now - age).expect("set mtime");
    }

    fn opts(
        older_than: Duration,
        filter: Option<&str>,
        dry_run: bool,
        now: SystemTime,
    ) -> CleanupOptions {
        CleanupOptions {
            older_than,
            filter: filter.map(str::to_string),
            dry_run,
            now: Some(now),
        }
    }

    #[test]
    fn deletes_old_files_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let now = SystemTime::now();
        file(dir.path(), "old.log", 10, 10 * DAY, now);
        file(dir.path(), "sub/old.tmp", 20, 8 * DAY, now);
        file(dir.path(), "new.log", 40, DAY, now);
        std::os::unix::fs::symlink("/etc/hostname", dir.path().join("link")).expect("symlink");

        let dry = cleanup_dir(dir.path(), &opts(7 * DAY, None, true, now)).expect("dry run");
        assert_eq!((dry.deleted, dry.bytes, dry.errors), (2, 30, 0));
        assert!(
            dir.path().join("old.log").exists(),
            "dry run deletes nothing"
        );

        let r = cleanup_dir(dir.path(), &opts(7 * DAY, None, false, now)).expect("cleanup");
        assert_eq!((r.deleted, r.bytes, r.errors), (2, 30, 0));
        assert!(!dir.path().join("old.log").exists());
        assert!(!dir.path().join("sub/old.tmp").exists());
        assert!(dir.path().join("new.log").exists());
        assert!(dir.path().join("link").symlink_metadata().is_ok());
        assert!(dir.path().join("sub").is_dir(), "directories are kept");
    }

    #[test]
    fn filters_by_name_or_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let now = SystemTime::now();
        file(dir.path(), "a.tmp", 1, 9 * DAY, now);
        file(dir.path(), "x/b.tmp", 2, 9 * DAY, now);
        file(dir.path(), "x/c.log", 4, 9 * DAY, now);
        let r = cleanup_dir(dir.path(), &opts(DAY, Some("*.tmp"), true, now)).expect("ok");
        assert_eq!((r.deleted, r.bytes), (2, 3));
        let r = cleanup_dir(dir.path(), &opts(DAY, Some("x/*"), true, now)).expect("ok");
        assert_eq!((r.deleted, r.bytes), (2, 6));
        assert!(matches!(
            cleanup_dir(dir.path(), &opts(DAY, Some("a[b"), true, now)),
            Err(CleanupError::BadFilter { .. })
        ));
    }

    #[test]
    fn missing_directory_is_empty_and_file_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let now = SystemTime::now();
        let r = cleanup_dir(&dir.path().join("absent"), &opts(DAY, None, false, now)).expect("ok");
        assert_eq!(r, CleanupReport::default());
        file(dir.path(), "f", 1, DAY, now);
        assert!(matches!(
            cleanup_dir(&dir.path().join("f"), &opts(DAY, None, false, now)),
            Err(CleanupError::NotADirectory { .. })
        ));
    }
}
