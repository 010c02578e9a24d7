//! Is a path really a mount point? A volume that is not mounted is a directory in the
//! container's throw-away layer: everything written there is lost on the next deploy.
//!
//! Two signals, either is enough: the path's device differs from its parent's (the classic
//! `mountpoint(1)` test), or `/proc/self/mountinfo` lists the path as a mount point (which
//! also catches bind mounts of a directory of the same filesystem). Mount points in
//! mountinfo escape space, tab, newline and backslash as octal (`\040`); they are decoded.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Where the kernel lists this process's mounts.
pub const MOUNTINFO: &str = "/proc/self/mountinfo";

/// One line of `/proc/self/mountinfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    /// Where it is mounted.
    pub mount_point: PathBuf,
    /// Filesystem type, such as `ext4`, `overlay` or `tmpfs`.
    pub fs_type: String,
    /// Mount source, such as `/dev/sda1` or `tmpfs`.
    pub source: String,
    /// Mounted read-only (per-mount `ro` option).
    pub read_only: bool,
}

/// Parses the text of a mountinfo file; malformed lines are skipped.
pub fn parse_mountinfo(text: &[u8]) -> Vec<MountEntry> {
    text.split(|b| *b == b'\n').filter_map(parse_line).collect()
}

fn parse_line(line: &[u8]) -> Option<MountEntry> {
    // id parent major:minor root mount_point options [optional…] - fstype source super_options
    let fields: Vec<&[u8]> = line
        .split(|b| *b == b' ')
        .filter(|f| !f.is_empty())
        .collect();
    let dash = fields.iter().position(|f| *f == b"-")?;
    if dash < 6 || fields.len() < dash + 3 {
        return None;
    }
    let mount_point = PathBuf::from(OsString::from_vec(unescape(fields[4])));
    let read_only = fields[5].split(|b| *b == b',').any(|o| o == b"ro");
    Some(MountEntry {
        mount_point,
        fs_type: String::from_utf8_lossy(&unescape(fields[dash + 1])).into_owned(),
        source: String::from_utf8_lossy(&unescape(fields[dash + 2])).into_owned(),
        read_only,
    })
}

/// Decodes the octal escapes (`\040` space, `\011` tab, `\012` newline, `\134` backslash).
fn unescape(field: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        if field[i] == b'\\'
            && i + 3 < field.len()
            && field[i + 1..i + 4]
                .iter()
                .all(|d| (b'0'..=b'7').contains(d))
        {
            let value = field[i + 1..i + 4]
                .iter()
                .fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
            if let Ok(byte) = u8::try_from(value) {
                out.push(byte);
                i += 4;
                continue;
            }
        }
        out.push(field[i]);
        i += 1;
    }
    out
}

/// Reads this process's mount table.
pub fn read_mountinfo() -> std::io::Result<Vec<MountEntry>> {
    std::fs::read(MOUNTINFO).map(|t| parse_mountinfo(&t))
}

/// The mount that holds `path` (the longest mount point that is a prefix of it). The path
/// should be canonical. When a mount point is listed twice, the later (upper) mount wins.
pub fn mount_of<'a>(path: &Path, entries: &'a [MountEntry]) -> Option<&'a MountEntry> {
    let mut best: Option<&MountEntry> = None;
    for entry in entries {
        if path.starts_with(&entry.mount_point)
            && best.is_none_or(|b| {
                entry.mount_point.as_os_str().len() >= b.mount_point.as_os_str().len()
            })
        {
            best = Some(entry);
        }
    }
    best
}

/// Whether `path` is a mount point, per its device number or the mount table (`entries`,
/// usually from [`read_mountinfo`]). `/` always is.
pub fn is_mount_point(path: &Path, entries: &[MountEntry]) -> std::io::Result<bool> {
    let path = std::fs::canonicalize(path)?;
    let Some(parent) = path.parent() else {
        return Ok(true);
    };
    let own = std::fs::metadata(&path)?;
    let up = std::fs::metadata(parent)?;
    if own.dev() != up.dev() {
        return Ok(true);
    }
    Ok(entries.iter().any(|e| e.mount_point == path))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &[u8] = b"\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
35 22 0:31 / /app/data rw,nosuid - tmpfs tmpfs rw,size=1024k
36 22 0:32 / /mnt/my\\040volume ro,relatime - tmpfs none ro
37 22 8:1 /srv/x /app/bind rw master:2 - ext4 /dev/sda1 rw
broken line
";

    #[test]
    fn parses_fields_and_escapes() {
        let entries = parse_mountinfo(SAMPLE);
        assert_eq!(entries.len(), 4);
        assert_eq!(entries[1].mount_point, PathBuf::from("/app/data"));
        assert_eq!(entries[1].fs_type, "tmpfs");
        assert!(!entries[1].read_only);
        assert_eq!(entries[2].mount_point, PathBuf::from("/mnt/my volume"));
        assert!(entries[2].read_only);
        assert_eq!(entries[3].mount_point, PathBuf::from("/app/bind"));
        assert_eq!(entries[3].source, "/dev/sda1");
    }

    #[test]
    fn unescape_handles_all_forms() {
        assert_eq!(
            unescape(b"a\\040b\\011c\\012d\\134e"),
            b"a b\tc\nd\\e".to_vec()
        );
        assert_eq!(unescape(b"trailing\\04"), b"trailing\\04".to_vec());
        assert_eq!(unescape(b"\\999"), b"\\999".to_vec());
    }

    #[test]
    fn longest_prefix_wins() {
        let entries = parse_mountinfo(SAMPLE);
        let m = mount_of(Path::new("/app/data/db/app.db"), &entries).expect("some mount");
        assert_eq!(m.mount_point, PathBuf::from("/app/data"));
        let root = mount_of(Path::new("/app/other"), &entries).expect("root");
        assert_eq!(root.mount_point, PathBuf::from("/"));
    }

    #[test]
    fn root_is_a_mount_point_and_a_plain_dir_is_not() {
        let entries = read_mountinfo().expect("mountinfo");
        assert!(is_mount_point(Path::new("/"), &entries).expect("stat /"));
        let dir = tempfile::tempdir().expect("tempdir");
        let sub = dir.path().join("plain");
        std::fs::create_dir(&sub).expect("mkdir");
        assert!(!is_mount_point(&sub, &entries).expect("stat"));
    }
}
