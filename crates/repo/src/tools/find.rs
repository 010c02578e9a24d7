//! `find`: which snapshots hold an entry matching a glob, with its size and times. A
//! pattern without `/` matches entry names at any depth; one with `/` matches the whole
//! path relative to the snapshot's root (`*` stays within one component, `**` crosses
//! them). The matches below a tree are computed once per tree id: unchanged directories
//! shared by many snapshots are read once.

use std::collections::HashMap;

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

/// One tree being searched: its name in its parent, the length of the search's path
/// before its name was added, its hits so far (paths relative to it), its nodes left.
struct Frame {
    id: Id,
    name: String,
    outer: usize,
    hits: Hits,
    nodes: std::vec::IntoIter<Node>,
}

/// Matches below `tree`, paths relative to it. With a path pattern the matches depend
/// on where the tree is, so only name patterns are memoised. Depth-first with an
/// explicit stack: any depth costs heap, not call stack; `path` is the path of the tree
/// on top from the snapshot's root.
async fn walk(
    repo: &IndexedRepository,
    m: &Matcher,
    tree: Id,
    memo: &mut HashMap<Id, std::sync::Arc<Hits>>,
) -> Result<std::sync::Arc<Hits>> {
    if let Some(h) = memo.get(&tree) {
        return Ok(h.clone());
    }
    let mut path = String::new();
    let load = |id: Id| async move { repo.load_tree(&id).await.map(|t| t.nodes.into_iter()) };
    let mut stack = vec![Frame {
        id: tree,
        name: String::new(),
        outer: 0,
        hits: Vec::new(),
        nodes: load(tree).await?,
    }];
    while let Some(frame) = stack.last_mut() {
        let Some(node) = frame.nodes.next() else {
            let Some(done) = stack.pop() else { break };
            let hits = std::sync::Arc::new(done.hits);
            if m.by_name {
                memo.insert(done.id, hits.clone());
            }
            path.truncate(done.outer);
            match stack.last_mut() {
                Some(parent) => parent.hits.extend(
                    hits.iter()
                        .map(|(p, n)| (format!("{}/{p}", done.name), n.clone())),
                ),
                None => return Ok(hits),
            }
            continue;
        };
        let name = node.name.clone();
        let outer = path.len();
        if !path.is_empty() {
            path.push('/');
        }
        path.push_str(&name);
        if m.hit(&path, &name) {
            frame.hits.push((name.clone(), node.clone()));
        }
        let below = node
            .subtree
            .map(|sub| (sub, m.by_name.then(|| memo.get(&sub).cloned()).flatten()));
        match below {
            Some((_, Some(known))) => {
                frame.hits.extend(
                    known
                        .iter()
                        .map(|(p, n)| (format!("{name}/{p}"), n.clone())),
                );
                path.truncate(outer);
            }
            Some((sub, None)) => {
                let nodes = load(sub).await?;
                stack.push(Frame {
                    id: sub,
                    name,
                    outer,
                    hits: Vec::new(),
                    nodes,
                });
            }
            None => path.truncate(outer),
        }
    }
    Err(Error::Internal(format!(
        "the search of tree {tree} ended without a result"
    )))
}
