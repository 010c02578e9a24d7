//! The archived Postgres databases of holdfast.toml as the commands that have no volume
//! of their own ask for them: the spool `archive_command` and `restore_command` use when
//! no directory is given ([`spool`]), and the role the check of a restored cluster
//! connects as ([`superuser`]).

use super::Conninfo;
use super::archive::Spool;
use crate::config::{Config, Database};

/// Why no one spool could be chosen.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpoolChoiceError {
    /// No Postgres database (of that name) has `archive = true`.
    #[error(
        "no Postgres database with archive = true{}",
        named.as_ref().map(|n| format!(" named {n}")).unwrap_or_default()
    )]
    NoneArchived {
        /// The database asked for, if one was.
        named: Option<String>,
    },
    /// Several databases have `archive = true` and none was named.
    #[error("several archived Postgres databases")]
    Several,
}

/// The spool of the one archived Postgres database of `config` (the one named
/// `database`, when given).
pub fn spool(config: &Config, database: Option<&str>) -> Result<Spool, SpoolChoiceError> {
    let mut found = config.volumes.iter().flat_map(|v| {
        v.databases
            .iter()
            .filter(|d| database.is_none_or(|n| n == d.name()))
            .filter_map(move |d| Spool::of(v, d))
    });
    match (found.next(), found.next()) {
        (Some(s), None) => Ok(s),
        (None, _) => Err(SpoolChoiceError::NoneArchived {
            named: database.map(str::to_owned),
        }),
        (Some(_), Some(_)) => Err(SpoolChoiceError::Several),
    }
}

/// The user of a Postgres database's URL (`postgres://USER@…`), the role the check of a
/// cluster restored from it connects as; `None` for other databases or a URL without one.
pub fn superuser(db: &Database) -> Option<String> {
    match db {
        Database::Postgres { url, .. } => {
            let c = Conninfo::from_url(url);
            c.dbname
                .split_once("://")
                .and_then(|(_, r)| r.split_once('@'))
                .map(|(u, _)| u.to_string())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spool_named_none_says_which() {
        let config = Config::default();
        let e = spool(&config, Some("main")).expect_err("no databases");
        assert_eq!(
            e.to_string(),
            "no Postgres database with archive = true named main"
        );
        let e = spool(&config, None).expect_err("no databases");
        assert_eq!(e.to_string(), "no Postgres database with archive = true");
    }
}
