//! `holdfast run [--listen ADDR] [--no-serve] -- CMD…`: the start command of an app.
//!
//! 1. Before the app: the guard of every volume, `restore_if_empty`,
//!    `restore_if_missing` (a replicated SQLite database at its newest point) and
//!    `[alerts] require_backups`, in that order ([`holdfast_agent::prestart`]); any
//!    refusal exits 1 without starting CMD. Then one line per volume says what is
//!    protected and how ([`holdfast_agent::start`]).
//! 2. Backups: when they cannot run, one warning block on stderr says why (the server
//!    prints it, or this command with `--no-serve`).
//! 3. CMD runs with SIGTERM/SIGINT forwarded; holdfast exits with CMD's exit code (or
//!    128 + the signal that ended it). The scheduler and HTTP server of `serve` run
//!    beside it unless `--no-serve`.

use std::process::ExitCode;

use anyhow::{Context as _, anyhow};
use clap::Args;
use holdfast_agent::prestart::{NO_SCHEDULER, PrestartOptions};
use holdfast_agent::protection as watch;
use holdfast_agent::{Agent, AgentOptions};
use tokio_util::sync::CancellationToken;

use crate::exit::Failure;
use crate::global::GlobalArgs;

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
    let repo = crate::context::access(g)?;
    let token = std::env::var("HOLDFAST_API_TOKEN")
        .ok()
        .filter(|t| !t.is_empty());
    let agent = Agent::new(AgentOptions {
        config: config.clone(),
        listen: args.serve.listen,
        token,
        repo: repo.clone(),
    });
    let opts = PrestartOptions {
        app: args.command[0].clone(),
        scheduler: !args.no_serve,
    };
    agent.prestart(&opts).await.map_err(anyhow::Error::from)?;
    if args.no_serve {
        // Otherwise the server prints them as it starts.
        holdfast_agent::start::print(&config, repo.shown().as_deref());
    }
    // The survey of the repository runs beside the app; when the app exits first it is
    // stopped, and says nothing: a survey cut short is not an outage.
    let survey = (args.no_serve && !config.alerts.require_backups).then(|| {
        tokio::spawn(async move {
            let mut problems = watch::check(&config, &repo).await;
            problems.push(NO_SCHEDULER.to_string());
            watch::print_warning(&problems);
        })
    });
    let shutdown = CancellationToken::new();
    let server = (!args.no_serve).then(|| tokio::spawn(agent.run(shutdown.clone())));
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
