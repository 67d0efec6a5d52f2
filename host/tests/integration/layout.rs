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

/// The module a `.rs` file under `host/src` defines, as a path: `sink/redis/client.rs` →
/// `["sink", "redis", "client"]`, `sink/mod.rs` → `["sink"]`, `lib.rs` → `[]`.
fn module_of(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    let file = parts.pop().unwrap();
    let stem = file.trim_end_matches(".rs");
    if stem != "mod" && stem != "lib" && stem != "main" {
        parts.push(stem.to_string());
    }
    parts
}

/// Every `use` of the file as absolute module paths (`crate::…`, `super::…`, `self::…`), with one
/// level of `{…}` groups expanded.
fn imports(text: &str, here: &[String]) -> Vec<Vec<String>> {
    let production = text.split("#[cfg(test)]").next().unwrap();
    let mut out = Vec::new();
    let mut lines = production.lines();
    while let Some(line) = lines.next() {
        let line = line.trim();
        let rest = ["use ", "pub use ", "pub(crate) use ", "pub(super) use "]
            .iter()
            .find_map(|prefix| line.strip_prefix(prefix));
        let Some(rest) = rest else { continue };
        let mut stmt = rest.to_string();
        while !stmt.contains(';') {
            match lines.next() {
                Some(next) => stmt.push_str(next.trim()),
                None => break,
            }
        }
        out.extend(expand(stmt.split(';').next().unwrap(), here));
    }
    out
}

fn expand(path: &str, here: &[String]) -> Vec<Vec<String>> {
    let path: String = path.split_whitespace().collect();
    let (head, group) = match path.split_once("::{") {
        Some((h, g)) => (h.to_string(), g.trim_end_matches('}').to_string()),
        None => (path.clone(), String::new()),
    };
    let mut base: Vec<String> = Vec::new();
    let mut segments = head.split("::").peekable();
    match segments.peek().copied() {
        Some("crate") => {
            segments.next();
        }
        Some("super") => {
            // `super` of a file `a/b.rs` (module a::b) is `a`; of `a/mod.rs` (module a) the root.
            base = here.to_vec();
            while segments.peek() == Some(&"super") {
                segments.next();
                base.pop();
            }
        }
        Some("self") => {
            segments.next();
            base = here.to_vec();
        }
        _ => return Vec::new(), // an external crate or a local module declared with `mod`
    }
    base.extend(segments.map(str::to_string));
    if group.is_empty() {
        return vec![base];
    }
    group
        .split(',')
        .filter(|g| !g.is_empty() && !g.contains('{'))
        .map(|g| {
            let mut p = base.clone();
            p.extend(g.split(" as ").next().unwrap().split("::").map(str::to_string));
            p
        })
        .collect()
}

/// No two files of the host import each other, directly or round a longer circle. A parent
/// `mod.rs` re-exporting its children, and a child using its parent's items, are one module's
/// inside and do not count.
#[test]
fn no_import_circles_between_the_files_of_the_host() {
    let src = repo_root().join("host/src");
    let mut files: Vec<(Vec<String>, String)> = Vec::new();
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") && path.file_name().unwrap() != "tests.rs" {
                let rel = path.strip_prefix(&src).unwrap();
                files.push((module_of(rel), std::fs::read_to_string(&path).unwrap()));
            }
        }
    }
    let find = |path: &[String]| -> Option<usize> {
        (0..=path.len()).rev().find_map(|n| files.iter().position(|(m, _)| m.as_slice() == &path[..n]))
    };
    let n = files.len();
    let mut edges = vec![Vec::new(); n];
    for (i, (module, text)) in files.iter().enumerate() {
        for path in imports(text, module) {
            let Some(j) = find(&path) else { continue };
            let (a, b) = (&files[i].0, &files[j].0);
            let nested = a.starts_with(b) || b.starts_with(a);
            if j != i && !nested && !edges[i].contains(&j) {
                edges[i].push(j);
            }
        }
    }
    // A depth-first search for a back edge names the first circle found.
    fn visit(v: usize, edges: &[Vec<usize>], state: &mut [u8], path: &mut Vec<usize>) -> Option<Vec<usize>> {
        state[v] = 1;
        path.push(v);
        for &w in &edges[v] {
            if state[w] == 1 {
                let at = path.iter().position(|&p| p == w).unwrap();
                return Some(path[at..].to_vec());
            }
            if state[w] == 0 {
                if let Some(c) = visit(w, edges, state, path) {
                    return Some(c);
                }
            }
        }
        path.pop();
        state[v] = 2;
        None
    }
    let mut state = vec![0u8; n];
    for v in 0..n {
        if state[v] == 0 {
            if let Some(circle) = visit(v, &edges, &mut state, &mut Vec::new()) {
                let names: Vec<String> = circle.iter().map(|&i| files[i].0.join("::")).collect();
                panic!("an import circle: {}", names.join(" -> "));
            }
        }
    }
    let arrows: usize = edges.iter().map(Vec::len).sum();
    assert!(arrows > 50, "read the imports ({arrows} arrows between {n} files)");
}
