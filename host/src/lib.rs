//! Live Shopper: Snowplow shopper events in, sandboxed WebAssembly feature plugins, features out.
//!
//! Layout (data flows top to bottom; see `docs/ARCHITECTURE.md`):
//! - [`source`]: where events come from — files (replay) and the built-in generator.
//! - [`decode`]: Snowplow enriched TSV, enriched JSON and Live Shopper JSON → [`model::Event`].
//! - [`engine`]: per-key state, timers, watermark, dedup; runs operators in batches.
//!   Knows nothing of wasmtime.
//! - [`plugin`]: WebAssembly components as operators, under per-plugin limits (wasmtime lives here).
//! - [`sink`]: where emissions go — the in-memory feature store and the emission log.
//! - [`api`]: the HTTP API over the feature store (axum lives here).
//! - [`commands`]: the `run`, `replay`, `generate` and `bench` subcommands.

pub mod api;
pub mod app;
pub mod checkpoint;
pub mod clock;
pub mod commands;
pub mod config;
pub mod decode;
pub mod engine;
pub mod error;
pub mod model;
pub mod pipeline;
pub mod plugin;
pub mod sink;
pub mod source;
pub mod status;
pub mod telemetry;
