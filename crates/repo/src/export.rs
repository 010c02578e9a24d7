//! `export`: writes a snapshot as a tar archive (optionally zstd-compressed, by the
//! `.zst` extension) with paths relative to the root, readable by any `tar -xf`. The
//! archive is written to a temp file next to the output and renamed when complete.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::browse::walk;
use crate::error::{Error, Result};
use crate::id::Id;
use crate::repository::IndexedRepository;
use crate::snapshot::Snapshot;
use crate::tree::NodeType;

/// Options of [`export`].
#[derive(Clone, Debug)]
pub struct ExportOptions {
    /// Output file; a name ending in `.zst` gets zstd compression.
    pub output: PathBuf,
}

/// What an export wrote.
#[derive(Clone, Debug, Default)]
pub struct ExportSummary {
    /// Entries written.
    pub entries: u64,
    /// Bytes of file content.
    pub bytes: u64,
}

impl ExportSummary {
    /// `exported snapshot ID to FILE: N entries, SIZE`.
    pub fn describe(&self, id: Id, output: &Path) -> String {
        format!(
            "exported snapshot {} to {}: {} entries, {}",
            id.short(),
            output.display(),
            self.entries,
            crate::text::bytes(self.bytes)
        )
    }
}

enum Output {
    Plain(std::io::BufWriter<std::fs::File>),
    Zstd(zstd::Encoder<'static, std::io::BufWriter<std::fs::File>>),
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Output::Plain(w) => w.write(buf),
            Output::Zstd(w) => w.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Output::Plain(w) => w.flush(),
            Output::Zstd(w) => w.flush(),
        }
    }
}

struct BlobReader {
    repo: IndexedRepository,
    rt: tokio::runtime::Handle,
    ids: std::vec::IntoIter<Id>,
    cur: Vec<u8>,
    pos: usize,
}

impl Read for BlobReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.pos == self.cur.len() {
            let Some(id) = self.ids.next() else {
                return Ok(0);
            };
            self.cur = self
                .rt
                .block_on(self.repo.read_blob(&id))
                .map_err(std::io::Error::other)?;
            self.pos = 0;
        }
        let n = buf.len().min(self.cur.len() - self.pos);
        buf[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Exports `snapshot` to `opts.output`.
pub async fn export(
    repo: &IndexedRepository,
    snapshot: &Snapshot,
    opts: &ExportOptions,
) -> Result<ExportSummary> {
    let (entries, errors) = walk(repo, snapshot.tree).await;
    if let Some((path, e)) = errors.into_iter().next() {
        return Err(Error::corrupt(format!("tree of {}", path.display()), e));
    }
    let out = opts.output.clone();
    let dir = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    let repo = repo.clone();
    let rt = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || -> Result<ExportSummary> {
        let tmp = tempfile::NamedTempFile::new_in(&dir).map_err(|e| Error::io(&dir, e))?;
        let file = tmp.reopen().map_err(|e| Error::io(tmp.path(), e))?;
        let io = |e: std::io::Error| Error::io(&out, e);
        let zst = out.extension().is_some_and(|e| e == "zst");
        let writer = if zst {
            Output::Zstd(zstd::Encoder::new(std::io::BufWriter::new(file), 3).map_err(io)?)
        } else {
            Output::Plain(std::io::BufWriter::new(file))
        };
        let mut tar = tar::Builder::new(writer);
        let mut summary = ExportSummary::default();
        for e in entries {
            let n = &e.node;
            let mut h = tar::Header::new_gnu();
            h.set_mode(n.mode & 0o7777);
            h.set_uid(u64::from(n.uid));
            h.set_gid(u64::from(n.gid));
            h.set_mtime(u64::try_from(n.mtime_ns.div_euclid(1_000_000_000)).unwrap_or(0));
            match n.kind {
                NodeType::Dir => {
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_size(0);
                    tar.append_data(&mut h, &e.path, std::io::empty())
                        .map_err(io)?;
                }
                NodeType::Symlink => {
                    h.set_entry_type(tar::EntryType::Symlink);
                    h.set_size(0);
                    let target = n.os_target().unwrap_or_default();
                    tar.append_link(&mut h, &e.path, target).map_err(io)?;
                }
                NodeType::File => {
                    let size: u64 = n
                        .content
                        .iter()
                        .map(|id| repo.locate(id).map(|l| u64::from(l.raw_length)))
                        .sum::<Result<u64>>()?;
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_size(size);
                    let reader = BlobReader {
                        repo: repo.clone(),
                        rt: rt.clone(),
                        ids: n.content.clone().into_iter(),
                        cur: Vec::new(),
                        pos: 0,
                    };
                    tar.append_data(&mut h, &e.path, reader)
                        .map_err(|err| Error::io(&e.path, err))?;
                    summary.bytes += size;
                }
            }
            summary.entries += 1;
        }
        let mut w = match tar.into_inner().map_err(io)? {
            Output::Plain(w) => w,
            Output::Zstd(z) => z.finish().map_err(io)?,
        };
        w.flush().map_err(io)?;
        w.get_ref().sync_all().map_err(io)?;
        drop(w);
        tmp.persist(&out).map_err(|e| Error::io(&out, e.error))?;
        Ok(summary)
    })
    .await
    .map_err(|e| Error::Internal(format!("export task: {e}")))?
}
