//! The write side of a backup: blobs go through a bounded channel to a pool of
//! compress+encrypt workers, then to a packer that fills data and tree packs (16 MiB),
//! then to an uploader that keeps at most 4 pack writes in flight (1 on a local disk,
//! where more only costs memory); the packer seals a pack only when a write slot is
//! free, so no finished pack waits in a queue. Every queue is bounded, so memory stays bounded
//! whatever the data size.

use std::sync::Arc;
use std::thread::JoinHandle;

use bytes::Bytes;
use crossbeam_channel::{Receiver, Sender, bounded};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::error::{Error, Result};
use crate::id::Id;
use crate::index::IndexPack;
use crate::pack::{BlobType, FinishedPack, PackWriter, TARGET_SIZE, pack_key};
use crate::repository::Repository;

/// Pack writes in flight to a remote store.
const IN_FLIGHT_REMOTE: usize = 4;
/// Pack writes in flight to a local disk.
const IN_FLIGHT_LOCAL: usize = 1;

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
}

/// What the pipeline stored.
pub(crate) struct Stored {
    pub packs: Vec<IndexPack>,
    pub bytes: u64,
}

impl Pipeline {
    /// Starts workers, packer and uploader.
    pub(crate) fn start(repo: &Repository, level: i32) -> Pipeline {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        let (job_tx, job_rx) = bounded::<Job>(threads);
        let (sealed_tx, sealed_rx) = bounded::<Sealed>(threads);
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
        let uploader = tokio::spawn(upload(repo.clone(), pack_rx, token_tx, in_flight));
        Pipeline {
            jobs: Some(job_tx),
            workers,
            packer: Some(packer),
            uploader,
        }
    }

    /// The input queue.
    pub(crate) fn sender(&self) -> Sender<Job> {
        self.jobs.clone().unwrap_or_else(|| bounded(0).0)
    }

    /// Closes the input, waits for every blob to be packed and every pack stored.
    pub(crate) async fn finish(mut self) -> Result<Stored> {
        drop(self.jobs.take());
        let workers = std::mem::take(&mut self.workers);
        let packer = self.packer.take();
        let joined = tokio::task::spawn_blocking(move || -> Result<()> {
            let mut first = Ok(());
            for w in workers {
                let r = w
                    .join()
                    .unwrap_or_else(|_| Err(Error::Invalid("a backup worker panicked".into())));
                if first.is_ok() {
                    first = r;
                }
            }
            let p = packer.map_or(Ok(()), |p| {
                p.join()
                    .unwrap_or_else(|_| Err(Error::Invalid("the packer panicked".into())))
            });
            first.and(p)
        })
        .await
        .map_err(|e| Error::Invalid(format!("backup task: {e}")))?;
        let uploaded = (&mut self.uploader)
            .await
            .map_err(|e| Error::Invalid(format!("upload task: {e}")))?;
        joined?;
        let (packs, bytes) = uploaded?;
        Ok(Stored { packs, bytes })
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
            .map_err(|_| Error::Invalid("pack upload stopped".into()))?;
        let p = w.finish(repo.keys())?;
        tx.blocking_send(p)
            .map_err(|_| Error::Invalid("pack upload stopped".into()))
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

async fn upload(
    repo: Repository,
    mut rx: mpsc::Receiver<FinishedPack>,
    tokens: Sender<()>,
    in_flight: usize,
) -> Result<(Vec<IndexPack>, u64)> {
    let mut running: JoinSet<Result<(IndexPack, u64)>> = JoinSet::new();
    let mut done = Vec::new();
    let mut bytes = 0u64;
    let store = Arc::new(repo.store().clone());
    loop {
        while running.len() >= in_flight {
            if let Some(r) = running.join_next().await {
                let (p, n) = r.map_err(|e| Error::Invalid(format!("upload: {e}")))??;
                done.push(p);
                bytes += n;
                let _ = tokens.send(());
            }
        }
        let Some(pack) = rx.recv().await else { break };
        let store = store.clone();
        running.spawn(async move {
            let n = pack.bytes.len() as u64;
            store.write(&pack_key(&pack.id), pack.bytes).await?;
            Ok((
                IndexPack {
                    id: pack.id,
                    blobs: pack.blobs,
                },
                n,
            ))
        });
    }
    while let Some(r) = running.join_next().await {
        let (p, n) = r.map_err(|e| Error::Invalid(format!("upload: {e}")))??;
        done.push(p);
        bytes += n;
    }
    Ok((done, bytes))
}
