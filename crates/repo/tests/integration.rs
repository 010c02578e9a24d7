//! Integration tests of holdfast-repo on a file:// store.

mod integration {
    pub mod damage;
    pub mod failures;
    pub mod hostile_input;
    pub mod interleave;
    pub mod names;
    pub mod outage;
    pub mod prune_two_phase;
    pub mod restore_reads;
    pub mod restore_stream;
    pub mod roundtrip;
    pub mod safety;
    pub mod util;
}
