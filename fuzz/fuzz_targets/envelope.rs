//! Fuzzes envelope opening: arbitrary bytes never panic and never authenticate.
#![no_main]

use holdfast_repo::crypto::{Keys, MasterKey};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(master) = MasterKey::generate() {
        assert!(Keys::derive(&master).open("fuzz", b"ad", data, 0).is_err());
    }
});
