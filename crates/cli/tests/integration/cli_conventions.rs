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
