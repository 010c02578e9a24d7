//! Tests of `import`: every output must load as a valid holdfast.toml.

use std::path::Path;

use super::*;
use crate::config::{Config, Priority};

fn load(text: &str) -> Config {
    let env = |k: &str| (k == "RAILWAY_VOLUME_MOUNT_PATH").then(|| "/railway".to_string());
    Config::from_toml(text, Path::new("/srv/holdfast.toml"), &env)
        .unwrap_or_else(|e| panic!("import produced an invalid config: {e}\n{text}"))
}

#[test]
fn railway_toml_round_trips() {
    let text = "[deploy]\nstartCommand = \"npm start\"\nnumReplicas = 3\n\n[[volumes]]\n\
                mountPath = \"/app/data\"\nname = \"app-data\"\nsize = \"10Gi\"\n\n[[volumes]]\n\
                mountPath = \"/app/cache\"\nname = \"cache storage\"\nsize = \"lots\"\n";
    let out = import_text(SourceKind::RailwayToml, text, Path::new("railway.toml")).expect("ok");
    assert!(out.contains("asks for 3 replicas"), "{out}");
    assert!(out.contains("# size \"lots\" is not a size"), "{out}");
    let c = load(&out);
    assert_eq!(c.volumes.len(), 2);
    assert_eq!(c.volumes[0].name, "app-data");
    assert_eq!(c.volumes[0].path, Path::new("/app/data"));
    assert_eq!(c.volumes[0].size.map(|s| s.bytes()), Some(10 << 30));
    assert!(c.volumes[0].require_mount);
    assert_eq!(c.volumes[1].name, "cache-storage");
    assert_eq!(c.volumes[1].size, None);
}

#[test]
fn railway_json_without_mount_uses_the_env() {
    let text = r#"{"volumes": [{"name": "data"}]}"#;
    let out = import_text(SourceKind::RailwayJson, text, Path::new("railway.json")).expect("ok");
    let c = load(&out);
    assert_eq!(c.volumes[0].path, Path::new("/railway"));
}

#[test]
fn compose_round_trips_with_hints() {
    let text = "
volumes:
  pgdata:
    driver_opts: { type: none, o: bind, device: /var/lib/app/pg }
  app-logs:
  orphan:
services:
  db:
    image: postgres:16-alpine
    environment: { POSTGRES_USER: shop, POSTGRES_DB: shop }
    volumes: [\"pgdata:/var/lib/postgresql/data\"]
  web:
    image: example/web
    volumes:
      - app-logs:/app/log
      - ./uploads:/app/uploads
  reader:
    image: example/reader
    volumes: [\"app-logs:/logs:ro\"]
";
    let out = import_text(SourceKind::Compose, text, Path::new("docker-compose.yml")).expect("ok");
    for needle in [
        "# mounted by db at /var/lib/postgresql/data",
        "# on the host (bind device): /var/lib/app/pg",
        "# databases = [{ kind = \"postgres\", name = \"shop\", url = \"postgres://shop@db:5432/shop\" }]",
        "# mounted by web at /app/log; reader at /logs (read-only)",
        "# not mounted by any service",
        "#   ./uploads -> /app/uploads (web)",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in\n{out}");
    }
    let c = load(&out);
    assert_eq!(c.volumes.len(), 3);
    assert_eq!(c.volumes[0].priority, Priority::Critical);
    assert_eq!(c.volumes[0].path, Path::new("/var/lib/postgresql/data"));
    assert_eq!(c.volumes[1].priority, Priority::Low);
    assert_eq!(c.volumes[1].path, Path::new("/app/log"));
    assert_eq!(c.volumes[2].path, Path::new("/volumes/orphan"));
}

#[test]
fn unknown_kind_lists_the_kinds() {
    let err = import_file(Path::new("/nonexistent/Procfile")).expect_err("unknown");
    let text = err.to_string();
    assert!(
        text.contains("railway.toml, railway.json, docker-compose.yml"),
        "{text}"
    );
}

#[test]
fn no_volumes_and_bad_syntax_are_errors() {
    let err = import_text(
        SourceKind::RailwayJson,
        "{\"deploy\": {}}",
        Path::new("railway.json"),
    )
    .expect_err("no volumes");
    assert!(matches!(err, ImportError::NoVolumes { .. }));
    let err = import_text(
        SourceKind::Compose,
        "services: [",
        Path::new("compose.yaml"),
    )
    .expect_err("bad yaml");
    assert!(err.to_string().starts_with("compose.yaml: line"), "{err}");
}

#[test]
fn detects_kinds() {
    assert_eq!(
        SourceKind::detect(Path::new("a/railway.toml")),
        Some(SourceKind::RailwayToml)
    );
    assert_eq!(
        SourceKind::detect(Path::new("railway.json")),
        Some(SourceKind::RailwayJson)
    );
    assert_eq!(
        SourceKind::detect(Path::new("compose.yaml")),
        Some(SourceKind::Compose)
    );
    assert_eq!(
        SourceKind::detect(Path::new("docker-compose.prod.yml")),
        Some(SourceKind::Compose)
    );
    assert_eq!(SourceKind::detect(Path::new("Dockerfile")), None);
}

#[test]
fn images_to_engines() {
    assert_eq!(database_from_image("postgres:16"), Some("postgres"));
    assert_eq!(
        database_from_image("docker.io/bitnami/redis:7"),
        Some("redis")
    );
    assert_eq!(database_from_image("ghcr.io/x/app@sha256:abc"), None);
}
