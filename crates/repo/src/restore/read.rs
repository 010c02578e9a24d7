//! The read planner of a restore: which bytes of which packs are fetched, how many
//! requests are in the air, and how much memory they may hold.
//!
//! How it works: the blobs a batch of files needs are grouped by pack and sorted by
//! offset; neighbours closer than [`GAP`] share one range request, and a range grows to
//! at most [`SPAN`] bytes (or a quarter of the window, when that is smaller). The ranges
//! are issued in the order the files need them, on up to [`ReadOptions::connections`]
//! concurrent store reads, each holding its share of a window of
//! [`ReadOptions::window`] bytes from before its request until every blob in it is
//! written. A range's share is its envelope bytes plus the plaintext they open to, so the
//! bytes fetched and not yet written never pass the window, however many requests are in
//! flight: a fast store fills the window and waits for the writers, a slow one keeps all
//! its connections busy. Each range is authenticated and decompressed on the restore's
//! thread pool (all cores, its blobs in parallel) and handed to a [`Sink`], which writes
//! every blob wherever it is needed, in whatever order the ranges come back.
//!
//! Failures: a blob that does not authenticate is read again up to
//! [`crate::repository::REREADS`] times (a byte changed on the way is not damage); a
//! pack shorter than the index says gives the blobs before the cut and reports the rest as
//! cut short; a store that is unavailable (after its own retries and timeouts) stops
//! every read and is returned as the batch's error, so the restore fails with it.

use std::future::Future;
use std::ops::Range;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::id::Id;
use crate::index::BlobLocation;
use crate::pack::pack_key;
use crate::repository::{IndexedRepository, REREADS};

/// Blobs further apart than this in a pack are read by separate requests.
pub(crate) const GAP: u64 = 256 << 10;
/// The most bytes one range request reads.
pub(crate) const SPAN: u64 = 16 << 20;
/// The smallest window: one largest blob (4 MiB of plaintext and its envelope) fits.
const MIN_WINDOW: u64 = 12 << 20;
/// The largest window (one range's share is counted in a `u32`).
const MAX_WINDOW: u64 = 1 << 30;
/// Default window of bytes in flight.
pub const DEFAULT_WINDOW: u64 = 32 << 20;
/// Environment variable overriding [`ReadOptions::connections`].
pub const CONNECTIONS_ENV: &str = "HOLDFAST_RESTORE_CONNECTIONS";
/// Environment variable overriding [`ReadOptions::window`] (MiB).
pub const WINDOW_ENV: &str = "HOLDFAST_RESTORE_WINDOW_MIB";

/// A future returned by a [`PackReader`].
pub type ReadFuture<'a, T> = Pin<Box<dyn Future<Output = holdfast_store::Result<T>> + Send + 'a>>;

/// Where a restore reads pack bytes from: the repository's store, or a wrapper of it
/// (one that counts, fails or stalls reads, in tests). Contracts as [`holdfast_store::Store`]'s.
pub trait PackReader: Send + Sync {
    /// Bytes `range` of the object `key` ([`holdfast_store::Store::read_range`]).
    fn read_range<'a>(&'a self, key: &'a str, range: Range<u64>) -> ReadFuture<'a, Bytes>;
    /// The size of the object `key` ([`holdfast_store::Store::stat`]).
    fn size<'a>(&'a self, key: &'a str) -> ReadFuture<'a, u64>;
}

impl PackReader for holdfast_store::Store {
    fn read_range<'a>(&'a self, key: &'a str, range: Range<u64>) -> ReadFuture<'a, Bytes> {
        Box::pin(holdfast_store::Store::read_range(self, key, range))
    }

    fn size<'a>(&'a self, key: &'a str) -> ReadFuture<'a, u64> {
        Box::pin(async move { Ok(self.stat(key).await?.size) })
    }
}

/// How a restore reads: concurrency and memory.
#[derive(Clone)]
pub struct ReadOptions {
    /// Concurrent store reads; `None`: [`default_connections`] for the store (or
    /// `HOLDFAST_RESTORE_CONNECTIONS`).
    pub connections: Option<usize>,
    /// Bytes fetched and not yet written, at most (kept between 12 MiB, the largest blob
    /// with its envelope and plaintext, and 1 GiB); by default 32 MiB (or
    /// `HOLDFAST_RESTORE_WINDOW_MIB`).
    pub window: u64,
    /// Read packs through this instead of the repository's store.
    pub reader: Option<Arc<dyn PackReader>>,
}

impl std::fmt::Debug for ReadOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadOptions")
            .field("connections", &self.connections)
            .field("window", &self.window)
            .field("reader", &self.reader.as_ref().map(|_| "custom"))
            .finish()
    }
}

impl Default for ReadOptions {
    /// The defaults, or the values of `HOLDFAST_RESTORE_CONNECTIONS` and
    /// `HOLDFAST_RESTORE_WINDOW_MIB` where they are set to positive numbers.
    fn default() -> Self {
        let env = |name: &str| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .filter(|n| *n > 0)
        };
        ReadOptions {
            connections: env(CONNECTIONS_ENV).map(|n| n as usize),
            window: env(WINDOW_ENV).map_or(DEFAULT_WINDOW, |m| m << 20),
            reader: None,
        }
    }
}

/// Concurrent reads by default: a local store needs no more than the cores can decode
/// (and a few to cover the disk's own latency); a remote one needs enough requests in
/// the air to fill a link with 60 ms round trips (32 × 1 MiB per 60 ms is 530 MB/s, and
/// the window bounds the memory, not this count).
pub fn default_connections(store: &holdfast_store::Store) -> usize {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    if store.local_root().is_some() {
        (cores * 2).max(4)
    } else {
        32
    }
}

/// Neighbouring blobs of one pack, read with one request.
pub(crate) struct Span {
    pub(crate) pack: Id,
    pub(crate) start: u64,
    pub(crate) end: u64,
    pub(crate) blobs: Vec<(Id, BlobLocation)>,
}

impl Span {
    /// Its share of the window: the envelopes fetched plus the plaintext they open to.
    fn weight(&self) -> u64 {
        (self.end - self.start)
            + self
                .blobs
                .iter()
                .map(|(_, l)| u64::from(l.raw_length))
                .sum::<u64>()
    }
}

/// Groups blobs into range requests: per pack, by offset, neighbours at most `gap`
/// apart in one range of at most `span` bytes. The packs come in the order of their
/// first blob in `blobs` (the order the files need them), so the earliest files are
/// complete first.
pub(crate) fn plan(blobs: &[(Id, BlobLocation)], gap: u64, span: u64) -> Vec<Span> {
    let mut order: Vec<Id> = Vec::new();
    let mut by_pack: std::collections::HashMap<Id, Vec<(Id, BlobLocation)>> =
        std::collections::HashMap::new();
    for (id, loc) in blobs {
        let list = by_pack.entry(loc.pack).or_insert_with(|| {
            order.push(loc.pack);
            Vec::new()
        });
        list.push((*id, *loc));
    }
    let mut out = Vec::new();
    for pack in order {
        let Some(mut list) = by_pack.remove(&pack) else {
            continue;
        };
        list.sort_by_key(|(_, l)| l.offset);
        list.dedup_by_key(|(id, _)| *id);
        let mut cur: Option<Span> = None;
        for (id, loc) in list {
            let end = loc.offset + u64::from(loc.length);
            match &mut cur {
                Some(s) if loc.offset <= s.end + gap && end.max(s.end) - s.start <= span => {
                    s.end = s.end.max(end);
                    s.blobs.push((id, loc));
                }
                _ => {
                    out.extend(cur.take());
                    cur = Some(Span {
                        pack,
                        start: loc.offset,
                        end,
                        blobs: vec![(id, loc)],
                    });
                }
            }
        }
        out.extend(cur);
    }
    out
}

/// Receives each blob of a batch, opened or with the reason it could not be.
pub(crate) trait Sink: Send + Sync {
    /// Writes the plaintext of `id` wherever it is needed, or records `Err` for the files
    /// that need it.
    fn deliver(&self, id: &Id, plain: Result<&[u8], String>);
}

/// Fetches ranges for a whole restore: the connections and the window are shared by
/// every batch, so a batch fetched while the one before finishes stays inside them.
pub(crate) struct Reader {
    repo: IndexedRepository,
    source: Arc<dyn PackReader>,
    pool: Arc<rayon::ThreadPool>,
    window: Arc<Semaphore>,
    window_bytes: u64,
    connections: Arc<Semaphore>,
    cancel: tokio_util::sync::CancellationToken,
}

impl Reader {
    pub(crate) fn new(
        repo: &IndexedRepository,
        opts: &ReadOptions,
        pool: Arc<rayon::ThreadPool>,
        cancel: tokio_util::sync::CancellationToken,
    ) -> Reader {
        let window_bytes = opts.window.clamp(MIN_WINDOW, MAX_WINDOW);
        let connections = opts
            .connections
            .unwrap_or_else(|| default_connections(repo.store()))
            .max(1);
        let source: Arc<dyn PackReader> = match &opts.reader {
            Some(r) => r.clone(),
            None => Arc::new(repo.store().clone()),
        };
        Reader {
            repo: repo.clone(),
            source,
            pool,
            window: Arc::new(Semaphore::new(window_bytes as usize)),
            window_bytes,
            connections: Arc::new(Semaphore::new(connections)),
            cancel,
        }
    }

    /// The largest range worth one request: [`SPAN`], or a quarter of the window so
    /// several ranges are always in flight.
    pub(crate) fn span(&self) -> u64 {
        SPAN.min(self.window_bytes / 4).max(GAP)
    }

    /// Fetches `spans` in order and hands every blob to `sink`. Returns the store's
    /// error when it is unavailable (every other read is then stopped), `Ok` otherwise,
    /// also when cancelled (the caller checks).
    pub(crate) async fn fetch(
        self: Arc<Self>,
        spans: Vec<Span>,
        sink: Arc<dyn Sink>,
    ) -> Result<(), holdfast_store::Error> {
        let mut tasks = tokio::task::JoinSet::new();
        let mut failed = None;
        for span in spans {
            let weight = span.weight().min(self.window_bytes) as u32;
            let permit = tokio::select! {
                () = self.cancel.cancelled() => break,
                p = self.window.clone().acquire_many_owned(weight) => p,
            };
            let conn = tokio::select! {
                () = self.cancel.cancelled() => break,
                c = self.connections.clone().acquire_owned() => c,
            };
            let (Ok(permit), Ok(conn)) = (permit, conn) else {
                break;
            };
            tasks.spawn(self.clone().range(span, permit, conn, sink.clone()));
            while let Some(done) = tasks.try_join_next() {
                self.settle(done, &mut failed);
            }
        }
        while let Some(done) = tasks.join_next().await {
            self.settle(done, &mut failed);
        }
        failed.map_or(Ok(()), Err)
    }

    fn settle(
        &self,
        done: Result<Result<(), holdfast_store::Error>, tokio::task::JoinError>,
        failed: &mut Option<holdfast_store::Error>,
    ) {
        let err = match done {
            Ok(Ok(())) => return,
            Ok(Err(e)) => e,
            Err(e) => holdfast_store::Error::new(
                holdfast_store::ErrorKind::Unavailable,
                "read",
                "restore",
                "",
            )
            .with_detail(format!("a read task ended: {e}")),
        };
        self.cancel.cancel();
        failed.get_or_insert(err);
    }

    /// Reads one range, opens its blobs (again, while some fail to authenticate) and
    /// delivers them; the window share is given back once they are written.
    async fn range(
        self: Arc<Self>,
        span: Span,
        permit: OwnedSemaphorePermit,
        conn: OwnedSemaphorePermit,
        sink: Arc<dyn Sink>,
    ) -> Result<(), holdfast_store::Error> {
        if self.cancel.is_cancelled() {
            return Ok(());
        }
        let span = Arc::new(span);
        let key = pack_key(&span.pack);
        let mut end = span.end;
        let mut data = self.source.read_range(&key, span.start..end).await;
        // A pack shorter than the index says (truncated): the blobs before the cut are
        // whole and restored; those past it are reported as cut short.
        if let Err(e) = &data
            && e.kind() == holdfast_store::ErrorKind::InvalidRange
            && let Ok(size) = self.source.size(&key).await
            && size > span.start
        {
            end = end.min(size);
            data = self.source.read_range(&key, span.start..end).await;
        }
        let data = match data {
            Err(e) if e.kind() == holdfast_store::ErrorKind::Unavailable => return Err(e),
            Err(e) => Err(format!("pack {}: {e}", span.pack)),
            Ok(b) => Ok(b),
        };
        let fetched = data.is_ok();
        let mut plains = self.open(&span, data).await;
        // Each blob keeps the first copy that authenticates.
        let mut rereads = 0;
        while fetched && rereads < REREADS && plains.iter().any(Result::is_err) {
            rereads += 1;
            let again = match self.source.read_range(&key, span.start..end).await {
                Err(e) if e.kind() == holdfast_store::ErrorKind::Unavailable => return Err(e),
                Err(_) => continue,
                Ok(b) => b,
            };
            for (plain, fresh) in plains.iter_mut().zip(self.open(&span, Ok(again)).await) {
                if plain.is_err() {
                    *plain = fresh;
                }
            }
        }
        drop(conn);
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.pool.spawn(move || {
            for ((id, _), plain) in span.blobs.iter().zip(plains) {
                sink.deliver(id, plain.as_deref().map_err(Clone::clone));
            }
            drop((sink, permit));
            let _ = tx.send(());
        });
        let _ = rx.await;
        Ok(())
    }

    /// Authenticates and decompresses the blobs of `span` from `data` on the pool.
    async fn open(
        &self,
        span: &Arc<Span>,
        data: Result<Bytes, String>,
    ) -> Vec<Result<Vec<u8>, String>> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let count = span.blobs.len();
        let (span, repo) = (span.clone(), self.repo.clone());
        self.pool.spawn(move || {
            use rayon::prelude::*;
            let out: Vec<_> = span
                .blobs
                .par_iter()
                .map(|(id, loc)| {
                    let bytes = data.as_ref().map_err(Clone::clone)?;
                    let from = (loc.offset - span.start) as usize;
                    match bytes.get(from..from + loc.length as usize) {
                        None => Err(format!(
                            "blob {id} cut short (pack {} truncated?)",
                            span.pack
                        )),
                        Some(sealed) => repo.open_blob(id, loc, sealed).map_err(|e| e.to_string()),
                    }
                })
                .collect();
            // The fetched bytes go before the caller hears back, so they never outlive
            // the range's share of the window.
            drop(data);
            let _ = tx.send(out);
        });
        rx.await
            .unwrap_or_else(|_| vec![Err("the restore's decoder stopped".into()); count])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pack::BlobType;

    fn blob(n: u8, pack: u8, offset: u64, length: u32) -> (Id, BlobLocation) {
        (
            Id([n; 32]),
            BlobLocation {
                pack: Id([pack; 32]),
                kind: BlobType::Data,
                offset,
                length,
                raw_length: length,
            },
        )
    }

    fn shape(spans: &[Span]) -> Vec<(u8, u64, u64, usize)> {
        spans
            .iter()
            .map(|s| (s.pack.0[0], s.start, s.end, s.blobs.len()))
            .collect()
    }

    /// Neighbours within the gap share a range; a wider gap, another pack or the span
    /// limit starts a new one; packs keep the order the files first need them in.
    #[test]
    fn ranges_merge_gaps_up_to_the_bound_and_stop_at_the_span() {
        let kib = 1 << 10;
        let blobs = [
            blob(1, 9, 0, 100 * kib),
            blob(2, 9, 100 * kib as u64 + GAP, 100 * kib),
            blob(3, 9, 10 << 20, 100 * kib),
            blob(4, 2, 0, 4 << 20),
            blob(5, 2, 4 << 20, 4 << 20),
            blob(6, 2, 8 << 20, 4 << 20),
            blob(1, 9, 0, 100 * kib),
        ];
        let spans = plan(&blobs, GAP, 10 << 20);
        assert_eq!(
            shape(&spans),
            vec![
                (9, 0, 2 * 100 * 1024 + GAP, 2),
                (9, 10 << 20, (10 << 20) + 100 * 1024, 1),
                (2, 0, 8 << 20, 2),
                (2, 8 << 20, 12 << 20, 1),
            ]
        );
    }
}
