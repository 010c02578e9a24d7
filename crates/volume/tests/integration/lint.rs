//! `lint` over fixture directories: each `tests/fixtures/lint/<case>/` holds the files of
//! a project and `expected.json`, the findings lint must report (in order). An optional
//! `modes.txt` lists `relative/path octal-mode` lines applied before linting, since git
//! does not keep permissions. Set `HOLDFAST_BLESS=1` to rewrite `expected.json` from the
//! current output (then review the diff).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use holdfast_volume::lint::{Finding, has_errors, lint_dir};

fn cases() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/lint");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("fixture directory")
        .map(|e| e.expect("fixture entry").path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

fn apply_modes(case: &Path) {
    let Ok(text) = std::fs::read_to_string(case.join("modes.txt")) else {
        return;
    };
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let (path, mode) = line.rsplit_once(' ').expect("`path mode` line");
        let mode = u32::from_str_radix(mode, 8).expect("octal mode");
        std::fs::set_permissions(case.join(path), std::fs::Permissions::from_mode(mode))
            .expect("chmod fixture");
    }
}

#[test]
fn lint_fixture_cases() {
    let bless = std::env::var_os("HOLDFAST_BLESS").is_some();
    let mut failures = Vec::new();
    let all = cases();
    assert!(all.len() >= 10, "fixture cases missing: {all:?}");
    for case in all {
        apply_modes(&case);
        let findings = lint_dir(&case).expect("lint runs");
        let expected_file = case.join("expected.json");
        if bless {
            let text = serde_json::to_string_pretty(&findings).expect("json") + "\n";
            std::fs::write(&expected_file, text).expect("write expected.json");
            continue;
        }
        let text = std::fs::read_to_string(&expected_file).expect("expected.json");
        let expected: Vec<Finding> = serde_json::from_str(&text).expect("expected.json parses");
        if findings != expected {
            failures.push(format!(
                "{}:\n  expected {}\n  actual   {}",
                case.display(),
                serde_json::to_string_pretty(&expected).unwrap_or_default(),
                serde_json::to_string_pretty(&findings).unwrap_or_default()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn good_configs_have_no_errors() {
    for case in cases().iter().filter(|c| {
        c.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("good"))
    }) {
        let findings = lint_dir(case).expect("lint runs");
        assert!(findings.is_empty(), "{}: {findings:?}", case.display());
        assert!(!has_errors(&findings));
    }
}

#[test]
fn missing_directory_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let err = lint_dir(&dir.path().join("absent")).expect_err("missing");
    assert!(err.to_string().contains("absent"), "{err}");
}
