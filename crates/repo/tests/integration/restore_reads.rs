//! The restore's read planner and restore onto existing data, through a store wrapper
//! that counts the bytes it hands out (and how many are alive at once), and fails or
//! stalls a chosen read: byte-exact restores of mixed sets, a store that fails mid-range
//! leaves no partial file under a final name, the window of bytes in flight is honoured,
//! and a restore onto a target that already holds most of the data fetches only what
//! differs.

use std::fs;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use bytes::Bytes;
use holdfast_repo::{
    BackupOptions, Overwrite, PackReader, ReadFuture, ReadOptions, RestoreOptions,
};
use holdfast_store::{ErrorKind, Store};

use super::util::{TestRepo, TestResult, pseudo_random, snapshot_of};

/// What the wrapper does to the read numbered `at` (counting from 0) and every later one.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fault {
    None,
    /// The store is unavailable (its retries given up).
    Unavailable,
    /// The body stops half-way (the backend clipped it).
    Short,
    /// The read hangs until the test releases it, then times out as unavailable (and
    /// every later read fails at once).
    Stall,
}

/// A store wrapper: counts bytes handed out, tracks those still alive, injects a fault.
struct Wrapper {
    inner: Store,
    /// Bytes returned by reads.
    read: AtomicU64,
    reads: AtomicUsize,
    live: Arc<AtomicU64>,
    peak: Arc<AtomicU64>,
    fault: Fault,
    at: usize,
    stalled: tokio::sync::Notify,
    release: tokio::sync::Notify,
}

/// Read bytes whose owner counts itself out of `live` when the last view of it goes.
struct Tracked {
    data: Vec<u8>,
    live: Arc<AtomicU64>,
}

impl AsRef<[u8]> for Tracked {
    fn as_ref(&self) -> &[u8] {
        &self.data
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.live
            .fetch_sub(self.data.len() as u64, Ordering::SeqCst);
    }
}

impl Wrapper {
    fn new(inner: Store, fault: Fault, at: usize) -> Arc<Wrapper> {
        Arc::new(Wrapper {
            inner,
            read: AtomicU64::new(0),
            reads: AtomicUsize::new(0),
            live: Arc::default(),
            peak: Arc::default(),
            fault,
            at,
            stalled: tokio::sync::Notify::new(),
            release: tokio::sync::Notify::new(),
        })
    }

    fn unavailable(&self, key: &str) -> holdfast_store::Error {
        holdfast_store::Error::new(ErrorKind::Unavailable, "read", "wrapper://", key)
            .with_detail("timed out")
    }

    fn bytes_read(&self) -> u64 {
        self.read.load(Ordering::SeqCst)
    }
}

impl PackReader for Wrapper {
    fn read_range<'a>(&'a self, key: &'a str, range: Range<u64>) -> ReadFuture<'a, Bytes> {
        Box::pin(async move {
            let n = self.reads.fetch_add(1, Ordering::SeqCst);
            let faulty = self.fault != Fault::None && n >= self.at;
            match self.fault {
                Fault::Unavailable if faulty => return Err(self.unavailable(key)),
                Fault::Stall if n == self.at => {
                    self.stalled.notify_one();
                    self.release.notified().await;
                    return Err(self.unavailable(key));
                }
                Fault::Stall if faulty => return Err(self.unavailable(key)),
                _ => {}
            }
            let mut data = self.inner.read_range(key, range).await?.to_vec();
            if self.fault == Fault::Short && faulty {
                data.truncate(data.len() / 2);
            }
            let len = data.len() as u64;
            self.read.fetch_add(len, Ordering::SeqCst);
            let now = self.live.fetch_add(len, Ordering::SeqCst) + len;
            self.peak.fetch_max(now, Ordering::SeqCst);
            Ok(Bytes::from_owner(Tracked {
                data,
                live: self.live.clone(),
            }))
        })
    }

    fn size<'a>(&'a self, key: &'a str) -> ReadFuture<'a, u64> {
        Box::pin(async move { Ok(self.inner.stat(key).await?.size) })
    }
}

/// A mixed set: many small files sharing packs, a large file across packs, a file made
/// of one block repeated (the same blob many times), a file of zeros, an empty file.
fn mixed_set(root: &Path) -> std::io::Result<()> {
    for i in 0..300usize {
        let dir = root.join(format!("small/d{}", i % 9));
        fs::create_dir_all(&dir)?;
        fs::write(
            dir.join(format!("f{i:04}")),
            pseudo_random(1 + (i * 97) % 20_000, i as u64),
        )?;
    }
    fs::create_dir_all(root.join("big"))?;
    fs::write(
        root.join("big/across-packs.bin"),
        pseudo_random(40 << 20, 7),
    )?;
    let block = pseudo_random(1 << 20, 8);
    fs::write(root.join("big/repeated.bin"), block.repeat(8))?;
    fs::write(root.join("big/zeros.bin"), vec![0u8; 9 << 20])?;
    fs::write(root.join("empty"), b"")?;
    Ok(())
}

fn reads(reader: &Arc<Wrapper>, window: u64, connections: usize) -> ReadOptions {
    ReadOptions {
        connections: Some(connections),
        window,
        reader: Some(reader.clone() as Arc<dyn PackReader>),
    }
}

/// No temp file is left anywhere below `root`.
fn no_temp_files(root: &Path) -> std::io::Result<Vec<String>> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d)? {
            let e = e?;
            if e.file_type()?.is_dir() {
                stack.push(e.path());
            } else if e
                .file_name()
                .to_string_lossy()
                .starts_with(".holdfast-restore-")
            {
                out.push(e.path().display().to_string());
            }
        }
    }
    Ok(out)
}

/// Every file under its final name in `out` has the bytes of the same file in `src`.
fn every_file_complete(src: &Path, out: &Path) -> std::io::Result<usize> {
    let mut n = 0;
    let mut stack = vec![out.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d)? {
            let e = e?;
            let name = e.file_name().to_string_lossy().into_owned();
            if e.file_type()?.is_dir() {
                stack.push(e.path());
            } else if !name.starts_with(".holdfast-restore-") {
                let rel = e
                    .path()
                    .strip_prefix(out)
                    .map(Path::to_path_buf)
                    .unwrap_or_default();
                assert_eq!(
                    fs::read(e.path())?,
                    fs::read(src.join(&rel))?,
                    "{} is under its final name but not complete",
                    rel.display()
                );
                n += 1;
            }
        }
    }
    Ok(n)
}

/// Byte-exact restores of the mixed set with the default window and with the smallest
/// one (ranges cut small, few in flight), and a file of zeros restored sparse.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_sets_restore_byte_exact_through_the_planner() -> TestResult {
    let (t, mut repo) = TestRepo::new().await?;
    let src = t.dir.path().join("src");
    mixed_set(&src)?;
    let s = holdfast_repo::backup(&mut repo, &BackupOptions::new(&src)).await?;
    for (i, (window, connections)) in [(32u64 << 20, 32usize), (1, 1), (12 << 20, 64)]
        .into_iter()
        .enumerate()
    {
        let reader = Wrapper::new(repo.store().clone(), Fault::None, 0);
        let out = t.dir.path().join(format!("out{i}"));
        let opts = RestoreOptions {
            target: out.clone(),
            reads: reads(&reader, window, connections),
            ..Default::default()
        };
        let r = holdfast_repo::restore(&repo, &s.snapshot, &opts).await?;
        assert!(r.damaged.is_empty(), "{:?}", r.damaged);
        assert_eq!(snapshot_of(&out)?, snapshot_of(&src)?, "window {window}");
        assert!(no_temp_files(&out)?.is_empty());
        let zeros = fs::metadata(out.join("big/zeros.bin"))?;
        assert!(
            std::os::unix::fs::MetadataExt::blocks(&zeros) * 512 < 1 << 20,
            "a file of zeros is restored as a hole"
        );
        // Every byte fetched belongs to a blob the restore needed, but for the gaps
        // merged into ranges: the repeated block was read once, not 8 times.
        assert!(
            reader.bytes_read() < s.snapshot.size,
            "read {} of {}",
            reader.bytes_read(),
            s.snapshot.size
        );
    }
    Ok(())
}

/// The window of bytes fetched and not yet written is honoured however many requests may
/// be in flight: the wrapper counts the bytes it handed out that are still alive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_window_of_bytes_in_flight_is_honoured() -> TestResult {
    let (t, mut repo) = TestRepo::new().await?;
    let src = t.dir.path().join("src");
    mixed_set(&src)?;
    let s = holdfast_repo::backup(&mut repo, &BackupOptions::new(&src)).await?;
    let window = 12u64 << 20;
    let reader = Wrapper::new(repo.store().clone(), Fault::None, 0);
    let out = t.dir.path().join("out");
    let opts = RestoreOptions {
        target: out.clone(),
        reads: reads(&reader, window, 256),
        ..Default::default()
    };
    let r = holdfast_repo::restore(&repo, &s.snapshot, &opts).await?;
    assert!(r.damaged.is_empty(), "{:?}", r.damaged);
    assert_eq!(snapshot_of(&out)?, snapshot_of(&src)?);
    let peak = reader.peak.load(Ordering::SeqCst);
    assert!(peak > 0);
    assert!(
        peak <= window,
        "{peak} bytes alive at once, window {window}"
    );
    assert_eq!(
        reader.live.load(Ordering::SeqCst),
        0,
        "every fetched byte was let go"
    );
    Ok(())
}

/// Restores `snap` to `out` over a store that fails as
/// `fault` from its `at`-th read on; returns the restore's result.
async fn restore_with_fault(
    repo: &holdfast_repo::IndexedRepository,
    snap: &holdfast_repo::Snapshot,
    out: &Path,
    fault: Fault,
    at: usize,
) -> holdfast_repo::Result<holdfast_repo::RestoreSummary> {
    let reader = Wrapper::new(repo.store().clone(), fault, at);
    let opts = RestoreOptions {
        target: out.to_path_buf(),
        reads: reads(&reader, 12 << 20, 4),
        ..Default::default()
    };
    holdfast_repo::restore(repo, snap, &opts).await
}

/// Finding: a store that became unavailable mid-restore stopped the fetches, but every
/// file of the batch was still given its metadata and renamed into place, its unfetched
/// blobs left as zeros; the restore failed, with zero-filled files under final names.
/// Now a file is renamed only once all its writes happened.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_fails_mid_restore_leaves_no_partial_file_under_a_final_name() -> TestResult {
    let (t, mut repo) = TestRepo::new().await?;
    let src = t.dir.path().join("src");
    mixed_set(&src)?;
    let s = holdfast_repo::backup(&mut repo, &BackupOptions::new(&src)).await?;
    // How many reads a whole restore takes depends on how the backup's workers packed
    // the blobs: the fault goes at reads this restore is sure to make (a fixed 20 was
    // past the last read of some pack layouts, and the restore rightly succeeded).
    let counter = Wrapper::new(repo.store().clone(), Fault::None, 0);
    let clean = t.dir.path().join("clean");
    let opts = RestoreOptions {
        target: clean.clone(),
        reads: reads(&counter, 12 << 20, 4),
        ..Default::default()
    };
    holdfast_repo::restore(&repo, &s.snapshot, &opts).await?;
    let total = counter.reads.load(Ordering::SeqCst);
    assert!(total >= 2, "a restore of the set makes {total} reads");
    for at in [0, 1, total / 2] {
        let out = t.dir.path().join(format!("out{at}"));
        if out.exists() {
            continue;
        }
        let r = restore_with_fault(&repo, &s.snapshot, &out, Fault::Unavailable, at).await;
        let Err(e) = r else {
            panic!("a restore whose store failed must fail: {r:?}");
        };
        assert!(e.is_unavailable(), "{e}");
        every_file_complete(&src, &out)?;
        assert_eq!(no_temp_files(&out)?, Vec::<String>::new());
    }
    Ok(())
}

/// A body cut short mid-range: the blobs past the cut do not authenticate, so the files
/// that need them are damaged (listed, not written), never restored with a hole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_cut_mid_range_damages_only_the_files_that_need_it() -> TestResult {
    let (t, mut repo) = TestRepo::new().await?;
    let src = t.dir.path().join("src");
    mixed_set(&src)?;
    let s = holdfast_repo::backup(&mut repo, &BackupOptions::new(&src)).await?;
    let out = t.dir.path().join("out");
    let summary = restore_with_fault(&repo, &s.snapshot, &out, Fault::Short, 2).await?;
    assert!(!summary.damaged.is_empty(), "cut bodies must be reported");
    let complete = every_file_complete(&src, &out)?;
    assert_eq!(
        complete as u64, summary.files,
        "restored files are complete"
    );
    for d in &summary.damaged {
        assert!(
            !out.join(&d.path).exists(),
            "{} is damaged but present",
            d.path
        );
    }
    assert_eq!(no_temp_files(&out)?, Vec::<String>::new());
    Ok(())
}

/// A read that stalls: while it hangs, every file under a final name is complete; when
/// it times out the restore fails as unavailable and leaves no temp file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_read_fails_the_restore_loudly() -> TestResult {
    let (t, mut repo) = TestRepo::new().await?;
    let src = t.dir.path().join("src");
    mixed_set(&src)?;
    let s = holdfast_repo::backup(&mut repo, &BackupOptions::new(&src)).await?;
    let reader = Wrapper::new(repo.store().clone(), Fault::Stall, 5);
    let out = t.dir.path().join("out");
    let opts = RestoreOptions {
        target: out.clone(),
        reads: reads(&reader, 12 << 20, 1),
        ..Default::default()
    };
    let restore = {
        let (repo, snap) = (repo.clone(), s.snapshot.clone());
        tokio::spawn(async move { holdfast_repo::restore(&repo, &snap, &opts).await })
    };
    reader.stalled.notified().await;
    every_file_complete(&src, &out)?;
    reader.release.notify_one();
    let r = restore.await?;
    let Err(e) = r else {
        panic!("a restore whose read stalled must fail: {r:?}");
    };
    assert!(e.is_unavailable(), "{e}");
    every_file_complete(&src, &out)?;
    assert_eq!(no_temp_files(&out)?, Vec::<String>::new());
    Ok(())
}

/// Changes about 1 % of the restored set: a few small files rewritten, one 64 KiB patch
/// inside the large file.
fn change_one_percent(out: &Path) -> std::io::Result<()> {
    for i in [5usize, 77, 150] {
        let p = out.join(format!("small/d{}/f{i:04}", i % 9));
        fs::write(&p, pseudo_random(1 + (i * 97) % 20_000, 1000 + i as u64))?;
    }
    let big = out.join("big/across-packs.bin");
    let mut data = fs::read(&big)?;
    data[20 << 20..(20 << 20) + (64 << 10)].copy_from_slice(&pseudo_random(64 << 10, 99));
    fs::write(&big, data)
}

/// Target 2 of the restore work: a second restore onto a target that holds the data with
/// 1 % changed fetches at most a tenth of a cold restore's bytes, and ends byte-exact;
/// unchanged files are kept, the changed ones patched from what is still right in them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_onto_mostly_current_data_fetches_only_what_differs() -> TestResult {
    let (t, mut repo) = TestRepo::new().await?;
    let src = t.dir.path().join("src");
    mixed_set(&src)?;
    let s = holdfast_repo::backup(&mut repo, &BackupOptions::new(&src)).await?;
    let out = t.dir.path().join("out");
    let cold = Wrapper::new(repo.store().clone(), Fault::None, 0);
    let opts = RestoreOptions {
        target: out.clone(),
        reads: reads(&cold, 32 << 20, 8),
        ..Default::default()
    };
    holdfast_repo::restore(&repo, &s.snapshot, &opts).await?;
    change_one_percent(&out)?;
    let warm = Wrapper::new(repo.store().clone(), Fault::None, 0);
    let opts = RestoreOptions {
        target: out.clone(),
        overwrite: Some(Overwrite::IfChanged),
        reads: reads(&warm, 32 << 20, 8),
        ..Default::default()
    };
    let r = holdfast_repo::restore(&repo, &s.snapshot, &opts).await?;
    assert!(r.damaged.is_empty(), "{:?}", r.damaged);
    assert_eq!(snapshot_of(&out)?, snapshot_of(&src)?);
    assert_eq!(r.overwritten, 4, "the three small files and the large one");
    let (c, w) = (cold.bytes_read(), warm.bytes_read());
    assert!(w * 10 <= c, "warm restore read {w} bytes, cold {c}");
    Ok(())
}

/// With [`RestoreOptions::reuse`] (an in-place restore stages into an empty directory
/// beside the live data), the blobs found in the older copy are not fetched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_staged_restore_reuses_the_older_copy() -> TestResult {
    let (t, mut repo) = TestRepo::new().await?;
    let src = t.dir.path().join("src");
    mixed_set(&src)?;
    let s = holdfast_repo::backup(&mut repo, &BackupOptions::new(&src)).await?;
    let live = t.dir.path().join("live");
    let copy = holdfast_repo::restore(
        &repo,
        &s.snapshot,
        &RestoreOptions {
            target: live.clone(),
            ..Default::default()
        },
    )
    .await?;
    assert!(copy.damaged.is_empty());
    change_one_percent(&live)?;
    let before = snapshot_of(&live)?;
    let reader = Wrapper::new(repo.store().clone(), Fault::None, 0);
    let stage = t.dir.path().join("stage");
    let opts = RestoreOptions {
        target: stage.clone(),
        reuse: Some(live.clone()),
        reads: reads(&reader, 32 << 20, 8),
        ..Default::default()
    };
    let r = holdfast_repo::restore(&repo, &s.snapshot, &opts).await?;
    assert!(r.damaged.is_empty(), "{:?}", r.damaged);
    assert_eq!(snapshot_of(&stage)?, snapshot_of(&src)?);
    assert_eq!(snapshot_of(&live)?, before, "the older copy is only read");
    assert!(
        reader.bytes_read() * 10 <= s.snapshot.size,
        "read {}",
        reader.bytes_read()
    );
    Ok(())
}
