//! Keeping a held lock: what the holder knows of it ([`Held`]), the read-back-then-rewrite
//! refresh, and the background refresher that cancels the operation when the lock is
//! lost (see the parent module doc, "Keeping a lock").

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::write_lock;
use crate::clock::StoreClock;
use crate::error::{Error, Result};
use crate::repository::Repository;

/// What the holder knows of its lock.
pub(super) struct Held {
    /// Wall time and monotonic time of the last successful write of the lock object.
    written: Mutex<(chrono::DateTime<chrono::Utc>, std::time::Instant)>,
    /// The store's clock as read from that write.
    clock: Mutex<StoreClock>,
    /// Why the lock was lost, once it is.
    lost: Mutex<Option<String>>,
    /// A write older than this no longer counts as holding the lock.
    valid_for: chrono::TimeDelta,
}

impl Held {
    pub(super) fn new(valid_for: chrono::TimeDelta, clock: StoreClock) -> Held {
        Held {
            written: Mutex::new((crate::clock::now(), std::time::Instant::now())),
            clock: Mutex::new(clock),
            lost: Mutex::new(None),
            valid_for,
        }
    }

    /// Time since the last successful write, by wall clock or monotonic clock, whichever
    /// is longer (a paused process sees both jump; a suspended VM only the wall clock).
    fn age(&self) -> chrono::TimeDelta {
        let (wall, mono) = *self.written.lock().unwrap_or_else(|e| e.into_inner());
        let by_wall = crate::clock::now() - wall;
        let by_mono = chrono::TimeDelta::from_std(mono.elapsed()).unwrap_or(chrono::TimeDelta::MAX);
        by_wall.max(by_mono)
    }

    fn wrote(&self, clock: StoreClock) {
        *self.written.lock().unwrap_or_else(|e| e.into_inner()) =
            (crate::clock::now(), std::time::Instant::now());
        *self.clock.lock().unwrap_or_else(|e| e.into_inner()) = clock;
    }

    /// The store's clock as read from the last write.
    pub(super) fn clock(&self) -> StoreClock {
        *self.clock.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn lost(&self) -> Option<String> {
        self.lost.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(super) fn lose(&self, reason: String) {
        self.lost
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert(reason);
    }

    /// The reason the lock is lost by age, if it is.
    fn expired(&self) -> Option<String> {
        let age = self.age();
        (age >= self.valid_for).then(|| {
            format!(
                "not refreshed for {} s (the process was paused, or the store refused every \
                 refresh)",
                age.num_seconds()
            )
        })
    }
}

/// Reads the holder's own lock back and rewrites it. `Ok(Err(reason))` when the lock is
/// lost; `Err` when the store could not be asked.
pub(super) async fn refresh(
    repo: &Repository,
    key: &str,
    exclusive: bool,
    held: &Held,
) -> Result<std::result::Result<(), String>> {
    if let Some(reason) = held.lost().or_else(|| held.expired()) {
        return Ok(Err(reason));
    }
    match repo.read(key).await {
        Ok(_) => {}
        Err(Error::NotFound { .. }) => {
            return Ok(Err("another client removed it as stale".into()));
        }
        Err(e) => return Err(e),
    }
    let clock = match write_lock(repo, key, exclusive).await {
        Ok(clock) => clock,
        // Removed between the write and the read of its time: lost.
        Err(Error::LockLost { reason, .. }) => return Ok(Err(reason)),
        Err(e) => return Err(e),
    };
    // The read and write may have been slow (or the process paused between them).
    if let Some(reason) = held.expired() {
        return Ok(Err(reason));
    }
    held.wrote(clock);
    Ok(Ok(()))
}

/// The refresher: rewrites the lock every `every` (sooner after a failed attempt) until
/// the token is cancelled; cancels it when the lock is lost.
pub(super) async fn keep(
    repo: Repository,
    key: String,
    exclusive: bool,
    state: Arc<Held>,
    token: CancellationToken,
    every: Duration,
) {
    let retry = every.min(Duration::from_secs(30));
    let mut wait = every;
    loop {
        tokio::select! {
            () = token.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
        match refresh(&repo, &key, exclusive, &state).await {
            Ok(Ok(())) => wait = every,
            Ok(Err(reason)) => {
                tracing::error!("lost lock {key}: {reason}; stopping the operation");
                state.lose(reason);
                token.cancel();
                return;
            }
            Err(e) => {
                tracing::warn!("could not refresh lock {key}: {e}; trying again");
                wait = retry;
            }
        }
    }
}
