//! `holdfast restore SNAPSHOT --target DIR`: the snapshot root's contents into DIR;
//! exit 3 when some entries were damaged (they are listed, the rest is restored).
//! `--in-place --yes` restores into the snapshot's own volume ([`in_place`]);
//! `--database NAME --yes` loads one database back ([`database`]).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use holdfast_repo::RestoreOptions;

use crate::context::{self, outln};
use crate::exit::{self, Failure};
use crate::global::GlobalArgs;

mod database;
mod in_place;

/// Flags of `holdfast restore`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("where").required(true).args(["target", "in_place", "database"])))]
pub struct RestoreArgs {
    /// Snapshot: id prefix, `latest` or `latest:VOLUME`.
    pub snapshot: String,
    /// Directory that receives the snapshot root's contents.
    #[arg(long, value_name = "DIR")]
    pub target: Option<PathBuf>,
    /// Restore into the snapshot's own volume: stage, verify, then swap (needs --yes).
    #[arg(long)]
    pub in_place: bool,
    /// Load this configured database back from the snapshot (needs --yes).
    #[arg(long, value_name = "NAME")]
    pub database: Option<String>,
    /// Confirm a restore that replaces live data.
    #[arg(long)]
    pub yes: bool,
    /// Only paths matching this glob, or inside a matching directory (repeatable).
    #[arg(long = "include", value_name = "GLOB")]
    pub include: Vec<String>,
}

/// Runs `holdfast restore`.
pub async fn run(g: &GlobalArgs, args: RestoreArgs) -> Result<ExitCode, Failure> {
    let repo = context::open_indexed(g).await?;
    let (id, snap) = repo
        .find_snapshot(&args.snapshot)
        .await
        .map_err(context::fail)?;
    if (args.in_place || args.database.is_some()) && !args.yes {
        return Err(Failure::usage(anyhow::anyhow!(
            "this replaces live data: add --yes to confirm (stop the app first)"
        )));
    }
    if let Some(name) = &args.database {
        return database::run(g, &repo, &snap, name).await;
    }
    let Some(target) = args.target.clone() else {
        return in_place::run(g, &repo, id, &snap, &args.include).await;
    };
    let opts = RestoreOptions {
        target: target.clone(),
        include: args.include,
    };
    let started = std::time::Instant::now();
    let s = holdfast_repo::restore(&repo, &snap, &opts)
        .await
        .with_context(|| format!("restoring snapshot {} to {}", id.short(), target.display()))?;
    for d in &s.damaged {
        eprintln!("holdfast: damaged: {}: {}", d.path, d.error);
    }
    if g.json {
        let damaged: Vec<_> = s
            .damaged
            .iter()
            .map(|d| serde_json::json!({"path": d.path, "error": d.error}))
            .collect();
        let out = serde_json::json!({
            "snapshot": id.to_hex(), "files": s.files, "dirs": s.dirs, "symlinks": s.symlinks,
            "bytes": s.bytes, "damaged": damaged, "duration_s": started.elapsed().as_secs_f64(),
        });
        outln!("{out}");
    } else if !g.quiet {
        outln!(
            "restored snapshot {} to {}: {} files, {} dirs, {} symlinks, {}{}",
            id.short(),
            target.display(),
            s.files,
            s.dirs,
            s.symlinks,
            indicatif::HumanBytes(s.bytes),
            if s.damaged.is_empty() {
                String::new()
            } else {
                format!("; {} DAMAGED", s.damaged.len())
            }
        );
    }
    Ok(exit::problems_if(!s.damaged.is_empty()))
}
