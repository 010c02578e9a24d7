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

use std::path::{Path, PathBuf};

use globset::GlobSet;

use super::fsops::{self, make_dir, would_make_dir};
use super::{Damaged, Job, Queued, RestoreSummary};
use crate::browse::Entry;
use crate::error::{Error, Result};
use crate::id::Id;
use crate::restore::overwrite::{self, Action, Planned};
use crate::tree::{Node, NodeType};

/// Files restored together (each holds an open descriptor while its batch runs).
pub(super) const BATCH_FILES: usize = 256;
/// Bytes of file content that close a batch (one larger file is a batch of its own).
pub(super) const BATCH_BYTES: u64 = 128 << 20;

/// A directory met by the walk.
struct Dir {
    /// The directory holding it (`None`: the target itself).
    parent: Option<usize>,
    path: PathBuf,
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
/// root), its remaining nodes, and whether the include patterns chose it.
struct Frame {
    dir: Option<usize>,
    path: PathBuf,
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
    filesystems: fsops::Filesystems,
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
            filesystems: fsops::Filesystems::default(),
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
        walk.walk(root_tree.nodes)?;
        walk.flush();
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
        for d in dirs.iter().rev().filter(|d| d.state == State::Made) {
            if let Err(e) = fsops::set_dir_meta(&self.target.join(&d.path), &d.node, me_root) {
                self.fail(&d.path, e);
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
    fn walk(&mut self, root: Vec<Node>) -> Result<()> {
        let mut stack = vec![Frame {
            dir: None,
            path: PathBuf::new(),
            nodes: root.into_iter(),
            chosen: self.include.is_none(),
        }];
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
                stack.pop();
                continue;
            };
            let path = frame.path.join(node.os_name());
            let chosen = frame.chosen || self.include.is_some_and(|s| s.is_match(&path));
            let parent = frame.dir;
            match node.kind {
                NodeType::Dir => {
                    if let Some(f) = self.dir(parent, path, node, chosen)? {
                        stack.push(f);
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

    /// Meets a directory: records it, makes it when chosen, and loads its tree.
    fn dir(
        &mut self,
        parent: Option<usize>,
        path: PathBuf,
        node: Node,
        chosen: bool,
    ) -> Result<Option<Frame>> {
        let subtree = node.subtree;
        self.dirs.push(Dir {
            parent,
            path: path.clone(),
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
                path,
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
    /// cannot be made (nothing below it is written).
    fn ensure(&mut self, dir: Option<usize>) -> bool {
        let Some(i) = dir else { return true };
        match self.dirs[i].state {
            State::Made => return true,
            State::Failed => return false,
            State::Deferred => {}
        }
        if !self.ensure(self.dirs[i].parent) {
            self.dirs[i].state = State::Failed;
            return false;
        }
        let full = self.job.target.join(&self.dirs[i].path);
        let made = if self.job.dry_run {
            would_make_dir(&full)
        } else {
            make_dir(&full)
        };
        match made {
            Ok(dev) => {
                if !self.job.dry_run
                    && let Err(e) = self.filesystems.add(dev, &full)
                {
                    self.job.fail(&self.dirs[i].path, e);
                    self.dirs[i].state = State::Failed;
                    return false;
                }
                self.dirs[i].state = State::Made;
                self.summary.dirs += 1;
                true
            }
            Err(e) => {
                self.job.fail(&self.dirs[i].path, e);
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
        self.queue.push(Queued {
            entry,
            replaces: action == Action::Overwrite,
        });
        self.queued_bytes += size;
        if self.queue.len() >= BATCH_FILES || self.queued_bytes >= BATCH_BYTES {
            self.flush();
        }
    }

    /// Restores the queued files.
    fn flush(&mut self) {
        if self.queue.is_empty() {
            return;
        }
        let queue = std::mem::take(&mut self.queue);
        self.queued_bytes = 0;
        if self.job.stopped() {
            return;
        }
        let written = self.job.pool.install(|| {
            self.job
                .restore_files(&queue, self.me_root, &self.filesystems)
        });
        for (q, n) in written {
            self.summary.files += 1;
            self.summary.bytes += n;
            self.summary.overwritten += u64::from(q.replaces);
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
            match fsops::symlink(&self.job.target.join(&l.path), &l.node, self.me_root) {
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
        let dest: PathBuf = self.job.target.join(&entry.path);
        let action = overwrite::decide(&self.job.repo, &entry.node, &dest, self.job.mode);
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

fn path_text(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}
