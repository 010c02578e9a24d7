//! The flags of `holdfast backup`.

use std::path::PathBuf;

use clap::Args;

/// Flags of `holdfast backup`.
#[derive(Debug, Args)]
pub struct BackupArgs {
    /// Directories (or files) to back up; each becomes one snapshot. Without paths, every
    /// volume of holdfast.toml (or those named with --volume).
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Back up only this configured volume (repeatable).
    #[arg(long = "volume", value_name = "NAME", conflicts_with = "paths")]
    pub volumes: Vec<String>,
    /// Tag the snapshots (repeatable).
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Snapshot time instead of now (RFC 3339).
    #[arg(long, value_name = "RFC3339")]
    pub time: Option<chrono::DateTime<chrono::FixedOffset>>,
    /// Leave out entries matching a glob (a name at any depth, or a path with `/`).
    #[arg(long = "exclude", value_name = "GLOB")]
    pub excludes: Vec<String>,
}
