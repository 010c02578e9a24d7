//! Lint findings as text, as `holdfast lint` prints them: each finding with its hint and
//! a count of errors and warnings, and what was read to reach the verdict (on stderr).
//! The JSON form is [`Finding`]'s own serialisation.

use std::fmt::Write as _;

use super::{Finding, Inputs, Severity};

/// The files and the environment `lint` read, one line each.
pub fn describe(inputs: &Inputs) -> String {
    let files = if inputs.files.is_empty() {
        "none of holdfast.toml, railway.toml, railway.json, compose.yaml, .env".to_string()
    } else {
        inputs.files.join(", ")
    };
    let env = if inputs.environment.is_empty() {
        "none".to_string()
    } else {
        inputs.environment.join(", ")
    };
    format!("checked: {files}\nenvironment: {env}\n")
}

/// Each finding and its hint, then the counts; `no problems found` when there are none.
pub fn render(findings: &[Finding]) -> String {
    if findings.is_empty() {
        return "no problems found\n".to_string();
    }
    let mut out = String::new();
    for f in findings {
        let _ = writeln!(out, "{}: {}: {}", f.severity, f.file, f.message);
        let _ = writeln!(out, "  hint: {}", f.hint);
    }
    let errors = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    let _ = writeln!(
        out,
        "{errors} error(s), {} warning(s)",
        findings.len() - errors
    );
    out
}
