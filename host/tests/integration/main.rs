//! The host's integration tests, one binary: golden fixtures per plugin, plugin limits and
//! isolation, plugin loading errors, and the CLI end to end.

mod batching;
mod cli;
mod common;
mod dbt_rows;
mod golden;
mod limits;
mod python_sdk;
mod redis_sink;
