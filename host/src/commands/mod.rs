//! The subcommands of the `live-shopper` binary, each a function over parsed arguments.

pub mod bench;
pub mod bench_e2e;
pub mod bench_swap;
pub mod generate;
pub mod plugin_dev;
pub mod plugin_set;
pub mod replay;
pub mod run;
