//! Reading snapshots back as paths: walking a snapshot's trees (`ls`) and comparing two
//! snapshots (`diff`).

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use serde::Serialize;

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
    id: Option<Id>,
    at: &Path,
) -> Result<BTreeMap<std::ffi::OsString, Node>> {
    let Some(id) = id else {
        return Ok(BTreeMap::new());
    };
    let tree = repo
        .load_tree(&id)
        .await
        .map_err(|e| Error::corrupt(format!("tree of {}", at.display()), e))?;
    Ok(tree.nodes.into_iter().map(|n| (n.os_name(), n)).collect())
}

/// The subtree of a directory node.
fn subtree(n: Option<&Node>) -> Option<Id> {
    n.filter(|n| n.kind == NodeType::Dir)
        .and_then(|n| n.subtree)
}

/// Lists added, removed and changed paths from snapshot `a` to snapshot `b`, in path
/// order. The two trees are walked side by side with an explicit stack (any depth costs
/// heap, not call stack), and a directory whose subtree id is the same on both sides is
/// not entered: nothing below it differs.
pub async fn diff(repo: &IndexedRepository, a: &Snapshot, b: &Snapshot) -> Result<Vec<DiffEntry>> {
    let mut out: Vec<(PathBuf, Change)> = Vec::new();
    let mut stack: Vec<(PathBuf, Option<Id>, Option<Id>)> =
        vec![(PathBuf::new(), Some(a.tree), Some(b.tree))];
    while let Some((dir, x, y)) = stack.pop() {
        if x.is_some() && x == y {
            continue;
        }
        let left = nodes_of(repo, x, &dir).await?;
        let mut right = nodes_of(repo, y, &dir).await?;
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
            if let Some(change) = change {
                out.push((path.clone(), change));
            }
            if sx.is_some() || sy.is_some() {
                stack.push((path, sx, sy));
            }
        }
    }
    out.sort_by(|p, q| p.0.cmp(&q.0));
    Ok(out
        .into_iter()
        .map(|(path, change)| DiffEntry {
            path: path.to_string_lossy().into_owned(),
            change,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::crypto::KdfParams;
    use crate::repository::{InitOptions, init};
    use crate::restore::{RestoreOptions, restore};
    use crate::test_support::{hostile_snapshot, node};

    type TestResult = std::result::Result<(), Box<dyn std::error::Error>>;

    #[tokio::test(flavor = "multi_thread")]
    async fn restore_refuses_entries_escaping_the_target() -> TestResult {
        let payload = json!({"nodes": [node("escaped", "file")]});
        for bad in [
            "..",
            "../escaped",
            "/tmp/escaped",
            "a/../../escaped",
            ".",
            "nul\u{0}byte",
            "",
        ] {
            let dir = tempfile::tempdir()?;
            let url = format!("file://{}", dir.path().join("repo").display());
            let opts = InitOptions {
                password: "p".into(),
                kdf: KdfParams::insecure_fast(),
            };
            let repo = init(holdfast_store::Store::open(&url)?, &opts).await?;
            let sub = {
                let bytes = serde_json::to_vec(&payload)?;
                repo.keys().blob_id(&bytes)
            };
            let mut evil = node(bad, "dir");
            evil["subtree"] = json!(sub.to_hex());
            let root = json!({"nodes": [evil, node("fine.txt", "file")]});
            let snap = hostile_snapshot(&repo, &[root, payload.clone()]).await?;
            let repo = repo.load_index().await?;
            let target = dir.path().join("a/b/target");
            let summary = restore(
                &repo,
                &snap,
                &RestoreOptions {
                    target: target.clone(),
                    include: vec![],
                    ..Default::default()
                },
            )
            .await?;
            assert!(!summary.damaged.is_empty(), "{bad:?} was not refused");
            assert!(
                summary.damaged.iter().any(|d| d.error.contains("unsafe")),
                "{bad:?}: {:?}",
                summary.damaged
            );
            for place in [
                dir.path().join("escaped"),
                dir.path().join("a/escaped"),
                dir.path().join("a/b/escaped"),
                std::path::PathBuf::from("/tmp/escaped"),
            ] {
                assert!(!place.exists(), "{bad:?} wrote {}", place.display());
            }
            assert_eq!(
                std::fs::read_dir(&target)?.count(),
                0,
                "{bad:?}: a damaged tree restores nothing of it"
            );
        }
        Ok(())
    }
    #[tokio::test(flavor = "multi_thread")]
    async fn restore_never_writes_through_a_symlink_of_the_snapshot() -> TestResult {
        let dir = tempfile::tempdir()?;
        let outside = dir.path().join("outside");
        std::fs::create_dir(&outside)?;
        let url = format!("file://{}", dir.path().join("repo").display());
        let opts = InitOptions {
            password: "p".into(),
            kdf: KdfParams::insecure_fast(),
        };
        let repo = init(holdfast_store::Store::open(&url)?, &opts).await?;
        let payload = json!({"nodes": [node("escaped", "file")]});
        let sub = repo.keys().blob_id(&serde_json::to_vec(&payload)?);
        let mut link = node("link", "symlink");
        link["target"] = json!(outside.to_string_lossy());
        let mut same = node("link", "dir");
        same["subtree"] = json!(sub.to_hex());
        let snap = hostile_snapshot(&repo, &[json!({"nodes": [link, same]}), payload]).await?;
        let repo = repo.load_index().await?;
        let target = dir.path().join("target");
        let summary = restore(
            &repo,
            &snap,
            &RestoreOptions {
                target: target.clone(),
                include: vec![],
                ..Default::default()
            },
        )
        .await?;
        assert!(
            summary
                .damaged
                .iter()
                .any(|d| d.error.contains("duplicate")),
            "{:?}",
            summary.damaged
        );
        assert_eq!(std::fs::read_dir(&outside)?.count(), 0);
        assert_eq!(std::fs::read_dir(&target)?.count(), 0);
        Ok(())
    }
}
