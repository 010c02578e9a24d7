//! Backend faults: real `holdfast backup` and `restore` against Garage and Azurite
//! through the fault-injecting loopback proxy, which gives a fixed-seed share of the
//! connections a reset, a stall past the request timeout, an HTTP 500, 503 or 429, a cut
//! response, a cut upload, a flipped response byte or a flipped upload byte. Each run either completes through
//! retries or fails with one clear error; a restore never lists damage the repository
//! does not have and never writes a corrupted byte; afterwards, without the proxy,
//! `verify --read-data` is clean and every snapshot restores byte-exact.
//!
//! Each backend prints one line: `faults BACKEND: N runs, N completed, N failed cleanly,
//! injected {kind: count, …}, data lost: N`. `HOLDFAST_FAULT_ROUNDS` sets the number of
//! backup+restore rounds (default 2).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::{Command, Output};
use std::time::Instant;

// The store tests' fault proxy.
#[allow(dead_code)]
#[path = "../../../store/tests/integration/proxy.rs"]
mod proxy;

use proxy::{Fault, Proxy};

use super::repo_util::{RepoEnv, contents, remote_url, sample};

fn rounds() -> u64 {
    std::env::var("HOLDFAST_FAULT_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
}

/// The upstream address in `endpoint=http://ADDR[/…]`, and the URL with `proxy` in its
/// place.
fn through(url: &str, proxy: SocketAddr) -> (String, SocketAddr) {
    let start = url.find("endpoint=http://").expect("endpoint") + "endpoint=http://".len();
    let end = url[start..]
        .find(['&', '/'])
        .map_or(url.len(), |e| start + e);
    let upstream = url[start..end].parse().expect("endpoint address");
    (format!("{}{proxy}{}", &url[..start], &url[end..]), upstream)
}

/// `holdfast ARGS…` against `url` with a short request timeout and a retry budget that
/// outlasts the faults.
fn run(env: &RepoEnv, url: &str, args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_holdfast"))
        .args(args)
        .current_dir(env.dir.path())
        .env("HOLDFAST_REPOSITORY", url)
        .env("HOLDFAST_PASSWORD", "correct horse")
        .env("HOLDFAST_CACHE_DIR", env.path("cache"))
        .env("HOLDFAST_STORE_TIMEOUT", "2s")
        .env("HOLDFAST_STORE_RETRY_FOR", "90s")
        .env_remove("HOLDFAST_CONFIG")
        .env_remove("HOLDFAST_PASSWORD_FILE")
        .env_remove("STORAGE_TYPE")
        .output()
        .expect("run holdfast");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("panicked") && out.status.code().is_some_and(|c| c != 101),
        "holdfast {args:?} panicked: {stderr}"
    );
    out
}

/// Every kind of fault the proxy injects.
fn all_faults() -> Vec<Fault> {
    vec![
        Fault::Reset,
        Fault::Stall,
        Fault::Status(500),
        Fault::Status(503),
        Fault::Status(429),
        Fault::Cut(700),
        Fault::Cut(40_000),
        Fault::CutRequest(900),
        Fault::CutRequest(60_000),
        Fault::Corrupt(10),
        Fault::Corrupt(30_000),
        Fault::CorruptRequest(20),
        Fault::CorruptRequest(50_000),
    ]
}

/// A failed run must say one clear thing: exit 1 and a single `holdfast: error:` line
/// naming the store as unavailable.
fn failed_cleanly(out: &Output) -> bool {
    let stderr = String::from_utf8_lossy(&out.stderr);
    out.status.code() == Some(1)
        && stderr.matches("holdfast: error:").count() == 1
        && stderr.contains("unavailable")
        && !stderr.contains("damaged")
}

/// A fresh repository of `var`'s server, initialised directly, with a fault proxy in
/// front of the server: the runtime that drives the proxy, the proxy, the repository and
/// its URL through the proxy.
fn proxied(var: &str) -> (tokio::runtime::Runtime, Proxy, RepoEnv, String) {
    let direct = remote_url(var);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (_, upstream) = through(&direct, "127.0.0.1:1".parse().expect("addr"));
    let proxy = rt.block_on(Proxy::start(upstream));
    let (via, _) = through(&direct, proxy.addr());
    let env = RepoEnv::at(direct);
    env.ok(&["init"], 0);
    (rt, proxy, env, via)
}

fn faults_suite(var: &str, backend: &str, seed: u64) {
    let (rt, proxy, env, via) = proxied(var);
    let src = env.path("src");
    sample(&src);
    let (mut runs, mut completed, mut clean_failures, mut lost) = (0, 0, 0, 0);
    let mut committed: Vec<Vec<(String, Vec<u8>)>> = Vec::new();
    let started = Instant::now();
    // Faults at a quarter of the connections (each request comes on its own), every kind.
    proxy.chaos(seed, 250, &all_faults());
    for round in 0..rounds() {
        for f in 0..4u64 {
            let bytes = super::repo_util::pseudo_random(round * 8 + f + 1, 300_000);
            std::fs::write(src.join(format!("round-{round}-{f}.bin")), bytes).expect("write");
        }
        let before = contents(&src);
        let b = run(&env, &via, &["backup", "src"]);
        runs += 1;
        match b.status.code() {
            Some(0) => {
                completed += 1;
                committed.push(before.clone());
            }
            _ => {
                assert!(
                    failed_cleanly(&b),
                    "backup through faults: {:?}\n{}",
                    b.status.code(),
                    String::from_utf8_lossy(&b.stderr)
                );
                clean_failures += 1;
            }
        }
        let target = format!("out-{round}");
        let r = run(&env, &via, &["restore", "latest", "--target", &target]);
        runs += 1;
        match r.status.code() {
            Some(0) => {
                completed += 1;
                let want = committed.last().expect("a committed snapshot");
                if &contents(&env.path(&target)) != want {
                    lost += 1;
                }
            }
            _ => {
                // Never exit 3: the repository is sound, so no file may be listed as
                // damaged because a read met a fault.
                assert!(
                    failed_cleanly(&r),
                    "restore through faults: {:?}\n{}",
                    r.status.code(),
                    String::from_utf8_lossy(&r.stderr)
                );
                clean_failures += 1;
            }
        }
    }
    proxy.chaos(seed, 0, &[]);
    let injected = proxy.counts();
    // Without the proxy: the repository is sound and every snapshot is exact.
    env.ok(&["verify", "--read-data"], 0);
    let list: serde_json::Value =
        serde_json::from_str(&env.ok(&["--json", "snapshots"], 0)).expect("json");
    let ids: Vec<String> = list
        .as_array()
        .expect("array")
        .iter()
        .map(|s| s["id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(
        ids.len(),
        committed.len(),
        "only completed backups committed"
    );
    for (i, (id, want)) in ids.iter().zip(&committed).enumerate() {
        let target = format!("check-{i}");
        env.ok(&["restore", id, "--target", &target], 0);
        if &contents(&env.path(&target)) != want {
            lost += 1;
        }
    }
    let total: usize = injected.values().sum();
    let kinds: BTreeMap<&str, usize> = injected;
    println!(
        "faults {backend}: {runs} runs, {completed} completed, {clean_failures} failed cleanly, \
         injected {total} {kinds:?}, {:.0} s, data lost: {lost}",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(lost, 0);
    assert!(total > 0, "no fault met an operation");
    drop(proxy);
    drop(rt);
}

#[test]
fn faults_s3_backup_and_restore_survive_or_fail_cleanly() {
    faults_suite("HOLDFAST_TEST_S3_URL", "s3", 0x5eed_0013);
}

#[test]
fn faults_azblob_backup_and_restore_survive_or_fail_cleanly() {
    faults_suite("HOLDFAST_TEST_AZBLOB_URL", "azblob", 0x5eed_0113);
}

/// Uploads with one byte flipped on the way (a third of all connections) while backups run:
/// the store must refuse or the write be checked, so a damaged upload is retried and
/// never committed as data. Before upload checksums, S3 stored the flipped pack and
/// `verify --read-data` found it damaged in a snapshot the backup had reported done.
fn upload_corrupted_in_transit(var: &str, seed: u64) {
    let (rt, proxy, env, via) = proxied(var);
    let src = env.path("src");
    sample(&src);
    proxy.chaos(
        seed,
        330,
        &[Fault::CorruptRequest(20), Fault::CorruptRequest(70_000)],
    );
    let mut committed = Vec::new();
    // A fault is drawn per connection, and most connections carry no body, so the
    // rounds go on until two uploads met a flipped byte (a bound keeps it finite).
    let mut round = 0u64;
    while round < 3 || (round < 24 && flipped_so_far(&proxy) < 2) {
        round += 1;
        let bytes = super::repo_util::pseudo_random(round + 101, 400_000);
        std::fs::write(src.join(format!("up-{round}.bin")), bytes).expect("write");
        let before = contents(&src);
        let b = run(&env, &via, &["backup", "src"]);
        match b.status.code() {
            Some(0) => committed.push(before),
            _ => assert!(
                failed_cleanly(&b),
                "backup through damaged uploads: {:?}\n{}",
                b.status.code(),
                String::from_utf8_lossy(&b.stderr)
            ),
        }
    }
    proxy.chaos(seed, 0, &[]);
    let flipped = flipped_so_far(&proxy);
    assert!(
        flipped > 0,
        "no upload met a flipped byte in {round} rounds"
    );
    let v = env.run(&["verify", "--read-data"]);
    assert_eq!(
        v.status.code(),
        Some(0),
        "a damaged upload was stored as data ({flipped} flipped):\n{}{}",
        String::from_utf8_lossy(&v.stdout),
        String::from_utf8_lossy(&v.stderr)
    );
    let list: serde_json::Value =
        serde_json::from_str(&env.ok(&["--json", "snapshots"], 0)).expect("json");
    let ids = list.as_array().expect("array");
    assert_eq!(
        ids.len(),
        committed.len(),
        "only completed backups committed"
    );
    for (i, (s, want)) in ids.iter().zip(&committed).enumerate() {
        let target = format!("check-{i}");
        env.ok(
            &[
                "restore",
                s["id"].as_str().expect("id"),
                "--target",
                &target,
            ],
            0,
        );
        assert_eq!(&contents(&env.path(&target)), want, "snapshot {i} exact");
    }
    println!(
        "upload corruption {var}: {flipped} uploads flipped, {} backups committed, data lost: 0",
        committed.len()
    );
    drop(proxy);
    drop(rt);
}

/// How many uploads the proxy has sent on with a byte flipped.
fn flipped_so_far(proxy: &Proxy) -> usize {
    proxy.counts().get("corrupt-request").copied().unwrap_or(0)
}

#[test]
fn upload_corrupted_in_transit_is_never_committed_s3() {
    upload_corrupted_in_transit("HOLDFAST_TEST_S3_URL", 0x5eed_0213);
}

#[test]
fn upload_corrupted_in_transit_is_never_committed_azblob() {
    upload_corrupted_in_transit("HOLDFAST_TEST_AZBLOB_URL", 0x5eed_0313);
}

/// A pack read damaged on the way several times in a row, then clean: the restore must
/// end exact with exit 0. Restore read a range once more after a failed
/// authentication, so two damaged reads in a row reported a sound pack as damaged (exit
/// 3, found by the long fault suite on Azurite).
fn reads_damaged_in_a_row(var: &str) {
    let (rt, proxy, env, via) = proxied(var);
    let src = env.path("src");
    std::fs::create_dir_all(&src).expect("mkdir");
    let bytes = super::repo_util::pseudo_random(0x5eed_0413, 300_000);
    std::fs::write(src.join("one.bin"), &bytes).expect("write");
    env.ok(&["backup", "src"], 0);
    std::fs::remove_dir_all(env.path("cache")).ok();
    proxy.fail_next_to(
        "GET",
        "/data/",
        &[Fault::Corrupt(10), Fault::Corrupt(10), Fault::Corrupt(10)],
    );
    let r = run(&env, &via, &["restore", "latest", "--target", "out"]);
    assert_eq!(
        r.status.code(),
        Some(0),
        "restore through three damaged reads:\n{}",
        String::from_utf8_lossy(&r.stderr)
    );
    assert_eq!(proxy.aimed_pending(), 0, "every damaged read was met");
    assert_eq!(proxy.counts().get("corrupt").copied(), Some(3));
    assert_eq!(
        std::fs::read(env.path("out/one.bin")).expect("restored"),
        bytes
    );
    drop(proxy);
    drop(rt);
}

#[test]
fn restore_reported_a_sound_pack_damaged_after_two_bad_reads_s3() {
    reads_damaged_in_a_row("HOLDFAST_TEST_S3_URL");
}

#[test]
fn restore_reported_a_sound_pack_damaged_after_two_bad_reads_azblob() {
    reads_damaged_in_a_row("HOLDFAST_TEST_AZBLOB_URL");
}
