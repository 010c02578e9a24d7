//! Volume backups with live databases: a writer keeps inserting into a WAL database while
//! backups run; every restored copy passes `integrity_check` and holds a gap-free prefix
//! of the writes. Postgres (from `HOLDFAST_TEST_PG_URL`, started by scripts/test.sh) is
//! dumped into the snapshot and loaded back.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use holdfast_repo::{IndexedRepository, InitOptions, KdfParams, RestoreOptions};
use holdfast_volume::backup::{VolumeBackupOptions, backup_volume};
use holdfast_volume::config::Config;
use holdfast_volume::databases::{postgres, sqlite};
use rusqlite::Connection;

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

fn config(text: &str) -> Config {
    text.parse().expect("config")
}

/// Runs one SQL statement with `psql` and returns its unaligned output; fails the test
/// when psql does.
fn psql(url: &str, sql: &str) -> String {
    let out = std::process::Command::new("psql")
        .args(["-XtA", "-v", "ON_ERROR_STOP=1", "--dbname", url, "-c", sql])
        .output()
        .expect("psql runs");
    assert!(
        out.status.success(),
        "psql {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn server_url() -> String {
    std::env::var("HOLDFAST_TEST_PG_URL")
        .expect("HOLDFAST_TEST_PG_URL is not set: run the tests through scripts/test.sh")
}

/// A fresh database of its own on the test server (tests run in parallel and restore
/// with `--clean`), as a URL.
fn fresh_database(tag: &str) -> String {
    let url = server_url();
    let name = format!("{tag}_{}", std::process::id());
    psql(&url, &format!("DROP DATABASE IF EXISTS {name}"));
    psql(&url, &format!("CREATE DATABASE {name}"));
    let (base, _) = url.rsplit_once('/').expect("database in url");
    format!("{base}/{name}")
}

fn rows(db: &Path) -> Vec<i64> {
    let conn = Connection::open(db).expect("open restored");
    let mut stmt = conn.prepare("SELECT n FROM t ORDER BY n").expect("prepare");
    stmt.query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_copies_are_consistent_while_a_writer_runs() {
    let vol = tempfile::tempdir().expect("volume dir");
    let db = vol.path().join("db/app.db");
    std::fs::create_dir_all(db.parent().expect("parent")).expect("mkdir");
    std::fs::write(vol.path().join("notes.txt"), "hello").expect("write");
    std::fs::create_dir_all(vol.path().join(".holdfast/cache")).expect("mkdir");
    std::fs::write(vol.path().join(".holdfast/cache/entry"), "cached").expect("write");
    // A file API write's temp file that a crash left behind.
    std::fs::write(vol.path().join("db/.holdfast-part-0f3a"), "partial").expect("write");
    {
        let conn = Connection::open(&db).expect("create");
        conn.pragma_update(None, "journal_mode", "WAL")
            .expect("wal");
        conn.execute_batch("CREATE TABLE t(n INTEGER PRIMARY KEY, pad BLOB)")
            .expect("table");
    }
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (db, stop) = (db.clone(), stop.clone());
        std::thread::spawn(move || {
            let conn = Connection::open(&db).expect("writer open");
            conn.busy_timeout(std::time::Duration::from_secs(10))
                .expect("busy");
            let mut n = 0i64;
            while !stop.load(Ordering::Relaxed) || n < 200 {
                n += 1;
                conn.execute("INSERT INTO t(n, pad) VALUES (?1, zeroblob(2000))", [n])
                    .expect("insert");
            }
            n
        })
    };
    let cfg = config(&format!(
        "[[volumes]]\nname = \"data\"\npath = \"{}\"\ndatabases = [{{ kind = \"sqlite\", path = \"db/app.db\" }}]\n",
        vol.path().display()
    ));
    let volume = &cfg.volumes[0];
    let mut repo = repo().await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let s = backup_volume(&mut repo, volume, &VolumeBackupOptions::default())
            .await
            .expect("backup");
        assert_eq!(s.snapshot.volume.as_deref(), Some("data"));
        ids.push(s.id);
    }
    stop.store(true, Ordering::Relaxed);
    let written = writer.join().expect("writer");
    let mut last = 0;
    for id in ids {
        let target = tempfile::tempdir().expect("target");
        let opts = RestoreOptions {
            target: target.path().to_path_buf(),
            include: Vec::new(),
            ..Default::default()
        };
        let (_, snap) = repo.find_snapshot(&id.to_hex()).await.expect("find");
        holdfast_repo::restore(&repo, &snap, &opts)
            .await
            .expect("restore");
        let restored = target.path().join("db/app.db");
        assert!(
            !target.path().join("db/app.db-wal").exists(),
            "the WAL file is left out"
        );
        assert!(
            !target.path().join(".holdfast").exists(),
            "holdfast's own files are left out"
        );
        assert!(
            !target.path().join("db/.holdfast-part-0f3a").exists(),
            "a file API temp file is left out"
        );
        assert!(
            sqlite::integrity_check(&restored)
                .expect("check")
                .is_empty()
        );
        let got = rows(&restored);
        let want: Vec<i64> = (1..=got.len() as i64).collect();
        assert_eq!(got, want, "a gap-free prefix of the writes");
        assert!(
            got.len() as i64 >= last,
            "later snapshots hold at least as much"
        );
        last = got.len() as i64;
        assert_eq!(
            std::fs::read_to_string(target.path().join("notes.txt")).expect("notes"),
            "hello"
        );
    }
    assert!(last <= written);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_dump_goes_into_the_snapshot_and_loads_back() {
    let url = fresh_database("shop");
    let table = format!("pets_{}", std::process::id());
    psql(
        &url,
        &format!("CREATE TABLE {table}(id int primary key, name text)"),
    );
    psql(
        &url,
        &format!("INSERT INTO {table} SELECT g, 'pet ' || g FROM generate_series(1, 500) g"),
    );
    let vol = tempfile::tempdir().expect("volume");
    let cfg = config(&format!(
        "[[volumes]]\nname = \"pg\"\npath = \"{}\"\ndatabases = [{{ kind = \"postgres\", name = \"shop\", url = \"{url}\" }}]\n",
        vol.path().display()
    ));
    let mut repo = repo().await;
    let s = backup_volume(&mut repo, &cfg.volumes[0], &VolumeBackupOptions::default())
        .await
        .expect("backup");
    psql(&url, &format!("DROP TABLE {table}"));
    let target = tempfile::tempdir().expect("target");
    let opts = RestoreOptions {
        target: target.path().to_path_buf(),
        include: Vec::new(),
        ..Default::default()
    };
    holdfast_repo::restore(&repo, &s.snapshot, &opts)
        .await
        .expect("restore");
    let dump = target.path().join(".holdfast-databases/shop.pgdump");
    assert!(postgres::list_dump(&dump).expect("pg_restore --list") > 0);
    let info = std::fs::read_to_string(target.path().join(".holdfast-databases/shop.json"))
        .expect("versions");
    assert!(
        info.contains("server_version") && info.contains("pg_dump"),
        "{info}"
    );
    postgres::restore("shop", &url, std::fs::File::open(&dump).expect("dump")).expect("pg_restore");
    assert_eq!(psql(&url, &format!("SELECT count(*) FROM {table}")), "500");
    psql(&url, &format!("DROP TABLE {table}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_failures_are_one_clear_message() {
    let vol = tempfile::tempdir().expect("volume");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let cfg = config(&format!(
        "[[volumes]]\nname = \"pg\"\npath = \"{}\"\ndatabases = [{{ kind = \"postgres\", name = \"shop\", url = \"postgres://u:secretpw@127.0.0.1:{port}/x\" }}]\n",
        vol.path().display()
    ));
    let mut repo = repo().await;
    let e = backup_volume(&mut repo, &cfg.volumes[0], &VolumeBackupOptions::default())
        .await
        .expect_err("refused");
    let msg = e.to_string();
    assert!(
        msg.contains("connection refused") && msg.contains("shop"),
        "{msg}"
    );
    assert!(!msg.contains("secretpw"), "no password in messages: {msg}");
    assert!(
        repo.snapshots().await.expect("list").is_empty(),
        "nothing written"
    );
    let url = server_url();
    let wrong = url.replacen(":holdfast@", ":wrong-password@", 1);
    let cfg = config(&format!(
        "[[volumes]]\nname = \"pg\"\npath = \"{}\"\ndatabases = [{{ kind = \"postgres\", name = \"shop\", url = \"{wrong}\" }}]\n",
        vol.path().display()
    ));
    let e = backup_volume(&mut repo, &cfg.volumes[0], &VolumeBackupOptions::default())
        .await
        .expect_err("auth");
    assert!(e.to_string().contains("authentication failed"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_dump_is_consistent_under_pgbench_load() {
    let url = fresh_database("bench");
    let init = std::process::Command::new("pgbench")
        .args(["-i", "-q", "-s", "1", &url])
        .output()
        .expect("pgbench -i runs");
    assert!(
        init.status.success(),
        "pgbench -i: {}",
        String::from_utf8_lossy(&init.stderr)
    );
    let mut load = std::process::Command::new("pgbench")
        .args(["-c", "2", "-T", "20", "-n", &url])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("pgbench load starts");
    let vol = tempfile::tempdir().expect("volume");
    let cfg = config(&format!(
        "[[volumes]]\nname = \"pg\"\npath = \"{}\"\ndatabases = [{{ kind = \"postgres\", name = \"bench\", url = \"{url}\" }}]\n",
        vol.path().display()
    ));
    let mut repo = repo().await;
    let s = backup_volume(&mut repo, &cfg.volumes[0], &VolumeBackupOptions::default()).await;
    let _ = load.kill();
    let _ = load.wait();
    let s = s.expect("backup under load");
    let target = tempfile::tempdir().expect("target");
    let opts = RestoreOptions {
        target: target.path().to_path_buf(),
        include: Vec::new(),
        ..Default::default()
    };
    holdfast_repo::restore(&repo, &s.snapshot, &opts)
        .await
        .expect("restore");
    let dump = target.path().join(".holdfast-databases/bench.pgdump");
    postgres::restore("bench", &url, std::fs::File::open(&dump).expect("dump"))
        .expect("pg_restore");
    assert_eq!(
        psql(&url, "SELECT count(*) FROM pgbench_accounts"),
        "100000"
    );
    let balance_sums = psql(
        &url,
        "SELECT (SELECT sum(abalance) FROM pgbench_accounts) = (SELECT sum(bbalance) FROM pgbench_branches)",
    );
    assert_eq!(
        balance_sums, "t",
        "the dump is one consistent transaction snapshot"
    );
}

#[test]
fn redis_bgsave_writes_a_fresh_rdb() {
    let url = std::env::var("HOLDFAST_TEST_REDIS_URL")
        .expect("HOLDFAST_TEST_REDIS_URL is not set: run the tests through scripts/test.sh");
    let cli = |args: &[&str]| {
        let out = std::process::Command::new("redis-cli")
            .arg("-u")
            .arg(&url)
            .args(args)
            .output()
            .expect("redis-cli");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    cli(&["SET", "holdfast:test", "kept"]);
    let before = cli(&["LASTSAVE"]);
    holdfast_volume::databases::redis::bgsave(&url).expect("bgsave");
    assert_ne!(cli(&["LASTSAVE"]), before, "a new save finished");
    let dir = cli(&["CONFIG", "GET", "dir"]);
    let file = cli(&["CONFIG", "GET", "dbfilename"]);
    let rdb = std::path::Path::new(dir.lines().nth(1).expect("dir"))
        .join(file.lines().nth(1).expect("file"));
    let bytes = std::fs::read(&rdb).expect("rdb file");
    assert!(
        bytes.starts_with(b"REDIS"),
        "an RDB file at {}",
        rdb.display()
    );
    let e = holdfast_volume::databases::redis::bgsave("redis://127.0.0.1:1").expect_err("refused");
    assert!(e.to_string().contains("cannot connect"), "{e}");
}
