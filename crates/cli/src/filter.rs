//! The snapshot filter flags shared by `snapshots`, `find` and `stats`.

use clap::Args;
use holdfast_repo::SnapshotFilter;

/// `--tag`, `--volume`, `--host`, `--path`, `--latest N`, `--since`.
#[derive(Debug, Args, Default)]
pub struct FilterArgs {
    /// Only snapshots with these tags (`a,b`: both; repeat for either).
    #[arg(long, value_name = "TAG[,TAG…]")]
    pub tag: Vec<String>,
    /// Only snapshots of this volume.
    #[arg(long, value_name = "NAME")]
    pub volume: Option<String>,
    /// Only snapshots taken on this host.
    #[arg(long, value_name = "HOST")]
    pub host: Option<String>,
    /// Only snapshots of this root path.
    #[arg(long, value_name = "PATH")]
    pub path: Option<String>,
    /// Only the newest N snapshots of each volume (or root path).
    #[arg(long, value_name = "N")]
    pub latest: Option<usize>,
    /// Only snapshots taken since RFC3339 time, YYYY-MM-DD, or a duration ago (7d, 12h).
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
}

/// Parses `--since`: an RFC 3339 time, a date (midnight UTC), or a duration back from now.
pub fn parse_since(s: &str) -> anyhow::Result<chrono::DateTime<chrono::Utc>> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&chrono::Utc));
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        && let Some(t) = d.and_hms_opt(0, 0, 0)
    {
        return Ok(t.and_utc());
    }
    let d = holdfast_store::parse_duration(s).ok_or_else(|| {
        anyhow::anyhow!("--since {s:?}: expected an RFC 3339 time, YYYY-MM-DD or a duration (7d)")
    })?;
    let d = chrono::TimeDelta::from_std(d)?;
    Ok(chrono::Utc::now() - d)
}

impl FilterArgs {
    /// The library filter; a bad `--since` is a usage error.
    pub fn filter(&self) -> Result<SnapshotFilter, crate::exit::Failure> {
        let since = match &self.since {
            Some(s) => Some(parse_since(s).map_err(crate::exit::Failure::usage)?),
            None => None,
        };
        Ok(SnapshotFilter {
            tags: self
                .tag
                .iter()
                .map(|t| {
                    t.split(',')
                        .filter(|x| !x.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .collect(),
            volume: self.volume.clone(),
            host: self.host.clone(),
            path: self.path.as_ref().map(|p| {
                std::fs::canonicalize(p)
                    .map(|c| c.to_string_lossy().into_owned())
                    .unwrap_or_else(|_| p.clone())
            }),
            since,
            latest: self.latest,
        })
    }
}
