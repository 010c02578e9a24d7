//! Key validation: every key that reaches a backend is relative, `/`-separated, with no
//! `.` or `..` segment, no empty segment, no NUL or backslash and at most 1024 bytes, so a
//! key can never name something outside the store's root.

use crate::error::{Error, ErrorKind, Result};

/// The longest key accepted, in bytes.
pub const MAX_KEY_LEN: usize = 1024;

/// Why a key was refused, or `None` when it is acceptable. A trailing `/` (a directory)
/// is allowed when `dir` is true; the empty key is the root and is allowed only then.
pub fn key_problem(key: &str, dir: bool) -> Option<&'static str> {
    if key.is_empty() {
        return if dir { None } else { Some("empty key") };
    }
    if key.len() > MAX_KEY_LEN {
        return Some("key longer than 1024 bytes");
    }
    if key.contains('\0') {
        return Some("NUL in key");
    }
    if key.contains('\\') {
        return Some("backslash in key");
    }
    if key.starts_with('/') {
        return Some("absolute key");
    }
    let body = if dir {
        key.strip_suffix('/').unwrap_or(key)
    } else {
        key
    };
    for seg in body.split('/') {
        match seg {
            "" => return Some("empty path segment"),
            "." | ".." => return Some("`.` or `..` segment"),
            _ => {}
        }
    }
    None
}

/// Checks a file key; the error names the store URL, the key and the problem.
pub(crate) fn check_file(op: &'static str, url: &str, key: &str) -> Result<()> {
    match key_problem(key, false) {
        None => Ok(()),
        Some(why) => Err(Error::new(ErrorKind::InvalidKey, op, url, key).with_detail(why)),
    }
}

/// Checks a directory key and returns it in OpenDAL's form (`a/b/`, or `/` for the root).
pub(crate) fn dir_path(op: &'static str, url: &str, dir: &str) -> Result<String> {
    if let Some(why) = key_problem(dir, true) {
        return Err(Error::new(ErrorKind::InvalidKey, op, url, dir).with_detail(why));
    }
    Ok(if dir.is_empty() {
        "/".to_string()
    } else if dir.ends_with('/') {
        dir.to_string()
    } else {
        format!("{dir}/")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_escapes() {
        for bad in [
            "../x",
            "a/../b",
            "/etc/passwd",
            "a//b",
            "a/./b",
            "a\0b",
            "a\\..\\b",
            "..",
        ] {
            assert!(key_problem(bad, false).is_some(), "{bad:?} accepted");
        }
        assert!(key_problem("", false).is_some());
        assert!(key_problem(&"a".repeat(MAX_KEY_LEN + 1), false).is_some());
    }

    #[test]
    fn accepts_ordinary_keys() {
        for good in ["a", "a/b/c.txt", "données/ファイル.bin", "..hidden", "a..b"] {
            assert_eq!(key_problem(good, false), None, "{good:?} refused");
        }
        assert_eq!(key_problem("", true), None);
        assert_eq!(key_problem("a/b/", true), None);
        assert!(key_problem("a/b/", false).is_some());
    }
}
