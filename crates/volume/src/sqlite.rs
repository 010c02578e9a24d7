//! Recognising SQLite database files by their 100-byte header, without opening them:
//! the magic string `SQLite format 3\0`, and the journal mode from the file-format
//! version bytes 18 and 19 (1 = rollback journal, 2 = WAL).

use std::io::Read;
use std::path::{Path, PathBuf};

/// The files SQLite keeps beside a database `x` while it runs: `x-wal`, `x-shm` and
/// `x-journal`. The one list every part of holdfast uses.
pub const SIDECAR_SUFFIXES: [&str; 3] = ["-wal", "-shm", "-journal"];

/// True when `name` ends with one of [`SIDECAR_SUFFIXES`].
pub fn is_sidecar_name(name: &str) -> bool {
    SIDECAR_SUFFIXES.iter().any(|s| name.ends_with(s))
}

/// The sidecar paths of database `db` (whether they exist or not).
pub fn sidecars(db: &Path) -> Vec<PathBuf> {
    SIDECAR_SUFFIXES
        .iter()
        .map(|s| {
            let mut side = db.as_os_str().to_owned();
            side.push(s);
            PathBuf::from(side)
        })
        .collect()
}

/// The first 16 bytes of every SQLite 3 database.
pub const MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// Journal mode as recorded in the database header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JournalMode {
    /// Rollback journal (`DELETE`, `TRUNCATE`, `PERSIST`, `MEMORY`, `OFF`).
    Rollback,
    /// Write-ahead log.
    Wal,
    /// A version byte holdfast does not know.
    Unknown(u8),
}

/// Reads the header of `path`: `Ok(None)` when it is not a SQLite database (too short or
/// wrong magic).
pub fn journal_mode(path: &Path) -> std::io::Result<Option<JournalMode>> {
    let mut header = [0u8; 100];
    let mut file = std::fs::File::open(path)?;
    let mut filled = 0;
    while filled < header.len() {
        match file.read(&mut header[filled..])? {
            0 => return Ok(None),
            n => filled += n,
        }
    }
    Ok(mode_from_header(&header))
}

/// The journal mode from a header's first 100 bytes, or `None` if it is not SQLite.
pub fn mode_from_header(header: &[u8]) -> Option<JournalMode> {
    if header.len() < 100 || &header[..16] != MAGIC {
        return None;
    }
    Some(match (header[18], header[19]) {
        (2, 2) => JournalMode::Wal,
        (1, 1) => JournalMode::Rollback,
        (w, _) => JournalMode::Unknown(w),
    })
}

/// SQLite databases under `dir`, found by their header, in path order, at most `depth`
/// directories down; symlinks are not followed and `-wal`, `-shm` and `-journal` side files
/// are skipped.
pub fn find_databases(dir: &Path, depth: usize) -> Vec<PathBuf> {
    walkdir::WalkDir::new(dir)
        .max_depth(depth)
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .filter(|e| {
            let name = e.file_name().to_string_lossy();
            !is_sidecar_name(&name)
        })
        .filter(|e| matches!(journal_mode(e.path()), Ok(Some(_))))
        .map(walkdir::DirEntry::into_path)
        .collect()
}

/// A 100-byte header for tests and fixtures: `wal` picks version bytes 2, else 1.
pub fn test_header(wal: bool) -> [u8; 100] {
    let mut h = [0u8; 100];
    h[..16].copy_from_slice(MAGIC);
    h[16] = 0x10; // page size 4096, big-endian
    let v = if wal { 2 } else { 1 };
    h[18] = v;
    h[19] = v;
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_modes() {
        assert_eq!(mode_from_header(&test_header(true)), Some(JournalMode::Wal));
        assert_eq!(
            mode_from_header(&test_header(false)),
            Some(JournalMode::Rollback)
        );
        assert_eq!(mode_from_header(b"not sqlite"), None);
        let mut odd = test_header(false);
        odd[18] = 7;
        assert_eq!(mode_from_header(&odd), Some(JournalMode::Unknown(7)));
    }

    #[test]
    fn finds_databases_by_header() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("db")).expect("mkdir");
        std::fs::write(dir.path().join("db/app.db"), test_header(true)).expect("write");
        std::fs::write(dir.path().join("db/app.db-wal"), test_header(true)).expect("write");
        std::fs::write(dir.path().join("notes.db"), b"plain text").expect("write");
        std::fs::write(dir.path().join("short"), MAGIC).expect("write");
        let found = find_databases(dir.path(), 4);
        assert_eq!(found, vec![dir.path().join("db/app.db")]);
        assert_eq!(
            journal_mode(&found[0]).expect("read"),
            Some(JournalMode::Wal)
        );
    }
}
