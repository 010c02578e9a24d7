//! `holdfast repair index`: a damaged or missing index is rebuilt from the packs'
//! trailers, after which every snapshot restores byte-exact.

use std::path::{Path, PathBuf};

use super::repo_util::{RepoEnv, contents, sample};

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path());
            }
        }
    }
    out.sort();
    out
}

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
    let out = env.run(&["restore", "latest", "--target", "out"]);
    assert_eq!(out.status.code(), Some(1));
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
