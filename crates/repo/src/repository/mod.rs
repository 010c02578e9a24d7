//! The repository handle: `init` writes the key file and `config`; [`crate::open`]
//! unwraps the master key with the password; [`Repository::load_index`] turns an opened repository
//! into an [`IndexedRepository`], the only type that can read blobs or back up.
//!
//! Every object named by its hash (`keys/<id>`, `index/<id>`, `snapshots/<id>`, and a
//! pack `data/xx/<id>` read whole) is checked on read: the BLAKE3 of its bytes must be
//! its name, else it is [`Error::Corrupt`] ("content does not match its name"). An
//! object copied over another therefore never passes for the other, from the store or
//! from the local cache; a cached copy that fails the check is dropped and downloaded
//! once more.
//!
//! A read that fails its check (the name, or a blob's authentication) is repeated up to
//! [`REREADS`] times before the object counts as damaged: a byte changed on the way (a
//! faulty network, proxy or disk cache) is not damage of the stored object, and one
//! read that passes is enough. Stored damage fails every read.

use std::sync::Arc;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use holdfast_store::{ErrorKind, ListOptions, Store};
use serde::{Deserialize, Serialize};

mod indexed;
mod pick;
pub use indexed::IndexedRepository;
pub use pick::{Picked, Restorable};

use crate::cache::Cache;
use crate::chunker::Chunker;
use crate::crypto::{KdfParams, KeyFile, Keys, MasterKey};
use crate::error::{Error, Result};
use crate::id::Id;
use crate::index::{Index, MarkedIndexFile};
use crate::snapshot::{Snapshot, snapshot_key};

/// The format version this code writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// When the store wrote an object, if it says.
type Written = Option<chrono::DateTime<chrono::Utc>>;
/// A snapshot and its id.
type SnapshotEntry = (Id, Snapshot);
/// A readable snapshot and when it was stored.
type StoredSnapshot = (Id, Snapshot, Written);
/// An unreadable snapshot's key, error and when it was stored.
type BadSnapshot = (String, Error, Written);

/// The plain `config` object.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Config {
    /// Format version.
    pub version: u32,
    /// Random repository id, 64 hex digits.
    pub id: String,
    /// When the repository was made.
    pub created: chrono::DateTime<chrono::Utc>,
}

/// Options of [`init`].
#[derive(Clone, Debug)]
pub struct InitOptions {
    /// The password that wraps the master key.
    pub password: String,
    /// Argon2id cost (default: 64 MiB, 3 passes).
    pub kdf: KdfParams,
}

/// Options of [`open`].
#[derive(Clone, Debug, Default)]
pub struct OpenOptions {
    /// The repository password.
    pub password: String,
    /// Cache index files and trees locally (for remote stores); `None` picks the default
    /// (on for non-local stores).
    pub cache: Option<bool>,
}

pub(crate) struct Inner {
    pub(crate) store: Store,
    pub(crate) config: Config,
    pub(crate) keys: Keys,
    pub(crate) master: MasterKey,
    /// The key file the password opened (`keys/<id>`).
    pub(crate) key_file: String,
    pub(crate) chunker: Chunker,
    pub(crate) cache: Option<Cache>,
}

/// An opened repository: keys unwrapped, index not loaded. Cheap to clone.
#[derive(Clone)]
pub struct Repository {
    pub(crate) inner: Arc<Inner>,
}

fn store_err(e: holdfast_store::Error, what: &str) -> Error {
    if e.kind() == ErrorKind::NotFound {
        Error::not_found(what)
    } else {
        Error::Store(Box::new(e))
    }
}

/// How many more times a read that fails its check is repeated before the object counts
/// as damaged (see the module doc). One repeat was not enough: with bytes changed on a
/// quarter of all connections, two damaged reads in a row came often enough to report a
/// sound pack as damaged.
pub(crate) const REREADS: usize = 3;

/// Reads an object named by its hash and checks the name, reading it again (up to
/// [`REREADS`] times) while a copy fails the check.
pub(crate) async fn read_checked(store: &Store, key: &str) -> Result<Bytes> {
    let b = store.read(key).await.map_err(|e| store_err(e, key))?;
    let Err(first) = check_name(key, &b) else {
        return Ok(b);
    };
    for n in 1..=REREADS {
        let again = store.read(key).await.map_err(|e| store_err(e, key))?;
        if check_name(key, &again).is_ok() {
            tracing::warn!(
                "a read of {key} did not match its name; read {} did: {first}",
                n + 1
            );
            return Ok(again);
        }
    }
    Err(first)
}

/// Checks that `bytes` hash to the id that ends `key` (an object named by its hash).
pub(crate) fn check_name(key: &str, bytes: &[u8]) -> Result<()> {
    let name = key.rsplit('/').next().unwrap_or_default();
    let id: Id = name
        .parse()
        .map_err(|_| Error::corrupt(key, "name is not an id"))?;
    if Id::hash(bytes) != id {
        return Err(Error::corrupt(
            key,
            format!(
                "content does not match its name (hashes to {})",
                Id::hash(bytes)
            ),
        ));
    }
    Ok(())
}

impl From<holdfast_store::Error> for Error {
    fn from(e: holdfast_store::Error) -> Self {
        Error::Store(Box::new(e))
    }
}

/// Creates a repository on `store`; fails if one exists.
pub async fn init(store: Store, opts: &InitOptions) -> Result<Repository> {
    if store.file_exists("config").await? {
        return Err(Error::AlreadyExists {
            repo: store.url().to_owned(),
        });
    }
    let mut rid = [0u8; 32];
    crate::crypto::random_bytes(&mut rid)?;
    let config = Config {
        version: FORMAT_VERSION,
        id: hex::encode(rid),
        created: chrono::Utc::now(),
    };
    let master = MasterKey::generate()?;
    let kf = KeyFile::wrap(&master, opts.password.as_bytes(), &config.id, opts.kdf)?;
    let kf_bytes = serde_json::to_vec_pretty(&kf).map_err(|e| Error::Internal(e.to_string()))?;
    let key_file = format!("keys/{}", Id::hash(&kf_bytes));
    store.write(&key_file, Bytes::from(kf_bytes)).await?;
    let cfg = serde_json::to_vec_pretty(&config).map_err(|e| Error::Internal(e.to_string()))?;
    if store.capabilities().await.write_if_absent {
        store
            .write_if_absent("config", Bytes::from(cfg))
            .await
            .map_err(|e| match e.kind() {
                ErrorKind::AlreadyExists => Error::AlreadyExists {
                    repo: store.url().to_owned(),
                },
                _ => e.into(),
            })?;
    } else {
        store.write("config", Bytes::from(cfg)).await?;
    }
    Ok(Repository::assemble(
        store,
        config,
        &master,
        key_file,
        Some(false),
    ))
}

impl Repository {
    pub(crate) fn assemble(
        store: Store,
        config: Config,
        master: &MasterKey,
        key_file: String,
        cache: Option<bool>,
    ) -> Repository {
        let keys = Keys::derive(master);
        let chunker = Chunker::new(keys.chunker_seed());
        let use_cache = cache.unwrap_or(store.local_root().is_none());
        let cache = if use_cache {
            Cache::open(&config.id)
        } else {
            None
        };
        Repository {
            inner: Arc::new(Inner {
                store,
                config,
                keys,
                master: master.clone(),
                key_file,
                chunker,
                cache,
            }),
        }
    }

    /// The underlying store.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The repository config.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The key file (`keys/<id>`) the password opened.
    pub fn key_file(&self) -> &str {
        &self.inner.key_file
    }

    /// The subkeys.
    pub(crate) fn keys(&self) -> &Keys {
        &self.inner.keys
    }

    /// Reads an object; a missing object is [`Error::NotFound`] naming the key.
    pub(crate) async fn read(&self, key: &str) -> Result<Bytes> {
        self.inner
            .store
            .read(key)
            .await
            .map_err(|e| store_err(e, key))
    }

    /// Reads an object named by its hash and checks the name ([`read_checked`]).
    pub(crate) async fn read_named(&self, key: &str) -> Result<Bytes> {
        read_checked(&self.inner.store, key).await
    }

    /// Reads an object named by its hash through the local cache (when enabled),
    /// checking the name; a cached copy that fails the check is dropped and downloaded.
    pub(crate) async fn read_cached(&self, key: &str) -> Result<Bytes> {
        if let Some(c) = &self.inner.cache
            && let Some(b) = c.get(key)
        {
            match check_name(key, &b) {
                Ok(()) => return Ok(b),
                Err(e) => {
                    tracing::warn!("dropping the cached copy of {key}: {e}");
                    c.remove(key);
                }
            }
        }
        let b = self.read_named(key).await?;
        if let Some(c) = &self.inner.cache {
            c.put(key, &b);
        }
        Ok(b)
    }

    /// Drops a cached object that failed to authenticate.
    pub(crate) fn uncache(&self, key: &str) {
        if let Some(c) = &self.inner.cache {
            c.remove(key);
        }
    }

    /// Keys of all objects under `prefix`.
    pub(crate) async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        let opts = ListOptions {
            recursive: true,
            filter: None,
        };
        Ok(self
            .inner
            .store
            .list(prefix, opts)
            .map_ok(|m| m.key)
            .try_collect()
            .await?)
    }

    /// Reads and authenticates a cached object with `parse`, re-downloading once when the
    /// cached copy fails.
    async fn read_parsed<T>(&self, key: &str, parse: impl Fn(&[u8]) -> Result<T>) -> Result<T> {
        let bytes = self.read_cached(key).await?;
        match parse(&bytes) {
            Err(Error::Corrupt { .. }) if self.inner.cache.is_some() => {
                self.uncache(key);
                parse(&self.read_named(key).await?)
            }
            other => other,
        }
    }

    /// Every snapshot, oldest first. Fails on the first unreadable snapshot.
    pub async fn snapshots(&self) -> Result<Vec<(Id, Snapshot)>> {
        let (list, errors) = self.snapshots_lenient().await?;
        match errors.into_iter().next() {
            Some((_, e)) => Err(e),
            None => Ok(list),
        }
    }

    /// Every readable snapshot, oldest first, and the keys and errors of the others.
    pub async fn snapshots_lenient(&self) -> Result<(Vec<(Id, Snapshot)>, Vec<(String, Error)>)> {
        let (ok, bad) = self.snapshots_stored().await?;
        Ok((
            ok.into_iter().map(|(id, s, _)| (id, s)).collect(),
            bad.into_iter().map(|(k, e, _)| (k, e)).collect(),
        ))
    }

    /// [`Repository::snapshots_lenient`] with the time the store wrote each object.
    async fn snapshots_stored(&self) -> Result<(Vec<StoredSnapshot>, Vec<BadSnapshot>)> {
        let opts = ListOptions {
            recursive: true,
            filter: None,
        };
        let metas: Vec<holdfast_store::ObjectMeta> = self
            .inner
            .store
            .list("snapshots/", opts)
            .try_collect()
            .await?;
        let results: Vec<(String, Written, Result<SnapshotEntry>)> = futures::stream::iter(metas)
            .map(|meta| async move {
                let key = meta.key;
                let r = async {
                    let name = key.rsplit('/').next().unwrap_or_default();
                    let id: Id = name
                        .parse()
                        .map_err(|_| Error::corrupt(&key, "name is not an id"))?;
                    let snap = self
                        .read_parsed(&key, |b| Snapshot::open(self.keys(), &key, b))
                        .await?;
                    Ok((id, snap))
                }
                .await;
                (key, meta.modified, r)
            })
            .buffer_unordered(16)
            .collect()
            .await;
        let mut ok = Vec::new();
        let mut bad = Vec::new();
        for (key, written, r) in results {
            match r {
                Ok((id, s)) => ok.push((id, s, written)),
                // A store that does not answer says nothing about the snapshot.
                Err(e) if e.is_unavailable() => return Err(e),
                Err(e) => bad.push((key, e, written)),
            }
        }
        ok.sort_by_key(|(id, s, _)| (s.time, *id));
        Ok((ok, bad))
    }

    /// Picks a snapshot by id prefix, `latest` or `latest:VOLUME` among the readable ones
    /// (an unreadable snapshot is skipped with a warning, or is the error when named).
    /// `latest…` fails when an unreadable snapshot was stored after the one it would
    /// pick: that one may be the newer snapshot, and its older neighbour must not pass
    /// for it.
    pub async fn find_snapshot(&self, spec: &str) -> Result<(Id, Snapshot)> {
        let (stored, bad) = self.snapshots_stored().await?;
        for (key, e, _) in &bad {
            tracing::warn!("skipping unreadable snapshot {key}: {e}");
        }
        let written: std::collections::HashMap<Id, Written> =
            stored.iter().map(|(id, _, w)| (*id, *w)).collect();
        let list: Vec<(Id, Snapshot)> = stored.into_iter().map(|(id, s, _)| (id, s)).collect();
        let bad: Vec<(String, Error, Written)> = bad;
        if spec.starts_with("latest")
            && let Ok((id, _)) = crate::snapshot::select(&list, spec)
        {
            let chosen = written.get(id).copied().flatten();
            let newer = bad.iter().find(|(_, _, w)| match (w, chosen) {
                (Some(w), Some(c)) => *w >= c,
                _ => true,
            });
            if let Some((key, e, _)) = newer {
                let reason = match e {
                    Error::Corrupt { reason, .. } => reason.clone(),
                    other => other.to_string(),
                };
                return Err(Error::corrupt(
                    key,
                    format!(
                        "{reason}; it may be newer than snapshot {}, so `{spec}` is \
                         ambiguous (name a snapshot by id, or run `holdfast verify`)",
                        id.short()
                    ),
                ));
            }
        }
        let bad: Vec<(String, Error)> = bad.into_iter().map(|(k, e, _)| (k, e)).collect();
        match crate::snapshot::select(&list, spec) {
            Err(Error::NotFound { .. })
                if bad
                    .iter()
                    .any(|(k, _)| k.rsplit('/').next().is_some_and(|n| n.starts_with(spec))) =>
            {
                let (_, e) = bad
                    .into_iter()
                    .find(|(k, _)| k.rsplit('/').next().is_some_and(|n| n.starts_with(spec)))
                    .ok_or_else(|| Error::not_found(format!("snapshot {spec}")))?;
                Err(e)
            }
            other => other.cloned(),
        }
    }

    /// Loads every index file; fails on the first damaged one.
    pub async fn load_index(&self) -> Result<IndexedRepository> {
        let (index, errors) = self.load_index_lenient().await?;
        match errors.into_iter().next() {
            Some((_, e)) => Err(e),
            None => Ok(index),
        }
    }

    /// Loads every readable index file, and lists the ones that failed.
    pub async fn load_index_lenient(&self) -> Result<(IndexedRepository, Vec<(String, Error)>)> {
        let keys = self.list("index/").await?;
        // Each file is merged as it arrives, so no more than the files in flight are
        // held parsed beside the index.
        let mut files = futures::stream::iter(keys)
            .map(|key| async move {
                let r = self
                    .read_parsed(&key, |b| MarkedIndexFile::open(self.keys(), &key, b))
                    .await;
                (key, r)
            })
            .buffer_unordered(16);
        let mut index = Index::default();
        let mut errors = Vec::new();
        while let Some((key, f)) = files.next().await {
            match f {
                Ok(f) => index.add_marked_file(&f),
                // A store that does not answer says nothing about the index file.
                Err(e) if e.is_unavailable() => return Err(e),
                Err(e) => errors.push((key, e)),
            }
        }
        Ok((
            IndexedRepository {
                repo: self.clone(),
                index: Arc::new(index),
            },
            errors,
        ))
    }

    /// Stores a snapshot (the commit of a backup) and returns its id.
    pub(crate) async fn save_snapshot(&self, snap: &Snapshot) -> Result<Id> {
        let bytes = snap.seal(self.keys())?;
        let id = Id::hash(&bytes);
        self.inner
            .store
            .write(&snapshot_key(&id), Bytes::from(bytes))
            .await?;
        Ok(id)
    }
}
