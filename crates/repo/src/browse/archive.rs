//! A directory of a snapshot streamed as an archive ([`archive`]): `tar.zst` (a tar
//! compressed with zstd) or `zip` (entries stored, written with data descriptors, so no
//! seek is needed). Nothing is written to disk.
//!
//! Invariants:
//! - **bounded memory**: the archive is written on one blocking thread into a bounded
//!   channel of chunks ([`ArchiveOptions::window`] bytes in flight, a few MiB); a slow
//!   reader holds the writer back, a reader that goes away stops it. Beside the window,
//!   the writer holds one blob, the trees on the path from the root to the entry being
//!   written (through the [`TreeCache`]) and, for zip, one central-directory record per
//!   entry written;
//! - **verified**: every blob is read through [`IndexedRepository::read_blob`]
//!   (authenticated and checked against its id) and the blob lengths must add up to
//!   each file's size; a damaged blob ends the stream with an error item — the archive
//!   is then incomplete and never ends as if it were whole (no zip central directory,
//!   no tar end blocks are written after an error).

use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use futures::stream::BoxStream;
use tokio::sync::mpsc;

use super::dir::{TreeCache, dir_tree, split_path};
use crate::error::{Error, Result};
use crate::id::Id;
use crate::repository::IndexedRepository;
use crate::snapshot::Snapshot;
use crate::tree::{Node, NodeType};

/// The archive's format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ArchiveFormat {
    /// tar compressed with zstd.
    #[default]
    TarZst,
    /// zip, entries stored.
    Zip,
}

impl std::str::FromStr for ArchiveFormat {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "tar.zst" => Ok(ArchiveFormat::TarZst),
            "zip" => Ok(ArchiveFormat::Zip),
            other => Err(Error::Invalid(format!(
                "archive format {other:?}: expected tar.zst or zip"
            ))),
        }
    }
}

impl ArchiveFormat {
    /// The file name extension (`tar.zst`, `zip`).
    pub fn extension(self) -> &'static str {
        match self {
            ArchiveFormat::TarZst => "tar.zst",
            ArchiveFormat::Zip => "zip",
        }
    }

    /// The media type.
    pub fn content_type(self) -> &'static str {
        match self {
            ArchiveFormat::TarZst => "application/zstd",
            ArchiveFormat::Zip => "application/zip",
        }
    }
}

/// Bytes in flight between the writer and the reader, by default.
pub const DEFAULT_WINDOW: usize = 4 << 20;
/// Size of one chunk of the stream.
const CHUNK: usize = 256 << 10;

/// Options of [`archive`].
#[derive(Clone, Debug)]
pub struct ArchiveOptions {
    /// The directory, relative to the snapshot root (empty: the whole snapshot).
    pub path: String,
    /// The format.
    pub format: ArchiveFormat,
    /// Bytes in flight between the writer and the reader (at least one chunk).
    pub window: usize,
    /// zstd level of `tar.zst`.
    pub zstd_level: i32,
}

impl Default for ArchiveOptions {
    fn default() -> Self {
        ArchiveOptions {
            path: String::new(),
            format: ArchiveFormat::TarZst,
            window: DEFAULT_WINDOW,
            zstd_level: 1,
        }
    }
}

/// The archive as a stream of chunks; an error item ends it.
pub type ArchiveStream = BoxStream<'static, Result<Bytes>>;

/// Streams the directory at `opts.path` of `snapshot` as an archive (see the module
/// doc). Entries are named below the directory's own name (`uploads/a.png`), or as in
/// the snapshot root for the whole snapshot. A missing path or one that is not a
/// directory fails here, before any byte.
pub async fn archive(
    repo: &IndexedRepository,
    cache: Arc<TreeCache>,
    snapshot: &Snapshot,
    opts: &ArchiveOptions,
) -> Result<ArchiveStream> {
    let root = dir_tree(repo, &cache, snapshot, &opts.path).await?;
    let base: PathBuf = split_path(&opts.path)?
        .last()
        .map(PathBuf::from)
        .unwrap_or_default();
    let slots = (opts.window / CHUNK).max(1);
    let (tx, rx) = mpsc::channel::<Result<Bytes>>(slots);
    let job = Job {
        repo: repo.clone(),
        cache,
        handle: tokio::runtime::Handle::current(),
        root,
        base,
        format: opts.format,
        level: opts.zstd_level,
    };
    tokio::task::spawn_blocking(move || {
        let out = ChunkWriter::new(tx.clone());
        if let Err(e) = job.run(out) {
            // The reader may be gone already: then there is nobody left to tell.
            let _ = tx.blocking_send(Err(e));
        }
    });
    Ok(Box::pin(tokio_stream_from(rx)))
}

fn tokio_stream_from(
    mut rx: mpsc::Receiver<Result<Bytes>>,
) -> impl futures::Stream<Item = Result<Bytes>> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// Writes chunks of [`CHUNK`] bytes into the channel; a closed channel (the reader went
/// away) is a broken pipe.
struct ChunkWriter {
    tx: mpsc::Sender<Result<Bytes>>,
    buf: Vec<u8>,
}

impl ChunkWriter {
    fn new(tx: mpsc::Sender<Result<Bytes>>) -> Self {
        ChunkWriter {
            tx,
            buf: Vec::with_capacity(CHUNK),
        }
    }

    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        self.tx
            .blocking_send(Ok(Bytes::from(chunk)))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "reader gone"))
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let n = data.len().min(CHUNK - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

/// Reads a file's bytes blob by blob, each verified, on the writer's thread.
struct BlobReader<'a> {
    job: &'a Job,
    what: String,
    blobs: std::vec::IntoIter<(Id, std::ops::Range<usize>)>,
    current: Bytes,
}

impl Read for BlobReader<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            let Some((id, range)) = self.blobs.next() else {
                return Ok(0);
            };
            let plain = self
                .job
                .handle
                .block_on(self.job.repo.read_blob(&id))
                .map_err(|e| std::io::Error::other(Error::corrupt(&self.what, e)))?;
            if range.end > plain.len() {
                return Err(std::io::Error::other(Error::corrupt(
                    &self.what,
                    format!("blob {id} is shorter than the index says"),
                )));
            }
            self.current = Bytes::from(plain).slice(range);
        }
        let n = out.len().min(self.current.len());
        out[..n].copy_from_slice(&self.current[..n]);
        self.current = self.current.slice(n..);
        Ok(n)
    }
}

/// One entry on its way into the archive.
struct Item {
    path: PathBuf,
    node: Node,
}

/// The writer's side: walks the tree depth-first (an explicit stack of directories
/// with the entries left in each) and writes each entry.
struct Job {
    repo: IndexedRepository,
    cache: Arc<TreeCache>,
    handle: tokio::runtime::Handle,
    root: Id,
    base: PathBuf,
    format: ArchiveFormat,
    level: i32,
}

fn io_err(what: &str) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| match e.downcast::<Error>() {
        Ok(inner) => inner,
        Err(e) => Error::io(what, e),
    }
}

impl Job {
    fn tree(&self, id: &Id, at: &std::path::Path) -> Result<std::vec::IntoIter<Node>> {
        let tree = self
            .handle
            .block_on(self.cache.load(&self.repo, id))
            .map_err(|e| Error::corrupt(format!("tree of {}", at.display()), e))?;
        Ok(tree.nodes.clone().into_iter())
    }

    /// Calls `each` for every entry below the root, parents before children.
    fn walk(&self, mut each: impl FnMut(&Job, Item) -> Result<()>) -> Result<()> {
        let mut stack = vec![(self.base.clone(), self.tree(&self.root, &self.base)?)];
        if !self.base.as_os_str().is_empty() {
            let mut node = Node::new(self.base.as_os_str(), NodeType::Dir);
            node.mode = 0o40755;
            each(
                self,
                Item {
                    path: self.base.clone(),
                    node,
                },
            )?;
        }
        while let Some((dir, nodes)) = stack.last_mut() {
            let Some(node) = nodes.next() else {
                stack.pop();
                continue;
            };
            let path = dir.join(node.os_name());
            let sub = (node.kind == NodeType::Dir)
                .then_some(node.subtree)
                .flatten();
            each(
                self,
                Item {
                    path: path.clone(),
                    node,
                },
            )?;
            if let Some(sub) = sub {
                let nodes = self.tree(&sub, &path)?;
                stack.push((path, nodes));
            }
        }
        Ok(())
    }

    fn reader(&self, item: &Item) -> Result<BlobReader<'_>> {
        let what = format!("file {}", item.path.display());
        let plan = super::read::plan(&self.repo, &item.node, &what, 0, item.node.size)?;
        Ok(BlobReader {
            job: self,
            what,
            blobs: plan.into_iter(),
            current: Bytes::new(),
        })
    }

    fn run(self, out: ChunkWriter) -> Result<()> {
        match self.format {
            ArchiveFormat::TarZst => self.run_tar(out),
            ArchiveFormat::Zip => self.run_zip(out),
        }
    }

    fn run_tar(self, out: ChunkWriter) -> Result<()> {
        let zst = zstd::Encoder::new(out, self.level).map_err(io_err("zstd encoder"))?;
        let mut tar = tar::Builder::new(zst);
        tar.mode(tar::HeaderMode::Complete);
        self.walk(|job, item| {
            let n = &item.node;
            let mut h = tar::Header::new_gnu();
            h.set_mode(n.mode & 0o7777);
            h.set_uid(u64::from(n.uid));
            h.set_gid(u64::from(n.gid));
            h.set_mtime(u64::try_from(n.mtime_ns / 1_000_000_000).unwrap_or(0));
            let what = item.path.display().to_string();
            match n.kind {
                NodeType::Dir => {
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_size(0);
                    tar.append_data(&mut h, &item.path, std::io::empty())
                }
                NodeType::Symlink => {
                    h.set_entry_type(tar::EntryType::Symlink);
                    h.set_size(0);
                    let target = n.os_target().unwrap_or_default();
                    tar.append_link(&mut h, &item.path, PathBuf::from(target))
                }
                NodeType::File => {
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_size(n.size);
                    let reader = job.reader(&item)?;
                    tar.append_data(&mut h, &item.path, reader)
                }
            }
            .map_err(io_err(&what))
        })?;
        let zst = tar.into_inner().map_err(io_err("tar end"))?;
        let mut out = zst.finish().map_err(io_err("zstd end"))?;
        out.flush().map_err(io_err("archive end"))
    }

    fn run_zip(self, out: ChunkWriter) -> Result<()> {
        use zip::write::SimpleFileOptions;
        let mut zip = zip::ZipWriter::new_stream(out);
        let zip_err = |what: &str, e: zip::result::ZipError| match e {
            zip::result::ZipError::Io(io) => io_err(what)(io),
            other => Error::Internal(format!("zip {what}: {other}")),
        };
        self.walk(|job, item| {
            let n = &item.node;
            let name = zip_name(&item.path);
            let opts = SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Stored)
                .unix_permissions(n.mode & 0o7777)
                .last_modified_time(zip_time(n.mtime_ns))
                .large_file(n.size >= u64::from(u32::MAX));
            match n.kind {
                NodeType::Dir => zip
                    .add_directory(name.as_str(), opts)
                    .map_err(|e| zip_err(&name, e)),
                NodeType::Symlink => {
                    let target = n.target.clone().unwrap_or_default();
                    zip.add_symlink(name.as_str(), target, opts)
                        .map_err(|e| zip_err(&name, e))
                }
                NodeType::File => {
                    let mut reader = job.reader(&item)?;
                    zip.start_file(name.as_str(), opts)
                        .map_err(|e| zip_err(&name, e))?;
                    std::io::copy(&mut reader, &mut zip).map_err(io_err(&name))?;
                    Ok(())
                }
            }
        })?;
        let stream = zip.finish().map_err(|e| zip_err("end", e))?;
        let mut out = stream.into_inner();
        out.flush().map_err(io_err("archive end"))
    }
}

/// A zip entry name: the path with `/`, lossy where it is not UTF-8.
fn zip_name(path: &std::path::Path) -> String {
    let os: OsString = path.as_os_str().to_owned();
    String::from_utf8_lossy(os.as_bytes()).into_owned()
}

/// A zip (DOS) time; before 1980 or unrepresentable: 1980-01-01.
fn zip_time(mtime_ns: i64) -> zip::DateTime {
    use chrono::{Datelike, Timelike};
    let t = chrono::DateTime::from_timestamp_nanos(mtime_ns);
    let year = u16::try_from(t.year()).unwrap_or(1980);
    zip::DateTime::from_date_and_time(
        year,
        t.month() as u8,
        t.day() as u8,
        t.hour() as u8,
        t.minute() as u8,
        t.second() as u8,
    )
    .unwrap_or_default()
}
