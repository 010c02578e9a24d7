//! Writing holdfast.toml text, comments included, from parsed Railway and Compose files.

use std::fmt::Write as _;

use super::compose::{ComposeFile, ComposeService, MountKind};
use super::database_from_image;
use super::railway::RailwayConfig;
use crate::units::parse_size;

/// A TOML string literal.
fn quote(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// A valid holdfast volume name from anything.
fn volume_name(raw: &str) -> String {
    let name: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect();
    let name = name.trim_matches('-').to_string();
    if name.is_empty() || name == "." || name == ".." {
        "data".to_string()
    } else {
        name
    }
}

fn header(out: &mut String, source: &str) {
    let _ = writeln!(
        out,
        "# holdfast.toml imported from {source} by `holdfast import`."
    );
    let _ = writeln!(
        out,
        "# Check every path: it is where the volume is mounted for the process"
    );
    let _ = writeln!(
        out,
        "# that runs holdfast (`holdfast run -- <your start command>`)."
    );
    out.push('\n');
}

fn footer(out: &mut String) {
    out.push_str(
        "\n# Where snapshots go; see `holdfast init`.\n\
         # [repository]\n\
         # url = \"s3://my-bucket/holdfast\"\n\
         \n\
         # [schedule]\n\
         # backup = \"0 2 * * *\"\n\
         \n\
         # [retention]\n\
         # keep_last = 5\n\
         # keep_daily = 7\n",
    );
}

/// Unique names: a second `data` becomes `data-2`.
fn unique(name: String, taken: &mut Vec<String>) -> String {
    let mut candidate = name.clone();
    let mut n = 2;
    while taken.contains(&candidate) {
        candidate = format!("{name}-{n}");
        n += 1;
    }
    taken.push(candidate.clone());
    candidate
}

pub(super) fn railway(config: &RailwayConfig, source: &str) -> String {
    let mut out = String::new();
    header(&mut out, source);
    if let Some(n) = config.replicas.filter(|n| *n > 1) {
        let _ = writeln!(
            out,
            "# WARNING: {source} asks for {n} replicas, but a Railway volume attaches to one\n\
             # replica only: set numReplicas = 1 or keep shared data in object storage.\n"
        );
    }
    let mut taken = Vec::new();
    for (i, v) in config.volumes.iter().enumerate() {
        let mount = v.mount_path.clone();
        let raw_name = v.name.clone().or_else(|| {
            mount
                .as_deref()
                .and_then(|m| m.rsplit('/').find(|s| !s.is_empty()).map(str::to_string))
        });
        let name = unique(
            volume_name(raw_name.as_deref().unwrap_or("data")),
            &mut taken,
        );
        let _ = writeln!(
            out,
            "# Railway volume {}",
            v.name.as_deref().unwrap_or("(unnamed)")
        );
        out.push_str("[[volumes]]\n");
        let _ = writeln!(out, "name = {}", quote(&name));
        match &mount {
            Some(m) => {
                let _ = writeln!(out, "path = {}", quote(m));
            }
            None if i == 0 => {
                out.push_str("# no mount path given: RAILWAY_VOLUME_MOUNT_PATH is used\n");
            }
            None => {
                out.push_str("path = \"/app/data\"  # no mount path given: fix this\n");
            }
        }
        if let Some(size) = &v.size {
            if parse_size(size).is_ok() {
                let _ = writeln!(out, "size = {}", quote(size));
            } else {
                let _ = writeln!(
                    out,
                    "# size {} is not a size holdfast understands",
                    quote(size)
                );
            }
        }
        out.push_str("require_mount = true\nalert_at = \"80%\"\n");
        out.push_str(
            "# SQLite files on the volume are found by their header (sqlite_autodetect).\n",
        );
        out.push_str("# databases = [{ kind = \"sqlite\", path = \"app.db\" }]\n\n");
    }
    footer(&mut out);
    out
}

pub(super) fn compose(file: &ComposeFile, source: &str) -> String {
    let mut out = String::new();
    header(&mut out, source);
    let mut taken = Vec::new();
    for v in &file.volumes {
        let mounts = file.mounts_of(&v.name);
        let name = unique(volume_name(&v.name), &mut taken);
        let users: Vec<String> = mounts
            .iter()
            .map(|(s, m)| {
                let ro = if m.read_only { " (read-only)" } else { "" };
                format!("{} at {}{ro}", s.name, m.target)
            })
            .collect();
        let _ = writeln!(out, "# compose volume {}", v.name);
        if users.is_empty() {
            out.push_str("# not mounted by any service\n");
        } else {
            let _ = writeln!(out, "# mounted by {}", users.join("; "));
        }
        let mut targets: Vec<&str> = mounts.iter().map(|(_, m)| m.target.as_str()).collect();
        targets.dedup();
        if targets.len() > 1 {
            out.push_str("# services mount it at different paths: keep the one holdfast runs in\n");
        }
        if let Some(device) = &v.device {
            let _ = writeln!(out, "# on the host (bind device): {device}");
        }
        if v.external {
            out.push_str("# external volume: created outside this compose project\n");
        }
        if let Some(driver) = &v.driver {
            let _ = writeln!(out, "# volume driver: {driver}");
        }
        let writer = mounts.iter().find(|(_, m)| !m.read_only).or(mounts.first());
        let path = match (writer, &v.device) {
            (Some((_, m)), _) => m.target.clone(),
            (None, Some(device)) => device.clone(),
            (None, None) => format!("/volumes/{name}"),
        };
        let engines: Vec<(&ComposeService, &'static str)> = mounts
            .iter()
            .filter_map(|(s, _)| Some((*s, database_from_image(s.image.as_deref()?)?)))
            .collect();
        let lower = v.name.to_ascii_lowercase();
        let priority = if !engines.is_empty() {
            "critical"
        } else if ["log", "cache", "tmp", "temp"]
            .iter()
            .any(|w| lower.contains(w))
        {
            "low"
        } else {
            "medium"
        };
        out.push_str("[[volumes]]\n");
        let _ = writeln!(out, "name = {}", quote(&name));
        let _ = writeln!(out, "path = {}", quote(&path));
        let _ = writeln!(out, "priority = {}", quote(priority));
        out.push_str("require_mount = true\nalert_at = \"80%\"\n");
        for (service, engine) in engines {
            database_hint(&mut out, service, engine);
        }
        out.push('\n');
    }
    let binds: Vec<String> = file
        .services
        .iter()
        .flat_map(|s| s.mounts.iter().map(move |m| (s, m)))
        .filter(|(_, m)| m.kind == MountKind::Bind)
        .filter(|(_, m)| !m.source.as_deref().unwrap_or("").ends_with(".sock"))
        .map(|(s, m)| {
            format!(
                "{} -> {} ({})",
                m.source.as_deref().unwrap_or("?"),
                m.target,
                s.name
            )
        })
        .collect();
    if !binds.is_empty() {
        out.push_str("# Bind mounts not imported (add them as volumes if they hold data):\n");
        for b in binds {
            let _ = writeln!(out, "#   {b}");
        }
    }
    footer(&mut out);
    out
}

fn env<'a>(service: &'a ComposeService, key: &str) -> Option<&'a str> {
    service
        .environment
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn database_hint(out: &mut String, service: &ComposeService, engine: &str) {
    let image = service.image.as_deref().unwrap_or("?");
    match engine {
        "postgres" => {
            let user = env(service, "POSTGRES_USER").unwrap_or("postgres");
            let db = env(service, "POSTGRES_DB").unwrap_or(user);
            let _ = writeln!(
                out,
                "# service {} runs {image}: dump it with pg_dump instead of copying live files:\n\
                 # databases = [{{ kind = \"postgres\", name = {}, url = {} }}]",
                service.name,
                quote(db),
                quote(&format!("postgres://{user}@{}:5432/{db}", service.name)),
            );
        }
        "redis" => {
            let _ = writeln!(
                out,
                "# service {} runs {image}: back up its snapshot file:\n\
                 # databases = [{{ kind = \"redis\", url = {}, path = \"dump.rdb\" }}]",
                service.name,
                quote(&format!("redis://{}:6379", service.name)),
            );
        }
        other => {
            let _ = writeln!(
                out,
                "# service {} runs {image} ({other}): stop it during backups (see [hooks]), \
                 holdfast has no {other} dump support yet",
                service.name
            );
        }
    }
}
