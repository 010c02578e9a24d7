//! `ls` and `diff` as text and as the JSON `holdfast ls --json` prints: one line per
//! entry (type and mode, size, path, link target) and one per difference (`+`, `-`,
//! `M`, `U` and the path).

use std::fmt::Write as _;

use serde_json::{Value, json};

use super::{Change, DiffEntry, Entry};
use crate::tree::NodeType;

/// One line per entry: `drwxr-xr-x`-like type and octal mode, size, path (`/` after a
/// directory, `-> TARGET` after a symlink).
pub fn ls(entries: &[Entry]) -> String {
    let mut out = String::new();
    for e in entries {
        let n = &e.node;
        let (t, suffix) = match n.kind {
            NodeType::Dir => ('d', "/".to_owned()),
            NodeType::File => ('-', String::new()),
            NodeType::Symlink => ('l', format!(" -> {}", n.target.as_deref().unwrap_or(""))),
        };
        let _ = writeln!(
            out,
            "{t}{:04o} {:>12}  {}{suffix}",
            n.mode & 0o7777,
            n.size,
            e.path.display()
        );
    }
    out
}

/// The entries as the `--json` array: path, type, size, mode, owner, mtime and target.
pub fn ls_json(entries: &[Entry]) -> Value {
    entries
        .iter()
        .map(|e| {
            let n = &e.node;
            json!({
                "path": e.path.to_string_lossy(), "type": n.kind, "size": n.size,
                "mode": n.mode & 0o7777, "uid": n.uid, "gid": n.gid, "mtime_ns": n.mtime_ns,
                "target": n.target,
            })
        })
        .collect()
}

/// One line per difference: `+` added, `-` removed, `M` modified, `U` metadata only.
pub fn diff(changes: &[DiffEntry]) -> String {
    let mut out = String::new();
    for c in changes {
        let mark = match c.change {
            Change::Added => '+',
            Change::Removed => '-',
            Change::Modified => 'M',
            Change::Metadata => 'U',
        };
        let _ = writeln!(out, "{mark} {}", c.path);
    }
    out
}
