//! A real three-node Garage cluster on loopback (`replication_factor = 3`), started by the
//! test itself: its own three `garage` processes with their own configs, data and free
//! ports, connected, with a layout applied and a key and bucket made. It needs only the
//! `garage` binary (`HOLDFAST_TEST_GARAGE`, else `garage` on PATH or in ~/.cargo/bin) and
//! fails, never skips, when it is missing.
//!
//! - One node is killed while a backup is paused at a failpoint, and another is frozen
//!   (SIGSTOP) while a restore is paused: both complete, the restore byte-exact; with the
//!   nodes back, `verify --read-data` is clean.
//! - Two hosts (two processes in their own UTS namespaces with different hostnames) back
//!   up into one bucket while a third runs forget + prune: every committed snapshot
//!   restores byte-exact.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::repo_util::{RepoEnv, contents, sample};

/// Relative path → content, as [`contents`] gives it.
type Contents = Vec<(String, Vec<u8>)>;

/// The garage binary; panics (the test fails) when there is none.
fn garage_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("HOLDFAST_TEST_GARAGE") {
        return PathBuf::from(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let home = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo/bin"));
    std::env::split_paths(&path)
        .chain(home)
        .map(|d| d.join("garage"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "the garage binary is missing: install it (`cargo install --locked garage`, \
                 as scripts/test.sh does) or set HOLDFAST_TEST_GARAGE"
            )
        })
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

struct Node {
    conf: PathBuf,
    rpc: u16,
    s3: u16,
    child: Option<Child>,
    log: PathBuf,
}

/// Three garage processes; dropping it kills them (continued first if frozen).
struct Cluster {
    bin: PathBuf,
    nodes: Vec<Node>,
    _dir: tempfile::TempDir,
    key_id: String,
    secret: String,
    bucket: String,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for n in &mut self.nodes {
            if let Some(c) = n.child.as_mut() {
                let pid = c.id().to_string();
                let _ = Command::new("kill").args(["-CONT", &pid]).status();
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

impl Cluster {
    fn garage(&self, node: usize, args: &[&str]) -> Output {
        Command::new(&self.bin)
            .arg("-c")
            .arg(&self.nodes[node].conf)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run garage")
    }

    fn garage_ok(&self, node: usize, args: &[&str]) -> String {
        let out = self.garage(node, args);
        assert!(
            out.status.success(),
            "garage {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn start_node(&mut self, i: usize) {
        let log = std::fs::File::create(&self.nodes[i].log).expect("log");
        let err = log.try_clone().expect("log");
        let child = Command::new(&self.bin)
            .arg("-c")
            .arg(&self.nodes[i].conf)
            .arg("server")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .expect("start garage");
        self.nodes[i].child = Some(child);
    }

    fn kill_node(&mut self, i: usize) {
        if let Some(mut c) = self.nodes[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn signal(&self, i: usize, sig: &str) {
        let pid = self.nodes[i]
            .child
            .as_ref()
            .expect("running")
            .id()
            .to_string();
        let ok = Command::new("kill")
            .args([sig, &pid])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill {sig} {pid}");
    }

    /// Polls `garage status` on node 0 until `n` nodes are up (bounded).
    fn wait_healthy(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let out = self.garage(0, &["status"]);
            let text = String::from_utf8_lossy(&out.stdout);
            let up = text
                .lines()
                .filter(|l| l.contains("127.0.0.1:") && !l.contains("DOWN"))
                .count();
            if out.status.success() && up >= n {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "garage cluster not healthy: {text}{}",
                String::from_utf8_lossy(&out.stderr)
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn start() -> Cluster {
        let bin = garage_bin();
        let dir = tempfile::tempdir().expect("tempdir");
        let secret: String = (0..32)
            .map(|_| format!("{:02x}", rand_byte()))
            .collect::<String>();
        let mut nodes = Vec::new();
        for i in 0..3 {
            let base = dir.path().join(format!("node{i}"));
            std::fs::create_dir_all(base.join("meta")).expect("mkdir");
            std::fs::create_dir_all(base.join("data")).expect("mkdir");
            let (rpc, s3, admin) = (free_port(), free_port(), free_port());
            let conf = base.join("garage.toml");
            std::fs::write(
                &conf,
                format!(
                    "metadata_dir = \"{m}\"\ndata_dir = \"{d}\"\ndb_engine = \"sqlite\"\n\
                     replication_factor = 3\nrpc_bind_addr = \"127.0.0.1:{rpc}\"\n\
                     rpc_public_addr = \"127.0.0.1:{rpc}\"\nrpc_secret = \"{secret}\"\n\
                     rpc_timeout_msec = 5000\nrpc_ping_timeout_msec = 2000\n\
                     [s3_api]\ns3_region = \"garage\"\napi_bind_addr = \"127.0.0.1:{s3}\"\n\
                     [admin]\napi_bind_addr = \"127.0.0.1:{admin}\"\n",
                    m = base.join("meta").display(),
                    d = base.join("data").display(),
                ),
            )
            .expect("config");
            nodes.push(Node {
                conf,
                rpc,
                s3,
                child: None,
                log: base.join("garage.log"),
            });
        }
        let mut c = Cluster {
            bin,
            nodes,
            _dir: dir,
            key_id: String::new(),
            secret: String::new(),
            bucket: "holdfast-cluster".into(),
        };
        for i in 0..3 {
            c.start_node(i);
        }
        let ids: Vec<String> = (0..3)
            .map(|i| {
                let deadline = Instant::now() + Duration::from_secs(60);
                loop {
                    let out = c.garage(i, &["node", "id", "-q"]);
                    if out.status.success() {
                        let s = String::from_utf8_lossy(&out.stdout).trim().to_owned();
                        break s.split('@').next().unwrap_or_default().to_owned();
                    }
                    assert!(Instant::now() < deadline, "garage node {i} did not start");
                    std::thread::sleep(Duration::from_millis(200));
                }
            })
            .collect();
        // `node id` answers from the node's key file, which exists before the node
        // listens for RPC: a connect is retried until the peer accepts it (bounded).
        for (id, node) in ids.iter().zip(&c.nodes).skip(1) {
            let peer = format!("{id}@127.0.0.1:{}", node.rpc);
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                let out = c.garage(0, &["node", "connect", &peer]);
                if out.status.success() {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "garage node connect {peer}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                std::thread::sleep(Duration::from_millis(200));
            }
        }
        c.wait_healthy(3);
        for (i, id) in ids.iter().enumerate() {
            let zone = format!("dc{}", i + 1);
            c.garage_ok(0, &["layout", "assign", "-z", &zone, "-c", "1G", id]);
        }
        c.garage_ok(0, &["layout", "apply", "--version", "1"]);
        let key = c.garage_ok(0, &["key", "create", "holdfast-cluster"]);
        let field = |name: &str| {
            key.lines()
                .find_map(|l| l.strip_prefix(name))
                .map(|v| v.trim_start_matches(':').trim().to_owned())
                .unwrap_or_else(|| panic!("no {name} in: {key}"))
        };
        c.key_id = field("Key ID");
        c.secret = field("Secret key");
        let bucket = c.bucket.clone();
        c.garage_ok(0, &["bucket", "create", &bucket]);
        c.garage_ok(
            0,
            &[
                "bucket",
                "allow",
                "--read",
                "--write",
                "--owner",
                &bucket,
                "--key",
                "holdfast-cluster",
            ],
        );
        c
    }

    /// A repository URL on node `via`'s S3 endpoint with a fresh prefix.
    fn url(&self, via: usize, prefix: &str) -> String {
        format!(
            "s3://{}/{prefix}?endpoint=http://127.0.0.1:{}&region=garage",
            self.bucket, self.nodes[via].s3
        )
    }
}

fn rand_byte() -> u8 {
    let mut b = [0u8; 1];
    std::io::Read::read_exact(
        &mut std::fs::File::open("/dev/urandom").expect("urandom"),
        &mut b,
    )
    .expect("urandom");
    b[0]
}

/// `holdfast ARGS…` against the cluster; with `host`, in its own UTS namespace under
/// that hostname.
fn holdfast(
    c: &Cluster,
    env: &RepoEnv,
    url: &str,
    host: Option<&str>,
    failpoints: Option<&str>,
    args: &[&str],
) -> Command {
    let bin = env!("CARGO_BIN_EXE_holdfast");
    let mut cmd = match host {
        Some(h) => {
            let mut cmd = Command::new("unshare");
            cmd.args([
                "--uts",
                "sh",
                "-c",
                "hostname \"$0\" && exec \"$@\"",
                h,
                bin,
            ]);
            cmd
        }
        None => Command::new(bin),
    };
    cmd.args(args)
        .current_dir(env.dir.path())
        .env("HOLDFAST_REPOSITORY", url)
        .env("HOLDFAST_PASSWORD", "correct horse")
        .env("HOLDFAST_CACHE_DIR", env.path("cache"))
        .env("AWS_ACCESS_KEY_ID", &c.key_id)
        .env("AWS_SECRET_ACCESS_KEY", &c.secret)
        .env("AWS_REGION", "garage")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("HOLDFAST_CONFIG")
        .env_remove("HOLDFAST_PASSWORD_FILE")
        .env_remove("STORAGE_TYPE");
    if let Some(f) = failpoints {
        cmd.env("HOLDFAST_FAILPOINTS", f);
    }
    cmd
}

fn ok(mut cmd: Command, what: &str) -> String {
    let out = cmd.output().expect("run holdfast");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{what}: exit {:?}: {stderr}",
        out.status.code()
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Waits (bounded) until process `pid` is stopped (state T in /proc).
fn wait_stopped(child: &mut Child) {
    let path = format!("/proc/{}/stat", child.id());
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let stat = std::fs::read_to_string(&path).unwrap_or_default();
        let state = stat
            .rsplit(')')
            .next()
            .and_then(|r| r.split_whitespace().next());
        if state == Some("T") {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("holdfast ended before its failpoint: {status}");
        }
        assert!(Instant::now() < deadline, "failpoint never reached");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn resume(child: &mut Child) -> Output {
    let pid = child.id().to_string();
    let ok = Command::new("kill")
        .args(["-CONT", &pid])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "kill -CONT {pid}");
    let mut out = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut e, &mut out);
    }
    let status = child.wait().expect("wait");
    Output {
        status,
        stdout: Vec::new(),
        stderr: out.into_bytes(),
    }
}

fn write_round(src: &Path, round: u64) {
    std::fs::create_dir_all(src).expect("mkdir");
    let bytes = super::repo_util::pseudo_random(round, 400_000);
    std::fs::write(src.join(format!("r{round}.bin")), bytes).expect("write");
}

#[test]
fn garage_cluster_survives_a_node_lost_during_backup_and_restore() {
    let mut c = Cluster::start();
    let env = RepoEnv::at(String::new());
    let url = c.url(0, "one");
    ok(holdfast(&c, &env, &url, None, None, &["init"]), "init");
    let src = env.path("src");
    sample(&src);
    ok(
        holdfast(&c, &env, &url, None, None, &["backup", "src"]),
        "first backup",
    );
    write_round(&src, 1);
    // A backup paused once it holds its lock; node 2 dies; the backup goes on.
    let mut cmd = holdfast(
        &c,
        &env,
        &url,
        None,
        Some("backup-locked=stop"),
        &["backup", "src"],
    );
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    wait_stopped(&mut child);
    c.kill_node(2);
    let out = resume(&mut child);
    assert!(
        out.status.success(),
        "backup with a node down: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let want = contents(&src);
    // A restore paused after reading its trees; node 1 is frozen, node 2 is back.
    c.start_node(2);
    let mut cmd = holdfast(
        &c,
        &env,
        &url,
        None,
        Some("restore-after-trees=stop"),
        &["restore", "latest", "--target", "out"],
    );
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    wait_stopped(&mut child);
    c.signal(1, "-STOP");
    let out = resume(&mut child);
    c.signal(1, "-CONT");
    assert!(
        out.status.success(),
        "restore with a node frozen: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(contents(&env.path("out")), want);
    c.wait_healthy(3);
    ok(
        holdfast(&c, &env, &url, None, None, &["verify", "--read-data"]),
        "verify with every node back",
    );
    println!("garage cluster: backup with a node killed, restore with a node frozen: exact");
}

#[test]
fn garage_cluster_two_hosts_back_up_while_a_third_prunes() {
    let c = Cluster::start();
    let url = c.url(0, "shared");
    let hosts = [RepoEnv::at(url.clone()), RepoEnv::at(url.clone())];
    let pruner = RepoEnv::at(url.clone());
    ok(holdfast(&c, &pruner, &url, None, None, &["init"]), "init");
    let rounds = 3u64;
    // Each host backs up its own source; host h's round r content is recorded per
    // snapshot by its (host, round.txt) so every snapshot can be checked.
    let mut expected: Vec<(String, Contents)> = Vec::new();
    for r in 0..rounds {
        let mut children = Vec::new();
        for (h, env) in hosts.iter().enumerate() {
            let src = env.path("src");
            write_round(&src, r * 10 + h as u64);
            std::fs::write(src.join("round.txt"), format!("host{h} round {r}\n")).expect("write");
            expected.push((format!("host{h} round {r}\n"), contents(&src)));
            let mut cmd = holdfast(
                &c,
                env,
                &url,
                Some(&format!("host{h}")),
                None,
                &["backup", "src"],
            );
            children.push(
                cmd.stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .expect("spawn"),
            );
        }
        let mut p = holdfast(
            &c,
            &pruner,
            &url,
            Some("pruner"),
            None,
            &["forget", "--keep-last", "2", "--prune"],
        );
        let prune = p.output().expect("prune");
        for child in children {
            let out = child.wait_with_output().expect("wait");
            assert!(
                out.status.success(),
                "backup: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        // A prune may meet a backup's lock and refuse; it never fails otherwise.
        let perr = String::from_utf8_lossy(&prune.stderr);
        assert!(
            prune.status.success() || perr.contains("lock"),
            "prune: {perr}"
        );
    }
    // Every snapshot still listed restores byte-exact to what its host had then.
    let list: serde_json::Value = serde_json::from_str(&ok(
        holdfast(&c, &pruner, &url, None, None, &["--json", "snapshots"]),
        "snapshots",
    ))
    .expect("json");
    let list = list.as_array().expect("array");
    assert!(!list.is_empty());
    let mut hosts_seen = std::collections::BTreeSet::new();
    for (i, s) in list.iter().enumerate() {
        let id = s["id"].as_str().expect("id");
        let target = format!("check-{i}");
        ok(
            holdfast(
                &c,
                &pruner,
                &url,
                None,
                None,
                &["restore", id, "--target", &target],
            ),
            "restore",
        );
        let got = contents(&pruner.path(&target));
        let tag = std::fs::read_to_string(pruner.path(&target).join("round.txt")).expect("tag");
        hosts_seen.insert(tag.split(' ').next().unwrap_or_default().to_owned());
        let want = &expected
            .iter()
            .find(|(t, _)| *t == tag)
            .expect("a known round")
            .1;
        assert_eq!(&got, want, "snapshot {id} ({tag})");
    }
    ok(
        holdfast(&c, &pruner, &url, None, None, &["verify", "--read-data"]),
        "verify",
    );
    println!(
        "garage cluster: 2 hosts x {rounds} backups with forget+prune beside them: {} snapshots, all exact, hosts {hosts_seen:?}",
        list.len()
    );
}
