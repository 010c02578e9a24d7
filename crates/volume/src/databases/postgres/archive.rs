//! `archive_command = 'holdfast pg archive %p'`: the spool on the volume that takes each
//! WAL file from Postgres and returns at once (docs/FORMAT.md, "Postgres WAL segments").
//!
//! Guarantees, each with a test:
//! - **never the network**: [`Spool::archive`] only copies the file into the spool
//!   directory; the uploader ([`super::upload`]) sends it later;
//! - **crash-safe**: the copy is written as `tmp-<random>`, fsynced, renamed to its final
//!   name and the directory fsynced before `archive` returns: a file Postgres was told
//!   is archived is on disk (a crash before the rename leaves only a temp file, which
//!   Postgres archives again because it was never acknowledged);
//! - **Postgres never blocks**: the spool is bounded in bytes; a file that would pass the
//!   bound is acknowledged and dropped, and the drop is recorded at once as a file
//!   `gap-<name>` in the spool (written new, fsynced, renamed), which the uploader turns
//!   into a gap record in the repository and a request for a new base backup.
//!
//! A spooled file is named `<system_identifier>_<segment_size>_<Postgres name>`, so the
//! uploader needs nothing but the spool to put it in its lineage.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use holdfast_repo::wal::pg::{PgSource, parse_segment_name, timeline_of};
use serde::{Deserialize, Serialize};

/// Default bound of a spool: 1 GiB.
pub const DEFAULT_SPOOL_BYTES: u64 = 1 << 30;

/// Prefix of the files recording drops, in the spool directory.
pub const GAP_PREFIX: &str = "gap-";

/// What can go wrong archiving or fetching a WAL file; each names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WalArchiveError {
    /// Local I/O failed.
    #[error("{path}: {source}")]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not one Postgres archives, or is not what its name says.
    #[error("{path}: {reason}")]
    NotWal {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The repository failed (the uploader or `pg fetch`).
    #[error("{what}: {source}")]
    Repo {
        /// What was being done.
        what: String,
        /// The cause.
        source: holdfast_repo::Error,
    },
    /// `pg fetch` found the file nowhere.
    #[error("{name}: not in the spool nor in the repository")]
    NotFound {
        /// The Postgres name asked for.
        name: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> WalArchiveError + '_ {
    move |source| WalArchiveError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The cluster's `system_identifier`: the first 8 bytes of `global/pg_control` in its
/// data directory.
pub fn system_identifier(data_dir: &Path) -> Result<u64, WalArchiveError> {
    let path = data_dir.join("global/pg_control");
    let mut b = [0u8; 8];
    File::open(&path)
        .and_then(|mut f| f.read_exact(&mut b))
        .map_err(io(&path))?;
    Ok(u64::from_le_bytes(b))
}

/// The long page header at the start of a WAL segment: (timeline, system_identifier,
/// segment size).
pub fn segment_header(bytes: &[u8]) -> Option<(u32, u64, u32)> {
    let h = bytes.get(..40)?;
    let u32_at = |o: usize| u32::from_le_bytes([h[o], h[o + 1], h[o + 2], h[o + 3]]);
    let info = u16::from_le_bytes([h[2], h[3]]);
    // XLP_LONG_HEADER
    if info & 0x0002 == 0 {
        return None;
    }
    let sysid = u64::from_le_bytes(h[24..32].try_into().ok()?);
    Some((u32_at(4), sysid, u32_at(32)))
}

/// The WAL segment size of a data directory: the size of a segment in `pg_wal/`, else
/// 16 MiB.
fn segment_size_of(data_dir: &Path) -> u32 {
    fs::read_dir(data_dir.join("pg_wal"))
        .ok()
        .and_then(|rd| {
            rd.flatten()
                .filter(|e| parse_segment_name(&e.file_name().to_string_lossy()).is_some())
                .find_map(|e| e.metadata().ok().map(|m| m.len() as u32))
        })
        .filter(|n| n.is_power_of_two())
        .unwrap_or(16 << 20)
}

/// A file acknowledged and dropped (the content of a `gap-` file).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DroppedFile {
    /// The cluster (decimal).
    pub system_identifier: String,
    /// The timeline.
    pub timeline: u32,
    /// The segment size.
    pub segment_size: u32,
    /// The Postgres file name.
    pub name: String,
    /// Its segment number, for a segment.
    pub segno: Option<u64>,
    /// When it was dropped.
    pub time: DateTime<Utc>,
}

/// What [`Spool::archive`] did with a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Archived {
    /// It is in the spool, durably.
    Spooled {
        /// Bytes in the spool now, this file included.
        spool_bytes: u64,
    },
    /// The spool was full: acknowledged, dropped, and the gap recorded.
    Dropped {
        /// Bytes in the spool now.
        spool_bytes: u64,
    },
}

impl Archived {
    /// The warning `archive_command` writes when the file was dropped, else `None`.
    pub fn warning(&self) -> Option<String> {
        let Archived::Dropped { spool_bytes } = self else {
            return None;
        };
        Some(format!(
            "the spool is full ({spool_bytes} bytes): the WAL file was dropped and the gap \
             recorded; the uploader records it in the repository and takes a new base backup"
        ))
    }
}

/// A spool directory and its bound.
#[derive(Clone, Debug)]
pub struct Spool {
    /// The directory.
    pub dir: PathBuf,
    /// Its bound in bytes.
    pub max_bytes: u64,
}

/// A file waiting in the spool.
#[derive(Clone, Debug)]
pub struct Spooled {
    /// Its path in the spool.
    pub path: PathBuf,
    /// Its cluster and timeline.
    pub source: PgSource,
    /// Its Postgres name.
    pub name: String,
    /// Its size.
    pub size: u64,
    /// When it was spooled (its modification time).
    pub time: DateTime<Utc>,
}

impl Spool {
    /// The spool of a Postgres database of `volume` with `archive = true`: its `spool`
    /// (relative paths under the volume), else `.holdfast/pg/<name>`; its `spool_bytes`,
    /// else [`DEFAULT_SPOOL_BYTES`].
    pub fn of(volume: &crate::config::Volume, db: &crate::config::Database) -> Option<Spool> {
        let crate::config::Database::Postgres {
            archive: true,
            spool,
            spool_bytes,
            ..
        } = db
        else {
            return None;
        };
        let dir = match spool {
            Some(p) => volume.resolve(p),
            None => volume
                .path
                .join(crate::layout::PG_SPOOL_DIR)
                .join(db.name()),
        };
        Some(Spool::new(
            dir,
            spool_bytes.map_or(DEFAULT_SPOOL_BYTES, |b| b.bytes()),
        ))
    }

    /// A spool at `dir` bounded to `max_bytes`.
    pub fn new(dir: impl Into<PathBuf>, max_bytes: u64) -> Spool {
        Spool {
            dir: dir.into(),
            max_bytes,
        }
    }

    /// Hands the WAL file at `path` (as `%p` gives it, relative to `data_dir`, the
    /// directory Postgres runs `archive_command` in) to the spool. See the module doc.
    pub fn archive(&self, data_dir: &Path, path: &Path) -> Result<Archived, WalArchiveError> {
        let full = data_dir.join(path);
        let name = full
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let Some(timeline) = timeline_of(&name) else {
            return Err(WalArchiveError::NotWal {
                path: full,
                reason: "not a file Postgres archives (a WAL segment, .history, .backup or \
                         .partial)"
                    .into(),
            });
        };
        let bytes = fs::read(&full).map_err(io(&full))?;
        let (sysid, segment_size) = if parse_segment_name(&name).is_some() {
            let Some((tli, sysid, seg)) = segment_header(&bytes) else {
                return Err(WalArchiveError::NotWal {
                    path: full,
                    reason: "no WAL long page header at its start".into(),
                });
            };
            // The first segment of a new timeline begins with the old timeline's pages
            // up to the switch (Postgres copies them), so its header may name an
            // earlier timeline; never a later one.
            if tli > timeline || seg as usize != bytes.len() {
                return Err(WalArchiveError::NotWal {
                    path: full,
                    reason: format!(
                        "its header says timeline {tli} and {seg} bytes, its name timeline \
                         {timeline} and it holds {} bytes",
                        bytes.len()
                    ),
                });
            }
            (sysid, seg)
        } else {
            (system_identifier(data_dir)?, segment_size_of(data_dir))
        };
        fs::create_dir_all(&self.dir).map_err(io(&self.dir))?;
        let spooled_name = format!("{sysid}_{segment_size}_{name}");
        let dest = self.dir.join(&spooled_name);
        let used = self.bytes()?;
        if dest.exists() {
            return Ok(Archived::Spooled { spool_bytes: used });
        }
        if used + bytes.len() as u64 > self.max_bytes {
            let src = PgSource {
                system_identifier: sysid,
                timeline,
                segment_size,
            };
            self.record_drop(
                &spooled_name,
                &DroppedFile {
                    system_identifier: sysid.to_string(),
                    timeline,
                    segment_size,
                    segno: src.segno_of(&name),
                    name,
                    time: Utc::now(),
                },
            )?;
            return Ok(Archived::Dropped { spool_bytes: used });
        }
        let tmp = self.dir.join(format!("tmp-{}", random_suffix()));
        let write = || -> std::io::Result<()> {
            let mut f = File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            drop(f);
            fs::rename(&tmp, &dest)?;
            File::open(&self.dir)?.sync_all()
        };
        if let Err(e) = write() {
            let _ = fs::remove_file(&tmp);
            return Err(WalArchiveError::Io {
                path: dest,
                source: e,
            });
        }
        Ok(Archived::Spooled {
            spool_bytes: used + bytes.len() as u64,
        })
    }

    /// Records a drop as its own file `gap-<spooled name>` (written new, fsynced,
    /// renamed): no appends to race with the uploader, and the uploader, whatever user
    /// it runs as, only ever deletes it.
    fn record_drop(&self, spooled_name: &str, d: &DroppedFile) -> Result<(), WalArchiveError> {
        let path = self.dir.join(format!("{GAP_PREFIX}{spooled_name}"));
        let tmp = self.dir.join(format!("tmp-{}", random_suffix()));
        let body = serde_json::to_vec(d).unwrap_or_default();
        let write = || -> std::io::Result<()> {
            let mut f = File::create(&tmp)?;
            f.write_all(&body)?;
            f.sync_all()?;
            drop(f);
            fs::rename(&tmp, &path)?;
            File::open(&self.dir)?.sync_all()
        };
        write().map_err(|e| {
            let _ = fs::remove_file(&tmp);
            WalArchiveError::Io { path, source: e }
        })
    }

    /// Bytes of the files waiting in the spool (temp files included: they hold space).
    pub fn bytes(&self) -> Result<u64, WalArchiveError> {
        let rd = match fs::read_dir(&self.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => {
                return Err(WalArchiveError::Io {
                    path: self.dir.clone(),
                    source: e,
                });
            }
        };
        Ok(rd
            .flatten()
            .filter(|e| !e.file_name().to_string_lossy().starts_with(GAP_PREFIX))
            .filter_map(|e| e.metadata().ok())
            .filter(|m| m.is_file())
            .map(|m| m.len())
            .sum())
    }

    /// The files waiting, oldest first (history files before segments of the same time).
    pub fn waiting(&self) -> Result<Vec<Spooled>, WalArchiveError> {
        let rd = match fs::read_dir(&self.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => {
                return Err(WalArchiveError::Io {
                    path: self.dir.clone(),
                    source: e,
                });
            }
        };
        let mut out = Vec::new();
        for e in rd.flatten() {
            let file = e.file_name().to_string_lossy().into_owned();
            let mut parts = file.splitn(3, '_');
            let (Some(sysid), Some(seg), Some(name)) = (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            let (Ok(sysid), Ok(seg), Some(tli)) =
                (sysid.parse::<u64>(), seg.parse::<u32>(), timeline_of(name))
            else {
                continue;
            };
            let Ok(meta) = e.metadata() else { continue };
            let time = meta
                .modified()
                .map(DateTime::<Utc>::from)
                .unwrap_or_else(|_| Utc::now());
            out.push(Spooled {
                path: e.path(),
                source: PgSource {
                    system_identifier: sysid,
                    timeline: tli,
                    segment_size: seg,
                },
                name: name.to_string(),
                size: meta.len(),
                time,
            });
        }
        out.sort_by(|a, b| (a.time, &a.name).cmp(&(b.time, &b.name)));
        Ok(out)
    }

    /// The drops recorded and not yet sent to the repository, with their files.
    pub fn drops(&self) -> Result<Vec<(PathBuf, DroppedFile)>, WalArchiveError> {
        let rd = match fs::read_dir(&self.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => {
                return Err(WalArchiveError::Io {
                    path: self.dir.clone(),
                    source: e,
                });
            }
        };
        let mut out = Vec::new();
        for e in rd.flatten() {
            if !e.file_name().to_string_lossy().starts_with(GAP_PREFIX) {
                continue;
            }
            let path = e.path();
            let text = fs::read(&path).map_err(io(&path))?;
            if let Ok(d) = serde_json::from_slice(&text) {
                out.push((path, d));
            }
        }
        Ok(out)
    }

    /// Forgets recorded drops (they are in the repository now).
    pub fn clear_drops(&self, files: &[PathBuf]) -> Result<(), WalArchiveError> {
        for f in files {
            match fs::remove_file(f) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(WalArchiveError::Io {
                        path: f.clone(),
                        source: e,
                    });
                }
            }
        }
        File::open(&self.dir)
            .and_then(|f| f.sync_all())
            .map_err(io(&self.dir))
    }

    /// Finds a waiting file by its Postgres name.
    pub fn find(&self, name: &str) -> Result<Option<PathBuf>, WalArchiveError> {
        Ok(self
            .waiting()?
            .into_iter()
            .find(|s| s.name == name)
            .map(|s| s.path))
    }

    /// Removes temp files a crash left (older than `age`).
    pub fn remove_stale_temps(&self, age: std::time::Duration) {
        let Ok(rd) = fs::read_dir(&self.dir) else {
            return;
        };
        for e in rd.flatten() {
            let stale = e
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|a| a > age);
            if e.file_name().to_string_lossy().starts_with("tmp-") && stale {
                let _ = fs::remove_file(e.path());
            }
        }
    }
}

/// Marks the timeline history files in `data_dir/pg_wal` that Postgres never queued for
/// archiving (no `archive_status/<name>.ready` or `.done`) as ready, and returns their
/// names. A point-in-time restore replays with `archive_mode=off`, so the history file
/// of the timeline it switches to is never queued; without it in the repository no later
/// restore can follow the new timeline.
pub fn queue_unarchived_history(data_dir: &Path) -> Result<Vec<String>, WalArchiveError> {
    let wal = data_dir.join("pg_wal");
    let status = wal.join("archive_status");
    let mut queued = Vec::new();
    for e in fs::read_dir(&wal).map_err(io(&wal))?.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.ends_with(".history") || timeline_of(&name).is_none() {
            continue;
        }
        let ready = status.join(format!("{name}.ready"));
        if ready.exists() || status.join(format!("{name}.done")).exists() {
            continue;
        }
        fs::create_dir_all(&status).map_err(io(&status))?;
        File::create(&ready).map_err(io(&ready))?;
        // Postgres renames and fsyncs it (opening it for writing): it must be the
        // server's, not root's when the restore ran as root.
        use std::os::unix::fs::MetadataExt;
        let owner = fs::metadata(&status).map_err(io(&status))?;
        let mine = fs::metadata(&ready).map_err(io(&ready))?;
        if (mine.uid(), mine.gid()) != (owner.uid(), owner.gid()) {
            std::os::unix::fs::chown(&ready, Some(owner.uid()), Some(owner.gid()))
                .map_err(io(&ready))?;
        }
        queued.push(name);
    }
    queued.sort();
    Ok(queued)
}

fn random_suffix() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{}-{nanos:x}", std::process::id())
}

#[cfg(test)]
#[path = "archive_tests.rs"]
mod tests;
