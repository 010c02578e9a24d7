//! [`Store`]: one storage API over local disk, memory, S3 and Azure Blob, backed by
//! Apache OpenDAL with a timeout layer inside a retry layer, and an outer retry loop
//! with a time budget ([`crate::StoreOptions`]): transient failures end as
//! [`ErrorKind::Unavailable`], never as a missing object. Every key is validated before
//! it reaches a backend, every error names the store URL and the key, and every write
//! is atomic: readers see the old object or the whole new one, never a part (on local
//! disk: temp file, fsync, rename, fsync dir; new directories fsynced into their
//! parent).

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
use crate::key::check_file;
use crate::location::{Location, Secrets};
use crate::retry::{Outage, StoreOptions};

mod dirs;
use dirs::meta;

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
    /// Whether an outage of this store was announced (shared by its operations).
    outage: Arc<Outage>,
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
                outage: Arc::default(),
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
            .run(&self.inner.outage, op, &self.inner.url, key, attempt)
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
        let (options, outage) = (&self.inner.options, &self.inner.outage);
        crate::stream::open(op, self.url(), key, range, options, outage).await
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
            let meta = op
                .write(key, data.clone())
                .await
                .map_err(|e| self.upload_err(e, "write", key))?;
            // A damaged upload that landed is replaced by the next attempt.
            self.check_upload(&meta, &data, key)
        })
        .await
    }

    /// The error of an upload; one the server refused because the body did not match
    /// the checksum sent with it (damaged on the way) is worth another attempt.
    fn upload_err(&self, e: opendal::Error, op: &'static str, key: &str) -> Error {
        let refused = crate::integrity::damaged_on_the_way(&e);
        let err = self.err(e, op, key);
        if refused {
            Error::new(ErrorKind::Unavailable, op, self.url(), key)
                .with_detail(crate::integrity::DAMAGED_UPLOAD)
                .with_source(err)
        } else {
            err
        }
    }

    /// Compares the MD5 a server reports for what it stored (Azure Blob does) with the
    /// bytes sent: a mismatch is an upload damaged on the way, to be sent again.
    fn check_upload(&self, meta: &opendal::Metadata, data: &Bytes, key: &str) -> Result<()> {
        if crate::integrity::md5_matches(meta.content_md5(), data) {
            Ok(())
        } else {
            Err(Error::new(ErrorKind::Unavailable, "write", self.url(), key)
                .with_detail(crate::integrity::DAMAGED_UPLOAD))
        }
    }

    /// Writes an object from a stream atomically and returns its size. On error the
    /// partial upload is aborted and the previous object (if any) is untouched. The
    /// stream cannot be replayed, so on an object store each part is retried only a few
    /// times at once; a longer outage fails the write with [`ErrorKind::Unavailable`]
    /// ([`Store::write`] rides out the whole retry budget).
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
                Ok(meta) => match self.check_upload(&meta, &data, key) {
                    Ok(()) => Ok(()),
                    Err(damaged) => {
                        // Ours, and damaged: removed so the next attempt can create it.
                        op.delete(key)
                            .await
                            .map_err(|e| self.err(e, "write", key))?;
                        Err(damaged)
                    }
                },
                // An earlier attempt that seemed to fail may have landed: ours if the
                // bytes are ours.
                Err(e) if retried && dal_kind_is(&e, ErrorKind::AlreadyExists) => {
                    match op.read(key).await {
                        Ok(b) if b.to_bytes() == data => Ok(()),
                        _ => Err(self.err(e, "write", key)),
                    }
                }
                Err(e) => Err(self.upload_err(e, "write", key)),
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
}

/// True when OpenDAL's error maps to `kind`.
fn dal_kind_is(e: &opendal::Error, kind: ErrorKind) -> bool {
    Error::from_dal_ref(e) == kind
}
