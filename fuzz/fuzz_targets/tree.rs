//! Fuzzes the tree parser: any accepted tree has only safe names.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(tree) = holdfast_repo::tree::Tree::parse("fuzz", data) {
        for node in &tree.nodes {
            assert!(holdfast_repo::tree::is_safe_name(node.os_name().as_encoded_bytes()));
        }
    }
});
