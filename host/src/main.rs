//! The `live-shopper` binary: parses the command line and runs a subcommand.

use clap::{Parser, Subcommand};
use live_shopper::commands::{bench, bench_e2e, generate, replay, run};

/// mimalloc: decoding and Redis writes allocate many small strings; glibc's allocator spent
/// about a sixth of the end-to-end profile on them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Live Shopper: real-time shopper features from Snowplow events, computed by sandboxed
/// WebAssembly plugins.
#[derive(Debug, Parser)]
#[command(name = "live-shopper", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the main job until Ctrl-C: a live source (generated traffic by default, or Kafka), the
    /// plugins, the feature store (in memory by default, or Redis) and the HTTP API.
    Run(run::RunArgs),
    /// Feed files of events through the plugins in event-time order (replay mode) and report.
    Replay(replay::ReplayArgs),
    /// Write synthetic Snowplow enriched TSV (deterministic per seed).
    Generate(generate::GenerateArgs),
    /// Measure engine throughput through the plugins, as Wasm and natively; prints JSON.
    Bench(bench::BenchArgs),
    /// End to end through a Kafka broker and Redis: sustained events/s and freshness
    /// percentiles; prints JSON (xtask/bench-e2e starts the services).
    BenchE2e(bench_e2e::BenchE2eArgs),
}

fn main() -> anyhow::Result<()> {
    live_shopper::telemetry::init();
    match Cli::parse().command {
        Command::Run(args) => run::run(args),
        Command::Replay(args) => replay::run(args),
        Command::Generate(args) => generate::run(args),
        Command::Bench(args) => bench::run(args),
        Command::BenchE2e(args) => bench_e2e::run(args),
    }
}
