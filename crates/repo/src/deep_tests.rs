//! Every walk over a snapshot's trees handles a chain of trees far deeper than a call
//! stack would (a forged snapshot of [`DEPTH`] nested directories, in memory): `ls`,
//! `diff`, `find` (by name and by path), `verify`, `repair snapshots`, `stats` and
//! `copy`. Each used to recurse once per level (a boxed future per level, whose
//! polls nest as deep as the tree) and overflowed the stack of its thread.

use serde_json::json;

use crate::error::Result;
use crate::id::Id;
use crate::repository::{InitOptions, Repository, init};
use crate::snapshot::Snapshot;
use crate::test_support::{hostile_snapshot, memory_repo, node};

/// Levels of the forged chain.
const DEPTH: usize = 20_000;

/// A snapshot of `d/d/…/d/bottom` (`DEPTH` directories) whose bottom file holds `content`.
async fn chain(repo: &Repository, content: &[Id]) -> Result<Snapshot> {
    let mut bottom = node("bottom", "file");
    bottom["content"] = json!(content);
    let mut trees = vec![json!({ "nodes": [bottom] })];
    for _ in 0..DEPTH {
        let below = trees.last().cloned().unwrap_or_default();
        let bytes =
            serde_json::to_vec(&below).map_err(|e| crate::Error::Internal(e.to_string()))?;
        let mut d = node("d", "dir");
        d["subtree"] = json!(repo.keys().blob_id(&bytes));
        trees.push(json!({ "nodes": [d] }));
    }
    trees.reverse();
    hostile_snapshot(repo, &trees).await
}

fn bottom_path() -> String {
    format!("{}bottom", "d/".repeat(DEPTH))
}

#[tokio::test(flavor = "multi_thread")]
async fn ls_diff_find_and_stats_walk_a_deep_chain() -> Result<()> {
    let repo = memory_repo().await?;
    let snap = chain(&repo, &[]).await?;
    let repo = repo.load_index().await?;

    let all = crate::browse::ls(&repo, &snap, &crate::browse::LsOptions::default()).await?;
    assert_eq!(all.len(), DEPTH + 1);
    let deep = crate::browse::LsOptions {
        path: Some(format!("{}d", "d/".repeat(DEPTH - 1))),
    };
    assert_eq!(crate::browse::ls(&repo, &snap, &deep).await?.len(), 2);
    assert!(crate::browse::diff(&repo, &snap, &snap).await?.is_empty());

    for pattern in ["bottom", "**/bottom"] {
        let opts = crate::tools::FindOptions {
            pattern: pattern.into(),
            ..Default::default()
        };
        let found = crate::tools::find(&repo, &opts).await?;
        let paths: Vec<&str> = found.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, vec![bottom_path().as_str()], "{pattern}");
    }

    let stats = crate::tools::stats(&repo, &Default::default()).await?;
    assert_eq!(stats.total.snapshots, 1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_and_repair_reach_the_bottom_of_a_deep_chain() -> Result<()> {
    let repo = memory_repo().await?;
    let missing = Id::hash(b"no such blob");
    chain(&repo, &[missing]).await?;
    let report = crate::verify::verify(&repo, &Default::default()).await?;
    let p = report
        .problems
        .iter()
        .find(|p| p.object == format!("blob {missing}"))
        .ok_or_else(|| crate::Error::Internal("the missing blob is not reported".into()))?;
    assert_eq!(p.paths, vec![bottom_path()]);

    let opts = crate::repair::snapshots::RepairSnapshotsOptions {
        dry_run: false,
        forget: true,
        ..Default::default()
    };
    let fixed = crate::repair::snapshots::repair_snapshots(&repo, &opts).await?;
    assert_eq!(fixed.repaired.len(), 1);
    let report = crate::verify::verify(&repo, &Default::default()).await?;
    assert!(
        report
            .problems
            .iter()
            .all(|p| !p.object.starts_with("blob")),
        "{} problems left",
        report.problems.len()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn copy_carries_a_deep_chain() -> Result<()> {
    let src = memory_repo().await?;
    chain(&src, &[]).await?;
    let opts = InitOptions {
        password: "two".into(),
        kdf: crate::crypto::KdfParams::insecure_fast(),
    };
    let dst = init(holdfast_store::Store::open("memory://")?, &opts).await?;
    let report = crate::copy::copy(&src, &dst, &Default::default()).await?;
    assert_eq!(report.copied.len(), 1);
    let dst = dst.load_index().await?;
    let snaps = dst.snapshots().await?;
    let (_, snap) = snaps
        .first()
        .ok_or_else(|| crate::Error::Internal("no snapshot copied".into()))?;
    let all = crate::browse::ls(&dst, snap, &Default::default()).await?;
    assert_eq!(all.len(), DEPTH + 1);
    assert!(
        all.iter()
            .any(|e| e.path.to_string_lossy() == bottom_path())
    );
    Ok(())
}

/// Finding: a tree 500 levels deep aborted `backup` with a stack overflow. A tree of
/// 5,000 levels (a 10,000-byte path, past `PATH_MAX`) backs up and restores in-process,
/// the bottom file byte-exact.
#[tokio::test(flavor = "multi_thread")]
async fn a_tree_past_path_max_backs_up_and_restores() -> Result<()> {
    use rustix::fs::{Mode, OFlags};
    let io = |e: std::io::Error| crate::Error::io("deep tree", e);
    let tmp = tempfile::tempdir().map_err(io)?;
    let src = tmp.path().join("src");
    std::fs::create_dir(&src).map_err(io)?;
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let mut at = rustix::fs::open(&src, flags, Mode::empty()).map_err(|e| io(e.into()))?;
    for _ in 0..5_000 {
        rustix::fs::mkdirat(&at, "d", Mode::from_raw_mode(0o755)).map_err(|e| io(e.into()))?;
        at = rustix::fs::openat(&at, "d", flags, Mode::empty()).map_err(|e| io(e.into()))?;
    }
    let fd = rustix::fs::openat(
        &at,
        "bottom",
        OFlags::WRONLY | OFlags::CREATE | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )
    .map_err(|e| io(e.into()))?;
    std::io::Write::write_all(&mut std::fs::File::from(fd), b"at the bottom").map_err(io)?;

    let repo = memory_repo().await?;
    let mut idx = repo.load_index().await?;
    let done = crate::backup(&mut idx, &crate::BackupOptions::new(&src)).await?;
    assert!(
        done.snapshot.errors.is_empty(),
        "{:?}",
        done.snapshot.errors
    );
    assert_eq!(done.snapshot.dirs, 5_000);
    let idx = repo.load_index().await?;
    let out = tmp.path().join("out");
    let summary = crate::restore::restore(
        &idx,
        &done.snapshot,
        &crate::restore::RestoreOptions {
            target: out.clone(),
            ..Default::default()
        },
    )
    .await?;
    assert!(summary.damaged.is_empty(), "{:?}", summary.damaged);
    let mut at = rustix::fs::open(&out, flags, Mode::empty()).map_err(|e| io(e.into()))?;
    for _ in 0..5_000 {
        at = rustix::fs::openat(&at, "d", flags, Mode::empty()).map_err(|e| io(e.into()))?;
    }
    let fd = rustix::fs::openat(&at, "bottom", OFlags::RDONLY, Mode::empty())
        .map_err(|e| io(e.into()))?;
    let mut data = Vec::new();
    std::io::Read::read_to_end(&mut std::fs::File::from(fd), &mut data).map_err(io)?;
    assert_eq!(data, b"at the bottom");
    Ok(())
}
