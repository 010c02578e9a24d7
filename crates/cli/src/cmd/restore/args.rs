//! The flags of `holdfast restore` and how they map to the repository's restore
//! options (`--overwrite`, `--time`).

use std::path::PathBuf;

use clap::Args;
use holdfast_repo::restore::Overwrite;

/// Flags of `holdfast restore`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("where").required(true).multiple(true).args(["target", "in_place", "database"])))]
pub struct RestoreArgs {
    /// Snapshot: id prefix, `latest`, `latest:VOLUME` or `latest:/PATH`, each with an
    /// optional `~N`. A plain `latest` in a repository holding several volumes or paths
    /// is refused unless holdfast.toml configures one volume (then that one is used).
    pub snapshot: String,
    /// Directory that receives the snapshot root's contents.
    #[arg(long, value_name = "DIR")]
    #[arg(conflicts_with = "in_place")]
    pub target: Option<PathBuf>,
    /// Restore into the configured volume the snapshot is of: stage, verify, then swap
    /// through the journal (needs --yes).
    #[arg(long)]
    pub in_place: bool,
    /// Load this configured database back from the snapshot (needs --yes).
    #[arg(long, value_name = "NAME", conflicts_with = "in_place")]
    pub database: Option<String>,
    /// With --database: the SQLite database as of this time (RFC 3339), replayed from its
    /// point-in-time replication (`replicate` in holdfast.toml). Without it, a
    /// replicated database restored from `latest…` comes back at its newest point.
    #[arg(long, value_name = "RFC3339", requires = "database", value_parser = parse_time)]
    pub time: Option<chrono::DateTime<chrono::Utc>>,
    /// Confirm a restore that replaces live data.
    #[arg(long)]
    pub yes: bool,
    /// With --in-place or --database: keep the replaced data in the volume's
    /// `.holdfast/kept/` instead of deleting it (the path is printed).
    #[arg(long)]
    pub keep_old: bool,
    /// Only paths matching this glob, or inside a matching directory (repeatable).
    #[arg(long = "include", value_name = "GLOB")]
    pub include: Vec<String>,
    /// With --target: what to do with files already in DIR (as restic 0.17). Without it a
    /// non-empty DIR is refused.
    #[arg(long, value_enum, value_name = "MODE", requires = "target")]
    pub overwrite: Option<OverwriteArg>,
    /// With --target: print what would be written, overwritten and skipped (the paths
    /// with -v); with --database of a replicated database: the base, the segments and the
    /// point it would reach. Writes nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Parses `--time`: an RFC 3339 time.
fn parse_time(s: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|e| format!("{s:?} is not an RFC 3339 time (2026-12-07T14:30:00Z): {e}"))
}

/// `--overwrite` modes.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum OverwriteArg {
    /// Overwrite every existing file.
    Always,
    /// Skip files whose size and mtime (or content) match the snapshot; overwrite others.
    IfChanged,
    /// Keep existing files; restore only the missing ones.
    Never,
}

impl From<OverwriteArg> for Overwrite {
    fn from(a: OverwriteArg) -> Overwrite {
        match a {
            OverwriteArg::Always => Overwrite::Always,
            OverwriteArg::IfChanged => Overwrite::IfChanged,
            OverwriteArg::Never => Overwrite::Never,
        }
    }
}
