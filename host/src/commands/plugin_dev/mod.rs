//! The developer loop: `plugin new` (scaffold a plugin crate), `plugin test` (build it and diff
//! its golden fixtures through the engine in replay mode) and `dev` (a running host that
//! rebuilds and hot-reloads plugins as their sources change).

pub mod cargo_build;
pub mod dev;
pub mod fixtures;
pub mod scaffold;

use crate::engine::Operator;
use crate::plugin::{PluginPolicy, PluginRuntime};
use anyhow::{bail, Context};
use std::path::{Path, PathBuf};

/// Arguments of `live-shopper plugin`.
#[derive(Debug, clap::Args)]
pub struct PluginArgs {
    /// The plugin subcommand to run.
    #[command(subcommand)]
    pub command: PluginCommand,
}

/// The subcommands of `live-shopper plugin`.
#[derive(Debug, clap::Subcommand)]
pub enum PluginCommand {
    /// Scaffold a plugin crate against the SDK: a working plugin, unit tests and a golden fixture.
    New(NewArgs),
    /// Build a plugin crate and replay each of its fixtures through it, diffing the emission log.
    Test(TestArgs),
}

/// Arguments of `live-shopper plugin new`.
#[derive(Debug, clap::Args)]
pub struct NewArgs {
    /// The plugin's name (lowercase letters, digits, dashes); also the crate's name and folder.
    pub name: String,
    /// Folder to create the crate in.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub dir: PathBuf,
    /// The Live Shopper SDK (`sdk/` of the repository) [default: the one this binary was built from].
    #[arg(long, value_name = "DIR")]
    pub sdk: Option<PathBuf>,
    /// An Iglu schema the plugin asks for as an entity (`iglu:com.acme/loyalty/jsonschema/1-*-*`):
    /// the scaffold declares it and reads its data in `step` (contract 0.2).
    #[arg(long, value_name = "IGLU_URI")]
    pub schema: Option<String>,
}

/// Arguments of `live-shopper plugin test`.
#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// The plugin crate (its `fixtures/` hold the golden cases).
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Test this component instead of building the crate.
    #[arg(long, value_name = "FILE.wasm")]
    pub wasm: Option<PathBuf>,
    /// Write each fixture's emission log as its expected file (after an intended change).
    #[arg(long)]
    pub bless: bool,
}

/// Runs the chosen `plugin` subcommand.
pub fn run(args: PluginArgs) -> anyhow::Result<()> {
    match args.command {
        PluginCommand::New(args) => scaffold_crate(args),
        PluginCommand::Test(args) => test_fixtures(args),
    }
}

/// The SDK beside the sources this binary was built from.
pub fn default_sdk() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk")
}

fn scaffold_crate(args: NewArgs) -> anyhow::Result<()> {
    let sdk = args.sdk.unwrap_or_else(default_sdk);
    let dir = scaffold::scaffold(&args.name, &args.dir, &sdk, args.schema.as_deref()).with_context(|| {
        format!("cannot scaffold plugin {:?} (pass --sdk DIR if the SDK is elsewhere)", args.name)
    })?;
    eprintln!("created plugin {} in {}", args.name, dir.display());
    eprintln!("next:");
    eprintln!(
        "  live-shopper plugin test {}          # build it and check its golden fixture",
        dir.display()
    );
    eprintln!(
        "  live-shopper dev --plugin-src {}     # run a host that hot-reloads it on every save",
        dir.display()
    );
    Ok(())
}

/// How many differing lines a failed fixture shows.
const DIFF_LINES: usize = 20;

fn test_fixtures(args: TestArgs) -> anyhow::Result<()> {
    let wasm_path = match &args.wasm {
        Some(path) => path.clone(),
        None => {
            eprintln!("building {} for {}…", args.dir.display(), cargo_build::WASM_TARGET);
            let built = cargo_build::build_plugin(&args.dir)?;
            eprintln!("built {} in {:.1} s", built.wasm.display(), built.took.as_secs_f64());
            built.wasm
        }
    };
    let wasm = std::fs::read(&wasm_path).with_context(|| format!("cannot read {}", wasm_path.display()))?;
    let runtime = PluginRuntime::new()?;
    let load = || runtime.load(&wasm_path.display().to_string(), &wasm, &PluginPolicy::default());
    let plugin = load()?;
    let (name, version) = (plugin.descriptor().name.clone(), plugin.descriptor().version.clone());
    let fixtures = fixtures::fixtures_in(&args.dir.join("fixtures"))?;
    if fixtures.is_empty() {
        bail!("no fixtures in {}: add <case>.input.jsonl files", args.dir.join("fixtures").display());
    }
    let mut failed = 0;
    for fixture in &fixtures {
        let (got, summary) = fixture.replay(vec![Box::new(load()?)])?;
        let label = format!("fixture {}", fixture.name);
        if summary.rejected > 0 {
            eprintln!(
                "{label}: FAILED: {} input records rejected: {:?}",
                summary.rejected, summary.reject_examples
            );
            failed += 1;
            continue;
        }
        if summary.plugin_failures > 0 {
            eprintln!("{label}: FAILED: {} plugin calls failed", summary.plugin_failures);
            failed += 1;
            continue;
        }
        if args.bless {
            std::fs::write(&fixture.expected, &got)
                .with_context(|| format!("cannot write {}", fixture.expected.display()))?;
            eprintln!("{label}: wrote {} ({} emissions)", fixture.expected.display(), got.lines().count());
            continue;
        }
        let Ok(expected) = std::fs::read_to_string(&fixture.expected) else {
            eprintln!("{label}: FAILED: no {} (write it with --bless)", fixture.expected.display());
            failed += 1;
            continue;
        };
        match fixtures::diff_lines(&expected, &got, DIFF_LINES) {
            None => eprintln!("{label}: ok ({} emissions)", got.lines().count()),
            Some(diff) => {
                eprintln!(
                    "{label}: FAILED: the emission log differs from {}\n{diff}",
                    fixture.expected.display()
                );
                failed += 1;
            }
        }
    }
    let passed = fixtures.len() - failed;
    eprintln!("plugin {name} {version}: {passed} of {} fixtures pass", fixtures.len());
    if failed > 0 {
        bail!("{failed} of {} fixtures failed", fixtures.len());
    }
    Ok(())
}
