//! Issue 16: the errors a new user meets, each pinned as ONE line that says what happened
//! and what to do. Every case runs the real binary with a clean environment (no
//! credentials, no config, no repository from the outside); the S3 cases point at a
//! closed loopback port, so no server is needed.

use std::path::Path;
use std::process::Command;

/// Exit code and stderr of `holdfast ARGS` run in `dir` with only `env` set (plus
/// `PATH` and a `HOME` inside `dir`, so no credentials file of this machine is read).
fn holdfast(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_holdfast"));
    cmd.args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("HOLDFAST_CACHE_DIR", dir.join("cache"))
        .env("AWS_EC2_METADATA_DISABLED", "true");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run holdfast");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Asserts that stderr is exactly one line, `holdfast: error: ` + `want`.
#[track_caller]
fn one_line(stderr: &str, want: &str) {
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert_eq!(stderr.trim_end(), format!("holdfast: error: {want}"));
}

/// A port on loopback that nothing listens on (bound, then closed).
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

const NO_CONFIG: &str = "no config file holdfast.toml: write one (`holdfast import railway.toml > \
     holdfast.toml`, or see docs/CONFIG.md) or pass --config FILE";

#[test]
fn run_without_a_config_says_how_to_write_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (code, err) = holdfast(dir.path(), &["run", "--", "true"], &[]);
    assert_eq!(code, 1, "{err}");
    one_line(&err, NO_CONFIG);
}

#[test]
fn serve_without_a_config_says_how_to_write_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (code, err) = holdfast(dir.path(), &["serve"], &[]);
    assert_eq!(code, 1, "{err}");
    one_line(&err, NO_CONFIG);
}

/// Finding (issue 25): the error started "no PATH given, so the configured volumes are
/// backed up:", which reads as if a backup had happened.
#[test]
fn backup_config_error_has_no_prefix_that_reads_as_a_backup() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (code, err) = holdfast(dir.path(), &["backup"], &[("HOLDFAST_PASSWORD", "pw")]);
    assert_eq!(code, 1, "{err}");
    one_line(&err, NO_CONFIG);
}

/// `--repo backups` said "relative URL without a base"; a relative path is now a local
/// repository under the current directory.
#[test]
fn a_relative_repo_path_is_a_local_repository() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("a.txt"), "a").expect("write");
    let pw = [("HOLDFAST_PASSWORD", "pw")];
    let (code, err) = holdfast(dir.path(), &["--repo", "backups", "init"], &pw);
    assert_eq!(code, 0, "{err}");
    assert!(dir.path().join("backups/config").is_file(), "{err}");
    let (code, err) = holdfast(dir.path(), &["--repo", "./backups", "backup", "a.txt"], &pw);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn no_repository_says_where_to_name_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (code, err) = holdfast(dir.path(), &["snapshots"], &[("HOLDFAST_PASSWORD", "pw")]);
    assert_eq!(code, 1, "{err}");
    one_line(
        &err,
        "no repository given: pass --repo URL, set HOLDFAST_REPOSITORY, set [repository] \
         url in holdfast.toml, or set STORAGE_TYPE",
    );
}

#[test]
fn a_repository_that_was_never_initialised_says_to_run_init() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("file://{}", dir.path().join("repo").display());
    let (code, err) = holdfast(
        dir.path(),
        &["snapshots"],
        &[("HOLDFAST_PASSWORD", "pw"), ("HOLDFAST_REPOSITORY", &url)],
    );
    assert_eq!(code, 1, "{err}");
    // Finding (issue 25): it said "run holdfast init" first; a typo in the URL is likelier.
    one_line(
        &err,
        &format!(
            "no repository at {url}: check the URL, or run `holdfast init` to create one there"
        ),
    );
}

#[test]
fn no_password_says_how_to_give_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (code, err) = holdfast(
        dir.path(),
        &["snapshots"],
        &[("HOLDFAST_REPOSITORY", "file:///nonexistent-holdfast-repo")],
    );
    assert_eq!(code, 1, "{err}");
    one_line(
        &err,
        "no repository password: set HOLDFAST_PASSWORD, or pass --password-file FILE or \
         --password-command CMD",
    );
}

/// The end of the wrong-password message: a damaged repository id cannot be told from a
/// wrong password.
const DAMAGED_CONFIG: &str =
    " (if it is right, the repository's `config` object may be damaged: `holdfast verify`)";

#[test]
fn a_wrong_password_says_so_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("file://{}", dir.path().join("repo").display());
    let repo = [("HOLDFAST_REPOSITORY", url.as_str())];
    let (code, err) = holdfast(
        dir.path(),
        &["init"],
        &[repo[0], ("HOLDFAST_PASSWORD", "right")],
    );
    assert_eq!(code, 0, "{err}");
    let (code, err) = holdfast(
        dir.path(),
        &["snapshots"],
        &[repo[0], ("HOLDFAST_PASSWORD", "wrong")],
    );
    assert_eq!(code, 1, "{err}");
    // Finding (issue 25): the message spoke of key files and repository ids, and not of
    // where the password came from.
    one_line(
        &err,
        &format!(
            "wrong password for repository {url}: the password from HOLDFAST_PASSWORD does not \
             open it{DAMAGED_CONFIG}"
        ),
    );
    std::fs::write(dir.path().join("pw.txt"), "wrong\n").expect("write");
    for (args, env, from) in [
        (
            &["--password-file", "pw.txt", "snapshots"][..],
            &[repo[0]][..],
            "--password-file pw.txt",
        ),
        (
            &["snapshots"][..],
            &[repo[0], ("HOLDFAST_PASSWORD_FILE", "pw.txt")][..],
            "HOLDFAST_PASSWORD_FILE (pw.txt)",
        ),
    ] {
        let (code, err) = holdfast(dir.path(), args, env);
        assert_eq!(code, 1, "{err}");
        one_line(
            &err,
            &format!(
                "wrong password for repository {url}: the password from {from} does not open \
                 it{DAMAGED_CONFIG}"
            ),
        );
    }
}

/// A missing `--password-file` said "No such file or directory (os error 2)" more than once.
#[test]
fn a_missing_password_file_says_os_error_2_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (code, err) = holdfast(
        dir.path(),
        &["--password-file", "pw.txt", "--repo", "r", "snapshots"],
        &[],
    );
    assert_eq!(code, 1, "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_eq!(err.matches("os error 2").count(), 1, "{err}");
    assert!(err.contains("pw.txt"), "{err}");
}

/// An unreachable S3 endpoint printed 63 lines of retry warnings and an 800-character
/// error naming one cause three times. Now: one warning line when the retrying starts,
/// then one error line.
#[test]
fn an_unreachable_s3_endpoint_is_one_line_naming_it_and_the_cause() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = closed_port();
    let url = format!("s3://bucket/prefix?endpoint=http://127.0.0.1:{port}&region=test");
    let (code, err) = holdfast(
        dir.path(),
        &["snapshots"],
        &[
            ("HOLDFAST_REPOSITORY", &url),
            ("HOLDFAST_PASSWORD", "pw"),
            ("AWS_ACCESS_KEY_ID", "AKIDTEST"),
            ("AWS_SECRET_ACCESS_KEY", "not-a-real-secret"),
            ("HOLDFAST_STORE_RETRY_FOR", "1s"),
        ],
    );
    assert_eq!(code, 1, "{err}");
    let errors: Vec<&str> = err.lines().filter(|l| !l.contains("WARN")).collect();
    assert_eq!(errors.len(), 1, "{err}");
    let err = errors[0];
    assert!(
        err.starts_with(&format!("holdfast: error: opening repository {url}: ")),
        "names the endpoint: {err}"
    );
    assert!(err.to_lowercase().contains("connection refused"), "{err}");
    assert_eq!(
        err.to_lowercase().matches("connection refused").count(),
        1,
        "{err}"
    );
    assert!(err.len() < 400, "{} characters: {err}", err.len());
    assert!(!err.contains("not-a-real-secret"), "{err}");
}

/// Finding: with the default two-minute retry budget an unreachable store kept a backup
/// silent for two minutes before its error. Now the wait is announced at once, in one
/// warning line naming the store (without its credentials) and the budget, not one line
/// per attempt.
#[test]
fn silent_retry_wait_is_announced_in_one_warning_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("a.txt"), "a").expect("write");
    let port = closed_port();
    let url = format!(
        "s3://bucket/prefix?endpoint=http://127.0.0.1:{port}&region=test\
         &secret_access_key=secret-in-the-url&access_key_id=AKIDURL"
    );
    let (code, err) = holdfast(
        dir.path(),
        &["backup", "a.txt"],
        &[
            ("HOLDFAST_REPOSITORY", &url),
            ("HOLDFAST_PASSWORD", "pw"),
            ("HOLDFAST_STORE_RETRY_FOR", "3s"),
        ],
    );
    assert_eq!(code, 1, "{err}");
    let warnings: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("retrying for up to"))
        .collect();
    assert_eq!(warnings.len(), 1, "{err}");
    let warning = warnings[0];
    assert!(warning.contains("WARN"), "{warning}");
    assert!(
        warning.contains("store unavailable: read s3://bucket/prefix key config: "),
        "{warning}"
    );
    assert!(
        warning.ends_with("retrying for up to 3s (HOLDFAST_STORE_RETRY_FOR)"),
        "{warning}"
    );
    assert!(
        warning.to_lowercase().contains("connection refused"),
        "{warning}"
    );
    assert!(!err.contains("secret-in-the-url"), "{err}");
    assert_eq!(err.lines().count(), 2, "the warning, then the error: {err}");
}

/// Without credentials the S3 store dumped its credential-provider struct.
#[test]
fn s3_without_credentials_says_which_variables_to_set() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = closed_port();
    let url = format!("s3://bucket/prefix?endpoint=http://127.0.0.1:{port}&region=test");
    let (code, err) = holdfast(
        dir.path(),
        &["snapshots"],
        &[("HOLDFAST_REPOSITORY", &url), ("HOLDFAST_PASSWORD", "pw")],
    );
    assert_eq!(code, 1, "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("no usable S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"),
        "{err}"
    );
    assert!(!err.contains("Provide") && !err.contains('{'), "{err}");
}

/// A Postgres database with no client tools (`psql`, `pg_dump`) on PATH names the package
/// to install.
#[test]
fn a_missing_pg_dump_names_the_package() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("vol")).expect("volume");
    std::fs::create_dir(dir.path().join("bin")).expect("empty PATH");
    std::fs::write(
        dir.path().join("holdfast.toml"),
        format!(
            "[repository]\nurl = \"file://{}\"\n\n[[volumes]]\nname = \"data\"\npath = \"vol\"\n\
             databases = [{{ kind = \"postgres\", name = \"shop\", url = \"postgres://u@127.0.0.1:1/shop\" }}]\n",
            dir.path().join("repo").display()
        ),
    )
    .expect("config");
    let pw = ("HOLDFAST_PASSWORD", "pw");
    assert_eq!(holdfast(dir.path(), &["init"], &[pw]).0, 0);
    let bin = dir.path().join("bin");
    let (code, err) = holdfast(
        dir.path(),
        &["backup"],
        &[pw, ("PATH", bin.to_str().expect("utf-8"))],
    );
    assert_ne!(code, 0, "{err}");
    let line = err
        .lines()
        .find(|l| l.starts_with("holdfast: error:"))
        .unwrap_or_else(|| panic!("{err}"));
    // psql (asked for the server's version) is the first client tool a backup runs.
    assert_eq!(
        line,
        "holdfast: error: backup failed: volume data: psql not found: install the PostgreSQL \
         client tools (Debian: apt-get install postgresql-client)"
    );
}

/// `serve` on an address another process holds said only "Address already in use".
#[test]
fn a_listen_address_in_use_says_how_to_pick_another() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("vol")).expect("volume");
    std::fs::write(
        dir.path().join("holdfast.toml"),
        "[[volumes]]\nname = \"data\"\npath = \"vol\"\n",
    )
    .expect("config");
    let held = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = held.local_addr().expect("addr");
    let (code, err) = holdfast(dir.path(), &["serve", "--listen", &addr.to_string()], &[]);
    assert_eq!(code, 1, "{err}");
    let line = err
        .lines()
        .find(|l| l.starts_with("holdfast: error:"))
        .unwrap_or_else(|| panic!("{err}"));
    assert!(
        line.starts_with(&format!(
            "holdfast: error: cannot listen on {addr} (pass --listen ADDR or set HOLDFAST_LISTEN; \
             port 0 picks a free one): "
        )),
        "{line}"
    );
    assert_eq!(line.matches("in use").count(), 1, "{line}");
}

/// A file:// repository on a full disk: the backup names the repository path, says the
/// disk is full once, and what to do.
#[test]
fn a_full_repository_disk_says_to_free_space() {
    let disk = super::volume_util::Tmpfs::mount("1m", &[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("file://{}", disk.path().join("repo").display());
    let env = [
        ("HOLDFAST_REPOSITORY", url.as_str()),
        ("HOLDFAST_PASSWORD", "pw"),
    ];
    assert_eq!(holdfast(dir.path(), &["init"], &env).0, 0);
    let noise = super::repo_util::pseudo_random(1, 3_000_000);
    std::fs::write(dir.path().join("big.bin"), noise).expect("write");
    let (code, err) = holdfast(dir.path(), &["backup", "big.bin"], &env);
    assert_eq!(code, 1, "{err}");
    let line = err
        .lines()
        .find(|l| l.starts_with("holdfast: error:"))
        .unwrap_or_else(|| panic!("{err}"));
    assert!(line.contains(&disk.path().display().to_string()), "{line}");
    assert_eq!(line.matches("No space left on device").count(), 1, "{line}");
    assert!(
        line.ends_with("free space on that disk or grow it, then run the command again"),
        "{line}"
    );
}

/// A config with one volume `data` and a file:// repository in `dir`, initialised with
/// the password `right`; `extra` is added to the volume's table.
fn configured_volume(dir: &Path, extra: &str) {
    std::fs::create_dir(dir.join("vol")).expect("volume");
    std::fs::write(dir.join("vol/a.txt"), "a").expect("write");
    std::fs::write(
        dir.join("holdfast.toml"),
        format!(
            "[repository]\nurl = \"file://{}\"\n\n[[volumes]]\nname = \"data\"\npath = \"vol\"\n{extra}",
            dir.join("repo").display()
        ),
    )
    .expect("config");
    let (code, err) = holdfast(dir, &["init"], &[("HOLDFAST_PASSWORD", "right")]);
    assert_eq!(code, 0, "{err}");
}

/// Finding: a failed `holdfast backup` of the configured volumes logged the library's
/// `ERROR backup failed volume=… error=…` line and then ended with `holdfast: error: …`
/// saying the same. Now the cause is said once, whether the repository could not be
/// opened (wrong password) or a volume's backup failed (no psql for its Postgres).
#[test]
fn duplicate_error_line_on_a_failed_backup_is_gone() {
    let dir = tempfile::tempdir().expect("tempdir");
    configured_volume(dir.path(), "");
    let (code, err) = holdfast(dir.path(), &["backup"], &[("HOLDFAST_PASSWORD", "wrong")]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(err.matches("wrong password").count(), 1, "{err}");
    assert_eq!(error_lines(&err), 1, "{err}");
    assert!(err.starts_with("holdfast: error: "), "{err}");

    let dir = tempfile::tempdir().expect("tempdir");
    configured_volume(
        dir.path(),
        "databases = [{ kind = \"postgres\", name = \"shop\", url = \"postgres://u@127.0.0.1:1/shop\" }]\n",
    );
    std::fs::create_dir(dir.path().join("bin")).expect("empty PATH");
    let bin = dir.path().join("bin");
    let (code, err) = holdfast(
        dir.path(),
        &["backup"],
        &[
            ("HOLDFAST_PASSWORD", "right"),
            ("PATH", bin.to_str().expect("utf-8")),
        ],
    );
    assert_eq!(code, 1, "{err}");
    assert_eq!(err.matches("psql not found").count(), 1, "{err}");
    assert_eq!(error_lines(&err), 1, "{err}");
    // The failure is still recorded on the volume (for `status` and the metrics).
    let record =
        std::fs::read_to_string(dir.path().join("vol/.holdfast/backup.json")).unwrap_or_default();
    assert!(record.contains("psql not found"), "recorded: {record}");
}

/// The lines of `err` that are not warnings: a warning the machine's state causes (a
/// volume nearly full) is not a second error line.
fn error_lines(err: &str) -> usize {
    err.lines().filter(|l| !l.contains(" WARN ")).count()
}
