//! The container side of the examples: the Compose sidecar mounts exactly what its
//! holdfast.toml backs up and listens only inside the network, and the root `Dockerfile`
//! builds the release binary into a Debian slim image with the database clients, run
//! as an unprivileged user.

use std::path::Path;

use holdfast_volume::import::compose;

use super::examples_util::{parse_example, source_file, source_root};
use super::volume_util::outcome;

/// The Compose sidecar sees every volume: each named volume is mounted into the holdfast
/// service, each holdfast.toml volume path is one of those mounts, and the volumes with
/// data are the ones the app, Postgres and Redis mount. It listens on 0.0.0.0:8425 inside
/// the network (no published port) with the API token, and builds from the Dockerfile.
#[test]
fn compose_example_mounts_match_holdfast_toml() {
    let text = source_file("examples/compose/compose.yaml");
    let file = compose::parse(&text).expect("compose.yaml parses");
    let config = parse_example("compose", &|_| None);
    let sidecar = file
        .services
        .iter()
        .find(|s| s.name == "holdfast")
        .expect("a holdfast service");
    for v in &file.volumes {
        let mounts = file.mounts_of(&v.name);
        assert!(
            mounts.iter().any(|(s, _)| s.name == "holdfast"),
            "volume {} is not mounted into holdfast",
            v.name
        );
        assert!(
            mounts
                .iter()
                .any(|(s, m)| s.name != "holdfast" && !m.read_only),
            "volume {} has no service writing to it",
            v.name
        );
    }
    for v in &config.volumes {
        let mount = sidecar
            .mounts
            .iter()
            .find(|m| Path::new(&m.target) == v.path)
            .unwrap_or_else(|| {
                panic!(
                    "{} is not a mount of the holdfast service",
                    v.path.display()
                )
            });
        let source = mount.source.as_deref().expect("a named volume");
        assert!(
            file.volumes.iter().any(|cv| cv.name == source),
            "{} comes from the named volume {source}",
            v.path.display()
        );
    }
    assert_eq!(config.volumes.len(), file.volumes.len());
    let env: Vec<&str> = sidecar
        .environment
        .iter()
        .map(|(k, _)| k.as_str())
        .collect();
    for key in [
        "HOLDFAST_API_TOKEN",
        "HOLDFAST_REPOSITORY",
        "HOLDFAST_PASSWORD_FILE",
        "PGPASSWORD",
    ] {
        assert!(env.contains(&key), "{key} in {env:?}");
    }
    let block = text
        .split("\n  holdfast:\n")
        .nth(1)
        .and_then(|rest| rest.split("\nvolumes:").next())
        .expect("the holdfast service block");
    assert!(
        block.contains(r#"command: ["serve", "--listen", "0.0.0.0:8425"]"#),
        "{block}"
    );
    assert!(
        !block.contains("ports:"),
        "the API is not published: {block}"
    );
    assert!(block.contains("build: ../.."), "{block}");
    assert!(source_root().join("Dockerfile").is_file());
}

/// The Dockerfile's shape: a builder stage on the Rust image of `rust-version` running
/// the release build of the `holdfast` package with the lock file; a Debian slim final
/// stage with the database clients and CA certificates, a non-root user, holdfast as
/// the entry point. The build command itself is checked against the lock file.
#[test]
fn dockerfile_builds_holdfast_with_database_clients_as_non_root() {
    let text = source_file("Dockerfile");
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .collect();
    let froms: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.starts_with("FROM "))
        .collect();
    assert_eq!(froms.len(), 2, "{froms:?}");
    let manifest = source_file("Cargo.toml");
    let rust_version = manifest
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = "))
        .map(|v| v.trim_matches('"').to_string())
        .expect("rust-version");
    assert!(
        froms[0].contains(&format!("rust:{rust_version}-")) && froms[0].ends_with(" AS builder"),
        "{}",
        froms[0]
    );
    assert!(
        froms[1].contains("debian:") && froms[1].ends_with("-slim"),
        "{}",
        froms[1]
    );
    assert!(
        text.contains("cargo build --locked --release -p holdfast"),
        "the release build of the holdfast package, with the lock file"
    );
    let final_stage = text.split(froms[1]).nth(1).expect("final stage");
    for package in [
        "ca-certificates",
        "sqlite3",
        "postgresql-client",
        "redis-tools",
    ] {
        assert!(
            final_stage.contains(package),
            "{package} in the final image"
        );
    }
    assert!(final_stage.contains("COPY --from=builder"), "{final_stage}");
    let user = lines
        .iter()
        .rev()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("a USER line");
    assert!(
        !user.starts_with("root") && !user.starts_with('0'),
        "runs as {user}"
    );
    assert_eq!(
        lines.iter().find(|l| l.starts_with("ENTRYPOINT")),
        Some(&r#"ENTRYPOINT ["holdfast"]"#)
    );
    let ignore = source_file(".dockerignore");
    assert!(ignore.lines().any(|l| l.trim() == "target/"), "{ignore}");

    // The same command outside a container: the lock file must be complete for --locked.
    let out = std::process::Command::new(env!("CARGO"))
        .args(["metadata", "--locked", "--format-version", "1", "--no-deps"])
        .current_dir(source_root())
        .output()
        .expect("run cargo metadata");
    let (code, _, stderr) = outcome(&out);
    assert_eq!(code, 0, "cargo metadata --locked: {stderr}");
}
