//! Helpers of the unit tests: an in-memory repository, incompressible data, and trees and
//! snapshots written as a hostile client would.

use bytes::Bytes;
use serde_json::json;

use crate::index::{IndexFile, IndexPack};
use crate::pack::{BlobType, PackWriter, pack_key};
use crate::repository::Repository;
use crate::snapshot::Snapshot;
use crate::{Error, Id};

/// `len` incompressible bytes from a fixed-seed xorshift generator.
pub(crate) fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A fresh repository in memory with the password "one" (fast key derivation).
pub(crate) async fn memory_repo() -> crate::Result<Repository> {
    let store = holdfast_store::Store::open("memory://")?;
    let opts = crate::repository::InitOptions {
        password: "one".into(),
        kdf: crate::crypto::KdfParams::insecure_fast(),
    };
    crate::repository::init(store, &opts).await
}

/// Options that open a repository with `password`, without the local cache.
pub(crate) fn with(password: &str) -> crate::OpenOptions {
    crate::OpenOptions {
        password: password.into(),
        cache: Some(false),
    }
}

/// A snapshot with every figure zero and a dummy tree: the fixture of the unit tests
/// that select, filter and forget snapshots.
pub(crate) fn bare_snapshot(
    time: chrono::DateTime<chrono::Utc>,
    hostname: &str,
    root: &str,
    volume: Option<&str>,
    tags: &[&str],
) -> Snapshot {
    Snapshot {
        version: 1,
        time,
        hostname: hostname.into(),
        root: root.into(),
        volume: volume.map(String::from),
        tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        tree: Id::hash(b"t"),
        parent: None,
        files: 0,
        dirs: 0,
        size: 0,
        added: 0,
        incomplete: false,
        errors: vec![],
        original: None,
        shrunk: None,
    }
}

/// Stores tree blobs as written by a hostile client and a snapshot of the first one.
pub(crate) async fn hostile_snapshot(
    repo: &Repository,
    trees: &[serde_json::Value],
) -> crate::Result<Snapshot> {
    let mut w = PackWriter::new();
    let mut ids = Vec::new();
    for t in trees {
        let bytes = serde_json::to_vec(t).map_err(|e| Error::Internal(e.to_string()))?;
        let id = repo.keys().blob_id(&bytes);
        w.add(
            id,
            BlobType::Tree,
            &repo.keys().seal(&id.0, &bytes, 0)?,
            bytes.len(),
        );
        ids.push(id);
    }
    let pack = w.finish(repo.keys())?;
    repo.store().write(&pack_key(&pack.id), pack.bytes).await?;
    let index = IndexFile {
        packs: vec![IndexPack {
            id: pack.id,
            blobs: pack.blobs,
        }],
    };
    let sealed = index.seal(repo.keys())?;
    repo.store()
        .write(&format!("index/{}", Id::hash(&sealed)), Bytes::from(sealed))
        .await?;
    let snap = Snapshot {
        version: 1,
        time: chrono::Utc::now(),
        hostname: "evil".into(),
        root: "/".into(),
        volume: None,
        tags: vec![],
        tree: ids[0],
        parent: None,
        files: 0,
        dirs: 0,
        size: 0,
        added: 0,
        incomplete: false,
        errors: vec![],
        original: None,
        shrunk: None,
    };
    repo.save_snapshot(&snap).await?;
    Ok(snap)
}

pub(crate) fn node(name: &str, kind: &str) -> serde_json::Value {
    json!({"name": name, "type": kind, "mode": 0o100644, "uid": 0, "gid": 0, "mtime_ns": 0,
           "ctime_ns": 0, "inode": 1, "size": 0})
}
