//! Packs: concatenated blob envelopes followed by an encrypted trailer that lists them
//! and a 4-byte trailer length (docs/FORMAT.md, "Packs"). Writing and parsing.

use serde::{Deserialize, Serialize};

use crate::crypto::{AD_TRAILER, Keys};
use crate::error::{Error, Result};
use crate::id::Id;

/// Packs are closed once they reach this size.
pub const TARGET_SIZE: usize = 16 * 1024 * 1024;
/// No pack grows beyond this size.
pub const MAX_SIZE: usize = 64 * 1024 * 1024;
const ENTRY_LEN: usize = 32 + 1 + 8 + 4 + 4;

/// What a blob holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BlobType {
    /// A chunk of file content.
    Data,
    /// A serialized directory.
    Tree,
}

/// One blob inside a pack: where its envelope is and how big its plaintext is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackedBlob {
    /// Blob id (keyed hash of the plaintext).
    pub id: Id,
    /// Data or tree.
    #[serde(rename = "type")]
    pub kind: BlobType,
    /// Offset of the envelope in the pack.
    pub offset: u64,
    /// Length of the envelope.
    pub length: u32,
    /// Length of the plaintext.
    pub raw_length: u32,
}

/// The store key of a pack.
pub fn pack_key(id: &Id) -> String {
    let hex = id.to_hex();
    format!("data/{}/{}", &hex[..2], hex)
}

/// Builds one pack in memory.
#[derive(Default)]
pub struct PackWriter {
    buf: Vec<u8>,
    blobs: Vec<PackedBlob>,
}

/// A finished pack: its id, bytes and contents.
pub struct FinishedPack {
    /// Pack id (BLAKE3 of `bytes`).
    pub id: Id,
    /// The whole pack.
    pub bytes: bytes::Bytes,
    /// The blobs it holds.
    pub blobs: Vec<PackedBlob>,
}

impl PackWriter {
    /// An empty pack.
    pub fn new() -> Self {
        PackWriter {
            buf: Vec::with_capacity(TARGET_SIZE + 5 * 1024 * 1024),
            blobs: Vec::new(),
        }
    }

    /// Appends a sealed blob.
    pub fn add(&mut self, id: Id, kind: BlobType, sealed: &[u8], raw_length: usize) {
        self.blobs.push(PackedBlob {
            id,
            kind,
            offset: self.buf.len() as u64,
            length: sealed.len() as u32,
            raw_length: raw_length as u32,
        });
        self.buf.extend_from_slice(sealed);
    }

    /// Bytes of blob envelopes so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// True when no blob was added.
    pub fn is_empty(&self) -> bool {
        self.blobs.is_empty()
    }

    /// Appends the encrypted trailer and its length; hashes the pack.
    pub fn finish(self, keys: &Keys) -> Result<FinishedPack> {
        let trailer = keys.seal(AD_TRAILER, &encode_trailer(&self.blobs), 0)?;
        Ok(self.close(&trailer))
    }

    /// [`PackWriter::finish`] with a synthetic trailer nonce ([`Keys::seal_synthetic`]):
    /// the same blob envelopes in the same order give the same pack, byte for byte.
    pub fn finish_synthetic(self, keys: &Keys) -> Result<FinishedPack> {
        let trailer = keys.seal_synthetic(AD_TRAILER, &encode_trailer(&self.blobs), 0)?;
        Ok(self.close(&trailer))
    }

    fn close(mut self, trailer: &[u8]) -> FinishedPack {
        self.buf.extend_from_slice(trailer);
        self.buf
            .extend_from_slice(&(trailer.len() as u32).to_le_bytes());
        let id = Id::hash(&self.buf);
        FinishedPack {
            id,
            bytes: bytes::Bytes::from(self.buf),
            blobs: self.blobs,
        }
    }
}

/// The plaintext trailer: count, then one 49-byte entry per blob.
pub fn encode_trailer(blobs: &[PackedBlob]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + blobs.len() * ENTRY_LEN);
    out.extend_from_slice(&(blobs.len() as u32).to_le_bytes());
    for b in blobs {
        out.extend_from_slice(&b.id.0);
        out.push(match b.kind {
            BlobType::Data => 0,
            BlobType::Tree => 1,
        });
        out.extend_from_slice(&b.offset.to_le_bytes());
        out.extend_from_slice(&b.length.to_le_bytes());
        out.extend_from_slice(&b.raw_length.to_le_bytes());
    }
    out
}

/// Parses a plaintext trailer, checking every entry lies within `data_len` bytes.
pub fn decode_trailer(object: &str, bytes: &[u8], data_len: u64) -> Result<Vec<PackedBlob>> {
    let bad = |why: &str| Error::corrupt(object, format!("pack trailer: {why}"));
    let (count, rest) = bytes
        .split_first_chunk::<4>()
        .ok_or_else(|| bad("too short"))?;
    let count = u32::from_le_bytes(*count) as usize;
    if rest.len() != count.saturating_mul(ENTRY_LEN) {
        return Err(bad("length does not match entry count"));
    }
    let mut out = Vec::with_capacity(count);
    for e in rest.chunks_exact(ENTRY_LEN) {
        let mut id = [0u8; 32];
        id.copy_from_slice(&e[..32]);
        let kind = match e[32] {
            0 => BlobType::Data,
            1 => BlobType::Tree,
            _ => return Err(bad("unknown blob type")),
        };
        let u64_at = |i: usize| {
            e.get(i..i + 8)
                .and_then(|s| s.try_into().ok())
                .map(u64::from_le_bytes)
        };
        let u32_at = |i: usize| {
            e.get(i..i + 4)
                .and_then(|s| s.try_into().ok())
                .map(u32::from_le_bytes)
        };
        let (Some(offset), Some(length), Some(raw_length)) = (u64_at(33), u32_at(41), u32_at(45))
        else {
            return Err(bad("short entry"));
        };
        if offset
            .checked_add(u64::from(length))
            .is_none_or(|end| end > data_len)
        {
            return Err(bad("blob outside the pack"));
        }
        out.push(PackedBlob {
            id: Id(id),
            kind,
            offset,
            length,
            raw_length,
        });
    }
    Ok(out)
}

/// Reads the trailer of a whole pack.
pub fn read_trailer(keys: &Keys, object: &str, pack: &[u8]) -> Result<Vec<PackedBlob>> {
    let (rest, len) = pack
        .split_last_chunk::<4>()
        .ok_or_else(|| Error::corrupt(object, "pack shorter than 4 bytes"))?;
    let len = u32::from_le_bytes(*len) as usize;
    if len > rest.len() {
        return Err(Error::corrupt(
            object,
            "trailer length beyond the pack (truncated?)",
        ));
    }
    let (data, trailer) = rest.split_at(rest.len() - len);
    let plain = keys.open(object, AD_TRAILER, trailer, 0)?;
    decode_trailer(object, &plain, data.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::MasterKey;

    #[test]
    fn write_then_read_pack() -> Result<()> {
        let keys = Keys::derive(&MasterKey::generate()?);
        let mut w = PackWriter::new();
        let mut ids = Vec::new();
        for i in 0..5u8 {
            let data = vec![i; 1000 + usize::from(i)];
            let id = keys.blob_id(&data);
            let sealed = keys.seal(&id.0, &data, 3)?;
            w.add(
                id,
                if i == 4 {
                    BlobType::Tree
                } else {
                    BlobType::Data
                },
                &sealed,
                data.len(),
            );
            ids.push((id, data));
        }
        let pack = w.finish(&keys)?;
        assert_eq!(pack.id, Id::hash(&pack.bytes));
        let blobs = read_trailer(&keys, "p", &pack.bytes)?;
        assert_eq!(blobs, pack.blobs);
        for (b, (id, data)) in blobs.iter().zip(&ids) {
            let env = &pack.bytes[b.offset as usize..(b.offset + u64::from(b.length)) as usize];
            assert_eq!(&keys.open("b", &id.0, env, data.len())?, data);
        }
        let truncated = &pack.bytes[..pack.bytes.len() - 10];
        assert!(matches!(
            read_trailer(&keys, "p", truncated),
            Err(Error::Corrupt { .. })
        ));
        assert!(matches!(
            read_trailer(&keys, "p", &[1, 2]),
            Err(Error::Corrupt { .. })
        ));
        Ok(())
    }

    #[test]
    fn trailer_rejects_out_of_range() {
        let b = PackedBlob {
            id: Id([0; 32]),
            kind: BlobType::Data,
            offset: 10,
            length: 10,
            raw_length: 1,
        };
        let t = encode_trailer(&[b]);
        assert!(decode_trailer("p", &t, 20).is_ok());
        assert!(decode_trailer("p", &t, 19).is_err());
        assert!(decode_trailer("p", &t[..t.len() - 1], 20).is_err());
    }
}
