//! The guard at every door to a volume's data. Before a command reads a volume into a
//! snapshot, replaces its data, writes files into it or starts the app on it, [`enter`]
//! checks the volume: it exists, it is really mounted when `require_mount = true`, it is
//! writable and below critical usage, and no interrupted swap ([`crate::swap`]) is left
//! on it. Seed 003's data loss came from an app that silently wrote to the container's
//! throw-away layer; a backup of that layer is an empty snapshot that later "restores"
//! nothing over something, and a backup of a half-swapped volume keeps half of it.
//!
//! # Invariant
//!
//! No door lets a command touch a volume that fails the guard: the command gets a
//! [`Refusal`] naming the volume, the [`Problem`] and the fix, and leaves that volume
//! alone (other volumes go on). What differs by [`Door`]:
//!
//! | problem            | `Backup`            | `Replace` / `Start`  | `Write`  |
//! |--------------------|---------------------|----------------------|----------|
//! | path missing       | refused             | refused              | refused  |
//! | not mounted        | refused             | refused              | refused  |
//! | not writable       | warned, backed up   | refused              | fails¹   |
//! | critically full    | warned, backed up   | refused              | fails¹   |
//! | interrupted swap   | recovered first     | recovered first      | refused  |
//!
//! ¹ A file write is not probed (that would cost a probe file per request): the write
//! itself fails with the file system's error and writes nothing.
//!
//! A read-only or full volume still holds its data, and a backup only reads it: that is
//! exactly when a backup is wanted. A recovery that fails refuses the door. The files API
//! does not recover a swap under a running app; it refuses writes until a command that
//! replaces data (or `backup`) finishes it.
//!
//! Missing files listed in `restore_if_missing` come back through the journaled swap
//! ([`crate::swap`], with [`missing_selection`]), never by writing into the live volume.

use std::path::{Path, PathBuf};

use crate::config::{Config, Volume};
use crate::status::{VolumeStatus, probe};
use crate::swap::{self, Selection, SwapOptions};

/// Usage (percent) at or above which the guard refuses to start the app.
pub const CRITICAL_USAGE: f64 = 95.0;

/// What a command is about to do with a volume's data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Door {
    /// Read it into a snapshot (`backup`, scheduled and API backups).
    Backup,
    /// Replace it (`restore --in-place`, `restore --database`).
    Replace,
    /// Start the app on it (`run`, and `serve` at start).
    Start,
    /// Write single files into it (the files, uploads and cache API).
    Write,
}

/// Why the guard refused a volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    /// The path does not exist or is not a directory.
    Missing,
    /// `require_mount = true` and the path is not a mount point.
    NotMounted,
    /// A probe file cannot be written (read-only, permissions).
    NotWritable,
    /// Usage at or above [`CRITICAL_USAGE`].
    Full,
    /// An interrupted swap is left on the volume (refused by [`Door::Write`]).
    PendingSwap,
    /// An interrupted swap could not be finished or rolled back.
    Recovery,
}

/// One reason a command must not touch a volume.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    /// The volume.
    pub volume: String,
    /// What is wrong.
    pub problem: Problem,
    /// Why, in words a person can act on (with the fix).
    pub reason: String,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "volume {}: {}", self.volume, self.reason)
    }
}

impl std::error::Error for Refusal {}

/// What the guard did and saw on a volume it let through.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Admitted {
    /// Interrupted swaps it finished or rolled back, one line each.
    pub recovered: Vec<String>,
    /// Problems that do not stop this door (a read-only or full volume for a backup).
    pub warnings: Vec<String>,
}

/// Checks one probed volume against the guard's rules (every problem, the interrupted
/// swap aside: [`enter`] deals with it), the most precise first: a full volume is also
/// not writable, and "full" is what to fix.
pub fn check(volume: &Volume, status: &VolumeStatus) -> Vec<Refusal> {
    let mut out = Vec::new();
    let mut refuse = |problem: Problem, reason: String| {
        out.push(Refusal {
            volume: volume.name.clone(),
            problem,
            reason,
        })
    };
    if !status.details.exists {
        refuse(
            Problem::Missing,
            format!(
                "{} does not exist (attach the volume, or fix its path in holdfast.toml)",
                volume.path.display()
            ),
        );
        return out;
    }
    if volume.require_mount && !status.mounted {
        refuse(
            Problem::NotMounted,
            format!(
                "{} is not a mount point: data written there would live in the container's \
                 throw-away layer and be lost on redeploy (attach the volume, or set require_mount = false)",
                volume.path.display()
            ),
        );
    }
    if status.usage_percent >= CRITICAL_USAGE {
        refuse(
            Problem::Full,
            format!(
                "{} is {:.1}% full (critical at {CRITICAL_USAGE}%): free space or grow the volume",
                volume.path.display(),
                status.usage_percent
            ),
        );
    }
    if !status.writable {
        let why = status
            .details
            .writable_error
            .clone()
            .unwrap_or_else(|| "unknown reason".into());
        refuse(
            Problem::NotWritable,
            format!(
                "{} is not writable: {why} (remount it read-write or fix its permissions)",
                volume.path.display()
            ),
        );
    }
    out
}

/// The guard of one door: probes `volume`, refuses it (the first problem that stops
/// `door`, see the module doc), else recovers any interrupted swap when the door reads or
/// replaces data and lets it through, with what it did and the problems it let pass.
pub fn enter(volume: &Volume, door: Door) -> Result<Admitted, Refusal> {
    if door == Door::Write {
        return enter_write(volume).map(|()| Admitted::default());
    }
    let status = probe(volume);
    let mut admitted = Admitted::default();
    for r in check(volume, &status) {
        let passes =
            door == Door::Backup && matches!(r.problem, Problem::NotWritable | Problem::Full);
        if !passes {
            return Err(r);
        }
        admitted.warnings.push(r.to_string());
    }
    if swap::pending(&volume.path).is_empty() {
        return Ok(admitted);
    }
    let done = swap::recover(&volume.path, &SwapOptions::default()).map_err(|e| Refusal {
        volume: volume.name.clone(),
        problem: Problem::Recovery,
        reason: format!(
            "an interrupted restore could not be finished ({e}); nothing else was changed: \
             fix the cause, then run `holdfast backup --volume {}` again",
            volume.name
        ),
    })?;
    admitted.recovered = done
        .into_iter()
        .map(|r| format!("volume {}: {r}", volume.name))
        .collect();
    Ok(admitted)
}

/// The guard of one file write (each API request): no probe file and no usage walk, only
/// what a write cannot find out by itself (a read-only or full volume fails the write
/// with its own error).
fn enter_write(volume: &Volume) -> Result<(), Refusal> {
    let refuse = |problem, reason| Refusal {
        volume: volume.name.clone(),
        problem,
        reason,
    };
    if !volume.path.is_dir() {
        return Err(refuse(
            Problem::Missing,
            format!(
                "{} does not exist (attach the volume, or fix its path in holdfast.toml)",
                volume.path.display()
            ),
        ));
    }
    if volume.require_mount {
        let entries = crate::mounts::read_mountinfo().unwrap_or_default();
        if !crate::mounts::is_mount_point(&volume.path, &entries).unwrap_or(false) {
            return Err(refuse(
                Problem::NotMounted,
                format!(
                    "{} is not a mount point: a file written there would be lost on redeploy \
                     (attach the volume, or set require_mount = false)",
                    volume.path.display()
                ),
            ));
        }
    }
    let pending = swap::pending(&volume.path);
    if !pending.is_empty() {
        return Err(refuse(
            Problem::PendingSwap,
            pending_reason(volume, &pending),
        ));
    }
    Ok(())
}

/// The alert and refusal text of an interrupted swap: where it is, and the command
/// that finishes it.
pub fn pending_reason(volume: &Volume, pending: &[PathBuf]) -> String {
    let ids: Vec<String> = pending.iter().map(|p| rel_to(&volume.path, p)).collect();
    format!(
        "an interrupted restore is pending ({}): the data may be half replaced; \
         `holdfast backup --volume {}` finishes it first (so do `holdfast restore` and `holdfast run`)",
        ids.join(", "),
        volume.name
    )
}

fn rel_to(root: &Path, p: &Path) -> String {
    p.strip_prefix(root).unwrap_or(p).display().to_string()
}

/// The configured volume that holds `path` (an absolute path, or one relative to the
/// current directory), the innermost when volumes nest: a command that deletes or
/// writes files there (a `[[cleanup]]` job) passes that volume's [`Door::Write`] first.
pub fn volume_of<'c>(config: &'c Config, path: &Path) -> Option<&'c Volume> {
    let path = std::path::absolute(path).ok()?;
    config
        .volumes
        .iter()
        .filter(|v| {
            std::path::absolute(&v.path)
                .map(|root| path.starts_with(root))
                .unwrap_or(false)
        })
        .max_by_key(|v| v.path.components().count())
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
    fn a_path_inside_a_volume_names_that_volume() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = volume(dir.path(), false);
        let inside = dir.path().join("tmp/old");
        assert_eq!(
            volume_of(&config, &inside).map(|v| v.name.as_str()),
            Some("v")
        );
        assert!(volume_of(&config, &std::env::temp_dir().join("elsewhere")).is_none());
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

    /// A swap stopped after its first old entry went aside: the write door refuses the
    /// volume, the backup door finishes the swap first and says so, and then the volume
    /// holds the new data whole.
    #[test]
    fn a_pending_swap_refuses_writes_and_is_finished_before_a_backup() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("keep.txt"), "old").expect("write");
        std::fs::write(dir.path().join("other.txt"), "old").expect("write");
        let opts = SwapOptions {
            keep_old: false,
            hook: Some(std::sync::Arc::new(|step| {
                if step == swap::Step::MovedOld(0) {
                    return Err(std::io::Error::other("crash"));
                }
                Ok(())
            })),
        };
        let s = swap::Swap::begin(dir.path(), "test restore", opts).expect("begin");
        std::fs::write(s.stage().join("keep.txt"), "new").expect("stage");
        s.commit(Selection::Whole).expect_err("stopped mid-swap");
        let config = volume(dir.path(), false);
        let v = &config.volumes[0];
        let refused = enter(v, Door::Write).expect_err("writes refused");
        assert_eq!(refused.problem, Problem::PendingSwap, "{refused}");
        assert!(
            refused.reason.contains("holdfast backup --volume v"),
            "{refused}"
        );
        let admitted = enter(v, Door::Backup).expect("backup admitted");
        assert_eq!(admitted.recovered.len(), 1, "{admitted:?}");
        assert!(
            admitted.recovered[0].contains("rolled forward"),
            "{admitted:?}"
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("keep.txt")).expect("read"),
            "new"
        );
        assert!(!dir.path().join("other.txt").exists());
        assert!(enter(v, Door::Write).is_ok());
    }

    #[test]
    fn an_unmounted_volume_is_refused_at_every_door() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = volume(dir.path(), true);
        for door in [Door::Backup, Door::Replace, Door::Start, Door::Write] {
            let r = enter(&config.volumes[0], door).expect_err("refused");
            assert_eq!(r.problem, Problem::NotMounted, "{door:?}: {r}");
        }
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
