//! The corruption matrix: each kind of damage, on a fresh copy of a small repository with
//! three snapshots, run through `verify`, `verify --read-data` and `restore` of every
//! snapshot. For each kind the exit codes are pinned (docs/RELIABILITY.md, "Corruption
//! matrix"), the messages must name the damaged object and the affected snapshots and
//! paths, every restore must bring back everything undamaged byte-exact (and exit 3
//! naming what it could not restore), and no run may panic.
//!
//! Damage that leaves the repository unusable (a key file, `config`) makes every command
//! exit 1 naming the object; damage to data exits 3. A damaged local cache is no damage
//! at all: it is dropped and fetched again.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Output;

use super::repo_util::pseudo_random;
use super::repo_util::{RepoEnv, contents, files_in, remote_url, sample};

/// Relative path → content, as [`contents`] gives it.
type Contents = Vec<(String, Vec<u8>)>;

/// A repository with three snapshots of `src` and what each snapshot holds.
struct Fixture {
    env: RepoEnv,
    /// Snapshot ids (full hex), oldest first, with the contents each one holds.
    snaps: Vec<(String, Contents)>,
}

fn snapshot_ids(env: &RepoEnv) -> Vec<String> {
    let list: serde_json::Value =
        serde_json::from_str(&env.ok(&["--json", "snapshots"], 0)).expect("snapshots json");
    list.as_array()
        .expect("array")
        .iter()
        .map(|s| s["id"].as_str().expect("id").to_owned())
        .collect()
}

/// Three snapshots: the sample tree plus a file only the first has, a second that adds a
/// directory and changes a file, a third that drops the first's own file.
fn fixture(env: RepoEnv) -> Fixture {
    env.ok(&["init"], 0);
    let src = env.path("src");
    sample(&src);
    std::fs::write(src.join("only1.bin"), pseudo_random(1, 300_000)).expect("write");
    env.ok(&["backup", "src"], 0);
    let mut snaps = vec![contents(&src)];
    std::fs::create_dir_all(src.join("two")).expect("mkdir");
    std::fs::write(src.join("two/only2.bin"), pseudo_random(2, 200_000)).expect("write");
    std::fs::write(src.join("hello.txt"), "hello again\n").expect("write");
    env.ok(&["backup", "src"], 0);
    snaps.push(contents(&src));
    std::fs::remove_file(src.join("only1.bin")).expect("rm");
    std::fs::write(src.join("three.txt"), "three\n").expect("write");
    env.ok(&["backup", "src"], 0);
    snaps.push(contents(&src));
    let ids = snapshot_ids(&env);
    assert_eq!(ids.len(), 3);
    Fixture {
        env,
        snaps: ids.into_iter().zip(snaps).collect(),
    }
}

fn local_fixture() -> Fixture {
    fixture(RepoEnv::local())
}

fn repo_path(fx: &Fixture, rel: &str) -> PathBuf {
    fx.env.path("repo").join(rel)
}

fn flip(path: &Path, at: usize) {
    let mut bytes = std::fs::read(path).expect("read");
    let i = at.min(bytes.len() - 1);
    bytes[i] ^= 0x01;
    std::fs::write(path, bytes).expect("write");
}

fn name_of(path: &Path) -> String {
    path.file_name()
        .and_then(|n| n.to_str())
        .expect("name")
        .to_owned()
}

/// Objects under `dir` of the repository, oldest first (by modification time, then name).
fn objects(fx: &Fixture, dir: &str) -> Vec<PathBuf> {
    let mut files = files_in(&repo_path(fx, dir));
    files.sort_by_key(|p| {
        (
            std::fs::metadata(p)
                .and_then(|m| m.modified())
                .expect("mtime"),
            p.clone(),
        )
    });
    files
}

/// The packs holding tree blobs and the packs holding file data, each largest first.
fn packs_by_kind(fx: &Fixture) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let tree_packs: BTreeSet<String> = rt.block_on(async {
        let store = holdfast_store::Store::open(&fx.env.url).expect("store");
        let repo = holdfast_repo::open(
            store,
            &holdfast_repo::OpenOptions {
                password: "correct horse".into(),
                cache: Some(false),
            },
        )
        .await
        .expect("open")
        .load_index()
        .await
        .expect("index");
        repo.index()
            .blobs()
            .filter(|(_, l)| l.kind == holdfast_repo::pack::BlobType::Tree)
            .map(|(_, l)| l.pack.to_hex())
            .collect()
    });
    let mut all = files_in(&repo_path(fx, "data"));
    all.sort_by_key(|p| std::cmp::Reverse(std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)));
    all.into_iter()
        .partition(|p| tree_packs.contains(&name_of(p)))
}

/// What one command printed and how it ended.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn run(env: &RepoEnv, args: &[&str]) -> Run {
    let out: Output = env.run(args);
    let r = Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(
        !r.stderr.contains("panicked") && r.code != Some(101) && r.code.is_some(),
        "holdfast {args:?} panicked or was killed: {:?}\n{}",
        r.code,
        r.stderr
    );
    r
}

/// One verify problem as printed: `DAMAGED object: error`, then its snapshots and paths.
#[derive(Debug, Default)]
struct Problem {
    head: String,
    snapshots: Vec<String>,
    paths: Vec<String>,
}

fn problems(stdout: &str) -> Vec<Problem> {
    let mut out: Vec<Problem> = Vec::new();
    for line in stdout.lines() {
        if let Some(head) = line.strip_prefix("DAMAGED ") {
            out.push(Problem {
                head: head.to_owned(),
                ..Problem::default()
            });
        } else if let (Some(s), Some(p)) = (line.strip_prefix("  snapshot "), out.last_mut()) {
            p.snapshots.push(s.to_owned());
        } else if let (Some(s), Some(p)) = (line.strip_prefix("  path "), out.last_mut()) {
            p.paths.push(s.to_owned());
        }
    }
    out
}

/// A restore of one snapshot into a fresh directory.
struct Restored {
    snapshot: String,
    run: Run,
    /// Paths restore reported as damaged.
    damaged: Vec<String>,
}

fn restore_all(fx: &Fixture, tag: &str) -> Vec<Restored> {
    let mut out = Vec::new();
    for (i, (id, want)) in fx.snaps.iter().enumerate() {
        let target = format!("out-{tag}-{i}");
        let r = run(&fx.env, &["restore", id, "--target", &target]);
        let damaged: Vec<String> = r
            .stderr
            .lines()
            .filter_map(|l| l.strip_prefix("holdfast: damaged: "))
            .map(|l| {
                l.split(": ")
                    .next()
                    .unwrap_or(l)
                    .trim_end_matches('/')
                    .to_owned()
            })
            .collect();
        match r.code {
            Some(0) => {
                assert!(damaged.is_empty(), "exit 0 with damage: {}", r.stderr);
                assert_eq!(
                    &contents(&fx.env.path(&target)),
                    want,
                    "snapshot {id} restored with exit 0 but not byte-exact"
                );
            }
            Some(3) => {
                assert!(
                    !damaged.is_empty(),
                    "exit 3 names nothing damaged: {}",
                    r.stderr
                );
                // Everything not named as damaged (nor inside a damaged directory) is back
                // byte-exact, and nothing damaged was written as if it were data.
                // A damaged root tree ("/") loses everything.
                let hit = |p: &str| {
                    damaged
                        .iter()
                        .any(|d| d.is_empty() || p == d || p.starts_with(&format!("{d}/")))
                };
                let keep = |v: &[(String, Vec<u8>)]| -> Vec<(String, Vec<u8>)> {
                    v.iter().filter(|(p, _)| !hit(p)).cloned().collect()
                };
                let got = contents(&fx.env.path(&target));
                assert_eq!(keep(&got), keep(want), "snapshot {id}: undamaged part");
                for (p, bytes) in &got {
                    if let Some((_, w)) = want.iter().find(|(q, _)| q == p)
                        && bytes != w
                        && !damaged.contains(p)
                    {
                        panic!("snapshot {id}: {p} restored with wrong content");
                    }
                }
            }
            _ => {}
        }
        out.push(Restored {
            snapshot: id.clone(),
            run: r,
            damaged,
        });
    }
    out
}

/// What a kind of damage did.
struct Outcome {
    verify: Run,
    read_data: Run,
    restores: Vec<Restored>,
}

impl Outcome {
    fn codes(&self) -> (Option<i32>, Option<i32>, Vec<Option<i32>>) {
        (
            self.verify.code,
            self.read_data.code,
            self.restores.iter().map(|r| r.run.code).collect(),
        )
    }
}

fn examine(fx: &Fixture, kind: &str) -> Outcome {
    let verify = run(&fx.env, &["verify"]);
    let read_data = run(&fx.env, &["verify", "--read-data"]);
    let restores = restore_all(fx, kind);
    let o = Outcome {
        verify,
        read_data,
        restores,
    };
    let (v, vr, r) = o.codes();
    println!("corruption {kind}: verify {v:?}, verify --read-data {vr:?}, restore {r:?}");
    o
}

/// The checks every data-damage kind shares: verify --read-data exits 3 and names
/// `object`; every snapshot it names restores with exit 3 and every damaged path a
/// restore names is a path verify named; snapshots it does not name restore exit 0.
fn damage_is_consistent(fx: &Fixture, o: &Outcome, object: &str) {
    assert_eq!(o.read_data.code, Some(3), "{}", o.read_data.stdout);
    let found = problems(&o.read_data.stdout);
    assert!(
        found.iter().any(|p| p.head.contains(object)),
        "verify --read-data does not name {object}:\n{}",
        o.read_data.stdout
    );
    let named_snaps: BTreeSet<&str> = found
        .iter()
        .flat_map(|p| p.snapshots.iter().map(String::as_str))
        .collect();
    let named_paths: BTreeSet<&str> = found
        .iter()
        .flat_map(|p| p.paths.iter().map(|s| s.trim_end_matches('/')))
        .collect();
    assert!(!named_snaps.is_empty(), "no snapshot named");
    for r in &o.restores {
        let named = named_snaps.contains(r.snapshot.as_str());
        if named {
            assert_eq!(
                r.run.code,
                Some(3),
                "snapshot {} is named as affected:\n{}",
                r.snapshot,
                r.run.stderr
            );
            for d in &r.damaged {
                assert!(
                    named_paths.contains(d.as_str()),
                    "restore names {d}, verify named only {named_paths:?}"
                );
            }
        } else {
            assert_eq!(r.run.code, Some(0), "{}", r.run.stderr);
        }
    }
    let _ = fx;
}

#[test]
fn corruption_flipped_byte_in_a_data_pack() {
    let fx = local_fixture();
    let (_, data) = packs_by_kind(&fx);
    let pack = &data[0];
    let len = std::fs::metadata(pack).expect("stat").len() as usize;
    flip(pack, len / 2);
    let o = examine(&fx, "data-pack-flip");
    assert_eq!(o.verify.code, Some(0), "structure is intact");
    damage_is_consistent(&fx, &o, &name_of(pack));
}

#[test]
fn corruption_flipped_byte_in_a_tree_pack() {
    let fx = local_fixture();
    let (trees, _) = packs_by_kind(&fx);
    let pack = &trees[0];
    let len = std::fs::metadata(pack).expect("stat").len() as usize;
    flip(pack, len / 3);
    let o = examine(&fx, "tree-pack-flip");
    // Trees are read by every verify.
    assert_eq!(o.verify.code, Some(3), "{}", o.verify.stdout);
    damage_is_consistent(&fx, &o, &name_of(pack));
}

#[test]
fn corruption_truncated_pack() {
    let fx = local_fixture();
    let (_, data) = packs_by_kind(&fx);
    let pack = &data[0];
    let bytes = std::fs::read(pack).expect("read");
    std::fs::write(pack, &bytes[..bytes.len() / 2]).expect("write");
    let o = examine(&fx, "truncated-pack");
    assert_eq!(o.verify.code, Some(3), "{}", o.verify.stdout);
    assert!(
        o.verify.stdout.contains(&name_of(pack)),
        "{}",
        o.verify.stdout
    );
    damage_is_consistent(&fx, &o, &name_of(pack));
}

#[test]
fn corruption_missing_pack() {
    let fx = local_fixture();
    let (_, data) = packs_by_kind(&fx);
    // The second backup's own data (the smaller packs are the later backups').
    let pack = &data[1];
    std::fs::remove_file(pack).expect("rm");
    let o = examine(&fx, "missing-pack");
    assert_eq!(o.verify.code, Some(3), "{}", o.verify.stdout);
    assert!(
        o.verify.stdout.contains(&name_of(pack)),
        "{}",
        o.verify.stdout
    );
    damage_is_consistent(&fx, &o, &name_of(pack));
}

#[test]
fn corruption_flipped_byte_in_an_index_file() {
    let fx = local_fixture();
    let index = objects(&fx, "index");
    assert_eq!(index.len(), 3);
    flip(&index[1], 60);
    let o = examine(&fx, "index-flip");
    let name = name_of(&index[1]);
    assert_eq!(o.verify.code, Some(3), "{}", o.verify.stdout);
    assert!(o.verify.stdout.contains(&name), "{}", o.verify.stdout);
    assert_eq!(o.read_data.code, Some(3));
    assert!(o.read_data.stdout.contains(&name), "{}", o.read_data.stdout);
    // The packs are whole: restore reads their trailers for what the index lost, so
    // every snapshot comes back whole, and it says so naming the index file.
    for r in &o.restores {
        assert_eq!(r.run.code, Some(0), "{}", r.run.stderr);
        assert!(r.run.stderr.contains(&name), "{}", r.run.stderr);
        assert!(r.run.stderr.contains("repair index"), "{}", r.run.stderr);
    }
}

#[test]
fn corruption_missing_index_file() {
    let fx = local_fixture();
    let index = objects(&fx, "index");
    std::fs::remove_file(&index[1]).expect("rm");
    let o = examine(&fx, "missing-index");
    assert_eq!(o.verify.code, Some(3), "{}", o.verify.stdout);
    assert!(
        o.verify.stdout.contains("repair index"),
        "{}",
        o.verify.stdout
    );
    assert_eq!(o.read_data.code, Some(3));
    for r in &o.restores {
        assert_eq!(r.run.code, Some(0), "{}", r.run.stderr);
        assert!(r.run.stderr.contains("repair index"), "{}", r.run.stderr);
    }
}

#[test]
fn corruption_flipped_byte_in_a_snapshot() {
    let fx = local_fixture();
    let (id, _) = &fx.snaps[1];
    let path = repo_path(&fx, &format!("snapshots/{id}"));
    flip(&path, 50);
    let o = examine(&fx, "snapshot-flip");
    for r in [&o.verify, &o.read_data] {
        assert_eq!(r.code, Some(3), "{}", r.stdout);
        assert!(
            r.stdout.contains(&format!("snapshots/{id}")),
            "{}",
            r.stdout
        );
    }
    // That snapshot cannot be read at all: restoring it is an error naming it; the
    // others restore whole.
    for (i, r) in o.restores.iter().enumerate() {
        if i == 1 {
            assert_eq!(r.run.code, Some(1), "{}", r.run.stderr);
            assert!(
                r.run.stderr.contains(&format!("snapshots/{id}")),
                "{}",
                r.run.stderr
            );
        } else {
            assert_eq!(r.run.code, Some(0), "{}", r.run.stderr);
        }
    }
}

/// Damage that makes the repository unusable: every command exits 1 naming `object`
/// (and, unless `password_said`, without blaming the password).
fn unusable(o: &Outcome, object: &str, password_said: bool) {
    for r in [&o.verify, &o.read_data]
        .into_iter()
        .chain(o.restores.iter().map(|r| &r.run))
    {
        assert_eq!(r.code, Some(1), "{}", r.stderr);
        assert!(
            r.stderr.contains(object),
            "does not name {object}: {}",
            r.stderr
        );
        assert!(
            password_said || !r.stderr.contains("wrong password"),
            "{}",
            r.stderr
        );
    }
}

#[test]
fn corruption_flipped_byte_in_the_key_file() {
    let fx = local_fixture();
    let keys = objects(&fx, "keys");
    assert_eq!(keys.len(), 1);
    flip(&keys[0], 100);
    let o = examine(&fx, "key-flip");
    unusable(&o, &format!("keys/{}", name_of(&keys[0])), false);
}

/// Finding: a flipped bit in the repository id inside `config` made every command fail
/// with "wrong password … no key file opens with it", never naming `config`: the id is
/// the associated data of every wrapped master key, so a changed id and a wrong password
/// cannot be told apart. An id that is no longer hex is now named as damage; one that
/// is still hex (this test: a digit flipped into another digit) gets a message that
/// names `config` as the other possible cause.
#[test]
fn corruption_flipped_byte_in_config_names_config() {
    let fx = local_fixture();
    let path = repo_path(&fx, "config");
    let text = std::fs::read_to_string(&path).expect("config");
    let id_at = text.find("\"id\"").expect("id field");
    let at = id_at
        + text[id_at..]
            .bytes()
            .skip(6)
            .position(|b| b.is_ascii_digit() && b != b'9' && b != b'8')
            .expect("a digit")
        + 6;
    flip(&path, at);
    let o = examine(&fx, "config-flip-digit");
    unusable(&o, "config", true);
    // A flip that leaves no hex digit is damage, named as such.
    let fx = local_fixture();
    let path = repo_path(&fx, "config");
    let text = std::fs::read_to_string(&path).expect("config");
    let id_at = text.find("\"id\"").expect("id field");
    let at = id_at + 6 + text[id_at + 6..].find(['a', 'f']).expect("a letter");
    flip(&path, at);
    let o = examine(&fx, "config-flip-letter");
    unusable(&o, "config", false);
}

#[test]
fn corruption_garbage_config_is_named() {
    let fx = local_fixture();
    let path = repo_path(&fx, "config");
    flip(&path, 0);
    let o = examine(&fx, "config-garbage");
    unusable(&o, "config", false);
}

#[test]
fn corruption_garbage_lock() {
    let fx = local_fixture();
    let lock = repo_path(&fx, &format!("locks/{}", "ab".repeat(16)));
    std::fs::create_dir_all(lock.parent().expect("parent")).expect("mkdir");
    std::fs::write(&lock, pseudo_random(7, 300)).expect("write");
    let o = examine(&fx, "garbage-lock");
    // Verify and restore take a shared lock: an unreadable lock may be a running prune's,
    // so both refuse (after their lock retries), naming it and how to remove it.
    for r in [&o.verify, &o.read_data]
        .into_iter()
        .chain(o.restores.iter().map(|r| &r.run))
    {
        assert_eq!(r.code, Some(1), "{}", r.stderr);
        assert!(r.stderr.contains(&name_of(&lock)), "{}", r.stderr);
        assert!(r.stderr.contains("unlock --all"), "{}", r.stderr);
    }
    fx.env.ok(&["unlock", "--all"], 0);
    fx.env.ok(&["verify", "--read-data"], 0);
    assert!(
        restore_all(&fx, "unlocked")
            .iter()
            .all(|r| r.run.code == Some(0))
    );
}

/// A damaged local cache (remote repositories only) is no damage: every cached object
/// is checked against its name and authenticated, and a bad copy is fetched again.
#[test]
fn corruption_damaged_local_cache_s3() {
    let fx = fixture(RepoEnv::at(remote_url("HOLDFAST_TEST_S3_URL")));
    let cached = files_in(&fx.env.path("cache"));
    assert!(!cached.is_empty(), "the remote repository was cached");
    for (i, f) in cached.iter().enumerate() {
        match i % 3 {
            0 => flip(f, 40),
            1 => {
                let bytes = std::fs::read(f).expect("read");
                std::fs::write(f, &bytes[..bytes.len() / 2]).expect("truncate");
            }
            _ => std::fs::write(f, pseudo_random(i as u64, 64)).expect("garbage"),
        }
    }
    let o = examine(&fx, "cache");
    assert_eq!(
        o.verify.code,
        Some(0),
        "{}{}",
        o.verify.stdout,
        o.verify.stderr
    );
    assert_eq!(o.read_data.code, Some(0), "{}", o.read_data.stdout);
    for r in &o.restores {
        assert_eq!(r.run.code, Some(0), "{}", r.run.stderr);
    }
}
