//! Base backups for point-in-time recovery: `pg_basebackup -D - -Ft -X fetch` streamed
//! into the volume's snapshot as `.holdfast-databases/<name>.pgbase.tar` (chunked and
//! deduplicated like any file, so what did not change since the last base costs
//! nothing), and the base mark written after the snapshot commits (docs/FORMAT.md,
//! "Postgres WAL segments").
//!
//! The start and stop LSNs come from `pg_basebackup --verbose`; the mark's time is taken
//! after `pg_basebackup` exited, so it is never earlier than the point at which the base
//! is consistent.

use std::process::{Child, ChildStdout, Stdio};

use chrono::{DateTime, Utc};
use holdfast_repo::wal::pg::{
    BaseMark, PgOwner, PgSource, ensure_head, lineage_id, write_base_mark,
};
use holdfast_repo::{Id, Repository};

use super::{Conninfo, classify, drain, run_capture, spawn_err};
use crate::databases::{DatabaseError, redacted_target};

/// Name of a base backup in a snapshot's `.holdfast-databases/`.
pub fn base_file_name(name: &str) -> String {
    format!("{name}.pgbase.tar")
}

/// Parses an LSN `X/Y`.
pub fn parse_lsn(s: &str) -> Option<u64> {
    let (hi, lo) = s.trim().split_once('/')?;
    Some((u64::from_str_radix(hi, 16).ok()? << 32) | u64::from_str_radix(lo, 16).ok()?)
}

/// The cluster behind a connection: its `system_identifier` and WAL segment size.
pub fn cluster(name: &str, url: &str) -> Result<PgSource, DatabaseError> {
    let conn = Conninfo::from_url(url);
    let out = run_capture(
        "psql",
        &[
            "--no-password",
            "-XtA",
            "--dbname",
            &conn.dbname,
            "-c",
            "select (select system_identifier from pg_control_system()), (select setting from pg_settings where name = \
             'wal_segment_size'), (select timeline_id from pg_control_checkpoint())",
        ],
        name,
        url,
    )?;
    let fields: Vec<&str> = out.trim().split('|').collect();
    let bad = || DatabaseError::Command {
        name: name.to_string(),
        program: "psql".into(),
        stderr: format!("unexpected answer about the cluster: {out}"),
    };
    let [sysid, seg, tli] = fields.as_slice() else {
        return Err(bad());
    };
    Ok(PgSource {
        system_identifier: sysid.parse().map_err(|_| bad())?,
        segment_size: seg.parse().map_err(|_| bad())?,
        timeline: tli.parse().map_err(|_| bad())?,
    })
}

/// `archive_mode` and `archive_command` of the server, for `lint`.
pub fn archive_settings(name: &str, url: &str) -> Result<(String, String), DatabaseError> {
    let conn = Conninfo::from_url(url);
    let out = run_capture(
        "psql",
        &[
            "--no-password",
            "-XtA",
            "--dbname",
            &conn.dbname,
            "-c",
            "select current_setting('archive_mode') || '|' || current_setting('archive_command')",
        ],
        name,
        url,
    )?;
    let (mode, cmd) = out.split_once('|').unwrap_or((&out, ""));
    Ok((mode.to_string(), cmd.to_string()))
}

/// Where a base backup starts and stops.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BaseEnd {
    /// Start LSN.
    pub start_lsn: u64,
    /// Its timeline.
    pub timeline: u32,
    /// Stop LSN.
    pub stop_lsn: u64,
    /// When `pg_basebackup` exited.
    pub time: DateTime<Utc>,
}

/// A running `pg_basebackup`: read the tar from its stdout, then [`BaseBackup::finish`].
pub struct BaseBackup {
    child: Child,
    name: String,
    target: String,
    stderr: std::thread::JoinHandle<String>,
}

impl std::fmt::Debug for BaseBackup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BaseBackup")
            .field("name", &self.name)
            .field("target", &self.target)
            .finish()
    }
}

/// Starts `pg_basebackup` (tar to stdout, the WAL it needs inside, a fast checkpoint).
pub fn start(name: &str, url: &str) -> Result<BaseBackup, DatabaseError> {
    let conn = Conninfo::from_url(url);
    let mut child = conn
        .command("pg_basebackup")
        .args([
            "--no-password",
            "--dbname",
            &conn.dbname,
            "-D",
            "-",
            "-Ft",
            "-X",
            "fetch",
            "-c",
            "fast",
            "--verbose",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| spawn_err("pg_basebackup", e))?;
    let stderr = drain(child.stderr.take().ok_or_else(|| DatabaseError::Io {
        path: "pg_basebackup".into(),
        source: std::io::Error::other("no stderr pipe"),
    })?);
    Ok(BaseBackup {
        child,
        name: name.to_string(),
        target: redacted_target(url),
        stderr,
    })
}

impl BaseBackup {
    /// The tar stream.
    pub fn take_stdout(&mut self) -> Option<ChildStdout> {
        self.child.stdout.take()
    }

    /// Waits for `pg_basebackup`; its start and stop points, or a clear error.
    pub fn finish(mut self) -> Result<BaseEnd, DatabaseError> {
        if let Some(mut out) = self.child.stdout.take() {
            let _ = std::io::copy(&mut out, &mut std::io::sink());
        }
        let status = self.child.wait().map_err(|e| DatabaseError::Io {
            path: "pg_basebackup".into(),
            source: e,
        })?;
        let stderr = self.stderr.join().unwrap_or_default();
        if !status.success() {
            return Err(classify(&self.name, &self.target, "pg_basebackup", &stderr));
        }
        parse_points(&stderr)
            .map(|(start_lsn, timeline, stop_lsn)| BaseEnd {
                start_lsn,
                timeline,
                stop_lsn,
                time: Utc::now(),
            })
            .ok_or_else(|| DatabaseError::Command {
                name: self.name.clone(),
                program: "pg_basebackup".into(),
                stderr: "it did not print its start and end points".into(),
            })
    }
}

/// (start LSN, timeline, stop LSN) from `pg_basebackup --verbose`'s stderr.
pub fn parse_points(stderr: &str) -> Option<(u64, u32, u64)> {
    let mut start = None;
    let mut stop = None;
    for line in stderr.lines() {
        if let Some(rest) = line.split("write-ahead log start point: ").nth(1) {
            let mut words = rest.split_whitespace();
            let lsn = parse_lsn(words.next()?)?;
            let tli = words.nth(2).and_then(|t| t.parse().ok()).unwrap_or(1);
            start = Some((lsn, tli));
        }
        if let Some(rest) = line.split("write-ahead log end point: ").nth(1) {
            stop = parse_lsn(rest.split_whitespace().next()?);
        }
    }
    let (s, t) = start?;
    Some((s, t, stop?))
}

/// Writes the base mark of a base held by `snapshot` (after the snapshot committed).
pub async fn write_mark(
    repo: &Repository,
    cluster: &PgSource,
    end: &BaseEnd,
    snapshot: Id,
    owner: &PgOwner,
) -> Result<String, holdfast_repo::Error> {
    let src = cluster.on_timeline(end.timeline);
    ensure_head(repo, &src, owner).await?;
    let fmt = |l: u64| format!("{:X}/{:X}", l >> 32, l & 0xffff_ffff);
    let mark = BaseMark {
        lineage: lineage_id(repo, src.system_identifier, src.timeline),
        snapshot,
        volume: owner.volume.clone(),
        database: owner.database.clone(),
        start: src.segno_of_lsn(end.start_lsn),
        stop: src.segno_of_lsn(end.stop_lsn),
        start_lsn: fmt(end.start_lsn),
        stop_lsn: fmt(end.stop_lsn),
        time: end.time,
    };
    write_base_mark(repo, &mark).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_are_read_from_the_verbose_output() {
        let err = "pg_basebackup: initiating base backup, waiting for checkpoint to complete\n\
                   pg_basebackup: checkpoint completed\n\
                   pg_basebackup: write-ahead log start point: 0/2000028 on timeline 1\n\
                   pg_basebackup: write-ahead log end point: 0/2000100\n\
                   pg_basebackup: base backup completed\n";
        assert_eq!(parse_points(err), Some((0x2000028, 1, 0x2000100)));
        assert_eq!(parse_lsn("1/A"), Some((1 << 32) | 10));
        assert_eq!(parse_points("nothing"), None);
    }
}
