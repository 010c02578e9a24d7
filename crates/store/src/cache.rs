//! [`DiskCache`]: a TTL key/value cache over any [`Store`] (seed 000's disk cache).
//!
//! The entry format, the one every cache of holdfast writes (this one, and the agent's
//! cache API on a volume's `.holdfast/cache`): each entry is one object named by the
//! BLAKE3 hash of its key ([`entry_name`]: any string is a safe key) under the cache's
//! directory. The object starts with an 8-byte big-endian expiry time in Unix
//! milliseconds, then the value ([`encode_entry`], [`live_value`]); writing it is one
//! atomic write, so a reader sees the old entry or the new one. An expired entry is
//! deleted when read.

use std::time::Duration;

use bytes::Bytes;
use chrono::Utc;
use futures::StreamExt;

use crate::error::{ErrorKind, Result};
use crate::store::{ListOptions, Store};

const HEADER: usize = 8;

/// A TTL cache stored in a directory of a [`Store`].
#[derive(Debug, Clone)]
pub struct DiskCache {
    store: Store,
    dir: String,
}

impl DiskCache {
    /// A cache in directory `dir` (e.g. `"cache"`) of `store`.
    pub fn new(store: Store, dir: &str) -> Self {
        DiskCache {
            store,
            dir: dir.trim_end_matches('/').to_string(),
        }
    }

    fn object(&self, key: &str) -> String {
        let h = entry_name(key);
        if self.dir.is_empty() {
            h
        } else {
            format!("{}/{h}", self.dir)
        }
    }

    /// Stores `value` under `key` for `ttl`, replacing any previous value.
    pub async fn set(&self, key: &str, value: Bytes, ttl: Duration) -> Result<()> {
        let buf = encode_entry(&value, ttl);
        self.store.write(&self.object(key), Bytes::from(buf)).await
    }

    /// The value under `key`, or `None` when absent or expired (an expired entry is
    /// deleted).
    pub async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        let obj = self.object(key);
        let data = match self.store.read(&obj).await {
            Ok(d) => d,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        match live_value(&data) {
            Some(_) => Ok(Some(data.slice(HEADER..))),
            None => {
                self.store.delete_file(&obj).await?;
                Ok(None)
            }
        }
    }

    /// Removes `key`; absent is fine.
    pub async fn delete(&self, key: &str) -> Result<()> {
        self.store.delete_file(&self.object(key)).await
    }

    /// Deletes every expired (or unreadable) entry and returns how many went.
    pub async fn purge_expired(&self) -> Result<u64> {
        let now = Utc::now().timestamp_millis();
        let prefix = if self.dir.is_empty() {
            String::new()
        } else {
            format!("{}/", self.dir)
        };
        let mut entries = self.store.list(&prefix, ListOptions::default());
        let mut purged = 0;
        while let Some(entry) = entries.next().await {
            let entry = entry?;
            let head = self.store.read_range(&entry.key, 0..HEADER as u64).await;
            let stale = match head {
                Ok(h) => expiry(&h).is_none_or(|exp| exp <= now),
                Err(e) if e.kind() == ErrorKind::NotFound => false,
                Err(e) => return Err(e),
            };
            if stale {
                self.store.delete_file(&entry.key).await?;
                purged += 1;
            }
        }
        Ok(purged)
    }
}

fn expiry(data: &[u8]) -> Option<i64> {
    let head: [u8; HEADER] = data.get(..HEADER)?.try_into().ok()?;
    Some(i64::from_be_bytes(head))
}

/// The name of `key`'s entry: the hex BLAKE3 hash of the key.
pub fn entry_name(key: &str) -> String {
    blake3::hash(key.as_bytes()).to_hex().to_string()
}

/// An entry holding `value` until `ttl` from now.
pub fn encode_entry(value: &[u8], ttl: Duration) -> Vec<u8> {
    let expires = Utc::now()
        .timestamp_millis()
        .saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX));
    let mut buf = Vec::with_capacity(HEADER + value.len());
    buf.extend_from_slice(&expires.to_be_bytes());
    buf.extend_from_slice(value);
    buf
}

/// The value of an entry that has not expired; `None` when it has (or is too short to
/// be an entry).
pub fn live_value(entry: &[u8]) -> Option<&[u8]> {
    match expiry(entry) {
        Some(exp) if exp > Utc::now().timestamp_millis() => entry.get(HEADER..),
        _ => None,
    }
}
