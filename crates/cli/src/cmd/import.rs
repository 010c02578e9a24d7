//! `holdfast import FILE`: prints a holdfast.toml declaring the volumes of a railway.toml,
//! railway.json or docker-compose.yml; with `--json`, one document holding that text
//! (`{"source": FILE, "toml": TEXT}`).

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
pub async fn run(g: &GlobalArgs, args: ImportArgs) -> Result<ExitCode, Failure> {
    let text = holdfast_volume::import::import_file(&args.file).map_err(anyhow::Error::from)?;
    if g.json {
        let doc = serde_json::json!({"source": args.file, "toml": text});
        crate::context::outln!("{doc:#}");
    } else {
        print!("{text}");
    }
    Ok(ExitCode::SUCCESS)
}
