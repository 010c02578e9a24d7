//! Comparing two snapshots: [`diff`] (every change, as `holdfast diff` prints them) and
//! [`diff_page`] (the same walk below one path, with sizes, a page at a time). Both
//! walk the two trees side by side and never enter a directory whose subtree id is the
//! same on both sides: nothing below it differs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::dir::{TreeCache, lookup, split_path};
use crate::error::{Error, Result};
use crate::id::Id;
use crate::repository::IndexedRepository;
use crate::snapshot::Snapshot;
use crate::tree::{Node, NodeType};

/// How a path differs between two snapshots.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    /// Only in the second snapshot.
    Added,
    /// Only in the first snapshot.
    Removed,
    /// Content, type or link target differs.
    Modified,
    /// Only mode, owner or times differ.
    Metadata,
}

/// One difference.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DiffEntry {
    /// Path relative to the roots.
    pub path: String,
    /// What changed.
    pub change: Change,
}

fn compare(a: &Node, b: &Node) -> Option<Change> {
    if a.kind != b.kind
        || a.content != b.content
        || a.os_target() != b.os_target()
        || (a.kind == NodeType::File && a.size != b.size)
    {
        return Some(Change::Modified);
    }
    if (a.mode, a.uid, a.gid) != (b.mode, b.uid, b.gid)
        || (a.kind != NodeType::Dir && a.mtime_ns != b.mtime_ns)
    {
        return Some(Change::Metadata);
    }
    None
}

/// The nodes of tree `id` by name (none for `None`); a tree that cannot be loaded fails
/// naming the directory `at`.
async fn nodes_of(
    repo: &IndexedRepository,
    cache: Option<&TreeCache>,
    id: Option<Id>,
    at: &Path,
) -> Result<BTreeMap<std::ffi::OsString, Node>> {
    let Some(id) = id else {
        return Ok(BTreeMap::new());
    };
    let tree = match cache {
        Some(c) => c.load(repo, &id).await,
        None => repo.load_tree(&id).await.map(std::sync::Arc::new),
    }
    .map_err(|e| Error::corrupt(format!("tree of {}", at.display()), e))?;
    Ok(tree
        .nodes
        .iter()
        .map(|n| (n.os_name(), n.clone()))
        .collect())
}

/// The subtree of a directory node.
fn subtree(n: Option<&Node>) -> Option<Id> {
    n.filter(|n| n.kind == NodeType::Dir)
        .and_then(|n| n.subtree)
}

/// One change with both sides' nodes.
struct Raw {
    path: PathBuf,
    change: Change,
    before: Option<Node>,
    after: Option<Node>,
}

/// Every change between trees `x` and `y`, paths below `base`, in path order. An
/// explicit stack: any depth costs heap, not call stack.
async fn walk_pair(
    repo: &IndexedRepository,
    cache: Option<&TreeCache>,
    base: PathBuf,
    x: Option<Id>,
    y: Option<Id>,
) -> Result<Vec<Raw>> {
    let mut out: Vec<Raw> = Vec::new();
    let mut stack: Vec<(PathBuf, Option<Id>, Option<Id>)> = vec![(base, x, y)];
    while let Some((dir, x, y)) = stack.pop() {
        if x.is_some() && x == y {
            continue;
        }
        let left = nodes_of(repo, cache, x, &dir).await?;
        let mut right = nodes_of(repo, cache, y, &dir).await?;
        let mut pairs: Vec<(Option<Node>, Option<Node>)> = Vec::new();
        for (name, l) in left {
            let r = right.remove(&name);
            pairs.push((Some(l), r));
        }
        pairs.extend(right.into_values().map(|r| (None, Some(r))));
        for (l, r) in pairs {
            let Some(name) = l.as_ref().or(r.as_ref()).map(Node::os_name) else {
                continue;
            };
            let path = dir.join(&name);
            let change = match (&l, &r) {
                (None, Some(_)) => Some(Change::Added),
                (Some(_), None) => Some(Change::Removed),
                (Some(p), Some(q)) => compare(p, q),
                (None, None) => None,
            };
            let (sx, sy) = (subtree(l.as_ref()), subtree(r.as_ref()));
            if sx.is_some() || sy.is_some() {
                stack.push((path.clone(), sx, sy));
            }
            if let Some(change) = change {
                out.push(Raw {
                    path,
                    change,
                    before: l,
                    after: r,
                });
            }
        }
    }
    out.sort_by(|p, q| p.path.cmp(&q.path));
    Ok(out)
}

/// Lists added, removed and changed paths from snapshot `a` to snapshot `b`, in path
/// order (see the module doc).
pub async fn diff(repo: &IndexedRepository, a: &Snapshot, b: &Snapshot) -> Result<Vec<DiffEntry>> {
    let raw = walk_pair(repo, None, PathBuf::new(), Some(a.tree), Some(b.tree)).await?;
    Ok(raw
        .into_iter()
        .map(|r| DiffEntry {
            path: r.path.to_string_lossy().into_owned(),
            change: r.change,
        })
        .collect())
}

/// Options of [`diff_page`].
#[derive(Clone, Debug, Default)]
pub struct DiffOptions {
    /// Only changes at or below this path (relative to the roots; empty: all).
    pub path: String,
    /// Only changes whose path sorts after this one, component by component (the
    /// `next_after` of the previous page).
    pub after: Option<String>,
    /// Most changes on the page (at least 1).
    pub limit: usize,
}

/// One change with the sizes on both sides.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DiffChange {
    /// Path relative to the roots.
    pub path: String,
    /// What changed.
    pub change: Change,
    /// `file`, `dir` or `symlink` (the second snapshot's, else the first's).
    #[serde(rename = "type")]
    pub kind: NodeType,
    /// Size in the first snapshot (absent when added).
    pub size_before: Option<u64>,
    /// Size in the second snapshot (absent when removed).
    pub size_after: Option<u64>,
}

/// A page of [`diff_page`].
#[derive(Clone, Debug, Serialize)]
pub struct DiffPage {
    /// The changes, in path order.
    pub changes: Vec<DiffChange>,
    /// Changes below the path in all (every page).
    pub total: usize,
    /// Pass as `after` for the next page; `None` on the last page.
    pub next_after: Option<String>,
}

/// The subtree at `path` in `s` (`None` when absent or not a directory).
async fn dir_at(
    repo: &IndexedRepository,
    cache: &TreeCache,
    s: &Snapshot,
    parts: &[&str],
) -> Result<(Option<Id>, Option<Node>)> {
    if parts.is_empty() {
        return Ok((Some(s.tree), None));
    }
    match lookup(repo, cache, s.tree, parts).await {
        Ok(node) => Ok((subtree(Some(&node)), Some(node))),
        Err(Error::NotFound { .. }) => Ok((None, None)),
        Err(e) => Err(e),
    }
}

/// A page of the changes from `a` to `b` at or below `opts.path`, in path order; a
/// path that is a file on either side is compared as one entry.
pub async fn diff_page(
    repo: &IndexedRepository,
    cache: &TreeCache,
    a: &Snapshot,
    b: &Snapshot,
    opts: &DiffOptions,
) -> Result<DiffPage> {
    let parts = split_path(&opts.path)?;
    let (x, nx) = dir_at(repo, cache, a, &parts).await?;
    let (y, ny) = dir_at(repo, cache, b, &parts).await?;
    let base: PathBuf = parts.iter().collect();
    let mut raw = Vec::new();
    if !parts.is_empty() {
        let change = match (&nx, &ny) {
            (None, Some(_)) => Some(Change::Added),
            (Some(_), None) => Some(Change::Removed),
            (Some(p), Some(q)) => compare(p, q),
            (None, None) => {
                return Err(Error::not_found(format!(
                    "path {} in either snapshot",
                    opts.path
                )));
            }
        };
        if let Some(change) = change {
            raw.push(Raw {
                path: base.clone(),
                change,
                before: nx,
                after: ny,
            });
        }
    }
    raw.extend(walk_pair(repo, Some(cache), base, x, y).await?);
    let total = raw.len();
    let limit = opts.limit.max(1);
    let mut page: Vec<DiffChange> = raw
        .into_iter()
        .map(|r| {
            let kind = r.after.as_ref().or(r.before.as_ref()).map(|n| n.kind);
            DiffChange {
                path: r.path.to_string_lossy().into_owned(),
                change: r.change,
                kind: kind.unwrap_or(NodeType::File),
                size_before: r.before.map(|n| n.size),
                size_after: r.after.map(|n| n.size),
            }
        })
        .filter(|c| {
            opts.after
                .as_deref()
                .is_none_or(|after| Path::new(&c.path) > Path::new(after))
        })
        .take(limit + 1)
        .collect();
    let more = page.len() > limit;
    page.truncate(limit);
    let next_after = more.then(|| page.last().map(|c| c.path.clone())).flatten();
    Ok(DiffPage {
        changes: page,
        total,
        next_after,
    })
}
