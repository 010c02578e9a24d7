//! Migrating a volume into a store (`file://`, `s3://`, `azblob://`): each file becomes an
//! object named by its path relative to SRC, uploaded in parallel (each write is atomic on
//! every backend). An object store keeps no modes, owners, times or symlinks, so they go to
//! a manifest, `holdfast-migrate.json`, written last: one entry per file, directory and
//! symlink with its mode, owner, modification time, size, symlink target and BLAKE3 hash.
//!
//! A re-run skips files whose previous manifest entry has the same size and modification
//! time and whose object still has that size; the verify pass then hashes every object
//! (streamed back from the store) against its file.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path};

use futures::{StreamExt, TryStreamExt};
use holdfast_store::{ErrorKind, Store};
use serde::{Deserialize, Serialize};

use super::{Entry, MigrateError, MigrateOptions, MigrateReport, canonical_maybe_missing, scan};

/// The manifest object written at the root of the destination.
pub const MANIFEST_KEY: &str = "holdfast-migrate.json";

/// One entry of the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestEntry {
    /// Path relative to the volume, `/`-separated (also the object key of files).
    pub path: String,
    /// `file`, `dir` or `symlink`.
    pub kind: String,
    /// Permission bits.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Modification time, seconds since the epoch.
    pub mtime: i64,
    /// Nanoseconds of the modification time.
    pub mtime_nsec: i64,
    /// Size in bytes (files).
    pub size: u64,
    /// Symlink target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// BLAKE3 of the content, hex (files, after verification).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blake3: Option<String>,
}

fn store_err(op: &'static str, key: &str, e: holdfast_store::Error) -> MigrateError {
    MigrateError::Store {
        op,
        key: key.to_string(),
        source: e,
    }
}

/// The object key of a relative path: `/`-joined UTF-8 components.
fn key_of(rel: &Path) -> Result<String, MigrateError> {
    let mut parts = Vec::new();
    for c in rel.components() {
        match c {
            Component::Normal(p) => parts.push(p.to_str().ok_or_else(|| {
                MigrateError::io(
                    "name",
                    rel,
                    std::io::Error::other("a store key must be UTF-8; rename the file"),
                )
            })?),
            _ => {
                return Err(MigrateError::io(
                    "name",
                    rel,
                    std::io::Error::other("bad path"),
                ));
            }
        }
    }
    Ok(parts.join("/"))
}

fn entry_of(
    rel: &Path,
    meta: &std::fs::Metadata,
    kind: &str,
) -> Result<ManifestEntry, MigrateError> {
    Ok(ManifestEntry {
        path: key_of(rel)?,
        kind: kind.to_string(),
        mode: meta.mode() & 0o7777,
        uid: meta.uid(),
        gid: meta.gid(),
        mtime: meta.mtime(),
        mtime_nsec: meta.mtime_nsec(),
        size: if kind == "file" { meta.len() } else { 0 },
        target: None,
        blake3: None,
    })
}

async fn previous_manifest(store: &Store) -> Result<HashMap<String, ManifestEntry>, MigrateError> {
    match store.read(MANIFEST_KEY).await {
        Ok(bytes) => {
            let entries: Vec<ManifestEntry> = serde_json::from_slice(&bytes).unwrap_or_default();
            Ok(entries.into_iter().map(|e| (e.path.clone(), e)).collect())
        }
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(HashMap::new()),
        Err(e) => Err(store_err("read", MANIFEST_KEY, e)),
    }
}

/// A file as a stream of 1 MiB chunks.
async fn file_stream(
    path: &Path,
) -> std::io::Result<impl futures::Stream<Item = std::io::Result<bytes::Bytes>> + Send + Unpin> {
    use tokio::io::AsyncReadExt;
    let file = tokio::fs::File::open(path).await?;
    Ok(Box::pin(futures::stream::try_unfold(
        file,
        |mut file| async move {
            let mut buf = vec![0u8; 1 << 20];
            let n = file.read(&mut buf).await?;
            if n == 0 {
                return Ok(None);
            }
            buf.truncate(n);
            Ok(Some((bytes::Bytes::from(buf), file)))
        },
    )))
}

async fn upload(
    store: &Store,
    src: &Path,
    entry: &ManifestEntry,
    previous: &HashMap<String, ManifestEntry>,
) -> Result<bool, MigrateError> {
    if let Some(old) = previous.get(&entry.path)
        && old.size == entry.size
        && (old.mtime, old.mtime_nsec) == (entry.mtime, entry.mtime_nsec)
        && store
            .stat(&entry.path)
            .await
            .is_ok_and(|m| m.size == entry.size)
    {
        return Ok(false);
    }
    let path = src.join(&entry.path);
    let stream = file_stream(&path)
        .await
        .map_err(|e| MigrateError::io("read", &path, e))?;
    store
        .write_stream(&entry.path, stream)
        .await
        .map_err(|e| store_err("write", &entry.path, e))?;
    Ok(true)
}

async fn object_hash(store: &Store, key: &str) -> Result<blake3::Hash, MigrateError> {
    let mut hasher = blake3::Hasher::new();
    let mut stream = store
        .read_stream(key)
        .await
        .map_err(|e| store_err("read", key, e))?;
    while let Some(chunk) = stream
        .try_next()
        .await
        .map_err(|e| store_err("read", key, e))?
    {
        hasher.update(&chunk);
    }
    Ok(hasher.finalize())
}

async fn file_hash(path: std::path::PathBuf) -> Result<blake3::Hash, MigrateError> {
    tokio::task::spawn_blocking(move || {
        let mut hasher = blake3::Hasher::new();
        std::fs::File::open(&path)
            .and_then(|f| hasher.update_reader(f).map(|_| ()))
            .map_err(|e| MigrateError::io("read", &path, e))?;
        Ok(hasher.finalize())
    })
    .await
    .map_err(|e| MigrateError::io("hash", Path::new("."), std::io::Error::other(e.to_string())))?
}

/// Copies the directory `src` into `store`, then writes the manifest; see the module doc.
pub async fn migrate_to_store(
    src: &Path,
    store: &Store,
    opts: &MigrateOptions,
) -> Result<MigrateReport, MigrateError> {
    let started = std::time::Instant::now();
    let source_err = |message: String| MigrateError::Source {
        path: src.to_path_buf(),
        message,
    };
    let src = std::fs::canonicalize(src).map_err(|e| source_err(e.to_string()))?;
    if !src.is_dir() {
        return Err(source_err("not a directory".to_string()));
    }
    if let Some(root) = store.local_root() {
        let root =
            canonical_maybe_missing(root).map_err(|e| MigrateError::io("resolve", root, e))?;
        if root.starts_with(&src) || src.starts_with(&root) {
            return Err(MigrateError::Overlap {
                message: format!("store {} and source {} overlap", store.url(), src.display()),
            });
        }
    }
    let mut report = MigrateReport::default();
    let scanned = scan(&src, &mut report)?;
    let mut manifest = Vec::with_capacity(scanned.len());
    for item in &scanned {
        manifest.push(match item {
            Entry::Dir(rel, meta) => entry_of(rel, meta, "dir")?,
            Entry::File(rel, meta) => entry_of(rel, meta, "file")?,
            Entry::Symlink(rel, meta) => {
                let mut e = entry_of(rel, meta, "symlink")?;
                let link = src.join(rel);
                let target = std::fs::read_link(&link)
                    .map_err(|e| MigrateError::io("read link", &link, e))?;
                e.target = Some(target.to_string_lossy().into_owned());
                e
            }
        });
    }
    let previous = previous_manifest(store).await?;
    let workers = opts.workers.clamp(1, 16);
    if let Some(p) = &opts.progress {
        p.set_total(report.bytes);
    }
    let (src_ref, previous_ref) = (&src, &previous);
    let uploads: Vec<bool> = futures::stream::iter(manifest.iter().filter(|e| e.kind == "file"))
        .map(|entry| async move {
            let copied = upload(store, src_ref, entry, previous_ref).await?;
            if let Some(p) = &opts.progress {
                p.add(entry.size);
            }
            Ok::<_, MigrateError>(copied)
        })
        .buffered(workers)
        .try_collect()
        .await?;
    report.copied = uploads.iter().filter(|c| **c).count() as u64;
    report.copied_bytes = manifest
        .iter()
        .filter(|e| e.kind == "file")
        .zip(&uploads)
        .filter(|(_, copied)| **copied)
        .map(|(e, _)| e.size)
        .sum();
    report.skipped = report.files - report.copied;
    if opts.verify {
        let src = &src;
        let hashes: Vec<(usize, blake3::Hash)> = futures::stream::iter(
            manifest
                .iter()
                .enumerate()
                .filter(|(_, e)| e.kind == "file"),
        )
        .map(|(i, e)| async move {
            let (local, remote) =
                futures::try_join!(file_hash(src.join(&e.path)), object_hash(store, &e.path))?;
            if local != remote {
                return Err(MigrateError::Mismatch {
                    count: 1,
                    first: e.path.clone().into(),
                });
            }
            Ok((i, local))
        })
        .buffered(workers)
        .try_collect()
        .await?;
        for (i, hash) in hashes {
            manifest[i].blake3 = Some(hash.to_hex().to_string());
        }
        report.verified = true;
    }
    let text = serde_json::to_vec_pretty(&manifest).map_err(|e| {
        MigrateError::io("encode", Path::new(MANIFEST_KEY), std::io::Error::other(e))
    })?;
    store
        .write(MANIFEST_KEY, text.into())
        .await
        .map_err(|e| store_err("write", MANIFEST_KEY, e))?;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}
