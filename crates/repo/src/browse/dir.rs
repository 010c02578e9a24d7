//! One directory of a snapshot, a page at a time ([`list_dir`]), the path lookup every
//! browse call starts with ([`lookup`]) and the cache of decoded trees they share
//! ([`TreeCache`]).
//!
//! A lookup of `a/b/c` reads the root tree, then `a`'s, then `b`'s: only the trees on
//! the way, never the whole snapshot. Each tree's entries are sorted by name bytes
//! (docs/FORMAT.md, "Trees"), so a name is found by binary search and a page starts
//! after `after` by binary search too: a page deep into a directory of 100,000 entries
//! costs what the first page costs.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;

use super::content_id;
use crate::error::{Error, Result};
use crate::id::Id;
use crate::repository::IndexedRepository;
use crate::snapshot::Snapshot;
use crate::tree::{Node, NodeType, Tree};

/// Entries of all cached trees together, by default.
pub const DEFAULT_CACHE_NODES: usize = 250_000;
/// Most trees cached, by default.
pub const DEFAULT_CACHE_TREES: usize = 4_096;

/// A bounded least-recently-used cache of decoded trees, keyed by tree id. Trees are
/// content-addressed, so one entry serves every snapshot that shares the directory:
/// going back up a level, or to the same directory of the previous snapshot, reads
/// nothing from the repository again.
///
/// Bounded by the entries of all cached trees together (`max_nodes`) and by the
/// number of trees (`max_trees`); the tree just loaded is kept even when it alone
/// passes `max_nodes`, so a huge directory is read once per page walk, not once per
/// page.
pub struct TreeCache {
    max_nodes: usize,
    max_trees: usize,
    inner: Mutex<Lru>,
    loads: AtomicU64,
}

#[derive(Default)]
struct Lru {
    map: HashMap<Id, (Arc<Tree>, u64)>,
    tick: u64,
    nodes: usize,
}

impl Default for TreeCache {
    fn default() -> Self {
        TreeCache::new(DEFAULT_CACHE_NODES, DEFAULT_CACHE_TREES)
    }
}

impl std::fmt::Debug for TreeCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TreeCache")
            .field("max_nodes", &self.max_nodes)
            .field("max_trees", &self.max_trees)
            .field("loads", &self.loads())
            .finish_non_exhaustive()
    }
}

impl TreeCache {
    /// A cache holding at most `max_nodes` entries in at most `max_trees` trees.
    pub fn new(max_nodes: usize, max_trees: usize) -> Self {
        TreeCache {
            max_nodes,
            max_trees: max_trees.max(1),
            inner: Mutex::default(),
            loads: AtomicU64::new(0),
        }
    }

    /// How many trees were read from the repository (cache misses) so far.
    pub fn loads(&self) -> u64 {
        self.loads.load(Ordering::Relaxed)
    }

    /// The trees cached now, and their entries together.
    pub fn held(&self) -> (usize, usize) {
        let lru = self.lock();
        (lru.map.len(), lru.nodes)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Lru> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Tree `id`, from the cache or read (and verified) from the repository.
    pub async fn load(&self, repo: &IndexedRepository, id: &Id) -> Result<Arc<Tree>> {
        {
            let mut lru = self.lock();
            lru.tick += 1;
            let tick = lru.tick;
            if let Some((tree, used)) = lru.map.get_mut(id) {
                *used = tick;
                return Ok(tree.clone());
            }
        }
        let tree = Arc::new(repo.load_tree(id).await?);
        self.loads.fetch_add(1, Ordering::Relaxed);
        let mut lru = self.lock();
        lru.tick += 1;
        let tick = lru.tick;
        if let Some((old, _)) = lru.map.insert(*id, (tree.clone(), tick)) {
            lru.nodes -= old.nodes.len();
        }
        lru.nodes += tree.nodes.len();
        while (lru.nodes > self.max_nodes || lru.map.len() > self.max_trees) && lru.map.len() > 1 {
            let oldest = lru
                .map
                .iter()
                .filter(|(k, _)| *k != id)
                .min_by_key(|(_, (_, used))| *used)
                .map(|(k, _)| *k);
            let Some(oldest) = oldest else { break };
            if let Some((t, _)) = lru.map.remove(&oldest) {
                lru.nodes -= t.nodes.len();
            }
        }
        Ok(tree)
    }
}

/// The components of a path inside a snapshot: `/` separates them, empty ones (a
/// leading, trailing or doubled `/`) are skipped; `.`, `..` and NUL are refused.
pub fn split_path(path: &str) -> Result<Vec<&str>> {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    if let Some(bad) = parts
        .iter()
        .find(|p| **p == "." || **p == ".." || p.contains('\0'))
    {
        return Err(Error::Invalid(format!(
            "path {path:?}: component {bad:?} is not allowed"
        )));
    }
    Ok(parts)
}

/// The index of `name` in a tree's entries (sorted by name bytes).
fn find_in(tree: &Tree, name: &[u8]) -> Option<usize> {
    tree.nodes
        .binary_search_by(|n| n.os_name().as_bytes().cmp(name))
        .ok()
}

/// The node at `parts` below tree `root`, reading only the trees on the way.
/// [`Error::NotFound`] when a component is missing, [`Error::Invalid`] when one before
/// the last is not a directory.
pub async fn lookup(
    repo: &IndexedRepository,
    cache: &TreeCache,
    root: Id,
    parts: &[&str],
) -> Result<Node> {
    let mut tree_id = root;
    let mut walked = String::new();
    for (i, part) in parts.iter().enumerate() {
        let tree = cache
            .load(repo, &tree_id)
            .await
            .map_err(|e| Error::corrupt(format!("tree of /{walked}"), e))?;
        if !walked.is_empty() {
            walked.push('/');
        }
        walked.push_str(part);
        let Some(at) = find_in(&tree, part.as_bytes()) else {
            return Err(Error::not_found(format!("path /{walked} in the snapshot")));
        };
        let node = &tree.nodes[at];
        if i + 1 == parts.len() {
            return Ok(node.clone());
        }
        match (node.kind, node.subtree) {
            (NodeType::Dir, Some(sub)) => tree_id = sub,
            _ => {
                return Err(Error::Invalid(format!(
                    "path /{walked} in the snapshot is not a directory"
                )));
            }
        }
    }
    Err(Error::Invalid(
        "the snapshot root is a directory, not an entry".into(),
    ))
}

/// The tree of the directory at `path` in `snapshot`, and the path's components.
pub(crate) async fn dir_tree(
    repo: &IndexedRepository,
    cache: &TreeCache,
    snapshot: &Snapshot,
    path: &str,
) -> Result<Id> {
    let parts = split_path(path)?;
    if parts.is_empty() {
        return Ok(snapshot.tree);
    }
    let node = lookup(repo, cache, snapshot.tree, &parts).await?;
    match (node.kind, node.subtree) {
        (NodeType::Dir, Some(sub)) => Ok(sub),
        _ => Err(Error::Invalid(format!(
            "path {path} in the snapshot is not a directory"
        ))),
    }
}

/// Options of [`list_dir`].
#[derive(Clone, Debug, Default)]
pub struct DirOptions {
    /// The directory, relative to the snapshot root (empty: the root).
    pub path: String,
    /// Only entries whose name bytes sort after these (the `next_after` of the previous
    /// page).
    pub after: Option<Vec<u8>>,
    /// Most entries on the page (at least 1).
    pub limit: usize,
}

/// One entry of a directory page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DirEntry {
    /// The name (lossy UTF-8 when `name_raw` is set).
    pub name: String,
    /// The name's bytes as hex when they are not UTF-8.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name_raw: Option<String>,
    /// `file`, `dir` or `symlink`.
    #[serde(rename = "type")]
    pub kind: NodeType,
    /// Size in bytes (files).
    pub size: u64,
    /// Full `st_mode`.
    pub mode: u32,
    /// Modification time.
    pub mtime: chrono::DateTime<chrono::Utc>,
    /// The content id ([`content_id`]).
    pub content: Id,
    /// Symlink target.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

impl DirEntry {
    /// The entry of a tree node.
    pub fn of(node: &Node) -> DirEntry {
        DirEntry {
            name: node.name.clone(),
            name_raw: node.name_raw.clone(),
            kind: node.kind,
            size: node.size,
            mode: node.mode,
            mtime: chrono::DateTime::from_timestamp_nanos(node.mtime_ns),
            content: content_id(node),
            target: node.target.clone(),
        }
    }
}

/// A page of [`list_dir`].
#[derive(Clone, Debug, Serialize)]
pub struct DirPage {
    /// The directory's tree id.
    pub tree: Id,
    /// Entries in the directory in all (every page).
    pub total: usize,
    /// The entries, by name bytes.
    pub entries: Vec<DirEntry>,
    /// Pass as `after` for the next page (the last name on this one); `None` on the
    /// last page.
    pub next_after: Option<String>,
    /// `next_after` as hex bytes when that name is not UTF-8.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_after_raw: Option<String>,
}

/// A page of the entries of one directory of `snapshot` (see the module doc).
pub async fn list_dir(
    repo: &IndexedRepository,
    cache: &TreeCache,
    snapshot: &Snapshot,
    opts: &DirOptions,
) -> Result<DirPage> {
    let tree_id = dir_tree(repo, cache, snapshot, &opts.path).await?;
    let tree = cache
        .load(repo, &tree_id)
        .await
        .map_err(|e| Error::corrupt(format!("tree of /{}", opts.path), e))?;
    let start = match &opts.after {
        None => 0,
        Some(after) => tree
            .nodes
            .partition_point(|n| n.os_name().as_bytes() <= after.as_slice()),
    };
    let limit = opts.limit.max(1);
    let end = start.saturating_add(limit).min(tree.nodes.len());
    let entries: Vec<DirEntry> = tree.nodes[start..end].iter().map(DirEntry::of).collect();
    let last = (end < tree.nodes.len())
        .then(|| end.checked_sub(1).map(|i| &tree.nodes[i]))
        .flatten();
    Ok(DirPage {
        tree: tree_id,
        total: tree.nodes.len(),
        entries,
        next_after: last.map(|n| n.name.clone()),
        next_after_raw: last.and_then(|n| n.name_raw.clone()),
    })
}

/// The bytes of a name given back as `after`: `raw` (hex) when set, else `text`.
pub fn after_bytes(text: Option<&str>, raw: Option<&str>) -> Result<Option<Vec<u8>>> {
    match (raw, text) {
        (Some(h), _) => hex::decode(h)
            .map(Some)
            .map_err(|e| Error::Invalid(format!("after_raw {h:?}: {e}"))),
        (None, Some(t)) => Ok(Some(OsStr::new(t).as_bytes().to_vec())),
        (None, None) => Ok(None),
    }
}
