//! Restore of a Postgres database to a point in time (docs/FORMAT.md, "Postgres WAL
//! segments"): the newest base backup consistent by the target time, the WAL after it
//! fetched in parallel ahead of replay, and Postgres itself replaying it on a spare
//! port with `recovery_target_time`, checked with a query, then stopped.
//!
//! - The plan ([`plan`]) never crosses a gap or a hole: a target after one needs a base
//!   taken after it, and the error names the missing segments; the newest point (no
//!   target time) stops before the first of them and says so.
//! - The replay runs with `archive_mode=off`, a trust-only `hba_file` and a Unix socket in
//!   a private directory, on no TCP address: the restored server never archives into the
//!   live spool and is never reachable from outside while it replays.
//! - Nothing is left half-made: the data directory is built in a fresh directory
//!   (`--target DIR` must be empty), and a failure removes what was fetched.
//! - The restored directory's new timeline history file is queued for archiving
//!   ([`super::archive::queue_unarchived_history`]): once the directory is put in place
//!   and started with `archive_command`, the new timeline reaches the repository with
//!   its history, and a later restore follows it.
//! - When the target time lies after every commit the WAL holds, Postgres 13+ refuses
//!   ("recovery ended before configured recovery target was reached"); the data
//!   directory is then built again and replayed to the end of the WAL, which is the
//!   state as of the target time.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use holdfast_repo::wal::pg::{BaseMark, PgSource, pg_lineages, read_file};
use holdfast_repo::{Id, Repository, RestoreOptions, Snapshot};

use super::base::base_file_name;

/// What can stop a point-in-time restore of a Postgres database; each names it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecoverError {
    /// No base backup of the database is consistent by the target time.
    #[error("database {database}: no base backup in the repository is consistent by {when}")]
    NoBase {
        /// The database.
        database: String,
        /// The target, as said.
        when: String,
    },
    /// The WAL between the base and the target has a hole or a recorded gap.
    #[error(
        "database {database}: the WAL after the base of {base} misses segments {first}..={last} \
         ({why}); a point after them needs a base backup taken after them"
    )]
    Gap {
        /// The database.
        database: String,
        /// The base's time.
        base: String,
        /// First missing segment file.
        first: String,
        /// Last missing segment file.
        last: String,
        /// A recorded gap, or a hole.
        why: String,
    },
    /// The repository failed.
    #[error("database {database}: {source}")]
    Repo {
        /// The database.
        database: String,
        /// The cause.
        source: holdfast_repo::Error,
    },
    /// Local I/O failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The target directory is not empty.
    #[error("{}: not empty; give an empty or new directory", path.display())]
    NotEmpty {
        /// The directory.
        path: PathBuf,
    },
    /// Postgres failed to replay or to answer the check.
    #[error("database {database}: {what}; the end of its log: {log}")]
    Replay {
        /// The database.
        database: String,
        /// What failed.
        what: String,
        /// The end of the server's log.
        log: String,
    },
}

/// The plan of a point-in-time restore.
#[derive(Clone, Debug)]
pub struct RecoverPlan {
    /// The database's name.
    pub database: String,
    /// The cluster, on the base's timeline.
    pub source: PgSource,
    /// The base used.
    pub base: BaseMark,
    /// Its snapshot.
    pub snapshot: Snapshot,
    /// The WAL files to fetch: (Postgres name, key).
    pub files: Vec<(String, String)>,
    /// The target time (`None`: the newest point).
    pub target: Option<DateTime<Utc>>,
    /// A gap the newest point stops before (first missing segment file).
    pub stops_before: Option<String>,
}

fn repo_err(database: &str) -> impl FnOnce(holdfast_repo::Error) -> RecoverError + '_ {
    move |source| RecoverError::Repo {
        database: database.to_string(),
        source,
    }
}

/// Plans the restore of `database` (its name in holdfast.toml) to `target` (the newest
/// point when `None`), from what the repository alone holds.
pub async fn plan(
    repo: &Repository,
    database: &str,
    target: Option<DateTime<Utc>>,
) -> Result<RecoverPlan, RecoverError> {
    let lineages = pg_lineages(repo).await.map_err(repo_err(database))?;
    let mine: Vec<_> = lineages
        .iter()
        .filter(|l| l.head.as_ref().is_some_and(|(_, h)| h.database == database))
        .collect();
    let snaps: BTreeMap<Id, Snapshot> = repo
        .snapshots()
        .await
        .map_err(repo_err(database))?
        .into_iter()
        .collect();
    let when = target.map_or_else(|| "now".to_string(), |t| t.to_rfc3339());
    let chosen = mine
        .iter()
        .flat_map(|l| l.bases.iter().map(move |(_, b, _)| (*l, b)))
        .filter(|(_, b)| snaps.contains_key(&b.snapshot))
        .filter(|(_, b)| target.is_none_or(|t| b.time <= t))
        .max_by_key(|(_, b)| b.time);
    let Some((lineage, base)) = chosen else {
        return Err(RecoverError::NoBase {
            database: database.to_string(),
            when,
        });
    };
    let Some(source) = lineage.source() else {
        return Err(RecoverError::NoBase {
            database: database.to_string(),
            when,
        });
    };
    let mut files = Vec::new();
    let mut stops_before = None;
    for l in &mine {
        let Some(src) = l.source() else { continue };
        if src.system_identifier != source.system_identifier {
            continue;
        }
        files.extend(
            l.files
                .iter()
                .filter(|(n, _, _)| n.ends_with(".history"))
                .map(|(n, k, _)| (n.clone(), k.clone())),
        );
        if src.timeline < source.timeline {
            continue;
        }
        let mut by_segno: BTreeMap<u64, (&str, DateTime<Utc>)> = BTreeMap::new();
        for s in l.segments.iter().filter(|s| s.segno >= base.start) {
            by_segno.entry(s.segno).or_insert((&s.key, s.time));
        }
        // Up to the first segment archived at or after the target.
        let mut last = None;
        for (&n, &(_, t)) in &by_segno {
            last = Some(n);
            if target.is_some_and(|tt| t >= tt) {
                break;
            }
        }
        let Some(last) = last else { continue };
        if src.timeline == source.timeline {
            let hole = (base.start..=last).find(|n| !by_segno.contains_key(n));
            let gap = l
                .gaps
                .iter()
                .map(|(_, g)| g)
                .find(|g| g.last >= base.start && g.first <= last);
            let missing = match (hole, gap) {
                (_, Some(g)) => Some((g.first.max(base.start), g.last, "recorded as dropped")),
                (Some(h), None) => {
                    let end = (h..=last)
                        .find(|n| by_segno.contains_key(n))
                        .map_or(last, |n| n - 1);
                    Some((h, end, "not in the repository"))
                }
                (None, None) => None,
            };
            if let Some((first, end, why)) = missing {
                if target.is_some() {
                    return Err(RecoverError::Gap {
                        database: database.to_string(),
                        base: base.time.to_rfc3339(),
                        first: src.segment_name(first),
                        last: src.segment_name(end),
                        why: why.to_string(),
                    });
                }
                stops_before = Some(src.segment_name(first));
                files.extend(
                    by_segno
                        .range(base.start..first)
                        .map(|(&n, (k, _))| (src.segment_name(n), k.to_string())),
                );
                continue;
            }
        }
        files.extend(
            by_segno
                .range(..=last)
                .map(|(&n, (k, _))| (src.segment_name(n), k.to_string())),
        );
    }
    let snapshot = snaps
        .get(&base.snapshot)
        .cloned()
        .ok_or_else(|| RecoverError::NoBase {
            database: database.to_string(),
            when: when.clone(),
        })?;
    Ok(RecoverPlan {
        database: database.to_string(),
        source,
        base: base.clone(),
        snapshot,
        files,
        target,
        stops_before,
    })
}

/// How [`recover`] runs.
#[derive(Clone, Debug)]
pub struct RecoverOptions {
    /// The new data directory (absent or empty).
    pub dir: PathBuf,
    /// The query that must succeed after the replay (default `select 1`).
    pub check: String,
    /// WAL files fetched at once.
    pub parallel: usize,
    /// The role the check connects as (the cluster's superuser; default `postgres`).
    pub user: Option<String>,
    /// Directory of the Postgres server programs (`postgres`, `psql`, `pg_ctl`); found
    /// on PATH or under /usr/lib/postgresql when `None`.
    pub bin: Option<PathBuf>,
}

/// What [`recover`] reached.
#[derive(Clone, Debug)]
pub struct Recovered {
    /// The time of the last transaction replayed (`None` when the base was already the
    /// newest point).
    pub reached: Option<DateTime<Utc>>,
    /// WAL files Postgres asked for and got.
    pub replayed: usize,
    /// WAL files fetched from the repository.
    pub fetched: usize,
    /// The data directory.
    pub dir: PathBuf,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> RecoverError + '_ {
    move |source| RecoverError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Finds the directory of the server programs.
pub fn server_bin(given: Option<&Path>) -> PathBuf {
    if let Some(b) = given {
        return b.to_path_buf();
    }
    if let Some(p) = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .find(|d| d.join("postgres").is_file() && d.join("pg_ctl").is_file())
    {
        return p;
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|rd| rd.flatten().map(|e| e.path().join("bin")).collect())
        .unwrap_or_default();
    found.sort();
    found
        .pop()
        .unwrap_or_else(|| PathBuf::from("/usr/local/bin"))
}

fn as_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// A command run as the `postgres` user when holdfast runs as root (Postgres refuses
/// root).
fn pg_command(program: &Path) -> Command {
    if as_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

/// Builds the data directory of `plan` under `opts.dir`, replays, checks, and stops the
/// server. See the module doc.
pub async fn recover(
    repo: &Repository,
    plan: &RecoverPlan,
    opts: &RecoverOptions,
) -> Result<Recovered, RecoverError> {
    let dir = opts.dir.clone();
    if dir.exists() && std::fs::read_dir(&dir).map_err(io(&dir))?.next().is_some() {
        return Err(RecoverError::NotEmpty { path: dir });
    }
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    std::fs::create_dir_all(&parent).map_err(io(&parent))?;
    let work = tempfile::Builder::new()
        .prefix(crate::layout::RESTORE_PREFIX)
        .tempdir_in(&parent)
        .map_err(io(&parent))?;
    let base_tar = fetch_base(repo, plan, work.path()).await?;
    let wal = work.path().join("wal");
    std::fs::create_dir_all(&wal).map_err(io(&wal))?;
    let fetched = futures::stream::iter(plan.files.iter().cloned())
        .map(|(name, key)| {
            let wal = wal.clone();
            let database = plan.database.clone();
            async move {
                let bytes = read_file(repo, &key, &name)
                    .await
                    .map_err(|source| RecoverError::Repo { database, source })?;
                let path = wal.join(&name);
                tokio::fs::write(&path, &bytes).await.map_err(io(&path))?;
                Ok::<_, RecoverError>(())
            }
        })
        .buffer_unordered(opts.parallel.max(1))
        .try_collect::<Vec<()>>()
        .await?
        .len();
    let bin = server_bin(opts.bin.as_deref());
    let database = plan.database.clone();
    let check = opts.check.clone();
    let user = opts.user.clone().unwrap_or_else(|| "postgres".into());
    let target = plan.target;
    let work_path = work.path().to_path_buf();
    let (reached, replayed) = tokio::task::spawn_blocking(move || {
        let mut attempt = replay(
            &database, &bin, &base_tar, &dir, &work_path, target, &check, &user,
        );
        if let Err(RecoverError::Replay { log, .. }) = &attempt
            && log.contains("before configured recovery target was reached")
        {
            std::fs::remove_dir_all(&dir).map_err(io(&dir))?;
            attempt = replay(
                &database, &bin, &base_tar, &dir, &work_path, None, &check, &user,
            );
        }
        if attempt.is_err() {
            let _ = std::fs::remove_dir_all(&dir);
        }
        attempt
    })
    .await
    .map_err(|e| RecoverError::Io {
        path: opts.dir.clone(),
        source: std::io::Error::other(e.to_string()),
    })??;
    Ok(Recovered {
        reached,
        replayed,
        fetched,
        dir: opts.dir.clone(),
    })
}

async fn fetch_base(
    repo: &Repository,
    plan: &RecoverPlan,
    work: &Path,
) -> Result<PathBuf, RecoverError> {
    let rel = Path::new(holdfast_repo::DATABASES_DIR).join(base_file_name(&plan.database));
    let indexed = repo.load_index().await.map_err(repo_err(&plan.database))?;
    let ropts = RestoreOptions {
        target: work.join("base"),
        include: vec![rel.to_string_lossy().into_owned()],
        ..Default::default()
    };
    let summary = holdfast_repo::restore(&indexed, &plan.snapshot, &ropts)
        .await
        .map_err(repo_err(&plan.database))?;
    let path = work.join("base").join(&rel);
    if !summary.damaged.is_empty() || !path.is_file() {
        return Err(RecoverError::NoBase {
            database: plan.database.clone(),
            when: format!("{} (its snapshot holds no whole base)", plan.base.time),
        });
    }
    Ok(path)
}

fn tail(path: &Path) -> String {
    let s = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(8)..].join(" | ")
}

/// Unpacks the base into `dir`, replays to `target` and checks; (point reached, WAL
/// files replayed).
#[allow(clippy::too_many_arguments)]
fn replay(
    database: &str,
    bin: &Path,
    base_tar: &Path,
    dir: &Path,
    work: &Path,
    target: Option<DateTime<Utc>>,
    check: &str,
    user: &str,
) -> Result<(Option<DateTime<Utc>>, usize), RecoverError> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let f = std::fs::File::open(base_tar).map_err(io(base_tar))?;
    tar::Archive::new(f).unpack(dir).map_err(io(dir))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io(dir))?;
    let conf = dir.join("postgresql.conf");
    if !conf.exists() {
        std::fs::write(&conf, "").map_err(io(&conf))?;
    }
    std::fs::write(dir.join("recovery.signal"), "").map_err(io(dir))?;
    let hba = work.join("pg_hba.conf");
    std::fs::write(&hba, "local all all trust\n").map_err(io(&hba))?;
    let log = work.join("replay.log");
    let fetched_list = work.join("fetched");
    std::fs::write(&fetched_list, "").map_err(io(&fetched_list))?;
    if as_root() {
        let status = Command::new("chown")
            .args(["-R", "postgres:"])
            .arg(dir)
            .arg(work)
            .status()
            .map_err(io(dir))?;
        if !status.success() {
            return Err(RecoverError::Io {
                path: dir.to_path_buf(),
                source: std::io::Error::other("chown to the postgres user failed"),
            });
        }
        let _ = std::fs::set_permissions(work, std::fs::Permissions::from_mode(0o755));
    }
    let wal = work.join("wal");
    let restore_command = format!(
        "test -f '{w}/%f' && cp '{w}/%f' '%p' && echo '%f' >> '{l}'",
        w = wal.display(),
        l = fetched_list.display()
    );
    let mut cmd = pg_command(&bin.join("pg_ctl"));
    cmd.arg("-D")
        .arg(dir)
        .arg("-l")
        .arg(&log)
        .arg("-w")
        .arg("-t")
        .arg("3600");
    let mut opts = vec![
        "-c archive_mode=off".to_string(),
        "-c listen_addresses=''".to_string(),
        format!("-c unix_socket_directories='{}'", work.display()),
        format!("-c hba_file='{}'", hba.display()),
        "-c port=5432".to_string(),
        format!("-c restore_command=\"{restore_command}\""),
        "-c recovery_target_action=promote".to_string(),
        "-c logging_collector=off".to_string(),
    ];
    if let Some(t) = target {
        opts.push(format!(
            "-c recovery_target_time='{}'",
            t.format("%Y-%m-%d %H:%M:%S%.6f+00")
        ));
    }
    cmd.arg("-o").arg(opts.join(" ")).arg("start");
    let out = cmd.stdin(Stdio::null()).output().map_err(io(bin))?;
    let stop = || {
        let _ = pg_command(&bin.join("pg_ctl"))
            .arg("-D")
            .arg(dir)
            .args(["-m", "fast", "-w", "stop"])
            .stdin(Stdio::null())
            .output();
    };
    if !out.status.success() {
        stop();
        return Err(RecoverError::Replay {
            database: database.to_string(),
            what: "Postgres did not start to replay".into(),
            log: tail(&log),
        });
    }
    let psql_bin = if bin.join("psql").is_file() {
        bin.join("psql")
    } else {
        PathBuf::from("psql")
    };
    let psql = |sql: &str| -> Result<String, RecoverError> {
        let out = pg_command(&psql_bin)
            .arg("-h")
            .arg(work)
            .args([
                "-p", "5432", "-XtA", "-U", user, "-d", "postgres", "-c", sql,
            ])
            .env("PGCONNECT_TIMEOUT", "10")
            .stdin(Stdio::null())
            .output()
            .map_err(io(bin))?;
        if !out.status.success() {
            return Err(RecoverError::Replay {
                database: database.to_string(),
                what: format!(
                    "the query {sql:?} failed: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
                log: tail(&log),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    let result = (|| {
        loop {
            match psql("select pg_is_in_recovery()") {
                Ok(s) if s == "f" => break,
                Ok(_) => std::thread::sleep(Duration::from_millis(100)),
                Err(e) => return Err(e),
            }
        }
        psql(check)?;
        let reached = psql("select extract(epoch from pg_last_xact_replay_timestamp())")?;
        Ok(reached
            .parse::<f64>()
            .ok()
            .and_then(|s| DateTime::<Utc>::from_timestamp_micros((s * 1e6).round() as i64)))
    })();
    stop();
    let reached = result?;
    super::archive::queue_unarchived_history(dir).map_err(|e| RecoverError::Io {
        path: dir.to_path_buf(),
        source: std::io::Error::other(e.to_string()),
    })?;
    let replayed = std::fs::read_to_string(&fetched_list)
        .map(|s| s.lines().filter(|l| !l.ends_with(".history")).count())
        .unwrap_or(0);
    let _ = std::fs::remove_file(dir.join("recovery.signal"));
    Ok((reached, replayed))
}
