//! `holdfast status`: the status of every volume of holdfast.toml, assembled by the
//! agent's one assembler ([`holdfast_agent::protection::status`]: the probe, the last
//! backup, failed or not, and the alerts), printed as a table or `--json`; exit 3 when
//! any volume has an alert.

use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;
use holdfast_volume::config::Config;
use holdfast_volume::status::text;

use crate::exit::{self, Failure};
use crate::global::GlobalArgs;

/// Flags of `holdfast status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Only this volume (repeatable).
    #[arg(long = "volume", value_name = "NAME")]
    pub volumes: Vec<String>,
}

/// Runs `holdfast status`.
pub async fn run(g: &GlobalArgs, args: StatusArgs) -> Result<ExitCode, Failure> {
    let mut config = load_config(g)?;
    if !args.volumes.is_empty() {
        for name in &args.volumes {
            if config.volume(name).is_none() {
                return Err(Failure::usage(anyhow::anyhow!(
                    "no volume named `{name}` in {}",
                    g.config.display()
                )));
            }
        }
        config.volumes.retain(|v| args.volumes.contains(&v.name));
    }
    let access = crate::context::access(g)?;
    let statuses = holdfast_agent::protection::status::status_once(&config, &access).await;
    if g.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&statuses).context("encoding status")?
        );
    } else {
        print!("{}", text::render(&statuses, chrono::Utc::now()));
    }
    Ok(exit::problems_if(statuses.iter().any(|s| !s.is_healthy())))
}

/// Loads holdfast.toml and insists on at least one volume.
fn load_config(g: &GlobalArgs) -> anyhow::Result<Config> {
    let config = crate::context::load_config(g)?;
    if config.volumes.is_empty() {
        bail!("{} declares no [[volumes]]", g.config.display());
    }
    Ok(config)
}
