//! Opening a repository: `config` is read and checked, then the key files are tried with
//! the password (Argon2id, then the key file's AEAD) until one unwraps the master key.
//!
//! [`KeyCache`] lets a long-running process (`serve`, `run`) skip the key derivation on
//! later opens: it keeps the master key with the repository id, the key file's name and
//! the hash of its bytes, and a keyed hash of the password (the key is random per
//! process, so the tag means nothing outside it). The cached key is used only when the
//! repository id, the password tag, and the key file (still listed, byte for byte the
//! same) all match; a key file removed or replaced, a new repository at the URL, or
//! another password goes through the full derivation again.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use futures::TryStreamExt;
use holdfast_store::{ErrorKind, ListOptions, Store};

use crate::crypto::{KeyFile, MasterKey};
use crate::error::{Error, Result};
use crate::repository::{Config, FORMAT_VERSION, OpenOptions, Repository, read_checked};

/// Master keys unlocked by this process, reused by [`open_cached`].
pub struct KeyCache {
    tag_key: [u8; 32],
    slot: Mutex<Option<Unlocked>>,
    derivations: AtomicU64,
}

struct Unlocked {
    repo_id: String,
    password_tag: blake3::Hash,
    key_file: String,
    key_hash: blake3::Hash,
    master: MasterKey,
}

impl Default for KeyCache {
    fn default() -> Self {
        let mut tag_key = [0u8; 32];
        // Without randomness the tag key stays zero: the tag is then a plain hash of the
        // password, held in memory only, beside the master key it unlocks.
        let _ = crate::crypto::random_bytes(&mut tag_key);
        KeyCache {
            tag_key,
            slot: Mutex::new(None),
            derivations: AtomicU64::new(0),
        }
    }
}

impl std::fmt::Debug for KeyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyCache")
            .field("derivations", &self.derivations())
            .finish_non_exhaustive()
    }
}

impl KeyCache {
    /// How many times a key file was unlocked with the password through this cache (a
    /// reuse does not count).
    pub fn derivations(&self) -> u64 {
        self.derivations.load(Ordering::Relaxed)
    }

    fn tag(&self, password: &str) -> blake3::Hash {
        blake3::keyed_hash(&self.tag_key, password.as_bytes())
    }

    /// The cached master key, when it fits and its key file is unchanged in the store.
    async fn reuse(
        &self,
        store: &Store,
        repo_id: &str,
        password: &str,
        listed: &[String],
    ) -> Option<(String, MasterKey)> {
        let (key_file, key_hash, master) = {
            let slot = self.slot.lock().ok()?;
            let u = slot.as_ref()?;
            // blake3::Hash compares in constant time.
            if u.repo_id != repo_id || u.password_tag != self.tag(password) {
                return None;
            }
            (u.key_file.clone(), u.key_hash, u.master.clone())
        };
        if !listed.contains(&key_file) {
            return None;
        }
        let bytes = read_checked(store, &key_file).await.ok()?;
        (blake3::hash(&bytes) == key_hash).then_some((key_file, master))
    }

    /// Keeps a key just unlocked.
    fn keep(
        &self,
        repo_id: &str,
        password: &str,
        key_file: &str,
        bytes: &[u8],
        master: &MasterKey,
    ) {
        self.derivations.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut slot) = self.slot.lock() {
            *slot = Some(Unlocked {
                repo_id: repo_id.to_owned(),
                password_tag: self.tag(password),
                key_file: key_file.to_owned(),
                key_hash: blake3::hash(bytes),
                master: master.clone(),
            });
        }
    }
}

/// Opens the repository on `store` with the password.
///
/// `config` is the one object not named by its hash, so a byte changed on the way
/// cannot be told from damage by a name check: when it does not parse, or no key file
/// opens with the password, `config` is read once more and, if the second copy differs,
/// the open is tried again with it.
pub async fn open(store: Store, opts: &OpenOptions) -> Result<Repository> {
    open_inner(store, opts, None).await
}

/// [`open`], reusing a master key that `keys` unlocked before for the same repository,
/// password and key file (unchanged in the store), so a long-running process pays for
/// Argon2id once, not once per operation.
pub async fn open_cached(store: Store, opts: &OpenOptions, keys: &KeyCache) -> Result<Repository> {
    open_inner(store, opts, Some(keys)).await
}

async fn open_inner(
    store: Store,
    opts: &OpenOptions,
    keys: Option<&KeyCache>,
) -> Result<Repository> {
    let cfg = read_config(&store).await?;
    match open_with(store.clone(), opts, &cfg, keys).await {
        Err(first @ (Error::Corrupt { .. } | Error::WrongPassword { .. })) => {
            let again = read_config(&store).await?;
            if again == cfg {
                return Err(first);
            }
            tracing::warn!("config read differently a second time; using the second copy");
            open_with(store, opts, &again, keys).await
        }
        other => other,
    }
}

async fn read_config(store: &Store) -> Result<Bytes> {
    store.read("config").await.map_err(|e| match e.kind() {
        ErrorKind::NotFound => Error::NotInitialized {
            repo: store.url().to_owned(),
        },
        _ => e.into(),
    })
}

async fn open_with(
    store: Store,
    opts: &OpenOptions,
    cfg: &[u8],
    cache: Option<&KeyCache>,
) -> Result<Repository> {
    let url = store.url().to_owned();
    let config: Config = serde_json::from_slice(cfg).map_err(|e| Error::corrupt("config", e))?;
    if config.id.len() != 64
        || !config
            .id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(Error::corrupt(
            "config",
            "the repository id is not 64 lower-case hex digits (damaged)",
        ));
    }
    if config.version != FORMAT_VERSION {
        return Err(Error::UnsupportedVersion {
            repo: url,
            version: config.version,
        });
    }
    let keys: Vec<String> = store
        .list("keys/", ListOptions::default())
        .map_ok(|m| m.key)
        .try_collect()
        .await?;
    if keys.is_empty() {
        return Err(Error::corrupt("keys/", "the repository has no key file"));
    }
    if let Some(cache) = cache
        && let Some((key, master)) = cache.reuse(&store, &config.id, &opts.password, &keys).await
    {
        return Ok(Repository::assemble(
            store, config, &master, key, opts.cache,
        ));
    }
    // A damaged key file is reported as damaged, never as a wrong password: it may be the
    // one the password opens.
    let mut damaged: Vec<(String, Error)> = Vec::new();
    for key in keys {
        match try_key(&store, &key, &opts.password, &config.id).await {
            Ok(Some((master, bytes))) => {
                if let Some(cache) = cache {
                    cache.keep(&config.id, &opts.password, &key, &bytes, &master);
                }
                for (k, e) in &damaged {
                    tracing::warn!("key file {k} is damaged and was skipped: {e}");
                }
                return Ok(Repository::assemble(
                    store, config, &master, key, opts.cache,
                ));
            }
            Ok(None) => {}
            Err(Error::NotFound { .. }) => {}
            Err(e @ Error::Corrupt { .. }) => damaged.push((key, e)),
            Err(e) => return Err(e),
        }
    }
    match damaged.into_iter().next() {
        Some((key, e)) => {
            let reason = match e {
                Error::Corrupt { reason, .. } => reason,
                other => other.to_string(),
            };
            Err(Error::corrupt(
                &key,
                format!("damaged key file ({reason}); no sound key file opens with this password"),
            ))
        }
        None => Err(Error::WrongPassword { repo: url }),
    }
}

/// Reads, checks and unwraps one key file: `Ok(None)` when the password does not fit,
/// [`Error::Corrupt`] when the file is damaged.
async fn try_key(
    store: &Store,
    key: &str,
    password: &str,
    repo_id: &str,
) -> Result<Option<(MasterKey, Bytes)>> {
    let bytes = read_checked(store, key).await?;
    let kf = KeyFile::parse(key, &bytes)?;
    let (k, password, repo_id) = (key.to_owned(), password.to_owned(), repo_id.to_owned());
    let master =
        tokio::task::spawn_blocking(move || kf.unwrap_key(&k, password.as_bytes(), &repo_id))
            .await
            .map_err(|e| Error::Internal(format!("key derivation task: {e}")))??;
    Ok(master.map(|m| (m, bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::KdfParams;
    use crate::keys::{add_key, remove_key};
    use crate::test_support::{memory_repo as repo, with};

    /// Finding (#14): `serve` ran Argon2id for every operation.
    #[tokio::test]
    async fn serve_reran_the_key_derivation_for_every_operation() -> Result<()> {
        let r = repo().await?;
        let cache = KeyCache::default();
        for _ in 0..5 {
            let o = open_cached(r.store().clone(), &with("one"), &cache).await?;
            assert_eq!(o.key_file(), r.key_file());
        }
        assert_eq!(cache.derivations(), 1);
        Ok(())
    }

    #[tokio::test]
    async fn a_cached_key_never_opens_for_another_password() -> Result<()> {
        let r = repo().await?;
        let cache = KeyCache::default();
        open_cached(r.store().clone(), &with("one"), &cache).await?;
        let wrong = open_cached(r.store().clone(), &with("two"), &cache).await;
        assert!(
            matches!(wrong, Err(Error::WrongPassword { .. })),
            "{:?}",
            wrong.err()
        );
        Ok(())
    }

    #[tokio::test]
    async fn a_removed_key_file_is_not_reused() -> Result<()> {
        let r = repo().await?;
        let cache = KeyCache::default();
        open_cached(r.store().clone(), &with("one"), &cache).await?;
        add_key(&r, "two", KdfParams::insecure_fast()).await?;
        let by_two = open(r.store().clone(), &with("two")).await?;
        let first = r
            .key_file()
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_owned();
        remove_key(&by_two, &first).await?;
        let again = open_cached(r.store().clone(), &with("one"), &cache).await;
        assert!(
            matches!(again, Err(Error::WrongPassword { .. })),
            "{:?}",
            again.err()
        );
        Ok(())
    }

    #[tokio::test]
    async fn a_new_repository_at_the_same_place_is_unlocked_afresh() -> Result<()> {
        let r = repo().await?;
        let cache = KeyCache::default();
        open_cached(r.store().clone(), &with("one"), &cache).await?;
        let other = repo().await?;
        let o = open_cached(other.store().clone(), &with("one"), &cache).await?;
        assert_eq!(o.config().id, other.config().id);
        assert_eq!(cache.derivations(), 2);
        Ok(())
    }
}
