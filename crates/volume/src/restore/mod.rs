//! Restoring into a live volume: every protocol that replaces data an app reads, one
//! shape each — stage → restore → check → commit — through the journaled swap
//! ([`crate::swap`]).
//!
//! | protocol | replaces | front end |
//! |---|---|---|
//! | [`empty`] | an empty volume with the whole latest snapshot | `restore_if_empty = true` (`holdfast run`) |
//! | [`missing`] | the listed files missing from a volume | `restore_if_missing` (`holdfast run`) |
//! | [`in_place`] | a whole volume with a chosen snapshot | `holdfast restore ID --in-place --yes` |
//! | [`database`] | one database (SQLite by swap, Postgres by `pg_restore`) | `holdfast restore ID --database NAME --yes` |
//! | [`path`] | one file or directory of a volume, kept for an undo ([`kept`]) | `POST /api/v1/restores` |
//!
//! Each one:
//!
//! 1. **stage**: [`crate::swap::Swap::begin`] makes a stage inside the volume's
//!    `.holdfast/swap/` (same file system as the data, so every move is a rename);
//! 2. **restore**: the snapshot (or the chosen paths of it) is restored into the stage;
//! 3. **check**: a damaged entry, a missing file or a failed `integrity_check` stops it
//!    here; the stage is removed and the live data was never touched;
//! 4. **commit**: [`crate::swap::Swap::commit`] swaps the staged entries in; a crash at
//!    any point leaves the old set or the new one, whole, once the next `run` or
//!    `restore` has recovered the swap ([`crate::swap::recover`]).
//!
//! The caller has passed the guard first ([`crate::guard::enter`]: the volume mounted,
//! writable, not critically full; interrupted swaps recovered). Nothing here prints:
//! each protocol takes an `*Options` struct, returns what it did, and fails with an error
//! that names the volume, the snapshot or the path; progress goes through
//! [`holdfast_repo::Progress`] and index warnings through [`holdfast_repo::OnIndex`].

pub mod database;
pub mod empty;
pub mod in_place;
pub mod kept;
pub mod missing;
pub mod path;
pub mod point;
pub mod undo;

use holdfast_repo::restore::Damaged;

use crate::swap::{Swap, SwapError};

/// The damaged entries of a restore, `path (why), …`.
pub fn damaged_list(entries: &[Damaged]) -> String {
    entries
        .iter()
        .map(|d| format!("{} ({})", d.path, d.error))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A time to the second, `2026-01-31 12:00:00 UTC`.
fn time(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// Drops the database dumps from the stage of a whole-volume restore: they live in the
/// snapshot only, the volume never held them.
fn drop_dumps(swap: &Swap) -> Result<(), SwapError> {
    let dumps = swap.stage().join(holdfast_repo::DATABASES_DIR);
    if dumps.exists() {
        std::fs::remove_dir_all(&dumps).map_err(|source| SwapError::Io {
            path: dumps,
            source,
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn damaged_entries_and_times_are_plain_text() {
        let d = |path: &str, error: &str| Damaged {
            path: path.into(),
            error: error.into(),
        };
        assert_eq!(
            damaged_list(&[d("a", "bad pack"), d("b/c", "missing blob")]),
            "a (bad pack), b/c (missing blob)"
        );
        let t = chrono::DateTime::parse_from_rfc3339("2026-01-31T12:00:00.123456789Z")
            .expect("time")
            .with_timezone(&chrono::Utc);
        assert_eq!(time(&t), "2026-01-31 12:00:00 UTC");
    }
}
