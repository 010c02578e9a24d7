//! Rules over the parsed deployment files.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::Finding;
use super::env::data_path;
use super::project::Project;
use crate::units::parse_size;

const MIN_SIZE: u64 = 1 << 30;
const MAX_SIZE: u64 = 100 << 30;

pub(super) fn check(p: &Project, out: &mut Vec<Finding>) {
    presence(p, out);
    parse_errors(p, out);
    both_railway_files(p, out);
    replicas(p, out);
    sizes(p, out);
    duplicate_paths(p, out);
    env_paths(p, out);
    unused_compose_volumes(p, out);
    coverage(p, out);
}

fn presence(p: &Project, out: &mut Vec<Finding>) {
    let deploy_files =
        p.railway_toml.is_some() || p.railway_json.is_some() || !p.compose.is_empty();
    if p.holdfast.is_none() && !deploy_files {
        out.push(Finding::error(
            ".",
            "no holdfast.toml, railway.toml, railway.json or compose file here".into(),
            "run lint in the project directory, or write holdfast.toml (`holdfast import FILE`)",
        ));
    } else if p.holdfast.is_none() {
        let source = if p.railway_toml.is_some() {
            "railway.toml"
        } else if p.railway_json.is_some() {
            "railway.json"
        } else {
            p.compose
                .first()
                .map_or("docker-compose.yml", |(name, _)| name.as_str())
        };
        out.push(Finding::warning(
            "holdfast.toml",
            "no holdfast.toml: no volume is checked at start or backed up".into(),
            format!("create one: holdfast import {source} > holdfast.toml"),
        ));
    }
}

fn parse_errors(p: &Project, out: &mut Vec<Finding>) {
    if let Some(Err(m)) = &p.holdfast {
        out.push(Finding::error(
            "holdfast.toml",
            m.clone(),
            "fix this key or value; unknown keys are refused",
        ));
    }
    for (file, parsed) in [
        ("railway.toml", &p.railway_toml),
        ("railway.json", &p.railway_json),
    ] {
        if let Some(Err(m)) = parsed {
            out.push(Finding::error(
                file,
                m.clone(),
                "fix the syntax: Railway cannot read this file either",
            ));
        }
    }
    for (file, parsed) in &p.compose {
        if let Err(m) = parsed {
            out.push(Finding::error(
                file.as_str(),
                m.clone(),
                "fix the YAML (`docker compose config` shows the error too)",
            ));
        }
    }
    if let Some(Err(m)) = &p.env {
        out.push(Finding::error(".env", m.clone(), "make .env readable"));
    }
}

fn both_railway_files(p: &Project, out: &mut Vec<Finding>) {
    if p.railway_toml.is_some() && p.railway_json.is_some() {
        out.push(Finding::error(
            "railway.json",
            "both railway.json and railway.toml exist: Railway uses only one, so volume and \
             replica settings in the other are silently ignored"
                .into(),
            "keep one file (railway.toml is Railway's preferred format) and delete the other",
        ));
    }
}

fn replicas(p: &Project, out: &mut Vec<Finding>) {
    for (file, c) in p.railway() {
        if let Some(n) = c.replicas.filter(|n| *n > 1)
            && !c.volumes.is_empty()
        {
            out.push(Finding::error(
                file,
                format!(
                    "numReplicas is {n} but the service has a volume: a Railway volume attaches to \
                     one replica, the others run without the data"
                ),
                "set numReplicas = 1, or keep shared files in object storage (S3, R2)",
            ));
        }
    }
}

fn sizes(p: &Project, out: &mut Vec<Finding>) {
    let range = "1Gi–100Gi";
    for (file, c) in p.railway() {
        for v in &c.volumes {
            let name = v.name.as_deref().unwrap_or("(unnamed)");
            let Some(size) = &v.size else { continue };
            match parse_size(size) {
                Err(_) => out.push(Finding::error(
                    file,
                    format!("volume {name}: size `{size}` is not a size"),
                    "write sizes like \"10Gi\" (1024-based) or \"10GB\"",
                )),
                Ok(b) if !(MIN_SIZE..=MAX_SIZE).contains(&b) => out.push(Finding::warning(
                    file,
                    format!("volume {name}: size {size} is outside Railway's {range}"),
                    format!("pick a size within {range}"),
                )),
                Ok(_) => {}
            }
        }
    }
    if p.railway().next().is_some()
        && let Some(c) = p.config()
    {
        for v in &c.volumes {
            if let Some(size) = v
                .size
                .filter(|s| !(MIN_SIZE..=MAX_SIZE).contains(&s.bytes()))
            {
                out.push(Finding::warning(
                    "holdfast.toml",
                    format!(
                        "volume {}: size {size} is outside Railway's {range}",
                        v.name
                    ),
                    "declare the size the Railway volume really has",
                ));
            }
        }
    }
}

fn duplicates<'a>(items: impl Iterator<Item = (&'a str, String)>) -> Vec<(String, String, String)> {
    let mut seen: HashMap<String, &str> = HashMap::new();
    let mut out = Vec::new();
    for (name, path) in items {
        let key = path.trim_end_matches('/').to_string();
        match seen.get(&key) {
            Some(first) => out.push((first.to_string(), name.to_string(), path)),
            None => {
                seen.insert(key, name);
            }
        }
    }
    out
}

fn duplicate_paths(p: &Project, out: &mut Vec<Finding>) {
    for (file, c) in p.railway() {
        let items = c.volumes.iter().filter_map(|v| {
            Some((
                v.name.as_deref().unwrap_or("(unnamed)"),
                v.mount_path.clone()?,
            ))
        });
        for (a, b, path) in duplicates(items) {
            out.push(Finding::error(
                file,
                format!("volumes {a} and {b} are both mounted at {path}"),
                "give each volume its own mount path",
            ));
        }
    }
    if let Some(c) = p.config() {
        let items = c.volumes.iter().map(|v| (v.name.as_str(), p.rel(&v.path)));
        for (a, b, path) in duplicates(items) {
            out.push(Finding::error(
                "holdfast.toml",
                format!("volumes {a} and {b} both have path {path}"),
                "give each volume its own path",
            ));
        }
        for outer in &c.volumes {
            for inner in &c.volumes {
                if inner.path != outer.path && inner.path.starts_with(&outer.path) {
                    out.push(Finding::warning(
                        "holdfast.toml",
                        format!(
                            "volume {} ({}) lies inside volume {} ({}): its files are backed up twice",
                            inner.name,
                            p.rel(&inner.path),
                            outer.name,
                            p.rel(&outer.path)
                        ),
                        format!("add `{}` to the exclude list of {}", p.rel(&inner.path), outer.name),
                    ));
                }
            }
        }
    }
    for (file, c) in p.composes() {
        for s in &c.services {
            let items = s.mounts.iter().map(|m| {
                (
                    m.source.as_deref().unwrap_or("(anonymous)"),
                    m.target.clone(),
                )
            });
            for (a, b, path) in duplicates(items) {
                out.push(Finding::error(
                    file,
                    format!("service {}: {a} and {b} are both mounted at {path}", s.name),
                    "give each mount its own target path",
                ));
            }
        }
    }
}

fn covered(path: &Path, persistent: &[PathBuf]) -> bool {
    persistent.iter().any(|v| path.starts_with(v))
}

fn volume_list(persistent: &[PathBuf]) -> String {
    let mut paths: Vec<String> = persistent.iter().map(|v| v.display().to_string()).collect();
    paths.sort();
    paths.dedup();
    if paths.is_empty() {
        "none is declared".to_string()
    } else {
        paths.join(", ")
    }
}

fn env_paths(p: &Project, out: &mut Vec<Finding>) {
    let persistent = p.persistent_paths();
    // (file, " (service NAME)" or "", key, value)
    let mut sources: Vec<(&str, String, &str, &str)> = p
        .env_pairs()
        .iter()
        .map(|(k, v)| (".env", String::new(), k.as_str(), v.as_str()))
        .collect();
    for (file, c) in p.composes() {
        for s in &c.services {
            for (k, v) in &s.environment {
                sources.push((
                    file,
                    format!(" (service {})", s.name),
                    k.as_str(),
                    v.as_str(),
                ));
            }
        }
    }
    for (file, service, key, value) in sources {
        let Some(dp) = data_path(key, value) else {
            continue;
        };
        let path = PathBuf::from(&dp.path);
        if path.is_relative() {
            out.push(Finding::warning(
                file,
                format!(
                    "{key}{service} uses the relative path {}: where it lands depends on the \
                     working directory, usually not a volume",
                    dp.path
                ),
                "use an absolute path under a volume mount",
            ));
            continue;
        }
        if covered(&path, &persistent) {
            continue;
        }
        let message = format!(
            "{key}{service} points at {}, outside every volume ({}): its data is lost on redeploy",
            dp.path,
            volume_list(&persistent)
        );
        let hint = "move it under a volume mount path, or add a volume that covers it";
        out.push(if dp.is_data {
            Finding::error(file, message, hint)
        } else {
            Finding::warning(file, message, hint)
        });
    }
}

fn unused_compose_volumes(p: &Project, out: &mut Vec<Finding>) {
    for (file, c) in p.composes() {
        for v in &c.volumes {
            if c.mounts_of(&v.name).is_empty() {
                out.push(Finding::warning(
                    file,
                    format!("volume {} is declared but no service mounts it", v.name),
                    "mount it in the service that should keep its data there, or remove it",
                ));
            }
        }
    }
}

/// Volumes of the deployment that holdfast.toml does not cover, and holdfast.toml
/// volumes that no Railway volume backs.
fn coverage(p: &Project, out: &mut Vec<Finding>) {
    let Some(config) = p.config() else { return };
    let guarded = |path: &Path| {
        config
            .volumes
            .iter()
            .any(|v| path.starts_with(&v.path) || v.path.starts_with(path))
    };
    let mut railway_mounts = Vec::new();
    for (file, c) in p.railway() {
        for v in &c.volumes {
            let Some(mount) = &v.mount_path else { continue };
            railway_mounts.push(PathBuf::from(mount));
            if !guarded(Path::new(mount)) {
                out.push(Finding::warning(
                    file,
                    format!(
                        "volume {} at {mount} is not in holdfast.toml: it is neither checked nor backed up",
                        v.name.as_deref().unwrap_or("(unnamed)")
                    ),
                    format!("add a [[volumes]] entry for it (holdfast import {file})"),
                ));
            }
        }
    }
    if !railway_mounts.is_empty() {
        for v in &config.volumes {
            if !railway_mounts.iter().any(|m| v.path.starts_with(m)) {
                out.push(Finding::error(
                    "holdfast.toml",
                    format!(
                        "volume {} at {} is not on any Railway volume: it lies in the container's \
                         throw-away layer",
                        v.name,
                        p.rel(&v.path)
                    ),
                    "set path to a Railway volume's mountPath",
                ));
            }
        }
    }
    for (file, c) in p.composes() {
        for v in &c.volumes {
            let mounts = c.mounts_of(&v.name);
            let targets_guarded = mounts.iter().any(|(_, m)| guarded(Path::new(&m.target)));
            let device_guarded = v.device.as_deref().is_some_and(|d| guarded(Path::new(d)));
            if !mounts.is_empty() && !targets_guarded && !device_guarded {
                out.push(Finding::warning(
                    file,
                    format!(
                        "volume {} is not in holdfast.toml: it is neither checked nor backed up",
                        v.name
                    ),
                    format!("add a [[volumes]] entry for it (holdfast import {file})"),
                ));
            }
        }
    }
}
