//! The browse calls against real repositories (`memory://`, and `file://` where a test
//! damages a pack on disk).

use std::path::Path;
use std::sync::Arc;

use futures::StreamExt;

use super::*;
use crate::backup::{BackupOptions, backup};
use crate::test_support::pseudo_random;

type TestResult = std::result::Result<(), Box<dyn std::error::Error>>;

fn write(root: &Path, rel: &str, data: &[u8]) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    std::fs::write(p, data).expect("write");
}

/// A backup of `dir` as volume `v` at `secs` after the epoch.
async fn snap(repo: &mut IndexedRepository, dir: &Path, secs: i64) -> (Id, Snapshot) {
    let mut opts = BackupOptions::new(dir);
    opts.volume = Some("v".into());
    opts.time = chrono::DateTime::from_timestamp(1_700_000_000 + secs, 0);
    let s = backup(repo, &opts).await.expect("backup");
    (s.id, s.snapshot)
}

async fn file_repo(dir: &Path) -> IndexedRepository {
    let url = format!("file://{}", dir.join("repo").display());
    let opts = crate::repository::InitOptions {
        password: "p".into(),
        kdf: crate::crypto::KdfParams::insecure_fast(),
    };
    let repo = crate::repository::init(holdfast_store::Store::open(&url).expect("store"), &opts)
        .await
        .expect("init");
    repo.load_index().await.expect("index")
}

async fn collect(
    mut s: futures::stream::BoxStream<'static, Result<bytes::Bytes>>,
) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    while let Some(piece) = s.next().await {
        out.extend_from_slice(&piece?);
    }
    Ok(out)
}

/// Flips one byte inside blob `id`'s envelope in its pack on disk.
fn damage(repo: &IndexedRepository, root: &Path, id: &Id) {
    let loc = repo.locate(id).expect("located");
    let path = root.join("repo").join(crate::pack::pack_key(&loc.pack));
    let mut bytes = std::fs::read(&path).expect("pack");
    let at = (loc.offset + u64::from(loc.length) / 2) as usize;
    bytes[at] ^= 0xff;
    std::fs::write(&path, bytes).expect("damaged pack");
}

#[tokio::test]
async fn list_dir_pages_in_name_byte_order_and_reads_only_the_trees_on_the_way() -> TestResult {
    let dir = tempfile::tempdir()?;
    let src = dir.path().join("src");
    for i in 0..1000 {
        write(&src, &format!("a/b/big/f{i:04}"), b"x");
    }
    write(&src, "a/b/big/Zed", b"upper sorts first");
    write(&src, "a/other/x", b"x");
    write(&src, "top.txt", b"top");
    let mut repo = crate::test_support::memory_repo()
        .await?
        .load_index()
        .await?;
    let (_, s) = snap(&mut repo, &src, 0).await;
    let cache = TreeCache::default();
    let mut names = Vec::new();
    let mut after = None;
    loop {
        let page = list_dir(
            &repo,
            &cache,
            &s,
            &DirOptions {
                path: "/a/b/big/".into(),
                after: after.take(),
                limit: 97,
            },
        )
        .await?;
        assert_eq!(page.total, 1001);
        names.extend(page.entries.iter().map(|e| e.name.clone()));
        match page.next_after {
            Some(n) => after = Some(n.into_bytes()),
            None => break,
        }
    }
    let mut want = names.clone();
    want.sort();
    assert_eq!(names, want, "name byte order");
    assert_eq!(names.len(), 1001);
    assert_eq!(names[0], "Zed");
    // Root, a, b, big: the trees on the way and nothing else (not `a/other`).
    assert_eq!(cache.loads(), 4);
    let up = list_dir(
        &repo,
        &cache,
        &s,
        &DirOptions {
            path: "a/b".into(),
            after: None,
            limit: 10,
        },
    )
    .await?;
    assert_eq!(up.entries.len(), 1);
    assert_eq!(
        cache.loads(),
        4,
        "going back up a level reads nothing again"
    );
    let e = &up.entries[0];
    assert_eq!(
        (e.name.as_str(), e.kind),
        ("big", crate::tree::NodeType::Dir)
    );
    assert_eq!(e.content, up.entries[0].content);
    for (path, is_missing) in [("a/nope", true), ("top.txt/x", false), ("a/../a", false)] {
        let r = list_dir(
            &repo,
            &cache,
            &s,
            &DirOptions {
                path: path.into(),
                after: None,
                limit: 10,
            },
        )
        .await;
        match r {
            Err(Error::NotFound { .. }) => assert!(is_missing, "{path}"),
            Err(Error::Invalid(_)) => assert!(!is_missing, "{path}"),
            other => panic!("{path}: {other:?}"),
        }
    }
    Ok(())
}

#[tokio::test]
async fn tree_cache_stays_within_its_bound() -> TestResult {
    let dir = tempfile::tempdir()?;
    let src = dir.path().join("src");
    for d in 0..20 {
        write(&src, &format!("d{d:02}/f"), b"x");
    }
    let mut repo = crate::test_support::memory_repo()
        .await?
        .load_index()
        .await?;
    let (_, s) = snap(&mut repo, &src, 0).await;
    let cache = TreeCache::new(1_000, 5);
    for d in 0..20 {
        let path = format!("d{d:02}");
        let opts = DirOptions {
            path,
            after: None,
            limit: 10,
        };
        list_dir(&repo, &cache, &s, &opts).await?;
    }
    let (held, _) = cache.held();
    assert!(held <= 5, "{held} trees held");
    Ok(())
}

#[tokio::test]
async fn open_file_reads_a_range_across_blobs() -> TestResult {
    let dir = tempfile::tempdir()?;
    let src = dir.path().join("src");
    let data = pseudo_random(5 << 20, 7);
    write(&src, "d/big.bin", &data);
    let mut repo = crate::test_support::memory_repo()
        .await?
        .load_index()
        .await?;
    let (_, s) = snap(&mut repo, &src, 0).await;
    let cache = TreeCache::default();
    let whole = open_file(
        &repo,
        &cache,
        &s,
        &FileReadOptions {
            path: "d/big.bin".into(),
            ..Default::default()
        },
    )
    .await?;
    assert!(whole.node.content.len() > 1, "spans several blobs");
    assert_eq!(collect(whole.stream).await?, data);
    for (offset, length) in [(0, 1), (1_234_567, 2_000_000), (5 << 20, 10), (100, 0)] {
        let r = open_file(
            &repo,
            &cache,
            &s,
            &FileReadOptions {
                path: "d/big.bin".into(),
                offset,
                length: Some(length),
            },
        )
        .await?;
        let start = (offset as usize).min(data.len());
        let end = (start + length as usize).min(data.len());
        assert_eq!(
            collect(r.stream).await?,
            &data[start..end],
            "{offset}+{length}"
        );
    }
    let dir_refused = open_file(
        &repo,
        &cache,
        &s,
        &FileReadOptions {
            path: "d".into(),
            ..Default::default()
        },
    )
    .await;
    assert!(matches!(dir_refused, Err(Error::Invalid(_))));
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_damaged_blob_is_an_error_never_short_data() -> TestResult {
    let dir = tempfile::tempdir()?;
    let src = dir.path().join("src");
    let data = pseudo_random(5 << 20, 9);
    write(&src, "big.bin", &data);
    let mut repo = file_repo(dir.path()).await;
    let (_, s) = snap(&mut repo, &src, 0).await;
    let repo = repo.load_index().await?;
    let cache = TreeCache::default();
    let opts = FileReadOptions {
        path: "big.bin".into(),
        ..Default::default()
    };
    let node = open_file(&repo, &cache, &s, &opts).await?.node;
    damage(&repo, dir.path(), &node.content[1]);
    let mut stream = open_file(&repo, &cache, &s, &opts).await?.stream;
    let first = stream.next().await.ok_or("no first item")??;
    assert_eq!(&first[..], &data[..first.len()]);
    match stream.next().await {
        Some(Err(e)) => assert!(e.to_string().contains("big.bin"), "{e}"),
        other => panic!("the damaged blob gave {other:?}"),
    }
    let archived = archive(
        &repo,
        Arc::new(TreeCache::default()),
        &s,
        &ArchiveOptions::default(),
    )
    .await?;
    assert!(
        collect(archived).await.is_err(),
        "the archive ends in an error"
    );
    Ok(())
}

#[tokio::test]
async fn versions_lists_each_content_once_newest_first_with_absences() -> TestResult {
    let dir = tempfile::tempdir()?;
    let src = dir.path().join("src");
    write(&src, "docs/a.txt", b"one");
    let mut repo = crate::test_support::memory_repo()
        .await?
        .load_index()
        .await?;
    let s1 = snap(&mut repo, &src, 1).await;
    let s2 = snap(&mut repo, &src, 2).await;
    write(&src, "docs/a.txt", b"two!");
    let s3 = snap(&mut repo, &src, 3).await;
    std::fs::remove_file(src.join("docs/a.txt"))?;
    write(&src, "docs/keep", b"k");
    let s4 = snap(&mut repo, &src, 4).await;
    let cache = TreeCache::default();
    let v = versions(
        &repo,
        &cache,
        &VersionsOptions {
            volume: "v".into(),
            path: "docs/a.txt".into(),
        },
    )
    .await?;
    assert_eq!(v.versions.len(), 2, "{v:?}");
    assert_eq!((v.versions[0].snapshot, v.versions[0].size), (s3.0, 4));
    assert_eq!(v.versions[1].snapshot, s2.0);
    let held: Vec<Id> = v.versions[1].snapshots.iter().map(|r| r.id).collect();
    assert_eq!(held, [s2.0, s1.0]);
    assert_ne!(v.versions[0].content, v.versions[1].content);
    let absent: Vec<Id> = v.absent.iter().map(|r| r.id).collect();
    assert_eq!(absent, [s4.0]);
    let none = versions(
        &repo,
        &cache,
        &VersionsOptions {
            volume: "other".into(),
            path: "docs/a.txt".into(),
        },
    )
    .await;
    assert!(matches!(none, Err(Error::NotFound { .. })));
    Ok(())
}

#[tokio::test]
async fn diff_page_pages_changes_with_sizes() -> TestResult {
    let dir = tempfile::tempdir()?;
    let src = dir.path().join("src");
    write(&src, "d/same", b"s");
    write(&src, "d/changed", b"old");
    write(&src, "d/gone", b"g");
    write(&src, "e/outside", b"o");
    let mut repo = crate::test_support::memory_repo()
        .await?
        .load_index()
        .await?;
    let (_, a) = snap(&mut repo, &src, 1).await;
    write(&src, "d/changed", b"newer");
    std::fs::remove_file(src.join("d/gone"))?;
    write(&src, "d/new/x", b"xx");
    write(&src, "e/outside", b"changed too");
    let (_, b) = snap(&mut repo, &src, 2).await;
    let cache = TreeCache::default();
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = diff_page(
            &repo,
            &cache,
            &a,
            &b,
            &DiffOptions {
                path: "d".into(),
                after: after.take(),
                limit: 2,
            },
        )
        .await?;
        assert_eq!(page.total, 4, "{page:?}");
        seen.extend(page.changes);
        match page.next_after {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    let got: Vec<(&str, Change, Option<u64>, Option<u64>)> = seen
        .iter()
        .map(|c| (c.path.as_str(), c.change, c.size_before, c.size_after))
        .collect();
    assert_eq!(
        got,
        [
            ("d/changed", Change::Modified, Some(3), Some(5)),
            ("d/gone", Change::Removed, Some(1), None),
            ("d/new", Change::Added, None, Some(0)),
            ("d/new/x", Change::Added, None, Some(2)),
        ]
    );
    // The whole diff is the one `holdfast diff` prints.
    let all = diff(&repo, &a, &b).await?;
    assert_eq!(all.len(), 5, "{all:?}");
    Ok(())
}

#[tokio::test]
async fn find_page_is_newest_first_and_stable_across_pages() -> TestResult {
    let dir = tempfile::tempdir()?;
    let src = dir.path().join("src");
    write(&src, "a/report.pdf", b"1");
    write(&src, "b/report.pdf", b"2");
    let mut repo = crate::test_support::memory_repo()
        .await?
        .load_index()
        .await?;
    let mut ids = Vec::new();
    for t in 0..3 {
        ids.push(snap(&mut repo, &src, t).await.0);
        write(&src, &format!("c{t}/report.pdf"), b"3");
    }
    let mut all = Vec::new();
    let mut after = None;
    loop {
        let page = find_page(
            &repo,
            &FindPageOptions {
                pattern: "*.pdf".into(),
                volume: Some("v".into()),
                after: after.take(),
                limit: 2,
            },
        )
        .await?;
        all.extend(page.found);
        match page.next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    let got: Vec<(Id, String)> = all.iter().map(|f| (f.snapshot, f.path.clone())).collect();
    let want = vec![
        (ids[2], "a/report.pdf".to_owned()),
        (ids[2], "b/report.pdf".to_owned()),
        (ids[2], "c0/report.pdf".to_owned()),
        (ids[2], "c1/report.pdf".to_owned()),
        (ids[1], "a/report.pdf".to_owned()),
        (ids[1], "b/report.pdf".to_owned()),
        (ids[1], "c0/report.pdf".to_owned()),
        (ids[0], "a/report.pdf".to_owned()),
        (ids[0], "b/report.pdf".to_owned()),
    ];
    assert_eq!(got, want);
    Ok(())
}

/// The snapshot of the archive tests: nested dirs, an empty file, a symlink, a file
/// spanning several blobs.
async fn archive_fixture() -> (tempfile::TempDir, IndexedRepository, Snapshot, Vec<u8>) {
    let dir = tempfile::tempdir().expect("tmp");
    let src = dir.path().join("src");
    let big = pseudo_random(3 << 20, 3);
    write(&src, "up/big.bin", &big);
    write(&src, "up/deep/er/small.txt", b"small");
    write(&src, "up/empty", b"");
    write(&src, "elsewhere", b"not archived");
    std::os::unix::fs::symlink("deep/er/small.txt", src.join("up/link")).expect("symlink");
    let mut repo = crate::test_support::memory_repo()
        .await
        .expect("repo")
        .load_index()
        .await
        .expect("index");
    let (_, s) = snap(&mut repo, &src, 0).await;
    (dir, repo, s, big)
}

#[tokio::test(flavor = "multi_thread")]
async fn archive_tar_zst_holds_every_entry_of_the_directory() -> TestResult {
    let (_dir, repo, s, big) = archive_fixture().await;
    let opts = ArchiveOptions {
        path: "up".into(),
        window: 1,
        ..Default::default()
    };
    let bytes = collect(archive(&repo, Arc::new(TreeCache::default()), &s, &opts).await?).await?;
    let tar_bytes = zstd::decode_all(&bytes[..])?;
    let mut ar = tar::Archive::new(&tar_bytes[..]);
    let mut got = std::collections::BTreeMap::new();
    for e in ar.entries()? {
        let mut e = e?;
        let path = e.path()?.to_string_lossy().into_owned();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut data)?;
        let link = e.link_name()?.map(|l| l.to_string_lossy().into_owned());
        got.insert(path, (e.header().entry_type(), data, link));
    }
    let names: Vec<&str> = got.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "up",
            "up/big.bin",
            "up/deep",
            "up/deep/er",
            "up/deep/er/small.txt",
            "up/empty",
            "up/link"
        ]
    );
    assert_eq!(got["up/big.bin"].1, big);
    assert_eq!(got["up/deep/er/small.txt"].1, b"small");
    assert_eq!(got["up/link"].2.as_deref(), Some("deep/er/small.txt"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn archive_zip_holds_every_entry_of_the_directory() -> TestResult {
    let (_dir, repo, s, big) = archive_fixture().await;
    let opts = ArchiveOptions {
        path: "up".into(),
        format: ArchiveFormat::Zip,
        ..Default::default()
    };
    let bytes = collect(archive(&repo, Arc::new(TreeCache::default()), &s, &opts).await?).await?;
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes))?;
    let mut names = Vec::new();
    for i in 0..zip.len() {
        let mut f = zip.by_index(i)?;
        let name = f.name()?.into_owned();
        if name == "up/big.bin" {
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut f, &mut data)?;
            assert_eq!(data, big);
        }
        names.push(name);
    }
    names.sort();
    assert_eq!(
        names,
        [
            "up/",
            "up/big.bin",
            "up/deep/",
            "up/deep/er/",
            "up/deep/er/small.txt",
            "up/empty",
            "up/link"
        ]
    );
    let missing = archive(
        &repo,
        Arc::new(TreeCache::default()),
        &s,
        &ArchiveOptions {
            path: "up/big.bin".into(),
            ..Default::default()
        },
    )
    .await;
    assert!(matches!(missing, Err(Error::Invalid(_))));
    Ok(())
}
