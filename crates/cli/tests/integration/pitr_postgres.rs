//! Postgres point-in-time recovery end to end, with a real cluster (`initdb` in a temp
//! directory, `archive_command = 'holdfast pg archive … %p'`) under pgbench load:
//!
//! - restore to chosen past times gives exactly the `pgbench_accounts` balance
//!   committed by each, and a restore on a machine without holdfast.toml (URL and
//!   password only) gives the newest point;
//! - with the store away the spool absorbs the WAL and Postgres' archiver never fails;
//!   past the spool's bound WAL is dropped (never blocking Postgres), the gap is
//!   recorded in the repository once the store is back, a new base backup follows, a
//!   restore to a time after it works and one inside the gap is refused, naming it.

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PASSWORD: &str = "correct horse battery staple";

fn pg_bin() -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("Postgres server binaries under /usr/lib/postgresql (apt-get install postgresql)")
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join("initdb").is_file())
        .collect();
    found.sort();
    found
        .pop()
        .expect("an initdb under /usr/lib/postgresql/*/bin")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// A command run as the postgres user when the tests run as root.
fn as_pg(program: &Path) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn chown_pg(path: &Path) {
    if is_root() {
        let ok = Command::new("chown")
            .args(["-R", "postgres:"])
            .arg(path)
            .status()
            .expect("chown");
        assert!(ok.success());
    }
}

/// A throwaway cluster whose data directory is `<volume>/pgdata`.
struct Cluster {
    data: PathBuf,
    port: u16,
}

impl Cluster {
    fn start(volume: &Path, spool: &Path, spool_bytes: u64) -> Cluster {
        let bin = pg_bin();
        let data = volume.join("pgdata");
        std::fs::create_dir_all(volume).expect("volume");
        std::fs::create_dir_all(spool).expect("spool");
        chown_pg(volume);
        chown_pg(spool);
        let out = as_pg(&bin.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
                "--no-locale",
            ])
            .output()
            .expect("initdb");
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = free_port();
        let conf = format!(
            "archive_mode = on\narchive_command = '{} pg archive --spool {} --spool-bytes {} %p'\n\
             wal_level = replica\nport = {port}\nlisten_addresses = '127.0.0.1'\n\
             unix_socket_directories = '{}'\nfsync = off\nsynchronous_commit = off\n",
            env!("CARGO_BIN_EXE_holdfast"),
            spool.display(),
            spool_bytes,
            volume.display()
        );
        let mut all = std::fs::read_to_string(data.join("postgresql.conf")).expect("conf");
        all.push_str(&conf);
        std::fs::write(data.join("postgresql.conf"), all).expect("write conf");
        let out = as_pg(&bin.join("pg_ctl"))
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(volume.join("server.log"))
            .args(["-w", "start"])
            .output()
            .expect("pg_ctl start");
        assert!(
            out.status.success(),
            "pg_ctl start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let c = Cluster { data, port };
        c.sql("postgres", "create database shop");
        c
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/shop", self.port)
    }

    fn sql(&self, db: &str, sql: &str) -> String {
        sql_at(
            &format!(
                "host=127.0.0.1 port={} user=postgres dbname={db}",
                self.port
            ),
            sql,
        )
    }

    fn pgbench(&self, args: &[&str]) {
        let out = Command::new("pgbench")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
            ])
            .args(args)
            .arg("shop")
            .output()
            .expect("pgbench");
        assert!(
            out.status.success(),
            "pgbench: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The committed balance now, and the time it was read.
    fn point(&self) -> (String, i64) {
        let row = self.sql(
            "shop",
            "select to_char(clock_timestamp() at time zone 'UTC', \
             'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') || '|' || sum(abalance) from pgbench_accounts",
        );
        let (t, s) = row.split_once('|').expect("time|sum");
        (t.to_string(), s.parse().expect("a sum"))
    }

    /// Switches to a new WAL segment and waits until Postgres archived the old one.
    fn switch_and_wait_archived(&self) {
        let seg = self.sql("postgres", "select pg_walfile_name(pg_switch_wal())");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let done = self.sql(
                "postgres",
                &format!("select coalesce(last_archived_wal, '') >= '{seg}' from pg_stat_archiver"),
            );
            if done == "t" {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "segment {seg} was never archived: {}",
                std::fs::read_to_string(self.data.with_file_name("server.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn archiver_failures(&self) -> i64 {
        self.sql("postgres", "select failed_count from pg_stat_archiver")
            .parse()
            .expect("failed_count")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = as_pg(&pg_bin().join("pg_ctl"))
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

fn sql_at(conninfo: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .args(["-XtAq", "-v", "ON_ERROR_STOP=1", "-d", conninfo, "-c", sql])
        .output()
        .expect("psql");
    assert!(
        out.status.success(),
        "psql {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A project directory: holdfast.toml, the repository, the volume.
struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    fn new() -> Project {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
        Project { dir }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn spool(&self) -> PathBuf {
        self.path("vol/.holdfast/pg/shop")
    }

    fn configure(&self, cluster: &Cluster, spool_bytes: u64) {
        let toml = format!(
            "[repository]\nurl = \"file://{}\"\n\n[[volumes]]\nname = \"db\"\npath = \"{}\"\n\
             exclude = [\"pgdata\", \"server.log\"]\n\
             databases = [{{ kind = \"postgres\", name = \"shop\", url = \"{}\", archive = true, \
             spool_bytes = {spool_bytes} }}]\n",
            self.path("repo").display(),
            self.path("vol").display(),
            cluster.url()
        );
        std::fs::write(self.path("holdfast.toml"), toml).expect("config");
        let (code, _, err) = self.holdfast(&["init"]);
        assert_eq!(code, 0, "{err}");
    }

    fn command(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_holdfast"));
        c.current_dir(self.dir.path())
            .env_remove("HOLDFAST_CONFIG")
            .env_remove("HOLDFAST_REPOSITORY")
            .env("HOLDFAST_PASSWORD", PASSWORD);
        c
    }

    fn holdfast(&self, args: &[&str]) -> (i32, String, String) {
        let out = self
            .command()
            .args(["--config", "holdfast.toml"])
            .args(args)
            .output()
            .expect("holdfast");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn daemon(&self) -> Daemon {
        let log = std::fs::File::create(self.path("daemon.log")).expect("log");
        let child = self
            .command()
            .args(["--config", "holdfast.toml", "pg", "archive", "--daemon"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("daemon");
        Daemon { child }
    }

    fn spool_files(&self) -> usize {
        std::fs::read_dir(self.spool())
            .map(|rd| {
                rd.flatten()
                    .filter(|e| e.file_name().to_string_lossy().contains('_'))
                    .count()
            })
            .unwrap_or(0)
    }

    fn wait_spool_empty(&self) {
        let deadline = Instant::now() + Duration::from_secs(120);
        while self.spool_files() > 0 {
            assert!(Instant::now() < deadline, "the spool never emptied");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn wait_log(&self, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let log = std::fs::read_to_string(self.path("daemon.log")).unwrap_or_default();
            if log.contains(needle) {
                return;
            }
            assert!(Instant::now() < deadline, "never logged {needle:?}:\n{log}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Restores `shop` at `time` (newest when `None`) under `target`, starts it, and
    /// returns the balance.
    fn restored_sum(&self, time: Option<&str>, target: &str, config: bool) -> i64 {
        let dir = self.path(target);
        let mut args = vec!["restore", "latest:db", "--database", "shop", "--target"];
        let dir_s = dir.to_string_lossy().into_owned();
        args.push(&dir_s);
        if let Some(t) = time {
            args.extend(["--time", t]);
        }
        let out = if config {
            self.holdfast(&args)
        } else {
            let repo = format!("file://{}", self.path("repo").display());
            let empty = tempfile::tempdir().expect("empty machine");
            let out = self
                .command()
                .current_dir(empty.path())
                .args(["--repo", &repo])
                .args(&args)
                .output()
                .expect("holdfast");
            (
                out.status.code().unwrap_or(-1),
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        };
        assert_eq!(out.0, 0, "restore to {time:?}: {}{}", out.1, out.2);
        assert!(out.1.contains("restored database shop to"), "{}", out.1);
        sum_of(&dir)
    }
}

/// Starts the restored data directory on a spare port (no archiving), reads the
/// balance, stops it.
fn sum_of(dir: &Path) -> i64 {
    let bin = pg_bin();
    let port = free_port();
    let sock = dir.with_file_name(format!("check-{port}"));
    std::fs::create_dir_all(&sock).expect("check dir");
    chown_pg(&sock);
    let opts = format!(
        "-c port={port} -c archive_mode=off -c listen_addresses='' -c unix_socket_directories='{}'",
        sock.display()
    );
    let log = sock.join(format!("check-{port}.log"));
    let out = as_pg(&bin.join("pg_ctl"))
        .arg("-D")
        .arg(dir)
        .arg("-o")
        .arg(&opts)
        .arg("-l")
        .arg(&log)
        .args(["-w", "start"])
        .output()
        .expect("pg_ctl");
    assert!(
        out.status.success(),
        "the restored directory starts: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    let sum = sql_at(
        &format!(
            "host={} port={port} user=postgres dbname=shop",
            sock.display()
        ),
        "select sum(abalance) from pgbench_accounts",
    );
    let _ = as_pg(&bin.join("pg_ctl"))
        .arg("-D")
        .arg(dir)
        .args(["-m", "fast", "-w", "stop"])
        .output();
    sum.parse().expect("a sum")
}

struct Daemon {
    child: Child,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn restores_reach_each_chosen_time_and_an_empty_machine_gets_the_newest_point() {
    let p = Project::new();
    let cluster = Cluster::start(&p.path("vol"), &p.spool(), 1 << 30);
    p.configure(&cluster, 1 << 30);
    cluster.pgbench(&["-i", "-s", "2"]);
    let (code, _, err) = p.holdfast(&["backup", "--volume", "db"]);
    assert_eq!(code, 0, "{err}");
    let _daemon = p.daemon();
    let mut points = Vec::new();
    for _ in 0..4 {
        cluster.pgbench(&["-t", "150", "-c", "2"]);
        points.push(cluster.point());
    }
    cluster.pgbench(&["-t", "50", "-c", "1"]);
    let newest = cluster.point();
    cluster.switch_and_wait_archived();
    p.wait_spool_empty();
    assert_eq!(cluster.archiver_failures(), 0);
    for (i, (t, sum)) in points.iter().enumerate() {
        let got = p.restored_sum(Some(t), &format!("r{i}"), true);
        assert_eq!(got, *sum, "restore to {t}");
    }
    let got = p.restored_sum(None, "empty-machine", false);
    assert_eq!(
        got, newest.1,
        "the newest point, from URL and password only"
    );
}

#[test]
fn the_store_away_never_blocks_postgres_and_a_gap_is_recorded_then_a_new_base_follows() {
    let p = Project::new();
    // Room for two 16 MiB segments.
    let bound: u64 = 40 << 20;
    let cluster = Cluster::start(&p.path("vol"), &p.spool(), bound);
    p.configure(&cluster, bound);
    let daemon = p.daemon();
    cluster.pgbench(&["-i", "-s", "1"]);
    let (code, _, err) = p.holdfast(&["backup", "--volume", "db"]);
    assert_eq!(code, 0, "{err}");
    cluster.switch_and_wait_archived();
    p.wait_spool_empty();
    // The store goes away: the repository's path is now a file.
    std::fs::rename(p.path("repo"), p.path("repo.away")).expect("move the repository");
    std::fs::write(p.path("repo"), b"not a directory").expect("block the path");
    // Two segments: the spool absorbs them.
    for _ in 0..2 {
        cluster.pgbench(&["-t", "100", "-c", "2"]);
        cluster.switch_and_wait_archived();
    }
    assert_eq!(
        p.spool_files(),
        2,
        "the spool holds what the store could not take"
    );
    // Three more: past the bound, dropped; Postgres' archiver never fails.
    let mut in_gap = None;
    for _ in 0..3 {
        cluster.pgbench(&["-t", "100", "-c", "2"]);
        in_gap.get_or_insert_with(|| cluster.point().0);
        cluster.switch_and_wait_archived();
    }
    let in_gap = in_gap.expect("a point inside the gap");
    assert_eq!(
        cluster.archiver_failures(),
        0,
        "archive_command never failed"
    );
    let gaps = std::fs::read_dir(p.spool())
        .expect("spool")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("gap-"))
        .count();
    assert_eq!(gaps, 3, "each drop recorded locally at once");
    // The store comes back: the gap is recorded, a new base follows.
    std::fs::remove_file(p.path("repo")).expect("unblock");
    std::fs::rename(p.path("repo.away"), p.path("repo")).expect("move back");
    p.wait_log("were dropped unarchived");
    p.wait_log("new base backup after the gap");
    p.wait_spool_empty();
    drop(daemon);
    let gap_objects: Vec<String> = walk(&p.path("repo/wal"))
        .into_iter()
        .filter_map(|f| f.file_name().map(|n| n.to_string_lossy().into_owned()))
        .filter(|n| n.starts_with("g-"))
        .collect();
    assert_eq!(
        gap_objects.len(),
        1,
        "one gap record of three consecutive segments: {gap_objects:?}\n{}",
        std::fs::read_to_string(p.path("daemon.log")).unwrap_or_default()
    );
    let (code, out, _) = p.holdfast(&["snapshots", "--json"]);
    assert_eq!(code, 0);
    assert!(out.contains("pg-base-after-gap"), "{out}");
    // After the new base: restorable.
    let _daemon = p.daemon();
    cluster.pgbench(&["-t", "100", "-c", "2"]);
    let after = cluster.point();
    cluster.pgbench(&["-t", "20", "-c", "1"]);
    cluster.switch_and_wait_archived();
    p.wait_spool_empty();
    assert_eq!(p.restored_sum(Some(&after.0), "after-gap", true), after.1);
    // Inside the gap: refused, the gap named.
    let dir = p.path("in-gap").to_string_lossy().into_owned();
    let (code, _, err) = p.holdfast(&[
        "restore",
        "latest:db",
        "--database",
        "shop",
        "--time",
        &in_gap,
        "--target",
        &dir,
    ]);
    assert_ne!(code, 0, "a restore across the gap is refused");
    assert!(err.contains("misses segments"), "{err}");
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}
