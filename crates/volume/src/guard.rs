//! The guard before an app starts (`holdfast run`): every `require_mount` volume is
//! really mounted, every volume exists, is writable and below critical usage, and the
//! files listed in `restore_if_missing` are found (or are named for restoring). A volume
//! that fails any check stops the start: seed 003's data loss came from an app that
//! silently wrote to the container's throw-away layer. Missing files come back through
//! the journaled swap ([`crate::swap`], with [`missing_selection`]), never by writing
//! into the live volume directly.

use std::path::PathBuf;

use crate::config::{Config, Volume};
use crate::status::{VolumeStatus, probe};
use crate::swap::Selection;

/// Usage (percent) at or above which the guard refuses to start the app.
pub const CRITICAL_USAGE: f64 = 95.0;

/// One reason the app must not start.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    /// The volume.
    pub volume: String,
    /// Why, in words a person can act on.
    pub reason: String,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "volume {}: {}", self.volume, self.reason)
    }
}

/// Checks one probed volume against the guard's rules.
pub fn check(volume: &Volume, status: &VolumeStatus) -> Vec<Refusal> {
    let mut out = Vec::new();
    let mut refuse = |reason: String| {
        out.push(Refusal {
            volume: volume.name.clone(),
            reason,
        })
    };
    if !status.details.exists {
        refuse(format!("{} does not exist", volume.path.display()));
        return out;
    }
    if volume.require_mount && !status.mounted {
        refuse(format!(
            "{} is not a mount point: data written there would live in the container's \
             throw-away layer and be lost on redeploy (attach the volume, or set require_mount = false)",
            volume.path.display()
        ));
    }
    if !status.writable {
        let why = status
            .details
            .writable_error
            .clone()
            .unwrap_or_else(|| "unknown reason".into());
        refuse(format!("{} is not writable: {why}", volume.path.display()));
    }
    if status.usage_percent >= CRITICAL_USAGE {
        refuse(format!(
            "{} is {:.1}% full (critical at {CRITICAL_USAGE}%): free space or grow the volume",
            volume.path.display(),
            status.usage_percent
        ));
    }
    out
}

/// Probes every volume and returns every reason not to start (empty: all good).
pub fn preflight(config: &Config) -> Vec<Refusal> {
    config
        .volumes
        .iter()
        .flat_map(|v| check(v, &probe(v)))
        .collect()
}

/// The `restore_if_missing` entries of a volume that are not on it (relative paths).
pub fn missing_files(volume: &Volume) -> Vec<PathBuf> {
    volume
        .restore_if_missing
        .iter()
        .filter(|rel| !volume.resolve(rel).exists())
        .cloned()
        .collect()
}

/// The swap that brings missing `restore_if_missing` entries back (staged under the same
/// relative paths): each comes in (as its topmost missing directory when its directory is
/// gone too), and the stale `-wal`/`-shm`/`-journal` of a missing database go aside with
/// it, so a restored database never meets the side files of the one that was lost.
pub fn missing_selection(missing: &[PathBuf]) -> Selection {
    Selection::Paths {
        new: missing.to_vec(),
        old: missing
            .iter()
            .flat_map(|rel| crate::sqlite::sidecars(rel))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn volume(path: &std::path::Path, require_mount: bool) -> Config {
        format!(
            "[[volumes]]\nname = \"v\"\npath = \"{}\"\nrequire_mount = {require_mount}\nrestore_if_missing = [\"db/app.db\", \"keep.txt\"]\n",
            path.display()
        )
        .parse()
        .expect("config")
    }

    #[test]
    fn an_unmounted_required_volume_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let refusals = preflight(&volume(dir.path(), true));
        assert_eq!(refusals.len(), 1, "{refusals:?}");
        assert!(
            refusals[0].reason.contains("not a mount point"),
            "{}",
            refusals[0]
        );
        assert!(preflight(&volume(dir.path(), false)).is_empty());
        let missing = preflight(&volume(&dir.path().join("nope"), false));
        assert!(missing[0].reason.contains("does not exist"));
    }

    #[test]
    fn a_missing_database_brings_its_stale_side_files_aside() {
        let Selection::Paths { new, old } = missing_selection(&[PathBuf::from("db/app.db")]) else {
            panic!("paths");
        };
        assert_eq!(new, [PathBuf::from("db/app.db")]);
        assert_eq!(
            old,
            crate::sqlite::sidecars(std::path::Path::new("db/app.db"))
        );
    }

    #[test]
    fn missing_files_are_listed() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("keep.txt"), "x").expect("write");
        let config = volume(dir.path(), false);
        assert_eq!(
            missing_files(&config.volumes[0]),
            [PathBuf::from("db/app.db")]
        );
    }
}
