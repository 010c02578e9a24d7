//! `holdfast lint [DIR]`: checks holdfast.toml (or `--config FILE`), railway.toml / railway.json, Compose files
//! and `.env` in DIR for the ways data gets lost; exit 3 when any finding is an error.
//! stderr names the files it read and the environment it consulted.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use holdfast_volume::lint::text::{describe, render};
use holdfast_volume::lint::{has_errors, lint_with_inputs};

use crate::exit::{self, Failure};
use crate::global::GlobalArgs;

/// Flags of `holdfast lint`.
#[derive(Debug, Args)]
pub struct LintArgs {
    /// Project directory holding the deployment files.
    #[arg(default_value = ".")]
    pub dir: PathBuf,
}

/// Runs `holdfast lint`.
pub async fn run(g: &GlobalArgs, args: LintArgs) -> Result<ExitCode, Failure> {
    let dir = args.dir;
    // `--config FILE` (or HOLDFAST_CONFIG) names the holdfast config; else DIR's own.
    let config = (g.config != std::path::Path::new("holdfast.toml")).then(|| g.config.clone());
    let (findings, inputs) =
        tokio::task::spawn_blocking(move || lint_with_inputs(&dir, config.as_deref()))
            .await
            .context("lint panicked")?
            .map_err(anyhow::Error::from)?;
    if g.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&findings).context("encoding findings")?
        );
    } else if !g.quiet || has_errors(&findings) {
        print!("{}", render(&findings));
        // What the verdict is about: the files read, the environment consulted.
        if !g.quiet {
            eprint!("{}", describe(&inputs));
        }
    }
    Ok(exit::problems_if(has_errors(&findings)))
}
