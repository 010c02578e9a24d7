//! `holdfast status`: the status of every volume of holdfast.toml, assembled by the
//! agent's one assembler ([`holdfast_agent::protection::status`]: the probe, the last
//! backup, failed or not, and the alerts), printed as a table or `--json`; exit 3 when
//! any volume has an alert.

use std::fmt::Write as _;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;
use holdfast_volume::config::Config;
use holdfast_volume::freshness;
use holdfast_volume::status::{UsageBasis, VolumeStatus};
use holdfast_volume::units::format_size;

use crate::exit::{self, Failure};
use crate::global::GlobalArgs;

/// Flags of `holdfast status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Only this volume (repeatable).
    #[arg(long = "volume", value_name = "NAME")]
    pub volumes: Vec<String>,
}

/// Runs `holdfast status`.
pub async fn run(g: &GlobalArgs, args: StatusArgs) -> Result<ExitCode, Failure> {
    let mut config = load_config(g)?;
    if !args.volumes.is_empty() {
        for name in &args.volumes {
            if config.volume(name).is_none() {
                return Err(Failure::usage(anyhow::anyhow!(
                    "no volume named `{name}` in {}",
                    g.config.display()
                )));
            }
        }
        config.volumes.retain(|v| args.volumes.contains(&v.name));
    }
    let access = crate::context::access(g)?;
    let statuses = holdfast_agent::protection::status::status_once(&config, &access).await;
    if g.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&statuses).context("encoding status")?
        );
    } else {
        print!("{}", render(&statuses));
    }
    Ok(exit::problems_if(statuses.iter().any(|s| !s.is_healthy())))
}

/// Loads holdfast.toml and insists on at least one volume.
pub(crate) fn load_config(g: &GlobalArgs) -> anyhow::Result<Config> {
    let config = crate::context::load_config(g)?;
    if config.volumes.is_empty() {
        bail!("{} declares no [[volumes]]", g.config.display());
    }
    Ok(config)
}

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "NO" }.to_string()
}

fn render(statuses: &[VolumeStatus]) -> String {
    let headers = [
        "VOLUME",
        "PATH",
        "MOUNTED",
        "WRITABLE",
        "USED",
        "SIZE",
        "FREE",
        "DATABASES",
        "LAST BACKUP",
    ];
    let now = chrono::Utc::now();
    let rows: Vec<Vec<String>> = statuses
        .iter()
        .map(|s| {
            let used = match s.details.usage_basis {
                UsageBasis::Filesystem => format!("{:.1}%", s.usage_percent),
                UsageBasis::DeclaredSize => format!("{:.1}% of size", s.usage_percent),
            };
            let size = match s.details.declared_size {
                Some(d) if s.details.usage_basis == UsageBasis::DeclaredSize => {
                    format!("{} (fs {})", format_size(d), format_size(s.size_total))
                }
                _ => format_size(s.size_total),
            };
            let mounted = match (&s.details.fs_type, s.mounted) {
                (Some(fs), true) => format!("yes ({fs})"),
                _ => yes_no(s.mounted),
            };
            let dbs = if s.database_exists { "ok" } else { "MISSING" }.to_string();
            let ago = |t: &String| {
                chrono::DateTime::parse_from_rfc3339(t)
                    .map(|t| format!("{} ago", freshness::age(now - t.to_utc())))
                    .unwrap_or_else(|_| t.clone())
            };
            // A failure says how old the last good backup is: what is at risk.
            let last = match (&s.last_backup, &s.last_backup_error) {
                (Some(t), Some(_)) => format!("FAILED (last good {})", ago(t)),
                (None, Some(_)) => "FAILED (none good yet)".to_string(),
                (Some(t), None) => ago(t),
                (None, None) => "never".to_string(),
            };
            vec![
                s.name.clone(),
                s.path.display().to_string(),
                mounted,
                yes_no(s.writable),
                used,
                size,
                format_size(s.size_available),
                dbs,
                last,
            ]
        })
        .collect();
    let mut out = table(&headers, &rows);
    for s in statuses {
        for db in &s.databases {
            let _ = match (&db.newest_point, db.lag_seconds) {
                (Some(t), Some(lag)) => writeln!(
                    out,
                    "{}: database {} restorable to {t} ({} ago)",
                    s.name,
                    db.database,
                    freshness::age(chrono::Duration::seconds(lag))
                ),
                _ => writeln!(
                    out,
                    "{}: database {} has no replicated point yet",
                    s.name, db.database
                ),
            };
        }
    }
    for s in statuses {
        for alert in &s.alerts {
            let _ = writeln!(out, "alert: {}: {alert}", s.name);
        }
    }
    let bad = statuses.iter().filter(|s| !s.is_healthy()).count();
    if bad == 0 {
        let _ = writeln!(
            out,
            "{} healthy",
            crate::text::count(statuses.len(), "volume")
        );
    } else {
        let _ = writeln!(
            out,
            "{bad} of {} need attention",
            crate::text::count(statuses.len(), "volume")
        );
    }
    out
}

/// Left-aligned columns separated by two spaces.
pub(crate) fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut text = String::new();
        for (cell, w) in cells.zip(&widths) {
            let _ = write!(text, "{cell:<w$}  ");
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(&mut headers.iter().copied());
    for row in rows {
        line(&mut row.iter().map(String::as_str));
    }
    out
}
