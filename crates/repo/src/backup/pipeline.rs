//! The write side of a backup: blobs go through a bounded channel to a pool of
//! compress+encrypt workers, then to a packer that fills data and tree packs (16 MiB),
//! then to an uploader that keeps at most 4 pack writes in flight (2 on a local disk: one
//! is written while the other waits on its fsync); the packer seals a pack only when a
//! write slot is free, so no finished pack waits in a queue. Every queue is bounded, so
//! memory stays bounded whatever the data size.
//!
//! The uploader watches the backup's cancellation token: once it is cancelled the uploads
//! in flight are dropped and the uploader stops, which closes the queues behind it, so the
//! packer, the workers and the walker stop too. Every pack stored is recorded as it
//! completes, so a failed backup knows which packs to delete. When a stage fails, the error
//! of the uploader (the store's own: a full disk, a refused request) is the one reported,
//! not the "stopped" that the stages before it then see.

use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use bytes::Bytes;
use crossbeam_channel::{Receiver, Sender, bounded};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::id::Id;
use crate::index::IndexPack;
use crate::pack::{BlobType, FinishedPack, PackWriter, TARGET_SIZE, pack_key};
use crate::repository::Repository;

/// Pack writes in flight to a remote store.
const IN_FLIGHT_REMOTE: usize = 4;
/// Pack writes in flight to a local disk: one fills the page cache while the other waits
/// on its fsync.
const IN_FLIGHT_LOCAL: usize = 2;

/// A plaintext blob on its way to a pack.
pub(crate) struct Job {
    pub id: Id,
    pub kind: BlobType,
    pub data: Bytes,
}

struct Sealed {
    id: Id,
    kind: BlobType,
    bytes: Vec<u8>,
    raw: usize,
}

/// A running pipeline; send blobs with [`Pipeline::sender`], then [`Pipeline::finish`].
pub(crate) struct Pipeline {
    jobs: Option<Sender<Job>>,
    workers: Vec<JoinHandle<Result<()>>>,
    packer: Option<JoinHandle<Result<()>>>,
    uploader: tokio::task::JoinHandle<Result<(Vec<IndexPack>, u64)>>,
    written: Arc<Mutex<Vec<Id>>>,
}

/// What the pipeline stored.
pub(crate) struct Stored {
    pub packs: Vec<IndexPack>,
    pub bytes: u64,
}

impl Pipeline {
    /// Starts workers, packer and uploader.
    pub(crate) fn start(repo: &Repository, level: i32, cancel: CancellationToken) -> Pipeline {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        // Two blobs per worker queue on each side, so a worker never waits on a reader
        // that is between files, nor on the packer while it seals a pack (about 1 MiB a
        // blob, at most 4 MiB).
        let (job_tx, job_rx) = bounded::<Job>(threads * 2);
        let (sealed_tx, sealed_rx) = bounded::<Sealed>(threads * 2);
        let workers = (0..threads)
            .map(|_| {
                let (rx, tx, r) = (job_rx.clone(), sealed_tx.clone(), repo.clone());
                std::thread::spawn(move || work(&r, level, &rx, &tx))
            })
            .collect();
        drop(sealed_tx);
        let (pack_tx, pack_rx) = mpsc::channel::<FinishedPack>(1);
        let in_flight = if repo.store().local_root().is_some() {
            IN_FLIGHT_LOCAL
        } else {
            IN_FLIGHT_REMOTE
        };
        // One token per pack that may exist finished (queued or being written): the
        // packer takes one before it seals a pack, the uploader returns it once stored.
        let (token_tx, token_rx) = bounded::<()>(in_flight);
        for _ in 0..in_flight {
            let _ = token_tx.send(());
        }
        let r = repo.clone();
        let packer = std::thread::spawn(move || pack(&r, &sealed_rx, &pack_tx, &token_rx));
        let written = Arc::new(Mutex::new(Vec::new()));
        let up = Uploader {
            repo: repo.clone(),
            tokens: token_tx,
            in_flight,
            cancel,
            written: written.clone(),
        };
        let uploader = tokio::spawn(up.run(pack_rx));
        Pipeline {
            jobs: Some(job_tx),
            workers,
            packer: Some(packer),
            uploader,
            written,
        }
    }

    /// The input queue.
    pub(crate) fn sender(&self) -> Sender<Job> {
        self.jobs.clone().unwrap_or_else(|| bounded(0).0)
    }

    /// Closes the input, waits for every blob to be packed and every pack stored. Also
    /// returns the ids of the packs stored, whatever the outcome.
    pub(crate) async fn finish(mut self) -> (Result<Stored>, Vec<Id>) {
        drop(self.jobs.take());
        let workers = std::mem::take(&mut self.workers);
        let packer = self.packer.take();
        let joined = tokio::task::spawn_blocking(move || -> Result<()> {
            let mut first = Ok(());
            for w in workers {
                let r = w
                    .join()
                    .unwrap_or_else(|_| Err(Error::Internal("a backup worker panicked".into())));
                if first.is_ok() {
                    first = r;
                }
            }
            let p = packer.map_or(Ok(()), |p| {
                p.join()
                    .unwrap_or_else(|_| Err(Error::Internal("the packer panicked".into())))
            });
            first.and(p)
        })
        .await
        .map_err(|e| Error::task("backup task", e))
        .and_then(|r| r);
        let uploaded = (&mut self.uploader)
            .await
            .map_err(|e| Error::task("upload task", e))
            .and_then(|r| r);
        let written = std::mem::take(&mut *self.written.lock().unwrap_or_else(|e| e.into_inner()));
        let result = match (uploaded, joined) {
            // The uploader's error is the cause; the stages before it only saw it stop.
            (Err(e), _) | (Ok(_), Err(e)) => Err(e),
            (Ok((packs, bytes)), Ok(())) => Ok(Stored { packs, bytes }),
        };
        (result, written)
    }
}

fn work(repo: &Repository, level: i32, rx: &Receiver<Job>, tx: &Sender<Sealed>) -> Result<()> {
    for job in rx {
        let level = if job.kind == BlobType::Tree {
            3.max(level)
        } else {
            level
        };
        let bytes = repo.keys().seal(&job.id.0, &job.data, level)?;
        if tx
            .send(Sealed {
                id: job.id,
                kind: job.kind,
                bytes,
                raw: job.data.len(),
            })
            .is_err()
        {
            break;
        }
    }
    Ok(())
}

fn pack(
    repo: &Repository,
    rx: &Receiver<Sealed>,
    tx: &mpsc::Sender<FinishedPack>,
    tokens: &Receiver<()>,
) -> Result<()> {
    let mut data = PackWriter::new();
    let mut tree = PackWriter::default();
    let send = |w: PackWriter| -> Result<()> {
        tokens
            .recv()
            .map_err(|_| Error::Cancelled("backup (the uploader stopped)".into()))?;
        let p = w.finish(repo.keys())?;
        tx.blocking_send(p)
            .map_err(|_| Error::Cancelled("backup (the uploader stopped)".into()))
    };
    for s in rx {
        let w = if s.kind == BlobType::Tree {
            &mut tree
        } else {
            &mut data
        };
        w.add(s.id, s.kind, &s.bytes, s.raw);
        if w.len() >= TARGET_SIZE {
            let fresh = if s.kind == BlobType::Tree {
                PackWriter::default()
            } else {
                PackWriter::new()
            };
            send(std::mem::replace(w, fresh))?;
        }
    }
    for w in [data, tree] {
        if !w.is_empty() {
            send(w)?;
        }
    }
    Ok(())
}

/// The last stage: stores finished packs, a bounded number at a time.
struct Uploader {
    repo: Repository,
    tokens: Sender<()>,
    in_flight: usize,
    cancel: CancellationToken,
    written: Arc<Mutex<Vec<Id>>>,
}

type Running = JoinSet<Result<(IndexPack, u64)>>;

impl Uploader {
    async fn run(self, mut rx: mpsc::Receiver<FinishedPack>) -> Result<(Vec<IndexPack>, u64)> {
        let mut running: Running = JoinSet::new();
        let mut done = Vec::new();
        let mut bytes = 0u64;
        let store = Arc::new(self.repo.store().clone());
        loop {
            while running.len() >= self.in_flight {
                let (p, n) = self.next(&mut running).await?;
                done.push(p);
                bytes += n;
                let _ = self.tokens.send(());
            }
            let pack = tokio::select! {
                p = rx.recv() => p,
                () = self.cancel.cancelled() => return Err(Error::Cancelled("backup".into())),
            };
            let Some(pack) = pack else { break };
            let (store, written) = (store.clone(), self.written.clone());
            running.spawn(async move {
                let n = pack.bytes.len() as u64;
                store.write(&pack_key(&pack.id), pack.bytes).await?;
                written
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(pack.id);
                Ok((
                    IndexPack {
                        id: pack.id,
                        blobs: pack.blobs,
                    },
                    n,
                ))
            });
        }
        while !running.is_empty() {
            let (p, n) = self.next(&mut running).await?;
            done.push(p);
            bytes += n;
        }
        Ok((done, bytes))
    }

    /// The next finished upload; fails on its error or when the backup is cancelled.
    async fn next(&self, running: &mut Running) -> Result<(IndexPack, u64)> {
        tokio::select! {
            r = running.join_next() => match r {
                Some(r) => r.map_err(|e| Error::task("upload", e))?,
                None => Err(Error::Internal("no upload running".into())),
            },
            () = self.cancel.cancelled() => Err(Error::Cancelled("backup".into())),
        }
    }
}
