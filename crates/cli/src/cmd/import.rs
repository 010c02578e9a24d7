//! `holdfast import FILE`: prints a holdfast.toml declaring the volumes of a railway.toml,
//! railway.json or docker-compose.yml.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::exit::Failure;
use crate::global::GlobalArgs;

/// Flags of `holdfast import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// railway.toml, railway.json or docker-compose.yml (compose.yaml…).
    pub file: PathBuf,
}

/// Runs `holdfast import`.
pub async fn run(_g: &GlobalArgs, args: ImportArgs) -> Result<ExitCode, Failure> {
    let text = holdfast_volume::import::import_file(&args.file).map_err(anyhow::Error::from)?;
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}
