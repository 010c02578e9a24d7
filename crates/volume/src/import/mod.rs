//! `holdfast import`: turns the volume declarations of a `railway.toml`, `railway.json` or
//! `docker-compose.yml` into `[[volumes]]` of a holdfast.toml, with comments saying which
//! service mounts each volume, where its data lives on the host, and (from service image
//! names such as `postgres` or `redis`) which databases to dump rather than copy.
//!
//! The parsers of the three formats live in [`railway`] and [`compose`]; `lint` reuses
//! them.

pub mod compose;
pub mod railway;
mod render;

use std::path::{Path, PathBuf};

/// The kinds of file `import` and `lint` understand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// `railway.toml`.
    RailwayToml,
    /// `railway.json`.
    RailwayJson,
    /// `docker-compose.yml`, `compose.yaml` and friends.
    Compose,
}

impl SourceKind {
    /// Every kind, with the file names it is recognised by, for messages.
    pub const DESCRIPTION: &'static str = "railway.toml, railway.json, docker-compose.yml \
        (also docker-compose.yaml, compose.yml, compose.yaml, or any *.toml, *.json, *.yml, \
        *.yaml file of those shapes)";

    /// Recognises a file by its name, then by its extension.
    pub fn detect(path: &Path) -> Option<SourceKind> {
        let name = path.file_name()?.to_str()?.to_ascii_lowercase();
        if name.starts_with("railway") && name.ends_with(".toml") {
            return Some(SourceKind::RailwayToml);
        }
        if name.starts_with("railway") && name.ends_with(".json") {
            return Some(SourceKind::RailwayJson);
        }
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "yml" | "yaml" => Some(SourceKind::Compose),
            "toml" => Some(SourceKind::RailwayToml),
            "json" => Some(SourceKind::RailwayJson),
            _ => None,
        }
    }
}

/// Why a file could not be imported.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file name does not say which kind of file it is.
    #[error("{}: unknown kind of file; holdfast imports {}", path.display(), SourceKind::DESCRIPTION)]
    UnknownKind {
        /// The file.
        path: PathBuf,
    },
    /// The file is not valid for its kind.
    #[error("{}: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the line when known.
        message: String,
    },
    /// The file declares no volume.
    #[error("{}: declares no volumes; nothing to import", path.display())]
    NoVolumes {
        /// The file.
        path: PathBuf,
    },
}

/// Reads `path` and returns holdfast.toml text declaring its volumes.
pub fn import_file(path: &Path) -> Result<String, ImportError> {
    let kind =
        SourceKind::detect(path).ok_or_else(|| ImportError::UnknownKind { path: path.into() })?;
    let text = std::fs::read_to_string(path).map_err(|source| ImportError::Read {
        path: path.into(),
        source,
    })?;
    import_text(kind, &text, path)
}

/// Converts the text of a file of `kind`; `path` names it in messages and comments.
pub fn import_text(kind: SourceKind, text: &str, path: &Path) -> Result<String, ImportError> {
    let parse_err = |message: String| ImportError::Parse {
        path: path.into(),
        message,
    };
    let label = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let out = match kind {
        SourceKind::RailwayToml | SourceKind::RailwayJson => {
            let config = if kind == SourceKind::RailwayToml {
                railway::parse_toml(text)
            } else {
                railway::parse_json(text)
            }
            .map_err(parse_err)?;
            if config.volumes.is_empty() {
                return Err(ImportError::NoVolumes { path: path.into() });
            }
            render::railway(&config, &label)
        }
        SourceKind::Compose => {
            let file = compose::parse(text).map_err(parse_err)?;
            if file.volumes.is_empty() {
                return Err(ImportError::NoVolumes { path: path.into() });
            }
            render::compose(&file, &label)
        }
    };
    Ok(out)
}

/// A database engine guessed from a container image name, such as `postgres:16-alpine`
/// or `docker.io/bitnami/redis`.
pub fn database_from_image(image: &str) -> Option<&'static str> {
    let last = image.rsplit('/').next().unwrap_or(image);
    let base = last
        .split([':', '@'])
        .next()
        .unwrap_or(last)
        .to_ascii_lowercase();
    match base.as_str() {
        "postgres" | "postgis" | "timescaledb" | "pgvector" | "postgresql" => Some("postgres"),
        "redis" | "valkey" | "keydb" | "redis-stack" | "redis-stack-server" => Some("redis"),
        "mysql" | "mariadb" => Some("mysql"),
        "mongo" | "mongodb" => Some("mongodb"),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
