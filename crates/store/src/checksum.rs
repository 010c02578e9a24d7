//! Streaming checksums: SHA-256 (what the HTTP API reports) and BLAKE3 (what holdfast
//! uses internally), computed over a byte stream without holding it in memory.

use bytes::Bytes;
use futures::{Stream, StreamExt};
use sha2::Digest;

use crate::error::Result;
use crate::store::Store;

/// The two digests of one stream, lower-case hex, with its length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checksums {
    /// SHA-256 hex digest.
    pub sha256: String,
    /// BLAKE3 hex digest.
    pub blake3: String,
    /// Bytes hashed.
    pub size: u64,
}

/// Incremental hasher computing both digests at once.
#[derive(Default)]
pub struct Hasher {
    sha: sha2::Sha256,
    b3: blake3::Hasher,
    size: u64,
}

impl Hasher {
    /// A fresh hasher.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes.
    pub fn update(&mut self, data: &[u8]) {
        self.sha.update(data);
        self.b3.update(data);
        self.size += data.len() as u64;
    }

    /// The digests of everything fed so far.
    pub fn finish(self) -> Checksums {
        Checksums {
            sha256: hex::encode(self.sha.finalize()),
            blake3: self.b3.finalize().to_hex().to_string(),
            size: self.size,
        }
    }
}

/// SHA-256 of a byte slice, lower-case hex.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(data))
}

/// BLAKE3 of a byte slice, lower-case hex.
pub fn blake3_hex(data: &[u8]) -> String {
    blake3::hash(data).to_hex().to_string()
}

/// Both digests of a stream, read piece by piece; the first error stops it.
pub async fn checksum_stream<S, E>(mut stream: S) -> Result<Checksums, E>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
{
    let mut h = Hasher::new();
    while let Some(piece) = stream.next().await {
        h.update(&piece?);
    }
    Ok(h.finish())
}

/// Both digests of a stored object, streamed.
pub async fn checksum_object(store: &Store, key: &str) -> Result<Checksums> {
    checksum_stream(store.read_stream(key).await?).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn streaming_and_one_shot_agree() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let pieces: Vec<Result<Bytes, std::io::Error>> = data
            .chunks(777)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        let sums = checksum_stream(futures::stream::iter(pieces))
            .await
            .expect("hash");
        assert_eq!(sums.sha256, sha256_hex(&data));
        assert_eq!(sums.blake3, blake3_hex(&data));
        assert_eq!(sums.size, data.len() as u64);
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
