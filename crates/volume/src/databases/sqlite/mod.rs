//! SQLite through its online backup API: a consistent copy of a database that the app
//! keeps writing to, taken in one read transaction (`sqlite3_backup_step(-1)`), so the
//! copy holds exactly the transactions committed when the copy began; `-wal`/`-shm`
//! files are not needed beside it. Also `PRAGMA integrity_check` for restore drills.
//!
//! Continuous replication between snapshots lives in the submodules: [`wal`] reads
//! committed transactions from a `-wal` file, [`pin`] holds the follower's connections,
//! [`follow`] ships segments to one or more repositories ([`Follower`]), and
//! [`restore`] replays a lineage to a point in time ([`restore_to_time`]).

pub mod follow;
pub mod pin;
pub mod restore;
pub mod wal;

pub use follow::{Destination, DestinationStatus, FollowOptions, Follower, PollReport};
pub use holdfast_repo::wal::{Reason, Target};
pub use restore::{PointRestore, plan_restore, restore_to_time};

use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};

use super::DatabaseError;

/// How long a copy waits for a writer that holds the database locked.
const BUSY_LIMIT: Duration = Duration::from_secs(60);

fn sqlite_err(path: &Path, e: impl std::fmt::Display) -> DatabaseError {
    DatabaseError::Sqlite {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// Copies the live database `src` to `dst` (which must not exist) consistently, and
/// fsyncs the copy. The source is opened read-only; the app may keep writing.
pub fn online_copy(src: &Path, dst: &Path) -> Result<(), DatabaseError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let from = Connection::open_with_flags(src, flags).map_err(|e| sqlite_err(src, e))?;
    from.busy_timeout(Duration::from_secs(5))
        .map_err(|e| sqlite_err(src, e))?;
    let mut to = Connection::open(dst).map_err(|e| sqlite_err(dst, e))?;
    {
        let backup = Backup::new(&from, &mut to).map_err(|e| sqlite_err(src, e))?;
        let started = Instant::now();
        let mut wait = Duration::from_millis(5);
        loop {
            match backup.step(-1).map_err(|e| sqlite_err(src, e))? {
                StepResult::Done => break,
                StepResult::More => continue,
                StepResult::Busy | StepResult::Locked => {
                    if started.elapsed() > BUSY_LIMIT {
                        return Err(sqlite_err(src, "database stayed locked for 60 s"));
                    }
                    std::thread::sleep(wait);
                    wait = (wait * 2).min(Duration::from_millis(500));
                }
                _ => continue,
            }
        }
    }
    drop(to);
    std::fs::File::open(dst)
        .and_then(|f| f.sync_all())
        .map_err(|e| DatabaseError::Io {
            path: dst.to_path_buf(),
            source: e,
        })
}

/// Runs `PRAGMA integrity_check` and returns its findings (empty when the database is
/// sound).
pub fn integrity_check(path: &Path) -> Result<Vec<String>, DatabaseError> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| sqlite_err(path, e))?;
    let mut stmt = conn
        .prepare("PRAGMA integrity_check")
        .map_err(|e| sqlite_err(path, e))?;
    let rows = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .map_err(|e| sqlite_err(path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| sqlite_err(path, e))?;
    Ok(rows.into_iter().filter(|r| r != "ok").collect())
}

/// True for the files SQLite keeps beside a database while it runs (`-wal`, `-shm`,
/// `-journal`): a backup that holds a consistent copy of the database leaves them out.
pub fn is_sidecar(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    crate::sqlite::SIDECAR_SUFFIXES
        .iter()
        .any(|s| name.ends_with(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_a_wal_database_while_it_is_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        let src = dir.path().join("app.db");
        let conn = Connection::open(&src).expect("open");
        conn.pragma_update(None, "journal_mode", "WAL")
            .expect("wal");
        conn.execute_batch("CREATE TABLE t(x INTEGER); INSERT INTO t VALUES (1), (2), (3);")
            .expect("fill");
        let dst = dir.path().join("copy.db");
        online_copy(&src, &dst).expect("copy");
        let copy = Connection::open(&dst).expect("open copy");
        let n: i64 = copy
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .expect("count");
        assert_eq!(n, 3);
        assert!(integrity_check(&dst).expect("check").is_empty());
        assert_eq!(
            crate::sqlite::find_databases(dir.path(), usize::MAX).len(),
            2
        );
        assert!(is_sidecar(&dir.path().join("app.db-wal")));
    }

    #[test]
    fn a_file_that_is_not_a_database_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let src = dir.path().join("junk.db");
        std::fs::write(&src, vec![7u8; 4096]).expect("write");
        let e = online_copy(&src, &dir.path().join("c.db")).expect_err("not a db");
        assert!(e.to_string().contains("junk.db"), "{e}");
    }
}
