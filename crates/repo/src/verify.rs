//! `verify`: checks the structure of a repository (snapshots and index files decrypt,
//! every snapshot's trees load, every referenced blob is indexed, every indexed pack
//! exists and is long enough) and, with `read_data`, reads every pack back, checks its
//! hash and trailer and authenticates every blob. Damage is reported per object with
//! the file paths and snapshot ids it affects.
//!
//! Trees are checked once each, whatever the number of snapshots and paths that share
//! them ([`trees`]): a snapshot whose trees share subtrees cannot make verify walk an
//! exponential number of paths. A problem lists at most [`trees::MAX_PATHS`] paths.
//!
//! A store that is unavailable is not damage: verify then fails with that error and
//! reports no problem it could not prove.

use std::collections::{BTreeMap, HashMap, HashSet};

use futures::StreamExt;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::id::Id;
use crate::index::BlobLocation;
use crate::pack::{pack_key, read_trailer};
use crate::repository::{IndexedRepository, Repository};

/// Options of [`verify`].
#[derive(Clone, Debug, Default)]
pub struct VerifyOptions {
    /// Read every pack and authenticate every blob.
    pub read_data: bool,
    /// Read only this slice of the packs (implies reading data).
    pub read_data_subset: Option<Subset>,
    /// Cancelling it stops the verify (as a lost lock does).
    pub cancel: tokio_util::sync::CancellationToken,
    /// Counts the packs read back (total: the packs to read), for a progress bar.
    pub progress: Option<std::sync::Arc<crate::progress::Progress>>,
}

/// One damaged object and what it affects.
#[derive(Clone, Debug, Serialize)]
pub struct Problem {
    /// The object (key, or `blob <id>`).
    pub object: String,
    /// What is wrong.
    pub error: String,
    /// Snapshots that need it.
    pub snapshots: Vec<String>,
    /// Paths (relative to their snapshot's root) that need it.
    pub paths: Vec<String>,
}

/// What verify found.
#[derive(Clone, Debug, Default, Serialize)]
pub struct VerifyReport {
    /// Snapshots checked.
    pub snapshots: usize,
    /// Packs listed in the store.
    pub packs: usize,
    /// Blobs in the index.
    pub blobs: usize,
    /// Packs read back (read_data).
    pub packs_read: usize,
    /// Everything wrong; empty when the repository is sound.
    pub problems: Vec<Problem>,
}

/// Checks the repository, holding a shared lock (so no prune runs meanwhile).
pub async fn verify(repo: &Repository, opts: &VerifyOptions) -> Result<VerifyReport> {
    let lock = crate::lock::Lock::shared(repo, &opts.cancel).await?;
    let result = lock.run("verify", check(repo, opts)).await;
    lock.release_after(result).await
}

async fn check(repo: &Repository, opts: &VerifyOptions) -> Result<VerifyReport> {
    let mut problems: BTreeMap<String, Problem> = BTreeMap::new();
    let mut add = |object: String, error: String| {
        problems.entry(object.clone()).or_insert(Problem {
            object,
            error,
            snapshots: vec![],
            paths: vec![],
        });
    };
    let (snaps, bad_snaps) = repo.snapshots_lenient().await?;
    let (irepo, bad_idx) = repo.load_index_lenient().await?;
    if let Some((_, e)) = bad_snaps
        .iter()
        .chain(bad_idx.iter())
        .find(|(_, e)| e.is_unavailable())
    {
        return Err(Error::Unavailable(e.to_string()));
    }
    for (key, e) in bad_snaps {
        add(key, e.to_string());
    }
    for (key, e) in bad_idx {
        add(
            key,
            format!(
                "{e}; the packs' own trailers still list their blobs: run `holdfast repair index --yes`"
            ),
        );
    }
    let listed: HashMap<Id, u64> = {
        let opts = holdfast_store::ListOptions {
            recursive: true,
            filter: None,
        };
        let metas: Vec<_> = repo.store().list("data/", opts).collect().await;
        let mut m = HashMap::new();
        for meta in metas {
            let meta = meta?;
            if let Some(id) = meta
                .key
                .rsplit('/')
                .next()
                .and_then(|n| n.parse::<Id>().ok())
            {
                m.insert(id, meta.size);
            }
        }
        m
    };
    // A missing pack loses all its blobs; a truncated one only those past its end (the
    // rest read and restore whole, so they are not counted as lost).
    let mut bad_packs: HashMap<Id, String> = HashMap::new();
    let mut bad_blobs: HashMap<Id, String> = HashMap::new();
    let mut ends: HashMap<Id, u64> = HashMap::new();
    // Each pack's blobs, gathered once: checking a pack looks only at its own.
    let mut by_pack: HashMap<Id, Vec<&Id>> = HashMap::new();
    for (id, loc) in irepo.index().blobs() {
        let e = ends.entry(loc.pack).or_default();
        *e = (*e).max(loc.offset + u64::from(loc.length));
        by_pack.entry(loc.pack).or_default().push(id);
    }
    let blobs_of = |pack: &Id| {
        by_pack
            .get(pack)
            .into_iter()
            .flatten()
            .filter_map(|id| irepo.index().get(id).map(|loc| (**id, loc)))
    };
    for pack in irepo.index().packs() {
        match listed.get(pack) {
            None => {
                bad_packs.insert(*pack, format!("pack {} is missing", pack_key(pack)));
            }
            Some(&size) if ends.get(pack).is_some_and(|end| end + 4 > size) => {
                let why = format!("pack {} is truncated ({size} bytes)", pack_key(pack));
                for (id, loc) in blobs_of(pack) {
                    if loc.offset + u64::from(loc.length) > size {
                        bad_blobs.insert(id, why.clone());
                    }
                }
                add(pack_key(pack), why);
            }
            _ => {}
        }
    }
    let mut packs_read = 0;
    if opts.read_data || opts.read_data_subset.is_some() {
        let todo: Vec<Id> = irepo
            .index()
            .packs()
            .filter(|p| !bad_packs.contains_key(p))
            .filter(|p| opts.read_data_subset.is_none_or(|s| s.contains(p)))
            .copied()
            .collect();
        packs_read = todo.len();
        if let Some(p) = &opts.progress {
            p.set_total(todo.len() as u64);
        }
        let irepo = &irepo;
        let blobs_of = &blobs_of;
        let results: Vec<_> = futures::stream::iter(todo)
            .map(|p| async move {
                let r = check_pack(irepo, p, blobs_of(&p)).await;
                if let Some(p) = &opts.progress {
                    p.add(1);
                }
                r
            })
            .buffer_unordered(4)
            .collect()
            .await;
        for (pack, r) in results {
            match r {
                Err(Unreadable::Unavailable(e)) => return Err(Error::Unavailable(e)),
                Err(Unreadable::Damaged(e)) => {
                    bad_packs.insert(pack, e);
                }
                Ok((blobs, note)) => {
                    if let Some(n) = note {
                        add(pack_key(&pack), n);
                    }
                    bad_blobs.extend(blobs);
                }
            }
        }
    }
    for (id, loc) in irepo.index().blobs() {
        if let Some(why) = bad_packs.get(&loc.pack) {
            bad_blobs.entry(*id).or_insert_with(|| why.clone());
        }
    }
    for (id, why) in &bad_packs {
        add(pack_key(id), why.clone());
    }
    let mut affected: BTreeMap<String, (String, HashSet<String>, Vec<String>)> = BTreeMap::new();
    let mut memo = HashMap::new();
    for (sid, snap) in &snaps {
        let found = trees::check(&irepo, snap.tree, &bad_blobs, &mut memo).await?;
        for (key, (error, paths)) in &found.problems {
            if key.starts_with(trees::TREE) {
                // A damaged tree is one problem per place it is needed.
                for path in paths {
                    let p = affected
                        .entry(format!("tree of /{}", path.trim_end_matches('/')))
                        .or_insert_with(|| (error.clone(), HashSet::new(), vec![]));
                    p.1.insert(sid.to_hex());
                    p.2.push(path.clone());
                }
                continue;
            }
            let p = affected
                .entry(key.clone())
                .or_insert_with(|| (error.clone(), HashSet::new(), vec![]));
            p.1.insert(sid.to_hex());
            p.2.extend(paths.iter().cloned());
        }
    }
    for (object, (error, snapshots, mut paths)) in affected {
        paths.sort();
        paths.dedup();
        paths.truncate(trees::MAX_PATHS);
        let mut snapshots: Vec<String> = snapshots.into_iter().collect();
        snapshots.sort();
        problems.insert(
            object.clone(),
            Problem {
                object,
                error,
                snapshots,
                paths,
            },
        );
    }
    Ok(VerifyReport {
        snapshots: snaps.len(),
        packs: listed.len(),
        blobs: irepo.index().len(),
        packs_read,
        problems: problems.into_values().collect(),
    })
}

mod subset;
pub mod text;
mod trees;

pub use subset::Subset;

/// Why a pack could not be read at all.
enum Unreadable {
    /// The store did not answer: nothing is known about the pack.
    Unavailable(String),
    /// The store answered, and the pack cannot be had (all its blobs are lost).
    Damaged(String),
}

/// Reads one pack and authenticates `blobs` (the index's blobs in it): its damaged
/// blobs, and a note when the pack as a whole is damaged.
async fn check_pack(
    repo: &IndexedRepository,
    pack: Id,
    blobs: impl Iterator<Item = (Id, BlobLocation)>,
) -> (Id, Result<(Vec<(Id, String)>, Option<String>), Unreadable>) {
    let key = pack_key(&pack);
    let bytes = match repo.store().read(&key).await {
        Ok(b) => b,
        Err(e) if e.kind() == holdfast_store::ErrorKind::Unavailable => {
            return (pack, Err(Unreadable::Unavailable(e.to_string())));
        }
        Err(e) => {
            return (
                pack,
                Err(Unreadable::Damaged(format!("cannot read {key}: {e}"))),
            );
        }
    };
    let mut note = None;
    if Id::hash(&bytes) != pack {
        note = Some(format!("{key}: content does not match its name (damaged)"));
    }
    if let Err(e) = read_trailer(repo.keys(), &key, &bytes) {
        note = Some(e.to_string());
    }
    let mut bad = Vec::new();
    for (id, loc) in blobs {
        let (s, e) = (
            loc.offset as usize,
            loc.offset as usize + loc.length as usize,
        );
        match bytes.get(s..e).map(|env| repo.open_blob(&id, &loc, env)) {
            Some(Ok(_)) => {}
            Some(Err(err)) => bad.push((id, err.to_string())),
            None => bad.push((id, format!("blob {id} lies beyond the end of {key}"))),
        }
    }
    (pack, Ok((bad, note)))
}
