//! The verify pass of a migration: BLAKE3 of every file on both sides, symlink targets and
//! directories compared.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::{Entry, MigrateError, run_parallel};

fn hash(path: &Path) -> std::io::Result<blake3::Hash> {
    let mut hasher = blake3::Hasher::new();
    hasher.update_reader(std::fs::File::open(path)?)?;
    Ok(hasher.finalize())
}

/// Checks that `dst` holds everything in `entries` exactly as `src` does.
pub(super) fn verify(
    src: &Path,
    dst: &Path,
    entries: &[Entry],
    workers: usize,
) -> Result<(), MigrateError> {
    let differ: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
    let note = |rel: &Path| {
        differ
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(rel.into())
    };
    run_parallel(workers, entries, |entry| {
        match entry {
            Entry::File(rel, _) => {
                let source = src.join(rel);
                let expected = hash(&source).map_err(|e| MigrateError::io("read", &source, e))?;
                if hash(&dst.join(rel)).ok() != Some(expected) {
                    note(rel);
                }
            }
            Entry::Symlink(rel, _) => {
                let source = src.join(rel);
                let target = std::fs::read_link(&source)
                    .map_err(|e| MigrateError::io("read link", &source, e))?;
                if std::fs::read_link(dst.join(rel)).ok() != Some(target) {
                    note(rel);
                }
            }
            Entry::Dir(rel, _) => {
                if !dst.join(rel).is_dir() {
                    note(rel);
                }
            }
        }
        Ok(())
    })?;
    let mut differ = differ.into_inner().unwrap_or_else(|p| p.into_inner());
    differ.sort();
    match differ.first() {
        None => Ok(()),
        Some(first) => Err(MigrateError::Mismatch {
            count: differ.len(),
            first: first.clone(),
        }),
    }
}
