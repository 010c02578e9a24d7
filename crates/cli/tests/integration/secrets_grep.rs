//! Secrets never leak: with the repository password, the API token, an AWS secret and
//! an Azure key set to marker values, every command's output (human and `--json`, at
//! `-vvv`), the server's log at trace level, `/metrics`, the status page and the API's
//! JSON are searched for each marker. Also: a restored 0600 file keeps its mode, and
//! the server's default address is loopback. (The command lines and environments of
//! hooks and the Postgres tools are covered by `child_secrets`.)

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use super::serve_util::{Server, Setup, TOKEN};

const PASSWORD: &str = "marker-password-5e1f";
const AWS_SECRET: &str = "marker-aws-secret-a93c";
const AZURE_KEY: &str = "bWFya2VyLWF6dXJlLWtleS0xYjdk";

fn markers() -> [&'static str; 4] {
    [PASSWORD, TOKEN, AWS_SECRET, AZURE_KEY]
}

fn assert_clean(what: &str, text: &str) {
    for m in markers() {
        assert!(!text.contains(m), "{what} shows a secret ({m}):\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn secrets_never_reach_output_logs_metrics_or_the_status_page() {
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = format!("file://{}", dir.path().join("repo").display());
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).expect("mkdir");
    std::fs::write(src.join("secret.key"), "private\n").expect("write");
    std::fs::set_permissions(
        src.join("secret.key"),
        std::fs::Permissions::from_mode(0o600),
    )
    .expect("chmod");
    std::fs::write(src.join("note.txt"), "note\n").expect("write");
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_holdfast"))
            .args(args)
            .current_dir(dir.path())
            .env("HOLDFAST_REPOSITORY", &repo)
            .env("HOLDFAST_PASSWORD", PASSWORD)
            .env("HOLDFAST_API_TOKEN", TOKEN)
            .env("AWS_SECRET_ACCESS_KEY", AWS_SECRET)
            .env("AWS_ACCESS_KEY_ID", "marker-key-id")
            .env("AZURE_STORAGE_KEY", AZURE_KEY)
            .env("AZURE_STORAGE_ACCOUNT", "markeraccount")
            .env("HOLDFAST_CACHE_DIR", dir.path().join("cache"))
            .env_remove("HOLDFAST_CONFIG")
            .env_remove("HOLDFAST_PASSWORD_FILE")
            .env_remove("STORAGE_TYPE")
            .output()
            .expect("run holdfast");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_clean(&format!("holdfast {args:?}"), &text);
        (out.status.code(), text)
    };
    let mut runs = 0;
    for json in [false, true] {
        let g: &[&str] = if json { &["-vvv", "--json"] } else { &["-vvv"] };
        let cmds: Vec<Vec<&str>> = vec![
            vec!["init"],
            vec!["backup", "src"],
            vec!["snapshots"],
            vec!["ls", "latest"],
            vec!["verify", "--read-data"],
            vec!["restore", "latest", "--target", "out"],
            vec!["status"],
            vec!["forget", "--keep-last", "5"],
            vec!["prune"],
            vec!["export", "latest", "--output", "x.tar"],
            vec!["init"],
        ];
        for c in cmds {
            let args: Vec<&str> = g.iter().copied().chain(c).collect();
            run(&args);
            runs += 1;
        }
        let _ = std::fs::remove_dir_all(dir.path().join("out"));
        let _ = std::fs::remove_file(dir.path().join("x.tar"));
    }
    // An error names no secret either.
    let (code, _) = run(&[
        "-vvv",
        "restore",
        "latest",
        "--target",
        "out2",
        "--repo",
        "file:///nonexistent",
    ]);
    assert_ne!(code, Some(0));
    run(&["restore", "latest", "--target", "restored"]);
    let mode = std::fs::metadata(dir.path().join("restored/secret.key"))
        .expect("restored")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "a restored 0600 file keeps its mode");

    // The server: log at trace level, metrics, status page, API.
    let config = format!(
        "[repository]\nurl = \"{repo}\"\n[[volumes]]\nname = \"data\"\npath = \"{}\"\n",
        src.display()
    );
    let mut setup = Setup::new(&config);
    for (k, v) in [
        ("HOLDFAST_PASSWORD", PASSWORD),
        ("AWS_SECRET_ACCESS_KEY", AWS_SECRET),
        ("AZURE_STORAGE_KEY", AZURE_KEY),
        ("RUST_LOG", "trace"),
    ] {
        setup.env.push((k.into(), v.into()));
    }
    let s = Server::start(setup, |_| {});
    let client = reqwest::Client::new();
    let mut pages = 0;
    for (path, authed) in [
        ("/metrics", false),
        ("/", false),
        ("/", true),
        ("/healthz", false),
        ("/readyz", false),
        ("/api/v1/status", true),
        ("/api/v1/snapshots", true),
    ] {
        let mut req = client.get(s.url(path));
        if authed {
            req = req.bearer_auth(TOKEN);
        }
        let body = req.send().await.expect("get").text().await.expect("body");
        assert_clean(&format!("GET {path}"), &body);
        pages += 1;
    }
    let log = s.stderr.lock().expect("log").join("\n");
    // The token is what clients send; the log must not echo it.
    assert_clean("the server log", &log);

    // The default listen address is loopback.
    let help = Command::new(env!("CARGO_BIN_EXE_holdfast"))
        .args(["serve", "--help"])
        .env_remove("HOLDFAST_LISTEN")
        .output()
        .expect("help");
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("127.0.0.1:8425"), "{help}");
    println!(
        "secrets: {runs} commands, {pages} pages and the server log searched for 4 secrets: none found"
    );
}
