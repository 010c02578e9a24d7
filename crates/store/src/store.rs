//! [`Store`]: one storage API over local disk, memory, S3 and Azure Blob, backed by
//! Apache OpenDAL with a timeout layer inside a retry layer (only temporary errors are
//! retried). Every key is validated before it reaches a backend, every error names the
//! store URL and the key, and every write is atomic: readers see the old object or the
//! whole new one, never a part (on local disk: temp file, fsync, rename, fsync dir).

use std::ops::Range;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::Stream;
use futures::stream::{BoxStream, StreamExt};
use opendal::Operator;
use opendal::layers::{RetryLayer, TimeoutLayer};
use tokio::sync::OnceCell;

use crate::error::{Error, ErrorKind, Result};
use crate::key::{check_file, dir_path};
use crate::location::{Location, Secrets};
use crate::retry::StoreOptions;

/// Directory under a file store's root where writes are staged before their rename; it
/// is never listed.
pub const TEMP_DIR: &str = ".holdfast-tmp";

/// Size of the parts a streamed write sends (multipart uploads on object stores).
const WRITE_CHUNK: usize = 8 * 1024 * 1024;

/// What a backend can do beyond the common operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// `write_if_absent` is honoured: of two racing writers exactly one wins.
    pub write_if_absent: bool,
}

/// Metadata of one stored object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    /// The key, relative to the store root.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// Last modification time, when the backend reports one.
    pub modified: Option<DateTime<Utc>>,
}

/// How [`Store::list`] walks.
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    /// Descend into sub-directories (else only the objects directly under the prefix's
    /// directory).
    pub recursive: bool,
    /// Only keys matching this glob (`*` stays within one segment, `**` crosses them).
    pub filter: Option<String>,
}

/// What [`Store::delete_older_than`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct CleanupReport {
    /// Objects deleted.
    pub deleted: u64,
    /// Bytes those objects held.
    pub bytes: u64,
    /// Objects that could not be inspected or deleted (each logged).
    pub errors: u64,
}

struct Inner {
    op: std::sync::OnceLock<Operator>,
    location: Location,
    secrets: Secrets,
    options: StoreOptions,
    url: String,
    conditional: OnceCell<bool>,
}

/// A store opened from a URL. Cheap to clone; safe to share between tasks.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("url", &self.inner.url)
            .finish()
    }
}

impl Store {
    /// Opens the store at `url`: `file:///abs/dir` (or a plain absolute path),
    /// `memory://`, `s3://bucket/prefix?endpoint=…&region=…` (credentials from
    /// `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`, endpoint and region also from
    /// `AWS_ENDPOINT_URL`/`AWS_REGION`), `azblob://container/prefix?endpoint=…`
    /// (`AZURE_STORAGE_ACCOUNT` + `AZURE_STORAGE_KEY`, or
    /// `AZURE_STORAGE_CONNECTION_STRING`). Credentials may also be written into the URL
    /// (`s3://KEY:SECRET@bucket`, `?access_key_id=…&secret_access_key=…&session_token=…`,
    /// `azblob://ACCOUNT:KEY@container`, `?account_name=…&account_key=…`) and then win
    /// over the environment; they never appear in [`Store::url`], `Debug` or an error.
    /// Retries and timeouts follow [`StoreOptions::from_env`]. Nothing is contacted yet;
    /// a local root is created on first write.
    pub fn open(url: &str) -> Result<Store> {
        Store::open_with(url, StoreOptions::from_env()?)
    }

    /// [`Store::open`] with explicit retry and timeout settings.
    pub fn open_with(url: &str, options: StoreOptions) -> Result<Store> {
        let (location, secrets) = crate::location::parse_with_secrets(url)?;
        Store::build(location, secrets, options)
    }

    /// Opens the store selected by `STORAGE_TYPE` (`LOCAL`, `S3`, `AZURE_BLOB`), or
    /// `None` when it is unset; an unknown type is an error naming the valid ones.
    pub fn from_env() -> Result<Option<Store>> {
        Location::from_env()?.map(Store::at).transpose()
    }

    /// Opens the store at a parsed location (credentials from the environment; retries
    /// and timeouts from [`StoreOptions::from_env`]).
    pub fn at(location: Location) -> Result<Store> {
        Store::build(location, Secrets::default(), StoreOptions::from_env()?)
    }

    fn build(location: Location, secrets: Secrets, options: StoreOptions) -> Result<Store> {
        let url = location.display_url();
        let store = Store {
            inner: Arc::new(Inner {
                op: std::sync::OnceLock::new(),
                location,
                secrets,
                options,
                url,
                conditional: OnceCell::new(),
            }),
        };
        if store.local_root().is_none() {
            store.op()?;
        }
        Ok(store)
    }

    /// The OpenDAL operator, built on first use: building a file store's operator creates
    /// its root, which must not happen on a mere read of a missing directory.
    fn op(&self) -> Result<&Operator> {
        if let Some(op) = self.inner.op.get() {
            return Ok(op);
        }
        let op = self
            .inner
            .location
            .operator(&self.inner.url, &self.inner.secrets)?
            .layer(
                TimeoutLayer::new()
                    .with_timeout(self.inner.options.request_timeout)
                    .with_io_timeout(self.inner.options.request_timeout),
            )
            .layer(
                RetryLayer::new()
                    .with_jitter()
                    .with_max_times(2)
                    .with_min_delay(Duration::from_millis(100))
                    .with_max_delay(Duration::from_secs(1))
                    .with_notify(|ev: opendal::layers::RetryEvent<'_>| {
                        tracing::debug!(
                            "store request {:?} failed (attempt {}), retrying: {}",
                            ev.op,
                            ev.attempt,
                            ev.err
                        );
                    }),
            );
        Ok(self.inner.op.get_or_init(|| op))
    }

    /// A file store whose root directory does not exist (yet): reads find nothing there.
    fn missing_root(&self) -> bool {
        self.local_root().is_some_and(|r| !r.is_dir())
    }

    fn not_found(&self, op: &'static str, key: &str) -> Error {
        Error::new(ErrorKind::NotFound, op, self.url(), key)
            .with_detail("the store directory does not exist")
    }

    /// The store's URL without credentials, for messages.
    pub fn url(&self) -> &str {
        &self.inner.url
    }

    /// The retry and timeout settings.
    pub fn options(&self) -> &StoreOptions {
        &self.inner.options
    }

    /// Runs `attempt` under the retry budget ([`StoreOptions::retry_for`]).
    async fn retry<T, F, Fut>(&self, op: &'static str, key: &str, attempt: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        self.inner
            .options
            .run(op, &self.inner.url, key, attempt)
            .await
    }

    /// The parsed location.
    pub fn location(&self) -> &Location {
        &self.inner.location
    }

    /// The root directory of a file store, `None` for other backends.
    pub fn local_root(&self) -> Option<&Path> {
        match &self.inner.location {
            Location::Fs { root } => Some(root),
            _ => None,
        }
    }

    fn err(&self, e: opendal::Error, op: &'static str, key: &str) -> Error {
        Error::from_dal(e, op, &self.inner.url, key)
    }

    /// What this backend can do. Conditional writes are probed once against the real
    /// server (some S3 servers accept `If-None-Match` and ignore it): a probe object is
    /// written twice under `.holdfast-probe/` and removed. A server that cannot be reached
    /// reports no conditional writes this time and is probed again next time.
    pub async fn capabilities(&self) -> Capabilities {
        let write_if_absent = self.conditional().await.unwrap_or(false);
        Capabilities { write_if_absent }
    }

    /// Whether conditional writes are honoured, probed once; an unavailable server is an
    /// error, not a "no" that would stick.
    async fn conditional(&self) -> Result<bool> {
        self.inner
            .conditional
            .get_or_try_init(|| async { self.probe_conditional().await })
            .await
            .copied()
    }

    async fn probe_conditional(&self) -> Result<bool> {
        if self.local_root().is_some() || matches!(self.inner.location, Location::Memory) {
            return Ok(true);
        }
        let op = self.op()?;
        if !op.info().capability().write_with_if_not_exists {
            return Ok(false);
        }
        let key = format!(".holdfast-probe/{}", uuid::Uuid::new_v4());
        let write = |n: &'static [u8]| {
            let (op, key) = (op.clone(), key.clone());
            async move {
                match op
                    .write_with(&key, Bytes::from_static(n))
                    .if_not_exists(true)
                    .await
                {
                    Ok(_) => Ok(true),
                    Err(e) if dal_kind_is(&e, ErrorKind::Unavailable) => {
                        Err(self.err(e, "probe", &key))
                    }
                    Err(_) => Ok(false),
                }
            }
        };
        let first = self.retry("probe", &key, || write(b"1")).await?;
        let second = self.retry("probe", &key, || write(b"2")).await;
        let _ = op.delete(&key).await;
        Ok(first && !second?)
    }

    /// Reads a whole object. Missing → [`ErrorKind::NotFound`].
    pub async fn read(&self, key: &str) -> Result<Bytes> {
        check_file("read", self.url(), key)?;
        if self.missing_root() {
            return Err(self.not_found("read", key));
        }
        let op = self.op()?;
        self.retry("read", key, || async {
            op.read(key)
                .await
                .map(|b| b.to_bytes())
                .map_err(|e| self.err(e, "read", key))
        })
        .await
    }

    /// Reads bytes `range` of an object; a range past the end is
    /// [`ErrorKind::InvalidRange`] (or a short read where the backend clips it).
    pub async fn read_range(&self, key: &str, range: Range<u64>) -> Result<Bytes> {
        check_file("read", self.url(), key)?;
        if self.missing_root() {
            return Err(self.not_found("read", key));
        }
        if range.start >= range.end {
            return Ok(Bytes::new());
        }
        let op = self.op()?;
        self.retry("read", key, || async {
            op.read_with(key)
                .range(range.clone())
                .await
                .map(|b| b.to_bytes())
                .map_err(|e| self.err(e, "read", key))
        })
        .await
    }

    /// Streams an object in pieces; memory stays bounded whatever the object's size. A
    /// body that stops mid-way is reopened where it stopped (see
    /// [`StoreOptions::retry_for`]).
    pub async fn read_stream(&self, key: &str) -> Result<BoxStream<'static, Result<Bytes>>> {
        self.read_stream_range(key, None).await
    }

    /// Streams `range` of an object (all of it when `None`).
    pub async fn read_stream_range(
        &self,
        key: &str,
        range: Option<Range<u64>>,
    ) -> Result<BoxStream<'static, Result<Bytes>>> {
        check_file("read", self.url(), key)?;
        if self.missing_root() {
            return Err(self.not_found("read", key));
        }
        let op = self.op()?.clone();
        crate::stream::open(op, self.url(), key, range, &self.inner.options).await
    }

    /// Writes a whole object atomically, replacing any previous one.
    pub async fn write(&self, key: &str, data: Bytes) -> Result<()> {
        check_file("write", self.url(), key)?;
        if let Some(root) = self.local_root() {
            let one = futures::stream::iter([Ok(data)]);
            return crate::local::write_stream(self.url(), root, key, one)
                .await
                .map(|_| ());
        }
        let op = self.op()?;
        self.retry("write", key, || async {
            op.write(key, data.clone())
                .await
                .map(|_| ())
                .map_err(|e| self.err(e, "write", key))
        })
        .await
    }

    /// Writes an object from a stream atomically and returns its size. On error the
    /// partial upload is aborted and the previous object (if any) is untouched.
    pub async fn write_stream<S>(&self, key: &str, mut stream: S) -> Result<u64>
    where
        S: Stream<Item = std::io::Result<Bytes>> + Send + Unpin,
    {
        check_file("write", self.url(), key)?;
        if let Some(root) = self.local_root() {
            return crate::local::write_stream(self.url(), root, key, stream).await;
        }
        let op = self.op()?;
        let mut w = self
            .retry("write", key, || async {
                op.writer_with(key)
                    .chunk(WRITE_CHUNK)
                    .concurrent(4)
                    .await
                    .map_err(|e| self.err(e, "write", key))
            })
            .await?;
        let mut size = 0u64;
        while let Some(piece) = stream.next().await {
            let res = match piece {
                Ok(b) => {
                    size += b.len() as u64;
                    w.write(b).await.map_err(|e| self.err(e, "write", key))
                }
                Err(e) => Err(Error::from_io(e, "write", self.url(), key)),
            };
            if let Err(e) = res {
                let _ = w.abort().await;
                return Err(e);
            }
        }
        w.close().await.map_err(|e| self.err(e, "write", key))?;
        Ok(size)
    }

    /// Writes an object only if no object has that key: of two racing writers exactly
    /// one succeeds and the other gets [`ErrorKind::AlreadyExists`]. Backends that cannot
    /// guarantee this (see [`Store::capabilities`]) return [`ErrorKind::Unsupported`].
    pub async fn write_if_absent(&self, key: &str, data: Bytes) -> Result<()> {
        check_file("write", self.url(), key)?;
        if let Some(root) = self.local_root() {
            return crate::local::write_if_absent(self.url(), root.to_path_buf(), key, data).await;
        }
        if !self.conditional().await? {
            return Err(Error::new(ErrorKind::Unsupported, "write", self.url(), key)
                .with_detail("this server does not honour conditional writes"));
        }
        let op = self.op()?;
        let tries = std::sync::atomic::AtomicU32::new(0);
        self.retry("write", key, || async {
            let retried = tries.fetch_add(1, std::sync::atomic::Ordering::Relaxed) > 0;
            match op.write_with(key, data.clone()).if_not_exists(true).await {
                Ok(_) => Ok(()),
                // An earlier attempt that seemed to fail may have landed: ours if the
                // bytes are ours.
                Err(e) if retried && dal_kind_is(&e, ErrorKind::AlreadyExists) => {
                    match op.read(key).await {
                        Ok(b) if b.to_bytes() == data => Ok(()),
                        _ => Err(self.err(e, "write", key)),
                    }
                }
                Err(e) => Err(self.err(e, "write", key)),
            }
        })
        .await
    }

    /// Size and modification time of an object. Missing → [`ErrorKind::NotFound`].
    pub async fn stat(&self, key: &str) -> Result<ObjectMeta> {
        check_file("stat", self.url(), key)?;
        if self.missing_root() {
            return Err(self.not_found("stat", key));
        }
        let op = self.op()?;
        let m = self
            .retry("stat", key, || async {
                op.stat(key).await.map_err(|e| self.err(e, "stat", key))
            })
            .await?;
        if m.is_dir() {
            return Err(Error::new(ErrorKind::NotFound, "stat", self.url(), key)
                .with_detail("is a directory"));
        }
        Ok(meta(key, &m))
    }

    /// True when an object (not a directory) exists at `key`.
    pub async fn file_exists(&self, key: &str) -> Result<bool> {
        match self.stat(key).await {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Deletes an object; deleting an absent object succeeds.
    pub async fn delete_file(&self, key: &str) -> Result<()> {
        check_file("delete", self.url(), key)?;
        if self.missing_root() {
            return Ok(());
        }
        let op = self.op()?;
        self.retry("delete", key, || async {
            match op.delete(key).await {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == opendal::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(self.err(e, "delete", key)),
            }
        })
        .await
    }

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

/// True when OpenDAL's error maps to `kind`.
fn dal_kind_is(e: &opendal::Error, kind: ErrorKind) -> bool {
    Error::from_dal_ref(e) == kind
}

fn path_prefix(dir: &str) -> String {
    if dir == "/" {
        String::new()
    } else {
        dir.to_string()
    }
}

fn is_internal(path: &str) -> bool {
    path.starts_with(TEMP_DIR) || path.starts_with(".holdfast-probe/")
}

fn meta(key: &str, m: &opendal::Metadata) -> ObjectMeta {
    ObjectMeta {
        key: key.to_string(),
        size: m.content_length(),
        modified: m
            .last_modified()
            .map(|t| DateTime::<Utc>::from(std::time::SystemTime::from(t))),
    }
}
