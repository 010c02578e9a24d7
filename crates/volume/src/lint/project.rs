//! The files of a project directory, read and parsed once for all rules.

use std::path::{Path, PathBuf};

use crate::config::{Config, ConfigError, RAILWAY_MOUNT_ENV};
use crate::import::compose::{self, ComposeFile, MountKind};
use crate::import::railway::{self, RailwayConfig};

use super::env::parse_dotenv;

/// Compose file names, in the order Compose itself prefers them.
pub(super) const COMPOSE_NAMES: [&str; 4] = [
    "compose.yaml",
    "compose.yml",
    "docker-compose.yaml",
    "docker-compose.yml",
];

pub(super) struct Project {
    pub dir: PathBuf,
    pub holdfast: Option<Result<Config, String>>,
    pub railway_toml: Option<Result<RailwayConfig, String>>,
    pub railway_json: Option<Result<RailwayConfig, String>>,
    pub compose: Vec<(String, Result<ComposeFile, String>)>,
    pub env: Option<Result<Vec<(String, String)>, String>>,
    /// The holdfast config read (or looked for).
    pub config_path: PathBuf,
    /// Every environment variable looked up, with where its value came from.
    pub env_seen: std::cell::RefCell<Vec<(String, Option<String>)>>,
}

fn read(dir: &Path, name: &str) -> Option<Result<String, String>> {
    read_path(&dir.join(name))
}

fn read_path(path: &Path) -> Option<Result<String, String>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Some(Ok(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => Some(Err(format!("cannot read: {e}"))),
    }
}

impl Project {
    /// Reads the deployment files of `dir`; the holdfast config comes from `config` when
    /// given (a path relative to the current directory), else from `dir/holdfast.toml`.
    pub fn load(dir: &Path, config: Option<&Path>) -> Project {
        let absolute = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
        let dir = absolute.as_path();
        let railway_toml =
            read(dir, "railway.toml").map(|r| r.and_then(|t| railway::parse_toml(&t)));
        let railway_json =
            read(dir, "railway.json").map(|r| r.and_then(|t| railway::parse_json(&t)));
        let compose = COMPOSE_NAMES
            .iter()
            .filter_map(|name| {
                read(dir, name).map(|r| (name.to_string(), r.and_then(|t| compose::parse(&t))))
            })
            .collect();
        let env = read(dir, ".env").map(|r| r.map(|t| parse_dotenv(&t)));
        let mut project = Project {
            dir: dir.to_path_buf(),
            holdfast: None,
            railway_toml,
            railway_json,
            compose,
            env,
            config_path: config.map_or_else(|| dir.join("holdfast.toml"), Path::to_path_buf),
            env_seen: Default::default(),
        };
        let config_path = project.config_path.clone();
        let holdfast = read_path(&config_path).map(|r| {
            r.and_then(|text| {
                Config::from_toml(&text, &config_path, &|k| project.lookup(k))
                    .map_err(|e| describe(&e))
            })
        });
        project.holdfast = holdfast;
        project
    }

    /// An environment variable as the deployed app would see it: `.env`, then (for the
    /// Railway mount path) the single Railway volume's mount, which is what Railway sets
    /// in the deployment whatever the linting shell holds, then this process.
    fn lookup(&self, key: &str) -> Option<String> {
        self.lookup_from(key).map(|(value, _)| value)
    }

    /// [`Project::lookup`] with where the value came from, recorded for the report of
    /// what `lint` read ([`Project::environment`]).
    pub fn lookup_from(&self, key: &str) -> Option<(String, String)> {
        let from_file = self
            .env_pairs()
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| (v.clone(), ".env".to_string()));
        let found = from_file
            .or_else(|| {
                if key != RAILWAY_MOUNT_ENV {
                    return None;
                }
                let mounts: Vec<(String, &str)> = self
                    .railway()
                    .flat_map(|(name, c)| {
                        c.volumes
                            .iter()
                            .filter_map(move |v| v.mount_path.clone().map(|m| (m, name)))
                    })
                    .collect();
                match mounts.as_slice() {
                    [(m, name)] => Some((m.clone(), format!("the volume of {name}"))),
                    _ => None,
                }
            })
            .or_else(|| {
                std::env::var(key)
                    .ok()
                    .map(|v| (v, "this shell's environment".to_string()))
            });
        let mut seen = self.env_seen.borrow_mut();
        if !seen.iter().any(|(k, _)| k == key) {
            seen.push((
                key.to_string(),
                found.as_ref().map(|(_, from)| from.clone()),
            ));
        }
        found
    }

    /// The files read, relative to the project directory, in the order read.
    pub fn files(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.holdfast.is_some() {
            out.push(self.rel(&self.config_path));
        }
        if self.railway_toml.is_some() {
            out.push("railway.toml".to_string());
        }
        if self.railway_json.is_some() {
            out.push("railway.json".to_string());
        }
        out.extend(self.compose.iter().map(|(n, _)| n.clone()));
        if self.env.is_some() {
            out.push(".env".to_string());
        }
        out
    }

    /// The environment variables looked up (`RAILWAY_VOLUME_MOUNT_PATH` always), each as
    /// `NAME=value (from …)` for the mount path, `NAME set (from …)` for others (their
    /// values may be secrets), or `NAME unset`.
    pub fn environment(&self) -> Vec<String> {
        let mount = self.lookup_from(RAILWAY_MOUNT_ENV).map(|(v, _)| v);
        self.env_seen
            .borrow()
            .iter()
            .map(|(k, from)| match (from, k == RAILWAY_MOUNT_ENV) {
                (Some(from), true) => {
                    format!("{k}={} (from {from})", mount.clone().unwrap_or_default())
                }
                (Some(from), false) => format!("{k} set (from {from})"),
                (None, _) => format!("{k} unset"),
            })
            .collect()
    }

    pub fn env_pairs(&self) -> &[(String, String)] {
        match &self.env {
            Some(Ok(pairs)) => pairs,
            _ => &[],
        }
    }

    /// The parsed Railway configs with their file names.
    pub fn railway(&self) -> impl Iterator<Item = (&'static str, &RailwayConfig)> {
        [
            ("railway.toml", &self.railway_toml),
            ("railway.json", &self.railway_json),
        ]
        .into_iter()
        .filter_map(|(name, c)| match c {
            Some(Ok(c)) => Some((name, c)),
            _ => None,
        })
    }

    pub fn config(&self) -> Option<&Config> {
        self.holdfast.as_ref().and_then(|r| r.as_ref().ok())
    }

    pub fn composes(&self) -> impl Iterator<Item = (&str, &ComposeFile)> {
        self.compose
            .iter()
            .filter_map(|(n, c)| c.as_ref().ok().map(|c| (n.as_str(), c)))
    }

    /// A path for messages: relative to the project directory when inside it.
    pub fn rel(&self, path: &Path) -> String {
        match path.strip_prefix(&self.dir) {
            Ok(p) if p.as_os_str().is_empty() => ".".to_string(),
            Ok(p) => p.display().to_string(),
            Err(_) => path.display().to_string(),
        }
    }

    /// Every path a deployment file declares persistent: holdfast.toml volume paths,
    /// Railway mount paths, Compose mount targets, and `RAILWAY_VOLUME_MOUNT_PATH` in `.env`.
    pub fn persistent_paths(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        if let Some(c) = self.config() {
            out.extend(c.volumes.iter().map(|v| v.path.clone()));
        }
        for (_, c) in self.railway() {
            out.extend(
                c.volumes
                    .iter()
                    .filter_map(|v| v.mount_path.as_ref().map(PathBuf::from)),
            );
        }
        for (_, c) in self.composes() {
            for s in &c.services {
                let targets = s.mounts.iter().filter(|m| m.kind != MountKind::Tmpfs);
                out.extend(targets.map(|m| PathBuf::from(&m.target)));
            }
        }
        if let Some((_, v)) = self
            .env_pairs()
            .iter()
            .find(|(k, _)| k == RAILWAY_MOUNT_ENV)
        {
            out.push(PathBuf::from(v));
        }
        out
    }
}

fn describe(e: &ConfigError) -> String {
    match e {
        ConfigError::Invalid {
            line, key, message, ..
        } => {
            let at = line.map(|l| format!("line {l}: ")).unwrap_or_default();
            let key = key.as_ref().map(|k| format!("`{k}`: ")).unwrap_or_default();
            format!("{at}{key}{message}")
        }
        ConfigError::Read { source, .. } => format!("cannot read: {source}"),
    }
}
