//! `holdfast forget`: applies a retention policy (flags, else `[retention]` of
//! holdfast.toml) per volume or root and deletes the snapshots it does not keep;
//! `--prune` then removes the data they alone used. `holdfast forget SNAPSHOT…` removes
//! exactly the named snapshots instead (ids, prefixes, selectors such as
//! `latest:app-data~1`); naming snapshots together with `--keep-*` or `--volume` is a
//! usage error (exit 2).

use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use holdfast_repo::forget::text;
use holdfast_repo::retention::{CalendarDuration, RetentionPolicy};
use holdfast_repo::{ForgetOptions, PruneOptions};

use crate::context::{self, out, outln};
use crate::exit::Failure;
use crate::global::GlobalArgs;

/// Flags of `holdfast forget`.
#[derive(Debug, Args)]
pub struct ForgetArgs {
    /// Snapshots to remove, exactly these (id, id prefix, latest:VOLUME~N, …) instead
    /// of applying a policy.
    #[arg(value_name = "SNAPSHOT")]
    pub snapshots: Vec<String>,
    /// Keep the newest N snapshots.
    #[arg(long, value_name = "N")]
    pub keep_last: Option<u32>,
    /// Keep the newest snapshot of each of the last N hours that have one.
    #[arg(long, value_name = "N")]
    pub keep_hourly: Option<u32>,
    /// … of each of the last N days.
    #[arg(long, value_name = "N")]
    pub keep_daily: Option<u32>,
    /// … of each of the last N ISO weeks.
    #[arg(long, value_name = "N")]
    pub keep_weekly: Option<u32>,
    /// … of each of the last N months.
    #[arg(long, value_name = "N")]
    pub keep_monthly: Option<u32>,
    /// … of each of the last N years.
    #[arg(long, value_name = "N")]
    pub keep_yearly: Option<u32>,
    /// Keep every snapshot within DUR (e.g. 1y2m3d4h) of the newest one.
    #[arg(long, value_name = "DUR")]
    pub keep_within: Option<CalendarDuration>,
    /// Keep one snapshot per hour within DUR of the newest one.
    #[arg(long, value_name = "DUR")]
    pub keep_within_hourly: Option<CalendarDuration>,
    /// Keep one snapshot per day within DUR of the newest one.
    #[arg(long, value_name = "DUR")]
    pub keep_within_daily: Option<CalendarDuration>,
    /// Keep one snapshot per week within DUR of the newest one.
    #[arg(long, value_name = "DUR")]
    pub keep_within_weekly: Option<CalendarDuration>,
    /// Keep one snapshot per month within DUR of the newest one.
    #[arg(long, value_name = "DUR")]
    pub keep_within_monthly: Option<CalendarDuration>,
    /// Keep one snapshot per year within DUR of the newest one.
    #[arg(long, value_name = "DUR")]
    pub keep_within_yearly: Option<CalendarDuration>,
    /// Keep snapshots carrying all of these tags (repeatable: any one set).
    #[arg(long = "keep-tag", value_name = "T[,T]")]
    pub keep_tag: Vec<String>,
    /// Only the snapshots of this volume.
    #[arg(long, value_name = "NAME")]
    pub volume: Option<String>,
    /// Run prune afterwards (with --json the output is {"groups": […], "prune": {…}}).
    #[arg(long)]
    pub prune: bool,
    /// With --prune: delete unused packs now instead of marking them for a later prune
    /// (only when no other holdfast process uses the repository meanwhile).
    #[arg(long, requires = "prune")]
    pub instant_delete: bool,
    /// Show what would be kept and removed; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Allow a policy that removes every snapshot of a volume or root.
    #[arg(long)]
    pub allow_empty: bool,
    /// Wait up to DUR (e.g. 10m) for another operation's lock instead of failing at once.
    #[arg(long, value_name = "DUR")]
    pub retry_lock: Option<holdfast_volume::units::HumanDuration>,
}

impl ForgetArgs {
    fn policy(&self) -> RetentionPolicy {
        RetentionPolicy {
            keep_last: self.keep_last,
            keep_hourly: self.keep_hourly,
            keep_daily: self.keep_daily,
            keep_weekly: self.keep_weekly,
            keep_monthly: self.keep_monthly,
            keep_yearly: self.keep_yearly,
            keep_within: self.keep_within,
            keep_within_hourly: self.keep_within_hourly,
            keep_within_daily: self.keep_within_daily,
            keep_within_weekly: self.keep_within_weekly,
            keep_within_monthly: self.keep_within_monthly,
            keep_within_yearly: self.keep_within_yearly,
            keep_tags: self
                .keep_tag
                .iter()
                .map(|t| t.split(',').map(str::trim).map(str::to_owned).collect())
                .collect(),
        }
    }

    fn any_flag(&self) -> bool {
        !self.policy().is_empty()
    }
}

/// The policy: the flags, else `[retention]` of the config file.
fn policy(g: &GlobalArgs, args: &ForgetArgs) -> Result<RetentionPolicy, Failure> {
    if args.any_flag() {
        return Ok(args.policy());
    }
    let config = holdfast_volume::config::Config::load_optional(&g.config)
        .with_context(|| format!("reading {}", g.config.display()))?;
    let policy = config.map(|c| c.retention.policy()).unwrap_or_default();
    if policy.is_empty() {
        return Err(Failure::usage(anyhow::anyhow!(
            "no retention policy: pass --keep-last/--keep-daily/… or set [retention] in {}",
            g.config.display()
        )));
    }
    Ok(policy)
}

/// Runs `holdfast forget`.
pub async fn run(g: &GlobalArgs, args: ForgetArgs) -> Result<ExitCode, Failure> {
    let named = !args.snapshots.is_empty();
    if named && args.any_flag() {
        return Err(Failure::usage(anyhow::anyhow!(
            "give snapshots to forget or --keep-* rules, not both (the snapshots are removed \
             exactly; the rules decide per volume)"
        )));
    }
    if named && args.volume.is_some() {
        return Err(Failure::usage(anyhow::anyhow!(
            "--volume applies to --keep-* rules; name a snapshot of the volume as \
             latest:VOLUME or latest:VOLUME~N instead"
        )));
    }
    let policy = if named {
        RetentionPolicy::default()
    } else {
        policy(g, &args)?
    };
    let repo = context::open_repo(g).await?;
    let opts = ForgetOptions {
        snapshots: args.snapshots.clone(),
        policy,
        volume: args.volume.clone(),
        dry_run: args.dry_run,
        allow_empty: args.allow_empty,
        lock: crate::common::lock_options(args.retry_lock),
    };
    let report = holdfast_repo::forget(&repo, &opts)
        .await
        .map_err(context::fail)?;
    let pruned = if args.prune && !args.dry_run {
        let opts = PruneOptions {
            instant_delete: args.instant_delete,
            lock: crate::common::lock_options(args.retry_lock),
            ..PruneOptions::default()
        };
        let r = holdfast_repo::prune(&repo, &opts)
            .await
            .context("pruning after forget")?;
        Some(r)
    } else {
        None
    };
    if g.json {
        let text = match &pruned {
            Some(p) => serde_json::to_string_pretty(
                &serde_json::json!({"groups": report.groups, "prune": p}),
            ),
            None => serde_json::to_string_pretty(&report.groups),
        };
        outln!("{}", text.context("encoding report")?);
        return Ok(ExitCode::SUCCESS);
    }
    if named {
        out!("{}", text::named(&report));
    } else {
        out!("{}", text::table(&opts.policy, &report, g.quiet));
    }
    if let Some(p) = &pruned {
        out!("{}", holdfast_repo::prune::text::render(p));
    }
    Ok(ExitCode::SUCCESS)
}
