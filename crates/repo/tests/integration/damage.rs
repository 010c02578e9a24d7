//! Damaged repositories: each kind of damage gives the right error, verify names the
//! affected paths and snapshots, and restore saves everything else.

use std::fs;
use std::path::PathBuf;

use holdfast_repo::{BackupOptions, Error, RestoreOptions, VerifyOptions};

use super::util::{TestRepo, TestResult, pseudo_random, sample_tree, snapshot_of};

async fn backed_up()
-> Result<(TestRepo, holdfast_repo::BackupSummary, PathBuf), Box<dyn std::error::Error>> {
    let (t, mut repo) = TestRepo::new().await?;
    let src = t.dir.path().join("src");
    sample_tree(&src)?;
    let s = holdfast_repo::backup(&mut repo, &BackupOptions::new(&src)).await?;
    Ok((t, s, src))
}

fn largest_pack(t: &TestRepo) -> Result<PathBuf, Box<dyn std::error::Error>> {
    let mut packs = t.objects("data");
    packs.sort_by_key(|p| fs::metadata(p).map(|m| m.len()).unwrap_or(0));
    Ok(packs.pop().ok_or("no pack")?)
}

async fn verify(
    t: &TestRepo,
    read_data: bool,
) -> Result<holdfast_repo::VerifyReport, Box<dyn std::error::Error>> {
    let repo = t.open("pw").await?;
    Ok(holdfast_repo::verify(
        &repo,
        &VerifyOptions {
            read_data,
            ..Default::default()
        },
    )
    .await?)
}

#[tokio::test(flavor = "multi_thread")]
async fn flipped_byte_is_found_by_read_data_and_restore_saves_the_rest() -> TestResult {
    let (t, s, src) = backed_up().await?;
    let pack = largest_pack(&t)?;
    let mut bytes = fs::read(&pack)?;
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    fs::write(&pack, bytes)?;
    assert!(
        verify(&t, false).await?.problems.is_empty(),
        "structure is intact"
    );
    let report = verify(&t, true).await?;
    let blob = report
        .problems
        .iter()
        .find(|p| p.object.starts_with("blob "))
        .ok_or("no blob problem")?;
    assert_eq!(blob.paths, vec!["sub/big.bin".to_string()]);
    assert_eq!(blob.snapshots, vec![s.id.to_hex()]);
    assert!(
        blob.error.contains("authentication failed"),
        "{}",
        blob.error
    );
    let repo = t.open("pw").await?.load_index().await?;
    let target = t.dir.path().join("out");
    let r = holdfast_repo::restore(
        &repo,
        &s.snapshot,
        &RestoreOptions {
            target: target.clone(),
            include: vec![],
            ..Default::default()
        },
    )
    .await?;
    assert_eq!(
        r.damaged
            .iter()
            .map(|d| d.path.as_str())
            .collect::<Vec<_>>(),
        vec!["sub/big.bin"]
    );
    let mut want = snapshot_of(&src)?;
    want.remove(&PathBuf::from("sub/big.bin"));
    let mut got = snapshot_of(&target)?;
    for m in [&mut want, &mut got] {
        m.remove(&PathBuf::from("sub"));
    }
    assert_eq!(got, want);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn truncated_pack_is_a_structure_problem() -> TestResult {
    let (t, s, _) = backed_up().await?;
    let pack = largest_pack(&t)?;
    let bytes = fs::read(&pack)?;
    fs::write(&pack, &bytes[..bytes.len() / 3])?;
    let report = verify(&t, false).await?;
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.error.contains("truncated")),
        "{:?}",
        report.problems
    );
    let hit = report
        .problems
        .iter()
        .find(|p| p.paths.contains(&"sub/big.bin".to_string()))
        .ok_or("path not reported")?;
    assert_eq!(hit.snapshots, vec![s.id.to_hex()]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_pack_names_paths() -> TestResult {
    let (t, _, _) = backed_up().await?;
    fs::remove_file(largest_pack(&t)?)?;
    let report = verify(&t, false).await?;
    assert!(
        report.problems.iter().any(|p| p.error.contains("missing")),
        "{:?}",
        report.problems
    );
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.paths.contains(&"hello.txt".to_string()))
    );
    let repo = t.open("pw").await?.load_index().await?;
    let snap = repo.find_snapshot("latest").await?.1;
    let r = holdfast_repo::restore(
        &repo,
        &snap,
        &RestoreOptions {
            target: t.dir.path().join("out"),
            include: vec![],
            ..Default::default()
        },
    )
    .await?;
    assert!(
        r.damaged.iter().any(|d| d.error.contains("not found")),
        "{:?}",
        r.damaged
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_index_means_blobs_not_indexed() -> TestResult {
    let (t, _, _) = backed_up().await?;
    for f in t.objects("index") {
        fs::remove_file(f)?;
    }
    let report = verify(&t, false).await?;
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.error.contains("not in the index")),
        "{:?}",
        report.problems
    );
    let repo = t.open("pw").await?.load_index().await?;
    let snap = repo.find_snapshot("latest").await?.1;
    let err = holdfast_repo::ls(&repo, &snap, &Default::default())
        .await
        .err()
        .ok_or("ls worked without index")?;
    assert!(err.to_string().contains("not in the index"), "{err}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn corrupt_index_file_is_corrupt() -> TestResult {
    let (t, _, _) = backed_up().await?;
    let idx = t.objects("index").pop().ok_or("no index")?;
    let mut bytes = fs::read(&idx)?;
    bytes[30] ^= 1;
    fs::write(&idx, bytes)?;
    let err = t
        .open("pw")
        .await?
        .load_index()
        .await
        .err()
        .ok_or("loaded a corrupt index")?;
    assert!(
        matches!(err, Error::Corrupt { ref object, .. } if object.starts_with("index/")),
        "{err}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn garbage_snapshot_is_corrupt() -> TestResult {
    let (t, _, _) = backed_up().await?;
    let snap = t.objects("snapshots").pop().ok_or("no snapshot")?;
    fs::write(&snap, b"this is not a snapshot at all, just garbage bytes")?;
    let repo = t.open("pw").await?;
    let err = repo
        .snapshots()
        .await
        .err()
        .ok_or("read a garbage snapshot")?;
    assert!(
        matches!(err, Error::Corrupt { ref object, .. } if object.starts_with("snapshots/")),
        "{err}"
    );
    let report = holdfast_repo::verify(&repo, &VerifyOptions::default()).await?;
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.object.starts_with("snapshots/"))
    );
    let name = snap
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or("name")?
        .to_owned();
    let named = repo
        .find_snapshot(&name[..10])
        .await
        .err()
        .ok_or("found a garbage snapshot")?;
    assert!(matches!(named, Error::Corrupt { .. }), "{named}");
    let mut indexed = repo.load_index().await?;
    let again =
        holdfast_repo::backup(&mut indexed, &BackupOptions::new(t.dir.path().join("src"))).await?;
    assert_eq!(
        again.snapshot.parent, None,
        "the damaged snapshot cannot be a parent"
    );
    assert_eq!(repo.find_snapshot("latest").await?.0, again.id);
    Ok(())
}

/// A pack cut after some of its blobs: `verify` (with and without `--read-data`) names
/// exactly the files restore cannot bring back. It used to count every blob of a
/// truncated pack as lost, so it named snapshots and files whose blobs lie whole before
/// the cut and restore without damage.
#[tokio::test(flavor = "multi_thread")]
async fn truncated_pack_blames_only_the_blobs_it_lost() -> TestResult {
    let (t, mut repo) = TestRepo::new().await?;
    let src = t.dir.path().join("src");
    fs::create_dir_all(&src)?;
    for i in 0..10 {
        // Incompressible, and below the chunker's minimum: one blob per file.
        fs::write(
            src.join(format!("f{i}.bin")),
            pseudo_random(150_000, 0x5eed + 2 * i),
        )?;
    }
    let s = holdfast_repo::backup(&mut repo, &BackupOptions::new(&src)).await?;
    let pack = largest_pack(&t)?;
    let name = pack.file_name().and_then(|n| n.to_str()).ok_or("name")?;
    let index = t.open("pw").await?.load_index().await?;
    let mut ends: Vec<u64> = index
        .index()
        .blobs()
        .filter(|(_, l)| l.pack.to_hex() == name)
        .map(|(_, l)| l.offset + u64::from(l.length))
        .collect();
    ends.sort_unstable();
    assert!(ends.len() >= 10, "one pack holds every file: {ends:?}");
    // Cut right after the fifth blob: five files are whole, five are lost.
    let bytes = fs::read(&pack)?;
    fs::write(&pack, &bytes[..ends[4] as usize])?;

    let restored = holdfast_repo::restore(
        &t.open("pw").await?.load_index().await?,
        &s.snapshot,
        &RestoreOptions {
            target: t.dir.path().join("out"),
            include: vec![],
            ..Default::default()
        },
    )
    .await?;
    let mut lost: Vec<String> = restored.damaged.iter().map(|d| d.path.clone()).collect();
    lost.sort();
    assert_eq!(
        lost.len(),
        5,
        "restore lost the files past the cut: {:?}",
        restored.damaged
    );
    for read_data in [false, true] {
        let report = verify(&t, read_data).await?;
        assert!(
            report
                .problems
                .iter()
                .any(|p| p.error.contains("truncated")),
            "read_data {read_data}: the pack is named truncated: {:?}",
            report.problems
        );
        let mut named: Vec<String> = report
            .problems
            .iter()
            .flat_map(|p| p.paths.iter().cloned())
            .collect();
        named.sort();
        named.dedup();
        assert_eq!(
            named, lost,
            "read_data {read_data}: verify names what restore lost"
        );
    }
    Ok(())
}
