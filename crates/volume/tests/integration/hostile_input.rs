//! Hostile input, on stable Rust: the parsers of files users and platforms hand holdfast
//! (holdfast.toml, railway.toml, railway.json, docker-compose files, sizes, percentages,
//! durations, /proc mountinfo) fed the lint fixtures and a fixed budget of fixed-seed
//! mutations of them and random bytes. Nothing may panic. Each target prints one line
//! (`fuzz TARGET: N inputs, N accepted, N panics, T s`); `HOLDFAST_FUZZ_INPUTS` sets the
//! budget.

use std::path::{Path, PathBuf};

use holdfast_volume::config::Config;
use holdfast_volume::import::{SourceKind, compose, import_text, railway};

#[path = "../../../../fuzz/stable/mutate.rs"]
mod mutate;

/// Every fixture file whose name ends with one of `suffixes`.
fn fixtures(suffixes: &[&str]) -> Vec<Vec<u8>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut out = Vec::new();
    let mut stack = vec![root];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if suffixes.iter().any(|s| p.to_string_lossy().ends_with(s))
                && let Ok(b) = std::fs::read(&p)
            {
                out.push(b);
            }
        }
    }
    out.sort();
    assert!(!out.is_empty(), "no fixtures for {suffixes:?}");
    out
}

fn text(d: &[u8]) -> String {
    String::from_utf8_lossy(d).into_owned()
}

#[test]
fn fuzz_config_and_import_parsers_never_panic() {
    let origin = PathBuf::from("/fuzz/holdfast.toml");
    let no_env = |_: &str| None;
    let railway_env = |k: &str| (k == "RAILWAY_VOLUME_MOUNT_PATH").then(|| "/data".to_owned());
    mutate::run(
        "holdfast_toml",
        0x401d,
        &fixtures(&["holdfast.toml"]),
        |d| {
            let t = text(d);
            let a = Config::from_toml(&t, &origin, &no_env).is_ok();
            let b = Config::from_toml(&t, &origin, &railway_env).is_ok();
            a || b
        },
    );
    mutate::run("railway_toml", 0x7a17, &fixtures(&["railway.toml"]), |d| {
        let t = text(d);
        let _ = import_text(SourceKind::RailwayToml, &t, Path::new("railway.toml"));
        railway::parse_toml(&t).is_ok()
    });
    mutate::run("railway_json", 0x75a1, &fixtures(&["railway.json"]), |d| {
        let t = text(d);
        let _ = import_text(SourceKind::RailwayJson, &t, Path::new("railway.json"));
        railway::parse_json(&t).is_ok()
    });
    mutate::run(
        "compose",
        0xc0de,
        &fixtures(&["compose.yaml", "compose.yml"]),
        |d| {
            let t = text(d);
            let _ = import_text(SourceKind::Compose, &t, Path::new("compose.yaml"));
            compose::parse(&t).is_ok()
        },
    );
    let units: Vec<Vec<u8>> = ["10Gi", "512k", "1.5TB", "80%", "7d", "1h30m", "0", "99.9%"]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect();
    mutate::run("units", 0x0417, &units, |d| {
        let t = text(d);
        let a = holdfast_volume::units::parse_size(&t).is_ok();
        let b = holdfast_volume::units::parse_percent(&t).is_ok();
        let c = holdfast_volume::units::parse_duration(&t).is_ok();
        a || b || c
    });
    let mountinfo = std::fs::read("/proc/self/mountinfo").unwrap_or_default();
    mutate::run("mountinfo", 0x3071, &[mountinfo], |d| {
        !holdfast_volume::mounts::parse_mountinfo(d).is_empty()
    });
}
