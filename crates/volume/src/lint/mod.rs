//! `holdfast lint`: reads the deployment files of a project directory (holdfast.toml,
//! railway.toml, railway.json, docker-compose.yml / compose.yaml, .env) and reports what
//! would lose data: conflicting Railway configs, replicas sharing a volume, bad sizes, two
//! volumes on one path, database paths outside every volume, configured databases that do
//! not exist, unused Compose volumes, key directories others can read, SQLite databases
//! not in WAL mode, archived Postgres servers without `archive_command = 'holdfast pg archive %p'`. [`lint_with_inputs`] also says which files it read and which
//! environment variables it consulted.
//!
//! Every finding has a severity, the file it is about (relative to the directory), a
//! message and a hint saying how to fix it. Findings come in a fixed order: rule by rule,
//! file by file.

mod env;
mod files;
mod postgres;
mod project;
mod rules;
pub mod text;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use env::{DataPath, data_path, parse_dotenv};
use project::Project;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Data will be lost or the config is broken: `lint` exits 3.
    Error,
    /// Risky, worth a look.
    Warning,
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// One problem found by `lint`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// Error or warning.
    pub severity: Severity,
    /// The file (or directory) it is about, relative to the linted directory.
    pub file: String,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub hint: String,
}

impl Finding {
    pub(crate) fn error(file: impl Into<String>, message: String, hint: impl Into<String>) -> Self {
        Finding {
            severity: Severity::Error,
            file: file.into(),
            message,
            hint: hint.into(),
        }
    }

    pub(crate) fn warning(
        file: impl Into<String>,
        message: String,
        hint: impl Into<String>,
    ) -> Self {
        Finding {
            severity: Severity::Warning,
            file: file.into(),
            message,
            hint: hint.into(),
        }
    }
}

/// Why a directory could not be linted at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LintError {
    /// The directory is missing or unreadable.
    #[error("cannot lint {}: {source}", dir.display())]
    Dir {
        /// The directory.
        dir: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// Lints the project in `dir` (its holdfast.toml).
pub fn lint_dir(dir: &Path) -> Result<Vec<Finding>, LintError> {
    lint_project(dir, None)
}

/// What `lint` read: the files it checked and the environment it consulted, so a clean
/// result says what it is clean of.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Inputs {
    /// The files read, relative to the linted directory.
    pub files: Vec<String>,
    /// The environment variables looked up: `NAME=value (from …)` for
    /// `RAILWAY_VOLUME_MOUNT_PATH`, `NAME set (from …)` for others (never their values,
    /// which may be secrets), `NAME unset`.
    pub environment: Vec<String>,
}

/// Lints the project in `dir`, reading the holdfast config from `config` when given.
pub fn lint_project(dir: &Path, config: Option<&Path>) -> Result<Vec<Finding>, LintError> {
    lint_with_inputs(dir, config).map(|(findings, _)| findings)
}

/// [`lint_project`], with what it read.
pub fn lint_with_inputs(
    dir: &Path,
    config: Option<&Path>,
) -> Result<(Vec<Finding>, Inputs), LintError> {
    let meta = std::fs::metadata(dir).map_err(|source| LintError::Dir {
        dir: dir.into(),
        source,
    })?;
    if !meta.is_dir() {
        return Err(LintError::Dir {
            dir: dir.into(),
            source: std::io::Error::new(std::io::ErrorKind::NotADirectory, "not a directory"),
        });
    }
    let project = Project::load(dir, config);
    let mut findings = Vec::new();
    rules::check(&project, &mut findings);
    files::check(&project, &mut findings);
    postgres::check(&project, &mut findings);
    let inputs = Inputs {
        files: project.files(),
        environment: project.environment(),
    };
    Ok((findings, inputs))
}

/// True when any finding is an error.
pub fn has_errors(findings: &[Finding]) -> bool {
    findings.iter().any(|f| f.severity == Severity::Error)
}
