//! Repository locks (docs/FORMAT.md, "Locks"): backup, restore and verify take a shared
//! lock, forget and prune an exclusive one.
//!
//! The protocol is restic's and needs no conditional write from the store (Garage, for
//! one, ignores `If-None-Match`): a client writes `locks/<random uuid>`, lists `locks/`,
//! removes the stale ones, and proceeds when no fresh conflicting lock is left. Otherwise
//! it removes its own lock, waits a random back-off and starts over; after `retries`
//! attempts, and no sooner than [`LockOptions::wait`] after the first, it fails with
//! [`Error::Locked`] naming the holder (host, pid, time). Of two racing clients at
//! least one sees the other's lock in its listing (each wrote before it listed), so two
//! conflicting holders never both proceed. A lock object that cannot be read or
//! decrypted blocks like a fresh exclusive lock and is named in the error: what it
//! protects is unknown.
//!
//! A lock whose object was last written more than 30 minutes ago *in store time*, or that
//! names a process of this host that no longer runs, is stale: the next client removes
//! it, as does `holdfast unlock`. Store time is the store's own clock: the age of a lock
//! is the modification time of its object (from the listing) against the modification
//! time of the lock this client has just written ([`crate::clock::StoreClock`]), so a
//! client whose clock runs hours ahead (or one that booted in 1970) neither removes a
//! live lock nor keeps a dead one. Only a store without modification times falls back
//! to the `time` inside the lock and the local clock. That is why a client writes its
//! own lock *before* it judges the others: its write is its reading of the store's clock.
//!
//! **Keeping a lock.** A holder rewrites its lock every 5 minutes from a background task,
//! but only after reading it back: a lock another client removed as stale is never
//! re-created. The holder counts its lock as *lost* — and cancels the lock's
//! [`CancellationToken`], which every worker of the operation watches — when the object is
//! gone, or when its last successful rewrite is older than three quarters of the stale
//! window (a paused process, a frozen VM, a store that refused every refresh): other
//! clients may judge it stale soon, and the quarter left covers clock skew between hosts.
//! Before it commits, an operation calls [`Lock::check`], which reads the lock back and
//! rewrites it; a lost lock fails with [`Error::LockLost`] and nothing is committed.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::clock::StoreClock;
use crate::crypto::AD_LOCK;
use crate::error::{Error, Result};
use crate::repository::Repository;
use tokio_util::sync::CancellationToken;

/// A lock not rewritten for this long is stale.
pub const STALE_AFTER: chrono::TimeDelta = chrono::TimeDelta::minutes(30);
/// A holder rewrites its lock this often.
pub const REFRESH_EVERY: Duration = Duration::from_secs(5 * 60);

/// The content of a lock object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    /// Exclusive (forget, prune) or shared (backup, restore, verify).
    pub exclusive: bool,
    /// Host of the holder.
    pub hostname: String,
    /// Process id of the holder.
    pub pid: u32,
    /// Last time the holder wrote the lock.
    pub time: chrono::DateTime<chrono::Utc>,
}

impl LockInfo {
    /// True when the lock no longer protects anything: not rewritten for `stale_after`, or
    /// held by a process of this host that is gone. `modified` is the lock object's
    /// modification time and `now` the store's time ([`StoreClock`]); without a
    /// modification time the lock's own `time` stands in.
    pub fn is_stale(
        &self,
        modified: Option<chrono::DateTime<chrono::Utc>>,
        now: chrono::DateTime<chrono::Utc>,
        stale_after: chrono::TimeDelta,
    ) -> bool {
        now - modified.unwrap_or(self.time) > stale_after
            || (self.hostname == crate::snapshot::hostname() && !process_exists(self.pid))
    }

    fn describe(&self, key: &str) -> String {
        format!(
            "{} lock {key} held by pid {} on host {} (last refreshed {})",
            if self.exclusive {
                "an exclusive"
            } else {
                "a shared"
            },
            self.pid,
            self.hostname,
            self.time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        )
    }
}

#[cfg(target_os = "linux")]
fn process_exists(pid: u32) -> bool {
    std::path::Path::new("/proc").join(pid.to_string()).exists()
}

#[cfg(not(target_os = "linux"))]
fn process_exists(_pid: u32) -> bool {
    true
}

/// How a lock is taken and kept.
#[derive(Clone, Debug)]
pub struct LockOptions {
    /// A lock older than this is stale (default 30 minutes).
    pub stale_after: chrono::TimeDelta,
    /// How often a holder rewrites its lock (default 5 minutes).
    pub refresh_every: Duration,
    /// How many times to try again after meeting a conflicting lock (default 3).
    pub retries: u32,
    /// Keep trying for at least this long (default 0: only `retries` attempts).
    pub wait: Duration,
    /// Longest random back-off between attempts (default 2 s).
    pub max_backoff: Duration,
}

impl Default for LockOptions {
    fn default() -> Self {
        LockOptions {
            stale_after: STALE_AFTER,
            refresh_every: REFRESH_EVERY,
            retries: 3,
            wait: Duration::ZERO,
            max_backoff: Duration::from_secs(2),
        }
    }
}

/// A held lock; call [`Lock::release`] when done.
pub struct Lock {
    repo: Repository,
    key: String,
    exclusive: bool,
    state: Arc<Held>,
    token: CancellationToken,
    refresher: tokio::task::JoinHandle<()>,
}

/// Writes the lock object and reads the store's clock from it.
async fn write_lock(repo: &Repository, key: &str, exclusive: bool) -> Result<StoreClock> {
    let info = LockInfo {
        exclusive,
        hostname: crate::snapshot::hostname(),
        pid: std::process::id(),
        time: crate::clock::now(),
    };
    store_lock(repo, key, &info).await?;
    let modified = match repo.store().stat(key).await {
        Ok(meta) => meta.modified,
        // Removed between its write and the read of its time (`unlock --all`, or a
        // client that judged it stale while this one was paused): lost, not a store
        // failure.
        Err(e) if e.kind() == holdfast_store::ErrorKind::NotFound => {
            return Err(Error::LockLost {
                repo: repo.store().url().to_owned(),
                lock: key.to_owned(),
                reason: "another client removed it as stale".into(),
            });
        }
        Err(e) => return Err(e.into()),
    };
    Ok(StoreClock::reading(modified))
}

/// The store's clock, read from a probe lock object written and removed at once (for
/// `unlock`, which holds no lock of its own). The probe is a shared lock: for the instant
/// it exists it only holds off an exclusive operation, which tries again.
pub async fn store_clock(repo: &Repository) -> Result<StoreClock> {
    let key = format!("locks/{}", uuid::Uuid::new_v4().simple());
    let clock = write_lock(repo, &key, false).await;
    repo.store().delete_file(&key).await?;
    clock
}

async fn store_lock(repo: &Repository, key: &str, info: &LockInfo) -> Result<()> {
    let json = serde_json::to_vec(info).map_err(|e| Error::Internal(e.to_string()))?;
    let sealed = repo.keys().seal(AD_LOCK, &json, 0)?;
    repo.store().write(key, Bytes::from(sealed)).await?;
    Ok(())
}

/// Every lock object and its content (`None` when it cannot be read or decrypted).
pub async fn list_locks(repo: &Repository) -> Result<Vec<(String, Option<LockInfo>)>> {
    Ok(read_locks(repo)
        .await?
        .into_iter()
        .map(|(k, r, _)| (k, r.ok()))
        .collect())
}

/// A lock as listed: its content (or why it cannot be read) and its modification time.
type ReadLock = (
    String,
    std::result::Result<LockInfo, String>,
    Option<chrono::DateTime<chrono::Utc>>,
);

/// Every lock object, its content or why it cannot be read, and its modification time.
async fn read_locks(repo: &Repository) -> Result<Vec<ReadLock>> {
    let mut out = Vec::new();
    let mut listed: Vec<(String, crate::prune::io::Listed)> =
        crate::prune::io::list_sizes(repo, "locks/")
            .await?
            .into_iter()
            .collect();
    listed.sort_by(|a, b| a.0.cmp(&b.0));
    for (key, meta) in listed {
        let info = match repo.read(&key).await {
            Ok(bytes) => repo
                .keys()
                .open(&key, AD_LOCK, &bytes, 0)
                .map_err(|e| e.to_string())
                .and_then(|json| {
                    serde_json::from_slice::<LockInfo>(&json)
                        .map_err(|e| format!("lock {key} is not a lock: {e}"))
                }),
            Err(Error::NotFound { .. }) => continue,
            Err(e) => return Err(e),
        };
        out.push((key, info, meta.modified));
    }
    Ok(out)
}

/// Removes stale locks (judged at store time `now`); returns the fresh ones other than
/// `own` that conflict with a lock of kind `exclusive` (key and description). An
/// unreadable lock always conflicts.
async fn conflicts(
    repo: &Repository,
    exclusive: bool,
    own: &str,
    now: chrono::DateTime<chrono::Utc>,
    opts: &LockOptions,
) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for (key, info, modified) in read_locks(repo).await? {
        if key == own {
            continue;
        }
        let info = match info {
            Ok(info) => info,
            Err(reason) => {
                let d = format!(
                    "an unreadable lock {key} ({reason}); if no other client runs, remove it \
                     with `holdfast unlock --all`"
                );
                out.push((key, d));
                continue;
            }
        };
        if info.is_stale(modified, now, opts.stale_after) {
            tracing::info!("removing stale {}", info.describe(&key));
            match repo.store().delete_file(&key).await {
                Ok(()) => {}
                // Append-only credentials (no delete right): a stale lock protects
                // nothing, so it is passed over; a client that may delete removes it.
                Err(e) if e.kind() == holdfast_store::ErrorKind::PermissionDenied => {
                    tracing::debug!("cannot remove stale lock {key} (no delete permission)");
                }
                Err(e) => return Err(e.into()),
            }
            continue;
        }
        if exclusive || info.exclusive {
            let d = info.describe(&key);
            out.push((key, d));
        }
    }
    Ok(out)
}

fn backoff(max: Duration) -> Duration {
    let mut b = [0u8; 4];
    let frac = match crate::crypto::random_bytes(&mut b) {
        Ok(()) => f64::from(u32::from_le_bytes(b)) / f64::from(u32::MAX),
        Err(_) => 0.5,
    };
    max.mul_f64(0.25 + 0.75 * frac)
}

impl Lock {
    /// Takes a lock with the default options, failing with [`Error::Locked`] while a fresh
    /// conflicting one exists.
    pub async fn acquire(repo: &Repository, exclusive: bool) -> Result<Lock> {
        Lock::acquire_with(repo, exclusive, &LockOptions::default()).await
    }

    /// Takes a lock (see the module doc for the protocol).
    pub async fn acquire_with(
        repo: &Repository,
        exclusive: bool,
        opts: &LockOptions,
    ) -> Result<Lock> {
        Lock::acquire_for(repo, exclusive, opts, &CancellationToken::new()).await
    }

    /// Takes a shared lock with the default options, its token a child of `parent`.
    pub async fn shared(repo: &Repository, parent: &CancellationToken) -> Result<Lock> {
        Lock::acquire_for(repo, false, &LockOptions::default(), parent).await
    }

    /// Takes a lock whose [`Lock::token`] is a child of `parent`: cancelling `parent`
    /// cancels the lock's token too; losing the lock cancels only the latter.
    pub async fn acquire_for(
        repo: &Repository,
        exclusive: bool,
        opts: &LockOptions,
        parent: &CancellationToken,
    ) -> Result<Lock> {
        let key = format!("locks/{}", uuid::Uuid::new_v4().simple());
        let mut attempt = 0;
        let started = tokio::time::Instant::now();
        let written = loop {
            if parent.is_cancelled() {
                return Err(Error::Cancelled("taking the lock".into()));
            }
            // The own lock first: its modification time is the store's clock, by which
            // the others are judged (module doc).
            let clock = write_lock(repo, &key, exclusive).await?;
            let found = conflicts(repo, exclusive, &key, clock.now(), opts).await?;
            if found.is_empty() {
                break clock;
            }
            repo.store().delete_file(&key).await?;
            let holder = found
                .iter()
                .map(|(_, d)| d.as_str())
                .collect::<Vec<_>>()
                .join("; ");
            if attempt >= opts.retries && started.elapsed() >= opts.wait {
                return Err(Error::Locked {
                    repo: repo.store().url().to_owned(),
                    holder,
                });
            }
            attempt += 1;
            tracing::warn!(
                "repository {} is locked by {holder}; trying again",
                repo.store().url()
            );
            tokio::select! {
                () = parent.cancelled() => {
                    return Err(Error::Cancelled("taking the lock".into()));
                }
                () = tokio::time::sleep(backoff(opts.max_backoff)) => {}
            }
        };
        let state = Arc::new(Held::new(opts.stale_after * 3 / 4, written));
        let token = parent.child_token();
        let refresher = tokio::spawn(keep(
            repo.clone(),
            key.clone(),
            exclusive,
            state.clone(),
            token.clone(),
            opts.refresh_every,
        ));
        Ok(Lock {
            repo: repo.clone(),
            key,
            exclusive,
            state,
            token,
            refresher,
        })
    }

    /// The store key of this lock.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The token every worker of the operation watches: cancelled when the lock is lost
    /// or the caller's token is cancelled.
    pub fn token(&self) -> CancellationToken {
        self.token.clone()
    }

    /// The store's time now, as read from the last write of this lock (the local clock
    /// for a store without modification times): what decisions that delete data go by.
    pub fn store_now(&self) -> chrono::DateTime<chrono::Utc> {
        self.state.clock().now()
    }

    /// The store's clock as read from the last write of this lock.
    pub fn store_clock(&self) -> StoreClock {
        self.state.clock()
    }

    /// Why the lock is lost, once it is.
    pub fn lost(&self) -> Option<String> {
        self.state.lost()
    }

    /// Confirms the lock is still held, right before a commit: the object is still there
    /// and was rewritten within the validity window; rewrites it. Fails with
    /// [`Error::LockLost`] (and cancels the token) otherwise, or with
    /// [`Error::Cancelled`] when the caller cancelled.
    pub async fn check(&self) -> Result<()> {
        match refresh(&self.repo, &self.key, self.exclusive, &self.state).await? {
            Ok(()) if self.token.is_cancelled() => Err(self.cancelled_error("the operation")),
            Ok(()) => Ok(()),
            Err(reason) => {
                self.state.lose(reason.clone());
                self.token.cancel();
                Err(self.lost_error(reason))
            }
        }
    }

    /// The error for a cancelled token: [`Error::LockLost`] when the lock was lost, else
    /// [`Error::Cancelled`] naming `what`.
    pub fn cancelled_error(&self, what: &str) -> Error {
        match self.state.lost() {
            Some(reason) => self.lost_error(reason),
            None => Error::Cancelled(what.to_owned()),
        }
    }

    /// Fails when the token is cancelled (see [`Lock::cancelled_error`]).
    pub fn ensure_live(&self, what: &str) -> Result<()> {
        if self.token.is_cancelled() {
            Err(self.cancelled_error(what))
        } else {
            Ok(())
        }
    }

    fn lost_error(&self, reason: String) -> Error {
        Error::LockLost {
            repo: self.repo.store().url().to_owned(),
            lock: self.key.clone(),
            reason,
        }
    }

    /// Runs `work` under the lock, stopping it (with [`Lock::cancelled_error`]) once the
    /// token is cancelled.
    pub async fn run<T>(
        &self,
        what: &str,
        work: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        let token = self.token();
        tokio::select! {
            r = work => r,
            () = token.cancelled() => Err(self.cancelled_error(what)),
        }
    }

    /// Removes the lock after an operation; the operation's error comes first.
    pub async fn release_after<T>(self, result: Result<T>) -> Result<T> {
        let released = self.release().await;
        let value = result?;
        released?;
        Ok(value)
    }

    /// Removes the lock. With append-only credentials (the store refuses the delete)
    /// the lock is left to go stale: it names a process that has ended, so clients on
    /// this host pass over it at once and others after the stale window; it only holds
    /// off an exclusive operation (forget, prune) that long.
    pub async fn release(self) -> Result<()> {
        self.refresher.abort();
        match self.repo.store().delete_file(&self.key).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == holdfast_store::ErrorKind::PermissionDenied => {
                tracing::warn!(
                    "lock {} stays until it goes stale: the store refused to delete it \
                     (append-only credentials)",
                    self.key
                );
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }
}

impl std::fmt::Debug for Lock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lock").field("key", &self.key).finish()
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        self.refresher.abort();
    }
}

/// Options of [`unlock`].
#[derive(Clone, Debug)]
pub struct UnlockOptions {
    /// Remove every lock, fresh ones included (only safe when no other client runs).
    pub all: bool,
    /// A lock older than this is stale (default 30 minutes).
    pub stale_after: chrono::TimeDelta,
}

impl Default for UnlockOptions {
    fn default() -> Self {
        UnlockOptions {
            all: false,
            stale_after: STALE_AFTER,
        }
    }
}

/// What [`unlock`] did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct UnlockReport {
    /// Removed locks: key and content (when readable).
    pub removed: Vec<(String, Option<LockInfo>)>,
    /// Locks left in place (fresh, or unreadable without `all`).
    pub kept: Vec<(String, Option<LockInfo>)>,
}

/// Removes stale locks (judged in store time), or every lock with `all`.
pub async fn unlock(repo: &Repository, opts: &UnlockOptions) -> Result<UnlockReport> {
    let now = if opts.all {
        crate::clock::now()
    } else {
        store_clock(repo).await?.now()
    };
    let mut report = UnlockReport::default();
    for (key, info, modified) in read_locks(repo).await? {
        let info = info.ok();
        let stale = info
            .as_ref()
            .is_some_and(|i| i.is_stale(modified, now, opts.stale_after));
        if opts.all || stale {
            repo.store().delete_file(&key).await?;
            report.removed.push((key, info));
        } else {
            report.kept.push((key, info));
        }
    }
    Ok(report)
}

mod keep;
#[cfg(test)]
mod tests;
pub mod text;

use keep::{Held, keep, refresh};
