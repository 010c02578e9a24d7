//! `holdfast snapshots`: lists snapshots, oldest first; damaged snapshot objects are
//! reported on stderr and make the exit code 3.

use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use crate::context::{self, outln};
use crate::exit::{self, Failure};
use crate::global::GlobalArgs;

/// Flags of `holdfast snapshots`.
#[derive(Debug, Args)]
pub struct SnapshotsArgs {
    /// Only snapshots of this volume.
    #[arg(long, value_name = "NAME")]
    pub volume: Option<String>,
}

/// Runs `holdfast snapshots`.
pub async fn run(g: &GlobalArgs, args: SnapshotsArgs) -> Result<ExitCode, Failure> {
    let repo = context::open_repo(g).await?;
    let (mut list, unreadable) = repo
        .snapshots_lenient()
        .await
        .context("reading snapshots")?;
    for (key, e) in &unreadable {
        crate::global::stderr_note(
            tracing::Level::WARN,
            &format!("damaged snapshot {key}: {e}"),
            "",
        );
    }
    if let Some(v) = &args.volume {
        list.retain(|(_, s)| s.volume.as_deref() == Some(v.as_str()));
    }
    if g.json {
        let out: Vec<_> = list
            .iter()
            .map(|(id, s)| {
                serde_json::json!({
                    "id": id.to_hex(), "time": s.time, "volume": s.volume, "root": s.root,
                    "tags": s.tags, "files": s.files, "size": s.size, "added": s.added,
                    "incomplete": s.incomplete, "hostname": s.hostname,
                })
            })
            .collect();
        outln!(
            "{}",
            serde_json::to_string_pretty(&out).context("encoding snapshots")?
        );
        return Ok(exit::problems_if(!unreadable.is_empty()));
    }
    outln!(
        "{:<10} {:<20} {:<12} {:>8} {:>10} {:>10}  {}",
        "ID",
        "TIME",
        "VOLUME",
        "FILES",
        "SIZE",
        "ADDED",
        "ROOT / TAGS"
    );
    for (id, s) in &list {
        outln!(
            "{:<10} {:<20} {:<12} {:>8} {:>10} {:>10}  {}{}{}",
            id.short(),
            s.time.format("%Y-%m-%d %H:%M:%S"),
            s.volume.as_deref().unwrap_or("-"),
            s.files,
            indicatif::HumanBytes(s.size).to_string(),
            indicatif::HumanBytes(s.added).to_string(),
            s.root,
            if s.tags.is_empty() {
                String::new()
            } else {
                format!(" [{}]", s.tags.join(","))
            },
            if s.incomplete { " (incomplete)" } else { "" },
        );
    }
    Ok(exit::problems_if(!unreadable.is_empty()))
}
