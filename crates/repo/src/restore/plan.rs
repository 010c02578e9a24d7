//! The order of a restore, streamed: the snapshot's trees are walked depth-first in name
//! order (the order a backup wrote the blobs in, so neighbouring files share packs), one
//! tree at a time. Directories are made as they are reached, parents first, each checked
//! to be a real directory before anything is written in it; with `--include` a directory
//! is made only once something inside it is chosen. Files are queued and restored in
//! batches of at most [`BATCH_FILES`] files or [`BATCH_BYTES`] bytes, so memory and open
//! descriptors stay bounded however many files the snapshot holds. Symlinks wait until
//! every file is written (no file is ever written through one), and directory metadata
//! is set last, deepest first. What the walk keeps for the end is one record per
//! directory and per symlink, not per file.
//!
//! Depth: the walk is a loop over an explicit stack of frames (heap, not call stack),
//! a directory's record holds its name and parent rather than its path (a path is
//! rebuilt when one is needed), and every path below the target goes through
//! [`crate::longpath::LongPaths`], so a tree nested past `PATH_MAX` restores with a few
//! open descriptors.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use globset::GlobSet;

use super::files::{Seed, Started};
use super::fsops::{self, make_dir, would_make_dir};
use super::{Damaged, Job, Queued, RestoreSummary};
use crate::browse::Entry;
use crate::error::{Error, Result};
use crate::id::Id;
use crate::restore::overwrite::{self, Action, Planned};
use crate::tree::{Node, NodeType};

/// Files restored together (each holds an open descriptor while its batch runs; up to
/// [`depth`] batches run at once).
pub(super) const BATCH_FILES: usize = 128;
/// Bytes of file content that close a batch (one larger file is a batch of its own).
pub(super) const BATCH_BYTES: u64 = 128 << 20;

/// A directory met by the walk: its name and parent, not its path (a chain of 10,000
/// directories would otherwise keep 10,000 paths of up to 20,000 bytes each).
struct Dir {
    /// The directory holding it (`None`: the target itself).
    parent: Option<usize>,
    name: std::ffi::OsString,
    node: Node,
    state: State,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    /// Nothing chosen inside it yet (only with `--include`).
    Deferred,
    /// Made (or found) as a real directory.
    Made,
    /// Could not be made: nothing below it is restored.
    Failed,
}

/// One tree being walked: its directory (index into the walk's dirs; `None` for the
/// root), its remaining nodes, and whether the include patterns chose it. Its path is
/// the walk's `rel` while it is on top of the stack.
struct Frame {
    dir: Option<usize>,
    nodes: std::vec::IntoIter<Node>,
    chosen: bool,
}

/// The walk's state.
struct Walk<'a> {
    job: &'a Job,
    include: Option<&'a GlobSet>,
    me_root: bool,
    dirs: Vec<Dir>,
    links: Vec<Entry>,
    queue: Vec<Queued>,
    queued_bytes: u64,
    /// The file systems written to, for the flushes.
    filesystems: Arc<fsops::Filesystems>,
    /// The batches whose reads run while the next one is gathered and started, oldest
    /// first; at most [`depth`] of them.
    inflight: std::collections::VecDeque<Started>,
    depth: usize,
    summary: RestoreSummary,
}

impl Job {
    /// Restores the tree `root` into the target, streaming; see the module doc.
    pub(super) fn run(
        self,
        root: Id,
        include: Option<&GlobSet>,
        mut summary: RestoreSummary,
    ) -> Result<RestoreSummary> {
        let root_tree = match self.rt.block_on(self.repo.load_tree(&root)) {
            Ok(t) => t,
            Err(e) if e.is_unavailable() => return Err(Error::Unavailable(e.to_string())),
            Err(e) => {
                summary.damaged.push(Damaged {
                    path: "/".into(),
                    error: e.to_string(),
                });
                return Ok(summary);
            }
        };
        self.rt.block_on(
            self.failpoints
                .hit(crate::failpoint::Step::RestoreAfterTrees),
        )?;
        let mut walk = Walk {
            job: &self,
            include,
            me_root: fsops::running_as_root(),
            dirs: Vec::new(),
            links: Vec::new(),
            queue: Vec::new(),
            queued_bytes: 0,
            filesystems: Arc::default(),
            inflight: std::collections::VecDeque::new(),
            depth: depth(),
            summary,
        };
        if !self.dry_run {
            let dev = std::fs::metadata(&self.target)
                .map(|m| std::os::unix::fs::MetadataExt::dev(&m))
                .map_err(|e| Error::io(&self.target, e))?;
            walk.filesystems
                .add(dev, &self.target)
                .map_err(|e| Error::io(&self.target, e))?;
        }
        let walked = walk.walk(root_tree.nodes);
        if walked.is_ok() {
            walk.flush();
        }
        while !walk.inflight.is_empty() {
            walk.settle();
        }
        walked?;
        walk.finish_links();
        let Walk {
            dirs,
            filesystems,
            mut summary,
            me_root,
            ..
        } = walk;
        if self.dry_run {
            summary.overwritten = summary
                .planned
                .iter()
                .filter(|p| p.action == Action::Overwrite)
                .count() as u64;
            summary
                .damaged
                .extend(self.damaged.into_inner().unwrap_or_default());
            return Ok(summary);
        }
        for (i, d) in dirs.iter().enumerate().rev() {
            if d.state != State::Made {
                continue;
            }
            let rel = path_of(&dirs, i);
            let set = self.place(&rel).and_then(|p| {
                fsops::set_dir_meta(p.path(), &d.node, me_root).map_err(fsops::io_text)
            });
            if let Err(e) = set {
                self.fail(&rel, e);
            }
        }
        if let Some(e) = self.fatal.lock().ok().and_then(|mut f| f.take()) {
            return Err(e);
        }
        if self.cancel.is_cancelled() {
            return Err(Error::Cancelled("restore".into()));
        }
        filesystems.sync().map_err(|(dir, e)| Error::io(dir, e))?;
        summary
            .damaged
            .extend(self.damaged.into_inner().unwrap_or_default());
        Ok(summary)
    }
}

impl Walk<'_> {
    /// Walks the trees depth-first with an explicit stack (heap, not the call stack, grows
    /// with depth); `rel` is the path of the directory on top.
    fn walk(&mut self, root: Vec<Node>) -> Result<()> {
        let mut stack = vec![Frame {
            dir: None,
            nodes: root.into_iter(),
            chosen: self.include.is_none(),
        }];
        let mut rel = PathBuf::new();
        while let Some(frame) = stack.last_mut() {
            if self.job.stopped() {
                break;
            }
            let below_failed = frame
                .dir
                .is_some_and(|i| self.dirs[i].state == State::Failed);
            let next = if below_failed {
                None
            } else {
                frame.nodes.next()
            };
            let Some(node) = next else {
                if stack.pop().is_some_and(|f| f.dir.is_some()) {
                    rel.pop();
                }
                continue;
            };
            let path = rel.join(node.os_name());
            let chosen = frame.chosen || self.include.is_some_and(|s| s.is_match(&path));
            let parent = frame.dir;
            match node.kind {
                NodeType::Dir => {
                    if let Some(f) = self.dir(parent, &path, node, chosen)? {
                        stack.push(f);
                        rel = path;
                    }
                }
                // A file or symlink is chosen, and its directories made, or it is skipped.
                NodeType::File if chosen && self.ensure(parent) => {
                    self.file(Entry { path, node });
                }
                NodeType::Symlink if chosen && self.ensure(parent) => {
                    self.links.push(Entry { path, node });
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Meets a directory at `path`: records it, makes it when chosen, and loads its tree.
    fn dir(
        &mut self,
        parent: Option<usize>,
        path: &Path,
        node: Node,
        chosen: bool,
    ) -> Result<Option<Frame>> {
        let subtree = node.subtree;
        self.dirs.push(Dir {
            parent,
            name: node.os_name(),
            node,
            state: State::Deferred,
        });
        let me = self.dirs.len() - 1;
        if chosen && !self.ensure(Some(me)) {
            return Ok(None);
        }
        let Some(sub) = subtree else {
            return Ok(None);
        };
        match self.job.rt.block_on(self.job.repo.load_tree(&sub)) {
            Ok(t) => Ok(Some(Frame {
                dir: Some(me),
                nodes: t.nodes.into_iter(),
                chosen,
            })),
            Err(e) if e.is_unavailable() => Err(Error::Unavailable(e.to_string())),
            Err(e) => {
                self.summary.damaged.push(Damaged {
                    path: format!("{}/", path.display()),
                    error: e.to_string(),
                });
                Ok(None)
            }
        }
    }

    /// Makes every deferred directory from the root down to `dir`; false when one of them
    /// cannot be made (nothing below it is written). Iterative: the deferred chain can be
    /// as deep as the tree.
    fn ensure(&mut self, dir: Option<usize>) -> bool {
        let mut chain: Vec<usize> = Vec::new();
        let mut at = dir;
        while let Some(i) = at {
            match self.dirs[i].state {
                State::Made => break,
                State::Failed => {
                    for j in chain {
                        self.dirs[j].state = State::Failed;
                    }
                    return false;
                }
                State::Deferred => chain.push(i),
            }
            at = self.dirs[i].parent;
        }
        while let Some(i) = chain.pop() {
            if !self.make(i) {
                for j in chain {
                    self.dirs[j].state = State::Failed;
                }
                return false;
            }
        }
        true
    }

    /// Makes the deferred directory `i`, whose parent is made.
    fn make(&mut self, i: usize) -> bool {
        let rel = path_of(&self.dirs, i);
        let placed = self.job.place(&rel);
        let made = match &placed {
            Err(e) => Err(e.clone()),
            Ok(p) if self.job.dry_run => would_make_dir(p.path()),
            Ok(p) => make_dir(p.path()),
        };
        match made {
            Ok(dev) => {
                if !self.job.dry_run
                    && let Ok(p) = &placed
                    && let Err(e) = self.filesystems.add(dev, p.path())
                {
                    self.job.fail(&rel, e);
                    self.dirs[i].state = State::Failed;
                    return false;
                }
                self.dirs[i].state = State::Made;
                self.summary.dirs += 1;
                true
            }
            Err(e) => {
                self.job.fail(&rel, e);
                self.dirs[i].state = State::Failed;
                false
            }
        }
    }

    /// Decides a file and queues it; a full queue is restored at once.
    fn file(&mut self, entry: Entry) {
        let action = self.decide(&entry);
        let size = entry.node.size;
        self.job.chosen(size);
        match action {
            Action::Skip => {
                self.job.progressed(size);
                return;
            }
            _ if self.job.dry_run => {
                self.summary.files += 1;
                self.summary.bytes += size;
                return;
            }
            _ => {}
        }
        let seed = self.seed(&entry, action);
        self.queue.push(Queued {
            entry,
            replaces: action == Action::Overwrite,
            seed,
        });
        self.queued_bytes += size;
        if self.queue.len() >= BATCH_FILES || self.queued_bytes >= BATCH_BYTES {
            self.flush();
        }
    }

    /// Where a file's blobs may already be on disk: the file it replaces under
    /// `if-changed`, or the same path under [`super::RestoreOptions::reuse`].
    fn seed(&self, entry: &Entry, action: Action) -> Option<Seed> {
        if action == Action::Overwrite && self.job.mode == Some(overwrite::Overwrite::IfChanged) {
            return Some(Seed::Dest);
        }
        let path = self.job.reuse.as_ref()?.join(&entry.path);
        std::fs::symlink_metadata(&path)
            .is_ok_and(|m| m.is_file())
            .then_some(Seed::Path(path))
    }

    /// Starts restoring the queued files, then, when [`depth`] batches are in flight,
    /// waits for the oldest: a batch of small files is about one round trip to the store,
    /// so the round trips of several batches overlap.
    fn flush(&mut self) {
        if self.queue.is_empty() {
            return;
        }
        let queue = std::mem::take(&mut self.queue);
        self.queued_bytes = 0;
        if self.job.stopped() {
            return;
        }
        let started = self.job.start_batch(queue, &self.filesystems);
        self.inflight.push_back(started);
        while self.inflight.len() >= self.depth {
            self.settle();
        }
    }

    /// Waits for the oldest batch in flight and counts what it restored.
    fn settle(&mut self) {
        let Some(started) = self.inflight.pop_front() else {
            return;
        };
        for (replaces, n) in self.job.finish_batch(started, self.me_root) {
            self.summary.files += 1;
            self.summary.bytes += n;
            self.summary.overwritten += u64::from(replaces);
        }
        if !self.job.dry_run {
            self.filesystems.kick();
        }
    }

    /// Makes the symlinks, once every file is written.
    fn finish_links(&mut self) {
        for l in std::mem::take(&mut self.links) {
            if self.job.stopped() {
                return;
            }
            let action = self.decide(&l);
            if action == Action::Skip {
                continue;
            }
            if self.job.dry_run {
                self.summary.symlinks += 1;
                continue;
            }
            let made = self
                .job
                .place(&l.path)
                .and_then(|p| fsops::symlink(p.path(), &l.node, self.me_root));
            match made {
                Ok(()) => {
                    self.summary.symlinks += 1;
                    self.summary.overwritten += u64::from(action == Action::Overwrite);
                }
                Err(e) => self.job.fail(&l.path, e),
            }
        }
    }

    /// What happens to a file or symlink entry; counts a skip, and in a dry run lists it.
    fn decide(&mut self, entry: &Entry) -> Action {
        let action = match self.job.place(&entry.path) {
            Ok(dest) => overwrite::decide(&self.job.repo, &entry.node, dest.path(), self.job.mode),
            // The file's own restore meets the same error and reports it.
            Err(_) => Action::Write,
        };
        if action == Action::Skip {
            self.summary.skipped += 1;
        }
        if self.job.dry_run {
            self.summary.planned.push(Planned {
                path: path_text(&entry.path),
                action,
            });
        }
        action
    }
}

/// Batches in flight: each holds up to [`BATCH_FILES`] open descriptors, so as many as a
/// quarter of the soft descriptor limit allows, at least 2 and at most 8.
fn depth() -> usize {
    let soft = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .unwrap_or(u64::MAX);
    (soft / 4 / BATCH_FILES as u64).clamp(2, 8) as usize
}

/// The path of directory `i` relative to the target, from the names of its chain.
fn path_of(dirs: &[Dir], i: usize) -> PathBuf {
    let mut names = Vec::new();
    let mut at = Some(i);
    while let Some(j) = at {
        names.push(dirs[j].name.as_os_str());
        at = dirs[j].parent;
    }
    names.iter().rev().collect()
}

fn path_text(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}
