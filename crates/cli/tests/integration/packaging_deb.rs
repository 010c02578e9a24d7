//! Issue 25: an install path like restic's `apt install`. `scripts/deb.sh` packages the
//! binary these tests run (no second, release build: `--no-build --profile dev`), and
//! the package, unpacked with `dpkg -x` into a scratch root, holds the binary, a man page
//! per command, the bash/zsh/fish completions and the systemd service and daily timer.
//! Needs cargo-deb (scripts/test.sh installs it); without it the test fails.

use std::path::Path;
use std::process::Command;

#[test]
fn the_debian_package_holds_binary_man_pages_completions_and_timer() {
    let bin = Path::new(env!("CARGO_BIN_EXE_holdfast"));
    let profile_dir = bin.parent().expect("profile directory");
    let target_dir = profile_dir.parent().expect("target directory");
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => "dev",
        Some(other) => other,
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let scratch = tempfile::tempdir().expect("tempdir");
    let deb = scratch.path().join("holdfast.deb");
    let out = Command::new(root.join("scripts/deb.sh"))
        .args(["--no-build", "--profile", profile, "--output"])
        .arg(&deb)
        .env("CARGO_TARGET_DIR", target_dir)
        .current_dir(&root)
        .output()
        .expect("run scripts/deb.sh");
    assert!(
        out.status.success(),
        "scripts/deb.sh failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let unpacked = scratch.path().join("root");
    let status = Command::new("dpkg")
        .arg("-x")
        .arg(&deb)
        .arg(&unpacked)
        .status()
        .expect("dpkg -x");
    assert!(status.success());

    let installed = unpacked.join("usr/bin/holdfast");
    let version = Command::new(&installed)
        .arg("version")
        .output()
        .expect("run the packaged holdfast");
    assert!(
        String::from_utf8_lossy(&version.stdout).starts_with("holdfast "),
        "{version:?}"
    );
    for file in [
        "usr/share/man/man1/holdfast.1.gz",
        "usr/share/man/man1/holdfast-backup.1.gz",
        "usr/share/man/man1/holdfast-key-add.1.gz",
        "usr/share/bash-completion/completions/holdfast",
        "usr/share/zsh/vendor-completions/_holdfast",
        "usr/share/fish/vendor_completions.d/holdfast.fish",
        "usr/share/doc/holdfast/README.md",
    ] {
        assert!(unpacked.join(file).is_file(), "the package lacks {file}");
    }
    let service =
        std::fs::read_to_string(unpacked.join("lib/systemd/system/holdfast-backup.service"))
            .expect("the service unit");
    assert!(service.contains("Type=oneshot"), "{service}");
    assert!(
        service.contains("ExecStart=/usr/bin/holdfast backup"),
        "{service}"
    );
    let timer = std::fs::read_to_string(unpacked.join("lib/systemd/system/holdfast-backup.timer"))
        .expect("the timer unit");
    assert!(
        timer.contains("OnCalendar=") && timer.contains("WantedBy=timers.target"),
        "{timer}"
    );
    let fields = Command::new("dpkg-deb")
        .args(["--field"])
        .arg(&deb)
        .args(["Package", "Depends"])
        .output()
        .expect("dpkg-deb --field");
    let fields = String::from_utf8_lossy(&fields.stdout);
    assert!(fields.contains("Package: holdfast"), "{fields}");
    assert!(fields.contains("libc6"), "{fields}");
}
