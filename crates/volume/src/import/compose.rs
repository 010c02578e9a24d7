//! Docker Compose files: named volumes (with bind `device` paths from `driver_opts`), and
//! which service mounts what, where, and whether read-only (`:ro`, `read_only: true`).
//! Both the short (`name:/path:ro`) and the long (`{type, source, target}`) mount syntax
//! are read.

use serde_norway::Value;

/// A top-level named volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComposeVolume {
    /// Its key under `volumes:`.
    pub name: String,
    /// `driver_opts.device` of a bind-backed local volume: where the data lives on the host.
    pub device: Option<String>,
    /// `driver`, when not the default `local`.
    pub driver: Option<String>,
    /// `external: true`: created outside this project.
    pub external: bool,
}

/// What a service mounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountKind {
    /// A named (or anonymous) volume.
    Volume,
    /// A host path.
    Bind,
    /// A tmpfs: memory, gone on restart.
    Tmpfs,
}

/// One entry of a service's `volumes:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComposeMount {
    /// Volume name or host path; `None` for anonymous volumes and tmpfs.
    pub source: Option<String>,
    /// Path inside the container.
    pub target: String,
    /// Mounted read-only.
    pub read_only: bool,
    /// What is mounted.
    pub kind: MountKind,
}

/// A service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComposeService {
    /// Its key under `services:`.
    pub name: String,
    /// `image`, if set.
    pub image: Option<String>,
    /// Its mounts, in file order.
    pub mounts: Vec<ComposeMount>,
    /// `environment`, as `KEY=value` pairs (map or list form).
    pub environment: Vec<(String, String)>,
}

/// What holdfast needs from a Compose file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ComposeFile {
    /// Top-level named volumes, in file order.
    pub volumes: Vec<ComposeVolume>,
    /// Services, in file order.
    pub services: Vec<ComposeService>,
}

impl ComposeFile {
    /// The services mounting the named volume, with their mounts of it.
    pub fn mounts_of<'a>(&'a self, volume: &str) -> Vec<(&'a ComposeService, &'a ComposeMount)> {
        self.services
            .iter()
            .flat_map(|s| s.mounts.iter().map(move |m| (s, m)))
            .filter(|(_, m)| m.kind == MountKind::Volume && m.source.as_deref() == Some(volume))
            .collect()
    }
}

/// Parses Compose YAML text.
pub fn parse(text: &str) -> Result<ComposeFile, String> {
    let root: Value = serde_norway::from_str(text).map_err(|e| match e.location() {
        Some(l) => format!("line {}: {e}", l.line()),
        None => e.to_string(),
    })?;
    let Some(root) = root.as_mapping() else {
        return Err("expected a mapping with `services:` and `volumes:`".to_string());
    };
    let mut file = ComposeFile::default();
    if let Some(vols) = root.get("volumes").and_then(Value::as_mapping) {
        for (name, spec) in vols {
            let Some(name) = name.as_str() else { continue };
            let opts = spec.get("driver_opts");
            file.volumes.push(ComposeVolume {
                name: name.to_string(),
                device: opts.and_then(|o| o.get("device")).and_then(scalar),
                driver: spec.get("driver").and_then(scalar).filter(|d| d != "local"),
                external: spec
                    .get("external")
                    .is_some_and(|e| e.as_bool().unwrap_or(false) || e.is_mapping()),
            });
        }
    }
    if let Some(services) = root.get("services").and_then(Value::as_mapping) {
        for (name, spec) in services {
            let Some(name) = name.as_str() else { continue };
            let mounts = spec
                .get("volumes")
                .and_then(Value::as_sequence)
                .map(|items| items.iter().filter_map(mount_from).collect())
                .unwrap_or_default();
            file.services.push(ComposeService {
                name: name.to_string(),
                image: spec.get("image").and_then(scalar),
                mounts,
                environment: spec.get("environment").map(environment).unwrap_or_default(),
            });
        }
    }
    Ok(file)
}

fn mount_from(item: &Value) -> Option<ComposeMount> {
    if let Some(short) = item.as_str() {
        return Some(parse_short(short));
    }
    let target = item.get("target").and_then(scalar)?;
    let source = item.get("source").and_then(scalar);
    let kind = match item.get("type").and_then(Value::as_str) {
        Some("bind") => MountKind::Bind,
        Some("tmpfs") => MountKind::Tmpfs,
        _ => MountKind::Volume,
    };
    let read_only = item
        .get("read_only")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    Some(ComposeMount {
        source,
        target,
        read_only,
        kind,
    })
}

/// `target`, `source:target` or `source:target:mode`.
fn parse_short(spec: &str) -> ComposeMount {
    let parts: Vec<&str> = spec.split(':').collect();
    let (source, target, mode) = match parts.as_slice() {
        [target] => (None, *target, ""),
        [source, target] => (Some(*source), *target, ""),
        [source, target, mode, ..] => (Some(*source), *target, *mode),
        [] => (None, "", ""),
    };
    let kind = match source {
        Some(s) if s.starts_with(['/', '.', '~', '$']) => MountKind::Bind,
        _ => MountKind::Volume,
    };
    ComposeMount {
        source: source.map(str::to_string),
        target: target.to_string(),
        read_only: mode.split(',').any(|m| m == "ro"),
        kind,
    }
}

fn environment(v: &Value) -> Vec<(String, String)> {
    if let Some(map) = v.as_mapping() {
        return map
            .iter()
            .filter_map(|(k, v)| Some((k.as_str()?.to_string(), scalar(v).unwrap_or_default())))
            .collect();
    }
    v.as_sequence()
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .map(|kv| match kv.split_once('=') {
                    Some((k, v)) => (k.to_string(), v.to_string()),
                    None => (kv.to_string(), String::new()),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = "
version: '3.8'
volumes:
  postgres-data:
    driver: local
    driver_opts:
      type: none
      o: bind
      device: /var/lib/allspark/postgres
  shared-ssh-keys:
    driver: local
    driver_opts: { type: none, o: bind, device: /var/lib/allspark/ssh-keys }
  log-data:
  orphan:
services:
  db:
    image: postgres:16
    environment:
      POSTGRES_DB: app
    volumes:
      - postgres-data:/var/lib/postgresql/data
  builder:
    image: example/builder
    environment: [\"DATABASE_URL=sqlite:///data/app.db\"]
    volumes:
      - shared-ssh-keys:/ssh-keys:ro
      - /var/run/docker.sock:/var/run/docker.sock
      - type: volume
        source: log-data
        target: /app/log
      - /anonymous
";

    #[test]
    fn reads_volumes_services_and_mounts() {
        let f = parse(SEED).expect("valid");
        let names: Vec<&str> = f.volumes.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(
            names,
            ["postgres-data", "shared-ssh-keys", "log-data", "orphan"]
        );
        assert_eq!(
            f.volumes[0].device.as_deref(),
            Some("/var/lib/allspark/postgres")
        );
        assert_eq!(
            f.volumes[1].device.as_deref(),
            Some("/var/lib/allspark/ssh-keys")
        );
        assert_eq!(f.volumes[2].device, None);
        let keys = f.mounts_of("shared-ssh-keys");
        assert_eq!(keys.len(), 1);
        assert!(keys[0].1.read_only);
        assert_eq!(keys[0].0.name, "builder");
        assert_eq!(f.mounts_of("log-data")[0].1.target, "/app/log");
        assert!(f.mounts_of("orphan").is_empty());
        let builder = &f.services[1];
        assert_eq!(builder.mounts[1].kind, MountKind::Bind);
        assert_eq!(builder.mounts[3].source, None);
        assert_eq!(builder.environment[0].0, "DATABASE_URL");
        assert_eq!(
            f.services[0].environment,
            vec![("POSTGRES_DB".into(), "app".into())]
        );
    }

    #[test]
    fn yaml_errors_carry_the_line() {
        let err = parse("services:\n  a:\n    image: [\n").expect_err("invalid");
        assert!(err.starts_with("line"), "{err}");
    }
}
