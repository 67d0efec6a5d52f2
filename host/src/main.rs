//! The `live-shopper` binary: parses the command line and runs a subcommand.

use clap::{Parser, Subcommand};
use live_shopper::commands::plugin_dev::{self, dev};
use live_shopper::commands::{bench, bench_e2e, bench_failover, bench_swap, generate, replay, run};

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
    /// The development loop: run the host on the embedded default with plugins built from their
    /// source folders, rebuilding and hot-reloading a plugin whenever its sources change.
    Dev(dev::DevArgs),
    /// Plugin authoring: `plugin new NAME` scaffolds a crate, `plugin test DIR` checks its fixtures.
    Plugin(plugin_dev::PluginArgs),
    /// Feed files of events through the plugins in event-time order (replay mode) and report.
    Replay(replay::ReplayArgs),
    /// Write synthetic Snowplow enriched TSV (deterministic per seed).
    Generate(generate::GenerateArgs),
    /// Measure engine throughput through the plugins, as Wasm and natively; prints JSON.
    Bench(bench::BenchArgs),
    /// End to end through a Kafka broker and Redis: sustained events/s and freshness
    /// percentiles; prints JSON (xtask/bench-e2e starts the services).
    BenchE2e(bench_e2e::BenchE2eArgs),
    /// The fail-over gap: two hosts in one group, one killed with SIGKILL, until every
    /// partition's features update again; prints JSON (xtask/bench-failover starts the services).
    BenchFailover(bench_failover::BenchFailoverArgs),
    /// What a hot reload costs under load: file change to serving (with and without compiling),
    /// the longest processing pause, throughput while swapping a plugin every second; prints JSON.
    BenchSwap(bench_swap::BenchSwapArgs),
}

fn main() -> anyhow::Result<()> {
    live_shopper::telemetry::init();
    match Cli::parse().command {
        Command::Run(args) => run::run(args),
        Command::Dev(args) => dev::run(args),
        Command::Plugin(args) => plugin_dev::run(args),
        Command::Replay(args) => replay::run(args),
        Command::Generate(args) => generate::run(args),
        Command::Bench(args) => bench::run(args),
        Command::BenchE2e(args) => bench_e2e::run(args),
        Command::BenchFailover(args) => bench_failover::run(args),
        Command::BenchSwap(args) => bench_swap::run(args),
    }
}
