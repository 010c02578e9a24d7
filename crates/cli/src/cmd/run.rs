//! `holdfast run [--listen ADDR] [--no-serve] -- CMD…`: the start command of an app.
//!
//! 1. Guard ([`holdfast_volume::guard::enter`], the one every door calls): every
//!    `require_mount` volume mounted, every volume writable and below critical usage;
//!    otherwise print why and exit 1 without starting CMD.
//! 2. Recovery: an interrupted restore on any volume (a swap journal in its
//!    `.holdfast/swap/`) is finished or rolled back by the same guard, and stderr says
//!    which; then one line per volume says what is protected and how
//!    ([`holdfast_agent::start`]).
//!    `restore_if_missing`: a listed file missing from its volume is restored from the
//!    volume's latest snapshot (staged, then swapped in) before CMD starts; when it cannot be (no repository, the
//!    repository fails) CMD is not started either, so the app never starts on an empty
//!    database while a backup exists. `restore_if_empty = true`: a volume that holds
//!    nothing but holdfast's own state gets its whole latest snapshot back the same way
//!    (one INFO line with files, bytes and time; with no snapshot yet, a notice and a
//!    fresh start).
//! 3. Backups: when they cannot run (no repository, no password, repository not
//!    initialised, unreachable, wrong password, no `[schedule] backup`), one warning
//!    block on stderr says why (the server prints it, or this command with
//!    `--no-serve`); with `[alerts] require_backups = true` CMD is not started and the
//!    command exits 1 with one line saying why.
//! 4. CMD runs with SIGTERM/SIGINT forwarded; holdfast exits with CMD's exit code (or
//!    128 + the signal that ended it). The scheduler and HTTP server of `serve` run
//!    beside it unless `--no-serve`.

use std::process::ExitCode;

use anyhow::{Context as _, anyhow};
use clap::Args;
use holdfast_volume::config::{Config, Volume};
use holdfast_volume::guard;
use holdfast_volume::restore::empty::{self, Refill};
use holdfast_volume::restore::missing::{self, Missing, MissingOptions};
use holdfast_volume::swap::SwapOptions;
use tokio_util::sync::CancellationToken;

use crate::common::FLUSH_LIMIT;
use crate::context;
use crate::exit::Failure;
use crate::global::GlobalArgs;
use holdfast_agent::notify::{Event, Notifier};
use holdfast_agent::protection as watch;
use holdfast_agent::{ServeOptions, serve};

/// The reason backups cannot run under `run --no-serve`.
const NO_SERVE: &str = "run --no-serve: no scheduler runs beside the app, so no backup runs";

/// Flags of `holdfast run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The server's flags (`--listen`).
    #[command(flatten)]
    pub serve: crate::common::ServeArgs,
    /// Run only the guard and the app: no scheduler, no HTTP server.
    #[arg(long)]
    pub no_serve: bool,
    /// The app's command and its arguments (after `--`).
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "CMD"
    )]
    pub command: Vec<String>,
}

/// Refuses a listen address whose port is the app's `$PORT`: the app could not bind it.
fn check_port(listen: std::net::SocketAddr, app_port: Option<&str>) -> Result<(), Failure> {
    let Some(port) = app_port.and_then(|p| p.trim().parse::<u16>().ok()) else {
        return Ok(());
    };
    if port != 0 && listen.port() == port {
        return Err(Failure::usage(anyhow!(
            "holdfast would listen on {listen}, the app's $PORT={port}: give holdfast another \
             port with --listen ADDR or HOLDFAST_LISTEN (default {}), or pass --no-serve",
            crate::common::DEFAULT_LISTEN
        )));
    }
    Ok(())
}

/// Runs `holdfast run`.
pub async fn run(g: &GlobalArgs, args: RunArgs) -> Result<ExitCode, Failure> {
    if !args.no_serve {
        check_port(args.serve.listen, std::env::var("PORT").ok().as_deref())?;
    }
    let config = crate::context::load_config(g)?;
    let (refusals, recovered) = tokio::task::spawn_blocking({
        let config = config.clone();
        move || guard_all(&config, guard::Door::Start)
    })
    .await
    .map_err(|e| anyhow!("guard: {e}"))?;
    for line in &recovered {
        crate::global::stderr_note(tracing::Level::INFO, line, "");
    }
    let notifier = Notifier::new(&config.notify);
    if !refusals.is_empty() {
        for r in &refusals {
            crate::global::stderr_note(
                tracing::Level::ERROR,
                &format!("refusing to start: {r}"),
                "",
            );
        }
        notifier.notify(Event::GuardRefused {
            reasons: refusals.iter().map(ToString::to_string).collect(),
        });
        notifier.flush(FLUSH_LIMIT).await;
        return Err(anyhow!(
            "{} volume check(s) failed; {} was not started",
            refusals.len(),
            args.command[0]
        )
        .into());
    }
    restore_empty(g, &config).await?;
    restore_missing(g, &config).await?;
    let repo = crate::context::access(g)?;
    if args.no_serve {
        // Otherwise the server prints them as it starts.
        holdfast_agent::start::print(&config, repo.shown().as_deref());
    }
    if config.alerts.require_backups {
        let mut problems = watch::check(&config, &repo).await;
        if args.no_serve {
            problems.push(NO_SERVE.to_string());
        }
        if !problems.is_empty() {
            let line = format!(
                "backups cannot run ([alerts] require_backups = true): {}",
                problems.join("; ")
            );
            notifier.notify(Event::GuardRefused {
                reasons: vec![line.clone()],
            });
            notifier.flush(FLUSH_LIMIT).await;
            return Err(anyhow!("refusing to start {}: {line}", args.command[0]).into());
        }
    }
    // The survey of the repository runs beside the app; when the app exits first it is
    // stopped, and says nothing: a survey cut short is not an outage.
    let survey = (args.no_serve && !config.alerts.require_backups).then(|| {
        let (config, repo) = (config.clone(), repo.clone());
        tokio::spawn(async move {
            let mut problems = watch::check(&config, &repo).await;
            problems.push(NO_SERVE.to_string());
            watch::print_warning(&problems);
        })
    });

    let shutdown = CancellationToken::new();
    let server = if args.no_serve {
        None
    } else {
        let token = std::env::var("HOLDFAST_API_TOKEN")
            .ok()
            .filter(|t| !t.is_empty());
        let opts = ServeOptions {
            config: config.clone(),
            listen: args.serve.listen,
            token,
            repo,
        };
        Some(tokio::spawn(serve(opts, shutdown.clone())))
    };
    let code = run_child(&args.command).await;
    if let Some(survey) = survey {
        survey.abort();
    }
    shutdown.cancel();
    if let Some(server) = server {
        match server.await {
            Ok(Err(e)) => {
                crate::global::stderr_note(
                    tracing::Level::ERROR,
                    &format!("server: {}", crate::exit::chain_line(&e.into())),
                    "",
                );
            }
            Err(e) => {
                crate::global::stderr_note(tracing::Level::ERROR, &format!("server task: {e}"), "");
            }
            Ok(Ok(())) => {}
        }
    }
    Ok(ExitCode::from(code?))
}

/// The guard of `door` on every volume ([`guard::enter`]): the refusals, and what it
/// recovered on the volumes it let through.
pub(crate) fn guard_all(config: &Config, door: guard::Door) -> (Vec<guard::Refusal>, Vec<String>) {
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

/// Restores the whole latest snapshot into every empty `restore_if_empty` volume
/// ([`holdfast_volume::restore::empty`]), one line on stderr per volume.
async fn restore_empty(g: &GlobalArgs, config: &Config) -> anyhow::Result<()> {
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
    let repo = context::open_repo(g).await.with_context(|| {
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
        match empty::refill(&repo, volume, SwapOptions::standard(false)).await? {
            Refill::NotEmpty => {}
            Refill::NoSnapshot => crate::global::stderr_note(
                tracing::Level::WARN,
                &format!(
                    "volume {} is empty and no snapshot of it exists yet: starting fresh",
                    volume.name
                ),
                "",
            ),
            Refill::Restored(r) => {
                crate::global::stderr_note(
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
                    crate::global::stderr_note(tracing::Level::WARN, note, "");
                }
            }
        }
    }
    Ok(())
}

/// Restores every missing `restore_if_missing` file from its volume's latest snapshot
/// ([`holdfast_volume::restore::missing`]), one line on stderr per volume.
async fn restore_missing(g: &GlobalArgs, config: &Config) -> anyhow::Result<()> {
    let wanted: Vec<(&Volume, Vec<std::path::PathBuf>)> = config
        .volumes
        .iter()
        .map(|v| (v, guard::missing_files(v)))
        .filter(|(_, m)| !m.is_empty())
        .collect();
    if wanted.is_empty() {
        return Ok(());
    }
    let repo = context::open_repo(g).await.with_context(|| {
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
    for (volume, _) in wanted {
        match missing::restore_missing(&repo, volume, &opts).await? {
            Missing::NoneMissing => {}
            Missing::NoSnapshot { missing } => crate::global::stderr_note(
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
                    crate::global::stderr_note(tracing::Level::WARN, note, "");
                }
                crate::global::stderr_note(
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

/// Runs the app with SIGTERM/SIGINT forwarded; its exit code, or 128 + its signal.
async fn run_child(command: &[String]) -> anyhow::Result<u8> {
    use std::os::unix::process::ExitStatusExt;
    use tokio::signal::unix::{SignalKind, signal};
    let (program, rest) = command
        .split_first()
        .ok_or_else(|| anyhow!("no command given"))?;
    // The handlers go in before the app starts: a signal sent as soon as the app is up
    // must reach the app, not end holdfast with its default action.
    let mut term = signal(SignalKind::terminate()).context("SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("SIGINT handler")?;
    let mut child = tokio::process::Command::new(program)
        .args(rest)
        .spawn()
        .with_context(|| format!("starting {program}"))?;
    let pid = child
        .id()
        .and_then(|id| rustix::process::Pid::from_raw(id as i32));
    let status = loop {
        let sig = tokio::select! {
            status = child.wait() => break status.with_context(|| format!("waiting for {program}"))?,
            _ = term.recv() => rustix::process::Signal::TERM,
            _ = int.recv() => rustix::process::Signal::INT,
        };
        if let Some(pid) = pid {
            let _ = rustix::process::kill_process(pid, sig);
        }
    };
    Ok(match (status.code(), status.signal()) {
        (Some(code), _) => u8::try_from(code).unwrap_or(1),
        (None, Some(sig)) => u8::try_from(128 + sig).unwrap_or(1),
        (None, None) => 1,
    })
}
