//! The deployment examples of `examples/` (railway, compose, systemd), checked as a user
//! meets them: every holdfast.toml parses as holdfast parses it, `holdfast lint` run
//! inside each example passes, and the Railway and systemd setups run end to end with
//! tmpfs mounts standing in for their volumes — their own start, backup and
//! serve command lines, a file:// repository, the volume lost, then recovered from the
//! repository URL and password alone and compared byte for byte.

use std::path::Path;

use holdfast_volume::import::railway;

use super::examples_util::{
    PASSWORD, Running, app_data, copy_example, expect, holdfast, parse_example, program,
    restore_if_empty_supported, source_file, source_root, users, volume_contents,
};
use super::volume_util::{Tmpfs, outcome};

/// `holdfast lint` (and `--json`) run inside a copy of the example: exit 0, no error.
fn lint_passes(name: &str) {
    let dir = tempfile::tempdir().expect("temporary directory");
    copy_example(name, dir.path());
    let stdout = expect(holdfast(dir.path()).arg("lint"), 0);
    assert!(
        !stdout.contains("error:"),
        "lint of examples/{name}: {stdout}"
    );
    let json = expect(holdfast(dir.path()).args(["lint", "--json"]), 0);
    let findings: Vec<serde_json::Value> = serde_json::from_str(&json).expect("lint json");
    assert!(
        findings.iter().all(|f| f["severity"] != "error"),
        "examples/{name}: {json}"
    );
}

#[test]
fn examples_configs_parse_and_lint_clean() {
    let railway_mount = |k: &str| (k == "RAILWAY_VOLUME_MOUNT_PATH").then(|| "/app/data".into());
    let railway = parse_example("railway", &railway_mount);
    assert_eq!(railway.volumes.len(), 1);
    assert_eq!(railway.volumes[0].path, Path::new("/app/data"));
    let compose = parse_example("compose", &|_| None);
    assert_eq!(compose.volumes.len(), 4);
    let systemd = parse_example("systemd", &|_| None);
    assert_eq!(systemd.volumes[0].path, Path::new("/srv/app/data"));

    for name in ["railway", "compose", "systemd"] {
        lint_passes(name);
    }
    // The CLI reads the same files through --config: a config error would be exit 2.
    for name in ["railway", "compose"] {
        let dir = tempfile::tempdir().expect("temporary directory");
        copy_example(name, dir.path());
        let out = holdfast(dir.path())
            .args(["--config", "holdfast.toml", "status", "--json"])
            .env("RAILWAY_VOLUME_MOUNT_PATH", dir.path().join("volume"))
            .output()
            .expect("run holdfast status");
        let (code, stdout, stderr) = outcome(&out);
        assert!(code == 0 || code == 3, "examples/{name}: {code} {stderr}");
        let volumes: Vec<serde_json::Value> = serde_json::from_str(&stdout).expect("json");
        assert!(!volumes.is_empty(), "examples/{name}: {stdout}");
    }
}

/// The Railway example deployed three times on tmpfs volumes through its own
/// startCommand (with `npm` a script that records what it was asked to do): the first
/// deploy on an empty volume; the app writes a database and uploads; the second deploy
/// takes the tagged backup BEFORE the migration; the volume is lost and recovered on an
/// empty one from the repository URL and password alone, byte for byte; the third
/// deploy starts on it. With `restore_if_empty`, a deploy onto a new empty volume also
/// brings everything back by itself.
#[test]
fn railway_example_runs_end_to_end_on_tmpfs() {
    let project = tempfile::tempdir().expect("temporary directory");
    copy_example("railway", project.path());
    let repo_dir = tempfile::tempdir().expect("repository directory");
    let repo = format!("file://{}", repo_dir.path().join("repo").display());
    let bin = project.path().join("bin");
    std::fs::create_dir(&bin).expect("bin directory");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_holdfast"), bin.join("holdfast"))
        .expect("holdfast on PATH");
    let npm_log = project.path().join("npm.log");
    let npm = format!(
        "#!/bin/sh\nset -e\necho \"$*\" >> '{}'\nif [ \"$1\" = run ] && [ \"$2\" = migrate ]; then\n  \
         echo migrated >> \"$RAILWAY_VOLUME_MOUNT_PATH/migrations.log\"\nfi\n",
        npm_log.display()
    );
    std::fs::write(bin.join("npm"), npm).expect("write npm");
    set_executable(&bin.join("npm"));
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let start = railway::parse_toml(&source_file("examples/railway/railway.toml"))
        .expect("railway.toml parses")
        .start_command
        .expect("a startCommand");
    assert!(start.starts_with("holdfast run -- "), "{start}");
    assert!(
        start.contains("holdfast backup --tag pre-deploy"),
        "{start}"
    );
    let deploy = |volume: &Path| {
        let out = program("sh", project.path())
            .args(["-c", &start])
            .env("PATH", &path)
            .env("RAILWAY_VOLUME_MOUNT_PATH", volume)
            .env("HOLDFAST_REPOSITORY", &repo)
            .env("HOLDFAST_PASSWORD", PASSWORD)
            .env("HOLDFAST_LISTEN", "127.0.0.1:0")
            .output()
            .expect("run the start command");
        let (code, _, stderr) = outcome(&out);
        assert_eq!(code, 0, "startCommand: {stderr}");
    };
    let repo_cmd = |args: &[&str]| {
        let mut cmd = holdfast(project.path());
        cmd.args(args)
            .env("HOLDFAST_REPOSITORY", &repo)
            .env("HOLDFAST_PASSWORD", PASSWORD);
        cmd
    };
    expect(repo_cmd(&["init"]).arg("--json"), 0);

    let first = Tmpfs::mount("64m", &[]);
    deploy(first.path());
    app_data(first.path(), 1);
    deploy(first.path());
    let pre_deploy: Vec<serde_json::Value> = serde_json::from_str(&expect(
        &mut repo_cmd(&["--json", "snapshots", "--tag", "pre-deploy"]),
        0,
    ))
    .expect("snapshots json");
    assert_eq!(pre_deploy.len(), 2, "one tagged backup per deploy");
    let migrations = std::fs::read_to_string(first.path().join("migrations.log")).expect("log");
    assert_eq!(migrations.lines().count(), 2);
    let before_second = tempfile::tempdir().expect("temporary directory");
    expect(
        &mut repo_cmd(&[
            "restore",
            "latest:app-data",
            "--target",
            &before_second.path().join("r").display().to_string(),
        ]),
        0,
    );
    let taken = std::fs::read_to_string(before_second.path().join("r/migrations.log"))
        .expect("migrations.log in the snapshot");
    assert_eq!(
        taken.lines().count(),
        1,
        "the backup ran before the migration"
    );
    assert_eq!(
        std::fs::read_to_string(&npm_log).expect("npm log"),
        "run migrate\nstart\nrun migrate\nstart\n"
    );
    let expected = volume_contents(first.path(), &["migrations.log"]);
    let rows = users(first.path());
    drop(first);

    // The volume is gone. On an empty machine: the URL and the password, nothing else.
    let empty = tempfile::tempdir().expect("empty directory");
    let second = Tmpfs::mount("64m", &[]);
    let out = holdfast(empty.path())
        .args([
            "--repo",
            &repo,
            "restore",
            "latest:app-data",
            "--target",
            &second.path().display().to_string(),
        ])
        .env("HOLDFAST_PASSWORD", PASSWORD)
        .output()
        .expect("run restore");
    let (code, _, stderr) = outcome(&out);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        volume_contents(second.path(), &["migrations.log"]),
        expected,
        "byte for byte"
    );
    assert_eq!(users(second.path()), rows);
    deploy(second.path());
    drop(second);

    if restore_if_empty_supported() {
        let third = Tmpfs::mount("64m", &[]);
        deploy(third.path());
        assert_eq!(volume_contents(third.path(), &["migrations.log"]), expected);
    }
}

fn set_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// `Key=Value` lines of a systemd unit's `[section]`, in order.
fn unit_entries(unit: &str, section: &str) -> Vec<(String, String)> {
    let mut current = String::new();
    let mut out = Vec::new();
    for line in unit.lines().map(str::trim) {
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = name.to_string();
        } else if current == section
            && let Some((k, v)) = line.split_once('=')
        {
            out.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    out
}

/// Where the systemd example's paths of the VM live in the test.
struct Vm {
    config: String,
    credentials: tempfile::TempDir,
    volume: std::path::PathBuf,
    repo: String,
}

impl Vm {
    /// A unit's command line and environment, the VM's paths replaced by the test's:
    /// the credential directory `%d`, /etc/holdfast/holdfast.toml, the binary.
    fn command(&self, unit: &str, key: &str) -> Vec<std::process::Command> {
        let entries = unit_entries(unit, "Service");
        let credentials = self.credentials.path().display().to_string();
        let fix = |v: &str| {
            v.replace("%d", &credentials)
                .replace("/etc/holdfast/holdfast.toml", &self.config)
        };
        let env: Vec<(String, String)> = entries
            .iter()
            .filter(|(k, _)| k == "Environment")
            .filter_map(|(_, v)| v.split_once('=').map(|(a, b)| (a.to_string(), fix(b))))
            .collect();
        entries
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, line)| {
                let mut words = line.split_whitespace();
                assert_eq!(words.next(), Some("/usr/bin/holdfast"), "{line}");
                let mut cmd = holdfast(self.credentials.path());
                cmd.args(words.map(&fix));
                for (k, v) in &env {
                    cmd.env(k, v);
                }
                cmd
            })
            .collect()
    }
}

/// The systemd example on a tmpfs standing in for /srv/app/data: the backup unit's
/// ExecStart and ExecStartPost as written (password through `LoadCredential`/`%d`), the
/// serve unit answering /healthz, /readyz and /metrics on its HOLDFAST_LISTEN (a free
/// port here) and stopping with exit 0 on SIGTERM; then the disk is lost and recovered
/// from the repository URL and password alone, byte for byte.
#[test]
fn systemd_example_runs_end_to_end_on_tmpfs() {
    let backup_unit = source_file("examples/systemd/holdfast-backup.service");
    let serve_unit = source_file("examples/systemd/holdfast.service");
    let timer = source_file("examples/systemd/holdfast-backup.timer");
    let timer_entries = unit_entries(&timer, "Timer");
    assert!(
        timer_entries.iter().any(|(k, _)| k == "OnCalendar"),
        "{timer}"
    );
    assert!(
        timer_entries.contains(&("Persistent".into(), "true".into())),
        "{timer}"
    );
    for unit in [&backup_unit, &serve_unit] {
        let entries = unit_entries(unit, "Service");
        assert!(
            entries.contains(&(
                "LoadCredential".into(),
                "password:/etc/holdfast/password".into()
            )),
            "the password comes from a credential, not the environment"
        );
    }

    systemd_accepts_the_units();

    let disk = Tmpfs::mount("64m", &[]);
    app_data(disk.path(), 7);
    let work = tempfile::tempdir().expect("temporary directory");
    let repo = format!("file://{}", work.path().join("backups").display());
    let config = source_file("examples/systemd/holdfast.toml")
        .replace("/srv/app/data", &disk.path().display().to_string())
        .replace("file:///var/backups/holdfast", &repo);
    let config_path = work.path().join("holdfast.toml");
    std::fs::write(&config_path, config).expect("write config");
    let vm = Vm {
        config: config_path.display().to_string(),
        credentials: tempfile::tempdir().expect("credentials directory"),
        volume: disk.path().to_path_buf(),
        repo: repo.clone(),
    };
    std::fs::write(
        vm.credentials.path().join("password"),
        format!("{PASSWORD}\n"),
    )
    .expect("write password");
    let mut init = holdfast(work.path());
    init.args(["--repo", &vm.repo, "init"])
        .env("HOLDFAST_PASSWORD", PASSWORD);
    expect(&mut init, 0);

    for key in ["ExecStart", "ExecStartPost"] {
        for mut cmd in vm.command(&backup_unit, key) {
            expect(&mut cmd, 0);
        }
    }
    let mut snapshots = holdfast(work.path());
    snapshots
        .args([
            "--config",
            &vm.config,
            "--json",
            "snapshots",
            "--tag",
            "scheduled",
        ])
        .env(
            "HOLDFAST_PASSWORD_FILE",
            vm.credentials.path().join("password"),
        );
    let list: Vec<serde_json::Value> =
        serde_json::from_str(&expect(&mut snapshots, 0)).expect("snapshots json");
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["volume"], "app-data");

    let mut serve = vm.command(&serve_unit, "ExecStart").remove(0);
    serve.env("HOLDFAST_LISTEN", "127.0.0.1:0");
    let server = Running::start(serve);
    assert_eq!(server.get("/healthz", None).0, 200);
    let (code, body) = server.get("/readyz", None);
    assert_eq!(code, 200, "{body}");
    let (code, metrics) = server.get("/metrics", None);
    assert_eq!(code, 200);
    assert!(metrics.contains("holdfast_"), "{metrics}");
    assert_eq!(server.stop(), 0, "SIGTERM ends serve with exit 0");

    let expected = volume_contents(&vm.volume, &[]);
    let rows = users(&vm.volume);
    drop(disk);
    let new_disk = Tmpfs::mount("64m", &[]);
    let empty = tempfile::tempdir().expect("empty directory");
    let mut restore = holdfast(empty.path());
    restore
        .args(["--repo", &repo, "restore", "latest:app-data", "--target"])
        .arg(new_disk.path())
        .env("HOLDFAST_PASSWORD", PASSWORD);
    expect(&mut restore, 0);
    assert_eq!(
        volume_contents(new_disk.path(), &[]),
        expected,
        "byte for byte"
    );
    assert_eq!(users(new_disk.path()), rows);
}

/// `systemd-analyze verify` on the three units, where systemd is installed: the only
/// complaints allowed are the ones of a machine without holdfast installed (the binary
/// and its man page missing).
fn systemd_accepts_the_units() {
    let dir = source_root().join("examples/systemd");
    let out = match std::process::Command::new("systemd-analyze")
        .args([
            "verify",
            "holdfast.service",
            "holdfast-backup.service",
            "holdfast-backup.timer",
        ])
        .current_dir(&dir)
        .output()
    {
        Ok(out) => out,
        Err(e) => {
            println!("systemd-analyze not run ({e}): the units are checked by the test alone");
            return;
        }
    };
    let (_, stdout, stderr) = outcome(&out);
    for line in stdout.lines().chain(stderr.lines()) {
        assert!(
            line.contains("/usr/bin/holdfast is not executable")
                || line.contains("man holdfast(1)"),
            "systemd-analyze verify: {line}"
        );
    }
}
