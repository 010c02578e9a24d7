//! The protocols that restore into a live volume (`holdfast_volume::restore`), in
//! process against a `memory://` repository: what each replaces, what it leaves alone
//! (holdfast's own state, the data when a check fails), and the errors that name the
//! volume, the snapshot or the database.

use std::path::{Path, PathBuf};

use holdfast_repo::{Id, IndexedRepository, InitOptions, KdfParams, Snapshot};
use holdfast_volume::backup::{VolumeBackupOptions, backup_volume};
use holdfast_volume::config::Config;
use holdfast_volume::restore::database::{self, DatabaseOptions, DatabaseRestoreError};
use holdfast_volume::restore::empty::{self, Refill};
use holdfast_volume::restore::in_place::{self, InPlaceError, InPlaceOptions};
use holdfast_volume::restore::missing::{self, Missing, MissingError, MissingOptions};
use holdfast_volume::swap::SwapOptions;

async fn repo() -> IndexedRepository {
    let store = holdfast_store::Store::open("memory://").expect("store");
    let opts = InitOptions {
        password: "pw".into(),
        kdf: KdfParams::insecure_fast(),
    };
    holdfast_repo::init(store, &opts)
        .await
        .expect("init")
        .load_index()
        .await
        .expect("index")
}

/// A volume `data` at `dir` with `extra` lines in its `[[volumes]]` table.
fn config(dir: &Path, extra: &str) -> Config {
    named("data", dir, extra)
}

/// A volume `name` at `dir` with `extra` lines in its `[[volumes]]` table.
fn named(name: &str, dir: &Path, extra: &str) -> Config {
    format!(
        "[[volumes]]\nname = \"{name}\"\npath = \"{}\"\n{extra}\n",
        dir.display()
    )
    .parse()
    .expect("config")
}

async fn backup(repo: &mut IndexedRepository, cfg: &Config) -> (Id, Snapshot) {
    let s = backup_volume(repo, &cfg.volumes[0], &VolumeBackupOptions::default())
        .await
        .expect("backup");
    let (id, snap) = repo.find_snapshot(&s.id.to_hex()).await.expect("find");
    (id, snap)
}

/// Every file below `dir` but holdfast's state, with its content, sorted.
fn files(dir: &Path) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_entry(|e| e.file_name() != ".holdfast")
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let rel = e
                .path()
                .strip_prefix(dir)
                .expect("below")
                .display()
                .to_string();
            let text = std::fs::read_to_string(e.path()).unwrap_or_default();
            (rel, text)
        })
        .collect();
    out.sort();
    out
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[tokio::test]
async fn in_place_replaces_the_data_and_keeps_holdfast_state() {
    let vol = tempfile::tempdir().expect("volume");
    std::fs::write(vol.path().join("a.txt"), "one").expect("write");
    std::fs::create_dir(vol.path().join("sub")).expect("mkdir");
    std::fs::write(vol.path().join("sub/b.txt"), "two").expect("write");
    let cfg = config(vol.path(), "");
    let mut repo = repo().await;
    let (id, snap) = backup(&mut repo, &cfg).await;
    std::fs::write(vol.path().join("a.txt"), "changed").expect("write");
    std::fs::write(vol.path().join("new.txt"), "new").expect("write");
    std::fs::create_dir_all(vol.path().join(".holdfast/cache")).expect("mkdir");
    std::fs::write(vol.path().join(".holdfast/cache/x"), "own").expect("write");

    let volume =
        in_place::volume_of(Some(&cfg), Path::new("holdfast.toml"), id, &snap).expect("configured");
    let opts = InPlaceOptions {
        swap: SwapOptions {
            keep_old: true,
            hook: None,
        },
        ..Default::default()
    };
    let done = in_place::restore_in_place(&repo, volume, id, &snap, &opts)
        .await
        .expect("restore");
    assert_eq!(
        (done.files, done.snapshot.as_str()),
        (2, id.short().as_str())
    );
    assert_eq!(
        files(vol.path()),
        pairs(&[("a.txt", "one"), ("sub/b.txt", "two")])
    );
    assert_eq!(
        std::fs::read_to_string(vol.path().join(".holdfast/cache/x")).expect("own"),
        "own"
    );
    let kept = done.kept.expect("kept");
    assert!(
        kept.starts_with(vol.path().join(".holdfast/kept")),
        "{kept:?}"
    );
    assert_eq!(
        files(&kept),
        pairs(&[
            ("a.txt", "changed"),
            ("new.txt", "new"),
            ("sub/b.txt", "two")
        ])
    );
}

#[tokio::test]
async fn in_place_refuses_a_snapshot_of_an_unconfigured_volume() {
    let vol = tempfile::tempdir().expect("volume");
    std::fs::write(vol.path().join("a.txt"), "one").expect("write");
    let cfg = config(vol.path(), "");
    let mut repo = repo().await;
    let (id, snap) = backup(&mut repo, &cfg).await;
    let other = named("other", &vol.path().join("elsewhere"), "");
    let err = in_place::volume_of(Some(&other), Path::new("/etc/holdfast.toml"), id, &snap)
        .expect_err("not configured");
    assert!(matches!(err, InPlaceError::NotConfigured { .. }));
    let text = err.to_string();
    assert!(
        text.contains(&id.short())
            && text.contains("volume data")
            && text.contains("/etc/holdfast.toml"),
        "{text}"
    );
    let err = in_place::volume_of(None, Path::new("holdfast.toml"), id, &snap).expect_err("none");
    assert!(matches!(err, InPlaceError::NotConfigured { .. }));
}

#[tokio::test]
async fn missing_files_come_back_and_an_absent_one_touches_nothing() {
    let vol = tempfile::tempdir().expect("volume");
    std::fs::create_dir(vol.path().join("db")).expect("mkdir");
    std::fs::write(vol.path().join("db/app.db"), "database").expect("write");
    std::fs::write(vol.path().join("keep.txt"), "live").expect("write");
    let cfg = config(vol.path(), "restore_if_missing = [\"db/app.db\"]");
    let mut repo = repo().await;
    let opts = MissingOptions::default();
    let volume = &cfg.volumes[0];
    assert_eq!(
        missing::restore_missing(&repo, volume, &opts)
            .await
            .expect("none"),
        Missing::NoneMissing
    );
    std::fs::remove_file(vol.path().join("db/app.db")).expect("rm");
    match missing::restore_missing(&repo, volume, &opts).await {
        Ok(Missing::NoSnapshot { missing }) => {
            assert_eq!(missing, [PathBuf::from("db/app.db")]);
        }
        other => panic!("{other:?}"),
    }
    std::fs::write(vol.path().join("db/app.db"), "database").expect("write");
    let (_, snap) = backup(&mut repo, &cfg).await;
    std::fs::remove_file(vol.path().join("db/app.db")).expect("rm");
    std::fs::write(vol.path().join("keep.txt"), "newer").expect("write");
    match missing::restore_missing(&repo, volume, &opts).await {
        Ok(Missing::Restored(r)) => {
            assert_eq!(r.files, [PathBuf::from("db/app.db")]);
            assert_eq!(r.time, snap.time);
            assert_eq!(r.note, None);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        files(vol.path()),
        pairs(&[("db/app.db", "database"), ("keep.txt", "newer")])
    );

    // A listed file the latest snapshot does not hold: refused, the volume untouched.
    let cfg = config(
        vol.path(),
        "restore_if_missing = [\"db/app.db\", \"never.txt\"]",
    );
    let err = missing::restore_missing(&repo, &cfg.volumes[0], &opts)
        .await
        .expect_err("absent");
    assert!(
        matches!(&err, MissingError::NotInSnapshot { absent, .. } if absent == &[PathBuf::from("never.txt")]),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("volume data") && text.contains("holds no never.txt"),
        "{text}"
    );
    assert_eq!(
        files(vol.path()),
        pairs(&[("db/app.db", "database"), ("keep.txt", "newer")])
    );
    assert!(holdfast_volume::swap::pending(vol.path()).is_empty());
}

#[tokio::test]
async fn an_empty_volume_is_refilled_and_a_full_one_left_alone() {
    let vol = tempfile::tempdir().expect("volume");
    std::fs::write(vol.path().join("a.txt"), "one").expect("write");
    let cfg = config(vol.path(), "restore_if_empty = true");
    let mut repo = repo().await;
    let (id, _) = backup(&mut repo, &cfg).await;
    let volume = &cfg.volumes[0];
    let refill = empty::refill(&repo, volume, SwapOptions::default())
        .await
        .expect("refill");
    assert_eq!(refill, Refill::NotEmpty);
    std::fs::remove_file(vol.path().join("a.txt")).expect("rm");
    match empty::refill(&repo, volume, SwapOptions::default()).await {
        Ok(Refill::Restored(r)) => assert_eq!((r.snapshot, r.files), (id.short(), 1)),
        other => panic!("{other:?}"),
    }
    assert_eq!(files(vol.path()), pairs(&[("a.txt", "one")]));
}

#[tokio::test]
async fn a_sqlite_database_is_swapped_in_and_wrong_requests_are_refused() {
    let vol = tempfile::tempdir().expect("volume");
    let db = vol.path().join("app.db");
    let conn = rusqlite::Connection::open(&db).expect("create");
    conn.execute_batch("CREATE TABLE t(n INTEGER); INSERT INTO t VALUES (1);")
        .expect("table");
    drop(conn);
    let cfg = config(
        vol.path(),
        "databases = [{ kind = \"sqlite\", path = \"app.db\" }]",
    );
    let mut repo = repo().await;
    let (_, snap) = backup(&mut repo, &cfg).await;
    let conn = rusqlite::Connection::open(&db).expect("open");
    conn.execute("INSERT INTO t VALUES (2)", [])
        .expect("insert");
    drop(conn);

    let name = cfg.volumes[0].databases[0].name();
    let config_path = Path::new("holdfast.toml");
    let err = database::locate(&cfg, config_path, &snap, "nope").expect_err("unknown");
    assert!(
        matches!(err, DatabaseRestoreError::Unknown { .. }) && err.is_input(),
        "{err:?}"
    );
    assert!(err.to_string().contains(&name), "{err}");
    let mut elsewhere = snap.clone();
    elsewhere.volume = Some("other".into());
    let err = database::locate(&cfg, config_path, &elsewhere, &name).expect_err("volume");
    assert!(
        matches!(err, DatabaseRestoreError::OtherVolume { .. }),
        "{err:?}"
    );

    let (volume, found) = database::locate(&cfg, config_path, &snap, &name).expect("found");
    let done = database::restore_database(&repo, volume, found, &snap, &DatabaseOptions::default())
        .await
        .expect("restore");
    assert_eq!((done.kind, done.kept), ("sqlite", None));
    let conn = rusqlite::Connection::open(&db).expect("open restored");
    let n: i64 = conn
        .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
        .expect("count");
    assert_eq!(n, 1, "the snapshot's copy is in");
    assert!(holdfast_volume::swap::pending(vol.path()).is_empty());
}

/// Counts the pack bytes a restore fetches from the store.
struct Counting {
    inner: holdfast_store::Store,
    read: std::sync::atomic::AtomicU64,
}

impl holdfast_repo::PackReader for Counting {
    fn read_range<'a>(
        &'a self,
        key: &'a str,
        range: std::ops::Range<u64>,
    ) -> holdfast_repo::ReadFuture<'a, bytes::Bytes> {
        Box::pin(async move {
            let data = self.inner.read_range(key, range).await?;
            self.read
                .fetch_add(data.len() as u64, std::sync::atomic::Ordering::SeqCst);
            Ok(data)
        })
    }

    fn size<'a>(&'a self, key: &'a str) -> holdfast_repo::ReadFuture<'a, u64> {
        Box::pin(async move { Ok(self.inner.stat(key).await?.size) })
    }
}

/// An in-place restore over live data that mostly matches the snapshot copies what it
/// shares from the live files instead of fetching it: of 8 MiB of incompressible files,
/// one 64 KiB file changed, the restore fetches less than a tenth, and the volume ends
/// byte-exact as the snapshot.
#[tokio::test]
async fn in_place_fetches_only_what_the_live_data_lacks() {
    let vol = tempfile::tempdir().expect("volume");
    let mut seed = 7u64;
    let mut noise = |n: usize| -> Vec<u8> {
        (0..n)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect()
    };
    for i in 0..8 {
        std::fs::write(vol.path().join(format!("f{i}")), noise(1 << 20)).expect("write");
    }
    std::fs::write(vol.path().join("small"), noise(64 << 10)).expect("write");
    let cfg = config(vol.path(), "");
    let mut repo = repo().await;
    let (id, snap) = backup(&mut repo, &cfg).await;
    let bytes_of = |dir: &Path| -> Vec<(String, Vec<u8>)> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .expect("list")
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n != ".holdfast")
            .collect();
        names.sort();
        names
            .into_iter()
            .map(|n| (n.clone(), std::fs::read(dir.join(&n)).expect("read")))
            .collect()
    };
    let want = bytes_of(vol.path());
    std::fs::write(vol.path().join("small"), noise(64 << 10)).expect("change");
    let counting = std::sync::Arc::new(Counting {
        inner: repo.store().clone(),
        read: Default::default(),
    });
    let volume =
        in_place::volume_of(Some(&cfg), Path::new("holdfast.toml"), id, &snap).expect("configured");
    let opts = InPlaceOptions {
        reads: holdfast_repo::ReadOptions {
            reader: Some(counting.clone() as std::sync::Arc<dyn holdfast_repo::PackReader>),
            ..Default::default()
        },
        ..Default::default()
    };
    in_place::restore_in_place(&repo, volume, id, &snap, &opts)
        .await
        .expect("restore");
    assert!(
        bytes_of(vol.path()) == want,
        "the volume is the snapshot, byte for byte"
    );
    let fetched = counting.read.load(std::sync::atomic::Ordering::SeqCst);
    assert!(fetched * 10 < 8 << 20, "fetched {fetched} bytes of 8 MiB");
}

/// Rows `1..=n` of `t` in the WAL-mode database at `db`, from `from`.
fn write_rows(db: &Path, from: i64, to: i64) {
    let c = rusqlite::Connection::open(db).expect("open");
    c.pragma_update(None, "journal_mode", "WAL").expect("wal");
    c.execute_batch("CREATE TABLE IF NOT EXISTS t(n INTEGER PRIMARY KEY)")
        .expect("table");
    for n in from..=to {
        c.execute("INSERT INTO t(n) VALUES (?1)", [n])
            .expect("insert");
    }
}

fn count_rows(db: &Path) -> i64 {
    let c = rusqlite::Connection::open(db).expect("open");
    c.query_row("SELECT count(*) FROM t", [], |r| r.get(0))
        .expect("count")
}

/// Empties the volume (the app's data gone, holdfast's own state kept).
fn wipe(dir: &Path) {
    for e in std::fs::read_dir(dir).expect("list").filter_map(Result::ok) {
        if e.file_name() != ".holdfast" {
            let p = e.path();
            if p.is_dir() {
                std::fs::remove_dir_all(&p).expect("rm dir");
            } else {
                std::fs::remove_file(&p).expect("rm");
            }
        }
    }
}

/// `restore_if_empty` with a replicated database: the refilled volume's database goes
/// on from the snapshot's copy to its newest replicated point (200 rows where the
/// snapshot held 100); when replication stopped before the snapshot, the snapshot's copy
/// stays (300 rows, never back to 200).
#[tokio::test]
async fn a_refilled_volume_takes_its_databases_to_their_newest_point_never_back() {
    use holdfast_volume::databases::sqlite::{Destination, FollowOptions, Follower};
    use holdfast_volume::restore::point;
    let vol = tempfile::tempdir().expect("volume");
    let db = vol.path().join("app.db");
    let cfg = config(
        vol.path(),
        "databases = [{ kind = \"sqlite\", path = \"app.db\", replicate = \"1s\" }]",
    );
    let mut repo = repo().await;
    write_rows(&db, 1, 100);
    let dest = vec![Destination {
        name: "repository".into(),
        repo: (*repo).clone(),
    }];
    let mut follower = Follower::new(&db, FollowOptions::new("app.db"), dest);
    follower.poll().await.expect("base");
    backup(&mut repo, &cfg).await;
    write_rows(&db, 101, 200);
    follower.poll().await.expect("ship");
    drop(follower);

    let volume = &cfg.volumes[0];
    let swap = SwapOptions::default();
    wipe(vol.path());
    let Refill::Restored(r) = empty::refill(&repo, volume, swap.clone())
        .await
        .expect("refill")
    else {
        panic!("the snapshot is restored");
    };
    assert_eq!(count_rows(&db), 100, "the snapshot's copy");
    let points = point::restore_points_after(&repo, volume, &swap, r.time)
        .await
        .expect("points");
    assert_eq!(points.len(), 1);
    assert_eq!(count_rows(&db), 200, "the newest point");

    // Replication stops; the app writes on and a later snapshot holds more than it.
    write_rows(&db, 201, 300);
    backup(&mut repo, &cfg).await;
    wipe(vol.path());
    let Refill::Restored(r) = empty::refill(&repo, volume, swap.clone())
        .await
        .expect("refill")
    else {
        panic!("the snapshot is restored");
    };
    let points = point::restore_points_after(&repo, volume, &swap, r.time)
        .await
        .expect("points");
    assert!(points.is_empty(), "an older point is not taken");
    assert_eq!(count_rows(&db), 300);
}
