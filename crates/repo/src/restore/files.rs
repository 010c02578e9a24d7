//! Restoring the contents of one batch of files, as restic's restorer does, with the
//! reads planned by [`super::read`]: every file of the batch gets its temp name
//! (`O_EXCL | O_NOFOLLOW`) at its final size first, and its handle stays open for the
//! batch; blobs found in a local copy of the file ([`Seed`]: the file being replaced, or
//! the same path under [`super::RestoreOptions::reuse`]) are copied from it, each one
//! checked against its id as it is read; the rest are fetched in planned ranges and
//! written, out of order, wherever they are needed. Last, each complete file gets its
//! metadata and is renamed into place (over an existing file or planted symlink: rename
//! never follows it), fsynced first when it replaces something ([`super::fsops`] says
//! why only then).
//!
//! A file counts its outstanding writes: it is renamed into place only when every one of
//! them succeeded. A blob that cannot be read or authenticated spoils exactly the files
//! that need it; a file whose writes did not all happen (the store became unavailable,
//! the restore was cancelled) is never renamed: its temp file is removed. Batches are
//! pipelined: the next batches' files are prepared and their ranges fetched while the
//! oldest one finishes, within the same window of bytes in flight.
//!
//! A batch holds at most [`super::plan::BATCH_FILES`] open files, and at most 8 batches
//! (and no more than a quarter of the descriptor limit allows) are open at once, so a restore of any number of files needs a bounded number of
//! descriptors and bounded memory.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use rayon::prelude::*;

use super::fsops::{Filesystems, io_text, set_file_meta};
use super::read::{GAP, Sink, plan};
use super::{Job, Queued};
use crate::id::Id;
use crate::progress::Progress;

/// Where a file's blobs may already be on disk.
#[derive(Clone, Debug)]
pub(super) enum Seed {
    /// The file at the destination, which the restore replaces.
    Dest,
    /// Another file (the same path in [`super::RestoreOptions::reuse`]).
    Path(PathBuf),
}

/// A file being restored: its open temp file, where it goes, what is still to write.
struct Pending {
    queued: Queued,
    /// Keeps the directory that `tmp` and `dest` are relative to open.
    _place: crate::longpath::Place,
    tmp: PathBuf,
    dest: PathBuf,
    file: File,
    size: u64,
    /// Writes not yet done: the file is complete when it reaches 0.
    remaining: AtomicUsize,
    error: Mutex<Option<String>>,
}

impl Pending {
    fn set_error(&self, e: String) {
        if let Ok(mut slot) = self.error.lock()
            && slot.is_none()
        {
            *slot = Some(e);
        }
    }

    /// Metadata and rename when every write happened; else the temp file goes.
    /// `Ok(None)`: incomplete without an error of its own (the restore is stopping).
    fn finish(&self, me_root: bool) -> Result<Option<u64>, String> {
        let failed = self
            .error
            .lock()
            .map(|e| e.clone())
            .unwrap_or(Some("lock poisoned".into()));
        let result = match failed {
            Some(e) => Err(e),
            None if self.remaining.load(Ordering::Acquire) != 0 => Ok(None),
            None => set_file_meta(&self.file, &self.queued.entry.node, me_root)
                .and_then(|()| {
                    if self.queued.replaces {
                        self.file.sync_all()
                    } else {
                        Ok(())
                    }
                })
                .and_then(|()| std::fs::rename(&self.tmp, &self.dest))
                .map(|()| Some(self.size))
                .map_err(io_text),
        };
        if !matches!(result, Ok(Some(_))) {
            let _ = std::fs::remove_file(&self.tmp);
        }
        result
    }
}

/// The files of one batch and where each blob goes: the [`Sink`] of its reads.
pub(super) struct Batch {
    files: Vec<Pending>,
    places: HashMap<Id, Vec<(usize, u64)>>,
    progress: Option<Arc<Progress>>,
    filesystems: Arc<Filesystems>,
}

impl Sink for Batch {
    fn deliver(&self, id: &Id, plain: Result<&[u8], String>) {
        // The temp files were made at their size, so they read as zeros already: a blob
        // of zeros is left as a hole (sparse files stay sparse).
        let zeros = plain.as_ref().is_ok_and(|d| d.iter().all(|b| *b == 0));
        for (i, off) in self.places.get(id).map(Vec::as_slice).unwrap_or_default() {
            let p = &self.files[*i];
            let data = match &plain {
                Ok(data) => *data,
                Err(e) => {
                    p.set_error(e.clone());
                    continue;
                }
            };
            if !zeros {
                if let Err(e) = p.file.write_all_at(data, *off) {
                    p.set_error(format!("{}: {e}", p.tmp.display()));
                    continue;
                }
                self.filesystems.wrote(data.len() as u64);
            }
            p.remaining.fetch_sub(1, Ordering::AcqRel);
            if let Some(pr) = &self.progress {
                pr.add(data.len() as u64);
            }
        }
    }
}

/// A batch whose reads are running.
pub(super) struct Started {
    batch: Arc<Batch>,
    fetch: Option<tokio::task::JoinHandle<Result<(), holdfast_store::Error>>>,
}

/// A file ready for its blobs, and those still to fetch with their offsets.
type Prepared = (Pending, Vec<(Id, u64)>);

/// A file restored: whether it replaced something, and its size.
pub(super) type Done = (bool, u64);

impl Job {
    /// Creates the temp file of `queued` at its final size, copies what its seed holds,
    /// and lists the blobs still to fetch with their offsets.
    fn prepare(&self, queued: Queued) -> Result<Prepared, (PathBuf, String)> {
        let entry = &queued.entry;
        let fail = |e: String| (entry.path.clone(), e);
        let place = match self.place(&entry.path) {
            Ok(p) => p,
            Err(e) => return Err(fail(e)),
        };
        let dest = place.path().to_path_buf();
        let Some(dir) = dest.parent() else {
            return Err(fail("no parent directory".into()));
        };
        let tmp = dir.join(format!(
            "{}{}",
            super::RESTORE_TEMP_PREFIX,
            uuid::Uuid::new_v4().simple()
        ));
        let mut offsets = Vec::with_capacity(entry.node.content.len());
        let mut size = 0u64;
        for id in &entry.node.content {
            match self.repo.locate(id) {
                Ok(loc) => {
                    offsets.push((*id, size));
                    size += u64::from(loc.raw_length);
                }
                Err(e) => return Err(fail(e.to_string())),
            }
        }
        let file = match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)
        {
            Ok(f) => f,
            Err(e) => return Err(fail(format!("{}: {e}", tmp.display()))),
        };
        if let Err(e) = file.set_len(size) {
            let _ = std::fs::remove_file(&tmp);
            return Err(fail(io_text(e)));
        }
        let seed = match &queued.seed {
            Some(Seed::Dest) => Some(dest.clone()),
            Some(Seed::Path(p)) => Some(p.clone()),
            None => None,
        };
        if let Some(seed) = seed {
            match self.copy_seed(&seed, &file, &offsets, size) {
                Ok(copied) => offsets.retain(|(id, _)| !copied.contains(id)),
                Err(e) => {
                    let _ = std::fs::remove_file(&tmp);
                    return Err(fail(format!("{}: {e}", tmp.display())));
                }
            }
        }
        let pending = Pending {
            queued,
            _place: place,
            tmp,
            dest,
            file,
            size,
            remaining: AtomicUsize::new(offsets.len()),
            error: Mutex::new(None),
        };
        Ok((pending, offsets))
    }

    /// Chunks the local file `seed` as a backup would and writes each chunk whose id the
    /// new file needs at every offset that needs it; returns those ids. A seed that cannot
    /// be read gives nothing (everything is fetched); a failed write is an error.
    fn copy_seed(
        &self,
        seed: &std::path::Path,
        file: &File,
        offsets: &[(Id, u64)],
        size: u64,
    ) -> std::io::Result<std::collections::HashSet<Id>> {
        let mut copied = std::collections::HashSet::new();
        let Ok(src) = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(seed)
        else {
            return Ok(copied);
        };
        if !src.metadata().is_ok_and(|m| m.is_file()) {
            return Ok(copied);
        }
        let mut wanted: HashMap<Id, Vec<u64>> = HashMap::new();
        for (id, off) in offsets {
            wanted.entry(*id).or_default().push(*off);
        }
        for chunk in self.repo.inner.chunker.chunks(src, size) {
            let Ok(chunk) = chunk else { break };
            let id = self.repo.keys().blob_id(&chunk);
            let Some(offs) = wanted.remove(&id) else {
                continue;
            };
            for off in offs {
                file.write_all_at(&chunk, off)?;
                self.progressed(chunk.len() as u64);
            }
            copied.insert(id);
            if wanted.is_empty() {
                break;
            }
        }
        Ok(copied)
    }

    /// Prepares the files of a batch and starts fetching what they need; returns at once.
    pub(super) fn start_batch(
        &self,
        files: Vec<Queued>,
        filesystems: &Arc<Filesystems>,
    ) -> Started {
        let prepared: Vec<_> = self
            .pool
            .install(|| files.into_par_iter().map(|q| self.prepare(q)).collect());
        let mut pending = Vec::with_capacity(prepared.len());
        let mut places: HashMap<Id, Vec<(usize, u64)>> = HashMap::new();
        let mut needed = Vec::new();
        for r in prepared {
            match r {
                Ok((p, offsets)) => {
                    let i = pending.len();
                    for (id, off) in offsets {
                        let slot = places.entry(id).or_default();
                        if slot.is_empty()
                            && let Ok(loc) = self.repo.locate(&id)
                        {
                            needed.push((id, loc));
                        }
                        slot.push((i, off));
                    }
                    pending.push(p);
                }
                Err((path, e)) => self.fail(&path, e),
            }
        }
        let batch = Arc::new(Batch {
            files: pending,
            places,
            progress: self.progress.clone(),
            filesystems: filesystems.clone(),
        });
        let spans = plan(&needed, GAP, self.reader.span());
        let fetch = (!spans.is_empty() && !self.stopped()).then(|| {
            let sink: Arc<dyn Sink> = batch.clone();
            self.rt.spawn(self.reader.clone().fetch(spans, sink))
        });
        Started { batch, fetch }
    }

    /// Waits for a batch's reads, then renames each complete file into place; returns the
    /// files restored.
    pub(super) fn finish_batch(&self, started: Started, me_root: bool) -> Vec<Done> {
        if let Some(fetch) = started.fetch {
            match self.rt.block_on(fetch) {
                Ok(Ok(())) => {}
                Ok(Err(e)) => self.unavailable(e.to_string()),
                Err(e) => self.unavailable(format!("the restore's reads stopped: {e}")),
            }
        }
        let stopping = self.stopped();
        self.pool.install(|| {
            started
                .batch
                .files
                .par_iter()
                .filter_map(|p| {
                    let path = &p.queued.entry.path;
                    match p.finish(me_root) {
                        Ok(Some(n)) => Some((p.queued.replaces, n)),
                        Ok(None) if stopping => None,
                        Ok(None) => {
                            self.fail(path, "not every blob was written");
                            None
                        }
                        Err(e) => {
                            self.fail(path, e);
                            None
                        }
                    }
                })
                .collect()
        })
    }
}
