//! Railway config-as-code: `railway.toml` and `railway.json`.
//!
//! Volumes are read from a top-level `volumes` list (`[[volumes]]` in TOML) or from
//! `deploy.volumes`; each entry gives `name`, the mount path as `mountPath` or `mount`,
//! and an optional `size`. A `[deploy]` table with `mountPath` alone (and an optional
//! `volumeName`) counts as one volume. Replicas come from `deploy.numReplicas` and
//! `deploy.multiRegionConfig.<region>.numReplicas`, also inside `environments.<env>`;
//! the largest count found is kept, since any of them above 1 is a problem with volumes.

use serde_json::Value;

/// One Railway volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RailwayVolume {
    /// `name`, when given.
    pub name: Option<String>,
    /// `mountPath` or `mount`, when given.
    pub mount_path: Option<String>,
    /// `size` exactly as written (a string such as `10Gi`, or a number).
    pub size: Option<String>,
}

/// What holdfast needs from a Railway config.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RailwayConfig {
    /// The volumes, in file order.
    pub volumes: Vec<RailwayVolume>,
    /// The largest replica count found, if any is set.
    pub replicas: Option<u64>,
    /// `deploy.startCommand`, if set.
    pub start_command: Option<String>,
}

/// Parses `railway.toml` text.
pub fn parse_toml(text: &str) -> Result<RailwayConfig, String> {
    let value: toml::Value = toml::from_str(text).map_err(|e| {
        let line = e.span().map(|s| crate::config::line_of(text, s.start));
        match line {
            Some(l) => format!("line {l}: {}", e.message().trim()),
            None => e.message().trim().to_string(),
        }
    })?;
    let json = serde_json::to_value(value).map_err(|e| e.to_string())?;
    Ok(from_value(&json))
}

/// Parses `railway.json` text.
pub fn parse_json(text: &str) -> Result<RailwayConfig, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    if !value.is_object() {
        return Err("expected a JSON object".to_string());
    }
    Ok(from_value(&value))
}

fn from_value(root: &Value) -> RailwayConfig {
    let deploy = root.get("deploy");
    let mut volumes: Vec<RailwayVolume> = Vec::new();
    for list in [root.get("volumes"), deploy.and_then(|d| d.get("volumes"))]
        .into_iter()
        .flatten()
    {
        if let Some(items) = list.as_array() {
            volumes.extend(items.iter().map(volume_from));
        }
    }
    if let Some(d) = deploy
        && let Some(mount) = str_field(d, &["mountPath", "volumeMountPath"])
    {
        volumes.push(RailwayVolume {
            name: str_field(d, &["volumeName"]),
            mount_path: Some(mount),
            size: d.get("volumeSize").and_then(scalar),
        });
    }
    let mut replicas = deploy.and_then(replicas_of);
    if let Some(envs) = root.get("environments").and_then(Value::as_object) {
        for env in envs.values() {
            let n = env.get("deploy").and_then(replicas_of);
            replicas = replicas.max(n);
        }
    }
    RailwayConfig {
        volumes,
        replicas,
        start_command: deploy.and_then(|d| str_field(d, &["startCommand"])),
    }
}

fn volume_from(v: &Value) -> RailwayVolume {
    RailwayVolume {
        name: str_field(v, &["name"]),
        mount_path: str_field(v, &["mountPath", "mount", "path"]),
        size: v.get("size").and_then(scalar),
    }
}

fn replicas_of(deploy: &Value) -> Option<u64> {
    let mut n = deploy.get("numReplicas").and_then(Value::as_u64);
    if let Some(regions) = deploy.get("multiRegionConfig").and_then(Value::as_object) {
        let sum: u64 = regions
            .values()
            .filter_map(|r| r.get("numReplicas").and_then(Value::as_u64))
            .sum();
        if !regions.is_empty() {
            n = n.max(Some(sum));
        }
    }
    n
}

fn str_field(v: &Value, keys: &[&str]) -> Option<String> {
    keys.iter()
        .find_map(|k| v.get(*k).and_then(Value::as_str))
        .map(str::to_string)
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_volumes_as_in_the_railway_guide() {
        let text = "[deploy]\nstartCommand = \"npm start\"\n\n[[volumes]]\nmountPath = \"/app/data\"\n\
                    name = \"app-data\"\nsize = \"10Gi\"\n\n[[volumes]]\nmountPath = \"/app/uploads\"\n\
                    name = \"user-uploads\"\nsize = \"50Gi\"\n";
        let c = parse_toml(text).expect("valid");
        assert_eq!(c.volumes.len(), 2);
        assert_eq!(c.volumes[1].name.as_deref(), Some("user-uploads"));
        assert_eq!(c.volumes[1].mount_path.as_deref(), Some("/app/uploads"));
        assert_eq!(c.volumes[1].size.as_deref(), Some("50Gi"));
        assert_eq!(c.start_command.as_deref(), Some("npm start"));
        assert_eq!(c.replicas, None);
    }

    #[test]
    fn json_volumes_and_replicas() {
        let text = r#"{"deploy": {"numReplicas": 1, "multiRegionConfig": {"a": {"numReplicas": 2},
            "b": {"numReplicas": 1}}}, "volumes": [{"mount": "/app/data", "name": "d"}],
            "environments": {"staging": {"deploy": {"numReplicas": 4}}}}"#;
        let c = parse_json(text).expect("valid");
        assert_eq!(c.volumes[0].mount_path.as_deref(), Some("/app/data"));
        assert_eq!(c.replicas, Some(4));
    }

    #[test]
    fn deploy_mount_path_is_one_volume() {
        let c = parse_toml("[deploy]\nmountPath = \"/data\"\nnumReplicas = 2\n").expect("valid");
        assert_eq!(c.volumes[0].mount_path.as_deref(), Some("/data"));
        assert_eq!(c.replicas, Some(2));
    }

    #[test]
    fn errors_carry_the_line() {
        let err = parse_toml("[deploy]\nx = \n").expect_err("invalid");
        assert!(err.starts_with("line 2"), "{err}");
        let err = parse_json("{\n\"a\": ,\n}").expect_err("invalid");
        assert!(err.contains("line 2"), "{err}");
    }
}
