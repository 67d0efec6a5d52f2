//! Golden fixtures: for each plugin, `plugins/<name>/fixtures/<case>.input.jsonl` (or
//! `<case>.input.path` naming a shared data file) replayed through that plugin alone must give
//! exactly `<case>.expected.jsonl` — as Wasm and as native code alike.

use crate::common::{replay_text, repo_root};
use live_shopper::commands::plugin_set::PluginSet;
use live_shopper::engine::Operator;
use live_shopper::plugin::{native, Limits};
use std::path::Path;

fn input_of(fixtures: &Path, case: &str) -> String {
    let direct = fixtures.join(format!("{case}.input.jsonl"));
    let path = if direct.exists() {
        direct
    } else {
        let pointer = fixtures.join(format!("{case}.input.path"));
        let rel = std::fs::read_to_string(&pointer).expect("read the input pointer");
        fixtures.join(rel.trim())
    };
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn check_plugin(name: &str) {
    let fixtures = repo_root().join("plugins").join(name).join("fixtures");
    let mut cases: Vec<String> = std::fs::read_dir(&fixtures)
        .expect("fixtures folder")
        .filter_map(|e| {
            e.ok()?.file_name().into_string().ok()?.strip_suffix(".expected.jsonl").map(str::to_owned)
        })
        .collect();
    cases.sort();
    assert!(!cases.is_empty(), "{name} has no golden fixtures");
    for case in cases {
        let input = input_of(&fixtures, &case);
        let expected = std::fs::read_to_string(fixtures.join(format!("{case}.expected.jsonl"))).unwrap();

        let wasm = PluginSet::load(None, Limits::default()).unwrap().select(&[name.to_string()]).unwrap();
        let (got, summary) = replay_text(&input, wasm.into_operators());
        assert_eq!(summary.rejected, 0, "{name}/{case}: {:?}", summary.reject_examples);
        assert_eq!(
            got, expected,
            "{name}/{case}: the Wasm plugin's emission log differs from the golden file"
        );

        let native_op: Vec<Box<dyn Operator>> = native::default_set()
            .into_iter()
            .filter(|op| op.descriptor().name == name)
            .map(|op| Box::new(op) as Box<dyn Operator>)
            .collect();
        let (got_native, _) = replay_text(&input, native_op);
        assert_eq!(got_native, expected, "{name}/{case}: native and Wasm disagree");
    }
}

#[test]
fn product_golden() {
    check_plugin("product");
}

#[test]
fn cart_golden() {
    check_plugin("cart");
}

#[test]
fn session_golden() {
    check_plugin("session");
}

#[test]
fn purchase_golden() {
    check_plugin("purchase");
}

#[test]
fn context_golden() {
    check_plugin("context");
}
