//! The `live-shopper` binary: parses the command line and runs a subcommand.

use clap::{Parser, Subcommand};
use live_shopper::commands::{bench, generate, replay, run};

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
    /// Run the main job: generated live traffic, the plugins, an in-memory feature store and an
    /// HTTP API, until Ctrl-C.
    Run(run::RunArgs),
    /// Feed files of events through the plugins in event-time order (replay mode) and report.
    Replay(replay::ReplayArgs),
    /// Write synthetic Snowplow enriched TSV (deterministic per seed).
    Generate(generate::GenerateArgs),
    /// Measure engine throughput through the plugins, as Wasm and natively; prints JSON.
    Bench(bench::BenchArgs),
}

fn main() -> anyhow::Result<()> {
    live_shopper::telemetry::init();
    match Cli::parse().command {
        Command::Run(args) => run::run(args),
        Command::Replay(args) => replay::run(args),
        Command::Generate(args) => generate::run(args),
        Command::Bench(args) => bench::run(args),
    }
}
