//! Reading committed transactions from a SQLite `-wal` file, per SQLite's WAL format
//! (<https://www.sqlite.org/fileformat2.html#walformat>).
//!
//! The file is a 32-byte header (magic, version, page size, checkpoint sequence, two
//! salts, a checksum of the first 24 bytes) and frames of a 24-byte header (page number,
//! database size after the commit — non-zero only on a commit frame —, the two salts,
//! the cumulative checksum) followed by a page. A frame is valid when its salts equal
//! the header's and its checksum, chained from the previous frame's, is right; the
//! first invalid frame ends the log (it is left over from an earlier generation, or
//! being written). Only frames up to the last valid commit frame are returned: a
//! transaction is shipped whole or not at all.
//!
//! A [`Cursor`] remembers where a read stopped (generation, frame count and the
//! running checksum), so the next read starts there without reading the file again.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use bytes::Bytes;

/// The WAL header, parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WalHeader {
    /// Checksums read big-endian words (magic 0x377f0683) or little-endian (…82).
    pub big_endian: bool,
    /// Page size in bytes.
    pub page_size: u32,
    /// Checkpoint sequence: one more at every WAL restart.
    pub checkpoint_seq: u32,
    /// First salt: one more at every WAL restart.
    pub salt1: u32,
    /// Second salt: random at every restart.
    pub salt2: u32,
    /// Checksum of the header's first 24 bytes.
    pub checksum: (u32, u32),
}

impl WalHeader {
    /// True when `next` is the generation right after `self` (one restart).
    pub fn followed_by(&self, next: &WalHeader) -> bool {
        next.checkpoint_seq == self.checkpoint_seq.wrapping_add(1)
            && next.salt1 == self.salt1.wrapping_add(1)
    }

    /// True when both name the same generation.
    pub fn same_generation(&self, other: &WalHeader) -> bool {
        self.salt1 == other.salt1 && self.salt2 == other.salt2
    }
}

/// Where a read stopped: after `frames` frames of the generation of `header`, whose
/// running checksum there is `checksum`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cursor {
    /// The generation.
    pub header: WalHeader,
    /// Frames consumed (all of them ending a committed transaction).
    pub frames: u64,
    /// The running checksum after them.
    pub checksum: (u32, u32),
}

impl Cursor {
    /// The cursor at the start of a generation.
    pub fn start(header: WalHeader) -> Cursor {
        Cursor {
            header,
            frames: 0,
            checksum: header.checksum,
        }
    }
}

/// One committed transaction read from the WAL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WalTxn {
    /// Database size in pages after it.
    pub db_pages: u32,
    /// Its pages, in frame order.
    pub pages: Vec<(u32, Bytes)>,
    /// The cursor right after its commit frame.
    pub end: Cursor,
}

impl WalTxn {
    /// Bytes of page data.
    pub fn bytes(&self) -> u64 {
        self.pages.iter().map(|(_, p)| p.len() as u64).sum()
    }
}

fn be(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// SQLite's WAL checksum over `data` (a multiple of 8 bytes), continuing from `s`.
pub fn checksum(big_endian: bool, data: &[u8], s: (u32, u32)) -> (u32, u32) {
    let (mut s0, mut s1) = s;
    for pair in data.chunks_exact(8) {
        let word = |b: &[u8]| {
            let a = [b[0], b[1], b[2], b[3]];
            if big_endian {
                u32::from_be_bytes(a)
            } else {
                u32::from_le_bytes(a)
            }
        };
        s0 = s0.wrapping_add(word(&pair[..4]).wrapping_add(s1));
        s1 = s1.wrapping_add(word(&pair[4..]).wrapping_add(s0));
    }
    (s0, s1)
}

/// Parses a WAL header; `None` when the bytes are not a valid one (a WAL that is empty,
/// truncated, or being rewritten).
pub fn parse_header(b: &[u8; 32]) -> Option<WalHeader> {
    let magic = be(b, 0);
    let big_endian = match magic {
        0x377f_0682 => false,
        0x377f_0683 => true,
        _ => return None,
    };
    let page_size = match be(b, 8) {
        1 => 65536,
        n if (512..=32768).contains(&n) && n.is_power_of_two() => n,
        _ => return None,
    };
    let sum = checksum(big_endian, &b[..24], (0, 0));
    if sum != (be(b, 24), be(b, 28)) {
        return None;
    }
    Some(WalHeader {
        big_endian,
        page_size,
        checkpoint_seq: be(b, 12),
        salt1: be(b, 16),
        salt2: be(b, 20),
        checksum: sum,
    })
}

/// Reads the header of the WAL at `path`: `Ok(None)` when it is missing, empty or not
/// valid.
pub fn read_header(path: &Path) -> std::io::Result<Option<WalHeader>> {
    let mut f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut b = [0u8; 32];
    match f.read_exact(&mut b) {
        Ok(()) => Ok(parse_header(&b)),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(None),
        Err(e) => Err(e),
    }
}

/// The committed transactions of the WAL at `path` after `from` (which must be of the
/// file's current generation), at most `max_frames` frames in all (`u64::MAX`: to the
/// end). Stops at the first invalid frame.
pub fn read_txns(path: &Path, from: Cursor, max_frames: u64) -> std::io::Result<Vec<WalTxn>> {
    let h = from.header;
    let ps = h.page_size as u64;
    let mut f = File::open(path)?;
    f.seek(SeekFrom::Start(32 + from.frames * (24 + ps)))?;
    let mut r = BufReader::with_capacity(1 << 20, f);
    let mut out = Vec::new();
    let mut pending: Vec<(u32, Bytes)> = Vec::new();
    let mut sum = from.checksum;
    let mut frames = from.frames;
    let mut fh = [0u8; 24];
    while frames < max_frames {
        if !fill(&mut r, &mut fh)? {
            break;
        }
        if be(&fh, 8) != h.salt1 || be(&fh, 12) != h.salt2 {
            break;
        }
        let mut page = vec![0u8; ps as usize];
        if !fill(&mut r, &mut page)? {
            break;
        }
        let s = checksum(h.big_endian, &fh[..8], sum);
        let s = checksum(h.big_endian, &page, s);
        if s != (be(&fh, 16), be(&fh, 20)) {
            break;
        }
        sum = s;
        frames += 1;
        let number = be(&fh, 0);
        if number == 0 {
            break;
        }
        pending.push((number, Bytes::from(page)));
        let db_pages = be(&fh, 4);
        if db_pages != 0 {
            out.push(WalTxn {
                db_pages,
                pages: std::mem::take(&mut pending),
                end: Cursor {
                    header: h,
                    frames,
                    checksum: sum,
                },
            });
        }
    }
    Ok(out)
}

/// Fills `buf` whole: `Ok(false)` at the end of the file (a partial read counts as the
/// end: a frame being written).
fn fill(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<bool> {
    match r.read_exact(buf) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::Connection;

    #[test]
    fn reads_committed_transactions_and_stops_at_a_damaged_frame() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("a.db");
        let c = Connection::open(&db).expect("open");
        c.pragma_update(None, "journal_mode", "WAL").expect("wal");
        c.pragma_update(None, "wal_autocheckpoint", 0)
            .expect("no ckpt");
        c.execute_batch("CREATE TABLE t(x); INSERT INTO t VALUES (1); INSERT INTO t VALUES (2);")
            .expect("fill");
        let wal = dir.path().join("a.db-wal");
        let h = read_header(&wal).expect("read").expect("header");
        let all = read_txns(&wal, Cursor::start(h), u64::MAX).expect("txns");
        assert_eq!(all.len(), 3);
        // Resuming from a cursor reads only what follows it.
        let rest = read_txns(&wal, all[0].end, u64::MAX).expect("rest");
        assert_eq!(rest, all[1..].to_vec());
        // A flipped byte in the last frame ends the log before it.
        let mut bytes = std::fs::read(&wal).expect("wal bytes");
        let n = bytes.len();
        bytes[n - 10] ^= 0xff;
        std::fs::write(&wal, &bytes).expect("write");
        let cut = read_txns(&wal, Cursor::start(h), u64::MAX).expect("txns");
        assert_eq!(cut.len(), 2);
    }
}
