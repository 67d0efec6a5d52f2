//! Live Shopper: Snowplow shopper events in, sandboxed WebAssembly feature plugins, features out.
//!
//! Layout (data flows top to bottom; see `docs/ARCHITECTURE.md`):
//! - [`source`]: where records come from — files (replay), the built-in generator, Kafka (the
//!   only module that imports rdkafka).
//! - [`decode`]: Snowplow enriched TSV, enriched JSON and Live Shopper JSON → [`model::Event`].
//! - [`engine`]: per-key state, timers, watermark, dedup; runs operators in batches. Knows
//!   nothing of wasmtime, Kafka, Redis or HTTP (a test checks its imports).
//! - [`plugin`]: WebAssembly components as operators under per-plugin limits, and plugin
//!   loading (wasmtime lives here).
//! - [`sink`]: the feature-store contract and its stores — in memory and Redis (the only module
//!   that imports redis) — plus the emission log.
//! - [`signals`]: the named records plugins emit beside features, and their outlets (the live
//!   hub behind `GET /signals`, the Kafka topics).
//! - [`changelog`]: state changes as changelog records, held until their step is durable, and
//!   a partition's state read back from them (Kafka Streams' changelog, without a Kafka client).
//! - [`pipeline`]: the live loop: engine → sink under tickets, offsets after acknowledgements,
//!   status; the generator and Kafka drivers.
//! - [`status`]: what a running host reports; the pipeline writes it, the API reads it.
//! - [`api`]: the HTTP API (axum lives here).
//! - [`app`]: the wiring of `run` in named steps.
//! - [`commands`]: the subcommands.
//! - [`config`], [`checkpoint`], [`clock`], [`error`], [`telemetry`]: settings, checkpoint files,
//!   the wall clock, error classes, logging.

pub mod api;
pub mod app;
pub mod changelog;
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
pub mod signals;
pub mod sink;
pub mod source;
pub mod status;
pub mod telemetry;
