//! Restoring the contents of one batch of files, pack by pack, as restic's restorer does:
//! every file of the batch gets its temp name (`O_EXCL | O_NOFOLLOW`) and final size
//! first, and its handle stays open for the batch; then the blobs the batch needs are
//! grouped by pack and read in ranges of up to [`BATCH_SPAN`] bytes (neighbouring blobs
//! share one request), each blob is authenticated once and written at every offset that
//! needs it; last, each complete file gets its metadata and is renamed into place (over
//! an existing file or planted symlink: rename never follows it), fsynced first when it
//! replaces something ([`super::fsops`] says why only then).
//! A blob that cannot be read or authenticated spoils exactly the files that need it;
//! their temp files are removed and they are reported as damaged.
//!
//! A batch holds at most [`super::plan::BATCH_FILES`] open files, so a restore of any
//! number of files needs a bounded number of descriptors and bounded memory.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::PathBuf;
use std::sync::Mutex;

use rayon::prelude::*;

use super::fsops::{Filesystems, io_text, set_file_meta};
use super::{Job, Queued};
use crate::id::Id;
use crate::index::BlobLocation;
use crate::pack::pack_key;
use crate::repository::REREADS;

/// The most bytes one range request reads.
const BATCH_SPAN: u64 = 4 << 20;
/// Blobs further apart than this in a pack are read by separate requests.
const BATCH_GAP: u64 = 256 << 10;

/// A file being restored: its open temp file, where it goes, where each blob lands.
struct Pending<'a> {
    queued: &'a Queued,
    /// Keeps the directory that `tmp` and `dest` are relative to open.
    _place: crate::longpath::Place,
    tmp: PathBuf,
    dest: PathBuf,
    file: File,
    size: u64,
    offsets: Vec<(Id, u64)>,
    error: Mutex<Option<String>>,
}

impl Pending<'_> {
    fn set_error(&self, e: String) {
        if let Ok(mut slot) = self.error.lock()
            && slot.is_none()
        {
            *slot = Some(e);
        }
    }

    /// Metadata and rename when every blob arrived; else the temp file goes.
    fn finish(self, me_root: bool) -> Result<u64, String> {
        let failed = self
            .error
            .lock()
            .map(|e| e.clone())
            .unwrap_or(Some("lock poisoned".into()));
        let result = match failed {
            Some(e) => Err(e),
            None => set_file_meta(&self.file, &self.queued.entry.node, me_root)
                .and_then(|()| {
                    if self.queued.replaces {
                        self.file.sync_all()
                    } else {
                        Ok(())
                    }
                })
                .and_then(|()| std::fs::rename(&self.tmp, &self.dest))
                .map(|()| self.size)
                .map_err(io_text),
        };
        if result.is_err() {
            let _ = std::fs::remove_file(&self.tmp);
        }
        result
    }
}

/// Neighbouring blobs of one pack, read with one request.
struct Batch {
    pack: Id,
    start: u64,
    end: u64,
    blobs: Vec<(Id, BlobLocation)>,
}

impl Job {
    /// Creates the temp file of `queued` at its final size and lists its blobs' offsets.
    fn prepare<'a>(&self, queued: &'a Queued) -> Result<Pending<'a>, String> {
        let entry = &queued.entry;
        let place = self.place(&entry.path)?;
        let dest = place.path().to_path_buf();
        let dir = dest.parent().ok_or("no parent directory")?;
        let tmp = dir.join(format!(
            "{}{}",
            super::RESTORE_TEMP_PREFIX,
            uuid::Uuid::new_v4().simple()
        ));
        let mut offsets = Vec::with_capacity(entry.node.content.len());
        let mut size = 0u64;
        for id in &entry.node.content {
            let loc = self.repo.locate(id).map_err(|e| e.to_string())?;
            offsets.push((*id, size));
            size += u64::from(loc.raw_length);
        }
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)
            .map_err(|e| format!("{}: {e}", tmp.display()))?;
        if let Err(e) = file.set_len(size) {
            let _ = std::fs::remove_file(&tmp);
            return Err(io_text(e));
        }
        Ok(Pending {
            queued,
            _place: place,
            tmp,
            dest,
            file,
            size,
            offsets,
            error: Mutex::new(None),
        })
    }

    /// Restores the contents of one batch; returns each file restored with its size.
    /// What is written is counted into `filesystems`, which starts flushing it early.
    pub(super) fn restore_files<'a>(
        &self,
        files: &'a [Queued],
        me_root: bool,
        filesystems: &Filesystems,
    ) -> Vec<(&'a Queued, u64)> {
        let pending: Vec<Pending<'a>> = files
            .par_iter()
            .filter_map(|q| match self.prepare(q) {
                Ok(p) => Some(p),
                Err(err) => {
                    self.fail(&q.entry.path, err);
                    None
                }
            })
            .collect();
        let mut places: HashMap<Id, Vec<(usize, u64)>> = HashMap::new();
        for (i, p) in pending.iter().enumerate() {
            for (id, off) in &p.offsets {
                places.entry(*id).or_default().push((i, *off));
            }
        }
        let batches = self.batches(places.keys());
        batches
            .par_iter()
            .for_each(|b| self.fetch(b, &places, &pending, filesystems));
        pending
            .into_par_iter()
            .filter_map(|p| {
                let (queued, path) = (p.queued, &p.queued.entry.path);
                match p.finish(me_root) {
                    Ok(n) => Some((queued, n)),
                    Err(e) => {
                        self.fail(path, e);
                        None
                    }
                }
            })
            .collect()
    }

    /// Reads one range of a pack and writes each of its blobs wherever it is needed.
    fn fetch(
        &self,
        b: &Batch,
        places: &HashMap<Id, Vec<(usize, u64)>>,
        pending: &[Pending<'_>],
        filesystems: &Filesystems,
    ) {
        if self.stopped() {
            return;
        }
        let key = pack_key(&b.pack);
        let read = |end: u64| {
            self.rt
                .block_on(self.repo.store().read_range(&key, b.start..end))
        };
        let decode = |data: &holdfast_store::Result<bytes::Bytes>| -> Vec<Result<Vec<u8>, String>> {
            b.blobs
                .iter()
                .map(|(id, loc)| match data {
                    Err(e) => Err(format!("pack {}: {e}", b.pack)),
                    Ok(bytes) => {
                        let from = (loc.offset - b.start) as usize;
                        match bytes.get(from..from + loc.length as usize) {
                            None => {
                                Err(format!("blob {id} cut short (pack {} truncated?)", b.pack))
                            }
                            Some(sealed) => self
                                .repo
                                .open_blob(id, loc, sealed)
                                .map_err(|e| e.to_string()),
                        }
                    }
                })
                .collect()
        };
        let mut end = b.end;
        let mut data = read(end);
        // A pack shorter than the index says (truncated): the blobs before the cut are
        // whole and restored; those past it are reported as cut short.
        if let Err(e) = &data
            && e.kind() == holdfast_store::ErrorKind::InvalidRange
            && let Ok(meta) = self.rt.block_on(self.repo.store().stat(&key))
            && meta.size > b.start
        {
            end = end.min(meta.size);
            data = read(end);
        }
        if let Err(e) = &data
            && e.kind() == holdfast_store::ErrorKind::Unavailable
        {
            self.unavailable(e.to_string());
            return;
        }
        let mut plains = decode(&data);
        // A blob that fails to authenticate is read again (up to REREADS times) before
        // it counts as damaged: a byte changed on the way is not damage of the stored
        // pack. Each blob keeps the first copy that authenticates.
        let mut rereads = 0;
        while data.is_ok() && rereads < REREADS && plains.iter().any(Result::is_err) {
            rereads += 1;
            let again = read(end);
            if again.is_ok() {
                for (plain, fresh) in plains.iter_mut().zip(decode(&again)) {
                    if plain.is_err() {
                        *plain = fresh;
                    }
                }
            }
        }
        for ((id, _), plain) in b.blobs.iter().zip(plains) {
            for (i, off) in places.get(id).map(Vec::as_slice).unwrap_or_default() {
                let p = &pending[*i];
                match &plain {
                    Ok(data) => match p.file.write_all_at(data, *off) {
                        Ok(()) => {
                            self.progressed(data.len() as u64);
                            filesystems.wrote(data.len() as u64);
                        }
                        Err(e) => p.set_error(format!("{}: {e}", p.tmp.display())),
                    },
                    Err(e) => p.set_error(e.clone()),
                }
            }
        }
    }

    /// Groups blobs by pack into range requests of at most [`BATCH_SPAN`] bytes.
    fn batches<'a>(&self, ids: impl Iterator<Item = &'a Id>) -> Vec<Batch> {
        let mut by_pack: HashMap<Id, Vec<(Id, BlobLocation)>> = HashMap::new();
        for id in ids {
            if let Ok(loc) = self.repo.locate(id) {
                by_pack.entry(loc.pack).or_default().push((*id, loc));
            }
        }
        let mut out = Vec::new();
        for (pack, mut blobs) in by_pack {
            blobs.sort_by_key(|(_, l)| l.offset);
            let mut cur: Option<Batch> = None;
            for (id, loc) in blobs {
                let end = loc.offset + u64::from(loc.length);
                match &mut cur {
                    Some(b) if loc.offset <= b.end + BATCH_GAP && end - b.start <= BATCH_SPAN => {
                        b.end = b.end.max(end);
                        b.blobs.push((id, loc));
                    }
                    _ => {
                        out.extend(cur.take());
                        cur = Some(Batch {
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
}
