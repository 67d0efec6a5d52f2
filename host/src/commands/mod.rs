//! The subcommands of the `live-shopper` binary, each a function over parsed arguments.

pub mod bench;
pub mod bench_decode;
pub mod bench_e2e;
pub mod bench_failover;
pub mod bench_swap;
pub mod generate;
pub mod plugin_dev;
pub mod replay;
pub mod run;

/// Prints a benchmark's JSON report on stdout and, with `output`, writes it to that file too.
pub fn print_report(report: &serde_json::Value, output: Option<&std::path::Path>) -> anyhow::Result<()> {
    use anyhow::Context;
    let text = serde_json::to_string_pretty(report)?;
    println!("{text}");
    if let Some(path) = output {
        std::fs::write(path, format!("{text}\n"))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}
