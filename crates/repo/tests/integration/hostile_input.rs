//! Hostile input, on stable Rust: every parser of bytes read back from a store (trees,
//! snapshots, index files, key files, pack trailers, envelopes, sealed objects) fed the
//! real objects of a small repository and a fixed budget of fixed-seed mutations of
//! them and random bytes. Nothing may panic; an accepted tree has only safe names; no
//! mutated sealed object authenticates. Each target prints one line
//! (`fuzz TARGET: N inputs, N accepted, N panics, T s`); `HOLDFAST_FUZZ_INPUTS` sets the
//! budget. The same parsers are cargo-fuzz targets in `fuzz/` for nightly.

use holdfast_repo::crypto::{KeyFile, Keys, MasterKey};
use holdfast_repo::index::{Index, IndexFile, IndexPack, MarkedIndexFile};
use holdfast_repo::pack::{PackedBlob, decode_trailer, encode_trailer, read_trailer};
use holdfast_repo::snapshot::{Snapshot, select};
use holdfast_repo::tree::{Tree, is_safe_name};
use holdfast_repo::{BackupOptions, Id};

use super::util::{TestRepo, TestResult, sample_tree};

#[path = "../../../../fuzz/stable/mutate.rs"]
mod mutate;

/// Plaintext and sealed seeds from a real repository with one snapshot.
struct Seeds {
    trees: Vec<Vec<u8>>,
    snapshots: Vec<Vec<u8>>,
    index: Vec<Vec<u8>>,
    trailers: Vec<Vec<u8>>,
    key_files: Vec<Vec<u8>>,
    sealed: Vec<Vec<u8>>,
}

async fn seeds() -> Result<(TestRepo, Seeds), Box<dyn std::error::Error>> {
    let (t, mut repo) = TestRepo::new().await?;
    let src = t.dir.path().join("src");
    sample_tree(&src)?;
    let s = holdfast_repo::backup(&mut repo, &BackupOptions::new(&src)).await?;
    let repo = t.open("pw").await?.load_index().await?;
    let mut trees = Vec::new();
    let mut stack = vec![s.snapshot.tree];
    while let Some(id) = stack.pop() {
        let mut tree = repo.load_tree(&id).await?;
        stack.extend(tree.nodes.iter().filter_map(|n| n.subtree));
        trees.push(tree.to_bytes()?);
    }
    let mut by_pack: std::collections::BTreeMap<Id, Vec<PackedBlob>> = Default::default();
    for (id, loc) in repo.index().blobs() {
        by_pack.entry(loc.pack).or_default().push(PackedBlob {
            id: *id,
            kind: loc.kind,
            offset: loc.offset,
            length: loc.length,
            raw_length: loc.raw_length,
        });
    }
    let trailers = by_pack.values().map(|b| encode_trailer(b)).collect();
    let file = IndexFile {
        packs: by_pack
            .into_iter()
            .map(|(id, blobs)| IndexPack { id, blobs })
            .collect(),
    };
    let mut sealed = Vec::new();
    for dir in ["index", "snapshots", "data"] {
        for p in t.objects(dir) {
            sealed.push(std::fs::read(p)?);
        }
    }
    let key_files = t
        .objects("keys")
        .into_iter()
        .map(std::fs::read)
        .collect::<Result<_, _>>()?;
    let seeds = Seeds {
        trees,
        snapshots: vec![serde_json::to_vec(&s.snapshot)?],
        index: vec![serde_json::to_vec(&file)?],
        trailers,
        key_files,
        sealed,
    };
    Ok((t, seeds))
}

#[tokio::test(flavor = "multi_thread")]
async fn fuzz_parsers_of_stored_bytes_never_panic() -> TestResult {
    let (_t, s) = seeds().await?;
    mutate::run("tree", 0x7e11, &s.trees, |d| match Tree::parse("fuzz", d) {
        Ok(tree) => {
            for node in &tree.nodes {
                assert!(is_safe_name(node.os_name().as_encoded_bytes()));
            }
            true
        }
        Err(_) => false,
    });
    mutate::run(
        "snapshot",
        0x5a95,
        &s.snapshots,
        |d| match serde_json::from_slice::<Snapshot>(d) {
            Ok(snap) => {
                let list = vec![(Id::hash(d), snap)];
                let _ = select(&list, "latest");
                let _ = select(&list, "latest:v");
                true
            }
            Err(_) => false,
        },
    );
    mutate::run(
        "index_file",
        0x1de7,
        &s.index,
        |d| match serde_json::from_slice::<IndexFile>(d) {
            Ok(file) => {
                let mut index = Index::default();
                index.add_file(&file);
                true
            }
            Err(_) => false,
        },
    );
    let keys = Keys::derive(&MasterKey::generate()?);
    mutate::run("pack_trailer", 0x7a11, &s.trailers, |d| {
        let plain = decode_trailer("fuzz", d, u64::from(u32::MAX)).is_ok();
        assert!(
            read_trailer(&keys, "fuzz", d).is_err(),
            "a forged pack read"
        );
        plain
    });
    mutate::run("key_file", 0x6e7f, &s.key_files, |d| {
        KeyFile::parse("fuzz", d).is_ok()
    });
    // Sealed objects under a key that did not seal them, mutated or not: none opens.
    mutate::run("sealed_objects", 0x5ea1, &s.sealed, |d| {
        assert!(Snapshot::open(&keys, "snapshots/fuzz", d).is_err());
        assert!(MarkedIndexFile::open(&keys, "index/fuzz", d).is_err());
        assert!(keys.open("fuzz", b"ad", d, 0).is_err());
        false
    });
    Ok(())
}
