//! `holdfast snapshots`: lists snapshots, oldest first, filtered by tag, volume, host,
//! path, age or the newest N per volume; damaged snapshot objects are reported on
//! stderr and make the exit code 3. A snapshot made by `copy` (or changed by `tag`)
//! shows the id it copies (`original`). A snapshot flagged shrunk says so, with the
//! counts it is flagged for (`SHRUNK: 0 files where 86b7b026 had 3030`; the `shrunk`
//! object in `--json`).

use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use crate::context::{self, outln};
use crate::exit::{self, Failure};
use crate::filter::FilterArgs;
use crate::global::GlobalArgs;

/// Flags of `holdfast snapshots`.
#[derive(Debug, Args)]
pub struct SnapshotsArgs {
    #[command(flatten)]
    pub filter: FilterArgs,
}

/// Runs `holdfast snapshots`.
pub async fn run(g: &GlobalArgs, args: SnapshotsArgs) -> Result<ExitCode, Failure> {
    let filter = args.filter.filter()?;
    let repo = context::open_repo(g).await?;
    let (list, unreadable) = repo
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
    let list = filter.apply(list);
    if g.json {
        let out: Vec<_> = list.iter().map(|(id, s)| s.summary(*id)).collect();
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
            "{:<10} {:<20} {:<12} {:>8} {:>10} {:>10}  {}{}{}{}{}",
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
            s.original
                .map(|o| format!(" (original {})", o.short()))
                .unwrap_or_default(),
            s.shrunk
                .as_ref()
                .map(|f| format!(
                    " (SHRUNK: {} files, {} where {} had {} files, {})",
                    f.files_after,
                    indicatif::HumanBytes(f.size_after),
                    f.reference.short(),
                    f.files_before,
                    indicatif::HumanBytes(f.size_before)
                ))
                .unwrap_or_default(),
        );
    }
    Ok(exit::problems_if(!unreadable.is_empty()))
}
