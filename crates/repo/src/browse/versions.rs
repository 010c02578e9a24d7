//! The versions of one path across the snapshots of a volume ([`versions`]): every
//! distinct content, newest first, and the snapshots where the path was absent. Each
//! snapshot costs the trees on the way to the path, and those are shared through the
//! [`TreeCache`] by every snapshot in which the directories did not change.

use serde::Serialize;

use super::content_id;
use super::dir::{TreeCache, lookup, split_path};
use crate::error::{Error, Result};
use crate::id::Id;
use crate::repository::IndexedRepository;
use crate::tools::SnapshotFilter;
use crate::tree::NodeType;

/// Options of [`versions`].
#[derive(Clone, Debug, Default)]
pub struct VersionsOptions {
    /// The volume whose snapshots are searched.
    pub volume: String,
    /// The path, relative to the snapshot root.
    pub path: String,
}

/// A snapshot, by id and time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SnapshotRef {
    /// Snapshot id.
    pub id: Id,
    /// Snapshot time.
    pub time: chrono::DateTime<chrono::Utc>,
}

/// One distinct content of the path.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Version {
    /// The content id ([`content_id`]).
    pub content: Id,
    /// `file`, `dir` or `symlink`.
    #[serde(rename = "type")]
    pub kind: NodeType,
    /// Size in bytes (files).
    pub size: u64,
    /// Modification time in the newest snapshot holding it.
    pub mtime: chrono::DateTime<chrono::Utc>,
    /// The newest snapshot holding this content.
    pub snapshot: Id,
    /// That snapshot's time.
    pub time: chrono::DateTime<chrono::Utc>,
    /// Every snapshot holding this content, newest first.
    pub snapshots: Vec<SnapshotRef>,
}

/// What [`versions`] found.
#[derive(Clone, Debug, Serialize)]
pub struct Versions {
    /// The volume.
    pub volume: String,
    /// The path.
    pub path: String,
    /// Distinct contents, newest first (by the newest snapshot holding each).
    pub versions: Vec<Version>,
    /// Snapshots of the volume without the path, newest first.
    pub absent: Vec<SnapshotRef>,
}

/// Every version of `opts.path` in the snapshots of `opts.volume` (see the module
/// doc). Not found when the volume has no snapshot.
pub async fn versions(
    repo: &IndexedRepository,
    cache: &TreeCache,
    opts: &VersionsOptions,
) -> Result<Versions> {
    let parts = split_path(&opts.path)?;
    let filter = SnapshotFilter {
        volume: Some(opts.volume.clone()),
        ..Default::default()
    };
    let mut snaps = filter.apply(repo.snapshots().await?);
    if snaps.is_empty() {
        return Err(Error::not_found(format!(
            "snapshot of volume {}",
            opts.volume
        )));
    }
    snaps.reverse();
    let mut out: Vec<Version> = Vec::new();
    let mut absent = Vec::new();
    for (id, s) in snaps {
        let at = SnapshotRef { id, time: s.time };
        let node = if parts.is_empty() {
            let mut root = crate::tree::Node::new("".as_ref(), NodeType::Dir);
            root.subtree = Some(s.tree);
            root
        } else {
            match lookup(repo, cache, s.tree, &parts).await {
                Ok(n) => n,
                Err(Error::NotFound { .. }) | Err(Error::Invalid(_)) => {
                    absent.push(at);
                    continue;
                }
                Err(e) => return Err(e),
            }
        };
        let content = content_id(&node);
        match out
            .iter_mut()
            .find(|v| v.content == content && v.kind == node.kind)
        {
            Some(v) => v.snapshots.push(at),
            None => out.push(Version {
                content,
                kind: node.kind,
                size: node.size,
                mtime: chrono::DateTime::from_timestamp_nanos(node.mtime_ns),
                snapshot: id,
                time: s.time,
                snapshots: vec![at],
            }),
        }
    }
    Ok(Versions {
        volume: opts.volume.clone(),
        path: parts.join("/"),
        versions: out,
        absent,
    })
}
