//! Rules of the code base checked as tests: the engine's imports, the one list of default
//! plugins, and the defaults of docs/CONFIG.md.

use crate::common::repo_root;
use std::path::Path;

/// The engine knows operators, events and emissions only: nothing of plugins (wasmtime), sinks,
/// sources, the API or an external service's crate. Test code (`tests.rs` and `#[cfg(test)]`
/// modules, which use native plugins and the generator as fixtures) is left out.
#[test]
fn the_engine_imports_nothing_of_plugins_sinks_sources_the_api_or_services() {
    const FORBIDDEN: [&str; 14] = [
        "crate::plugin",
        "crate::sink",
        "crate::source",
        "crate::api",
        "crate::pipeline",
        "crate::app",
        "crate::commands",
        "wasmtime",
        "rdkafka",
        "redis",
        "axum",
        "tokio",
        "live_shopper_plugin_",
        "anyhow",
    ];
    let dir = repo_root().join("host/src/engine");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "rs") || path.file_name().unwrap() == "tests.rs" {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let production = text.split("#[cfg(test)]").next().unwrap();
        for (n, line) in production.lines().enumerate() {
            let code = line.split("//").next().unwrap();
            for word in FORBIDDEN {
                assert!(
                    !code.contains(word),
                    "{}:{}: the engine must not use {word}: {line}",
                    path.display(),
                    n + 1
                );
            }
        }
        checked += 1;
    }
    assert!(checked >= 8, "read the engine's files ({checked})");
}

fn read(path: impl AsRef<Path>) -> String {
    std::fs::read_to_string(repo_root().join(path.as_ref())).unwrap()
}

/// `plugins/DEFAULT_PLUGINS` is the one list; the workspace and the host's dependencies (which
/// cargo needs spelled out) must name the same plugins, and each must export `Plugin`.
#[test]
fn the_default_plugin_list_agrees_with_the_workspace_and_the_host() {
    let defaults = live_shopper::plugin::embedded::DEFAULT_PLUGINS;
    let workspace = read("Cargo.toml");
    let host = read("host/Cargo.toml");
    for name in defaults {
        assert!(workspace.contains(&format!("\"plugins/{name}\"")), "{name} is not a workspace member");
        assert!(host.contains(&format!("live-shopper-plugin-{name} = ")), "{name} is not a host dependency");
        let lib = read(format!("plugins/{name}/src/lib.rs"));
        assert!(lib.contains(" as Plugin;"), "plugins/{name}/src/lib.rs does not export `Plugin`");
    }
    let names: Vec<&str> = live_shopper::plugin::embedded::names().collect();
    assert_eq!(names, defaults, "the embedded set is the list");
    let native: Vec<String> = live_shopper::plugin::native::default_set()
        .iter()
        .map(|op| live_shopper::engine::Operator::descriptor(op).name.clone())
        .collect();
    assert_eq!(native, defaults, "the native twins are the list");
}
