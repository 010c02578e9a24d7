//! Verify's walk of the snapshots' trees: each tree is loaded and checked once, and what
//! is wrong beneath it is remembered by tree id, so trees shared by many paths or
//! snapshots cost one check. The problems of a tree are keyed by object (`blob <id>`, or
//! [`TREE`] and the id of a tree that cannot be loaded) with the paths, relative to the
//! tree, that need it — at most [`MAX_PATHS`] each.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::error::Result;
use crate::id::Id;
use crate::repository::IndexedRepository;
use crate::tree::NodeType;

/// Paths kept per problem.
pub(crate) const MAX_PATHS: usize = 100;

/// Key prefix of a tree that cannot be loaded.
pub(super) const TREE: &str = "damaged-tree ";

/// What is wrong beneath one tree: object → (error, paths relative to the tree; a
/// directory path ends in `/`).
#[derive(Default)]
pub(super) struct Found {
    pub(super) problems: BTreeMap<String, (String, Vec<String>)>,
}

impl Found {
    fn add(&mut self, object: String, error: &str, path: String) {
        let entry = self
            .problems
            .entry(object)
            .or_insert_with(|| (error.to_owned(), Vec::new()));
        if entry.1.len() < MAX_PATHS {
            entry.1.push(path);
        }
    }
}

/// One tree being checked: its name in its parent, what is found so far, its nodes left.
struct Frame {
    id: Id,
    name: String,
    found: Found,
    nodes: std::vec::IntoIter<crate::tree::Node>,
}

/// Loads tree `id` (named `name` in its parent) as a frame; a tree that cannot be loaded
/// is a frame with that problem and no nodes.
async fn open(repo: &IndexedRepository, id: Id, name: String) -> Result<Frame> {
    let mut found = Found::default();
    let nodes = match repo.load_tree(&id).await {
        Err(e) if e.is_unavailable() => return Err(e),
        Err(e) => {
            found.add(format!("{TREE}{id}"), &e.to_string(), String::new());
            Vec::new()
        }
        Ok(tree) => tree.nodes,
    };
    Ok(Frame {
        id,
        name,
        found,
        nodes: nodes.into_iter(),
    })
}

/// Adds what was found beneath the directory `name` to `found`.
fn merge(found: &mut Found, name: &str, below: &Found) {
    for (object, (error, paths)) in &below.problems {
        for p in paths {
            found.add(object.clone(), error, format!("{name}/{p}"));
        }
    }
}

/// Checks tree `id` and everything beneath it; `bad` are the blobs known damaged.
/// Depth-first with an explicit stack: any depth costs heap, not call stack.
pub(super) async fn check(
    repo: &IndexedRepository,
    id: Id,
    bad: &HashMap<Id, String>,
    memo: &mut HashMap<Id, Arc<Found>>,
) -> Result<Arc<Found>> {
    if let Some(f) = memo.get(&id) {
        return Ok(f.clone());
    }
    let mut stack = vec![open(repo, id, String::new()).await?];
    while let Some(frame) = stack.last_mut() {
        let Some(node) = frame.nodes.next() else {
            let Some(done) = stack.pop() else { break };
            let found = Arc::new(done.found);
            memo.insert(done.id, found.clone());
            match stack.last_mut() {
                Some(parent) => merge(&mut parent.found, &done.name, &found),
                None => return Ok(found),
            }
            continue;
        };
        match (node.kind, node.subtree) {
            (NodeType::File, _) => {
                for blob in &node.content {
                    let why = match bad.get(blob) {
                        Some(w) => w.clone(),
                        None if !repo.index().contains(blob) => {
                            "blob is not in the index (if a pack still holds it, \
                             `holdfast repair index --yes` lists it again)"
                                .to_owned()
                        }
                        None => continue,
                    };
                    frame
                        .found
                        .add(format!("blob {blob}"), &why, node.name.clone());
                }
            }
            (NodeType::Dir, Some(sub)) => match memo.get(&sub) {
                Some(below) => {
                    let below = below.clone();
                    merge(&mut frame.found, &node.name, &below);
                }
                None => {
                    let next = open(repo, sub, node.name).await?;
                    stack.push(next);
                }
            },
            _ => {}
        }
    }
    Err(crate::error::Error::Internal(format!(
        "the check of tree {id} ended without a result"
    )))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::crypto::KdfParams;
    use crate::repository::{InitOptions, init};
    use crate::test_support::{hostile_snapshot, node};
    use crate::verify::{VerifyOptions, verify};

    type TestResult = std::result::Result<(), Box<dyn std::error::Error>>;

    /// Finding: a forged snapshot whose trees share subtrees (2^40 paths) made verify run
    /// past 60 s: it walked every path. Each tree is now checked once.
    #[tokio::test(flavor = "multi_thread")]
    async fn shared_subtrees_are_checked_once_not_once_per_path() -> TestResult {
        let store = holdfast_store::Store::open("memory://")?;
        let opts = InitOptions {
            password: "pw".into(),
            kdf: KdfParams::insecure_fast(),
        };
        let repo = init(store, &opts).await?;
        // The leaf names a blob no pack holds, so every one of the 2^40 files is damaged.
        let missing = crate::Id::hash(b"no such blob");
        let mut file = node("f", "file");
        file["content"] = json!([missing]);
        let mut trees = vec![json!({ "nodes": [file] })];
        for _ in 0..40 {
            let below = trees.last().cloned().unwrap_or_default();
            let bytes = serde_json::to_vec(&below)?;
            let id = repo.keys().blob_id(&bytes);
            let mut a = node("a", "dir");
            a["subtree"] = json!(id);
            let mut b = node("b", "dir");
            b["subtree"] = json!(id);
            trees.push(json!({ "nodes": [a, b] }));
        }
        trees.reverse();
        hostile_snapshot(&repo, &trees).await?;
        let report = verify(&repo, &VerifyOptions::default()).await?;
        let p = report
            .problems
            .iter()
            .find(|p| p.object == format!("blob {missing}"))
            .ok_or("the missing blob is reported")?;
        assert_eq!(p.snapshots.len(), 1);
        assert_eq!(p.paths.len(), super::MAX_PATHS, "paths are capped");
        assert!(
            p.paths.iter().all(|x| x.len() == 2 * 40 + 1),
            "{:?}",
            &p.paths[..2]
        );
        Ok(())
    }
}
