//! The read side of a backup: walks the root depth-first, hands the files to read to the
//! [`super::readers`] (which chunk, hash and skip blobs already stored), and builds one
//! tree per directory bottom-up once its files are read. Files unchanged since the parent
//! snapshot (size, mtime, ctime, inode) are not read.
//!
//! Depth: the walk keeps an explicit stack of [`Frame`]s, one per directory from the root
//! to the current one (what is left of its listing, its entries in the parent snapshot,
//! the tree being built, the readers' answers), so depth costs heap, never call stack;
//! the path relative to the root is one buffer pushed and popped as the walk goes. No
//! directory is held open per level: every path is resolved through
//! [`crate::longpath::LongPaths`], which holds one descriptor per 2 KiB of path (about 10
//! at 10,000 levels of one-letter names) and hands out paths under `PATH_MAX`, so neither
//! the descriptor limit nor `PATH_MAX` bounds the depth of a tree that backs up.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs::{File, Metadata};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use bytes::Bytes;
use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

use super::readers::{Feed, ReadJob, Readers};
use crate::error::{Error, Result};
use crate::id::Id;
use crate::longpath::LongPaths;
use crate::pack::BlobType;
use crate::tree::{Node, NodeType, Tree};

/// `--exclude` patterns: one without `/` matches a name at any depth, one with `/`
/// matches the path relative to the root.
pub(crate) struct Excludes {
    names: GlobSet,
    paths: GlobSet,
}

impl Excludes {
    pub(crate) fn new(patterns: &[String]) -> Result<Excludes> {
        let mut names = GlobSetBuilder::new();
        let mut paths = GlobSetBuilder::new();
        for p in patterns {
            let trimmed = p.trim_start_matches('/').trim_end_matches('/');
            let glob = GlobBuilder::new(trimmed)
                .literal_separator(true)
                .build()
                .map_err(|e| Error::Invalid(format!("exclude pattern {p:?}: {e}")))?;
            if trimmed.contains('/') {
                paths.add(glob)
            } else {
                names.add(glob)
            };
        }
        let build = |b: GlobSetBuilder| {
            b.build()
                .map_err(|e| Error::Invalid(format!("exclude patterns: {e}")))
        };
        Ok(Excludes {
            names: build(names)?,
            paths: build(paths)?,
        })
    }

    fn excluded(&self, rel: &Path, name: &OsStr) -> bool {
        self.names.is_match(name) || self.paths.is_match(rel)
    }
}

/// Counters of a walk.
#[derive(Default)]
pub(crate) struct WalkStats {
    pub files: u64,
    /// Files against the parent snapshot: new, changed, unmodified.
    pub changes: super::FileChanges,
    pub dirs: u64,
    pub size: u64,
    pub errors: Vec<String>,
}

/// A directory being walked: its entry in its parent, what is left of its listing, its
/// parent-snapshot entries not met yet, the tree being built and the answers of the
/// readers to the files it queued.
struct Frame {
    node: Option<Node>,
    prev: HashMap<OsString, Node>,
    names: std::vec::IntoIter<OsString>,
    tree: Tree,
    reply: crossbeam_channel::Sender<super::readers::ReadDone>,
    answers: crossbeam_channel::Receiver<super::readers::ReadDone>,
    queued: usize,
}

pub(crate) struct Walker {
    pub feed: Feed,
    pub readers: Readers,
    pub rt: tokio::runtime::Handle,
    pub excludes: Excludes,
    pub stats: WalkStats,
    pub overrides: super::sources::Overrides,
}

fn ns(secs: i64, nsec: i64) -> i64 {
    secs.saturating_mul(1_000_000_000).saturating_add(nsec)
}

pub(crate) fn node_from(name: &OsStr, kind: NodeType, m: &Metadata) -> Node {
    let mut n = Node::new(name, kind);
    n.mode = m.mode();
    n.uid = m.uid();
    n.gid = m.gid();
    n.mtime_ns = ns(m.mtime(), m.mtime_nsec());
    n.ctime_ns = ns(m.ctime(), m.ctime_nsec());
    n.inode = m.ino();
    n.size = if kind == NodeType::File { m.len() } else { 0 };
    n
}

impl Walker {
    pub(crate) fn submit(&mut self, id: Id, kind: BlobType, data: Bytes) -> Result<()> {
        self.feed.submit(id, kind, data)
    }

    /// Fails once the backup is cancelled.
    pub(crate) fn live(&self) -> Result<()> {
        self.feed.live()
    }

    fn warn(&mut self, path: &Path, what: impl std::fmt::Display) {
        let msg = format!("{}: {what}", path.display());
        tracing::warn!("{msg}");
        self.stats.errors.push(msg);
    }

    /// Backs up the root (a directory, or a single file or symlink) and returns its tree id.
    pub(crate) fn root(&mut self, root: &Path, parent: Option<Id>) -> Result<Id> {
        let meta = std::fs::symlink_metadata(root).map_err(|e| Error::io(root, e))?;
        let parent = match parent {
            Some(p) => self.load_parent(&p),
            None => None,
        };
        if meta.is_dir() {
            return self.dir(root, parent);
        }
        let name = root.file_name().unwrap_or(OsStr::new("root")).to_owned();
        let prev = parent.and_then(|t| t.nodes.into_iter().find(|n| n.os_name() == name));
        let mut tree = Tree::default();
        if let Some(n) = self.entry(root, root, &name, &meta, prev)? {
            tree.nodes.push(n);
        }
        self.save_tree(&mut tree)
    }

    fn load_parent(&mut self, id: &Id) -> Option<Tree> {
        let repo = self.feed.repo.clone();
        match self.rt.block_on(repo.load_tree(id)) {
            Ok(t) => Some(t),
            Err(e) => {
                tracing::warn!("parent tree {id} unreadable, reading everything again: {e}");
                None
            }
        }
    }

    pub(crate) fn save_tree(&mut self, tree: &mut Tree) -> Result<Id> {
        let bytes = tree.to_bytes()?;
        let id = self.feed.repo.keys().blob_id(&bytes);
        self.submit(id, BlobType::Tree, Bytes::from(bytes))?;
        Ok(id)
    }

    /// Walks the directory `root` depth-first with an explicit stack of [`Frame`]s (one
    /// per directory between the root and the current one), so any depth the file system
    /// allows costs heap, never stack; paths go through [`LongPaths`], so depth past
    /// `PATH_MAX` works too. Returns the root's tree id.
    fn dir(&mut self, root: &Path, parent: Option<Tree>) -> Result<Id> {
        let mut paths = LongPaths::new(root);
        let mut rel = PathBuf::new();
        let first = self.frame(&mut paths, &rel, None, parent);
        let mut stack = vec![first];
        loop {
            let frame = stack
                .last_mut()
                .ok_or_else(|| Error::Internal("the walk lost its root".into()))?;
            if let Some(name) = frame.names.next() {
                self.live()?;
                rel.push(&name);
                match self.child(&mut paths, &rel, &name, frame)? {
                    Some(sub) => stack.push(sub),
                    None => {
                        rel.pop();
                    }
                }
                continue;
            }
            let Some(Frame {
                node,
                mut tree,
                reply,
                answers,
                queued,
                ..
            }) = stack.pop()
            else {
                continue;
            };
            drop(reply);
            self.collect(&mut tree, &answers, queued)?;
            let Some(mut node) = node else {
                let extra = std::mem::take(&mut self.overrides.extra);
                if let Some(n) = self.extra_dir(&extra)? {
                    tree.nodes.push(n);
                }
                return self.save_tree(&mut tree);
            };
            node.subtree = Some(self.save_tree(&mut tree)?);
            self.stats.dirs += 1;
            rel.pop();
            if let Some(parent) = stack.last_mut() {
                parent.tree.nodes.push(node);
            }
        }
    }

    /// Lists the directory at `rel` and starts its frame; `node` is its entry in its
    /// parent (`None`: the root), `parent` its tree in the parent snapshot.
    fn frame(
        &mut self,
        paths: &mut LongPaths,
        rel: &Path,
        node: Option<Node>,
        parent: Option<Tree>,
    ) -> Frame {
        let prev: HashMap<OsString, Node> = parent
            .map(|t| t.nodes.into_iter().map(|n| (n.os_name(), n)).collect())
            .unwrap_or_default();
        let mut names = Vec::new();
        match paths.place(rel).and_then(|p| std::fs::read_dir(p.path())) {
            Ok(rd) => {
                for e in rd {
                    match e {
                        Ok(e) => names.push(e.file_name()),
                        Err(e) => {
                            self.warn(&paths.root().join(rel), format!("listing failed: {e}"))
                        }
                    }
                }
            }
            Err(e) => self.warn(
                &paths.root().join(rel),
                format!("cannot list directory: {e}"),
            ),
        }
        names.sort();
        let (reply, answers) = crossbeam_channel::unbounded();
        Frame {
            node,
            prev,
            names: names.into_iter(),
            tree: Tree::default(),
            reply,
            answers,
            queued: 0,
        }
    }

    /// Meets the entry `rel` (named `name`) of the directory of `frame`: a file is queued
    /// for the readers, a symlink recorded, a directory returned as a new frame.
    fn child(
        &mut self,
        paths: &mut LongPaths,
        rel: &Path,
        name: &OsStr,
        frame: &mut Frame,
    ) -> Result<Option<Frame>> {
        if self.excludes.excluded(rel, name) || self.overrides.omit.contains(rel) {
            return Ok(None);
        }
        let shown = paths.root().join(rel);
        if rel.parent() == Some(Path::new("")) && name == super::sources::DATABASES_DIR {
            self.warn(&shown, "left out: the name is reserved for database dumps");
            return Ok(None);
        }
        let meta = match paths
            .place(rel)
            .and_then(|p| std::fs::symlink_metadata(p.path()).map(|m| (p, m)))
        {
            Ok(m) => m,
            Err(e) => {
                self.warn(&shown, e);
                return Ok(None);
            }
        };
        let (place, meta) = meta;
        let prev = frame.prev.remove(name);
        if meta.is_dir() {
            let node = node_from(name, NodeType::Dir, &meta);
            let sub = prev
                .filter(|p| p.kind == NodeType::Dir)
                .and_then(|p| p.subtree)
                .and_then(|id| self.load_parent(&id));
            return Ok(Some(self.frame(paths, rel, Some(node), sub)));
        }
        let node = match self.overrides.replace.get(rel).cloned() {
            Some(source) if meta.is_file() => self.replaced_file(&meta, &source, name)?,
            None if meta.is_file() => {
                let mut node = node_from(name, NodeType::File, &meta);
                if !self.unchanged(&mut node, prev) {
                    self.readers.send(ReadJob {
                        path: shown,
                        place,
                        size: node.size,
                        slot: frame.tree.nodes.len(),
                        reply: frame.reply.clone(),
                    })?;
                    frame.queued += 1;
                }
                Some(node)
            }
            _ => self.entry(place.path(), &shown, name, &meta, prev)?,
        };
        if let Some(n) = node {
            frame.tree.nodes.push(n);
        }
        Ok(None)
    }

    /// A file, symlink or special file met at `open` (shown as `shown`); directories are
    /// walked by [`Walker::dir`].
    fn entry(
        &mut self,
        open: &Path,
        shown: &Path,
        name: &OsStr,
        meta: &Metadata,
        prev: Option<Node>,
    ) -> Result<Option<Node>> {
        let ft = meta.file_type();
        if ft.is_file() {
            self.file(open, name, meta, prev)
        } else if ft.is_symlink() {
            match std::fs::read_link(open) {
                Ok(t) => {
                    let mut node = node_from(name, NodeType::Symlink, meta);
                    node.set_target(t.as_os_str());
                    Ok(Some(node))
                }
                Err(e) => {
                    self.warn(shown, format!("cannot read link: {e}"));
                    Ok(None)
                }
            }
        } else {
            let kind = if ft.is_socket() {
                "socket"
            } else if ft.is_fifo() {
                "fifo"
            } else if ft.is_dir() {
                "directory"
            } else {
                "device"
            };
            tracing::warn!("{}: skipped ({kind})", shown.display());
            Ok(None)
        }
    }

    /// True, with the parent's content filled into `node`, when the file is unchanged
    /// since the parent snapshot and every blob of it is stored or sent; false when it
    /// must be read.
    fn unchanged(&mut self, node: &mut Node, prev: Option<Node>) -> bool {
        match &prev {
            Some(p) if p.kind == NodeType::File => self.stats.changes.changed += 1,
            _ => self.stats.changes.new += 1,
        }
        match prev {
            Some(p)
                if p.kind == NodeType::File
                    && (p.size, p.mtime_ns, p.ctime_ns, p.inode)
                        == (node.size, node.mtime_ns, node.ctime_ns, node.inode)
                    && p.content.iter().all(|id| self.feed.known(id)) =>
            {
                node.content = p.content;
                self.count_file(node.size);
                self.stats.changes.changed -= 1;
                self.stats.changes.unmodified += 1;
                true
            }
            _ => false,
        }
    }

    /// Fills in the content of the files of `tree` that the readers read, in whatever
    /// order they answer; files that could not be read are listed and left out.
    fn collect(
        &mut self,
        tree: &mut Tree,
        answers: &crossbeam_channel::Receiver<super::readers::ReadDone>,
        queued: usize,
    ) -> Result<()> {
        let mut unreadable = Vec::new();
        let mut failed = None;
        for _ in 0..queued {
            let done = answers
                .recv()
                .map_err(|_| Error::Internal("a file reader stopped without answering".into()))?;
            match done.content {
                Ok(Ok((content, size))) => {
                    let node = &mut tree.nodes[done.slot];
                    node.content = content;
                    node.size = size;
                    // The reader counted it in the progress already.
                    self.stats.files += 1;
                    self.stats.size += size;
                }
                Ok(Err(why)) => {
                    self.warn(&done.path, why);
                    unreadable.push(done.slot);
                }
                Err(e) => {
                    failed.get_or_insert(e);
                }
            }
        }
        if let Some(e) = failed {
            return Err(e);
        }
        if !unreadable.is_empty() {
            let mut slot = 0usize;
            tree.nodes.retain(|_| {
                slot += 1;
                !unreadable.contains(&(slot - 1))
            });
        }
        Ok(())
    }

    /// Reads a file on the walker's own thread (a root that is a file, a database copy).
    pub(crate) fn file(
        &mut self,
        path: &Path,
        name: &OsStr,
        meta: &Metadata,
        prev: Option<Node>,
    ) -> Result<Option<Node>> {
        let mut node = node_from(name, NodeType::File, meta);
        if self.unchanged(&mut node, prev) {
            return Ok(Some(node));
        }
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) => {
                self.warn(path, format!("cannot open: {e}"));
                return Ok(None);
            }
        };
        match self.feed.content(file, node.size)? {
            Ok((content, size)) => {
                node.content = content;
                node.size = size;
                self.count_file(0);
                self.stats.size += size;
                Ok(Some(node))
            }
            Err(why) => {
                self.warn(path, why);
                Ok(None)
            }
        }
    }

    fn count_file(&mut self, unread: u64) {
        self.stats.files += 1;
        self.stats.size += unread;
        if let Some(p) = &self.feed.progress {
            p.files.fetch_add(1, Ordering::Relaxed);
            p.bytes.fetch_add(unread, Ordering::Relaxed);
        }
    }
}
