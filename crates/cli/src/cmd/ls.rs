//! `holdfast ls SNAPSHOT [PATH]`: lists the entries of a snapshot.

use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use holdfast_repo::LsOptions;
use holdfast_repo::tree::NodeType;

use crate::context::{self, outln};
use crate::exit::Failure;
use crate::global::GlobalArgs;

/// Flags of `holdfast ls`.
#[derive(Debug, Args)]
pub struct LsArgs {
    /// Snapshot: id prefix, `latest`, `latest:VOLUME`, `latest:/PATH`, each with an
    /// optional `~N`.
    pub snapshot: String,
    /// Only this path (relative to the snapshot root) and what is below it.
    pub path: Option<String>,
}

/// Runs `holdfast ls`.
pub async fn run(g: &GlobalArgs, args: LsArgs) -> Result<ExitCode, Failure> {
    let repo = context::open_indexed(g).await?;
    let (_, snap) = crate::select::find(g, &repo, &args.snapshot, None).await?;
    let entries = holdfast_repo::ls(&repo, &snap, &LsOptions { path: args.path })
        .await
        .map_err(context::fail)?;
    if g.json {
        let out: Vec<_> = entries
            .iter()
            .map(|e| {
                let n = &e.node;
                serde_json::json!({
                    "path": e.path.to_string_lossy(), "type": n.kind, "size": n.size,
                    "mode": n.mode & 0o7777, "uid": n.uid, "gid": n.gid, "mtime_ns": n.mtime_ns,
                    "target": n.target,
                })
            })
            .collect();
        outln!(
            "{}",
            serde_json::to_string_pretty(&out).context("encoding entries")?
        );
        return Ok(ExitCode::SUCCESS);
    }
    for e in &entries {
        let n = &e.node;
        let (t, suffix) = match n.kind {
            NodeType::Dir => ('d', "/".to_owned()),
            NodeType::File => ('-', String::new()),
            NodeType::Symlink => ('l', format!(" -> {}", n.target.as_deref().unwrap_or(""))),
        };
        outln!(
            "{t}{:04o} {:>12}  {}{suffix}",
            n.mode & 0o7777,
            n.size,
            e.path.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
