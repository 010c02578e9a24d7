//! docs/GUIDE.md as a user follows it. A fenced block after `<!-- test: NAME -->` is a
//! step of chapter NAME: the steps of a chapter run in order as one bash script
//! (`set -euo pipefail`) in a fresh directory, with the `holdfast` under test first on
//! `PATH` and no holdfast settings from the environment. A block after
//! `<!-- file: PATH -->` shows (part of) an example file: its lines must be in that file,
//! in order. Every chapter's run is timed and the time printed.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use super::examples_util::{copy_example, source_file};
use super::volume_util::outcome;

/// A fenced block of the guide and the marker comment right before it.
struct Block {
    marker: String,
    body: String,
}

/// Every fenced block preceded (on the line before its opening fence) by `<!-- … -->`.
fn marked_blocks(text: &str) -> Vec<Block> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let marker = lines[i]
            .trim()
            .strip_prefix("<!--")
            .and_then(|m| m.strip_suffix("-->"))
            .map(str::trim);
        match (marker, lines.get(i + 1)) {
            (Some(marker), Some(fence)) if fence.starts_with("```") => {
                let end = (i + 2..lines.len())
                    .find(|&j| lines[j].starts_with("```"))
                    .unwrap_or_else(|| panic!("unclosed block after {marker}"));
                out.push(Block {
                    marker: marker.to_string(),
                    body: lines[i + 2..end].join("\n") + "\n",
                });
                i = end + 1;
            }
            _ => i += 1,
        }
    }
    out
}

/// The script of chapter `name`: its tested blocks in order.
fn chapter_script(name: &str) -> String {
    let guide = source_file("docs/GUIDE.md");
    let script: String = marked_blocks(&guide)
        .into_iter()
        .filter(|b| b.marker == format!("test: {name}"))
        .map(|b| b.body)
        .collect();
    assert!(
        !script.is_empty(),
        "docs/GUIDE.md has no `test: {name}` block"
    );
    script
}

/// Unmounts whatever a chapter mounted under its directory, when the test ends.
struct Mounts(std::path::PathBuf);

impl Drop for Mounts {
    fn drop(&mut self) {
        let table = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
        let mut points: Vec<&str> = table
            .lines()
            .filter_map(|l| l.split_whitespace().nth(1))
            .filter(|p| Path::new(p).starts_with(&self.0))
            .collect();
        points.reverse();
        for p in points {
            let _ = Command::new("umount").arg("-l").arg(p).status();
        }
    }
}

/// Runs chapter `name` in a fresh directory prepared by `prepare`; prints its time.
fn run_chapter(name: &str, prepare: impl FnOnce(&Path), edit: impl Fn(&str) -> String) {
    let script = edit(&chapter_script(name));
    // A server a chapter started in the background ends with the script, failed or not.
    let run = format!("trap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n{script}");
    let dir = tempfile::tempdir().expect("temporary directory");
    let _mounts = Mounts(dir.path().to_path_buf());
    prepare(dir.path());
    let bin = tempfile::tempdir().expect("bin directory");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_holdfast"), bin.path().join("holdfast"))
        .expect("holdfast on PATH");
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = Command::new("bash");
    cmd.args(["-euo", "pipefail", "-c", &run])
        .current_dir(dir.path())
        .env("PATH", path)
        .env("HOME", dir.path());
    for (key, _) in std::env::vars() {
        if key.starts_with("HOLDFAST_") || key.starts_with("RAILWAY_") || key == "STORAGE_TYPE" {
            cmd.env_remove(key);
        }
    }
    let started = Instant::now();
    let out = cmd.output().expect("run bash");
    let elapsed = started.elapsed();
    let (code, stdout, stderr) = outcome(&out);
    assert_eq!(
        code, 0,
        "chapter {name} failed\n--- script\n{script}\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    println!(
        "chapter {name}: {} commands in {:.2} s",
        script
            .lines()
            .filter(|l| l.starts_with("holdfast "))
            .count(),
        elapsed.as_secs_f64()
    );
}

/// A line without its trailing ` # comment` and surrounding blanks (the guide shows the
/// example files with fewer comments).
fn bare(line: &str) -> &str {
    line.split_once(" #").map_or(line, |(code, _)| code).trim()
}

#[test]
fn guide_files_are_the_examples() {
    let guide = source_file("docs/GUIDE.md");
    let mut checked = 0;
    for block in marked_blocks(&guide) {
        let Some(path) = block.marker.strip_prefix("file: ") else {
            continue;
        };
        let file = source_file(path);
        let mut rest = file.lines().map(bare);
        for line in block.body.lines().map(bare).filter(|l| !l.is_empty()) {
            assert!(
                rest.any(|l| l == line),
                "docs/GUIDE.md shows {path} with a line it does not have (or out of order): {line:?}"
            );
        }
        checked += 1;
    }
    assert!(checked >= 6, "only {checked} file blocks");
}

#[test]
fn guide_chapter_zero_runs_as_written() {
    run_chapter("zero", |_| {}, str::to_string);
}

#[test]
fn guide_chapter_railway_runs_as_written() {
    run_chapter(
        "railway",
        |dir| copy_example("railway", dir),
        str::to_string,
    );
}

#[test]
fn guide_chapter_bot_runs_as_written() {
    run_chapter("bot", |_| {}, str::to_string);
}

#[test]
fn guide_chapter_http_runs_as_written() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    run_chapter(
        "http",
        |_| {},
        |script| script.replace("127.0.0.1:8425", &format!("127.0.0.1:{port}")),
    );
}
