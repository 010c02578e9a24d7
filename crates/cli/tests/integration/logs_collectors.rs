//! Logs for log collectors: no colour codes unless stderr is a terminal (and never with
//! `NO_COLOR`), `--log-format json` lines that parse, and `-v` levels that show
//! holdfast's own debug lines without the libraries' internals. With `--log-format
//! json`, `run` and `serve` write nothing else either: their start line, notes and the
//! start-up warning block (one line, its reasons in a field) are JSON lines too.

use std::path::Path;
use std::process::{Command, Output};

use super::serve_util::{Server, Setup};

/// A repository URL whose store never answers (nothing listens on port 1), so the
/// store layer retries (holdfast debug lines) and the HTTP client connects (library
/// debug lines) before the command fails.
const UNREACHABLE: &str = "s3://bucket/p?endpoint=http://127.0.0.1:1&region=x";

/// `holdfast ARGS…` in `dir` with stdout and stderr piped, no inherited log settings,
/// and `envs` added.
fn holdfast(dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_holdfast"));
    cmd.args(args)
        .current_dir(dir)
        .env("HOLDFAST_PASSWORD", "pw")
        .env("HOLDFAST_CACHE_DIR", dir.join("cache"))
        .env("HOLDFAST_STORE_RETRY_FOR", "500ms")
        .env("HOLDFAST_STORE_TIMEOUT", "200ms")
        .env("AWS_ACCESS_KEY_ID", "AKID")
        .env("AWS_SECRET_ACCESS_KEY", "not-a-real-secret")
        .env_remove("RUST_LOG")
        .env_remove("NO_COLOR")
        .env_remove("HOLDFAST_LOG_FORMAT")
        .env_remove("HOLDFAST_CONFIG")
        .env_remove("HOLDFAST_REPOSITORY")
        .env_remove("HOLDFAST_PASSWORD_FILE");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().expect("run holdfast")
}

/// A scratch directory with a file:// repository (initialised) and a small data tree.
struct Scratch {
    dir: tempfile::TempDir,
    repo: String,
}

impl Scratch {
    fn new() -> Scratch {
        let dir = tempfile::tempdir().expect("temporary directory");
        let data = dir.path().join("data");
        std::fs::create_dir_all(data.join("sub")).expect("data dir");
        std::fs::write(data.join("a.txt"), "hello").expect("write");
        std::fs::write(data.join("sub/b.txt"), "world").expect("write");
        let repo = format!("file://{}", dir.path().join("repo").display());
        let s = Scratch { dir, repo };
        let out = s.run(&["init"], &[]);
        assert!(out.status.success(), "init: {}", stderr(&out));
        s
    }

    fn run(&self, args: &[&str], envs: &[(&str, &str)]) -> Output {
        let mut all = vec!["--repo", self.repo.as_str()];
        all.extend_from_slice(args);
        holdfast(self.dir.path(), &all, envs)
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The runs the tests look at: a backup that succeeds and a listing of a repository
/// that cannot be reached (retries, then an error), each at `-vv`.
fn sample_runs(s: &Scratch, extra: &[&str], envs: &[(&str, &str)]) -> Vec<Output> {
    let mut backup = vec!["-vv", "backup", "data"];
    backup.extend_from_slice(extra);
    let mut failing = vec!["-vv", "snapshots", "--repo", UNREACHABLE];
    failing.extend_from_slice(extra);
    let ok = s.run(&backup, envs);
    assert!(ok.status.success(), "backup: {}", stderr(&ok));
    let bad = s.run(&failing, envs);
    assert_eq!(bad.status.code(), Some(1), "snapshots: {}", stderr(&bad));
    vec![ok, bad]
}

/// Issue 12.5: log lines carried ANSI colour codes when stderr was a pipe or a file.
#[test]
fn logs_through_a_pipe_carry_no_escape_bytes() {
    let s = Scratch::new();
    for out in sample_runs(&s, &[], &[]) {
        let text = stderr(&out);
        assert!(
            text.contains("DEBUG"),
            "debug lines expected at -vv: {text}"
        );
        assert!(
            !out.stderr.contains(&0x1b) && !out.stdout.contains(&0x1b),
            "escape bytes in piped output: {text:?}"
        );
    }
}

/// Runs `holdfast ARGS` on a pseudo-terminal (through `script`), returning what the
/// terminal showed.
fn on_a_terminal(s: &Scratch, args: &str, no_color: Option<&str>) -> Vec<u8> {
    let bin = env!("CARGO_BIN_EXE_holdfast");
    let command = format!("'{bin}' --repo '{}' {args}", s.repo);
    let mut cmd = Command::new("script");
    cmd.args(["-qec", &command, "/dev/null"])
        .current_dir(s.dir.path())
        .env("HOLDFAST_PASSWORD", "pw")
        .env("HOLDFAST_CACHE_DIR", s.dir.path().join("cache"))
        .env_remove("RUST_LOG")
        .env_remove("HOLDFAST_LOG_FORMAT")
        .env_remove("NO_COLOR");
    if let Some(v) = no_color {
        cmd.env("NO_COLOR", v);
    }
    let out = cmd
        .output()
        .expect("`script` (util-linux) runs a command on a pseudo-terminal");
    assert!(
        out.status.success(),
        "{command}: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    out.stdout
}

/// On a terminal log lines are coloured, unless `NO_COLOR` is set to anything but "".
#[test]
fn a_terminal_gets_colour_unless_no_color_is_set() {
    let s = Scratch::new();
    let args = "-vv snapshots";
    let coloured = on_a_terminal(&s, args, None);
    assert!(
        String::from_utf8_lossy(&coloured).contains("log filter"),
        "{coloured:?}"
    );
    assert!(coloured.contains(&0x1b), "a terminal gets colour");
    let plain = on_a_terminal(&s, args, Some("1"));
    assert!(String::from_utf8_lossy(&plain).contains("log filter"));
    assert!(!plain.contains(&0x1b), "NO_COLOR=1: {plain:?}");
    let empty = on_a_terminal(&s, args, Some(""));
    assert!(empty.contains(&0x1b), "an empty NO_COLOR does not count");
}

/// Parses every stderr line as a JSON object with `level`, `target` and `message`.
fn json_lines(out: &Output) -> Vec<serde_json::Value> {
    parse_lines(&stderr(out))
}

/// Parses every line of `text` as a JSON object with `level`, `target` and `message`.
fn parse_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not JSON ({e}): {line}\nall of stderr:\n{text}"));
            for field in ["level", "target", "message", "timestamp"] {
                assert!(v[field].is_string(), "no `{field}` in {line}");
            }
            v
        })
        .collect()
}

/// `--log-format json` (or `HOLDFAST_LOG_FORMAT=json`): one JSON object per stderr
/// line, the final error included.
#[test]
fn json_log_lines_parse() {
    let s = Scratch::new();
    let by_flag = sample_runs(&s, &["--log-format", "json"], &[]);
    let by_env = sample_runs(&s, &[], &[("HOLDFAST_LOG_FORMAT", "json")]);
    for runs in [by_flag, by_env] {
        let ok = json_lines(&runs[0]);
        assert!(
            ok.iter()
                .any(|v| v["level"] == "DEBUG" && v["message"] == "log filter: warn,holdfast=trace,holdfast_repo=trace,holdfast_store=trace,holdfast_volume=trace"),
            "{ok:?}"
        );
        let bad = json_lines(&runs[1]);
        let last = bad.last().expect("an error line");
        assert_eq!(last["level"], "ERROR", "{last}");
        assert!(
            last["message"]
                .as_str()
                .is_some_and(|m| m.contains("unavailable") || m.contains("127.0.0.1:1")),
            "{last}"
        );
    }
    let out = s.run(&["--log-format", "yaml", "snapshots"], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

/// The levels of the lines a run shows, as `(level, target)`.
fn levels(s: &Scratch, verbosity: &[&str]) -> Vec<(String, String)> {
    let mut args = vec!["--log-format", "json", "snapshots", "--repo", UNREACHABLE];
    args.extend_from_slice(verbosity);
    let out = s.run(&args, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    json_lines(&out)
        .iter()
        .map(|v| {
            (
                v["level"].as_str().unwrap_or_default().to_string(),
                v["target"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn own(target: &str) -> bool {
    target == "holdfast"
        || [
            "holdfast::",
            "holdfast_repo",
            "holdfast_store",
            "holdfast_volume",
        ]
        .iter()
        .any(|p| target.starts_with(p))
}

/// Issue 12.5: `-vv` dumped library internals. Now `-v` shows holdfast's debug lines and
/// no library's, `-vvv` adds the libraries' (the HTTP client's connection lines here),
/// and a command other than `run`/`serve` shows only warnings and errors by default.
#[test]
fn verbose_shows_holdfast_debug_lines_and_library_internals_only_at_vvv() {
    let s = Scratch::new();
    let quiet = levels(&s, &[]);
    assert!(
        quiet.iter().all(|(l, _)| l == "WARN" || l == "ERROR"),
        "{quiet:?}"
    );
    for flag in ["-v", "-vv"] {
        let lines = levels(&s, &[flag]);
        assert!(
            lines.iter().any(|(l, t)| l == "DEBUG" && own(t)),
            "{flag}: a holdfast debug line: {lines:?}"
        );
        let foreign: Vec<_> = lines.iter().filter(|(_, t)| !own(t)).collect();
        assert!(foreign.is_empty(), "{flag}: library lines: {foreign:?}");
    }
    let lines = levels(&s, &["-vvv"]);
    assert!(
        lines
            .iter()
            .any(|(l, t)| (l == "DEBUG" || l == "TRACE") && !own(t)),
        "-vvv shows the libraries' debug lines: {lines:?}"
    );
}

/// `holdfast serve` shows holdfast's INFO lines without `-v` (each job's outcome line
/// is one), and no debug lines.
#[test]
fn serve_shows_holdfast_info_lines_by_default() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    let dir = tempfile::tempdir().expect("temporary directory");
    std::fs::create_dir_all(dir.path().join("data")).expect("volume dir");
    std::fs::write(
        dir.path().join("holdfast.toml"),
        "[[volumes]]\nname = \"data\"\npath = \"data\"\n",
    )
    .expect("write config");
    let mut child = Command::new(env!("CARGO_BIN_EXE_holdfast"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .current_dir(dir.path())
        .env_remove("RUST_LOG")
        .env_remove("NO_COLOR")
        .env_remove("HOLDFAST_LOG_FORMAT")
        .env_remove("HOLDFAST_CONFIG")
        .env_remove("HOLDFAST_REPOSITORY")
        .env_remove("HOLDFAST_LISTEN")
        .env_remove("RAILWAY_VOLUME_MOUNT_PATH")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start holdfast serve");
    let mut lines = BufReader::new(child.stderr.take().expect("piped stderr")).lines();
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.expect("stderr line");
        let listening = line.contains("listening on");
        seen.push(line);
        if listening {
            break;
        }
    }
    assert!(
        seen.iter().any(|l| l.contains("listening on")),
        "serve did not start: {seen:?}"
    );
    let pid = child.id().to_string();
    let sent = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("run kill");
    assert!(sent.success());
    seen.extend(lines.map_while(Result::ok));
    let status = child.wait().expect("wait for serve");
    assert!(status.success(), "{status:?}: {seen:#?}");
    let all = seen.join("\n");
    assert!(
        seen.iter()
            .any(|l| l.contains(" INFO holdfast") && l.contains("SIGTERM: shutting down")),
        "{all}"
    );
    assert!(!all.contains("DEBUG") && !all.contains('\u{1b}'), "{all}");
}

/// Issue 12: with `--log-format json`, `run` still wrote its notes as text. A short
/// `run` whose volume misses a `restore_if_missing` file (no snapshot yet: a note)
/// writes only JSON lines, the note a `WARN` one.
#[test]
fn run_writes_only_json_lines() {
    let s = Scratch::new();
    std::fs::write(
        s.dir.path().join("holdfast.toml"),
        "[[volumes]]\nname = \"data\"\npath = \"data\"\nrestore_if_missing = [\"app.db\"]\n",
    )
    .expect("write config");
    let out = s.run(
        &[
            "--log-format",
            "json",
            "run",
            "--listen",
            "127.0.0.1:0",
            "--",
            "true",
        ],
        &[],
    );
    assert!(out.status.success(), "run: {}", stderr(&out));
    let lines = json_lines(&out);
    assert!(
        lines.iter().any(|v| v["level"] == "WARN"
            && v["message"]
                .as_str()
                .is_some_and(|m| m.contains("app.db missing") && m.contains("starting fresh"))),
        "{lines:?}"
    );
}

/// Starts `ARGS` (`serve` or `run`) with `--log-format json` and no repository password,
/// waits for the warning line, stops it and checks that every stderr line is JSON and
/// that the warning is ONE `WARN` line naming both reasons.
fn warns_in_json(args: &[&str]) {
    let setup = Setup::new(
        "[repository]\nurl = \"file://{dir}/repo\"\n\n[[volumes]]\nname = \"data\"\npath = \"vol\"\n",
    );
    let mut s = Server::start_with(setup, args, |dir| {
        std::fs::create_dir_all(dir.join("vol")).expect("volume dir");
    });
    s.wait_log("\"reasons\"");
    s.terminate();
    let log = s.log();
    let lines = parse_lines(&log);
    let warnings: Vec<_> = lines.iter().filter(|v| v["reasons"].is_array()).collect();
    assert_eq!(warnings.len(), 1, "one warning line: {log}");
    let w = warnings[0];
    assert_eq!(w["level"], "WARN", "{w}");
    assert!(
        w["message"]
            .as_str()
            .is_some_and(|m| m.contains("backups cannot run")),
        "{w}"
    );
    let reasons = w["reasons"].to_string();
    assert!(reasons.contains("no repository password"), "{reasons}");
    assert!(reasons.contains("no [schedule] backup"), "{reasons}");
    assert!(
        lines.iter().any(|v| v["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("listening on http://127.0.0.1:"))),
        "{log}"
    );
}

/// Issue 12: with `--log-format json`, `serve` wrote its `listening on` line and the
/// start-up warning block as text, breaking a log collector's JSON parser.
#[test]
fn serve_without_a_password_writes_only_json_lines() {
    warns_in_json(&["serve", "--log-format", "json", "--listen", "127.0.0.1:0"]);
}

/// The same for `run` with its server (the app runs until the test stops it).
#[test]
fn run_without_a_password_writes_only_json_lines() {
    warns_in_json(&[
        "run",
        "--log-format",
        "json",
        "--listen",
        "127.0.0.1:0",
        "--",
        "sleep",
        "600",
    ]);
}
