//! Reading snapshots back as paths, the read side of a snapshot browser. Each call
//! takes an `*Options` struct:
//!
//! - [`ls`] / [`walk`]: every entry of a snapshot (`holdfast ls`);
//! - [`list_dir`]: one directory, a page at a time (`after` + `limit`), entries in name
//!   byte order;
//! - [`open_file`]: one file's bytes from an offset for a length, as a stream;
//! - [`versions`]: every distinct content of one path across a volume's snapshots;
//! - [`diff`] / [`diff_page`]: what changed between two snapshots;
//! - [`find_page`]: [`crate::tools::find`], newest first, a page at a time;
//! - [`archive`]: a directory as a `tar.zst` or `zip` stream.
//!
//! A snapshot is named by [`crate::Repository::find_snapshot`] (an id prefix, `latest`,
//! `latest:VOLUME`; the one resolver, [`crate::snapshot::select`]): an id prefix that
//! several snapshots start with is [`crate::Error::AmbiguousPrefix`], with every
//! candidate.
//!
//! Invariants:
//! - **only the trees on the way**: a path is resolved by reading the root tree and one
//!   tree per component ([`lookup`]), never by walking the whole snapshot; a directory
//!   page is found by binary search in its sorted entries;
//! - **bounded**: decoded trees are shared through a [`TreeCache`] bounded by entries
//!   and trees; a file stream holds one blob at a time; an archive holds one blob, the
//!   trees on the current path and a window of a few MiB of output;
//! - **verified**: every tree and blob is authenticated (AEAD) and checked against its
//!   id when read ([`crate::IndexedRepository::read_blob`]); a damaged one is an error —
//!   never short, altered or silently skipped data;
//! - **content ids**: [`content_id`] names what an entry holds, the same for the same
//!   bytes in any snapshot (an HTTP `ETag`, the key of [`versions`]).

mod archive;
mod diff;
mod dir;
mod find;
mod read;
pub mod text;
mod versions;

#[cfg(test)]
mod hostile_tests;
#[cfg(test)]
mod tests;

pub use archive::{ArchiveFormat, ArchiveOptions, ArchiveStream, DEFAULT_WINDOW, archive};
pub use diff::{Change, DiffChange, DiffEntry, DiffOptions, DiffPage, diff, diff_page};
pub use dir::{
    DEFAULT_CACHE_NODES, DEFAULT_CACHE_TREES, DirEntry, DirOptions, DirPage, TreeCache,
    after_bytes, list_dir, lookup, split_path,
};
pub use find::{FindPage, FindPageOptions, find_page};
pub use read::{FileRead, FileReadOptions, open_file};
pub use versions::{SnapshotRef, Version, Versions, VersionsOptions, versions};

use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Result};
use crate::id::Id;
use crate::repository::IndexedRepository;
use crate::snapshot::Snapshot;
use crate::tree::{Node, NodeType};

/// One entry of a snapshot, with its path relative to the root.
#[derive(Clone, Debug)]
pub struct Entry {
    /// Path relative to the snapshot root.
    pub path: PathBuf,
    /// The tree node.
    pub node: Node,
}

/// Walks the tree `root` depth-first, parents before children. Trees that cannot be
/// loaded are reported in the second list with the path of their directory.
pub async fn walk(repo: &IndexedRepository, root: Id) -> (Vec<Entry>, Vec<(PathBuf, Error)>) {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    let mut stack = vec![(PathBuf::new(), root)];
    while let Some((dir, id)) = stack.pop() {
        let tree = match repo.load_tree(&id).await {
            Ok(t) => t,
            Err(e) => {
                errors.push((dir, e));
                continue;
            }
        };
        for node in tree.nodes {
            let path = dir.join(node.os_name());
            if let (NodeType::Dir, Some(sub)) = (node.kind, node.subtree) {
                stack.push((path.clone(), sub));
            }
            out.push(Entry { path, node });
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    (out, errors)
}

/// Options of [`ls`].
#[derive(Clone, Debug, Default)]
pub struct LsOptions {
    /// Only entries at or below this path (relative to the root; a leading `/` is ignored).
    pub path: Option<String>,
}

fn relative(path: &str) -> PathBuf {
    Path::new(path)
        .components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .collect()
}

/// Lists the entries of a snapshot (or of one path in it), parents before children.
pub async fn ls(
    repo: &IndexedRepository,
    snapshot: &Snapshot,
    opts: &LsOptions,
) -> Result<Vec<Entry>> {
    let (entries, errors) = walk(repo, snapshot.tree).await;
    if let Some((path, e)) = errors.into_iter().next() {
        return Err(Error::corrupt(format!("tree of {}", path.display()), e));
    }
    let Some(prefix) = opts
        .path
        .as_deref()
        .map(relative)
        .filter(|p| !p.as_os_str().is_empty())
    else {
        return Ok(entries);
    };
    let found: Vec<Entry> = entries
        .into_iter()
        .filter(|e| e.path.starts_with(&prefix))
        .collect();
    if found.is_empty() {
        return Err(Error::not_found(format!(
            "path {} in the snapshot",
            prefix.display()
        )));
    }
    Ok(found)
}

/// What an entry holds, as one id: for a file the hash of its blob ids in order (the
/// same bytes chunked the same way give the same id in every snapshot), for a
/// directory its tree id, for a symlink the hash of its target.
pub fn content_id(node: &Node) -> Id {
    match node.kind {
        NodeType::File => {
            let mut h = blake3::Hasher::new();
            h.update(b"holdfast file content\0");
            for id in &node.content {
                h.update(&id.0);
            }
            Id(*h.finalize().as_bytes())
        }
        NodeType::Dir => node.subtree.unwrap_or_else(|| Id::hash(b"")),
        NodeType::Symlink => {
            let target = node.os_target().unwrap_or_default();
            let mut h = blake3::Hasher::new();
            h.update(b"holdfast symlink\0");
            h.update(std::os::unix::ffi::OsStrExt::as_bytes(target.as_os_str()));
            Id(*h.finalize().as_bytes())
        }
    }
}
