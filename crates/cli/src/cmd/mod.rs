//! One module per subcommand: each maps its flags to a library call and prints the result.

pub mod import;
pub mod lint;
pub mod status;
pub mod unlock;
pub mod backup;
pub mod diff;
pub mod export;
pub mod forget;
pub mod init;
pub mod ls;
pub mod prune;
pub mod restore;
pub mod serve;
pub mod snapshots;
pub mod verify;
pub mod cleanup;
pub mod migrate;
