//! Consistent copies of live databases for a backup, and loading them back:
//! [`sqlite`] through SQLite's online backup API, [`postgres`] through `pg_dump -Fc` /
//! `pg_restore`, [`redis`] by asking the server for a fresh RDB (`BGSAVE`).

pub mod postgres;
pub mod redis;
pub mod sqlite;

use std::path::PathBuf;

/// What can go wrong copying or loading a database; every message names the database.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DatabaseError {
    /// SQLite refused (not a database, locked for too long, disk full…).
    #[error("sqlite database {path}: {message}")]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        message: String,
    },
    /// A client program (`pg_dump`, `pg_restore`, `psql`) is not installed.
    #[error(
        "{program} not found: install the PostgreSQL client tools (Debian: apt-get install postgresql-client)"
    )]
    MissingProgram {
        /// The program looked for.
        program: String,
    },
    /// The server could not be reached.
    #[error(
        "database {name}: connection refused by {target}: is the server running and the URL right?"
    )]
    ConnectionRefused {
        /// The database's name in holdfast.toml.
        name: String,
        /// Host and port, without credentials.
        target: String,
    },
    /// The server refused the credentials.
    #[error(
        "database {name}: authentication failed for {target}: check the user and password in its url"
    )]
    AuthFailed {
        /// The database's name in holdfast.toml.
        name: String,
        /// Host and port, without credentials.
        target: String,
    },
    /// A client program failed some other way; its own words follow.
    #[error("database {name}: {program} failed: {stderr}")]
    Command {
        /// The database's name in holdfast.toml.
        name: String,
        /// The program.
        program: String,
        /// The end of what it printed on stderr.
        stderr: String,
    },
    /// Talking to Redis failed.
    #[error("redis {target}: {message}")]
    Redis {
        /// Host and port.
        target: String,
        /// What went wrong.
        message: String,
    },
    /// Local I/O failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or program involved.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// Host and port of a database URL, with any user and password removed, for messages.
pub fn redacted_target(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    rest.split(['/', '?']).next().unwrap_or(rest).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_never_show_passwords() {
        assert_eq!(
            redacted_target("postgres://u:s3cret@db.internal:5432/shop?sslmode=require"),
            "db.internal:5432"
        );
        assert_eq!(
            redacted_target("redis://:pw@127.0.0.1:6379/0"),
            "127.0.0.1:6379"
        );
        assert_eq!(redacted_target("postgres://localhost/x"), "localhost");
    }
}
