//! One module per subcommand: each maps its flags to a library call and prints the result.

pub mod backup;
pub mod cleanup;
pub mod conventions;
pub mod copy;
pub mod diff;
pub mod export;
pub mod find;
pub mod forget;
pub mod import;
pub mod init;
pub mod key;
pub mod lint;
pub mod ls;
pub mod migrate;
pub mod pg;
pub mod prune;
pub mod repair;
pub mod restore;
pub mod run;
pub mod serve;
pub mod snapshots;
pub mod stats;
pub mod status;
pub mod tag;
pub mod unlock;
pub mod verify;
