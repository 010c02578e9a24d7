//! Issue 25, "the first hour": what a new user met in their first hour with holdfast,
//! each pinned by the real binary: a short password at `init`, a dry run refused on a
//! non-empty target, a backup summary without new/changed/unmodified counts, `backup -v`
//! silent about its database copies, "1 symlinks".

use std::process::Output;

use super::repo_util::RepoEnv;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn ok(out: &Output) -> (String, String) {
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    (stdout, stderr)
}

#[test]
fn init_warns_on_a_short_password_and_says_where_to_keep_it() {
    let env = RepoEnv::local();
    let (stdout, stderr) = ok(&env.run_with(&["init"], Some("hunter2")));
    assert_eq!(
        stderr.trim_end(),
        "holdfast: warning: the password has 7 characters: use 12 or more (e.g. `openssl \
         rand -base64 24`), it is all that keeps a copy of the repository unreadable"
    );
    assert!(
        stdout.contains("keep the password in a password manager"),
        "{stdout}"
    );
    let long = RepoEnv::local();
    let (_, stderr) = ok(&long.run_with(&["init"], Some("correct horse battery")));
    assert_eq!(stderr, "", "no warning for 21 characters");
}

/// A snapshot of `data/` (two files and a symlink) in a fresh repository.
fn with_snapshot() -> RepoEnv {
    let env = RepoEnv::local();
    env.ok(&["init"], 0);
    let data = env.path("data");
    std::fs::create_dir(&data).expect("mkdir");
    std::fs::write(data.join("a.txt"), "alpha").expect("write");
    std::fs::write(data.join("b.txt"), "bravo").expect("write");
    std::os::unix::fs::symlink("a.txt", data.join("link")).expect("symlink");
    env.ok(&["backup", "data"], 0);
    env
}

#[test]
fn restore_dry_run_alone_runs_on_a_non_empty_target() {
    let env = with_snapshot();
    let t = env.path("t");
    std::fs::create_dir(&t).expect("mkdir");
    std::fs::write(t.join("a.txt"), "local").expect("write");
    let (stdout, stderr) = ok(&env.run(&["restore", "latest", "--target", "t", "--dry-run"]));
    assert!(
        stdout.contains("overwrite 1, keep 0") && stdout.contains("nothing was written"),
        "{stdout}"
    );
    assert!(stderr.contains("shown as --overwrite always"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(t.join("a.txt")).expect("read"),
        "local"
    );
    // Without --dry-run it is refused, and the refusal names --in-place.
    let out = env.run(&["restore", "latest", "--target", "t"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--overwrite") && err.contains("--in-place"),
        "{err}"
    );
}

#[test]
fn restore_summary_says_1_symlink_not_1_symlinks() {
    let env = with_snapshot();
    let (stdout, _) = ok(&env.run(&["restore", "latest", "--target", "r"]));
    assert!(
        stdout.contains(": 2 files, ") && stdout.contains(", 1 symlink, "),
        "{stdout}"
    );
}

#[test]
fn backup_summary_names_new_changed_and_unmodified_files() {
    let env = with_snapshot();
    let data = env.path("data");
    std::fs::write(data.join("b.txt"), "bravo, longer now").expect("write");
    std::fs::write(data.join("c.txt"), "charlie").expect("write");
    let (stdout, _) = ok(&env.run(&["backup", "data"]));
    assert!(
        stdout.contains("\n  Files: 1 new, 1 changed, 1 unmodified\n"),
        "{stdout}"
    );
}

#[test]
fn backup_v_says_which_databases_were_copied_consistently() {
    let env = RepoEnv::local();
    let vol = env.path("vol");
    std::fs::create_dir_all(vol.join("db")).expect("mkdir");
    let conn = rusqlite::Connection::open(vol.join("db/app.db")).expect("sqlite");
    conn.execute_batch("CREATE TABLE t(x); INSERT INTO t VALUES (1);")
        .expect("sql");
    drop(conn);
    std::fs::write(
        env.path("holdfast.toml"),
        format!(
            "[repository]\nurl = \"{}\"\n\n[[volumes]]\nname = \"app-data\"\npath = \"vol\"\n\
             databases = [{{ kind = \"sqlite\", path = \"db/app.db\" }}]\n",
            env.url
        ),
    )
    .expect("config");
    env.ok(&["init"], 0);
    let out = env.run(&["--config", "holdfast.toml", "backup", "-v"]);
    let (_, stderr) = ok(&out);
    assert!(
        stderr.contains(
            "volume app-data: database db/app.db copied consistently (SQLite online backup)"
        ),
        "{stderr}"
    );
}

/// Finding: docs/HTTP.md's metrics table was cut in two by a paragraph and named some
/// metrics only by their ends (`_total_bytes`). Every metric /metrics emits is in the
/// one table, spelled in full.
#[test]
fn http_md_metrics_table_names_every_metric_in_full() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let code = std::fs::read_to_string(root.join("../agent/src/metrics.rs")).expect("metrics.rs");
    let doc = std::fs::read_to_string(root.join("../../docs/HTTP.md")).expect("HTTP.md");
    let table: String = doc
        .split("| metric | type |")
        .nth(1)
        .expect("the metrics table")
        .lines()
        .skip(1)
        .take_while(|l| l.starts_with('|'))
        .collect();
    let mut names: Vec<&str> = code
        .split('"')
        .filter(|s| {
            s.len() > "holdfast_".len()
                && s.starts_with("holdfast_")
                && s.chars().all(|c| c.is_ascii_lowercase() || c == '_')
        })
        .collect();
    names.sort_unstable();
    names.dedup();
    assert!(names.len() >= 20, "{names:?}");
    let missing: Vec<&&str> = names
        .iter()
        .filter(|n| !table.contains(&format!("`{n}`")) && !table.contains(&format!("`{n}{{")))
        .collect();
    assert!(missing.is_empty(), "not in the metrics table: {missing:?}");
}
