//! A throwaway Postgres cluster archiving through `holdfast pg archive`, the project
//! around it (holdfast.toml, repository, volume, the uploader daemon) and the checks of
//! a restored data directory, shared by the Postgres point-in-time suites.

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const PASSWORD: &str = "correct horse battery staple";

pub fn pg_bin() -> PathBuf {
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

pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// A command run as the postgres user when the tests run as root.
pub fn as_pg(program: &Path) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

pub fn chown_pg(path: &Path) {
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
pub struct Cluster {
    pub data: PathBuf,
    pub port: u16,
}

impl Cluster {
    pub fn start(volume: &Path, spool: &Path, spool_bytes: u64) -> Cluster {
        Cluster::start_with(volume, spool, spool_bytes, "")
    }

    pub fn start_with(volume: &Path, spool: &Path, spool_bytes: u64, extra: &str) -> Cluster {
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
             unix_socket_directories = '{}'\nfsync = off\nsynchronous_commit = off\n{extra}",
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

    /// SIGKILL of the postmaster (its backends notice and exit).
    pub fn kill(&self) {
        let pid = std::fs::read_to_string(self.data.join("postmaster.pid")).expect("pid");
        let pid = pid.lines().next().expect("pid line").trim().to_string();
        let ok = Command::new("kill")
            .args(["-9", &pid])
            .status()
            .expect("kill");
        assert!(ok.success());
    }

    /// A fast shutdown.
    pub fn stop(&self) {
        let out = as_pg(&pg_bin().join("pg_ctl"))
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "fast", "-w", "stop"])
            .output()
            .expect("pg_ctl stop");
        assert!(
            out.status.success(),
            "pg_ctl stop: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Starts the data directory again (crash recovery after [`Cluster::kill`]). Until
    /// the killed postmaster's backends have exited their shared memory is in use and
    /// a start is refused, so it is retried for a bounded time.
    pub fn start_again(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let out = as_pg(&pg_bin().join("pg_ctl"))
                .arg("-D")
                .arg(&self.data)
                .arg("-l")
                .arg(self.data.with_file_name("server.log"))
                .args(["-w", "start"])
                .output()
                .expect("pg_ctl start");
            if out.status.success() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "restart: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/shop", self.port)
    }

    pub fn sql(&self, db: &str, sql: &str) -> String {
        sql_at(
            &format!(
                "host=127.0.0.1 port={} user=postgres dbname={db}",
                self.port
            ),
            sql,
        )
    }

    pub fn pgbench(&self, args: &[&str]) {
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
    pub fn point(&self) -> (String, i64) {
        let row = self.sql(
            "shop",
            "select to_char(clock_timestamp() at time zone 'UTC', \
             'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') || '|' || sum(abalance) from pgbench_accounts",
        );
        let (t, s) = row.split_once('|').expect("time|sum");
        (t.to_string(), s.parse().expect("a sum"))
    }

    /// Switches to a new WAL segment and waits until Postgres archived the old one.
    pub fn switch_and_wait_archived(&self) {
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

    pub fn archiver_failures(&self) -> i64 {
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

pub fn sql_at(conninfo: &str, sql: &str) -> String {
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
pub struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    pub fn new() -> Project {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
        Project { dir }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn spool(&self) -> PathBuf {
        self.path("vol/.holdfast/pg/shop")
    }

    pub fn configure(&self, cluster: &Cluster, spool_bytes: u64) {
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

    pub fn command(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_holdfast"));
        c.current_dir(self.dir.path())
            .env_remove("HOLDFAST_CONFIG")
            .env_remove("HOLDFAST_REPOSITORY")
            .env("HOLDFAST_PASSWORD", PASSWORD);
        c
    }

    pub fn holdfast(&self, args: &[&str]) -> (i32, String, String) {
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

    pub fn daemon(&self) -> Daemon {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path("daemon.log"))
            .expect("log");
        let child = self
            .command()
            .args(["--config", "holdfast.toml", "pg", "archive", "--daemon"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("daemon");
        Daemon { child }
    }

    pub fn spool_files(&self) -> usize {
        std::fs::read_dir(self.spool())
            .map(|rd| {
                rd.flatten()
                    .filter(|e| e.file_name().to_string_lossy().contains('_'))
                    .count()
            })
            .unwrap_or(0)
    }

    pub fn wait_spool_empty(&self) {
        let deadline = Instant::now() + Duration::from_secs(120);
        while self.spool_files() > 0 {
            assert!(Instant::now() < deadline, "the spool never emptied");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn wait_log(&self, needle: &str) {
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
    pub fn restored_sum(&self, time: Option<&str>, target: &str, config: bool) -> i64 {
        sum_of(&self.restore(time, target, config))
    }

    /// Restores `shop` at `time` (newest when `None`) under `target`, with holdfast.toml
    /// or (`config` false) from the repository URL and password alone.
    pub fn restore(&self, time: Option<&str>, target: &str, config: bool) -> PathBuf {
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
        dir
    }
}

/// Starts the restored data directory on a spare port (no archiving), runs `sql` in
/// `shop`, stops it.
pub fn query_restored(dir: &Path, sql: &str) -> String {
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
    let got = sql_at(
        &format!(
            "host={} port={port} user=postgres dbname=shop",
            sock.display()
        ),
        sql,
    );
    let _ = as_pg(&bin.join("pg_ctl"))
        .arg("-D")
        .arg(dir)
        .args(["-m", "fast", "-w", "stop"])
        .output();
    got
}

/// The `pgbench_accounts` balance of a restored data directory.
pub fn sum_of(dir: &Path) -> i64 {
    query_restored(dir, "select sum(abalance) from pgbench_accounts")
        .parse()
        .expect("a sum")
}

/// The `rpo` rows of a restored data directory, in order.
pub fn restored_rows(dir: &Path) -> Vec<i64> {
    query_restored(
        dir,
        "select coalesce(string_agg(n::text, ',' order by n), '') from rpo",
    )
    .split(',')
    .filter(|s| !s.is_empty())
    .map(|s| s.parse().expect("n"))
    .collect()
}

pub struct Daemon {
    child: Child,
}

impl Daemon {
    pub fn sigkill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn walk(dir: &Path) -> Vec<PathBuf> {
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
