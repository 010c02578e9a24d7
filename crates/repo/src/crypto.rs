//! Keys and the encryption envelope: the master key and its subkeys, keyed blob ids,
//! `seal`/`open` (zstd + XChaCha20-Poly1305 with associated data), and the Argon2id key
//! files that wrap the master key with a password (see docs/FORMAT.md, "Keys").

use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{Tag, XChaCha20Poly1305, XNonce};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::id::Id;

const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
/// Bytes an envelope adds to its payload: nonce, flag byte, tag.
pub const OVERHEAD: usize = NONCE_LEN + 1 + TAG_LEN;

const FLAG_RAW: u8 = 0;
const FLAG_ZSTD: u8 = 1;

/// Associated data of pack trailers.
pub const AD_TRAILER: &[u8] = b"holdfast:trailer";
/// Associated data of index files.
pub const AD_INDEX: &[u8] = b"holdfast:index";
/// Associated data of snapshots.
pub const AD_SNAPSHOT: &[u8] = b"holdfast:snapshot";
/// Associated data of locks.
pub const AD_LOCK: &[u8] = b"holdfast:lock";

/// Fills `buf` with random bytes from the operating system.
pub fn random_bytes(buf: &mut [u8]) -> Result<()> {
    getrandom::fill(buf).map_err(|e| Error::Internal(format!("no random numbers: {e}")))
}

/// The random 32-byte key everything else is derived from.
#[derive(Clone)]
pub struct MasterKey(pub(crate) [u8; 32]);

impl MasterKey {
    /// A fresh random master key.
    pub fn generate() -> Result<MasterKey> {
        let mut k = [0u8; 32];
        random_bytes(&mut k)?;
        Ok(MasterKey(k))
    }
}

/// The subkeys derived from the master key.
pub struct Keys {
    id_key: [u8; 32],
    nonce_key: [u8; 32],
    cipher: XChaCha20Poly1305,
    chunker_seed: u64,
}

impl Keys {
    /// Derives the blob id key, the encryption key and the chunker seed.
    pub fn derive(master: &MasterKey) -> Keys {
        let id_key = blake3::derive_key("holdfast 2026 v1 blob id", &master.0);
        let enc = blake3::derive_key("holdfast 2026 v1 encryption", &master.0);
        let seed = blake3::derive_key("holdfast 2026 v1 chunker seed", &master.0);
        let nonce_key = blake3::derive_key("holdfast 2026 v1 synthetic nonce", &master.0);
        let mut s = [0u8; 8];
        s.copy_from_slice(&seed[..8]);
        Keys {
            id_key,
            nonce_key,
            cipher: XChaCha20Poly1305::new(&enc.into()),
            chunker_seed: u64::from_le_bytes(s),
        }
    }

    /// The id of a blob: keyed BLAKE3 of its plaintext.
    pub fn blob_id(&self, plaintext: &[u8]) -> Id {
        Id(*blake3::keyed_hash(&self.id_key, plaintext).as_bytes())
    }

    /// The seed XORed into the FastCDC gear table.
    pub fn chunker_seed(&self) -> u64 {
        self.chunker_seed
    }

    /// Compresses (zstd `level`, 0 = never) and encrypts `payload` with associated
    /// data `ad`; the result is `nonce ‖ ciphertext ‖ tag`.
    pub fn seal(&self, ad: &[u8], payload: &[u8], level: i32) -> Result<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        random_bytes(&mut nonce)?;
        self.seal_with(nonce, ad, payload, level)
    }

    /// [`Keys::seal`] with a synthetic nonce: keyed BLAKE3 of the associated data and the
    /// payload, so equal inputs give equal envelopes (and so equal packs). A nonce repeats
    /// only with its whole message, which reveals no more than the equal blob ids already
    /// do. Readers cannot tell the two kinds of envelope apart.
    pub fn seal_synthetic(&self, ad: &[u8], payload: &[u8], level: i32) -> Result<Vec<u8>> {
        let mut h = blake3::Hasher::new_keyed(&self.nonce_key);
        h.update(&(ad.len() as u64).to_le_bytes());
        h.update(ad);
        h.update(&level.to_le_bytes());
        h.update(payload);
        let mut nonce = [0u8; NONCE_LEN];
        h.finalize_xof().fill(&mut nonce);
        self.seal_with(nonce, ad, payload, level)
    }

    fn seal_with(
        &self,
        nonce: [u8; NONCE_LEN],
        ad: &[u8],
        payload: &[u8],
        level: i32,
    ) -> Result<Vec<u8>> {
        let compressed = if level > 0 && crate::compress::worth_compressing(payload) {
            crate::compress::compress(payload, level)
        } else {
            None
        };
        let (flag, body) = match &compressed {
            Some(c) if c.len() < payload.len() => (FLAG_ZSTD, c.as_slice()),
            _ => (FLAG_RAW, payload),
        };
        let mut out = Vec::with_capacity(OVERHEAD + body.len());
        out.extend_from_slice(&nonce);
        out.push(flag);
        out.extend_from_slice(body);
        let tag = self
            .cipher
            .encrypt_in_place_detached(XNonce::from_slice(&nonce), ad, &mut out[NONCE_LEN..])
            .map_err(|_| Error::Internal("encryption failed".into()))?;
        out.extend_from_slice(&tag);
        Ok(out)
    }

    /// Authenticates, decrypts and decompresses an envelope made by [`Keys::seal`].
    /// `object` names it in errors; `size_hint` is the expected plaintext size if known.
    pub fn open(
        &self,
        object: &str,
        ad: &[u8],
        sealed: &[u8],
        size_hint: usize,
    ) -> Result<Vec<u8>> {
        if sealed.len() < OVERHEAD {
            return Err(Error::corrupt(
                object,
                format!("envelope of {} bytes is too short", sealed.len()),
            ));
        }
        let (nonce, rest) = sealed.split_at(NONCE_LEN);
        let (body, tag) = rest.split_at(rest.len() - TAG_LEN);
        let mut buf = body.to_vec();
        self.cipher
            .decrypt_in_place_detached(
                XNonce::from_slice(nonce),
                ad,
                &mut buf,
                Tag::from_slice(tag),
            )
            .map_err(|_| Error::corrupt(object, "authentication failed (damaged or forged)"))?;
        match buf.first() {
            Some(&FLAG_RAW) => {
                buf.remove(0);
                Ok(buf)
            }
            Some(&FLAG_ZSTD) => crate::compress::decompress(&buf[1..], size_hint)
                .map_err(|e| Error::corrupt(object, format!("zstd: {e}"))),
            _ => Err(Error::corrupt(object, "unknown envelope flag")),
        }
    }
}

/// Argon2id cost parameters of a key file.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory in KiB.
    pub m_kib: u32,
    /// Iterations.
    pub t: u32,
    /// Parallelism.
    pub p: u32,
}

impl Default for KdfParams {
    fn default() -> Self {
        KdfParams {
            m_kib: 64 * 1024,
            t: 3,
            p: 1,
        }
    }
}

impl KdfParams {
    /// Cheap parameters for tests (never for real repositories).
    pub fn insecure_fast() -> Self {
        KdfParams {
            m_kib: 64,
            t: 1,
            p: 1,
        }
    }
}

/// The stored form of `keys/<id>`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct KeyFile {
    /// Key file format version (1).
    pub version: u32,
    /// Always `argon2id`.
    pub kdf: String,
    /// Argon2id parameters.
    #[serde(flatten)]
    pub params: KdfParams,
    /// Argon2 salt, hex.
    pub salt: String,
    /// XChaCha20 nonce, hex.
    pub nonce: String,
    /// The wrapped master key (ciphertext and tag), hex.
    pub wrapped: String,
    /// When the key was made.
    pub created: chrono::DateTime<chrono::Utc>,
    /// Host that made it.
    pub hostname: String,
}

fn kek(password: &[u8], salt: &[u8], params: KdfParams) -> Result<[u8; 32]> {
    let p = Params::new(params.m_kib, params.t, params.p, Some(32))
        .map_err(|e| Error::Internal(format!("argon2 parameters: {e}")))?;
    let mut out = [0u8; 32];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, p)
        .hash_password_into(password, salt, &mut out)
        .map_err(|e| Error::Internal(format!("argon2: {e}")))?;
    Ok(out)
}

impl KeyFile {
    /// Wraps `master` with `password` for the repository `repo_id`.
    pub fn wrap(
        master: &MasterKey,
        password: &[u8],
        repo_id: &str,
        params: KdfParams,
    ) -> Result<KeyFile> {
        let mut salt = [0u8; 16];
        let mut nonce = [0u8; NONCE_LEN];
        random_bytes(&mut salt)?;
        random_bytes(&mut nonce)?;
        let cipher = XChaCha20Poly1305::new(&kek(password, &salt, params)?.into());
        let mut buf = master.0.to_vec();
        let tag = cipher
            .encrypt_in_place_detached(XNonce::from_slice(&nonce), repo_id.as_bytes(), &mut buf)
            .map_err(|_| Error::Internal("key wrapping failed".into()))?;
        buf.extend_from_slice(&tag);
        Ok(KeyFile {
            version: 1,
            kdf: "argon2id".into(),
            params,
            salt: hex::encode(salt),
            nonce: hex::encode(nonce),
            wrapped: hex::encode(buf),
            created: chrono::Utc::now(),
            hostname: crate::snapshot::hostname(),
        })
    }

    /// Parses a key file and checks every field; `object` names it in errors, which are
    /// [`Error::Corrupt`] for any damage (bad JSON, a missing or malformed field).
    pub fn parse(object: &str, bytes: &[u8]) -> Result<KeyFile> {
        let kf: KeyFile = serde_json::from_slice(bytes).map_err(|e| Error::corrupt(object, e))?;
        if kf.version != 1 || kf.kdf != "argon2id" {
            return Err(Error::corrupt(
                object,
                format!("unknown key version {} / kdf {}", kf.version, kf.kdf),
            ));
        }
        if kf.params.m_kib > 4 * 1024 * 1024 || kf.params.t > 100 || kf.params.p > 64 {
            return Err(Error::corrupt(object, "argon2 parameters out of range"));
        }
        Params::new(kf.params.m_kib, kf.params.t, kf.params.p, Some(32))
            .map_err(|e| Error::corrupt(object, format!("argon2 parameters: {e}")))?;
        let field = |name: &str, hex_value: &str, len: usize| match hex::decode(hex_value) {
            Ok(v) if v.len() == len => Ok(()),
            Ok(v) => Err(Error::corrupt(
                object,
                format!("{name} has {} bytes, not {len}", v.len()),
            )),
            Err(e) => Err(Error::corrupt(object, format!("{name}: {e}"))),
        };
        field("salt", &kf.salt, 16)?;
        field("nonce", &kf.nonce, NONCE_LEN)?;
        field("wrapped", &kf.wrapped, 32 + TAG_LEN)?;
        Ok(kf)
    }

    /// Unwraps the master key; `Ok(None)` when the password does not fit.
    pub fn unwrap_key(
        &self,
        object: &str,
        password: &[u8],
        repo_id: &str,
    ) -> Result<Option<MasterKey>> {
        let salt = hex::decode(&self.salt).map_err(|e| Error::corrupt(object, e))?;
        let nonce = hex::decode(&self.nonce).map_err(|e| Error::corrupt(object, e))?;
        let wrapped = hex::decode(&self.wrapped).map_err(|e| Error::corrupt(object, e))?;
        if nonce.len() != NONCE_LEN || wrapped.len() != 32 + TAG_LEN {
            return Err(Error::corrupt(object, "bad nonce or wrapped key length"));
        }
        let cipher = XChaCha20Poly1305::new(&kek(password, &salt, self.params)?.into());
        let (body, tag) = wrapped.split_at(32);
        let mut key = body.to_vec();
        let ok = cipher
            .decrypt_in_place_detached(
                XNonce::from_slice(&nonce),
                repo_id.as_bytes(),
                &mut key,
                Tag::from_slice(tag),
            )
            .is_ok();
        if !ok {
            return Ok(None);
        }
        let mut k = [0u8; 32];
        k.copy_from_slice(&key);
        Ok(Some(MasterKey(k)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn keys() -> Keys {
        Keys::derive(&MasterKey([7u8; 32]))
    }

    #[test]
    fn seal_open_round_trip_and_ad_binding() -> Result<()> {
        let k = keys();
        let data = vec![b'a'; 10_000];
        let sealed = k.seal(b"ad", &data, 3)?;
        assert!(sealed.len() < data.len(), "compressible data is compressed");
        assert_eq!(k.open("x", b"ad", &sealed, data.len())?, data);
        assert!(matches!(
            k.open("x", b"other", &sealed, 0),
            Err(Error::Corrupt { .. })
        ));
        let mut flipped = sealed.clone();
        flipped[30] ^= 1;
        assert!(matches!(
            k.open("x", b"ad", &flipped, 0),
            Err(Error::Corrupt { .. })
        ));
        assert!(matches!(
            k.open("x", b"ad", &sealed[..10], 0),
            Err(Error::Corrupt { .. })
        ));
        Ok(())
    }

    #[test]
    fn incompressible_is_stored_raw() -> Result<()> {
        let mut data = vec![0u8; 4096];
        random_bytes(&mut data)?;
        let sealed = keys().seal(b"", &data, 3)?;
        assert_eq!(sealed.len(), data.len() + OVERHEAD);
        Ok(())
    }

    #[test]
    fn key_file_wraps_and_rejects_wrong_password() -> Result<()> {
        let m = MasterKey([9u8; 32]);
        let kf = KeyFile::wrap(&m, b"secret", "repo", KdfParams::insecure_fast())?;
        let json = serde_json::to_vec(&kf).map_err(|e| Error::Internal(e.to_string()))?;
        let kf = KeyFile::parse("keys/x", &json)?;
        assert_eq!(
            kf.unwrap_key("k", b"secret", "repo")?.map(|k| k.0),
            Some([9u8; 32])
        );
        assert!(kf.unwrap_key("k", b"wrong", "repo")?.is_none());
        assert!(kf.unwrap_key("k", b"secret", "other-repo")?.is_none());
        assert!(KeyFile::parse("keys/x", b"{garbage").is_err());
        Ok(())
    }

    proptest! {
        #[test]
        fn seal_open_any(data in proptest::collection::vec(any::<u8>(), 0..5000), level in 0i32..4) {
            let k = keys();
            let sealed = k.seal(b"ad", &data, level).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let opened = k.open("p", b"ad", &sealed, data.len()).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(opened, data);
        }
    }
}
