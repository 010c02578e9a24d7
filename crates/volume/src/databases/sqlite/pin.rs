//! The connections a follower keeps on the app's database: two that take turns holding
//! a read transaction (the *pin*), and one for checkpoints and the short write lock of a
//! reset window.
//!
//! Why a pin: SQLite restarts the WAL (writes frames from the start of the file again)
//! only when no reader uses it. While a pin is held, every frame after the pin's
//! snapshot stays in the file until holdfast has read it. The pin is handed over
//! between the two connections (the new one begins before the old one ends), so there
//! is always one, and none is older than one interval: the app's PASSIVE checkpoints
//! copy every frame up to the newest pin's snapshot into the database file.
//!
//! A WAL that is never restarted only grows, so once it passes a size bound a *reset
//! window* lets SQLite restart it without losing a frame: holdfast takes the write lock
//! (`BEGIN IMMEDIATE`, waiting at most a few milliseconds — it never waits on the app
//! for long, and never holds the lock while it talks to a store), reads the last frames
//! (nothing can be added now), drops its pins, checkpoints PASSIVE, pins again (a
//! snapshot of the whole WAL) and lets go of the write lock. The next writer restarts
//! the WAL; the new generation (checkpoint sequence + 1) follows on from the frames
//! read. TRUNCATE is run only past a second bound, after the window; RESTART never.
//!
//! The connections never checkpoint on close (`SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE`): a
//! follower letting go of a database the app replaced must not touch the WAL file that
//! now sits at the same path for the new database.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags};

use crate::databases::DatabaseError;

fn sqlite_err(path: &Path, e: impl std::fmt::Display) -> DatabaseError {
    DatabaseError::Sqlite {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

fn open(path: &Path) -> Result<Connection, DatabaseError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let c = Connection::open_with_flags(path, flags).map_err(|e| sqlite_err(path, e))?;
    c.busy_timeout(Duration::from_millis(20))
        .map_err(|e| sqlite_err(path, e))?;
    // Closing must never checkpoint or delete the WAL: when the app replaced the file,
    // the WAL at this path is the new database's.
    c.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)
        .map_err(|e| sqlite_err(path, e))?;
    Ok(c)
}

/// Outcome of a checkpoint: (busy, frames in the log, frames checkpointed).
pub type Checkpointed = (i64, i64, i64);

/// The follower's connections.
pub struct Pins {
    path: PathBuf,
    readers: [Connection; 2],
    /// Which reader holds the pin, if any.
    held: Option<usize>,
    admin: Connection,
}

impl Pins {
    /// Opens the connections; fails when the database is not in WAL mode.
    pub fn open(path: &Path) -> Result<Pins, DatabaseError> {
        let admin = open(path)?;
        let mode: String = admin
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .map_err(|e| sqlite_err(path, e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(sqlite_err(
                path,
                format!("journal mode is {mode}: following needs WAL mode"),
            ));
        }
        Ok(Pins {
            path: path.to_path_buf(),
            readers: [open(path)?, open(path)?],
            held: None,
            admin,
        })
    }

    fn begin(&self, i: usize) -> Result<(), DatabaseError> {
        let c = &self.readers[i];
        c.execute_batch("BEGIN")
            .and_then(|()| c.query_row("SELECT count(*) FROM sqlite_schema", [], |_| Ok(())))
            .map_err(|e| {
                let _ = c.execute_batch("ROLLBACK");
                sqlite_err(&self.path, e)
            })
    }

    fn end(&self, i: usize) {
        // A reader that ended on its own (an error) has nothing to roll back.
        let _ = self.readers[i].execute_batch("ROLLBACK");
    }

    /// Takes a fresh pin, then lets the old one go (there is always one while held).
    pub fn renew(&mut self) -> Result<(), DatabaseError> {
        let next = self.held.map_or(0, |i| 1 - i);
        self.begin(next)?;
        if let Some(old) = self.held {
            self.end(old);
        }
        self.held = Some(next);
        Ok(())
    }

    /// Lets every pin go (the follower stops following).
    pub fn release(&mut self) {
        if let Some(i) = self.held.take() {
            self.end(i);
        }
    }

    /// The app's view of the database size in pages and the page size.
    pub fn page_size(&self) -> Result<u32, DatabaseError> {
        self.admin
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .map_err(|e| sqlite_err(&self.path, e))
    }

    /// A PASSIVE checkpoint: copies what it can, never waits on readers or writers.
    pub fn passive(&self) -> Result<Checkpointed, DatabaseError> {
        self.checkpoint("PASSIVE")
    }

    /// A TRUNCATE checkpoint with no waiting (busy timeout 0): it resets the WAL only
    /// when every frame is already checkpointed and no reader uses the WAL.
    pub fn truncate(&self) -> Result<Checkpointed, DatabaseError> {
        self.admin
            .busy_timeout(Duration::ZERO)
            .map_err(|e| sqlite_err(&self.path, e))?;
        let r = self.checkpoint("TRUNCATE");
        let _ = self.admin.busy_timeout(Duration::from_millis(20));
        r
    }

    fn checkpoint(&self, mode: &str) -> Result<Checkpointed, DatabaseError> {
        self.admin
            .query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .map_err(|e| sqlite_err(&self.path, e))
    }

    /// The reset window: `read_tail` runs while holdfast holds the write lock (so it sees
    /// the WAL's final frames), then the pins are dropped, a PASSIVE checkpoint runs, a
    /// new pin is taken and the lock is let go. Returns `Ok(None)` when the app held the
    /// write lock (the window is tried again next interval).
    pub fn reset_window<T>(
        &mut self,
        read_tail: impl FnOnce() -> Result<T, DatabaseError>,
    ) -> Result<Option<(T, Checkpointed)>, DatabaseError> {
        let writer = &self.readers[self.held.map_or(0, |i| 1 - i)];
        if writer.execute_batch("BEGIN IMMEDIATE").is_err() {
            return Ok(None);
        }
        let tail = match read_tail() {
            Ok(t) => t,
            Err(e) => {
                let _ = writer.execute_batch("ROLLBACK");
                return Err(e);
            }
        };
        let w = self.held.map_or(0, |i| 1 - i);
        if let Some(i) = self.held.take() {
            self.end(i);
        }
        let done = self.passive();
        // Pin again (on the reader just released) while the writer still holds the lock,
        // so the pin's snapshot is the whole WAL as read.
        let pin = 1 - w;
        let pinned = self.begin(pin);
        let _ = self.readers[w].execute_batch("ROLLBACK");
        pinned?;
        self.held = Some(pin);
        Ok(Some((tail, done?)))
    }
}

impl Drop for Pins {
    fn drop(&mut self) {
        self.release();
    }
}
