//! What `holdfast run` does before it starts the app, in order; the app starts only
//! when every step passes ([`prestart`]):
//!
//! 1. **Guard** ([`holdfast_volume::guard::enter`] with [`Door::Start`], the one every
//!    door calls): every `require_mount` volume mounted, every volume writable and below
//!    critical usage; an interrupted restore is finished or rolled back first, and a line
//!    says which. A refusal is one ERROR line per volume, a `guard_refused` notification,
//!    and [`Error::StartRefused`].
//! 2. **`restore_if_empty`**: a volume that holds nothing but holdfast's own state gets
//!    its whole latest snapshot back ([`holdfast_volume::restore::empty`]), and each
//!    replicated SQLite database in it goes on to its newest point when that is later
//!    than the snapshot ([`holdfast_volume::restore::point::restore_points_after`]);
//!    with no snapshot yet, a notice and a fresh start.
//! 3. **`restore_if_missing`**: a replicated SQLite database that is gone comes back at its
//!    newest point ([`holdfast_volume::restore::point::restore_missing_points`]); any
//!    other listed file from the volume's latest snapshot
//!    ([`holdfast_volume::restore::missing`]). When the repository cannot be opened the
//!    app is not started either: it must not start on an empty database while a backup
//!    of it may exist.
//! 4. **`[alerts] require_backups = true`**: when backups cannot run (no repository, no
//!    password, not initialised, unreachable, wrong password, no `[schedule] backup`, or
//!    no scheduler beside the app), the app is not started.
//!
//! Every line goes through [`crate::console`].

use holdfast_volume::config::{Config, Volume};
use holdfast_volume::guard::{self, Door, Refusal};
use holdfast_volume::restore::empty::{self, Refill};
use holdfast_volume::restore::missing::{self, Missing, MissingOptions};
use holdfast_volume::restore::point;
use holdfast_volume::swap::SwapOptions;

use crate::access::RepoAccess;
use crate::error::{Context as _, Error, Result};
use crate::notify::{Event, Notifier};

/// How [`prestart`] runs.
#[derive(Debug, Clone)]
pub struct PrestartOptions {
    /// The app's command, named in the refusals.
    pub app: String,
    /// Whether the scheduler runs beside the app (`run` without `--no-serve`); without
    /// it no backup runs, which `require_backups` counts as a reason.
    pub scheduler: bool,
}

/// The reason backups cannot run under `run --no-serve`.
pub const NO_SCHEDULER: &str =
    "run --no-serve: no scheduler runs beside the app, so no backup runs";

/// Runs the steps of the module doc; `Ok` when the app may start.
pub async fn prestart(
    config: &Config,
    access: &RepoAccess,
    notifier: &Notifier,
    opts: &PrestartOptions,
) -> Result<()> {
    let (refusals, recovered) = tokio::task::spawn_blocking({
        let config = config.clone();
        move || guard_all(&config, Door::Start)
    })
    .await?;
    for line in &recovered {
        crate::console::note(tracing::Level::INFO, line, "");
    }
    if !refusals.is_empty() {
        for r in &refusals {
            crate::console::note(
                tracing::Level::ERROR,
                &format!("refusing to start: {r}"),
                "",
            );
        }
        notifier.notify(Event::GuardRefused {
            reasons: refusals.iter().map(ToString::to_string).collect(),
        });
        return Err(Error::StartRefused {
            message: format!(
                "{} volume check(s) failed; {} was not started",
                refusals.len(),
                opts.app
            ),
        });
    }
    restore_empty(config, access).await?;
    restore_missing(config, access).await?;
    if config.alerts.require_backups {
        let mut problems = crate::protection::check(config, access).await;
        if !opts.scheduler {
            problems.push(NO_SCHEDULER.to_string());
        }
        if !problems.is_empty() {
            let line = format!(
                "backups cannot run ([alerts] require_backups = true): {}",
                problems.join("; ")
            );
            notifier.notify(Event::GuardRefused {
                reasons: vec![line.clone()],
            });
            return Err(Error::StartRefused {
                message: format!("refusing to start {}: {line}", opts.app),
            });
        }
    }
    Ok(())
}

/// The guard of `door` on every volume: the refusals, and what it recovered on the
/// volumes it let through.
pub fn guard_all(config: &Config, door: Door) -> (Vec<Refusal>, Vec<String>) {
    let mut refusals = Vec::new();
    let mut recovered = Vec::new();
    for v in &config.volumes {
        match guard::enter(v, door) {
            Ok(admitted) => recovered.extend(admitted.recovered),
            Err(r) => refusals.push(r),
        }
    }
    (refusals, recovered)
}

/// Restores the whole latest snapshot into every empty `restore_if_empty` volume, one
/// line per volume.
async fn restore_empty(config: &Config, access: &RepoAccess) -> Result<()> {
    let mut wanted = Vec::new();
    for v in config.volumes.iter().filter(|v| v.restore_if_empty) {
        let empty = empty::is_empty(&v.path)
            .with_context(|| format!("volume {}: listing {}", v.name, v.path.display()))?;
        if empty {
            wanted.push(v);
        }
    }
    if wanted.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = wanted.iter().map(|v| v.name.as_str()).collect();
    let repo = access.open().await.with_context(|| {
        format!(
            "volume {} is empty (restore_if_empty = true) and cannot be restored",
            names.join(", ")
        )
    })?;
    let repo = repo
        .load_index()
        .await
        .context("loading the repository index")?;
    for volume in wanted {
        let refill = empty::refill(&repo, volume, SwapOptions::standard(false))
            .await
            .map_err(|e| Error::Restore(Box::new(e)))?;
        match refill {
            Refill::NotEmpty => {}
            Refill::NoSnapshot => crate::console::note(
                tracing::Level::WARN,
                &format!(
                    "volume {} is empty and no snapshot of it exists yet: starting fresh",
                    volume.name
                ),
                "",
            ),
            Refill::Restored(r) => {
                crate::console::note(
                    tracing::Level::INFO,
                    &format!(
                        "volume {} was empty: restored snapshot {} of {}: {} files, {} in {:.1}s",
                        volume.name,
                        r.snapshot,
                        r.time.to_rfc3339(),
                        r.files,
                        indicatif::HumanBytes(r.bytes),
                        r.duration.as_secs_f64()
                    ),
                    "",
                );
                if let Some(note) = &r.note {
                    crate::console::note(tracing::Level::WARN, note, "");
                }
                // The snapshot's copy of a replicated database is older than its newest
                // point: the database goes on to that point.
                let swap = SwapOptions::standard(false);
                let points = point::restore_points_after(&repo, volume, &swap, r.time)
                    .await
                    .map_err(|e| Error::Restore(Box::new(e)))?;
                say_points(volume, &points);
            }
        }
    }
    Ok(())
}

/// One line per database brought to its newest point.
fn say_points(volume: &Volume, points: &[point::PointRestored]) {
    for p in points {
        crate::console::note(
            tracing::Level::INFO,
            &format!(
                "volume {}: restored database {} to its newest point, {} (transaction {})",
                volume.name,
                p.name,
                p.point
                    .reached
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                p.point.txid
            ),
            "",
        );
    }
}

/// Restores what `restore_if_missing` lists and is gone, one line per volume.
async fn restore_missing(config: &Config, access: &RepoAccess) -> Result<()> {
    let wanted: Vec<(&Volume, Vec<std::path::PathBuf>)> = config
        .volumes
        .iter()
        .map(|v| (v, guard::missing_files(v)))
        .filter(|(_, m)| !m.is_empty())
        .collect();
    if wanted.is_empty() {
        return Ok(());
    }
    let repo = access.open().await.with_context(|| {
        let all: Vec<String> = wanted
            .iter()
            .map(|(v, m)| {
                format!(
                    "{} ({})",
                    v.name,
                    crate::text::list(m.iter().map(|p| p.display()))
                )
            })
            .collect();
        format!(
            "missing on the volume and cannot be restored: {}",
            all.join("; ")
        )
    })?;
    let repo = repo
        .load_index()
        .await
        .context("loading the repository index")?;
    let opts = MissingOptions {
        swap: SwapOptions::standard(false),
    };
    for (volume, _) in &wanted {
        let points = point::restore_missing_points(&repo, volume, &opts.swap)
            .await
            .map_err(|e| Error::Restore(Box::new(e)))?;
        say_points(volume, &points);
    }
    for (volume, _) in wanted {
        let restored = missing::restore_missing(&repo, volume, &opts)
            .await
            .map_err(|e| Error::Restore(Box::new(e)))?;
        match restored {
            Missing::NoneMissing => {}
            Missing::NoSnapshot { missing } => crate::console::note(
                tracing::Level::WARN,
                &format!(
                    "volume {}: {} missing and no snapshot of the volume exists yet: starting fresh",
                    volume.name,
                    crate::text::list(missing.iter().map(|p| p.display()))
                ),
                "",
            ),
            Missing::Restored(r) => {
                if let Some(note) = &r.note {
                    crate::console::note(tracing::Level::WARN, note, "");
                }
                crate::console::note(
                    tracing::Level::INFO,
                    &format!(
                        "volume {}: restored {} from the snapshot of {}",
                        volume.name,
                        crate::text::list(r.files.iter().map(|p| p.display())),
                        r.time.to_rfc3339()
                    ),
                    "",
                );
            }
        }
    }
    Ok(())
}
