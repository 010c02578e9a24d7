//! Key management (docs/FORMAT.md, "Keys"): a repository has one master key and any
//! number of `keys/<id>` files, each wrapping it with one password.
//!
//! Adding a password writes one more key file; changing the password of the key that
//! opened the repository writes the new key file, reads it back and checks the new
//! password opens it, and only then deletes the old one — stopped in between, both
//! passwords open the repository, never neither. Each key file is written whole or not
//! at all (the store writes atomically). Removing a key refuses the last one.

use bytes::Bytes;
use serde::Serialize;

use crate::crypto::{KdfParams, KeyFile};
use crate::error::{Error, Result};
use crate::id::Id;
use crate::repository::{Repository, check_name};

/// One key file.
#[derive(Clone, Debug, Serialize)]
pub struct KeyInfo {
    /// The key file's id (the name under `keys/`).
    pub id: String,
    /// When it was made.
    pub created: Option<chrono::DateTime<chrono::Utc>>,
    /// The host that made it.
    pub hostname: Option<String>,
    /// True for the key the password of this session opened.
    pub current: bool,
    /// Why it cannot be read, when it cannot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub damaged: Option<String>,
}

fn key_id(key: &str) -> &str {
    key.rsplit('/').next().unwrap_or(key)
}

/// Every key file, oldest first (damaged ones listed as such).
pub async fn list_keys(repo: &Repository) -> Result<Vec<KeyInfo>> {
    let mut out = Vec::new();
    for key in repo.list("keys/").await? {
        let current = key == repo.key_file();
        let parsed = repo
            .read_named(&key)
            .await
            .and_then(|b| KeyFile::parse(&key, &b));
        out.push(match parsed {
            Ok(kf) => KeyInfo {
                id: key_id(&key).to_owned(),
                created: Some(kf.created),
                hostname: Some(kf.hostname),
                current,
                damaged: None,
            },
            Err(e) if e.is_unavailable() => return Err(e),
            Err(e) => KeyInfo {
                id: key_id(&key).to_owned(),
                created: None,
                hostname: None,
                current,
                damaged: Some(e.to_string()),
            },
        });
    }
    out.sort_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id)));
    Ok(out)
}

/// Wraps the master key with `password` in a new key file, checks it opens with it, and
/// returns its id.
pub async fn add_key(repo: &Repository, password: &str, kdf: KdfParams) -> Result<String> {
    if password.is_empty() {
        return Err(Error::Invalid("the new password is empty".into()));
    }
    let (master, rid, pw) = (
        repo.inner.master.clone(),
        repo.config().id.clone(),
        password.to_owned(),
    );
    let kf = tokio::task::spawn_blocking(move || KeyFile::wrap(&master, pw.as_bytes(), &rid, kdf))
        .await
        .map_err(|e| Error::task("key derivation task", e))??;
    let bytes = serde_json::to_vec_pretty(&kf).map_err(|e| Error::Internal(e.to_string()))?;
    let key = format!("keys/{}", Id::hash(&bytes));
    repo.store().write(&key, Bytes::from(bytes)).await?;
    // Read back: the new key file must be whole and open with the new password before
    // anything relies on it.
    let stored = repo.read_named(&key).await?;
    check_name(&key, &stored)?;
    let kf = KeyFile::parse(&key, &stored)?;
    let (k, pw, rid) = (key.clone(), password.to_owned(), repo.config().id.clone());
    let opened = tokio::task::spawn_blocking(move || kf.unwrap_key(&k, pw.as_bytes(), &rid))
        .await
        .map_err(|e| Error::task("key derivation task", e))??;
    match opened {
        Some(m) if m.0 == repo.inner.master.0 => Ok(key_id(&key).to_owned()),
        _ => Err(Error::corrupt(
            &key,
            "the key file just written does not open with its password",
        )),
    }
}

/// The key file whose id starts with `prefix` (unique).
async fn find_key(repo: &Repository, prefix: &str) -> Result<(String, usize)> {
    let prefix = prefix.to_ascii_lowercase();
    if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::Invalid(format!(
            "key {prefix:?}: expected a key id prefix"
        )));
    }
    let keys = repo.list("keys/").await?;
    let total = keys.len();
    let mut found = keys.into_iter().filter(|k| key_id(k).starts_with(&prefix));
    match (found.next(), found.next()) {
        (Some(k), None) => Ok((k, total)),
        (None, _) => Err(Error::not_found(format!("key {prefix}"))),
        (Some(_), Some(_)) => Err(Error::Invalid(format!(
            "key id prefix {prefix} is ambiguous"
        ))),
    }
}

/// Removes the key file whose id starts with `prefix`; refuses the last key file.
/// Returns the removed key's id.
pub async fn remove_key(repo: &Repository, prefix: &str) -> Result<String> {
    let (key, total) = find_key(repo, prefix).await?;
    if total <= 1 {
        return Err(Error::Invalid(format!(
            "key {} is the repository's only key: removing it would lock everyone out",
            key_id(&key)
        )));
    }
    repo.store().delete_file(&key).await?;
    Ok(key_id(&key).to_owned())
}

/// Replaces the key file that opened `repo` by one for `new_password`: the new key file
/// is written and checked first, then the old one deleted. Returns (old id, new id).
pub async fn change_password(
    repo: &Repository,
    new_password: &str,
    kdf: KdfParams,
) -> Result<(String, String)> {
    let new = add_key(repo, new_password, kdf).await?;
    let old = repo.key_file().to_owned();
    repo.store().delete_file(&old).await?;
    Ok((key_id(&old).to_owned(), new))
}

pub mod text;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::open::open;
    use crate::test_support::{memory_repo as repo, with};

    #[tokio::test]
    async fn add_passwd_remove_round_trip() -> Result<()> {
        let r = repo().await?;
        let fast = KdfParams::insecure_fast();
        let added = add_key(&r, "two", fast).await?;
        let keys = list_keys(&r).await?;
        assert_eq!(keys.len(), 2);
        assert_eq!(keys.iter().filter(|k| k.current).count(), 1);
        let r2 = open(r.store().clone(), &with("two")).await?;
        assert!(r2.key_file().ends_with(&added));
        let (old, _new) = change_password(&r2, "three", fast).await?;
        assert_eq!(old, added);
        assert!(matches!(
            open(r.store().clone(), &with("two")).await,
            Err(Error::WrongPassword { .. })
        ));
        let r3 = open(r.store().clone(), &with("three")).await?;
        let first = key_id(r.key_file()).to_owned();
        assert_eq!(remove_key(&r3, &first[..8]).await?, first);
        assert!(matches!(
            open(r.store().clone(), &with("one")).await,
            Err(Error::WrongPassword { .. })
        ));
        // The last key stays.
        let last = key_id(r3.key_file()).to_owned();
        assert!(matches!(
            remove_key(&r3, &last).await,
            Err(Error::Invalid(_))
        ));
        Ok(())
    }
}
