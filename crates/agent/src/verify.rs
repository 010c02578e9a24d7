//! One verify run, for `holdfast verify` and the scheduled `verify` job alike: the
//! repository's structure (and, when asked, its data) through [`holdfast_repo::verify`],
//! then, with a restore test, a drill of each volume's latest snapshot
//! ([`holdfast_volume::drill`]) and of each replicated SQLite database's newest point.
//! Every drill runs even after one failed, so the report
//! lists all the damage; [`VerifyRun::event`] is the one notification both send.

use std::time::Duration;

use holdfast_repo::{Repository, VerifyOptions, VerifyReport};
use holdfast_volume::config::Config;
use holdfast_volume::drill::{self, DrillReport, PointDrill};

use crate::error::{Error, Result};
use crate::notify::Event;
use crate::text::count;

/// What a verify run checks besides the repository itself.
#[derive(Default)]
pub struct VerifyRunOptions<'a> {
    /// How the repository is read (structure only, all data, or a subset).
    pub verify: VerifyOptions,
    /// Restore-test the latest snapshot of each of these volumes (each root when the
    /// config declares none); `None` runs no drill.
    pub drill: Option<Option<&'a Config>>,
}

/// What a verify run found.
#[derive(Debug)]
pub struct VerifyRun {
    /// The repository check.
    pub report: VerifyReport,
    /// One report per drill, in the order they ran.
    pub drills: Vec<DrillReport>,
    /// One report per replicated SQLite database restored at its newest point.
    pub points: Vec<PointDrill>,
}

impl VerifyRun {
    /// The `--json` document of `holdfast verify`: the verify report, with the restore
    /// tests and the point tests when `restore_test` ran them.
    pub fn to_json(&self, restore_test: bool) -> serde_json::Result<serde_json::Value> {
        let mut doc = serde_json::to_value(&self.report)?;
        if let (true, Some(m)) = (restore_test, doc.as_object_mut()) {
            m.insert("restore_tests".into(), serde_json::to_value(&self.drills)?);
            m.insert("point_tests".into(), serde_json::to_value(&self.points)?);
        }
        Ok(doc)
    }

    /// Problems found by the check and the drills together.
    pub fn problems(&self) -> usize {
        self.report.problems.len()
            + self.drills.iter().map(|d| d.problems.len()).sum::<usize>()
            + self.points.iter().map(|d| d.problems.len()).sum::<usize>()
    }

    /// The drills' measured restore time, summed; `None` when no drill ran.
    pub fn restore_time(&self) -> Option<Duration> {
        (!self.drills.is_empty()).then(|| {
            self.drills
                .iter()
                .map(|d| Duration::from_secs_f64(d.duration_s.max(0.0)))
                .sum()
        })
    }

    /// The counts, as one line: `3 snapshots, 2 packs, 40 blobs: no problems` (or the
    /// number of problems and the first), then each drill as [`drill::describe`] says it.
    pub fn summary(&self) -> String {
        let r = &self.report;
        let mut out = format!(
            "{}, {}, {}: ",
            count(r.snapshots, "snapshot"),
            count(r.packs, "pack"),
            count(r.blobs, "blob")
        );
        let first = r
            .problems
            .first()
            .map(|p| format!("{}: {}", p.object, p.error))
            .or_else(|| {
                self.drills.iter().find_map(|d| {
                    let p = d.problems.first()?;
                    let short = d.snapshot.get(..8).unwrap_or(&d.snapshot);
                    Some(format!("restore test of {short}: {p}"))
                })
            })
            .or_else(|| {
                self.points.iter().find_map(|d| {
                    let p = d.problems.first()?;
                    Some(format!("point restore test of {}: {p}", d.database))
                })
            });
        match first {
            None => out.push_str("no problems"),
            Some(first) => out.push_str(&format!(
                "{}, first: {first}",
                count(self.problems(), "problem")
            )),
        }
        for d in &self.drills {
            out.push_str("; ");
            out.push_str(&drill::describe(d));
        }
        for d in &self.points {
            out.push_str("; ");
            out.push_str(&drill::describe_point(d));
        }
        out
    }

    /// The notification of this run.
    pub fn event(&self) -> Event {
        Event::VerifyFinished {
            ok: self.problems() == 0,
            problems: self.problems(),
            restore_time: self.restore_time(),
            summary: holdfast_volume::freshness::one_line(&self.summary()),
        }
    }

    /// `Ok` with the summary when nothing was found, [`Error::Problems`] otherwise (the
    /// scheduled job's outcome).
    pub fn into_result(self) -> Result<String> {
        if self.problems() == 0 {
            Ok(self.summary())
        } else {
            Err(Error::Problems {
                message: self.summary(),
            })
        }
    }
}

/// Checks the repository, then runs the drills `opts` asks for (with a config, each
/// replicated SQLite database is also restored at its newest point); `on_drill` sees each
/// snapshot drill as it finishes (the command prints them as they come). An error is a check that
/// could not run at all; damage found is in the returned [`VerifyRun`].
pub async fn verify_and_drill(
    repo: &Repository,
    opts: VerifyRunOptions<'_>,
    mut on_drill: impl FnMut(&DrillReport),
) -> Result<VerifyRun> {
    let report = holdfast_repo::verify(repo, &opts.verify).await?;
    let (mut drills, mut points) = (Vec::new(), Vec::new());
    if let Some(config) = opts.drill {
        let indexed = repo.load_index().await?;
        for (id, snap) in drill::targets(&indexed, config).await? {
            let d = drill::restore_test(&indexed, id, &snap, None).await?;
            on_drill(&d);
            drills.push(d);
        }
        if let Some(config) = config {
            points = drill::point_tests(repo, config, None).await;
        }
    }
    Ok(VerifyRun {
        report,
        drills,
        points,
    })
}
