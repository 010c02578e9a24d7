//! `verify --read-data-subset N/M`: the parts 1/M … M/M together read every pack once, so
//! damage in one pack is found by exactly one of them.

use super::repo_util::{RepoEnv, sample};

#[test]
fn exactly_one_part_finds_a_damaged_pack() {
    let env = RepoEnv::local();
    env.ok(&["init"], 0);
    sample(&env.path("src"));
    env.ok(&["backup", "src"], 0);
    let mut packs = Vec::new();
    for shard in std::fs::read_dir(env.path("repo/data")).expect("data") {
        for p in std::fs::read_dir(shard.expect("shard").path()).expect("shard") {
            packs.push(p.expect("pack").path());
        }
    }
    // The largest pack holds file data (trees are read by every verify).
    packs.sort_by_key(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0));
    let victim = packs.last().expect("a pack");
    let mut bytes = std::fs::read(victim).expect("read");
    bytes[5] ^= 0x01;
    std::fs::write(victim, bytes).expect("write");
    let codes: Vec<Option<i32>> = ["1/3", "2/3", "3/3"]
        .iter()
        .map(|part| {
            env.run(&["verify", "--read-data-subset", part])
                .status
                .code()
        })
        .collect();
    assert_eq!(
        codes.iter().filter(|c| **c == Some(3)).count(),
        1,
        "{codes:?}"
    );
    assert_eq!(
        codes.iter().filter(|c| **c == Some(0)).count(),
        2,
        "{codes:?}"
    );
    assert_eq!(
        env.run(&["verify", "--read-data-subset", "100%"])
            .status
            .code(),
        Some(3)
    );
    let bad = env.run(&["verify", "--read-data-subset", "4/3"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("N/M"));
}
