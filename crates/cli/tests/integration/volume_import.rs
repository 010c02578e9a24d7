//! `holdfast import`: its output is a holdfast.toml that `holdfast lint` accepts.

use super::volume_util::{TestDir, outcome};

#[test]
fn railway_toml_import_then_lint_passes() {
    let t = TestDir::new();
    t.write(
        "railway.toml",
        "[deploy]\nstartCommand = \"npm start\"\n\n[[volumes]]\nmountPath = \"/app/data\"\n\
         name = \"app-data\"\nsize = \"10Gi\"\n",
    );
    let (code, toml, stderr) = outcome(&t.holdfast(&["import", "railway.toml"]));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        toml.contains("name = \"app-data\"\npath = \"/app/data\"\nsize = \"10Gi\""),
        "{toml}"
    );
    t.write("holdfast.toml", &toml);
    let (code, stdout, _) = outcome(&t.holdfast(&["lint"]));
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("no problems found"), "{stdout}");
}

#[test]
fn compose_import_names_services_and_databases() {
    let t = TestDir::new();
    t.write(
        "docker-compose.yml",
        "services:\n  db:\n    image: postgres:16\n    volumes: [\"pg:/var/lib/postgresql/data\"]\n\
         volumes:\n  pg:\n    driver_opts: {type: none, o: bind, device: /srv/pg}\n",
    );
    let (code, toml, stderr) = outcome(&t.holdfast(&["import", "docker-compose.yml"]));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        toml.contains("# mounted by db at /var/lib/postgresql/data"),
        "{toml}"
    );
    assert!(
        toml.contains("# on the host (bind device): /srv/pg"),
        "{toml}"
    );
    assert!(
        toml.contains("# databases = [{ kind = \"postgres\""),
        "{toml}"
    );
    assert!(toml.contains("priority = \"critical\""), "{toml}");
}

#[test]
fn unknown_kind_and_missing_file_fail() {
    let t = TestDir::new();
    t.write("Procfile", "web: node server.js\n");
    let (code, _, stderr) = outcome(&t.holdfast(&["import", "Procfile"]));
    assert_eq!(code, 1);
    assert!(
        stderr.contains("railway.toml, railway.json, docker-compose.yml"),
        "{stderr}"
    );
    let (code, _, stderr) = outcome(&t.holdfast(&["import", "railway.json"]));
    assert_eq!(code, 1);
    assert!(stderr.contains("cannot read railway.json"), "{stderr}");
}
