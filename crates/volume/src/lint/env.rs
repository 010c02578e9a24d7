//! `.env` files and the data paths hiding in environment variables.

/// Parses `.env` text: `KEY=value` lines, `export KEY=value`, `#` comments, single or
/// double quoted values. Lines without `=` are ignored.
pub fn parse_dotenv(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for raw in text.lines() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim();
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        let value = value.trim();
        let value = if let Some(inner) = quoted(value, '"').or_else(|| quoted(value, '\'')) {
            inner.to_string()
        } else {
            match value.find(" #") {
                Some(i) => value[..i].trim_end().to_string(),
                None => value.to_string(),
            }
        };
        out.push((key.to_string(), value));
    }
    out
}

fn quoted(value: &str, q: char) -> Option<&str> {
    let rest = value.strip_prefix(q)?;
    let end = rest.find(q)?;
    Some(&rest[..end])
}

/// A path an environment variable says the app keeps data at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataPath {
    /// The variable.
    pub key: String,
    /// The file or directory path.
    pub path: String,
    /// It holds a database or app data (an error when outside volumes), rather than a
    /// directory of unknown purpose (a warning).
    pub is_data: bool,
}

const SYSTEM_PREFIXES: [&str; 14] = [
    "/tmp",
    "/var/tmp",
    "/usr",
    "/bin",
    "/sbin",
    "/lib",
    "/etc",
    "/proc",
    "/sys",
    "/dev",
    "/run",
    "/var/run",
    "/var/log",
    "/var/cache",
];

/// The data path named by `key=value`, if any: a SQLite `DATABASE_URL` (`sqlite:///…`,
/// `sqlite:…`, `file:…`), `CHROMADB_PERSIST_DIRECTORY`, or any `*_PATH`, `*_DIR`,
/// `*_DIRECTORY` whose value is a path. Temporary, cache, log and system directories are
/// left out: losing them on redeploy is expected.
pub fn data_path(key: &str, value: &str) -> Option<DataPath> {
    let upper = key.to_ascii_uppercase();
    if upper == "DATABASE_URL" || upper.ends_with("_DATABASE_URL") || upper == "DB_URL" {
        let path = sqlite_url_path(value)?;
        return Some(DataPath {
            key: key.to_string(),
            path,
            is_data: true,
        });
    }
    if upper == "PATH" || upper == "RAILWAY_VOLUME_MOUNT_PATH" || upper.starts_with("HOLDFAST_") {
        return None;
    }
    let is_path_key = upper == "CHROMADB_PERSIST_DIRECTORY"
        || ["_PATH", "_DIR", "_DIRECTORY"]
            .iter()
            .any(|s| upper.ends_with(s));
    if !is_path_key
        || ["TMP", "TEMP", "CACHE", "LOG"]
            .iter()
            .any(|w| upper.contains(w))
    {
        return None;
    }
    let looks_like_path =
        value.starts_with('/') || value.starts_with("./") || value.starts_with("../");
    if !looks_like_path || value.contains(':') {
        return None;
    }
    if SYSTEM_PREFIXES
        .iter()
        .any(|p| value == *p || value.starts_with(&format!("{p}/")))
    {
        return None;
    }
    let is_data = [
        "DATA", "DB", "DATABASE", "PERSIST", "UPLOAD", "STORAGE", "SQLITE", "CHROMA",
    ]
    .iter()
    .any(|w| upper.contains(w));
    Some(DataPath {
        key: key.to_string(),
        path: value.to_string(),
        is_data,
    })
}

/// The file path of a SQLite URL: `sqlite:///app/data/x.db` and `sqlite:////app/x.db` are
/// `/app/…`; `sqlite:x.db`, `sqlite://x.db` and `file:./dev.db` are relative.
fn sqlite_url_path(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("sqlite+aiosqlite:")
        .or_else(|| url.strip_prefix("sqlite:"))
        .or_else(|| url.strip_prefix("file:"))?;
    let rest = rest.split('?').next().unwrap_or(rest);
    let path = if let Some(abs) = rest.strip_prefix("///") {
        format!("/{}", abs.trim_start_matches('/'))
    } else if let Some(rel) = rest.strip_prefix("//") {
        rel.to_string()
    } else {
        rest.to_string()
    };
    if path.is_empty() || path == ":memory:" || path == "/:memory:" {
        None
    } else {
        Some(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotenv_forms() {
        let text = "# comment\nA=1\nexport B = two \nC=\"quoted # not comment\"\nD='single'\n\
                    E=plain # comment\nnot a line\n=x\n";
        let pairs = parse_dotenv(text);
        let want: Vec<(String, String)> = [
            ("A", "1"),
            ("B", "two"),
            ("C", "quoted # not comment"),
            ("D", "single"),
            ("E", "plain"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(pairs, want);
    }

    #[test]
    fn data_paths() {
        let p = |k: &str, v: &str| data_path(k, v).map(|d| (d.path, d.is_data));
        assert_eq!(
            p("DATABASE_URL", "sqlite:///app/data/x.db"),
            Some(("/app/data/x.db".into(), true))
        );
        assert_eq!(
            p("DATABASE_URL", "sqlite:////abs/x.db"),
            Some(("/abs/x.db".into(), true))
        );
        assert_eq!(
            p("DATABASE_URL", "file:./dev.db"),
            Some(("./dev.db".into(), true))
        );
        assert_eq!(p("DATABASE_URL", "postgres://u@h/db"), None);
        assert_eq!(p("DATABASE_URL", "sqlite::memory:"), None);
        assert_eq!(
            p("CHROMADB_PERSIST_DIRECTORY", "/app/chroma"),
            Some(("/app/chroma".into(), true))
        );
        assert_eq!(
            p("UPLOAD_DIR", "/srv/uploads"),
            Some(("/srv/uploads".into(), true))
        );
        assert_eq!(
            p("MODEL_PATH", "/models/m.bin"),
            Some(("/models/m.bin".into(), false))
        );
        assert_eq!(p("LOG_DIR", "/srv/log"), None);
        assert_eq!(p("WORK_DIR", "/tmp/x"), None);
        assert_eq!(p("PATH", "/usr/bin"), None);
        assert_eq!(p("PLUGIN_PATH", "/a:/b"), None);
        assert_eq!(p("API_PATH", "v1/users"), None);
    }
}
