//! Fuzzes the pack trailer parser (plaintext side) and the whole-pack reader.
#![no_main]

use holdfast_repo::crypto::{Keys, MasterKey};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = holdfast_repo::pack::decode_trailer("fuzz", data, u64::from(u32::MAX));
    if let Ok(master) = MasterKey::generate() {
        let _ = holdfast_repo::pack::read_trailer(&Keys::derive(&master), "fuzz", data);
    }
});
