//! Directories, listing and age-based cleanup of a [`Store`]: listings page lazily and
//! resume after transient failures ([`crate::stream::list`]); internal names (the temp
//! dir, conditional-write probes) are never listed.

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::stream::{BoxStream, StreamExt};

use super::{CleanupReport, ListOptions, ObjectMeta, Store, TEMP_DIR};
use crate::error::{Error, ErrorKind, Result};
use crate::key::dir_path;

impl Store {
    /// Makes sure a directory exists (object stores keep a `dir/` marker); idempotent.
    pub async fn ensure_dir(&self, dir: &str) -> Result<()> {
        let path = dir_path("mkdir", self.url(), dir)?;
        if path == "/" {
            return Ok(());
        }
        if let Some(root) = self.local_root() {
            let full = root.join(path.trim_end_matches('/'));
            let (url, d) = (self.inner.url.clone(), dir.to_string());
            return tokio::task::spawn_blocking(move || {
                crate::local::create_dir_all_durable(&full)
                    .map(|_| ())
                    .map_err(|e| Error::from_io(e, "mkdir", &url, &d))
            })
            .await
            .map_err(|e| Error::new(ErrorKind::Other, "mkdir", self.url(), dir).with_source(e))?;
        }
        let op = self.op()?;
        self.retry("mkdir", dir, || async {
            op.create_dir(&path)
                .await
                .map_err(|e| self.err(e, "mkdir", dir))
        })
        .await
    }

    /// True when the directory exists or any object lies under it.
    pub async fn dir_exists(&self, dir: &str) -> Result<bool> {
        let path = dir_path("stat", self.url(), dir)?;
        if self.missing_root() {
            return Ok(false);
        }
        self.retry("stat", dir, || self.dir_exists_once(&path, dir))
            .await
    }

    async fn dir_exists_once(&self, path: &str, dir: &str) -> Result<bool> {
        let op = self.op()?;
        if path != "/" {
            match op.stat(path).await {
                Ok(m) if m.is_dir() => return Ok(true),
                Ok(_) => {}
                Err(e) if e.kind() == opendal::ErrorKind::NotFound => {}
                Err(e) => return Err(self.err(e, "stat", dir)),
            }
        }
        let mut lister = match op.lister(path).await {
            Ok(l) => l,
            Err(e) if e.kind() == opendal::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(self.err(e, "list", dir)),
        };
        while let Some(entry) = lister.next().await {
            let entry = entry.map_err(|e| self.err(e, "list", dir))?;
            if entry.path() != path && !is_internal(entry.path()) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Deletes a directory. Without `recursive` it must be empty
    /// ([`ErrorKind::DirectoryNotEmpty`] otherwise); with it, everything below goes. A
    /// missing directory succeeds.
    pub async fn delete_dir(&self, dir: &str, recursive: bool) -> Result<()> {
        let path = dir_path("rmdir", self.url(), dir)?;
        if self.missing_root() {
            return Ok(());
        }
        if !recursive
            && self
                .list(&path_prefix(&path), ListOptions::default())
                .next()
                .await
                .is_some()
        {
            return Err(Error::new(
                ErrorKind::DirectoryNotEmpty,
                "rmdir",
                self.url(),
                dir,
            ));
        }
        let op = self.op()?;
        self.retry("rmdir", dir, || async {
            let res = if recursive {
                op.delete_with(&path).recursive(true).await
            } else if path == "/" {
                Ok(())
            } else {
                op.delete(&path).await
            };
            match res {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == opendal::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(self.err(e, "rmdir", dir)),
            }
        })
        .await
    }

    /// Lists the objects (not directories) whose key starts with `prefix`, lazily, a page
    /// at a time: `""` is everything, `"snapshots/"` one directory, `"logs/app-"` a name
    /// prefix. Without `recursive`, only objects directly in the prefix's directory.
    pub fn list(&self, prefix: &str, opts: ListOptions) -> BoxStream<'static, Result<ObjectMeta>> {
        let store = self.clone();
        let prefix = prefix.to_string();
        futures::stream::once(async move {
            match store.list_inner(prefix, opts).await {
                Ok(s) => s,
                Err(e) => futures::stream::iter([Err(e)]).boxed(),
            }
        })
        .flatten()
        .boxed()
    }

    async fn list_inner(
        self,
        prefix: String,
        opts: ListOptions,
    ) -> Result<BoxStream<'static, Result<ObjectMeta>>> {
        let dir = match prefix.rfind('/') {
            Some(i) => &prefix[..=i],
            None => "",
        };
        let dir = dir_path("list", self.url(), dir)?;
        let filter = match &opts.filter {
            Some(g) => Some(
                globset::GlobBuilder::new(g)
                    .literal_separator(true)
                    .build()
                    .map_err(|e| {
                        Error::new(ErrorKind::InvalidKey, "list", self.url(), &prefix)
                            .with_detail(e)
                    })?
                    .compile_matcher(),
            ),
            None => None,
        };
        let keep = move |m: &Result<ObjectMeta>| match m {
            Ok(m) => {
                !is_internal(&m.key)
                    && m.key.starts_with(&prefix)
                    && filter.as_ref().is_none_or(|f| f.is_match(&m.key))
            }
            Err(_) => true,
        };
        if let Some(root) = self.local_root().map(Path::to_path_buf) {
            let (tx, rx) = tokio::sync::mpsc::channel(256);
            let url = self.inner.url.clone();
            let rel_dir = if dir == "/" { String::new() } else { dir };
            tokio::task::spawn_blocking(move || {
                crate::local::list(&url, &root, &rel_dir, opts.recursive, |item| {
                    !keep(&item) || tx.blocking_send(item).is_ok()
                })
            });
            let stream =
                futures::stream::unfold(
                    rx,
                    |mut rx| async move { rx.recv().await.map(|i| (i, rx)) },
                );
            return Ok(stream.boxed());
        }
        let op = self.op()?.clone();
        let entries = crate::stream::list(
            op,
            &self.inner.url,
            dir,
            opts.recursive,
            &self.inner.options,
            &self.inner.outage,
        );
        Ok(entries
            .filter(|e| {
                futures::future::ready(!matches!(e, Ok(entry) if entry.metadata().is_dir()))
            })
            .map(|e| e.map(|entry| meta(entry.path(), entry.metadata())))
            .filter(move |m| futures::future::ready(keep(m)))
            .boxed())
    }

    /// Removes this store's temp files (a file store's `.holdfast-tmp/`) last modified
    /// more than `older_than` ago: what writes that were killed left behind. A write in
    /// flight keeps its file fresh; one paused for longer than `older_than` fails
    /// cleanly (its rename finds nothing) rather than leaving a partial object. Other
    /// backends keep no temp files: an empty report.
    pub async fn remove_stale_temp(&self, older_than: Duration) -> Result<CleanupReport> {
        let Some(root) = self.local_root().map(Path::to_path_buf) else {
            return Ok(CleanupReport::default());
        };
        let url = self.inner.url.clone();
        tokio::task::spawn_blocking(move || {
            crate::local::remove_stale_temp(&url, &root, older_than)
        })
        .await
        .map_err(|e| Error::new(ErrorKind::Other, "cleanup", self.url(), TEMP_DIR).with_source(e))?
    }

    /// Deletes every object under `dir` last modified before `cutoff` and says how many
    /// and how many bytes. It goes on past objects it cannot delete (counted in
    /// `errors`); a missing directory is an empty report.
    pub async fn delete_older_than(
        &self,
        dir: &str,
        cutoff: DateTime<Utc>,
    ) -> Result<CleanupReport> {
        let path = dir_path("cleanup", self.url(), dir)?;
        let mut report = CleanupReport::default();
        let mut entries = self.list(
            &path_prefix(&path),
            ListOptions {
                recursive: true,
                filter: None,
            },
        );
        while let Some(entry) = entries.next().await {
            let entry = match entry {
                Ok(e) => e,
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => {
                    tracing::warn!("{e}");
                    report.errors += 1;
                    continue;
                }
            };
            if entry.modified.is_none_or(|m| m >= cutoff) {
                continue;
            }
            match self.delete_file(&entry.key).await {
                Ok(()) => {
                    report.deleted += 1;
                    report.bytes += entry.size;
                }
                Err(e) => {
                    tracing::warn!("{e}");
                    report.errors += 1;
                }
            }
        }
        Ok(report)
    }
}

pub(super) fn path_prefix(dir: &str) -> String {
    if dir == "/" {
        String::new()
    } else {
        dir.to_string()
    }
}

pub(super) fn is_internal(path: &str) -> bool {
    path.starts_with(TEMP_DIR) || path.starts_with(".holdfast-probe/")
}

pub(super) fn meta(key: &str, m: &opendal::Metadata) -> ObjectMeta {
    ObjectMeta {
        key: key.to_string(),
        size: m.content_length(),
        modified: m
            .last_modified()
            .map(|t| DateTime::<Utc>::from(std::time::SystemTime::from(t))),
    }
}
