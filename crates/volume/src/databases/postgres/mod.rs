//! Postgres through its own tools: `pg_dump -Fc` streams a custom-format dump that the
//! backup reads straight from the child's stdout (never staged whole on disk), and
//! `pg_restore --clean --if-exists` loads one back from stdin. Failures become one clear
//! message each: a missing client, a refused connection, a refused password.
//!
//! The password never reaches a command line (where `/proc/*/cmdline` shows it to every
//! user of the machine): [`Conninfo::from_url`] takes it out of the URL (user info, or a
//! `password=` parameter) and the tools get it as `PGPASSWORD` in an environment built
//! by [`crate::child_env`], which holds none of holdfast's own secrets.
//!
//! Point-in-time recovery (docs/FORMAT.md, "Postgres WAL segments") lives in the
//! submodules: [`archive`] (the spool behind `archive_command`), [`upload`] (the
//! uploader and `restore_command`), [`base`] (base backups into snapshots) and
//! [`recover`] (restore to a time, [`plan_text`] its plan in one line); [`configured`]
//! picks the spool and role from holdfast.toml for the commands that name no volume.

pub mod archive;
pub mod base;
pub mod configured;
pub mod plan_text;
pub mod recover;
pub mod upload;

use std::io::Read;
use std::process::{Child, ChildStdout, Command, Stdio};

use super::{DatabaseError, redacted_target};
use crate::child_env::{ChildEnv, ChildKind, percent_decode};

/// A database URL split for the Postgres tools: what goes to `--dbname` (the URL or
/// key/value string without its password) and the password, which goes to
/// `PGPASSWORD`.
#[derive(Clone, PartialEq, Eq)]
pub struct Conninfo {
    /// The connection string without the password.
    pub dbname: String,
    /// The password, decoded, if the URL had one.
    pub password: Option<String>,
}

impl std::fmt::Debug for Conninfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conninfo")
            .field("dbname", &self.dbname)
            .field("password", &self.password.as_ref().map(|_| ".."))
            .finish()
    }
}

impl Conninfo {
    /// Splits `postgres://user:pw@host/db?…` (or `host=… password=…`).
    pub fn from_url(url: &str) -> Conninfo {
        match url.split_once("://") {
            Some((scheme, rest)) => split_uri(scheme, rest),
            None => split_keywords(url),
        }
    }

    /// A command for `program` with this connection's environment: holdfast's secrets
    /// left out, the password in `PGPASSWORD`.
    pub fn command(&self, program: &str) -> Command {
        let secrets: Vec<String> = self.password.iter().cloned().collect();
        let mut env = ChildEnv::new(ChildKind::Postgres, &secrets);
        if let Some(pw) = &self.password {
            env.set("PGPASSWORD", pw);
        }
        let mut cmd = Command::new(program);
        env.apply(&mut cmd);
        cmd
    }
}

fn split_uri(scheme: &str, rest: &str) -> Conninfo {
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let mut password = None;
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, pw)) => {
                password = Some(percent_decode(pw));
                if user.is_empty() {
                    host.to_string()
                } else {
                    format!("{user}@{host}")
                }
            }
            None => authority.to_string(),
        },
        None => authority.to_string(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let kept: Vec<&str> = query
                .split('&')
                .filter(|kv| {
                    let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                    if k == "password" {
                        password = Some(percent_decode(v));
                        false
                    } else {
                        true
                    }
                })
                .collect();
            if kept.is_empty() {
                path.to_string()
            } else {
                format!("{path}?{}", kept.join("&"))
            }
        }
        None => tail.to_string(),
    };
    Conninfo {
        dbname: format!("{scheme}://{authority}{tail}"),
        password: password.filter(|p| !p.is_empty()),
    }
}

/// `key=value` connection strings: the `password` pair is taken out (a quoted value may
/// hold spaces and `\'` escapes).
fn split_keywords(s: &str) -> Conninfo {
    let mut kept = String::new();
    let mut password = None;
    let mut rest = s.trim_start();
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=').unwrap_or((rest, ""));
        let key = key.trim();
        let after = after.trim_start();
        let (value, next) = if let Some(q) = after.strip_prefix('\'') {
            let mut v = String::new();
            let mut chars = q.char_indices();
            let mut end = q.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            v.push(n);
                        }
                    }
                    '\'' => {
                        end = i + 1;
                        break;
                    }
                    c => v.push(c),
                }
            }
            (v, &q[end.min(q.len())..])
        } else {
            let end = after.find(char::is_whitespace).unwrap_or(after.len());
            (after[..end].to_string(), &after[end..])
        };
        if key == "password" {
            password = Some(value);
        } else {
            let raw = &rest[..rest.len() - next.len()];
            kept.push_str(raw.trim());
            kept.push(' ');
        }
        rest = next.trim_start();
    }
    Conninfo {
        dbname: kept.trim_end().to_string(),
        password: password.filter(|p| !p.is_empty()),
    }
}

/// Versions recorded beside a dump.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DumpInfo {
    /// The database's name in holdfast.toml.
    pub name: String,
    /// `server_version` as the server reports it.
    pub server_version: String,
    /// `pg_dump --version`.
    pub pg_dump_version: String,
}

/// A running `pg_dump`: read the dump from [`Dump::stdout`], then call [`Dump::finish`]
/// to learn whether it succeeded.
pub struct Dump {
    child: Child,
    name: String,
    target: String,
    stderr: std::thread::JoinHandle<String>,
}

impl std::fmt::Debug for Dump {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dump")
            .field("name", &self.name)
            .field("target", &self.target)
            .finish()
    }
}

impl Dump {
    /// Takes the dump bytes' pipe, as `pg_dump` writes them.
    pub fn take_stdout(&mut self) -> Option<ChildStdout> {
        self.child.stdout.take()
    }

    /// Waits for `pg_dump` and maps a failure to a clear error.
    pub fn finish(mut self) -> Result<(), DatabaseError> {
        drop(self.child.stdout.take());
        let status = self.child.wait().map_err(|e| DatabaseError::Io {
            path: "pg_dump".into(),
            source: e,
        })?;
        let stderr = self.stderr.join().unwrap_or_default();
        if status.success() {
            return Ok(());
        }
        Err(classify(&self.name, &self.target, "pg_dump", &stderr))
    }
}

fn spawn_err(program: &str, e: std::io::Error) -> DatabaseError {
    if e.kind() == std::io::ErrorKind::NotFound {
        DatabaseError::MissingProgram {
            program: program.to_string(),
        }
    } else {
        DatabaseError::Io {
            path: program.into(),
            source: e,
        }
    }
}

/// Maps what a client printed on failure to one error.
fn classify(name: &str, target: &str, program: &str, stderr: &str) -> DatabaseError {
    let lower = stderr.to_lowercase();
    let (name, target) = (name.to_string(), target.to_string());
    if lower.contains("connection refused")
        || lower.contains("could not connect") && lower.contains("no such file")
    {
        DatabaseError::ConnectionRefused { name, target }
    } else if lower.contains("password authentication failed")
        || lower.contains("no password supplied")
    {
        DatabaseError::AuthFailed { name, target }
    } else {
        let tail: String = stderr
            .trim()
            .lines()
            .rev()
            .take(5)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n");
        DatabaseError::Command {
            name,
            program: program.to_string(),
            stderr: tail,
        }
    }
}

fn drain(mut r: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut s = String::new();
        let _ = r.read_to_string(&mut s);
        s
    })
}

/// Starts `pg_dump -Fc` for the database at `url` (its holdfast.toml `name` is used in
/// messages).
pub fn start_dump(name: &str, url: &str) -> Result<Dump, DatabaseError> {
    let conn = Conninfo::from_url(url);
    let mut child = conn
        .command("pg_dump")
        .args(["--format=custom", "--no-password", "--dbname", &conn.dbname])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| spawn_err("pg_dump", e))?;
    let stderr = drain(child.stderr.take().ok_or_else(|| DatabaseError::Io {
        path: "pg_dump".into(),
        source: std::io::Error::other("no stderr pipe"),
    })?);
    Ok(Dump {
        child,
        name: name.to_string(),
        target: redacted_target(url),
        stderr,
    })
}

fn run_capture(
    program: &str,
    args: &[&str],
    name: &str,
    url: &str,
) -> Result<String, DatabaseError> {
    let out = Conninfo::from_url(url)
        .command(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| spawn_err(program, e))?;
    if !out.status.success() {
        return Err(classify(
            name,
            &redacted_target(url),
            program,
            &String::from_utf8_lossy(&out.stderr),
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The server's and the local `pg_dump`'s versions, recorded with every dump.
pub fn versions(name: &str, url: &str) -> Result<DumpInfo, DatabaseError> {
    let conn = Conninfo::from_url(url);
    let server_version = run_capture(
        "psql",
        &[
            "--no-password",
            "-XtA",
            "--dbname",
            &conn.dbname,
            "-c",
            "SHOW server_version",
        ],
        name,
        url,
    )?;
    let pg_dump_version = run_capture("pg_dump", &["--version"], name, url)?;
    Ok(DumpInfo {
        name: name.to_string(),
        server_version,
        pg_dump_version,
    })
}

/// Loads a custom-format dump read from `dump` into the database at `url` with
/// `pg_restore --clean --if-exists` (existing objects are replaced).
pub fn restore(name: &str, url: &str, mut dump: impl Read) -> Result<(), DatabaseError> {
    let conn = Conninfo::from_url(url);
    let mut child = conn
        .command("pg_restore")
        .args([
            "--clean",
            "--if-exists",
            "--no-owner",
            "--no-password",
            "--single-transaction",
            "--dbname",
            &conn.dbname,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| spawn_err("pg_restore", e))?;
    let stderr = drain(child.stderr.take().ok_or_else(|| DatabaseError::Io {
        path: "pg_restore".into(),
        source: std::io::Error::other("no stderr pipe"),
    })?);
    let copied = match child.stdin.take() {
        Some(mut stdin) => std::io::copy(&mut dump, &mut stdin).map(|_| ()),
        None => Err(std::io::Error::other("no stdin pipe")),
    };
    let status = child.wait().map_err(|e| DatabaseError::Io {
        path: "pg_restore".into(),
        source: e,
    })?;
    let stderr = stderr.join().unwrap_or_default();
    if !status.success() {
        return Err(classify(name, &redacted_target(url), "pg_restore", &stderr));
    }
    copied.map_err(|e| DatabaseError::Io {
        path: "pg_restore".into(),
        source: e,
    })
}

/// Checks that a dump file is readable by `pg_restore --list` (restore drills); returns
/// the number of entries in its table of contents.
pub fn list_dump(path: &std::path::Path) -> Result<usize, DatabaseError> {
    let out = Conninfo::from_url("")
        .command("pg_restore")
        .arg("--list")
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| spawn_err("pg_restore", e))?;
    if !out.status.success() {
        return Err(DatabaseError::Command {
            name: path.display().to_string(),
            program: "pg_restore --list".into(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with(';') && !l.trim().is_empty())
        .count())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_leave_the_connection_string() {
        let c = Conninfo::from_url("postgres://shop:s%40cret@db:5432/shop?sslmode=require");
        assert_eq!(c.dbname, "postgres://shop@db:5432/shop?sslmode=require");
        assert_eq!(c.password.as_deref(), Some("s@cret"));
        let c = Conninfo::from_url("postgresql://:pw@db/x?password=other&application_name=a");
        assert_eq!(c.dbname, "postgresql://db/x?application_name=a");
        assert_eq!(c.password.as_deref(), Some("other"));
        let c = Conninfo::from_url("postgres://u@db/x");
        assert_eq!((c.dbname.as_str(), c.password), ("postgres://u@db/x", None));
        let c = Conninfo::from_url("host=db password='a b\\'c' dbname=x");
        assert_eq!(c.dbname, "host=db dbname=x");
        assert_eq!(c.password.as_deref(), Some("a b'c"));
        assert!(!format!("{c:?}").contains("a b"));
    }

    #[test]
    fn failures_are_classified() {
        let refused = classify(
            "shop",
            "127.0.0.1:1",
            "pg_dump",
            "pg_dump: error: connection to server at \"127.0.0.1\", port 1 failed: Connection refused",
        );
        assert!(
            matches!(refused, DatabaseError::ConnectionRefused { .. }),
            "{refused}"
        );
        let auth = classify(
            "shop",
            "h:5432",
            "pg_dump",
            "FATAL:  password authentication failed for user \"x\"",
        );
        assert!(matches!(auth, DatabaseError::AuthFailed { .. }), "{auth}");
        let other = classify(
            "shop",
            "h:5432",
            "pg_dump",
            "database \"nope\" does not exist",
        );
        assert!(other.to_string().contains("does not exist"), "{other}");
    }
}
