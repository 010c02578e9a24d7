//! Integration tests of holdfast-repo on a file:// store.

mod integration {
    pub mod damage;
    pub mod roundtrip;
    pub mod safety;
    pub mod util;
}
