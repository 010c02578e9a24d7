//! Content that does not come straight from the walked files: a consistent copy read in
//! place of a live file (a SQLite database copied through its backup API), paths left
//! out (its `-wal`/`-shm` files), and streamed files that exist only in the snapshot (a
//! `pg_dump` read from the child's stdout), placed under [`DATABASES_DIR`] at the root.

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::walk::Walker;
use crate::error::{Error, Result};
use crate::pack::BlobType;
use crate::tree::{Node, NodeType, Tree};

/// The directory at a snapshot's root that holds streamed database dumps. A directory of
/// that name in the backed-up root itself is left out with a warning.
pub const DATABASES_DIR: &str = ".holdfast-databases";

/// A stream of bytes stored as one file of the snapshot.
pub trait ExtraSource: Send + Sync + std::fmt::Debug {
    /// Starts producing the bytes.
    fn open(&self) -> std::io::Result<Box<dyn Read + Send>>;
    /// Called after the stream ended: an error (a failed `pg_dump`) fails the backup.
    fn finish(&self) -> std::io::Result<()>;
}

/// One streamed file: `name` inside [`DATABASES_DIR`].
#[derive(Clone, Debug)]
pub struct ExtraFile {
    /// File name (one path segment).
    pub name: String,
    /// Where its bytes come from.
    pub source: Arc<dyn ExtraSource>,
}

/// What a backup takes from somewhere other than the walked file.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    /// Files (relative to the root) whose content is read from another path.
    pub replace: HashMap<PathBuf, PathBuf>,
    /// Paths (relative to the root) left out.
    pub omit: HashSet<PathBuf>,
    /// Streamed files placed under [`DATABASES_DIR`].
    pub extra: Vec<ExtraFile>,
}

impl Walker {
    /// The node of a file whose content comes from `source` (a consistent copy), with the
    /// live file's name, mode, owner and times.
    pub(crate) fn replaced_file(
        &mut self,
        live: &std::fs::Metadata,
        source: &Path,
        name: &OsStr,
    ) -> Result<Option<Node>> {
        let meta = std::fs::metadata(source).map_err(|e| Error::io(source, e))?;
        let node = self.file(source, name, &meta, None)?;
        Ok(node.map(|mut n| {
            let from_live = super::walk::node_from(name, NodeType::File, live);
            n.mode = from_live.mode;
            n.uid = from_live.uid;
            n.gid = from_live.gid;
            n.mtime_ns = from_live.mtime_ns;
            n.ctime_ns = from_live.ctime_ns;
            n.inode = 0;
            n
        }))
    }

    /// The [`DATABASES_DIR`] node holding every streamed file, or `None` when there are
    /// none.
    pub(crate) fn extra_dir(&mut self, extra: &[ExtraFile]) -> Result<Option<Node>> {
        if extra.is_empty() {
            return Ok(None);
        }
        let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0);
        let mut tree = Tree::default();
        for file in extra {
            let reader = file
                .source
                .open()
                .map_err(|e| Error::io(format!("database dump {}", file.name), e))?;
            let mut node = Node::new(OsStr::new(&file.name), NodeType::File);
            node.mode = 0o100600;
            node.mtime_ns = now;
            node.ctime_ns = now;
            let repo = self.feed.repo.clone();
            for chunk in repo.inner.chunker.chunks(reader, 0) {
                let chunk =
                    chunk.map_err(|e| Error::io(format!("database dump {}", file.name), e))?;
                let id = repo.keys().blob_id(&chunk);
                node.size += chunk.len() as u64;
                node.content.push(id);
                self.submit(id, BlobType::Data, chunk)?;
            }
            file.source
                .finish()
                .map_err(|e| Error::io(format!("database dump {}", file.name), e))?;
            self.stats.files += 1;
            self.stats.size += node.size;
            tree.nodes.push(node);
        }
        let mut dir = Node::new(OsStr::new(DATABASES_DIR), NodeType::Dir);
        dir.mode = 0o040700;
        dir.mtime_ns = now;
        dir.ctime_ns = now;
        dir.subtree = Some(self.save_tree(&mut tree)?);
        self.stats.dirs += 1;
        Ok(Some(dir))
    }
}
