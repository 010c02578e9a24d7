//! Fuzzes the key file parser.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = holdfast_repo::crypto::KeyFile::parse("fuzz", data);
});
