//! Fuzzes the index file parser (the JSON inside the envelope).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(file) = serde_json::from_slice::<holdfast_repo::index::IndexFile>(data) {
        let mut index = holdfast_repo::index::Index::default();
        index.add_file(&file);
    }
});
