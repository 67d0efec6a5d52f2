//! The subcommands of the `live-shopper` binary, each a function over parsed arguments.

pub mod bench;
pub mod generate;
pub mod plugin_set;
pub mod replay;
pub mod run;
