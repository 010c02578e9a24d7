//! One module per subcommand: each maps its flags to a library call and prints the result.

pub mod import;
pub mod lint;
pub mod status;
