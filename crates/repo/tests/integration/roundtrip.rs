//! restore(backup(tree)) == tree, incremental backups, ls/diff/export, wrong password.

use std::fs;

use holdfast_repo::{BackupOptions, Change, LsOptions, RestoreOptions, VerifyOptions};

use super::util::{TestRepo, TestResult, sample_tree, snapshot_of};

#[tokio::test(flavor = "multi_thread")]
async fn restore_of_backup_equals_tree() -> TestResult {
    let (t, mut repo) = TestRepo::new().await?;
    let src = t.dir.path().join("src");
    sample_tree(&src)?;
    let s = holdfast_repo::backup(&mut repo, &BackupOptions::new(&src)).await?;
    assert_eq!(s.snapshot.files, 6);
    assert!(!s.snapshot.incomplete);
    assert!(s.snapshot.added > 0);
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
    assert!(r.damaged.is_empty(), "{:?}", r.damaged);
    assert_eq!(snapshot_of(&src)?, snapshot_of(&target)?);
    let report = holdfast_repo::verify(
        &repo,
        &VerifyOptions {
            read_data: true,
            ..Default::default()
        },
    )
    .await?;
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn second_backup_is_incremental_and_diff_sees_changes() -> TestResult {
    let (t, mut repo) = TestRepo::new().await?;
    let src = t.dir.path().join("src");
    sample_tree(&src)?;
    let first = holdfast_repo::backup(&mut repo, &BackupOptions::new(&src)).await?;
    let again = holdfast_repo::backup(&mut repo, &BackupOptions::new(&src)).await?;
    assert_eq!(again.snapshot.parent, Some(first.id));
    assert_eq!(again.snapshot.added, 0, "nothing new is stored");
    assert_eq!(again.snapshot.tree, first.snapshot.tree);
    fs::write(src.join("new.txt"), "new")?;
    fs::remove_file(src.join("empty"))?;
    fs::write(src.join("hello.txt"), "changed")?;
    let third = holdfast_repo::backup(&mut repo, &BackupOptions::new(&src)).await?;
    let changes = holdfast_repo::diff(&repo, &first.snapshot, &third.snapshot).await?;
    let find = |p: &str| changes.iter().find(|c| c.path == p).map(|c| c.change);
    assert_eq!(find("new.txt"), Some(Change::Added));
    assert_eq!(find("empty"), Some(Change::Removed));
    assert_eq!(find("hello.txt"), Some(Change::Modified));
    assert_eq!(find("sub/big.bin"), None);
    let ls = holdfast_repo::ls(
        &repo,
        &third.snapshot,
        &LsOptions {
            path: Some("sub".into()),
        },
    )
    .await?;
    assert!(ls.iter().any(|e| e.path.ends_with("big.bin")));
    assert!(ls.iter().all(|e| e.path.starts_with("sub")));
    let reopened = t.open("pw").await?;
    let latest = reopened.find_snapshot("latest").await?;
    assert_eq!(latest.0, third.id);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_password_is_clear_and_writes_nothing() -> TestResult {
    let (t, _repo) = TestRepo::new().await?;
    let before = t.objects("");
    let err = t
        .open("not the password")
        .await
        .err()
        .ok_or("opened with a wrong password")?;
    assert!(
        matches!(err, holdfast_repo::Error::WrongPassword { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("wrong password"));
    assert_eq!(before, t.objects(""));
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn excludes_tags_time_and_export() -> TestResult {
    let (t, mut repo) = TestRepo::new().await?;
    let src = t.dir.path().join("src");
    sample_tree(&src)?;
    let mut opts = BackupOptions::new(&src);
    opts.excludes = vec!["*.bin".into(), "sub/deeper/**".into()];
    opts.tags = vec!["daily".into()];
    opts.time = Some("2024-01-02T03:04:05Z".parse()?);
    let s = holdfast_repo::backup(&mut repo, &opts).await?;
    assert_eq!(s.snapshot.tags, vec!["daily".to_string()]);
    assert_eq!(s.snapshot.time.to_rfc3339(), "2024-01-02T03:04:05+00:00");
    let all = holdfast_repo::ls(&repo, &s.snapshot, &LsOptions::default()).await?;
    let names: Vec<String> = all
        .iter()
        .map(|e| e.path.to_string_lossy().into_owned())
        .collect();
    assert!(
        !names
            .iter()
            .any(|n| n.ends_with(".bin") || n.starts_with("sub/deeper/")),
        "{names:?}"
    );
    assert!(names.contains(&"sub/deeper".to_string()));
    for out in ["x.tar", "x.tar.zst"] {
        let path = t.dir.path().join(out);
        let e = holdfast_repo::export(
            &repo,
            &s.snapshot,
            &holdfast_repo::ExportOptions {
                output: path.clone(),
            },
        )
        .await?;
        assert_eq!(e.entries as usize, all.len());
        let file = fs::File::open(&path)?;
        let reader: Box<dyn std::io::Read> = if out.ends_with(".zst") {
            Box::new(zstd::Decoder::new(file)?)
        } else {
            Box::new(file)
        };
        let mut ar = tar::Archive::new(reader);
        let mut paths = Vec::new();
        for entry in ar.entries()? {
            paths.push(
                entry?
                    .path()?
                    .to_string_lossy()
                    .trim_end_matches('/')
                    .to_string(),
            );
        }
        paths.sort();
        let mut want = names.clone();
        want.sort();
        assert_eq!(paths, want);
    }
    Ok(())
}

mod property {
    use std::collections::BTreeMap;
    use std::os::unix::fs::PermissionsExt;

    use proptest::prelude::*;

    use super::super::util::{TestRepo, pseudo_random, snapshot_of};
    use holdfast_repo::{BackupOptions, RestoreOptions};

    fn name() -> impl Strategy<Value = String> {
        prop_oneof!["[a-z]{1,8}", "[ä-ü日本 ._-]{1,6}"].prop_filter("safe name", |s| {
            s != "." && s != ".." && !s.starts_with(".holdfast")
        })
    }

    fn layout() -> impl Strategy<Value = BTreeMap<(String, String), (usize, u64, u32)>> {
        proptest::collection::btree_map(
            (name(), name()),
            (
                0usize..700_000,
                any::<u64>(),
                prop_oneof![Just(0o644u32), Just(0o600), Just(0o755)],
            ),
            0..12,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 8, ..ProptestConfig::default() })]
        #[test]
        fn restore_of_backup_equals_any_tree(files in layout()) {
            let rt = tokio::runtime::Runtime::new().map_err(|e| TestCaseError::fail(e.to_string()))?;
            rt.block_on(async {
                let (t, mut repo) = TestRepo::new().await?;
                let src = t.dir.path().join("src");
                std::fs::create_dir_all(&src)?;
                for ((dir, file), (len, seed, mode)) in &files {
                    let d = src.join(dir);
                    if d.is_file() { continue; }
                    std::fs::create_dir_all(&d)?;
                    let p = d.join(file);
                    if p.is_dir() { continue; }
                    std::fs::write(&p, pseudo_random(*len, *seed))?;
                    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(*mode))?;
                }
                let s = holdfast_repo::backup(&mut repo, &BackupOptions::new(&src)).await?;
                let out = t.dir.path().join("out");
                let r = holdfast_repo::restore(&repo, &s.snapshot, &RestoreOptions { target: out.clone(), include: vec![] , ..Default::default() }).await?;
                assert!(r.damaged.is_empty(), "{:?}", r.damaged);
                assert_eq!(snapshot_of(&src)?, snapshot_of(&out)?);
                Ok::<(), Box<dyn std::error::Error>>(())
            }).map_err(|e| TestCaseError::fail(e.to_string()))?;
        }
    }
}
