//! The conformance suite: plain async functions, each taking a fresh empty store and
//! asserting one contract of `Store`. Every backend runs every function.

use std::collections::BTreeSet;
use std::time::Duration;

use bytes::Bytes;
use chrono::Utc;
use futures::{StreamExt, TryStreamExt};
use holdfast_store::{DiskCache, ErrorKind, ListOptions, Location, Store, checksum};

fn pattern(len: usize, seed: u8) -> Bytes {
    Bytes::from(
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect::<Vec<u8>>(),
    )
}

/// The in-memory backend keeps no modification times; every other backend does.
fn reports_mtime(store: &Store) -> bool {
    store.location() != &Location::Memory
}

async fn keys(
    store: &Store,
    prefix: &str,
    recursive: bool,
    filter: Option<&str>,
) -> BTreeSet<String> {
    store
        .list(
            prefix,
            ListOptions {
                recursive,
                filter: filter.map(str::to_string),
            },
        )
        .map_ok(|m| m.key)
        .try_collect()
        .await
        .expect("list")
}

pub async fn sizes_round_trip(store: &Store) {
    for (key, len) in [("empty", 0usize), ("one", 1), ("big/twenty-mib", 20 << 20)] {
        let data = pattern(len, 7);
        store.write(key, data.clone()).await.expect("write");
        assert_eq!(
            store.stat(key).await.expect("stat").size,
            len as u64,
            "{key}"
        );
        assert_eq!(store.read(key).await.expect("read"), data, "{key}");
        let streamed: Vec<Bytes> = store
            .read_stream(key)
            .await
            .expect("stream")
            .try_collect()
            .await
            .expect("stream");
        assert_eq!(streamed.concat(), data.to_vec(), "{key} streamed");
    }
    let data = pattern(20 << 20, 9);
    let pieces: Vec<std::io::Result<Bytes>> = data
        .chunks(3 << 20)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let n = store
        .write_stream("big/streamed", futures::stream::iter(pieces))
        .await
        .expect("write_stream");
    assert_eq!(n, data.len() as u64);
    assert_eq!(store.read("big/streamed").await.expect("read"), data);
}

pub async fn nested_listing(store: &Store) {
    for k in ["a/b/c.txt", "a/d.txt", "a/b/e/f.txt", "g.txt", "ab.txt"] {
        store
            .write(k, Bytes::from_static(b"x"))
            .await
            .expect("write");
    }
    let all = keys(store, "", true, None).await;
    assert_eq!(
        all,
        ["a/b/c.txt", "a/b/e/f.txt", "a/d.txt", "ab.txt", "g.txt"]
            .map(String::from)
            .into()
    );
    assert_eq!(
        keys(store, "a/", false, None).await,
        ["a/d.txt".to_string()].into()
    );
    assert_eq!(keys(store, "a/", true, None).await.len(), 3);
    assert_eq!(
        keys(store, "a", false, None).await,
        ["ab.txt".to_string()].into()
    );
    assert_eq!(keys(store, "", true, Some("**/*.txt")).await.len(), 5);
    assert_eq!(keys(store, "", true, Some("a/**")).await.len(), 3);
    assert_eq!(
        keys(store, "", true, Some("a/*/c.txt")).await,
        ["a/b/c.txt".to_string()].into()
    );
    assert!(keys(store, "missing/", true, None).await.is_empty());
    let meta = store
        .list("a/", ListOptions::default())
        .next()
        .await
        .expect("one entry")
        .expect("ok");
    assert_eq!(meta.size, 1);
    assert_eq!(
        meta.modified.is_some(),
        reports_mtime(store),
        "listing reports mtime"
    );
}

pub async fn listing_pages_past_1000(store: &Store) {
    let n = 1100;
    futures::stream::iter(0..n)
        .map(|i| async move {
            store
                .write(&format!("many/{i:05}"), Bytes::from_static(b""))
                .await
        })
        .buffer_unordered(32)
        .try_collect::<Vec<_>>()
        .await
        .expect("writes");
    let listed = keys(store, "many/", false, None).await;
    assert_eq!(listed.len(), n);
    assert!(listed.contains("many/01099"));
}

pub async fn ranges(store: &Store) {
    let data = pattern(100_000, 3);
    store.write("r", data.clone()).await.expect("write");
    assert_eq!(
        store.read_range("r", 0..10).await.expect("head"),
        data.slice(0..10)
    );
    assert_eq!(
        store.read_range("r", 5000..70_000).await.expect("mid"),
        data.slice(5000..70_000)
    );
    assert_eq!(
        store.read_range("r", 99_999..100_000).await.expect("last"),
        data.slice(99_999..)
    );
    assert!(store.read_range("r", 7..7).await.expect("empty").is_empty());
    let streamed: Vec<Bytes> = store
        .read_stream_range("r", Some(10..20))
        .await
        .expect("stream")
        .try_collect()
        .await
        .expect("stream");
    assert_eq!(streamed.concat(), data.slice(10..20).to_vec());
    let missing = store.read_range("nope", 0..1).await.expect_err("missing");
    assert_eq!(missing.kind(), ErrorKind::NotFound);
}

pub async fn overwrite_is_atomic(store: &Store) {
    let v1 = pattern(4 << 20, 1);
    let v2 = pattern(4 << 20, 2);
    store.write("obj", v1.clone()).await.expect("write v1");
    let writer = {
        let (s, v2) = (store.clone(), v2.clone());
        tokio::spawn(async move { s.write("obj", v2).await })
    };
    for _ in 0..8 {
        let got = store.read("obj").await.expect("read during overwrite");
        assert!(
            got == v1 || got == v2,
            "a reader saw a partial object ({} bytes)",
            got.len()
        );
    }
    writer.await.expect("join").expect("write v2");
    assert_eq!(store.read("obj").await.expect("read"), v2);
    assert_eq!(
        keys(store, "", true, None).await,
        ["obj".to_string()].into(),
        "no temp objects left"
    );
}

pub async fn delete_missing_is_ok(store: &Store) {
    store
        .delete_file("never/was")
        .await
        .expect("absent delete succeeds");
    store
        .delete_dir("never", true)
        .await
        .expect("absent dir delete succeeds");
    store
        .write("k", Bytes::from_static(b"v"))
        .await
        .expect("write");
    store.delete_file("k").await.expect("delete");
    assert!(!store.file_exists("k").await.expect("exists"));
    assert_eq!(
        store.stat("k").await.expect_err("gone").kind(),
        ErrorKind::NotFound
    );
}

pub async fn write_if_absent_race(store: &Store) {
    if !store.capabilities().await.write_if_absent {
        let e = store
            .write_if_absent("lock", Bytes::from_static(b"a"))
            .await
            .expect_err("unsupported");
        assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
        return;
    }
    let racers = 8;
    let results = futures::future::join_all((0..racers).map(|i| {
        let s = store.clone();
        tokio::spawn(async move {
            (
                i,
                s.write_if_absent("lock", Bytes::from(format!("writer {i}")))
                    .await,
            )
        })
    }))
    .await;
    let mut winners = Vec::new();
    for r in results {
        let (i, res) = r.expect("join");
        match res {
            Ok(()) => winners.push(i),
            Err(e) => assert_eq!(e.kind(), ErrorKind::AlreadyExists, "{e}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one writer wins: {winners:?}");
    assert_eq!(
        store.read("lock").await.expect("read"),
        format!("writer {}", winners[0])
    );
}

pub async fn delete_older_than(store: &Store) {
    assert_eq!(
        store
            .delete_older_than("nothing-here", Utc::now())
            .await
            .expect("missing dir")
            .deleted,
        0
    );
    store.write("logs/a", pattern(10, 0)).await.expect("write");
    store
        .write("logs/sub/b", pattern(20, 0))
        .await
        .expect("write");
    store.write("keep/c", pattern(30, 0)).await.expect("write");
    let past = Utc::now() - chrono::Duration::hours(1);
    let none = store
        .delete_older_than("logs", past)
        .await
        .expect("cleanup");
    assert_eq!((none.deleted, none.bytes, none.errors), (0, 0, 0));
    let future = Utc::now() + chrono::Duration::hours(1);
    let all = store
        .delete_older_than("logs/", future)
        .await
        .expect("cleanup");
    if !reports_mtime(store) {
        assert_eq!(
            (all.deleted, all.errors),
            (0, 0),
            "objects without a time are never old"
        );
        return;
    }
    assert_eq!((all.deleted, all.bytes, all.errors), (2, 30, 0));
    assert_eq!(
        keys(store, "", true, None).await,
        ["keep/c".to_string()].into()
    );
}

pub async fn fs_mtime_cleanup(store: &Store) {
    let root = store.local_root().expect("fs store");
    store.write("d/old", pattern(100, 0)).await.expect("write");
    store.write("d/new", pattern(5, 0)).await.expect("write");
    let old = std::fs::File::options()
        .write(true)
        .open(root.join("d/old"))
        .expect("open");
    old.set_modified(std::time::SystemTime::now() - Duration::from_secs(10 * 86_400))
        .expect("set mtime");
    let r = store
        .delete_older_than("d", Utc::now() - chrono::Duration::days(7))
        .await
        .expect("cleanup");
    assert_eq!((r.deleted, r.bytes), (1, 100));
    assert_eq!(
        keys(store, "d/", true, None).await,
        ["d/new".to_string()].into()
    );
}

pub async fn unicode_names(store: &Store) {
    let names = [
        "données/résumé 1.txt",
        "ファイル/データ.bin",
        "emoji/🦀 crab.rs",
        "space in/name with+plus",
    ];
    for (i, k) in names.iter().enumerate() {
        store.write(k, pattern(i + 1, 5)).await.expect("write");
    }
    for (i, k) in names.iter().enumerate() {
        assert_eq!(store.read(k).await.expect("read"), pattern(i + 1, 5), "{k}");
    }
    let listed = keys(store, "", true, None).await;
    assert_eq!(listed, names.iter().map(|s| s.to_string()).collect());
}

pub async fn rejected_keys(store: &Store) {
    for bad in [
        "../escape",
        "a/../../b",
        "/etc/passwd",
        "nul\0byte",
        "a//b",
        "./x",
        "",
    ] {
        let e = store
            .write(bad, Bytes::from_static(b"x"))
            .await
            .expect_err(bad);
        assert_eq!(e.kind(), ErrorKind::InvalidKey, "{bad:?}: {e}");
        assert_eq!(
            store.read(bad).await.expect_err(bad).kind(),
            ErrorKind::InvalidKey
        );
        assert_eq!(
            store.delete_file(bad).await.expect_err(bad).kind(),
            ErrorKind::InvalidKey
        );
    }
    assert!(
        keys(store, "", true, None).await.is_empty(),
        "nothing was written"
    );
}

pub async fn cache_ttl(store: &Store) {
    let cache = DiskCache::new(store.clone(), "cache");
    cache
        .set(
            "user:1",
            Bytes::from_static(b"alice"),
            Duration::from_secs(3600),
        )
        .await
        .expect("set");
    cache
        .set(
            "../weird key/..",
            Bytes::from_static(b"w"),
            Duration::from_secs(3600),
        )
        .await
        .expect("set");
    cache
        .set("gone", Bytes::from_static(b"old"), Duration::ZERO)
        .await
        .expect("set");
    cache
        .set("gone2", Bytes::from_static(b"old"), Duration::ZERO)
        .await
        .expect("set");
    assert_eq!(
        cache.get("user:1").await.expect("get"),
        Some(Bytes::from_static(b"alice"))
    );
    assert_eq!(
        cache.get("../weird key/..").await.expect("get"),
        Some(Bytes::from_static(b"w"))
    );
    assert_eq!(cache.get("gone").await.expect("get"), None, "expired entry");
    assert_eq!(
        keys(store, "cache/", true, None).await.len(),
        3,
        "expired entry deleted on read"
    );
    assert_eq!(cache.purge_expired().await.expect("purge"), 1);
    cache.delete("user:1").await.expect("delete");
    cache.delete("never-set").await.expect("delete absent");
    assert_eq!(cache.get("user:1").await.expect("get"), None);
    assert_eq!(keys(store, "cache/", true, None).await.len(), 1);
}

pub async fn directories(store: &Store) {
    assert!(!store.dir_exists("d").await.expect("dir_exists"));
    store.ensure_dir("d/e").await.expect("ensure_dir");
    store.ensure_dir("d/e").await.expect("ensure_dir twice");
    assert!(store.dir_exists("d/e").await.expect("dir_exists"));
    store
        .write("d/e/f", Bytes::from_static(b"1"))
        .await
        .expect("write");
    let e = store.delete_dir("d/e", false).await.expect_err("not empty");
    assert_eq!(e.kind(), ErrorKind::DirectoryNotEmpty);
    store.delete_dir("d", true).await.expect("recursive delete");
    assert!(!store.file_exists("d/e/f").await.expect("exists"));
    assert!(!store.dir_exists("d").await.expect("dir_exists"));
}

pub async fn checksums(store: &Store) {
    let data = pattern(3 << 20, 11);
    store.write("sum", data.clone()).await.expect("write");
    let sums = checksum::checksum_object(store, "sum")
        .await
        .expect("checksum");
    assert_eq!(sums.sha256, checksum::sha256_hex(&data));
    assert_eq!(sums.blake3, checksum::blake3_hex(&data));
    assert_eq!(sums.size, data.len() as u64);
}

pub async fn fs_symlinks_are_not_objects_and_do_not_break_listing(store: &Store) {
    let root = store.local_root().expect("fs store");
    store
        .write("real/a.txt", Bytes::from_static(b"a"))
        .await
        .expect("write");
    std::os::unix::fs::symlink(root.join("real"), root.join("link-to-dir")).expect("dir symlink");
    std::os::unix::fs::symlink("/etc/hostname", root.join("real/link-out")).expect("file symlink");
    assert_eq!(
        keys(store, "", true, None).await,
        ["real/a.txt".to_string()].into()
    );
    assert_eq!(
        keys(store, "real/", false, None).await,
        ["real/a.txt".to_string()].into()
    );
}

pub async fn fs_reads_of_a_missing_root_create_nothing(store: &Store) {
    let root = store.local_root().expect("fs store").to_path_buf();
    assert!(!root.exists());
    assert_eq!(
        store.read("x").await.expect_err("missing").kind(),
        ErrorKind::NotFound
    );
    assert!(!store.file_exists("x").await.expect("exists"));
    assert!(keys(store, "", true, None).await.is_empty());
    assert!(!store.dir_exists("d").await.expect("dir_exists"));
    store.delete_file("x").await.expect("delete absent");
    assert!(!root.exists(), "no read created the store's directory");
    store
        .write("x", Bytes::from_static(b"1"))
        .await
        .expect("first write creates it");
    assert_eq!(store.read("x").await.expect("read"), "1");
}

pub async fn fs_failed_write_leaves_no_temp_file(store: &Store) {
    let root = store.local_root().expect("fs store");
    store
        .write("dir/inner", Bytes::from_static(b"1"))
        .await
        .expect("write");
    let e = store
        .write("dir", Bytes::from_static(b"2"))
        .await
        .expect_err("a directory is in the way");
    assert_eq!(e.kind(), ErrorKind::AlreadyExists, "{e}");
    let pieces: Vec<std::io::Result<Bytes>> = vec![
        Ok(Bytes::from_static(b"part")),
        Err(std::io::Error::other("source failed")),
    ];
    store
        .write_stream("streamed", futures::stream::iter(pieces))
        .await
        .expect_err("source fails");
    assert!(
        !store.file_exists("streamed").await.expect("exists"),
        "no partial object"
    );
    let temps: Vec<_> = std::fs::read_dir(root.join(holdfast_store::TEMP_DIR))
        .map(|rd| rd.filter_map(Result::ok).map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(temps.is_empty(), "temp files left: {temps:?}");
}

/// Finding: a killed write leaves its temp file in `.holdfast-tmp` and nothing removed
/// it. `remove_stale_temp` removes the ones older than the given age and keeps fresh
/// ones (a write may be in flight); other backends have none.
pub async fn fs_stale_temp_files_are_removed(store: &Store) {
    let root = store.local_root().expect("fs store");
    store
        .write("data/ab/kept", Bytes::from_static(b"object"))
        .await
        .expect("write");
    let tmp = root.join(holdfast_store::TEMP_DIR);
    let old = std::time::SystemTime::now() - Duration::from_secs(2 * 3600);
    for (name, len, stale) in [
        ("killed-1", 1000usize, true),
        ("killed-2", 24, true),
        ("in-flight", 7, false),
    ] {
        let path = tmp.join(name);
        std::fs::write(&path, vec![0u8; len]).expect("temp file");
        if stale {
            let f = std::fs::File::options()
                .write(true)
                .open(&path)
                .expect("open");
            f.set_modified(old).expect("set mtime");
        }
    }
    let report = store
        .remove_stale_temp(Duration::from_secs(3600))
        .await
        .expect("remove stale temp");
    assert_eq!((report.deleted, report.bytes, report.errors), (2, 1024, 0));
    let left: Vec<_> = std::fs::read_dir(&tmp)
        .expect("temp dir")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, ["in-flight"]);
    assert_eq!(
        store.read("data/ab/kept").await.expect("object kept"),
        "object"
    );
    let again = store
        .remove_stale_temp(Duration::from_secs(3600))
        .await
        .expect("again");
    assert_eq!(again.deleted, 0);
    let memory = Store::open("memory://").expect("memory");
    assert_eq!(
        memory
            .remove_stale_temp(Duration::ZERO)
            .await
            .expect("memory"),
        holdfast_store::CleanupReport::default()
    );
}
