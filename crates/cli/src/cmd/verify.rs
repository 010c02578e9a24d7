//! `holdfast verify [--read-data | --read-data-subset N/M|N%] [--restore-test]`: checks
//! the repository; exit 3 when
//! damage is found, each problem listed with the paths and snapshots it affects.
//! `--restore-test` then restores the latest snapshot of each volume (or of each root)
//! into a temporary directory and checks it ([`holdfast_volume::drill`]). The result,
//! with the drill's measured restore time, goes to the `[[notify]]` targets.

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use holdfast_agent::verify::{VerifyRunOptions, verify_and_drill};
use holdfast_repo::VerifyOptions;
use holdfast_repo::verify::text;

use crate::context::{self, out, outln};
use crate::exit::{self, Failure};
use crate::global::GlobalArgs;

/// Flags of `holdfast verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Also read every pack back and authenticate every blob.
    #[arg(long)]
    pub read_data: bool,
    /// Read back only a slice of the packs: N/M (part N of M; 1/M … M/M cover all) or
    /// N% (a random N percent), so a large repository is checked over several runs.
    #[arg(long, value_name = "N/M|N%", conflicts_with = "read_data")]
    pub read_data_subset: Option<String>,
    /// Also restore the latest snapshot of each volume into a temporary directory, check
    /// every file and database in it, and report the time it took.
    #[arg(long)]
    pub restore_test: bool,
}

/// Runs `holdfast verify`.
pub async fn run(g: &GlobalArgs, args: VerifyArgs) -> Result<ExitCode, Failure> {
    let subset = match &args.read_data_subset {
        Some(text) => Some(holdfast_repo::Subset::parse(text).map_err(Failure::usage)?),
        None => None,
    };
    let repo = context::open_repo(g).await?;
    // SIGINT/SIGTERM stop the verify and remove its lock.
    let cancel = tokio_util::sync::CancellationToken::new();
    crate::interrupt::Interrupt::cancelling(cancel.clone());
    let progress = std::sync::Arc::new(holdfast_repo::Progress::default());
    let reads = args.read_data || subset.is_some();
    let bar = reads
        .then(|| crate::progress::show(g, progress.clone(), crate::progress::Unit::Items("packs")))
        .flatten();
    // The drill needs the volumes; the notification only the [[notify]] targets, so
    // without --restore-test an unreadable config only means no notification.
    let config = match holdfast_volume::config::Config::load_optional(&g.config) {
        Ok(c) => c,
        Err(e) if args.restore_test => {
            return Err(anyhow::Error::from(e)
                .context(format!("reading {}", g.config.display()))
                .into());
        }
        Err(_) => None,
    };
    let opts = VerifyRunOptions {
        verify: VerifyOptions {
            read_data: args.read_data,
            read_data_subset: subset,
            cancel,
            progress: Some(progress),
        },
        drill: args.restore_test.then_some(config.as_ref()),
    };
    // Each drill is printed as it finishes; a broken stdout shows in the lines after.
    let print_drill = |d: &holdfast_volume::drill::DrillReport| {
        if g.json {
            return;
        }
        let short = d.snapshot.get(..8).unwrap_or(&d.snapshot);
        let mut out = std::io::stdout().lock();
        for p in &d.problems {
            let _ = writeln!(out, "RESTORE TEST {short}: {p}");
        }
        if !g.quiet {
            let _ = writeln!(out, "{}", holdfast_volume::drill::describe(d));
        }
    };
    let run = verify_and_drill(&repo, opts, print_drill).await;
    drop(bar);
    let run = run.context("verifying the repository")?;
    if args.restore_test && run.drills.is_empty() && run.points.is_empty() {
        return Err(anyhow::anyhow!("no snapshot to restore-test").into());
    }
    let report = &run.report;
    if g.json {
        let doc = run.to_json(args.restore_test).context("encoding report")?;
        outln!(
            "{}",
            serde_json::to_string_pretty(&doc).context("encoding report")?
        );
    } else {
        out!("{}", text::problems(report));
        if !g.quiet {
            outln!("{}", text::counts(report, reads));
        }
    }
    for d in run
        .points
        .iter()
        .filter(|d| !g.json && (!g.quiet || !d.problems.is_empty()))
    {
        outln!("{}", holdfast_volume::drill::describe_point(d));
    }
    if let Some(config) = &config {
        let notifier = holdfast_agent::notify::Notifier::new(&config.notify);
        notifier.notify(run.event());
        notifier.flush(crate::common::FLUSH_LIMIT).await;
    }
    Ok(exit::problems_if(run.problems() > 0))
}
