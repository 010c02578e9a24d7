//! Repository locks (docs/FORMAT.md, "Locks"): backup takes a shared lock, prune an
//! exclusive one; a lock older than 30 minutes is stale; a holder rewrites its lock
//! every 5 minutes and removes it at the end.

use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::crypto::AD_LOCK;
use crate::error::{Error, Result};
use crate::repository::Repository;

const STALE: chrono::TimeDelta = chrono::TimeDelta::minutes(30);
const REFRESH: Duration = Duration::from_secs(5 * 60);

/// The content of a lock object.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LockInfo {
    /// Exclusive (prune) or shared (backup).
    pub exclusive: bool,
    /// Host of the holder.
    pub hostname: String,
    /// Process id of the holder.
    pub pid: u32,
    /// Last time the holder wrote the lock.
    pub time: chrono::DateTime<chrono::Utc>,
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
    let json = serde_json::to_vec(&info).map_err(|e| Error::Invalid(e.to_string()))?;
    let sealed = repo.keys().seal(AD_LOCK, &json, 0)?;
    repo.store().write(key, Bytes::from(sealed)).await?;
    Ok(())
}

impl Lock {
    /// Takes a lock, failing with [`Error::Locked`] while a fresh conflicting one exists.
    pub async fn acquire(repo: &Repository, exclusive: bool) -> Result<Lock> {
        let now = chrono::Utc::now();
        for key in repo.list("locks/").await? {
            let Ok(bytes) = repo.read(&key).await else {
                continue;
            };
            let Ok(json) = repo.keys().open(&key, AD_LOCK, &bytes, 0) else {
                continue;
            };
            let Ok(info) = serde_json::from_slice::<LockInfo>(&json) else {
                continue;
            };
            if now - info.time < STALE && (exclusive || info.exclusive) {
                return Err(Error::Locked {
                    repo: repo.store().url().to_owned(),
                    holder: format!(
                        "{} lock {key} by pid {} on {} at {}",
                        if info.exclusive {
                            "exclusive"
                        } else {
                            "shared"
                        },
                        info.pid,
                        info.hostname,
                        info.time
                    ),
                });
            }
        }
        let key = format!("locks/{}", uuid::Uuid::new_v4().simple());
        write_lock(repo, &key, exclusive).await?;
        let (r, k) = (repo.clone(), key.clone());
        let refresher = tokio::spawn(async move {
            loop {
                tokio::time::sleep(REFRESH).await;
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

    /// Removes the lock.
    pub async fn release(self) -> Result<()> {
        self.refresher.abort();
        self.repo.store().delete_file(&self.key).await?;
        Ok(())
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        self.refresher.abort();
    }
}
