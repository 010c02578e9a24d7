//! Integration tests of holdfast-store: one conformance suite run against every backend.

mod integration {
    pub mod backends;
    pub mod proxy;
    pub mod suite;
    pub mod unavailable;
}
