//! holdfast-repo: the snapshot repository.
//!
//! Deduplicated, compressed, encrypted snapshots on any [`holdfast_store::Store`]. The
//! on-store format is written down in `docs/FORMAT.md`. Each operation is a function
//! taking an `*Options` struct:
//!
//! ```
//! # async fn demo() -> holdfast_repo::Result<()> {
//! use holdfast_repo::{BackupOptions, InitOptions, KdfParams, backup, init};
//! let store = holdfast_store::Store::open("memory://")?;
//! let opts = InitOptions { password: "secret".into(), kdf: KdfParams::insecure_fast() };
//! let repo = init(store, &opts).await?;
//! let mut repo = repo.load_index().await?;
//! let dir = tempfile::tempdir().map_err(|e| holdfast_repo::Error::io("tmp", e))?;
//! std::fs::write(dir.path().join("a.txt"), "hello").map_err(|e| holdfast_repo::Error::io("a.txt", e))?;
//! let summary = backup(&mut repo, &BackupOptions::new(dir.path())).await?;
//! assert_eq!(summary.snapshot.files, 1);
//! # Ok(()) }
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! #     Ok(tokio::runtime::Runtime::new()?.block_on(demo())?)
//! # }
//! ```
//!
//! Each operation's report has a text form beside the operation (`forget::text`,
//! `prune::text`, `restore::text`, `verify::text`, …), built on [`text`]; its JSON form
//! is the report's own serialisation. Front ends print what these return.

pub mod backup;
pub mod browse;
mod cache;
pub mod chunker;
pub mod clock;
mod compress;
pub mod copy;
pub mod crypto;
pub mod error;
pub mod export;
pub mod failpoint;
pub mod forget;
pub mod id;
pub mod index;
pub mod keys;
pub mod lock;
mod longpath;
pub mod open;
pub mod pack;
pub mod progress;
pub mod prune;
pub mod repair;
pub mod repository;
pub mod restore;
pub mod retention;
pub mod snapshot;
pub mod text;
pub mod tools;
pub mod tree;
pub mod verify;
pub mod wal;

#[cfg(test)]
mod deep_tests;
#[cfg(test)]
mod test_support;

pub use backup::{
    BackupOptions, BackupProgress, BackupSummary, DATABASES_DIR, ExtraFile, ExtraSource,
    FileChanges, Overrides, backup,
};
pub use browse::{
    ArchiveFormat, ArchiveOptions, Change, DiffChange, DiffEntry, DiffOptions, DiffPage, DirEntry,
    DirOptions, DirPage, Entry, FileRead, FileReadOptions, FindPage, FindPageOptions, LsOptions,
    TreeCache, Versions, VersionsOptions, archive, content_id, diff, diff_page, find_page,
    list_dir, ls, open_file, versions,
};
pub use copy::{CopiedSnapshot, CopyOptions, CopyReport, copy};
pub use crypto::KdfParams;
pub use error::{Error, Result};
pub use export::{ExportOptions, ExportSummary, export};
pub use failpoint::{Failpoints, Step};
pub use forget::{ForgetGroup, ForgetOptions, ForgetReport, forget};
pub use id::Id;
pub use lock::{Lock, LockOptions, UnlockOptions, UnlockReport, unlock};
pub use open::{KeyCache, open, open_cached};
pub use progress::Progress;
pub use prune::{PruneOptions, PrunePhase, PruneReport, prune};
pub use repair::{
    RepairIndexOptions, RepairIndexReport, RepairSnapshotsOptions, RepairSnapshotsReport,
    repair_index, repair_snapshots,
};
pub use repository::{
    IndexedRepository, InitOptions, OpenOptions, Picked, Repository, Restorable, init,
};
pub use restore::{
    Damaged, OnIndex, Overwrite, PackReader, RESTORE_TEMP_PREFIX, ReadFuture, ReadOptions,
    RestoreOptions, RestoreSummary, restore,
};
pub use snapshot::{BackupReport, Shrunk, Snapshot, SnapshotSummary};
pub use tools::{SnapshotFilter, find, stats, tag};
pub use verify::{Problem, Subset, VerifyOptions, VerifyReport, verify};
