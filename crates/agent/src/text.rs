//! Small pieces of user-facing text, so every message says them the same way: counted
//! nouns ("1 file", "2 files") and lists (`a, b`, never a Rust debug list). One
//! definition for every crate: [`holdfast_repo::text`].

pub use holdfast_repo::text::{bytes, count, list};
