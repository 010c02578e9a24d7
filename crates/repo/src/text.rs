//! Small pieces of user-facing text, so every report says them the same way: counted
//! nouns ("1 file", "2 files"), lists (`a, b`, never a Rust debug list) and byte sizes
//! (`1.50 MiB`). The text renderers of the operations (`forget::text`, `prune::text`,
//! …) build on them; the front ends print what they return.

use std::fmt::Display;

/// `n` and the noun, plural unless `n` is 1: `count(1, "snapshot")` is `1 snapshot`,
/// `count(2, "entry")` is `2 entries`.
pub fn count(n: impl TryInto<u64>, noun: &str) -> String {
    let n: u64 = n.try_into().unwrap_or(u64::MAX);
    if n == 1 {
        return format!("1 {noun}");
    }
    let plural = match noun.strip_suffix('y') {
        Some(stem) if !stem.ends_with(['a', 'e', 'o', 'u']) => format!("{stem}ies"),
        _ if noun.ends_with('s') || noun.ends_with("sh") || noun.ends_with("ch") => {
            format!("{noun}es")
        }
        _ => format!("{noun}s"),
    };
    format!("{n} {plural}")
}

/// The items joined with `, `.
pub fn list<T: Display>(items: impl IntoIterator<Item = T>) -> String {
    items
        .into_iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A byte size in binary units (`512 B`, `1.50 MiB`).
pub fn bytes(n: u64) -> String {
    indicatif::HumanBytes(n).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nouns_are_counted() {
        assert_eq!(count(1u64, "symlink"), "1 symlink");
        assert_eq!(count(0u64, "symlink"), "0 symlinks");
        assert_eq!(count(2u64, "snapshot"), "2 snapshots");
        assert_eq!(count(3u64, "entry"), "3 entries");
        assert_eq!(count(2u64, "key"), "2 keys");
        assert_eq!(count(2u64, "alias"), "2 aliases");
    }

    #[test]
    fn lists_are_plain_text() {
        assert_eq!(list(["db/app.db", "uploads"]), "db/app.db, uploads");
    }

    #[test]
    fn bytes_are_binary_units() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.50 KiB");
    }
}
