//! `lint` of Postgres databases with `archive = true`: the server must have
//! `archive_mode` on and hand its WAL to `holdfast pg archive` (asked of the server
//! itself, with `psql`); a server that cannot be reached is a warning.

use super::Finding;
use super::project::Project;
use crate::config::Database;
use crate::databases::postgres::base::archive_settings;

/// Adds a finding per archived Postgres database whose server is not set up for it.
pub fn check(project: &Project, findings: &mut Vec<Finding>) {
    let Some(config) = project.config() else {
        return;
    };
    let file = "holdfast.toml";
    for v in &config.volumes {
        for db in v.databases.iter().filter(|d| d.pg_archive()) {
            let Database::Postgres { url, .. } = db else {
                continue;
            };
            let name = db.name();
            match archive_settings(&name, url) {
                Err(e) => findings.push(Finding::warning(
                    file,
                    format!("database {name}: cannot check its archive settings: {e}"),
                    "start the server (or fix its url) and run lint again",
                )),
                Ok((mode, _)) if mode != "on" && mode != "always" => findings.push(Finding::error(
                    file,
                    format!(
                        "database {name}: archive = true but the server has archive_mode = \
                             {mode}: no WAL is archived, only base backups are kept"
                    ),
                    "set archive_mode = on in postgresql.conf and restart the server",
                )),
                Ok((_, command)) if !command.contains("pg archive") => {
                    findings.push(Finding::error(
                        file,
                        format!(
                            "database {name}: archive = true but the server's archive_command is \
                             {command:?}: holdfast never sees its WAL"
                        ),
                        "set archive_command = 'holdfast pg archive %p' and reload the server",
                    ))
                }
                Ok(_) => {}
            }
        }
    }
}
