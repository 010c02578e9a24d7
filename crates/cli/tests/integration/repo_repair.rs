//! `holdfast repair index`: a damaged or missing index is rebuilt from the packs'
//! trailers, after which every snapshot restores byte-exact.

use std::path::{Path, PathBuf};

use super::repo_util::{RepoEnv, contents, files_in as files, sample};

fn flip_byte(path: &Path, at: usize) {
    let mut bytes = std::fs::read(path).expect("read");
    let i = at.min(bytes.len() - 1);
    bytes[i] ^= 0x40;
    std::fs::write(path, bytes).expect("write");
}

/// Two snapshots of `src` (the second with one more file).
fn backed_up() -> RepoEnv {
    let env = RepoEnv::local();
    env.ok(&["init"], 0);
    sample(&env.path("src"));
    env.ok(&["backup", "src"], 0);
    std::fs::write(env.path("src/later.txt"), "later\n").expect("write");
    env.ok(&["backup", "src"], 0);
    env
}

fn restores_exactly(env: &RepoEnv) {
    let _ = std::fs::remove_dir_all(env.path("out"));
    env.ok(&["restore", "latest", "--target", "out"], 0);
    assert_eq!(contents(&env.path("out")), contents(&env.path("src")));
}

/// Finding: one damaged index file made every restore exit 1 ("loading the index:
/// corrupt object index/…") though the index can be rebuilt from the pack trailers.
#[test]
fn a_damaged_index_file_is_rebuilt_from_the_packs() {
    let env = backed_up();
    let index = files(&env.path("repo/index"));
    assert_eq!(index.len(), 2);
    flip_byte(&index[1], 40);
    // A restore no longer stops at it: the packs' own trailers stand in for the damaged
    // index file, and the restore says so and how to make the repair permanent.
    let out = env.run(&["restore", "latest", "--target", "out"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("repair index --yes"), "{stderr}");
    assert_eq!(contents(&env.path("out")), contents(&env.path("src")));
    std::fs::remove_dir_all(env.path("out")).expect("rm");
    // A dry run changes nothing.
    let dry = env.ok(&["repair", "index"], 0);
    assert!(dry.contains("would write a new index"), "{dry}");
    assert!(dry.contains("damaged index file"), "{dry}");
    assert_eq!(files(&env.path("repo/index")), index);
    let done = env.ok(&["repair", "index", "--yes"], 0);
    assert!(done.contains("wrote a new index"), "{done}");
    env.ok(&["verify", "--read-data"], 0);
    restores_exactly(&env);
    let again = env.ok(&["repair", "index"], 0);
    assert!(again.contains("nothing to do"), "{again}");
}

#[test]
fn an_index_that_is_gone_entirely_is_rebuilt() {
    let env = backed_up();
    for f in files(&env.path("repo/index")) {
        std::fs::remove_file(f).expect("rm");
    }
    let report: serde_json::Value =
        serde_json::from_str(&env.ok(&["--json", "repair", "index", "--yes"], 0)).expect("json");
    assert_eq!(report["index_files"], 0);
    assert!(report["packs_recovered"].as_u64() > Some(0), "{report}");
    assert_eq!(report["rewritten"], true);
    env.ok(&["verify", "--read-data"], 0);
    restores_exactly(&env);
}

#[test]
fn a_damaged_pack_is_named_and_left_out_of_the_rebuilt_index() {
    let env = backed_up();
    for f in files(&env.path("repo/index")) {
        std::fs::remove_file(f).expect("rm");
    }
    let packs = files(&env.path("repo/data"));
    flip_byte(&packs[0], 10);
    let out = env.run(&["repair", "index", "--yes"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{stdout}");
    let name = packs[0].file_name().and_then(|n| n.to_str()).expect("name");
    assert!(
        stdout.contains("damaged pack") && stdout.contains(name),
        "{stdout}"
    );
}

/// `repair snapshots`: a snapshot whose file lost its pack is rewritten without that
/// file; everything else restores byte-exact and verify is clean again.
#[test]
fn a_snapshot_that_lost_a_file_is_rewritten_without_it() {
    let env = RepoEnv::local();
    env.ok(&["init"], 0);
    sample(&env.path("src"));
    env.ok(&["backup", "src"], 0);
    let before = files(&env.path("repo/data"));
    let lost: Vec<u8> = (0..1_500_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 7) as u8)
        .collect();
    std::fs::write(env.path("src/lost.bin"), lost).expect("write");
    env.ok(&["backup", "src"], 0);
    // The second backup's data pack is the largest of its new packs.
    let mut new: Vec<PathBuf> = files(&env.path("repo/data"))
        .into_iter()
        .filter(|p| !before.contains(p))
        .collect();
    new.sort_by_key(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0));
    std::fs::remove_file(new.last().expect("a new pack")).expect("rm");
    env.ok(&["repair", "index", "--yes"], 0);
    assert_eq!(env.run(&["verify"]).status.code(), Some(3));
    let dry = env.ok(&["repair", "snapshots"], 0);
    assert!(
        dry.contains("would be repaired") && dry.contains("lost.bin"),
        "{dry}"
    );
    let done = env.ok(&["repair", "snapshots", "--yes", "--forget"], 0);
    assert!(done.contains("original forgotten"), "{done}");
    env.ok(&["verify", "--read-data"], 0);
    let listed: serde_json::Value =
        serde_json::from_str(&env.ok(&["snapshots", "--json"], 0)).expect("json");
    let tags: Vec<String> = listed
        .as_array()
        .expect("array")
        .iter()
        .flat_map(|s| s["tags"].as_array().cloned().unwrap_or_default())
        .filter_map(|t| t.as_str().map(str::to_owned))
        .collect();
    assert_eq!(tags, ["repaired"], "{listed}");
    std::fs::remove_file(env.path("src/lost.bin")).expect("rm");
    restores_exactly(&env);
}
