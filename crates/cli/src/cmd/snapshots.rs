//! `holdfast snapshots`: lists snapshots, oldest first, filtered by tag, volume, host,
//! path, age or the newest N per volume; damaged snapshot objects are reported on
//! stderr and make the exit code 3. A snapshot made by `copy` (or changed by `tag`)
//! shows the id it copies (`original`). A snapshot flagged shrunk says so, with the
//! counts it is flagged for (`SHRUNK: 0 files where 86b7b026 had 3030`; the `shrunk`
//! object in `--json`).

use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use crate::context::{self, out, outln};
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
    out!("{}", holdfast_repo::snapshot::text::table(&list));
    Ok(exit::problems_if(!unreadable.is_empty()))
}
