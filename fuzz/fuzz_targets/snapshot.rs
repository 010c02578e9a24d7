//! Fuzzes the snapshot parser (the JSON inside the envelope) and snapshot selection.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = serde_json::from_slice::<holdfast_repo::Snapshot>(data) {
        let list = vec![(holdfast_repo::Id::hash(data), s)];
        let _ = holdfast_repo::snapshot::select(&list, "latest");
    }
});
