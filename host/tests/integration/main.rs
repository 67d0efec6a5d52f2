//! The host's integration tests, one binary: golden fixtures per plugin, plugin limits and
//! isolation, plugin loading errors, the CLI end to end, and the real stack (Kafka and Redis
//! started by the tests on free loopback ports).

mod admin_api;
mod batching;
mod cli;
mod common;
mod compat;
mod contract;
mod dbt_rows;
mod deploy;
mod dev_loop;
mod expected;
mod golden;
mod hostile_input;
mod hot_reload;
mod kafka;
mod layout;
mod limits;
mod migration;
mod python_sdk;
mod redis_monitor;
mod redis_sink;
mod scale_out;
mod services;
