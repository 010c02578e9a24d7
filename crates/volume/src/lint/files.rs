//! Rules over files on disk: key directories others can read, configured databases that
//! do not exist on a volume that does (a typo in a path leaves the database out of every
//! backup), SQLite databases on a volume that are not in WAL mode.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::Finding;
use super::project::Project;
use crate::sqlite::{self, JournalMode};

/// How deep the key and database searches go below each root.
const DEPTH: usize = 5;
const SKIP_DIRS: [&str; 5] = [".git", "node_modules", "target", ".venv", "__pycache__"];
const KEY_DIRS: [&str; 8] = [
    "keys",
    "secrets",
    "secret",
    "ssh-keys",
    "ssh",
    ".ssh",
    "private",
    "credentials",
];
const KEY_FILES: [&str; 4] = ["id_rsa", "id_dsa", "id_ecdsa", "id_ed25519"];

pub(super) fn check(p: &Project, out: &mut Vec<Finding>) {
    let mut roots = vec![p.dir.clone()];
    if let Some(c) = p.config() {
        for v in &c.volumes {
            if v.path.is_dir() && !v.path.starts_with(&p.dir) {
                roots.push(v.path.clone());
            }
        }
    }
    for root in &roots {
        readable_keys(p, root, out);
    }
    missing_databases(p, out);
    sqlite_journal(p, out);
}

/// A configured SQLite database that is not on its volume, when the volume is here to
/// look at (linting away from the deployment checks nothing).
fn missing_databases(p: &Project, out: &mut Vec<Finding>) {
    let Some(config) = p.config() else { return };
    for v in config.volumes.iter().filter(|v| v.path.is_dir()) {
        for db in v.sqlite_paths().into_iter().filter(|db| !db.is_file()) {
            let rel = db
                .strip_prefix(&v.path)
                .unwrap_or(&db)
                .display()
                .to_string();
            let found: Vec<String> = sqlite::find_databases(&v.path, DEPTH)
                .iter()
                .filter_map(|f| f.strip_prefix(&v.path).ok())
                .map(|f| f.display().to_string())
                .collect();
            let hint = if found.is_empty() {
                "fix its path in holdfast.toml (relative to the volume), or remove it".to_string()
            } else {
                format!(
                    "fix its path in holdfast.toml; SQLite databases found on the volume: {}",
                    found.join(", ")
                )
            };
            out.push(Finding::error(
                p.rel(&db),
                format!(
                    "configured database {rel} of volume {} does not exist in {}: backups would \
                     hold no copy of it",
                    v.name,
                    v.path.display()
                ),
                hint,
            ));
        }
    }
}

fn is_key_dir(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    KEY_DIRS.contains(&lower.as_str()) || lower.ends_with("-keys") || lower.ends_with("_keys")
}

fn is_private_key(path: &Path, name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".key") || KEY_FILES.contains(&lower.as_str()) {
        return true;
    }
    if lower.ends_with(".p12") || lower.ends_with(".pfx") {
        return true;
    }
    if lower.ends_with(".pem") {
        let mut head = Vec::new();
        let read = std::fs::File::open(path).and_then(|f| f.take(64 << 10).read_to_end(&mut head));
        return read.is_ok() && contains(&head, b"PRIVATE KEY");
    }
    false
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn readable_keys(p: &Project, root: &Path, out: &mut Vec<Finding>) {
    let walk = walkdir::WalkDir::new(root)
        .max_depth(DEPTH)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| !SKIP_DIRS.contains(&e.file_name().to_string_lossy().as_ref()));
    for entry in walk.filter_map(Result::ok) {
        let name = entry.file_name().to_string_lossy();
        let Ok(meta) = entry.metadata() else { continue };
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o077 == 0 {
            continue;
        }
        let rel = p.rel(entry.path());
        if entry.file_type().is_dir() && entry.depth() > 0 && is_key_dir(&name) {
            out.push(Finding::error(
                rel.clone(),
                format!(
                    "directory {rel} holds keys and is open to group or others (mode {mode:04o})"
                ),
                format!("chmod 700 {rel}"),
            ));
        } else if entry.file_type().is_file() && is_private_key(entry.path(), &name) {
            out.push(Finding::error(
                rel.clone(),
                format!("private key {rel} is readable by group or others (mode {mode:04o})"),
                format!("chmod 600 {rel}"),
            ));
        }
    }
}

fn sqlite_journal(p: &Project, out: &mut Vec<Finding>) {
    let Some(config) = p.config() else { return };
    let mut seen: Vec<PathBuf> = Vec::new();
    for v in config.volumes.iter().filter(|v| v.path.is_dir()) {
        let mut candidates = v.sqlite_paths();
        if v.sqlite_autodetect {
            candidates.extend(sqlite::find_databases(&v.path, DEPTH));
        }
        for db in candidates {
            if seen.contains(&db) {
                continue;
            }
            seen.push(db.clone());
            if let Ok(Some(JournalMode::Rollback)) = sqlite::journal_mode(&db) {
                let rel = p.rel(&db);
                out.push(Finding::warning(
                    rel.clone(),
                    format!(
                        "SQLite database {rel} on volume {} is not in WAL mode",
                        v.name
                    ),
                    "run `PRAGMA journal_mode=WAL;` once: readers stop blocking the writer and \
                     the database can be copied consistently while the app runs",
                ));
            }
        }
    }
}
