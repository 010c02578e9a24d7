//! Where `serve` and `run` listen: `127.0.0.1:8425` by default, `HOLDFAST_LISTEN` or
//! `--listen` otherwise, and `run` never on the app's `$PORT` (exit 2, the app not
//! started). No test binds the fixed default port: the refusal names the address it
//! would have taken.

use std::process::Command;

use super::volume_util::{TestDir, outcome};

/// `holdfast ARGS` in a project with one volume, with `env` set and no listen variable
/// or `$PORT` from the outside.
fn run(t: &TestDir, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_holdfast"));
    cmd.args(args)
        .current_dir(t.path())
        .env_remove("HOLDFAST_CONFIG")
        .env_remove("HOLDFAST_LISTEN")
        .env_remove("PORT")
        .env_remove("HOLDFAST_PASSWORD")
        .env_remove("HOLDFAST_REPOSITORY");
    for (k, v) in env {
        cmd.env(k, v);
    }
    outcome(&cmd.output().expect("run holdfast"))
}

fn project() -> TestDir {
    let t = TestDir::new();
    t.write(
        "holdfast.toml",
        "[[volumes]]\nname = \"data\"\npath = \"vol\"\n",
    );
    std::fs::create_dir(t.path().join("vol")).expect("volume");
    t
}

#[test]
fn the_default_listen_address_is_loopback_8425_for_serve_and_run() {
    let t = project();
    for cmd in ["serve", "run"] {
        let (code, help, err) = run(&t, &[cmd, "--help"], &[]);
        assert_eq!(code, 0, "{err}");
        let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(help.contains("[default: 127.0.0.1:8425]"), "{help}");
        assert!(help.contains("[env: HOLDFAST_LISTEN"), "{help}");
    }
}

#[test]
fn run_refuses_to_listen_on_the_apps_port() {
    let t = project();
    let marker = t.path().join("started");
    let app = format!("touch {}", marker.display());
    let app = ["--", "sh", "-c", app.as_str()];
    let with = |extra: &[&str]| -> Vec<String> {
        let mut v = vec!["run".to_string()];
        v.extend(extra.iter().map(|s| s.to_string()));
        v.extend(app.iter().map(|s| s.to_string()));
        v
    };
    /// Arguments, environment, and the address holdfast would take.
    type Case<'a> = (Vec<String>, Vec<(&'a str, &'a str)>, &'a str);
    let cases: [Case; 3] = [
        (with(&[]), vec![("PORT", "8425")], "127.0.0.1:8425"),
        (
            with(&[]),
            vec![("PORT", "9000"), ("HOLDFAST_LISTEN", "0.0.0.0:9000")],
            "0.0.0.0:9000",
        ),
        (
            with(&["--listen", "127.0.0.1:3000"]),
            vec![("PORT", "3000")],
            "127.0.0.1:3000",
        ),
    ];
    for (args, env, addr) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, _, err) = run(&t, &args, &env);
        assert_eq!(code, 2, "{env:?}: {err}");
        let port = env[0].1;
        assert_eq!(
            err.trim_end(),
            format!(
                "holdfast: error: holdfast would listen on {addr}, the app's $PORT={port}: give \
                 holdfast another port with --listen ADDR or HOLDFAST_LISTEN (default \
                 127.0.0.1:8425), or pass --no-serve"
            ),
        );
        assert!(!marker.exists(), "the app must not start");
    }
    // Another port, or no server at all, starts the app.
    let (code, _, err) = run(
        &t,
        &with(&["--listen", "127.0.0.1:0"])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        &[("PORT", "8425")],
    );
    assert_eq!(code, 0, "{err}");
    assert!(marker.exists(), "{err}");
    std::fs::remove_file(&marker).expect("reset");
    let (code, _, err) = run(
        &t,
        &with(&["--no-serve"])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        &[("PORT", "8425")],
    );
    assert_eq!(code, 0, "{err}");
    assert!(marker.exists(), "{err}");
}
