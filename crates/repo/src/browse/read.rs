//! Reading one file of a snapshot: [`open_file`] looks the path up and plans which
//! blobs cover the asked byte range; the returned stream then reads them one at a time.
//!
//! Invariants: at most one blob's plaintext is held at a time; every blob goes through
//! [`IndexedRepository::read_blob`], which authenticates it (AEAD) and checks its id
//! (keyed BLAKE3 of the plaintext), so a damaged blob is an error item of the stream —
//! never short or altered data. The blob lengths of the index must add up to the file's
//! size, or the file is refused before a byte is sent.

use bytes::Bytes;
use futures::stream::BoxStream;

use super::content_id;
use super::dir::{TreeCache, lookup, split_path};
use crate::error::{Error, Result};
use crate::id::Id;
use crate::repository::IndexedRepository;
use crate::snapshot::Snapshot;
use crate::tree::{Node, NodeType};

/// Options of [`open_file`].
#[derive(Clone, Debug, Default)]
pub struct FileReadOptions {
    /// The file, relative to the snapshot root.
    pub path: String,
    /// First byte to read.
    pub offset: u64,
    /// Bytes to read from `offset` (`None`: to the end); cut at the end of the file.
    pub length: Option<u64>,
}

/// A file opened for reading.
pub struct FileRead {
    /// The file's node.
    pub node: Node,
    /// Its content id ([`content_id`]).
    pub content: Id,
    /// The file's size.
    pub size: u64,
    /// The first byte the stream yields.
    pub offset: u64,
    /// How many bytes the stream yields.
    pub length: u64,
    /// The bytes, one blob (or the part of one inside the range) per item.
    pub stream: BoxStream<'static, Result<Bytes>>,
}

impl std::fmt::Debug for FileRead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileRead")
            .field("path", &self.node.name)
            .field("size", &self.size)
            .field("offset", &self.offset)
            .field("length", &self.length)
            .finish_non_exhaustive()
    }
}

/// The blobs covering `offset..offset + length` of a file: each blob id with the part
/// of its plaintext inside the range.
pub(crate) fn plan(
    repo: &IndexedRepository,
    node: &Node,
    what: &str,
    offset: u64,
    length: u64,
) -> Result<Vec<(Id, std::ops::Range<usize>)>> {
    let mut at = 0u64;
    let mut out = Vec::new();
    let end = offset.saturating_add(length);
    for id in &node.content {
        let len = u64::from(repo.locate(id)?.raw_length);
        let (s, e) = (at, at + len);
        at = e;
        if e <= offset || s >= end {
            continue;
        }
        let from = offset.max(s) - s;
        let to = end.min(e) - s;
        out.push((*id, from as usize..to as usize));
    }
    if at != node.size {
        return Err(Error::corrupt(
            what,
            format!("its blobs hold {at} bytes, its size is {}", node.size),
        ));
    }
    Ok(out)
}

/// The stream of the planned blob parts: each blob read and verified when the
/// consumer asks for it.
pub(crate) fn stream_plan(
    repo: IndexedRepository,
    what: String,
    plan: Vec<(Id, std::ops::Range<usize>)>,
) -> BoxStream<'static, Result<Bytes>> {
    let steps = futures::stream::iter(plan);
    Box::pin(futures::StreamExt::then(steps, move |(id, range)| {
        let repo = repo.clone();
        let what = what.clone();
        async move {
            let plain = repo
                .read_blob(&id)
                .await
                .map_err(|e| Error::corrupt(&what, e))?;
            if range.end > plain.len() {
                return Err(Error::corrupt(
                    &what,
                    format!("blob {id} is shorter than the index says"),
                ));
            }
            Ok(Bytes::from(plain).slice(range))
        }
    }))
}

/// Opens the file at `opts.path` of `snapshot` (see the module doc). Not found: a
/// missing path; invalid: a path that is not a regular file.
pub async fn open_file(
    repo: &IndexedRepository,
    cache: &TreeCache,
    snapshot: &Snapshot,
    opts: &FileReadOptions,
) -> Result<FileRead> {
    let parts = split_path(&opts.path)?;
    if parts.is_empty() {
        return Err(Error::Invalid("the snapshot root is not a file".into()));
    }
    let node = lookup(repo, cache, snapshot.tree, &parts).await?;
    if node.kind != NodeType::File {
        return Err(Error::Invalid(format!(
            "path {} in the snapshot is not a regular file",
            opts.path
        )));
    }
    let size = node.size;
    let offset = opts.offset.min(size);
    let length = opts.length.unwrap_or(u64::MAX).min(size - offset);
    let what = format!("file {}", opts.path);
    let plan = plan(repo, &node, &what, offset, length)?;
    Ok(FileRead {
        content: content_id(&node),
        node,
        size,
        offset,
        length,
        stream: stream_plan(repo.clone(), what, plan),
    })
}
