//! The stable fuzz harness's input generator, shared by the crates' `hostile_input`
//! tests (included with `#[path]`): a fixed-seed xorshift generator, mutations of seed
//! inputs (bit flips, interesting bytes, truncation, duplication, insertion, splicing)
//! and plain random bytes, and a runner that feeds a parser a fixed budget of inputs,
//! catching panics and printing one summary line per target:
//!
//! `fuzz TARGET: N inputs, N accepted, N panics, T s`
//!
//! The budget is `HOLDFAST_FUZZ_INPUTS` inputs per target (default 2000), or, with
//! `HOLDFAST_FUZZ_SECONDS` (what `scripts/torture.sh --long` sets), as many inputs as that
//! many seconds hold, at least the input budget; the inputs are the same fixed-seed
//! sequence either way, only its length differs. cargo-fuzz runs the same parsers without
//! a budget on nightly (`fuzz/fuzz_targets`).

use std::panic::AssertUnwindSafe;
use std::time::Instant;

/// A fixed-seed xorshift generator.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

const INTERESTING: &[u8] = b"\x00\xff\x7f\x80\"{}[]:,.-/\\09eE \n\t";

/// One mutated input from `seeds` (or random bytes).
pub fn input(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    if seeds.is_empty() || rng.below(10) == 0 {
        let len = rng.below(512);
        return (0..len).map(|_| rng.next() as u8).collect();
    }
    let mut data = seeds[rng.below(seeds.len())].clone();
    for _ in 0..=rng.below(4) {
        let len = data.len();
        match rng.below(7) {
            0 if len > 0 => {
                let i = rng.below(len);
                data[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                data[i] = INTERESTING[rng.below(INTERESTING.len())];
            }
            2 => data.truncate(rng.below(len + 1)),
            3 if len > 0 => {
                let (a, b) = (rng.below(len), rng.below(len));
                let (s, e) = (a.min(b), a.max(b));
                let piece = data[s..e].to_vec();
                let at = rng.below(len + 1);
                data.splice(at..at, piece);
            }
            4 => {
                let at = rng.below(len + 1);
                let n = rng.below(16);
                let piece: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                data.splice(at..at, piece);
            }
            5 => {
                let other = &seeds[rng.below(seeds.len())];
                let cut = rng.below(len + 1);
                let from = rng.below(other.len() + 1);
                data.truncate(cut);
                data.extend_from_slice(&other[from..]);
            }
            _ if len > 0 => {
                let (a, b) = (rng.below(len), rng.below(len));
                data.swap(a, b);
            }
            _ => {}
        }
    }
    data
}

/// Inputs per target: `HOLDFAST_FUZZ_INPUTS`, default 2000.
pub fn budget() -> usize {
    std::env::var("HOLDFAST_FUZZ_INPUTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000)
}

/// A time budget per target: `HOLDFAST_FUZZ_SECONDS`, none by default.
pub fn seconds() -> Option<std::time::Duration> {
    std::env::var("HOLDFAST_FUZZ_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map(std::time::Duration::from_secs)
}

/// Feeds `parse` the seeds themselves and then the budget of mutated inputs; `parse`
/// returns whether it accepted the input and panics when an invariant breaks. Prints
/// the summary line and panics with the first input that made `parse` panic.
pub fn run(target: &str, seed: u64, seeds: &[Vec<u8>], mut parse: impl FnMut(&[u8]) -> bool) {
    let started = Instant::now();
    let mut rng = Rng(seed | 1);
    let (mut inputs, mut accepted, mut panics) = (0usize, 0usize, 0usize);
    let mut first: Option<Vec<u8>> = None;
    let total = budget();
    let mut feed = |data: Vec<u8>| {
        inputs += 1;
        match std::panic::catch_unwind(AssertUnwindSafe(|| parse(&data))) {
            Ok(true) => accepted += 1,
            Ok(false) => {}
            Err(_) => {
                panics += 1;
                first.get_or_insert(data);
            }
        }
    };
    for s in seeds {
        feed(s.clone());
    }
    for _ in 0..total {
        feed(input(&mut rng, seeds));
    }
    // The time budget is how long the fuzzing runs, not a check of its speed.
    if let Some(limit) = seconds() {
        while started.elapsed() < limit {
            for _ in 0..256 {
                feed(input(&mut rng, seeds));
            }
        }
    }
    println!(
        "fuzz {target}: {inputs} inputs, {accepted} accepted, {panics} panics, {:.1} s",
        started.elapsed().as_secs_f64()
    );
    if let Some(bad) = first {
        panic!(
            "fuzz {target}: {panics} inputs panicked; the first: {:?}",
            String::from_utf8_lossy(&bad)
        );
    }
}
