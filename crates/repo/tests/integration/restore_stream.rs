//! The streamed restore: bounded descriptors however many files, directories made only
//! where something is chosen, progress that adds up, and the same bytes as the source.

use std::fs;
use std::path::Path;
use std::sync::Arc;

use holdfast_repo::{BackupOptions, Progress, RestoreOptions};

use super::util::{TestRepo, TestResult, pseudo_random, snapshot_of};

/// `count` files of 0..3 KiB spread over nested directories.
fn many_files(root: &Path, count: usize) -> std::io::Result<()> {
    for i in 0..count {
        let dir = root.join(format!("d{}/e{}", i % 7, i % 13));
        fs::create_dir_all(&dir)?;
        fs::write(
            dir.join(format!("f{i:05}")),
            pseudo_random(i % 3072, i as u64),
        )?;
    }
    Ok(())
}

/// Lowers this process's soft limit of open descriptors while it lives.
struct FdLimit(rustix::process::Rlimit);

impl FdLimit {
    fn lower_to(n: u64) -> FdLimit {
        use rustix::process::{Resource, getrlimit, setrlimit};
        let old = getrlimit(Resource::Nofile);
        let mut new = old;
        new.current = Some(n);
        setrlimit(Resource::Nofile, new).expect("lower RLIMIT_NOFILE");
        FdLimit(old)
    }
}

impl Drop for FdLimit {
    fn drop(&mut self) {
        let _ = rustix::process::setrlimit(rustix::process::Resource::Nofile, self.0);
    }
}

/// Finding (#14): restore held the whole tree walk in memory and reopened each temp file
/// for every blob. Files are now restored in batches that keep their handles open: a
/// restore of many more files than the descriptor limit still completes, byte-exact.
#[tokio::test(flavor = "multi_thread")]
async fn restore_of_more_files_than_descriptors_completes_exactly() -> TestResult {
    let (t, mut repo) = TestRepo::new().await?;
    let src = t.dir.path().join("src");
    many_files(&src, 3000)?;
    let s = holdfast_repo::backup(&mut repo, &BackupOptions::new(&src)).await?;
    let target = t.dir.path().join("out");
    let progress = Arc::new(Progress::default());
    let opts = RestoreOptions {
        target: target.clone(),
        progress: Some(progress.clone()),
        ..Default::default()
    };
    let r = {
        let _limit = FdLimit::lower_to(512);
        holdfast_repo::restore(&repo, &s.snapshot, &opts).await?
    };
    assert!(r.damaged.is_empty(), "{:?}", r.damaged);
    assert_eq!(r.files, 3000);
    assert_eq!(snapshot_of(&target)?, snapshot_of(&src)?);
    let (done, total) = progress.get();
    assert_eq!(total, s.snapshot.size);
    assert_eq!(done, total, "every byte written is counted once");
    Ok(())
}

/// With `include`, a directory is made only when something inside it is chosen; a chosen
/// directory brings everything below it.
#[tokio::test(flavor = "multi_thread")]
async fn include_makes_only_the_directories_it_needs() -> TestResult {
    let (t, mut repo) = TestRepo::new().await?;
    let src = t.dir.path().join("src");
    for p in [
        "a/b/c.txt",
        "a/d/e.txt",
        "a/d/x/y.txt",
        "f/g.txt",
        "top.txt",
    ] {
        let path = src.join(p);
        fs::create_dir_all(path.parent().ok_or("parent")?)?;
        fs::write(&path, p)?;
    }
    fs::create_dir_all(src.join("a/empty"))?;
    let s = holdfast_repo::backup(&mut repo, &BackupOptions::new(&src)).await?;
    let restore = |name: &str, include: &[&str]| {
        let target = t.dir.path().join(name);
        let opts = RestoreOptions {
            target: target.clone(),
            include: include.iter().map(|s| s.to_string()).collect(),
            progress: Some(Arc::new(Progress::default())),
            ..Default::default()
        };
        (target, opts)
    };
    let (one, opts) = restore("one", &["a/b/c.txt"]);
    let r = holdfast_repo::restore(&repo, &s.snapshot, &opts).await?;
    assert_eq!((r.files, r.dirs), (1, 2));
    assert_eq!(fs::read_to_string(one.join("a/b/c.txt"))?, "a/b/c.txt");
    for absent in ["a/d", "a/empty", "f", "top.txt"] {
        assert!(!one.join(absent).exists(), "{absent} was made");
    }
    let progress = opts.progress.as_ref().ok_or("progress")?.get();
    assert_eq!(progress, (9, 9), "the total is what include chose");

    let (dir, opts) = restore("dir", &["a/d"]);
    let r = holdfast_repo::restore(&repo, &s.snapshot, &opts).await?;
    assert_eq!((r.files, r.dirs), (2, 3));
    assert_eq!(fs::read_to_string(dir.join("a/d/x/y.txt"))?, "a/d/x/y.txt");
    assert!(!dir.join("a/b").exists() && !dir.join("a/empty").exists());

    let (all, opts) = restore("all", &[]);
    let r = holdfast_repo::restore(&repo, &s.snapshot, &opts).await?;
    assert_eq!(r.files, 5);
    assert_eq!(snapshot_of(&all)?, snapshot_of(&src)?);
    Ok(())
}

/// A directory of the snapshot that cannot be made (a file of the target is in the way)
/// is reported once, and nothing below it is written; the rest is restored.
#[tokio::test(flavor = "multi_thread")]
async fn a_directory_that_cannot_be_made_skips_only_what_is_below_it() -> TestResult {
    let (t, mut repo) = TestRepo::new().await?;
    let src = t.dir.path().join("src");
    for p in ["blocked/inner/a.txt", "blocked/b.txt", "open/c.txt"] {
        let path = src.join(p);
        fs::create_dir_all(path.parent().ok_or("parent")?)?;
        fs::write(&path, p)?;
    }
    let s = holdfast_repo::backup(&mut repo, &BackupOptions::new(&src)).await?;
    let target = t.dir.path().join("out");
    fs::create_dir_all(&target)?;
    fs::write(target.join("blocked"), "a file where a directory goes")?;
    let opts = RestoreOptions {
        target: target.clone(),
        overwrite: Some(holdfast_repo::Overwrite::Always),
        ..Default::default()
    };
    let r = holdfast_repo::restore(&repo, &s.snapshot, &opts).await?;
    let damaged: Vec<&str> = r.damaged.iter().map(|d| d.path.as_str()).collect();
    assert_eq!(damaged, ["blocked"]);
    assert_eq!(r.files, 1);
    assert_eq!(fs::read_to_string(target.join("open/c.txt"))?, "open/c.txt");
    assert_eq!(
        fs::read_to_string(target.join("blocked"))?,
        "a file where a directory goes"
    );
    Ok(())
}
