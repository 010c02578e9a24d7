//! The environment of every program holdfast starts for itself: `[hooks]` commands
//! (through `sh -c`), `pg_dump`, `psql` and `pg_restore`. Invariant: none of them sees
//! holdfast's own secrets. A child's environment is built here and nowhere else, from
//! an allow-list rather than by inheritance:
//!
//! - passed through: [`ALLOWED`] by name and [`ALLOWED_PREFIXES`] by prefix (`LC_*`,
//!   and `PG*` for the Postgres tools only);
//! - always dropped, even when allowed: a name in [`DENIED`] or one containing
//!   `PASSWORD`, `SECRET`, `TOKEN`, `CREDENTIAL` or `_KEY` — except `PGPASSWORD` for the
//!   Postgres tools, whose own variable it is — and any variable whose value contains a
//!   secret of the configuration (a database URL's password, the repository URL's);
//! - set by the caller: `PGPASSWORD` for the Postgres tools, which get their password
//!   there and never on the command line, where every user of the machine could read it
//!   in `/proc/*/cmdline`.

use std::ffi::{OsStr, OsString};
use std::process::Command;

use crate::config::{Config, Database};

/// Variables passed through by name.
pub const ALLOWED: [&str; 24] = [
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "LANG",
    "LANGUAGE",
    "TZ",
    "TMPDIR",
    "TERM",
    "HOSTNAME",
    "PWD",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "XDG_RUNTIME_DIR",
    "DOCKER_HOST",
    "DOCKER_CONTEXT",
    "DOCKER_CONFIG",
    "DOCKER_CERT_PATH",
    "DOCKER_TLS_VERIFY",
    "COMPOSE_FILE",
    "COMPOSE_PROJECT_NAME",
    "RAILWAY_VOLUME_MOUNT_PATH",
    "RAILWAY_VOLUME_NAME",
];

/// Prefixes passed through for every child.
pub const ALLOWED_PREFIXES: [&str; 1] = ["LC_"];

/// Prefix passed through for the Postgres tools only (`PGHOST`, `PGSSLMODE`, …).
pub const POSTGRES_PREFIX: &str = "PG";

/// Variables never passed, whatever the lists say.
pub const DENIED: [&str; 7] = [
    "HOLDFAST_PASSWORD",
    "HOLDFAST_PASSWORD_FILE",
    "HOLDFAST_API_TOKEN",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AZURE_STORAGE_KEY",
    "AZURE_STORAGE_CONNECTION_STRING",
];

/// Words that make a variable's name secret.
const SECRET_WORDS: [&str; 5] = ["PASSWORD", "SECRET", "TOKEN", "CREDENTIAL", "_KEY"];

/// Which kind of child an environment is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildKind {
    /// A `[hooks]` command.
    Hook,
    /// `pg_dump`, `psql` or `pg_restore`.
    Postgres,
}

/// True when variable `name` may reach a child of `kind` (before the value check).
pub fn name_allowed(name: &str, kind: ChildKind) -> bool {
    if kind == ChildKind::Postgres && name == "PGPASSWORD" {
        return true;
    }
    let upper = name.to_ascii_uppercase();
    if DENIED.contains(&upper.as_str())
        || upper.starts_with("HOLDFAST_") && upper.contains("PASSWORD")
        || SECRET_WORDS.iter().any(|w| upper.contains(w))
    {
        return false;
    }
    ALLOWED.contains(&name)
        || ALLOWED_PREFIXES.iter().any(|p| name.starts_with(p))
        || kind == ChildKind::Postgres && name.starts_with(POSTGRES_PREFIX)
}

/// The secrets of a configuration that no child may see in its environment: the
/// passwords of the database URLs and of the repository URL.
pub fn config_secrets(config: &Config) -> Vec<String> {
    let mut out = Vec::new();
    for v in &config.volumes {
        for db in &v.databases {
            let url = match db {
                Database::Postgres { url, .. } => Some(url.as_str()),
                Database::Redis { url, .. } => url.as_deref(),
                _ => None,
            };
            if let Some(pw) = url.and_then(url_password) {
                out.push(pw);
            }
        }
    }
    if let Some(pw) = config.repository_url().and_then(url_password) {
        out.push(pw);
    }
    out
}

/// The password of a `scheme://user:password@host/…` URL, percent-decoded.
pub fn url_password(url: &str) -> Option<String> {
    let (_, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    let (userinfo, _) = authority.rsplit_once('@')?;
    let (_, pw) = userinfo.split_once(':')?;
    (!pw.is_empty()).then(|| percent_decode(pw))
}

/// Decodes `%XX` escapes (invalid ones are kept as they are).
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The environment of one child, built from this process's.
#[derive(Clone, Default)]
pub struct ChildEnv {
    vars: Vec<(OsString, OsString)>,
}

impl std::fmt::Debug for ChildEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<_> = self.vars.iter().map(|(k, _)| k).collect();
        f.debug_struct("ChildEnv").field("names", &names).finish()
    }
}

impl ChildEnv {
    /// This process's environment filtered for a child of `kind`; `secrets` are values
    /// (of the configuration) that no passed variable may contain.
    pub fn new(kind: ChildKind, secrets: &[String]) -> Self {
        Self::from_vars(std::env::vars_os(), kind, secrets)
    }

    /// [`ChildEnv::new`] over a given environment.
    pub fn from_vars(
        vars: impl IntoIterator<Item = (OsString, OsString)>,
        kind: ChildKind,
        secrets: &[String],
    ) -> Self {
        let secrets: Vec<&str> = secrets
            .iter()
            .map(String::as_str)
            .filter(|s| !s.is_empty())
            .collect();
        let vars = vars
            .into_iter()
            .filter(|(k, v)| {
                let (Some(k), v) = (k.to_str(), v.to_string_lossy()) else {
                    return false;
                };
                name_allowed(k, kind) && !secrets.iter().any(|s| v.contains(s))
            })
            .collect();
        ChildEnv { vars }
    }

    /// Sets (or replaces) one variable.
    pub fn set(&mut self, name: &str, value: impl AsRef<OsStr>) -> &mut Self {
        self.vars.retain(|(k, _)| k != name);
        self.vars.push((name.into(), value.as_ref().to_owned()));
        self
    }

    /// The names passed, in order.
    pub fn names(&self) -> impl Iterator<Item = &OsStr> {
        self.vars.iter().map(|(k, _)| k.as_os_str())
    }

    /// Gives `cmd` exactly this environment (nothing inherited).
    pub fn apply(&self, cmd: &mut Command) {
        cmd.env_clear();
        cmd.envs(self.vars.iter().map(|(k, v)| (k, v)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect()
    }

    fn names(e: &ChildEnv) -> Vec<String> {
        e.names()
            .map(|n| n.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn secrets_never_pass() {
        let vars = env(&[
            ("PATH", "/usr/bin"),
            ("HOME", "/root"),
            ("LC_ALL", "C"),
            ("HOLDFAST_PASSWORD", "m1"),
            ("HOLDFAST_API_TOKEN", "m2"),
            ("HOLDFAST_DB_PASSWORD", "m3"),
            ("AWS_SECRET_ACCESS_KEY", "m4"),
            ("AWS_SESSION_TOKEN", "m5"),
            ("AZURE_STORAGE_KEY", "m6"),
            ("AZURE_STORAGE_CONNECTION_STRING", "m7"),
            ("PGPASSWORD", "m8"),
            ("PGHOST", "db"),
            ("TZ", "pw-in-config"),
            ("RANDOM_APP_VAR", "x"),
        ]);
        let secrets = vec!["pw-in-config".to_string()];
        let hook = ChildEnv::from_vars(vars.clone(), ChildKind::Hook, &secrets);
        assert_eq!(names(&hook), ["PATH", "HOME", "LC_ALL"]);
        let pg = ChildEnv::from_vars(vars, ChildKind::Postgres, &secrets);
        assert_eq!(
            names(&pg),
            ["PATH", "HOME", "LC_ALL", "PGPASSWORD", "PGHOST"]
        );
    }

    #[test]
    fn url_passwords() {
        assert_eq!(
            url_password("postgres://u:p%40ss@h:5432/db").as_deref(),
            Some("p@ss")
        );
        assert_eq!(url_password("postgres://u@h/db"), None);
        assert_eq!(url_password("redis://:pw@h:6379/0").as_deref(), Some("pw"));
        assert_eq!(url_password("s3://bucket/x?endpoint=http://a:b@c"), None);
    }
}
