//! Store locations: parsing a store URL (`file:///abs`, `memory://`, `s3://bucket/prefix`,
//! `azblob://container/prefix`) or the `STORAGE_TYPE` environment into a [`Location`],
//! and building the OpenDAL operator for it. Credentials come from the environment
//! (`AWS_*`, `AZURE_STORAGE_*`) and never appear in the URL we print.

use std::collections::HashMap;
use std::path::PathBuf;

use opendal::Operator;

use crate::error::{Error, ErrorKind, Result};

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

impl Location {
    /// Parses a store URL; a plain absolute path is taken as `file://`.
    pub fn parse(raw: &str) -> Result<Location> {
        if raw.starts_with('/') {
            return Ok(Location::Fs {
                root: PathBuf::from(raw),
            });
        }
        let url = url::Url::parse(raw).map_err(|e| invalid(raw, e))?;
        let query: HashMap<String, String> = url.query_pairs().into_owned().collect();
        for k in query.keys() {
            if !matches!(k.as_str(), "endpoint" | "region") {
                return Err(invalid(
                    raw,
                    format!("unknown parameter `{k}` (known: endpoint, region)"),
                ));
            }
        }
        let host = url.host_str().unwrap_or("").to_string();
        let prefix = percent_decode(url.path().trim_matches('/'));
        match url.scheme() {
            "file" => {
                if !host.is_empty() && host != "localhost" {
                    return Err(invalid(raw, "file URLs take an absolute path: file:///dir"));
                }
                let path = url
                    .to_file_path()
                    .map_err(|_| invalid(raw, "file URLs take an absolute path: file:///dir"))?;
                Ok(Location::Fs { root: path })
            }
            "memory" => Ok(Location::Memory),
            "s3" => {
                if host.is_empty() {
                    return Err(invalid(raw, "missing bucket: s3://BUCKET/prefix"));
                }
                Ok(Location::S3 {
                    bucket: host,
                    prefix,
                    endpoint: query.get("endpoint").cloned(),
                    region: query.get("region").cloned(),
                })
            }
            "azblob" | "az" => {
                if host.is_empty() {
                    return Err(invalid(raw, "missing container: azblob://CONTAINER/prefix"));
                }
                Ok(Location::Azblob {
                    container: host,
                    prefix,
                    endpoint: query.get("endpoint").cloned(),
                })
            }
            other => Err(invalid(
                raw,
                format!("unknown scheme `{other}` (known: file, memory, s3, azblob)"),
            )),
        }
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

    /// Builds the OpenDAL operator (without layers).
    pub(crate) fn operator(&self, display: &str) -> Result<Operator> {
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
                let mut b = opendal::services::S3::default()
                    .bucket(bucket)
                    .root(&format!("/{prefix}"));
                if let Some(ep) = endpoint.clone().or_else(|| env("AWS_ENDPOINT_URL")) {
                    b = b.endpoint(&ep);
                }
                let region = region
                    .clone()
                    .or_else(|| env("AWS_REGION"))
                    .or_else(|| env("AWS_DEFAULT_REGION"));
                b = b.region(region.as_deref().unwrap_or("us-east-1"));
                if let (Some(id), Some(secret)) =
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
                let mut b = match env("AZURE_STORAGE_CONNECTION_STRING") {
                    Some(conn) => {
                        opendal::services::Azblob::from_connection_string(&conn).map_err(dal)?
                    }
                    None => {
                        let account = env("AZURE_STORAGE_ACCOUNT").ok_or_else(|| {
                            invalid(display, "set AZURE_STORAGE_ACCOUNT and AZURE_STORAGE_KEY or AZURE_STORAGE_CONNECTION_STRING")
                        })?;
                        let mut b = opendal::services::Azblob::default().account_name(&account);
                        if let Some(key) = env("AZURE_STORAGE_KEY") {
                            b = b.account_key(&key);
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
