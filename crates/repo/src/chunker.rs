//! Content-defined chunking: FastCDC (2020, normalization level 1) with a seeded gear
//! table, min 256 KiB / avg 1 MiB / max 4 MiB.
//!
//! The cut points are exactly those of `fastcdc::v2020::StreamCDC` with the same seed
//! (a test checks it), but reading is done into large shared buffers so each chunk is a
//! zero-copy [`Bytes`] slice and the gear tables are built once per repository, not once
//! per file.

use std::io::Read;

use bytes::Bytes;
use fastcdc::v2020::{MASKS, Normalization, cut_gear, get_gear_with_seed, logarithm2};

/// Minimum chunk size.
pub const MIN_SIZE: u32 = 256 * 1024;
/// Average chunk size.
pub const AVG_SIZE: u32 = 1024 * 1024;
/// Maximum chunk size.
pub const MAX_SIZE: u32 = 4 * 1024 * 1024;
const BUFFER: usize = 8 * 1024 * 1024;

/// A chunker configured with sizes and a seed; cheap to share between threads.
pub struct Chunker {
    min: usize,
    avg: usize,
    max: usize,
    masks: [u64; 4],
    gear: Box<[u64; 256]>,
    gear_ls: Box<[u64; 256]>,
}

impl Chunker {
    /// The repository chunker (default sizes) with the given gear seed.
    pub fn new(seed: u64) -> Chunker {
        Chunker::with_sizes(seed, MIN_SIZE, AVG_SIZE, MAX_SIZE)
    }

    /// A chunker with other sizes (tests). Sizes must be within FastCDC's limits.
    pub fn with_sizes(seed: u64, min: u32, avg: u32, max: u32) -> Chunker {
        let bits = logarithm2(avg);
        let norm = Normalization::Level1.bits();
        let mask_s = MASKS[(bits + norm) as usize];
        let mask_l = MASKS[(bits - norm) as usize];
        let (gear, gear_ls) = get_gear_with_seed(seed);
        Chunker {
            min: min as usize,
            avg: avg as usize,
            max: max as usize,
            masks: [mask_s, mask_l, mask_s << 1, mask_l << 1],
            gear,
            gear_ls,
        }
    }

    /// Iterates over the chunks of `reader`; `size_hint` (the expected length) sizes the
    /// first buffer so small files do not allocate a large one.
    pub fn chunks<R: Read>(&self, reader: R, size_hint: u64) -> Chunks<'_, R> {
        Chunks {
            chunker: self,
            reader,
            buf: Bytes::new(),
            pos: 0,
            eof: false,
            hint: size_hint,
        }
    }

    fn cut(&self, window: &[u8]) -> usize {
        let [ms, ml, msl, mll] = self.masks;
        let (_, n) = cut_gear(
            window,
            self.min,
            self.avg,
            self.max,
            ms,
            ml,
            msl,
            mll,
            &self.gear,
            &self.gear_ls,
        );
        n
    }
}

/// Iterator over the chunks of one reader.
pub struct Chunks<'a, R> {
    chunker: &'a Chunker,
    reader: R,
    buf: Bytes,
    pos: usize,
    eof: bool,
    hint: u64,
}

impl<R: Read> Chunks<'_, R> {
    fn refill(&mut self) -> std::io::Result<()> {
        let tail = &self.buf[self.pos..];
        let want = if self.hint > 0 {
            usize::try_from(self.hint.saturating_add(1))
                .unwrap_or(BUFFER)
                .clamp(1, BUFFER)
        } else {
            BUFFER
        };
        self.hint = 0;
        let cap = want.max(tail.len() + 1);
        let mut v = Vec::with_capacity(cap);
        v.extend_from_slice(tail);
        let room = (cap - v.len()) as u64;
        let got = (&mut self.reader).take(room).read_to_end(&mut v)?;
        if (got as u64) < room {
            self.eof = true;
        }
        self.buf = Bytes::from(v);
        self.pos = 0;
        Ok(())
    }
}

impl<R: Read> Iterator for Chunks<'_, R> {
    type Item = std::io::Result<Bytes>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let avail = self.buf.len() - self.pos;
            if avail < self.chunker.max && !self.eof {
                if let Err(e) = self.refill() {
                    self.eof = true;
                    self.buf = Bytes::new();
                    self.pos = 0;
                    return Some(Err(e));
                }
                continue;
            }
            if avail == 0 {
                return None;
            }
            let end = self.pos + avail.min(self.chunker.max);
            let n = self.chunker.cut(&self.buf[self.pos..end]).max(1);
            let chunk = self.buf.slice(self.pos..self.pos + n);
            self.pos += n;
            return Some(Ok(chunk));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::pseudo_random;
    use fastcdc::v2020::StreamCDC;
    use proptest::prelude::*;

    #[test]
    fn default_sizes_bound_chunks() -> std::io::Result<()> {
        let data = pseudo_random(12 * 1024 * 1024, 5);
        let c = Chunker::new(42);
        let chunks: Vec<Bytes> = c.chunks(&data[..], 0).collect::<std::io::Result<_>>()?;
        assert!(chunks.len() > 3);
        for ch in &chunks[..chunks.len() - 1] {
            assert!(ch.len() >= MIN_SIZE as usize && ch.len() <= MAX_SIZE as usize);
        }
        assert_eq!(chunks.concat(), data);
        Ok(())
    }

    #[test]
    fn empty_input_has_no_chunks() {
        assert_eq!(Chunker::new(1).chunks(&[][..], 0).count(), 0);
    }

    proptest! {
        #[test]
        fn same_cut_points_as_stream_cdc(len in 0usize..40_000, seed in any::<u64>(), dseed in any::<u64>(), hint in 0u64..50_000) {
            let data = pseudo_random(len, dseed);
            let ours: Vec<Vec<u8>> = Chunker::with_sizes(seed, 256, 1024, 4096)
                .chunks(&data[..], hint)
                .map(|c| c.map(|b| b.to_vec()))
                .collect::<std::io::Result<_>>()
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            let theirs: Vec<Vec<u8>> = StreamCDC::with_level_and_seed(&data[..], 256, 1024, 4096, Normalization::Level1, seed)
                .map(|c| c.map(|c| c.data))
                .collect::<Result<_, _>>()
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(ours, theirs);
        }
    }
}
