//! Tests of [`super::Root`]: links never followed, writes atomic, and a table of paths
//! and swaps that try to reach outside the volume.

use std::io::Write as _;
use std::path::Path;

use super::*;

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn kind<T: std::fmt::Debug>(r: Result<T, RootError>) -> Option<RootErrorKind> {
    r.err().map(|e| e.kind())
}

/// Every file below `dir` with its content, sorted.
fn tree(dir: &Path) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let rel = e.path().strip_prefix(dir).unwrap_or(e.path());
            let text = std::fs::read_to_string(e.path()).unwrap_or_default();
            (rel.display().to_string(), text)
        })
        .collect();
    out.sort();
    out
}

#[test]
fn never_follows_links() -> TestResult {
    let vol = tempfile::tempdir()?;
    let outside = tempfile::tempdir()?;
    std::fs::write(outside.path().join("secret"), "outside")?;
    std::os::unix::fs::symlink(outside.path(), vol.path().join("link"))?;
    std::os::unix::fs::symlink(outside.path().join("secret"), vol.path().join("file-link"))?;
    let root = Root::open(vol.path())?;
    assert_eq!(
        kind(root.open_file("link/secret")),
        Some(RootErrorKind::Forbidden)
    );
    assert_eq!(
        kind(root.open_file("file-link")),
        Some(RootErrorKind::Forbidden)
    );
    assert_eq!(
        kind(root.create("link/new")),
        Some(RootErrorKind::Forbidden)
    );
    assert_eq!(
        kind(root.remove("link/secret")),
        Some(RootErrorKind::Forbidden)
    );
    assert!(root.list("link/", &[])?.is_empty());
    std::fs::create_dir_all(vol.path().join(".holdfast/cache"))?;
    std::fs::write(vol.path().join(".holdfast/cache/x"), "own")?;
    let own = |p| root.list(p, &[".holdfast"]).map(|v| v.len());
    assert_eq!(
        (own("")?, own(".holdfast/")?, own(".holdfast/cache/x")?),
        (0, 0, 0)
    );
    assert!(root.list_files(".holdfast/")?.is_empty());
    assert_eq!(std::fs::read_dir(outside.path())?.count(), 1);
    Ok(())
}

#[test]
fn writes_are_atomic_and_leave_no_temp() -> TestResult {
    let vol = tempfile::tempdir()?;
    let root = Root::open(vol.path())?;
    let (p, mut f, existed) = root.create("a/b/c.txt")?;
    assert!(!existed);
    f.write_all(b"hello")?;
    let meta = p.commit(f)?;
    assert_eq!(meta.size, 5);
    assert_eq!(
        std::fs::read_to_string(vol.path().join("a/b/c.txt"))?,
        "hello"
    );
    let (p, f, existed) = root.create("a/b/c.txt")?;
    assert!(existed);
    drop((p, f));
    assert_eq!(std::fs::read_dir(vol.path().join("a/b"))?.count(), 1);
    assert_eq!(kind(root.create("a/b")), Some(RootErrorKind::Conflict));
    assert_eq!(
        kind(root.create("a/b/c.txt/d")),
        Some(RootErrorKind::Conflict)
    );
    let listed = root.list("a/", &[])?;
    assert_eq!(listed.len(), 1);
    assert!(root.remove("a/b/c.txt")?);
    assert!(!root.remove("a/b/c.txt")?);
    Ok(())
}

#[test]
fn write_read_mkdir_and_list_round_trip() -> TestResult {
    let vol = tempfile::tempdir()?;
    let root = Root::open(vol.path())?;
    let (meta, existed) = root.write("d/x.bin", b"abc")?;
    assert_eq!((meta.size, existed), (3, false));
    let (_, existed) = root.write("d/x.bin", b"abcd")?;
    assert!(existed);
    let mut opened = root.open_file("d/x.bin")?.ok_or("x.bin missing")?;
    let mut text = String::new();
    std::io::Read::read_to_string(&mut opened.file, &mut text)?;
    assert_eq!((text.as_str(), opened.meta.size), ("abcd", 4));
    assert!(root.open_file("d/none")?.is_none());
    assert!(root.open_file("none/x")?.is_none());
    root.create_dir("e/f/g")?;
    root.create_dir("e/f/g")?;
    assert!(vol.path().join("e/f/g").is_dir());
    assert_eq!(kind(root.open_file("e/f")), Some(RootErrorKind::Conflict));
    assert_eq!(kind(root.remove("e/f")), Some(RootErrorKind::Conflict));
    assert_eq!(
        kind(root.create_dir("d/x.bin/y")),
        Some(RootErrorKind::Conflict)
    );
    let keys: Vec<String> = root.list("", &[])?.into_iter().map(|m| m.key).collect();
    assert_eq!(keys, ["d/x.bin"]);
    assert!(root.list("nowhere/", &[])?.is_empty());
    Ok(())
}

/// Paths that could name something outside the volume are refused before anything is
/// touched, by every operation; nothing appears outside or inside.
#[test]
fn attack_paths_are_refused_by_every_operation() -> TestResult {
    let vol = tempfile::tempdir()?;
    let root = Root::open(&vol.path().join("data")).err();
    assert!(matches!(root, Some(RootError::Open { .. })));
    std::fs::create_dir(vol.path().join("data"))?;
    let root = Root::open(&vol.path().join("data"))?;
    let table: &[(&str, &str)] = &[
        ("", "empty path"),
        ("/etc/passwd", "absolute path"),
        ("../escape", "`.` or `..` segment"),
        ("a/../../escape", "`.` or `..` segment"),
        ("a/..", "`.` or `..` segment"),
        ("./x", "`.` or `..` segment"),
        ("a//b", "empty path segment"),
        ("a/", "empty path segment"),
        ("a\0b", "NUL in path"),
    ];
    for (path, reason) in table {
        assert_eq!(path_problem(path), Some(*reason), "{path:?}");
        for (op, r) in [
            ("open_file", root.open_file(path).map(|_| ())),
            ("create", root.create(path).map(|_| ())),
            ("write", root.write(path, b"x").map(|_| ())),
            ("remove", root.remove(path).map(|_| ())),
            ("create_dir", root.create_dir(path)),
        ] {
            match r {
                Err(RootError::Refused { reason: got, .. }) => {
                    assert_eq!(got, *reason, "{op} {path:?}")
                }
                other => panic!("{op} {path:?}: {other:?}"),
            }
        }
    }
    assert!(root.list("../", &[]).is_err());
    assert!(tree(vol.path()).is_empty(), "{:?}", tree(vol.path()));
    assert_eq!(path_problem("a/..b/c"), None);
    Ok(())
}

/// Links planted inside the volume — a linked parent directory, a linked file, a link
/// to a directory that exists inside — never lead anywhere.
#[test]
fn attack_links_are_refused() -> TestResult {
    let vol = tempfile::tempdir()?;
    let outside = tempfile::tempdir()?;
    std::fs::write(outside.path().join("secret"), "outside")?;
    std::fs::create_dir(vol.path().join("real"))?;
    std::os::unix::fs::symlink(outside.path(), vol.path().join("up"))?;
    std::os::unix::fs::symlink("real", vol.path().join("inner"))?;
    std::os::unix::fs::symlink(outside.path().join("secret"), vol.path().join("real/f"))?;
    let root = Root::open(vol.path())?;
    for path in ["up/secret", "up/new", "inner/x", "real/f"] {
        for (op, r) in [
            ("open_file", root.open_file(path).map(|_| ())),
            ("create", root.create(path).map(|_| ())),
            ("write", root.write(path, b"x").map(|_| ())),
            ("remove", root.remove(path).map(|_| ())),
        ] {
            assert!(
                matches!(r, Err(RootError::Symlink { .. })),
                "{op} {path:?}: {r:?}"
            );
        }
    }
    for path in ["up/d", "inner/d"] {
        assert!(matches!(
            root.create_dir(path),
            Err(RootError::Symlink { .. })
        ));
    }
    assert_eq!(
        tree(outside.path()),
        [("secret".to_string(), "outside".to_string())]
    );
    assert!(tree(&vol.path().join("real")).is_empty());
    Ok(())
}

/// A parent directory renamed away and replaced by a link to outside after the write
/// started: the write lands in the directory that was opened, inside the volume.
#[test]
fn attack_parent_swapped_for_a_link_between_check_and_use() -> TestResult {
    let vol = tempfile::tempdir()?;
    let outside = tempfile::tempdir()?;
    let root = Root::open(vol.path())?;
    let (pending, mut file, _) = root.create("dir/f")?;
    std::fs::rename(vol.path().join("dir"), vol.path().join("moved"))?;
    std::os::unix::fs::symlink(outside.path(), vol.path().join("dir"))?;
    file.write_all(b"inside")?;
    pending.commit(file)?;
    assert!(tree(outside.path()).is_empty());
    assert_eq!(
        tree(&vol.path().join("moved")),
        [("f".to_string(), "inside".to_string())]
    );
    assert!(matches!(
        root.open_file("dir/f"),
        Err(RootError::Symlink { .. })
    ));
    Ok(())
}

/// The target swapped for a link to a file outside after the write started: the
/// rename replaces the link itself, the file outside is untouched.
#[test]
fn attack_target_swapped_for_a_link_between_check_and_use() -> TestResult {
    let vol = tempfile::tempdir()?;
    let outside = tempfile::tempdir()?;
    std::fs::write(outside.path().join("secret"), "outside")?;
    let root = Root::open(vol.path())?;
    let (pending, mut file, existed) = root.create("f")?;
    assert!(!existed);
    std::os::unix::fs::symlink(outside.path().join("secret"), vol.path().join("f"))?;
    file.write_all(b"new")?;
    pending.commit(file)?;
    assert_eq!(
        tree(outside.path()),
        [("secret".to_string(), "outside".to_string())]
    );
    assert!(!vol.path().join("f").is_symlink());
    assert_eq!(std::fs::read_to_string(vol.path().join("f"))?, "new");
    Ok(())
}

/// A file opened for reading stays the file that was opened when its name is swapped
/// for a link afterwards.
#[test]
fn attack_file_swapped_after_open_is_still_the_opened_file() -> TestResult {
    let vol = tempfile::tempdir()?;
    let outside = tempfile::tempdir()?;
    std::fs::write(outside.path().join("secret"), "outside")?;
    std::fs::write(vol.path().join("f"), "inside")?;
    let root = Root::open(vol.path())?;
    let mut opened = root.open_file("f")?.ok_or("f missing")?;
    std::fs::remove_file(vol.path().join("f"))?;
    std::os::unix::fs::symlink(outside.path().join("secret"), vol.path().join("f"))?;
    let mut text = String::new();
    std::io::Read::read_to_string(&mut opened.file, &mut text)?;
    assert_eq!(text, "inside");
    assert!(matches!(
        root.open_file("f"),
        Err(RootError::Symlink { .. })
    ));
    Ok(())
}

#[test]
fn check_key_refuses_bad_and_own_keys() {
    for key in [
        "../x",
        "a/../b",
        "/etc/passwd",
        "a//b",
        "a\\b",
        ".holdfast/cache/x",
        ".holdfast-tmp/x",
        "a/.holdfast-part-1234",
        "a\0b",
    ] {
        assert!(check_key(key).is_err(), "{key:?}");
    }
    assert!(matches!(
        check_key(".holdfast/x"),
        Err(RootError::Reserved { .. })
    ));
    assert!(check_key("a/..b/c").is_ok());
}

#[test]
fn error_kinds_follow_the_errno() {
    let io = |e: Errno| RootError::io("k", e).kind();
    assert_eq!(io(Errno::NOSPC), RootErrorKind::NoSpace);
    assert_eq!(io(Errno::DQUOT), RootErrorKind::NoSpace);
    assert_eq!(io(Errno::ACCESS), RootErrorKind::Forbidden);
    assert_eq!(io(Errno::ROFS), RootErrorKind::Forbidden);
    assert_eq!(io(Errno::IO), RootErrorKind::Other);
    assert_eq!(
        RootError::io("k", Errno::NOSPC).to_string(),
        "k: No space left on device (os error 28)"
    );
}
