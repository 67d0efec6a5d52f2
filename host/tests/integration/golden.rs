//! Golden fixtures: for each plugin, `plugins/<name>/fixtures/<case>.input.jsonl` (or
//! `<case>.input.path` naming a shared data file) replayed through that plugin alone must give
//! exactly `<case>.expected.jsonl` — as Wasm and as native code alike.

use crate::common::repo_root;
use live_shopper::commands::plugin_dev::fixtures::{diff_lines, fixtures_in};
use live_shopper::engine::Operator;
use live_shopper::plugin::PluginSet;
use live_shopper::plugin::{native, PluginPolicy};

fn check_plugin(name: &str) {
    let fixtures = fixtures_in(&repo_root().join("plugins").join(name).join("fixtures")).unwrap();
    assert!(!fixtures.is_empty(), "{name} has no golden fixtures");
    for fixture in fixtures {
        let case = &fixture.name;
        let expected = std::fs::read_to_string(&fixture.expected).unwrap();

        let wasm =
            PluginSet::load(None, &PluginPolicy::default()).unwrap().select(&[name.to_string()]).unwrap();
        let (got, summary) = fixture.replay(wasm.into_operators()).unwrap();
        assert_eq!(summary.rejected, 0, "{name}/{case}: {:?}", summary.reject_examples);
        if let Some(diff) = diff_lines(&expected, &got, 20) {
            panic!("{name}/{case}: the Wasm plugin's emission log differs from the golden file:\n{diff}");
        }

        let native_op: Vec<Box<dyn Operator>> = native::default_set()
            .into_iter()
            .filter(|op| op.descriptor().name == name)
            .map(|op| Box::new(op) as Box<dyn Operator>)
            .collect();
        let (got_native, _) = fixture.replay(native_op).unwrap();
        assert_eq!(got_native, expected, "{name}/{case}: native and Wasm disagree");
    }
}

/// Every plugin of `plugins/DEFAULT_PLUGINS`, so a new default plugin is checked without a new test.
#[test]
fn every_default_plugin_matches_its_golden_fixtures() {
    for name in live_shopper::plugin::embedded::DEFAULT_PLUGINS {
        check_plugin(name);
    }
}
