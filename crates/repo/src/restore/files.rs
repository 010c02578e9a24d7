//! Restoring file contents pack by pack, as restic's restorer does: every file gets its
//! temp name (`O_EXCL | O_NOFOLLOW`) and final size first; then the blobs all files need
//! are grouped by pack and read in ranges of up to [`BATCH_SPAN`] bytes (neighbouring
//! blobs share one request), each blob is authenticated once and written at every offset
//! that needs it; last, each complete file gets its metadata, is fsynced and renamed
//! into place (over an existing file or planted symlink: rename never follows it).
//! A blob that cannot be read or authenticated spoils exactly the files that need it;
//! their temp files are removed and they are reported as damaged.

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::PathBuf;
use std::sync::Mutex;

use rayon::prelude::*;

use super::{Job, io_text, set_file_meta};
use crate::browse::Entry;
use crate::id::Id;
use crate::index::BlobLocation;
use crate::pack::pack_key;

/// The most bytes one range request reads.
const BATCH_SPAN: u64 = 4 << 20;
/// Blobs further apart than this in a pack are read by separate requests.
const BATCH_GAP: u64 = 256 << 10;

/// A file being restored: its temp name, where it goes, where each blob lands.
struct Pending<'a> {
    entry: &'a Entry,
    tmp: PathBuf,
    dest: PathBuf,
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

    fn write_at(&self, data: &[u8], offset: u64) -> Result<(), String> {
        let file = OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&self.tmp)
            .map_err(|e| format!("{}: {e}", self.tmp.display()))?;
        file.write_all_at(data, offset).map_err(io_text)
    }

    /// Metadata and rename when every blob arrived; else the temp file goes.
    fn finish(&self, me_root: bool) -> Result<u64, String> {
        let failed = self
            .error
            .lock()
            .map(|e| e.clone())
            .unwrap_or(Some("lock poisoned".into()));
        let result = match failed {
            Some(e) => Err(e),
            None => OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&self.tmp)
                .and_then(|f| {
                    set_file_meta(&f, &self.entry.node, me_root)?;
                    f.sync_all()
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
    /// Creates the temp file of `entry` at its final size and lists its blobs' offsets.
    fn prepare<'a>(&self, entry: &'a Entry) -> Result<Pending<'a>, String> {
        let dest = self.target.join(&entry.path);
        let dir = dest.parent().ok_or("no parent directory")?;
        let tmp = dir.join(format!(
            ".holdfast-restore-{}",
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
            entry,
            tmp,
            dest,
            size,
            offsets,
            error: Mutex::new(None),
        })
    }

    /// Restores the contents of `files`; returns each file restored with its size.
    pub(super) fn restore_files<'a>(
        &self,
        files: Vec<&'a Entry>,
        me_root: bool,
    ) -> Vec<(&'a Entry, u64)> {
        let pending: Vec<Pending<'a>> = files
            .par_iter()
            .filter_map(|e| match self.prepare(e) {
                Ok(p) => Some(p),
                Err(err) => {
                    self.fail(&e.path, err);
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
        batches.par_iter().for_each(|b| {
            if self.stopped() {
                return;
            }
            let key = pack_key(&b.pack);
            let read = || {
                self.rt
                    .block_on(self.repo.store().read_range(&key, b.start..b.end))
            };
            let decode =
                |data: &holdfast_store::Result<bytes::Bytes>| -> Vec<Result<Vec<u8>, String>> {
                    b.blobs
                        .iter()
                        .map(|(id, loc)| match data {
                            Err(e) => Err(format!("pack {}: {e}", b.pack)),
                            Ok(bytes) => {
                                let from = (loc.offset - b.start) as usize;
                                match bytes.get(from..from + loc.length as usize) {
                                    None => Err(format!(
                                        "blob {id} cut short (pack {} truncated?)",
                                        b.pack
                                    )),
                                    Some(sealed) => self
                                        .repo
                                        .open_blob(id, loc, sealed)
                                        .map_err(|e| e.to_string()),
                                }
                            }
                        })
                        .collect()
                };
            let data = read();
            if let Err(e) = &data
                && e.kind() == holdfast_store::ErrorKind::Unavailable
            {
                self.unavailable(e.to_string());
                return;
            }
            let mut plains = decode(&data);
            // A blob that fails to authenticate is read once more before it counts as
            // damaged: a byte changed on the way is not damage of the stored pack.
            if data.is_ok() && plains.iter().any(Result::is_err) {
                let again = read();
                if again.is_ok() {
                    plains = decode(&again);
                }
            }
            for ((id, _), plain) in b.blobs.iter().zip(plains) {
                for (i, off) in places.get(id).map(Vec::as_slice).unwrap_or_default() {
                    let p = &pending[*i];
                    match &plain {
                        Ok(data) => {
                            if let Err(e) = p.write_at(data, *off) {
                                p.set_error(e);
                            }
                        }
                        Err(e) => p.set_error(e.clone()),
                    }
                }
            }
        });
        pending
            .par_iter()
            .filter_map(|p| match p.finish(me_root) {
                Ok(n) => Some((p.entry, n)),
                Err(e) => {
                    self.fail(&p.entry.path, e);
                    None
                }
            })
            .collect()
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
