//! Restore never writes outside its target, even through symlinks already there.

use std::fs;

use holdfast_repo::{BackupOptions, RestoreOptions};

use super::util::{TestRepo, TestResult, sample_tree};

#[tokio::test(flavor = "multi_thread")]
async fn existing_symlinks_in_target_are_not_followed() -> TestResult {
    let (t, mut repo) = TestRepo::new().await?;
    let src = t.dir.path().join("src");
    sample_tree(&src)?;
    let s = holdfast_repo::backup(&mut repo, &BackupOptions::new(&src)).await?;
    let outside = t.dir.path().join("outside");
    fs::create_dir_all(&outside)?;
    fs::write(outside.join("victim"), "keep me")?;
    let target = t.dir.path().join("out");
    fs::create_dir_all(&target)?;
    std::os::unix::fs::symlink(&outside, target.join("sub"))?;
    std::os::unix::fs::symlink(outside.join("victim"), target.join("hello.txt"))?;
    let r = holdfast_repo::restore(
        &repo,
        &s.snapshot,
        &RestoreOptions {
            target: target.clone(),
            include: vec![],
            overwrite: Some(holdfast_repo::Overwrite::Always),
            ..Default::default()
        },
    )
    .await?;
    assert_eq!(fs::read_to_string(outside.join("victim"))?, "keep me");
    assert_eq!(
        fs::read_dir(&outside)?.count(),
        1,
        "nothing written outside the target"
    );
    assert!(r.damaged.iter().any(|d| d.path == "sub"), "{:?}", r.damaged);
    assert!(
        !fs::symlink_metadata(target.join("hello.txt"))?
            .file_type()
            .is_symlink()
    );
    assert_eq!(
        fs::read_to_string(target.join("hello.txt"))?,
        "hello world\n"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn include_restores_only_matching_paths() -> TestResult {
    let (t, mut repo) = TestRepo::new().await?;
    let src = t.dir.path().join("src");
    sample_tree(&src)?;
    let s = holdfast_repo::backup(&mut repo, &BackupOptions::new(&src)).await?;
    let target = t.dir.path().join("out");
    let opts = RestoreOptions {
        target: target.clone(),
        include: vec!["sub/deeper".into()],
        ..Default::default()
    };
    let r = holdfast_repo::restore(&repo, &s.snapshot, &opts).await?;
    assert!(r.damaged.is_empty());
    assert_eq!(r.files, 1);
    assert!(target.join("sub/deeper/text.txt").is_file());
    assert!(!target.join("hello.txt").exists());
    assert!(!target.join("sub/big.bin").exists());
    Ok(())
}
