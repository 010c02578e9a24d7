//! Shell completions, the man page and `version`: generated from the clap definitions,
//! and every main command's `--help` carries examples.

use std::process::Command;

fn holdfast(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_holdfast"))
        .args(args)
        .env_remove("HOLDFAST_CONFIG")
        .output()
        .expect("run holdfast");
    assert_eq!(out.status.code(), Some(0), "holdfast {args:?}: {out:?}");
    String::from_utf8(out.stdout).expect("utf8")
}

#[test]
fn completions_name_the_subcommands() {
    let bash = holdfast(&["completions", "bash"]);
    for sub in [
        "init",
        "backup",
        "restore",
        "verify",
        "forget",
        "completions",
        "version",
    ] {
        assert!(bash.contains(sub), "bash completion lacks {sub}");
    }
    assert!(holdfast(&["completions", "zsh"]).contains("restore"));
    assert!(holdfast(&["completions", "fish"]).contains("restore"));
}

#[test]
fn version_json_parses() {
    let doc: serde_json::Value =
        serde_json::from_str(&holdfast(&["version", "--json"])).expect("one JSON document");
    assert_eq!(doc["version"], env!("CARGO_PKG_VERSION"));
    assert!(
        doc["target"].as_str().is_some_and(|t| !t.is_empty()),
        "{doc}"
    );
    assert!(holdfast(&["version"]).starts_with("holdfast "));
}

#[test]
fn man_page_is_roff() {
    let man = holdfast(&["man"]);
    assert!(man.starts_with(".TH"), "{}", &man[..man.len().min(200)]);
    assert!(man.contains("restore"));
}

/// Finding (issue 25): the man page had no ENVIRONMENT or EXIT STATUS section, and its
/// COMMANDS section named pages (holdfast-backup(1), …) that nothing wrote.
#[test]
fn man_page_has_environment_and_exit_status_and_its_pages_exist() {
    let man = holdfast(&["man"]);
    for section in [
        ".SH ENVIRONMENT",
        ".SH \"EXIT STATUS\"",
        "HOLDFAST_PASSWORD_FILE",
    ] {
        assert!(man.contains(section), "no {section}");
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("man1");
    holdfast(&["man", "--dir", out.to_str().expect("utf-8")]);
    let root = std::fs::read_to_string(out.join("holdfast.1")).expect("holdfast.1");
    assert_eq!(root, man, "--dir writes the same holdfast.1");
    let mut named = 0;
    for page in std::fs::read_dir(&out).expect("read dir") {
        let text = std::fs::read_to_string(page.expect("entry").path()).expect("page");
        // Every reference `holdfast-NAME(1)` is a page in the directory.
        for (at, _) in text.match_indices("(1)") {
            let start = text[..at]
                .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '\\'))
                .map_or(0, |i| i + 1);
            let name = text[start..at].replace("\\-", "-");
            if name.starts_with("holdfast-") {
                named += 1;
                assert!(out.join(format!("{name}.1")).is_file(), "no page {name}.1");
            }
        }
    }
    assert!(named >= 27, "{named} references");
    assert!(out.join("holdfast-key-add.1").is_file());
}

#[test]
fn main_commands_show_examples_in_help() {
    for sub in [
        "init",
        "backup",
        "snapshots",
        "restore",
        "verify",
        "forget",
        "copy",
        "run",
        "serve",
        "status",
    ] {
        let help = holdfast(&[sub, "--help"]);
        assert!(
            help.contains("Examples:") && help.contains(&format!("holdfast {sub}")),
            "{sub} --help: {help}"
        );
    }
}
