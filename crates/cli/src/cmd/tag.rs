//! `holdfast tag SNAPSHOT… --add/--remove/--set TAG`: changes tags by rewriting the
//! snapshot objects ([`holdfast_repo::tag`], restic's semantics). `--remove shrunk`
//! also clears the shrunk flag: the user accepts that the files are really gone.

use std::process::ExitCode;

use clap::Args;
use holdfast_repo::tools::TagOptions;

use crate::context::{self, out, outln};
use crate::exit::Failure;
use crate::global::GlobalArgs;

/// Flags of `holdfast tag`.
#[derive(Debug, Args)]
pub struct TagArgs {
    /// Snapshots (id prefix, latest, latest:VOLUME, latest~N).
    #[arg(value_name = "SNAPSHOT", required = true)]
    pub snapshots: Vec<String>,
    /// Add this tag (repeat, or a,b).
    #[arg(long, value_name = "TAG")]
    pub add: Vec<String>,
    /// Remove this tag (repeat, or a,b). `--remove shrunk` also clears the snapshot's
    /// shrunk flag (accepts a real deletion).
    #[arg(long, value_name = "TAG")]
    pub remove: Vec<String>,
    /// Replace every tag with these (repeat, or a,b; `--set ''` clears).
    #[arg(long, value_name = "TAG")]
    pub set: Vec<String>,
}

fn split(v: &[String]) -> Vec<String> {
    v.iter()
        .flat_map(|t| t.split(','))
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Runs `holdfast tag`.
pub async fn run(g: &GlobalArgs, args: TagArgs) -> Result<ExitCode, Failure> {
    let repo = context::open_repo(g).await?;
    let opts = TagOptions {
        snapshots: args.snapshots,
        add: split(&args.add),
        remove: split(&args.remove),
        set: (!args.set.is_empty()).then(|| split(&args.set)),
        ..TagOptions::default()
    };
    let report = holdfast_repo::tag(&repo, &opts)
        .await
        .map_err(context::fail)?;
    if g.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&report).map_err(anyhow::Error::from)?
        );
    } else if !g.quiet {
        out!("{}", holdfast_repo::tools::text::tag(&report));
    }
    Ok(ExitCode::SUCCESS)
}
