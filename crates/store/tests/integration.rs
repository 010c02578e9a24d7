//! Integration tests of holdfast-store: one conformance suite run against every backend.

mod integration {
    pub mod backends;
    // Shared with the repository and CLI fault tests, which use the faults these do not.
    #[allow(dead_code)]
    pub mod proxy;
    pub mod suite;
    pub mod unavailable;
}
