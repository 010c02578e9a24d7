//! Store locations: parsing a store URL (`file:///abs`, `memory://`, `s3://bucket/prefix`,
//! `azblob://container/prefix`) or the `STORAGE_TYPE` environment into a [`Location`],
//! and building the OpenDAL operator for it. Credentials come from the environment
//! (`AWS_*`, `AZURE_STORAGE_*`) and never appear in the URL we print.

use std::collections::HashMap;
use std::path::PathBuf;

use opendal::Operator;

use crate::error::{Error, ErrorKind, Result};
use crate::redact::{Secret, redact_url};

/// Where a store lives, parsed from its URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A directory on local disk.
    Fs {
        /// Absolute root directory.
        root: PathBuf,
    },
    /// A process-local in-memory store (tests).
    Memory,
    /// An S3-compatible bucket.
    S3 {
        /// Bucket name.
        bucket: String,
        /// Key prefix inside the bucket ("" for none).
        prefix: String,
        /// Endpoint URL, if not AWS's default.
        endpoint: Option<String>,
        /// Region.
        region: Option<String>,
    },
    /// An Azure Blob container.
    Azblob {
        /// Container name.
        container: String,
        /// Key prefix inside the container.
        prefix: String,
        /// Endpoint URL (`https://ACCOUNT.blob.core.windows.net` by default).
        endpoint: Option<String>,
    },
}

/// The store types `STORAGE_TYPE` accepts.
pub const STORAGE_TYPES: &str = "LOCAL, S3, AZURE_BLOB";

fn invalid(url: &str, why: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::InvalidUrl, "open", url, "").with_detail(why)
}

/// Credentials written into a store URL (`s3://KEY:SECRET@bucket`,
/// `?secret_access_key=…`, `azblob://ACCOUNT:KEY@container`, `?account_key=…`); they
/// win over the environment. Kept apart from [`Location`] so that nothing that prints a
/// location can print them; their `Debug` shows `REDACTED`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Secrets {
    pub(crate) access_key_id: Option<Secret>,
    pub(crate) secret_access_key: Option<Secret>,
    pub(crate) session_token: Option<Secret>,
    pub(crate) account_name: Option<Secret>,
    pub(crate) account_key: Option<Secret>,
    pub(crate) sas_token: Option<Secret>,
}

/// Query parameters each scheme accepts.
fn known_params(scheme: &str) -> &'static [&'static str] {
    match scheme {
        "s3" => &[
            "endpoint",
            "region",
            "access_key_id",
            "secret_access_key",
            "session_token",
        ],
        "azblob" | "az" => &["endpoint", "account_name", "account_key", "sas_token"],
        _ => &["endpoint", "region"],
    }
}

impl Location {
    /// Parses a store URL; a plain absolute path is taken as `file://`. Credentials in
    /// the URL are accepted (see [`crate::Store::open`]) but not part of the location.
    pub fn parse(raw: &str) -> Result<Location> {
        parse_with_secrets(raw).map(|(loc, _)| loc)
    }

    /// The location chosen by `STORAGE_TYPE` (seed convention): `LOCAL` with
    /// `FILE_UPLOAD_DEST`, `S3` with `AWS_S3_BUCKET`, `AZURE_BLOB` with
    /// `AZURE_CONTAINER_NAME`. `None` when `STORAGE_TYPE` is unset.
    pub fn from_env() -> Result<Option<Location>> {
        from_vars(|k| std::env::var(k).ok())
    }

    /// A URL naming this location without any credential.
    pub fn display_url(&self) -> String {
        match self {
            Location::Fs { root } => format!("file://{}", root.display()),
            Location::Memory => "memory://".to_string(),
            Location::S3 { bucket, prefix, .. } => format!("s3://{bucket}/{prefix}"),
            Location::Azblob {
                container, prefix, ..
            } => format!("azblob://{container}/{prefix}"),
        }
    }

    /// Builds the OpenDAL operator (without layers); credentials from `secrets` win over
    /// the environment.
    pub(crate) fn operator(&self, display: &str, secrets: &Secrets) -> Result<Operator> {
        let dal = |e| Error::from_dal(e, "open", display, "");
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        match self {
            Location::Fs { root } => {
                if !root.is_absolute() {
                    return Err(invalid(display, "file store root must be absolute"));
                }
                let root_s = root.to_string_lossy();
                let tmp = root.join(crate::store::TEMP_DIR);
                let b = opendal::services::Fs::default()
                    .root(&root_s)
                    .atomic_write_dir(&tmp.to_string_lossy());
                Operator::new(b).map_err(dal)
            }
            Location::Memory => Operator::new(opendal::services::Memory::default()).map_err(dal),
            Location::S3 {
                bucket,
                prefix,
                endpoint,
                region,
            } => {
                // Every upload carries its CRC32C, so a body damaged on the way is
                // refused by the server instead of stored (and the write retried).
                let mut b = opendal::services::S3::default()
                    .bucket(bucket)
                    .root(&format!("/{prefix}"))
                    .checksum_algorithm("crc32c");
                if let Some(ep) = endpoint.clone().or_else(|| env("AWS_ENDPOINT_URL")) {
                    b = b.endpoint(&ep);
                }
                let region = region
                    .clone()
                    .or_else(|| env("AWS_REGION"))
                    .or_else(|| env("AWS_DEFAULT_REGION"));
                b = b.region(region.as_deref().unwrap_or("us-east-1"));
                if let (Some(id), Some(secret)) =
                    (&secrets.access_key_id, &secrets.secret_access_key)
                {
                    b = b
                        .access_key_id(&id.0)
                        .secret_access_key(&secret.0)
                        .disable_config_load()
                        .disable_ec2_metadata();
                    if let Some(token) = &secrets.session_token {
                        b = b.session_token(&token.0);
                    }
                } else if let (Some(id), Some(secret)) =
                    (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY"))
                {
                    b = b.access_key_id(&id).secret_access_key(&secret);
                    if let Some(token) = env("AWS_SESSION_TOKEN") {
                        b = b.session_token(&token);
                    }
                }
                Operator::new(b).map_err(dal)
            }
            Location::Azblob {
                container,
                prefix,
                endpoint,
            } => {
                let from_url = secrets.account_name.as_ref().map(|a| a.0.clone());
                let conn = env("AZURE_STORAGE_CONNECTION_STRING").filter(|_| {
                    from_url.is_none()
                        && secrets.account_key.is_none()
                        && secrets.sas_token.is_none()
                });
                let mut b = match conn {
                    Some(conn) => opendal::services::Azblob::from_connection_string(&conn)
                        .map_err(|_| {
                            invalid(display, "AZURE_STORAGE_CONNECTION_STRING does not parse")
                        })?,
                    None => {
                        let account = from_url.or_else(|| env("AZURE_STORAGE_ACCOUNT")).ok_or_else(|| {
                            invalid(display, "set AZURE_STORAGE_ACCOUNT and AZURE_STORAGE_KEY or AZURE_STORAGE_CONNECTION_STRING")
                        })?;
                        let mut b = opendal::services::Azblob::default().account_name(&account);
                        let key = match &secrets.account_name {
                            Some(_) => secrets.account_key.as_ref().map(|k| k.0.clone()),
                            None => secrets
                                .account_key
                                .as_ref()
                                .map(|k| k.0.clone())
                                .or_else(|| env("AZURE_STORAGE_KEY")),
                        };
                        // A SAS token (e.g. one without delete permission, for append-only
                        // backups) replaces the account key.
                        let sas = secrets
                            .sas_token
                            .as_ref()
                            .map(|t| t.0.clone())
                            .or_else(|| env("AZURE_STORAGE_SAS_TOKEN"));
                        match (sas, key) {
                            (Some(sas), _) => b = b.sas_token(sas.trim_start_matches('?')),
                            (None, Some(key)) => b = b.account_key(&key),
                            (None, None) => {}
                        }
                        if endpoint.is_none() {
                            b = b.endpoint(&format!("https://{account}.blob.core.windows.net"));
                        }
                        b
                    }
                };
                b = b.container(container).root(&format!("/{prefix}"));
                if let Some(ep) = endpoint {
                    b = b.endpoint(ep);
                }
                Operator::new(b).map_err(dal)
            }
        }
    }
}

/// Parses a store URL into its location and the credentials written into it. Every
/// error shows the URL redacted.
pub(crate) fn parse_with_secrets(raw: &str) -> Result<(Location, Secrets)> {
    let shown = redact_url(raw);
    if raw.starts_with('/') {
        return Ok((
            Location::Fs {
                root: PathBuf::from(raw),
            },
            Secrets::default(),
        ));
    }
    let url = url::Url::parse(raw).map_err(|e| invalid(&shown, e))?;
    let scheme = url.scheme().to_string();
    let known = known_params(&scheme);
    let mut query: HashMap<String, String> = HashMap::new();
    for (k, v) in url.query_pairs() {
        if !known.contains(&k.as_ref()) {
            return Err(invalid(
                &shown,
                format!("unknown parameter `{k}` (known: {})", known.join(", ")),
            ));
        }
        query.insert(k.into_owned(), v.into_owned());
    }
    let secret = |k: &str| query.get(k).filter(|v| !v.is_empty()).cloned().map(Secret);
    let user = Some(percent_decode(url.username())).filter(|u| !u.is_empty());
    let password = url.password().map(percent_decode).filter(|p| !p.is_empty());
    if let Some(ep) = query.get("endpoint") {
        let ok =
            url::Url::parse(ep).is_ok_and(|e| e.username().is_empty() && e.password().is_none());
        if !ok {
            return Err(invalid(
                &shown,
                "endpoint must be a URL without credentials, e.g. http://127.0.0.1:3900",
            ));
        }
    }
    let host = url.host_str().unwrap_or("").to_string();
    let prefix = percent_decode(url.path().trim_matches('/'));
    let no_userinfo = |what: &str| -> Result<()> {
        if user.is_some() || password.is_some() {
            return Err(invalid(
                &shown,
                format!("{what} URLs take no user or password"),
            ));
        }
        Ok(())
    };
    match scheme.as_str() {
        "file" => {
            no_userinfo("file")?;
            if !host.is_empty() && host != "localhost" {
                return Err(invalid(
                    &shown,
                    "file URLs take an absolute path: file:///dir",
                ));
            }
            let path = url
                .to_file_path()
                .map_err(|_| invalid(&shown, "file URLs take an absolute path: file:///dir"))?;
            Ok((Location::Fs { root: path }, Secrets::default()))
        }
        "memory" => {
            no_userinfo("memory")?;
            Ok((Location::Memory, Secrets::default()))
        }
        "s3" => {
            if host.is_empty() {
                return Err(invalid(&shown, "missing bucket: s3://BUCKET/prefix"));
            }
            let secrets = Secrets {
                access_key_id: user.map(Secret).or_else(|| secret("access_key_id")),
                secret_access_key: password.map(Secret).or_else(|| secret("secret_access_key")),
                session_token: secret("session_token"),
                ..Secrets::default()
            };
            if secrets.access_key_id.is_some() != secrets.secret_access_key.is_some() {
                return Err(invalid(
                    &shown,
                    "give both the access key id and the secret access key, or neither",
                ));
            }
            Ok((
                Location::S3 {
                    bucket: host,
                    prefix,
                    endpoint: query.get("endpoint").cloned(),
                    region: query.get("region").cloned(),
                },
                secrets,
            ))
        }
        "azblob" | "az" => {
            if host.is_empty() {
                return Err(invalid(
                    &shown,
                    "missing container: azblob://CONTAINER/prefix",
                ));
            }
            let secrets = Secrets {
                account_name: user.map(Secret).or_else(|| secret("account_name")),
                account_key: password.map(Secret).or_else(|| secret("account_key")),
                sas_token: secret("sas_token"),
                ..Secrets::default()
            };
            Ok((
                Location::Azblob {
                    container: host,
                    prefix,
                    endpoint: query.get("endpoint").cloned(),
                },
                secrets,
            ))
        }
        other => Err(invalid(
            &shown,
            format!("unknown scheme `{other}` (known: file, memory, s3, azblob)"),
        )),
    }
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// `from_env` over any variable source (so tests need not touch the process env).
pub(crate) fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Option<Location>> {
    let Some(kind) = get("STORAGE_TYPE").filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let need = |k: &str| {
        get(k).filter(|v| !v.is_empty()).ok_or_else(|| {
            invalid(
                &format!("STORAGE_TYPE={kind}"),
                format!("{k} must be set for STORAGE_TYPE={kind}"),
            )
        })
    };
    let loc = match kind.to_ascii_uppercase().as_str() {
        "LOCAL" => {
            let dest = PathBuf::from(need("FILE_UPLOAD_DEST")?);
            let root = if dest.is_absolute() {
                dest
            } else {
                std::env::current_dir()
                    .map_err(|e| Error::from_io(e, "open", "STORAGE_TYPE=LOCAL", ""))?
                    .join(dest)
            };
            Location::Fs { root }
        }
        "S3" => Location::S3 {
            bucket: need("AWS_S3_BUCKET")?,
            prefix: String::new(),
            endpoint: None,
            region: None,
        },
        "AZURE_BLOB" => Location::Azblob {
            container: need("AZURE_CONTAINER_NAME")?,
            prefix: String::new(),
            endpoint: None,
        },
        _ => {
            return Err(invalid(
                &format!("STORAGE_TYPE={kind}"),
                format!("unknown STORAGE_TYPE `{kind}` (valid: {STORAGE_TYPES})"),
            ));
        }
    };
    Ok(Some(loc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        assert_eq!(
            Location::parse("file:///srv/backups").ok(),
            Some(Location::Fs {
                root: "/srv/backups".into()
            })
        );
        assert_eq!(
            Location::parse("/srv/b").ok(),
            Some(Location::Fs {
                root: "/srv/b".into()
            })
        );
        assert_eq!(Location::parse("memory://").ok(), Some(Location::Memory));
        assert_eq!(
            Location::parse("s3://bk/app/x?endpoint=http://127.0.0.1:3900&region=garage").ok(),
            Some(Location::S3 {
                bucket: "bk".into(),
                prefix: "app/x".into(),
                endpoint: Some("http://127.0.0.1:3900".into()),
                region: Some("garage".into()),
            })
        );
        assert_eq!(
            Location::parse("azblob://c/p?endpoint=http://127.0.0.1:10000/devstoreaccount1").ok(),
            Some(Location::Azblob {
                container: "c".into(),
                prefix: "p".into(),
                endpoint: Some("http://127.0.0.1:10000/devstoreaccount1".into()),
            })
        );
    }

    #[test]
    fn refuses_bad_urls() {
        for bad in [
            "ftp://x",
            "s3://",
            "file://relative/x",
            "s3://b?secret=1",
            "nonsense",
        ] {
            let e = Location::parse(bad).expect_err(bad);
            assert_eq!(e.kind(), ErrorKind::InvalidUrl, "{bad}");
        }
    }

    #[test]
    fn storage_type_env() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(from_vars(vars(&[])).ok(), Some(None));
        assert_eq!(
            from_vars(vars(&[
                ("STORAGE_TYPE", "LOCAL"),
                ("FILE_UPLOAD_DEST", "/data/up")
            ]))
            .ok(),
            Some(Some(Location::Fs {
                root: "/data/up".into()
            }))
        );
        let loc = from_vars(vars(&[("STORAGE_TYPE", "S3"), ("AWS_S3_BUCKET", "b")]))
            .ok()
            .flatten();
        assert!(matches!(loc, Some(Location::S3 { bucket, .. }) if bucket == "b"));
        let e = from_vars(vars(&[("STORAGE_TYPE", "GCS")])).expect_err("unknown type");
        assert!(e.to_string().contains("LOCAL, S3, AZURE_BLOB"), "{e}");
        let e = from_vars(vars(&[("STORAGE_TYPE", "S3")])).expect_err("no bucket");
        assert!(e.to_string().contains("AWS_S3_BUCKET"), "{e}");
    }
}
