//! holdfast-repo: the snapshot repository.
pub mod chunker;
pub mod crypto;
pub mod error;
pub mod id;
pub mod index;
pub mod pack;
pub mod snapshot;
pub mod tree;
