//! `live-shopper generate`: writes synthetic Snowplow enriched TSV, deterministic per seed.

use crate::source::generator::{tsv::write_enriched_tsv, Generator, GeneratorConfig};
use anyhow::Context;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Arguments of `live-shopper generate`.
#[derive(Debug, clap::Args)]
pub struct GenerateArgs {
    /// Number of distinct shoppers (browsers).
    #[arg(long, default_value_t = 1_000)]
    pub shoppers: u32,
    /// Number of events to write.
    #[arg(long, default_value_t = 100_000)]
    pub events: u64,
    /// Random seed; the same seed and options give the same bytes.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Event time of the first event, in ms since the Unix epoch (default 2025-03-14T00:00:00Z).
    #[arg(long)]
    pub start_ms: Option<i64>,
    /// Output file; stdout when absent or `-`.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

/// Writes the events as TSV lines to the output; a closed pipe (e.g. `| head`) ends it quietly.
pub fn run(args: GenerateArgs) -> anyhow::Result<()> {
    let mut config = GeneratorConfig {
        shoppers: args.shoppers,
        events: args.events,
        seed: args.seed,
        ..Default::default()
    };
    if let Some(start) = args.start_ms {
        config.start_ms = start;
    }
    anyhow::ensure!(config.shoppers > 0, "--shoppers must be at least 1");
    let out: Box<dyn Write> = match &args.output {
        Some(p) if p.as_os_str() != "-" => {
            Box::new(File::create(p).with_context(|| format!("cannot create {}", p.display()))?)
        }
        _ => Box::new(io::stdout().lock()),
    };
    let mut out = BufWriter::with_capacity(1 << 16, out);
    let started = Instant::now();
    let mut last_progress = Instant::now();
    let mut line = String::with_capacity(4096);
    let mut written = 0u64;
    for event in Generator::new(config) {
        line.clear();
        write_enriched_tsv(&event, &mut line);
        line.push('\n');
        if let Err(e) = out.write_all(line.as_bytes()) {
            if e.kind() == io::ErrorKind::BrokenPipe {
                return Ok(());
            }
            return Err(e).context("writing events");
        }
        written += 1;
        if last_progress.elapsed() >= Duration::from_secs(2) {
            last_progress = Instant::now();
            eprintln!("generate: {written} of {} events", args.events);
        }
    }
    match out.flush() {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => return Err(e).context("writing events"),
        _ => {}
    }
    tracing::debug!(events = written, seconds = started.elapsed().as_secs_f64(), "generated");
    Ok(())
}
