//! `holdfast restore latest:VOLUME --database NAME [--time T] --target DIR` of an
//! archived Postgres database: the plan ([`recover::plan`], said in one line by
//! [`plan_text::describe`]) and the replay ([`recover::recover`]) are the volume crate's;
//! this file maps flags to [`recover::RecoverOptions`] and prints the point reached.

use std::path::PathBuf;
use std::process::ExitCode;

use holdfast_volume::databases::postgres::{configured, plan_text, recover};

use crate::context::outln;
use crate::exit::Failure;
use crate::global::GlobalArgs;

/// `holdfast restore latest:VOLUME --database NAME [--time T] [--target DIR]
/// [--dry-run]` of an archived Postgres database (or of any database the repository
/// holds Postgres WAL for, on a machine without holdfast.toml): plans with
/// [`recover::plan`], replays with [`recover::recover`], prints the point reached.
pub(super) async fn run(
    g: &GlobalArgs,
    args: &super::args::RestoreArgs,
    target: holdfast_repo::wal::Target,
    db: Option<&holdfast_volume::config::Database>,
) -> Result<ExitCode, Failure> {
    let name = args.database.as_deref().unwrap_or_default();
    let time = match target {
        holdfast_repo::wal::Target::Time(t) => Some(t),
        _ => None,
    };
    let repo = crate::context::open_repo(g).await?;
    let plan = recover::plan(&repo, name, time)
        .await
        .map_err(anyhow::Error::from)?;
    let say_plan = plan_text::describe(&plan, name, time);
    if args.dry_run {
        outln!("would restore {say_plan}");
        return Ok(ExitCode::SUCCESS);
    }
    let Some(dir) = &args.target else {
        return Err(Failure::usage(anyhow::anyhow!(
            "a Postgres database is restored to a point in time under --target DIR (an empty \
             directory): stop the server, then move the directory in place of its data \
             directory"
        )));
    };
    let opts = recover::RecoverOptions {
        dir: dir.clone(),
        check: std::env::var("HOLDFAST_PG_CHECK").unwrap_or_else(|_| "select 1".into()),
        parallel: 8,
        user: db.and_then(configured::superuser),
        bin: std::env::var_os("HOLDFAST_PG_BIN").map(PathBuf::from),
    };
    let done = recover::recover(&repo, &plan, &opts)
        .await
        .map_err(anyhow::Error::from)?;
    if g.json {
        outln!("{}", plan_text::recovered_json(name, &plan, &done));
    } else if !g.quiet {
        outln!("{}", plan_text::recovered(name, &done, &say_plan));
    }
    Ok(ExitCode::SUCCESS)
}
