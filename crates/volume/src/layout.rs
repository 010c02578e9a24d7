//! Which names holdfast owns inside a volume: the one list, each name declared once.
//!
//! A volume is the app's directory; holdfast keeps a few entries of its own in it. None
//! of them is part of a snapshot ([`OWN`], the backup's excludes), none is ever moved
//! aside or replaced by a restore ([`is_own`], the swap's refusal), and the file API
//! neither lists nor accepts them ([`crate::root::check_key`]).
//!
//! | name | where | what | declared |
//! |---|---|---|---|
//! | `.holdfast/` | volume root | holdfast's state directory | [`STATE_DIR`] |
//! | `.holdfast/backup.json` | state dir | the last backup's outcome ([`crate::freshness`]) | [`BACKUP_RECORD`] |
//! | `.holdfast/schedule.json` | state dir | when each scheduled job last ran (`serve`) | [`SCHEDULE_FILE`] |
//! | `.holdfast/cache/` | state dir | the HTTP API's TTL cache | [`CACHE_DIR`] |
//! | `.holdfast/swap/` | state dir | journaled swaps in progress, their `lock` ([`crate::swap`]) | [`SWAP_DIR`] |
//! | `.holdfast/swap/<id>/` | swap dir | one swap: `journal.json`, stage `new/`, `old/`, `scratch/` | [`crate::swap::journal::JOURNAL`] |
//! | `.holdfast/kept/<id>/` | state dir | data a restore replaced, kept on request (`--keep-old`), or always by a restore of one path ([`crate::restore::path`]) | [`KEPT_DIR`] |
//! | `.holdfast/kept/<id>.json` | state dir | what a restore of one path brought in and moved aside, for its undo ([`crate::restore::kept`]) | [`kept_manifest`] |
//! | `.holdfast/pg/<name>/` | state dir | the spool of a Postgres database's WAL (`archive = true`) | [`PG_SPOOL_DIR`] |
//! | `.holdfast-tmp/` | volume root | temporary files of writes through the store crate's local backend (a volume opened as a store) | [`STORE_TEMP_DIR`] ¹ |
//! | `.holdfast-part-*` | any directory | a file API or cache write in progress ([`crate::root`]) | [`PART_PREFIX`] |
//! | `.holdfast-restore-*` | any directory | a file being restored, before its rename; a staged Postgres dump's directory | [`RESTORE_PREFIX`] ¹ |
//! | `.holdfast-old-*` | volume root | data set aside by restores of older holdfast versions | [`OLD_PREFIX`] |
//! | `.holdfast-probe-*` | volume root | a write probe of the guard and `status` ([`crate::status`]) | [`PROBE_PREFIX`] |
//! | `.holdfast-migrate-*.tmp` | any directory | a file being copied by `holdfast migrate` | [`MIGRATE_PREFIX`] |
//!
//! Names holdfast recognises but does not own:
//!
//! - `lost+found` ([`LOST_FOUND`]): the file system's own directory at the top of an
//!   ext4 volume; an empty volume may hold it, and a swap never moves it.
//! - `.holdfast-databases/` (`holdfast_repo::DATABASES_DIR` ¹): database dumps live
//!   there inside a snapshot only; a volume entry of that name is left out of backups,
//!   and a restore into a live volume drops it from the stage.
//! - `uploads/` ([`UPLOAD_DIR`]): where `POST /api/v1/uploads/{volume}` writes files;
//!   they are the app's data and are backed up like any other.
//! - `.holdfast-probe/` (in `holdfast-store`): where `Store::capabilities` writes its
//!   probe of conditional writes in a remote repository; never on a volume.
//!
//! ¹ Declared in a lower crate that cannot depend on this one — `holdfast_store::TEMP_DIR`,
//! `holdfast_repo::RESTORE_TEMP_PREFIX`, `holdfast_repo::DATABASES_DIR` — and used here
//! through that declaration; the test `lower_crates_agree` pins the names.

use std::ffi::OsStr;

/// holdfast's state directory at the top of every volume; never part of a snapshot or
/// a swap. The paths below are relative to the volume root.
pub const STATE_DIR: &str = ".holdfast";
/// The last backup's outcome ([`crate::freshness::BackupRecord`]).
pub const BACKUP_RECORD: &str = ".holdfast/backup.json";
/// When each scheduled job last ran (`serve`'s scheduler).
pub const SCHEDULE_FILE: &str = ".holdfast/schedule.json";
/// The HTTP API's TTL cache, one file per entry.
pub const CACHE_DIR: &str = ".holdfast/cache";
/// The swap area: one work directory per swap, and the `lock` they take.
pub const SWAP_DIR: &str = ".holdfast/swap";
/// Where replaced data is kept when asked, one directory per swap.
pub const KEPT_DIR: &str = ".holdfast/kept";
/// The manifest of restore `id` beside its kept data, `.holdfast/kept/<id>.json`.
pub fn kept_manifest(id: &str) -> String {
    format!("{KEPT_DIR}/{id}.json")
}
/// The default spools of Postgres WAL waiting for the uploader, one directory per
/// database ([`crate::databases::postgres::archive`]).
pub const PG_SPOOL_DIR: &str = ".holdfast/pg";
/// The temporary directory of the store crate's local backend (`holdfast_store::TEMP_DIR`).
pub const STORE_TEMP_DIR: &str = holdfast_store::TEMP_DIR;
/// The start of a write-in-progress file's name ([`crate::root`]), in any directory.
pub const PART_PREFIX: &str = ".holdfast-part-";
/// The start of a file-being-restored's name, in any directory
/// (`holdfast_repo::RESTORE_TEMP_PREFIX`).
pub const RESTORE_PREFIX: &str = holdfast_repo::RESTORE_TEMP_PREFIX;
/// The start of the name of data set aside by restores of older holdfast versions.
pub const OLD_PREFIX: &str = ".holdfast-old-";
/// The start of a write probe's name at the top of a volume.
pub const PROBE_PREFIX: &str = ".holdfast-probe-";
/// The start of a file-being-migrated's name in the destination.
pub const MIGRATE_PREFIX: &str = ".holdfast-migrate-";
/// Where the HTTP API's uploads land, at the top of a volume: the app's data.
pub const UPLOAD_DIR: &str = "uploads";
/// The file system's own directory at the top of an ext4 volume: never user data.
pub const LOST_FOUND: &str = "lost+found";
/// Where database dumps live inside a snapshot (`holdfast_repo::DATABASES_DIR`): never
/// on a volume.
pub const DATABASES_DIR: &str = holdfast_repo::DATABASES_DIR;

/// Every top-level name holdfast owns, as backup exclude patterns (`*` ends a prefix):
/// never part of a snapshot, never swapped.
pub const OWN: [&str; 5] = [
    STATE_DIR,
    STORE_TEMP_DIR,
    ".holdfast-restore-*",
    ".holdfast-old-*",
    // A file API write's temp file, left by a crash in the middle of the write.
    ".holdfast-part-*",
];

/// True when a top-level `name` of a volume is one of holdfast's own ([`OWN`]).
pub fn is_own(name: &OsStr) -> bool {
    let Some(name) = name.to_str() else {
        return false;
    };
    OWN.iter().any(|p| match p.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => name == *p,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names the lower crates declare for themselves are the ones this list says.
    #[test]
    fn lower_crates_agree() {
        assert_eq!(holdfast_store::TEMP_DIR, ".holdfast-tmp");
        assert_eq!(holdfast_repo::RESTORE_TEMP_PREFIX, ".holdfast-restore-");
        assert_eq!(holdfast_repo::DATABASES_DIR, ".holdfast-databases");
        assert!(OWN.contains(&holdfast_store::TEMP_DIR));
        assert!(OWN.contains(&format!("{}*", holdfast_repo::RESTORE_TEMP_PREFIX).as_str()));
    }

    /// Every state path is inside the state directory.
    #[test]
    fn state_paths_are_inside_the_state_dir() {
        for p in [BACKUP_RECORD, SCHEDULE_FILE, CACHE_DIR, SWAP_DIR, KEPT_DIR] {
            let rest = p.strip_prefix(STATE_DIR).and_then(|r| r.strip_prefix('/'));
            assert!(
                rest.is_some_and(|r| !r.is_empty() && !r.contains('/')),
                "{p}"
            );
        }
    }

    #[test]
    fn own_patterns_match_their_prefixes() {
        for p in [PART_PREFIX, RESTORE_PREFIX, OLD_PREFIX] {
            assert!(OWN.contains(&format!("{p}*").as_str()), "{p}");
            assert!(is_own(OsStr::new(&format!("{p}x"))), "{p}");
        }
        assert!(is_own(OsStr::new(STATE_DIR)));
        assert!(!is_own(OsStr::new(LOST_FOUND)));
        assert!(!is_own(OsStr::new(".holdfastx")));
    }
}
