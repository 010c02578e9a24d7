//! Compression of envelope payloads: zstd with one compressor per thread, and a cheap
//! test that skips compressing data that will not shrink.
//!
//! Most of a backup's CPU goes to zstd, and compressing data that is already compressed
//! (photos, archives, encrypted uploads) costs as much as compressing text while saving
//! nothing. [`worth_compressing`] compresses three small samples of a large payload (its
//! start, middle and end) at the fastest level; only when none of them shrinks by at
//! least [`MIN_SAVING`] is the payload stored raw. The test reads the payload only, so
//! the same bytes always get the same envelope kind, and a payload whose samples miss
//! its compressible parts is stored raw: a little space, never correctness, is what a
//! wrong guess costs. Readers do not care: the envelope's flag says what was done.

use std::cell::RefCell;

/// Payloads up to this size are always compressed (the samples would be most of them).
const SAMPLED_ABOVE: usize = 128 * 1024;
/// Bytes in each of the three samples.
const SAMPLE: usize = 16 * 1024;
/// A sample must shrink by this share (1/32, about 3 %) for the payload to be compressed.
const MIN_SAVING: usize = 32;

thread_local! {
    static COMPRESSOR: RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> = const { RefCell::new(None) };
    static PROBE: RefCell<Option<zstd::bulk::Compressor<'static>>> = const { RefCell::new(None) };
}

/// `data` compressed at `level`, or `None` when zstd failed.
pub(crate) fn compress(data: &[u8], level: i32) -> Option<Vec<u8>> {
    COMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.as_ref().map(|(l, _)| *l) != Some(level) {
            *slot = zstd::bulk::Compressor::new(level).ok().map(|c| (level, c));
        }
        slot.as_mut().and_then(|(_, c)| c.compress(data).ok())
    })
}

/// Decompresses a zstd frame; `size_hint` is the exact plaintext size when known (0: not).
pub(crate) fn decompress(data: &[u8], size_hint: usize) -> std::io::Result<Vec<u8>> {
    if size_hint > 0 {
        zstd::bulk::decompress(data, size_hint)
    } else {
        zstd::stream::decode_all(data)
    }
}

/// Whether compressing `data` is likely to save space: always for small payloads; for
/// large ones, when one of three samples compresses by at least 1/[`MIN_SAVING`].
pub(crate) fn worth_compressing(data: &[u8]) -> bool {
    if data.len() <= SAMPLED_ABOVE {
        return true;
    }
    let starts = [0, data.len() / 2 - SAMPLE / 2, data.len() - SAMPLE];
    PROBE.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = zstd::bulk::Compressor::new(1).ok();
        }
        let Some(probe) = slot.as_mut() else {
            return true;
        };
        starts.iter().any(|&at| {
            let sample = &data[at..at + SAMPLE];
            probe
                .compress(sample)
                .map_or(true, |c| c.len() + SAMPLE / MIN_SAVING <= SAMPLE)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::pseudo_random as random;

    fn text(len: usize) -> Vec<u8> {
        b"2026-12-02 GET /api/v1/status 200 12ms\n"
            .iter()
            .copied()
            .cycle()
            .take(len)
            .collect()
    }

    #[test]
    fn incompressible_data_is_not_compressed() {
        assert!(!worth_compressing(&random(1 << 20, 7)));
    }

    #[test]
    fn compressible_data_and_small_payloads_are_compressed() {
        assert!(worth_compressing(&text(1 << 20)));
        assert!(worth_compressing(&random(64 * 1024, 7)));
    }

    #[test]
    fn a_payload_with_a_compressible_part_is_compressed() {
        // Random with text in the middle only, and random with text at the end only.
        let mut middle = random(1 << 20, 9);
        let mid = middle.len() / 2;
        middle[mid - 32 * 1024..mid + 32 * 1024].copy_from_slice(&text(64 * 1024));
        assert!(worth_compressing(&middle));
        let mut tail = random(1 << 20, 11);
        tail.extend(text(256 * 1024));
        assert!(worth_compressing(&tail));
    }
}
