//! `holdfast repair`: putting a damaged repository back in order.
//!
//! - [`index`]: rebuild the index from the packs' own trailers.
//! - [`snapshots`]: rewrite snapshots whose files lost data, leaving those files out.
//!
//! Both are dry runs unless told otherwise, hold the exclusive lock, and write new
//! objects before they delete old ones.

pub mod index;
pub mod snapshots;
pub mod text;

pub use index::{
    IndexRecovery, RepairIndexOptions, RepairIndexReport, Unusable, index_for_reading, repair_index,
};
pub use snapshots::{
    RepairSnapshotsOptions, RepairSnapshotsReport, RepairedSnapshot, repair_snapshots,
};
