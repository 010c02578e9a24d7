//! Repository locks (docs/FORMAT.md, "Locks"): backup, restore and verify take a shared
//! lock, forget and prune an exclusive one.
//!
//! The protocol is restic's and needs no conditional write from the store (Garage, for
//! one, ignores `If-None-Match`): a client lists `locks/`, removes the stale ones and
//! gives up (or backs off) on a fresh conflicting one; otherwise it writes
//! `locks/<random uuid>` and lists again. If a conflicting lock appeared meanwhile (two
//! clients raced), it removes its own lock, waits a random back-off and starts over; after
//! `retries` attempts, and no sooner than [`LockOptions::wait`] after the first, it fails with
//! [`Error::Locked`] naming the holder (host, pid, time).
//! Of two racing clients at least one sees the other's lock in its second listing, so two
//! conflicting holders never both proceed.
//!
//! A holder rewrites its lock every 5 minutes from a background task. A lock whose `time`
//! is more than 30 minutes old, or that names a process of this host that no longer runs,
//! is stale: the next client removes it, as does `holdfast unlock`.

use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::crypto::AD_LOCK;
use crate::error::{Error, Result};
use crate::repository::Repository;

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
    /// held by a process of this host that is gone.
    pub fn is_stale(
        &self,
        now: chrono::DateTime<chrono::Utc>,
        stale_after: chrono::TimeDelta,
    ) -> bool {
        now - self.time > stale_after
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
    refresher: tokio::task::JoinHandle<()>,
}

async fn write_lock(repo: &Repository, key: &str, exclusive: bool) -> Result<()> {
    let info = LockInfo {
        exclusive,
        hostname: crate::snapshot::hostname(),
        pid: std::process::id(),
        time: chrono::Utc::now(),
    };
    store_lock(repo, key, &info).await
}

async fn store_lock(repo: &Repository, key: &str, info: &LockInfo) -> Result<()> {
    let json = serde_json::to_vec(info).map_err(|e| Error::Invalid(e.to_string()))?;
    let sealed = repo.keys().seal(AD_LOCK, &json, 0)?;
    repo.store().write(key, Bytes::from(sealed)).await?;
    Ok(())
}

/// Every lock object and its content (`None` when it cannot be read or decrypted).
pub async fn list_locks(repo: &Repository) -> Result<Vec<(String, Option<LockInfo>)>> {
    let mut out = Vec::new();
    for key in repo.list("locks/").await? {
        let info = match repo.read(&key).await {
            Ok(bytes) => repo
                .keys()
                .open(&key, AD_LOCK, &bytes, 0)
                .ok()
                .and_then(|json| serde_json::from_slice::<LockInfo>(&json).ok()),
            Err(Error::NotFound { .. }) => continue,
            Err(e) => return Err(e),
        };
        out.push((key, info));
    }
    Ok(out)
}

/// Removes stale locks; returns the fresh ones other than `own` that conflict with a lock
/// of kind `exclusive`.
async fn conflicts(
    repo: &Repository,
    exclusive: bool,
    own: Option<&str>,
    opts: &LockOptions,
) -> Result<Vec<(String, LockInfo)>> {
    let now = chrono::Utc::now();
    let mut out = Vec::new();
    for (key, info) in list_locks(repo).await? {
        let Some(info) = info else { continue };
        if Some(key.as_str()) == own {
            continue;
        }
        if info.is_stale(now, opts.stale_after) {
            tracing::info!("removing stale {}", info.describe(&key));
            repo.store().delete_file(&key).await?;
            continue;
        }
        if exclusive || info.exclusive {
            out.push((key, info));
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
        let key = format!("locks/{}", uuid::Uuid::new_v4().simple());
        let mut attempt = 0;
        let started = tokio::time::Instant::now();
        loop {
            let mut found = conflicts(repo, exclusive, None, opts).await?;
            if found.is_empty() {
                write_lock(repo, &key, exclusive).await?;
                found = conflicts(repo, exclusive, Some(&key), opts).await?;
                if found.is_empty() {
                    break;
                }
                repo.store().delete_file(&key).await?;
            }
            let holder = found
                .iter()
                .map(|(k, i)| i.describe(k))
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
            tokio::time::sleep(backoff(opts.max_backoff)).await;
        }
        let (r, k, every) = (repo.clone(), key.clone(), opts.refresh_every);
        let refresher = tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                if let Err(e) = write_lock(&r, &k, exclusive).await {
                    tracing::warn!("could not refresh lock {k}: {e}");
                }
            }
        });
        Ok(Lock {
            repo: repo.clone(),
            key,
            refresher,
        })
    }

    /// The store key of this lock.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Removes the lock.
    pub async fn release(self) -> Result<()> {
        self.refresher.abort();
        self.repo.store().delete_file(&self.key).await?;
        Ok(())
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

/// Removes stale locks, or every lock with `all`.
pub async fn unlock(repo: &Repository, opts: &UnlockOptions) -> Result<UnlockReport> {
    let now = chrono::Utc::now();
    let mut report = UnlockReport::default();
    for (key, info) in list_locks(repo).await? {
        let stale = info
            .as_ref()
            .is_some_and(|i| i.is_stale(now, opts.stale_after));
        if opts.all || stale {
            repo.store().delete_file(&key).await?;
            report.removed.push((key, info));
        } else {
            report.kept.push((key, info));
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests;
