//! `find`: which snapshots hold an entry matching a glob, with its size and times. A
//! pattern without `/` matches entry names at any depth; one with `/` matches the whole
//! path relative to the snapshot's root (`*` stays within one component, `**` crosses
//! them). The matches below a tree are computed once per tree id: unchanged directories
//! shared by many snapshots are read once.

use std::collections::HashMap;

use futures::future::BoxFuture;
use globset::{GlobBuilder, GlobMatcher};
use serde::Serialize;

use super::SnapshotFilter;
use crate::error::{Error, Result};
use crate::id::Id;
use crate::repository::IndexedRepository;
use crate::tree::{Node, NodeType};

/// Options of [`find`].
#[derive(Clone, Debug, Default)]
pub struct FindOptions {
    /// The glob.
    pub pattern: String,
    /// Which snapshots to search.
    pub filter: SnapshotFilter,
}

/// One match.
#[derive(Clone, Debug, Serialize)]
pub struct Found {
    /// The snapshot.
    pub snapshot: Id,
    /// Snapshot time.
    pub time: chrono::DateTime<chrono::Utc>,
    /// Snapshot volume, if any.
    pub volume: Option<String>,
    /// Path relative to the snapshot's root.
    pub path: String,
    /// `file`, `dir` or `symlink`.
    #[serde(rename = "type")]
    pub kind: NodeType,
    /// Size in bytes (files).
    pub size: u64,
    /// Modification time.
    pub mtime: chrono::DateTime<chrono::Utc>,
}

struct Matcher {
    glob: GlobMatcher,
    by_name: bool,
}

impl Matcher {
    fn hit(&self, path: &str, name: &str) -> bool {
        if self.by_name {
            self.glob.is_match(name)
        } else {
            self.glob.is_match(path)
        }
    }
}

type Hits = Vec<(String, Node)>;

/// Every entry matching the pattern in every snapshot the filter passes, oldest
/// snapshot first, paths in tree order.
pub async fn find(repo: &IndexedRepository, opts: &FindOptions) -> Result<Vec<Found>> {
    let pattern = opts.pattern.trim_start_matches('/').trim_end_matches('/');
    if pattern.is_empty() {
        return Err(Error::Invalid("empty pattern".into()));
    }
    let glob = GlobBuilder::new(pattern)
        .literal_separator(true)
        .build()
        .map_err(|e| Error::Invalid(format!("pattern {pattern:?}: {e}")))?
        .compile_matcher();
    let m = Matcher {
        glob,
        by_name: !pattern.contains('/'),
    };
    let snaps = opts.filter.apply(repo.snapshots().await?);
    let mut memo: HashMap<Id, std::sync::Arc<Hits>> = HashMap::new();
    let mut out = Vec::new();
    for (id, s) in snaps {
        let hits = walk(repo, &m, s.tree, &mut memo).await?;
        for (path, node) in hits.iter() {
            out.push(Found {
                snapshot: id,
                time: s.time,
                volume: s.volume.clone(),
                path: path.clone(),
                kind: node.kind,
                size: node.size,
                mtime: chrono::DateTime::from_timestamp_nanos(node.mtime_ns),
            });
        }
    }
    Ok(out)
}

/// Matches below `tree`, paths relative to it. With a path pattern the matches depend
/// on where the tree is, so only name patterns are memoised.
fn walk<'a>(
    repo: &'a IndexedRepository,
    m: &'a Matcher,
    tree: Id,
    memo: &'a mut HashMap<Id, std::sync::Arc<Hits>>,
) -> BoxFuture<'a, Result<std::sync::Arc<Hits>>> {
    Box::pin(async move {
        if let Some(h) = memo.get(&tree) {
            return Ok(h.clone());
        }
        let t = repo.load_tree(&tree).await?;
        let mut hits = Vec::new();
        for node in t.nodes {
            let name = node.name.clone();
            if m.hit(&name, &name) {
                hits.push((name.clone(), node.clone()));
            }
            if let Some(sub) = node.subtree {
                let below = if m.by_name {
                    walk(repo, m, sub, memo).await?
                } else {
                    std::sync::Arc::new(walk_paths(repo, m, sub, &name).await?)
                };
                hits.extend(
                    below
                        .iter()
                        .map(|(p, n)| (format!("{name}/{p}"), n.clone())),
                );
            }
        }
        let hits = std::sync::Arc::new(hits);
        if m.by_name {
            memo.insert(tree, hits.clone());
        }
        Ok(hits)
    })
}

/// Matches of a path pattern below `tree`, which sits at `prefix`; paths relative to
/// `tree`.
fn walk_paths<'a>(
    repo: &'a IndexedRepository,
    m: &'a Matcher,
    tree: Id,
    prefix: &'a str,
) -> BoxFuture<'a, Result<Hits>> {
    Box::pin(async move {
        let t = repo.load_tree(&tree).await?;
        let mut hits = Vec::new();
        for node in t.nodes {
            let rel = node.name.clone();
            let full = format!("{prefix}/{rel}");
            if m.hit(&full, &rel) {
                hits.push((rel.clone(), node.clone()));
            }
            if let Some(sub) = node.subtree {
                let below = walk_paths(repo, m, sub, &full).await?;
                hits.extend(below.into_iter().map(|(p, n)| (format!("{rel}/{p}"), n)));
            }
        }
        Ok(hits)
    })
}
