//! Contract compatibility: the five default plugins built against contract 0.1.0 (kept in
//! `host/tests/fixtures/plugins-0.1.0/`) load in this host beside their 0.2.0 builds, and
//! each pair emits byte for byte the same log on the shared data and on generated traffic.

use crate::common::{replay_text, repo_root, test_data};
use live_shopper::engine::Operator;
use live_shopper::plugin::{embedded, PluginPolicy, PluginRuntime, WasmOperator};
use live_shopper::source::generator::tsv::write_enriched_tsv;
use live_shopper::source::generator::{Generator, GeneratorConfig};

const OLD: [&str; 5] = ["product", "cart", "session", "purchase", "context"];

fn old_component(runtime: &PluginRuntime, name: &str) -> WasmOperator {
    let path = repo_root().join(format!("host/tests/fixtures/plugins-0.1.0/{name}.wasm"));
    let wasm = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    runtime
        .load(&path.display().to_string(), &wasm, &PluginPolicy::default())
        .expect("a 0.1.0 component loads")
}

/// The inputs compared, each replayed on its own (their event times do not interleave): the
/// shared data files, and 5 000 generated events as Snowplow TSV.
fn inputs() -> Vec<String> {
    let mut shared = String::new();
    for file in
        ["snowplow/store-session-20.tsv", "snowplow/flink-format-checkout.jsonl", "snowplow/store-home-5.tsv"]
    {
        shared.push_str(&std::fs::read_to_string(test_data(file)).unwrap());
        if !shared.ends_with('\n') {
            shared.push('\n');
        }
    }
    let config = GeneratorConfig { shoppers: 200, events: 5_000, seed: 3, ..Default::default() };
    let (mut generated, mut line) = (String::new(), String::new());
    for e in Generator::new(config) {
        line.clear();
        write_enriched_tsv(&e, &mut line);
        generated.push_str(&line);
        generated.push('\n');
    }
    vec![shared, generated]
}

#[test]
fn the_0_1_0_components_emit_byte_for_byte_what_their_0_2_0_builds_do() {
    let runtime = PluginRuntime::new().unwrap();
    let new_build = |name: &str| {
        let wasm = embedded::EMBEDDED.iter().find(|(n, _)| *n == name).expect("embedded").1;
        runtime.load(name, wasm, &PluginPolicy::default()).unwrap()
    };
    let inputs = inputs();
    for name in OLD {
        let mut compared = 0;
        for (i, input) in inputs.iter().enumerate() {
            let (old, new) = (old_component(&runtime, name), new_build(name));
            assert_eq!(
                (old.contract(), new.contract()),
                ("live-shopper:plugin@0.1.0", "live-shopper:plugin@0.2.0")
            );
            let (old_log, old_summary) = replay_text(input, vec![Box::new(old)]);
            let (new_log, _) = replay_text(input, vec![Box::new(new)]);
            assert_eq!(old_summary.rejected, 0, "{name}: {:?}", old_summary.reject_examples);
            assert!(old_log == new_log, "{name}, input {i}: the 0.1.0 and 0.2.0 builds emit differently");
            compared += old_log.lines().count();
        }
        assert!(compared > 10, "{name}: only {compared} emissions compared");
    }
}

#[test]
fn a_0_1_0_component_runs_beside_0_2_0_ones_in_one_engine() {
    let runtime = PluginRuntime::new().unwrap();
    let mut ops: Vec<Box<dyn Operator>> = embedded::load_default(&runtime, &PluginPolicy::default())
        .unwrap()
        .into_iter()
        .filter(|op| op.descriptor().name != "cart")
        .map(|op| Box::new(op) as Box<dyn Operator>)
        .collect();
    ops.insert(1, Box::new(old_component(&runtime, "cart")));
    let generated = inputs().remove(1);
    let (mixed, summary) = replay_text(&generated, ops);
    let all_new = embedded::load_default(&runtime, &PluginPolicy::default())
        .unwrap()
        .into_iter()
        .map(|op| Box::new(op) as Box<dyn Operator>)
        .collect();
    let (expected, _) = replay_text(&generated, all_new);
    assert!(summary.emissions > 1_000, "{summary:?}");
    assert!(mixed == expected, "a 0.1.0 cart among 0.2.0 plugins changed the emissions");
}
