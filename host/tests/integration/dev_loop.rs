//! The developer loop end to end with the real binary and cargo: `plugin new` scaffolds a crate
//! whose golden fixture `plugin test` passes; an edited emission makes `plugin test` fail with the
//! differing lines; `dev` serves the plugin built from source and hot-reloads it after a save.

use crate::common::repo_root;
use crate::services::Host;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn live_shopper(args: &[&str], target_dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_live-shopper"))
        .args(args)
        .env("CARGO_TARGET_DIR", target_dir)
        .output()
        .expect("run live-shopper")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Rewrites `path`, replacing `from` (which must be there) with `to`.
fn edit(path: &Path, from: &str, to: &str) {
    let source = std::fs::read_to_string(path).unwrap();
    assert!(source.contains(from), "{from:?} not in {}", path.display());
    std::fs::write(path, source.replace(from, to)).unwrap();
}

/// The running plugin `name` in `/plugins`, if any.
fn plugin(host: &Host, name: &str) -> Option<serde_json::Value> {
    let (status, body) = host.get("/plugins");
    assert_eq!(status, 200, "{body}");
    let all: serde_json::Value = serde_json::from_str(&body).unwrap();
    all.as_array().unwrap().iter().find(|p| p["name"] == name).cloned()
}

fn wait_for(host: &Host, what: &str, timeout: Duration, done: impl Fn(&Host) -> bool) {
    let started = Instant::now();
    while !done(host) {
        assert!(started.elapsed() < timeout, "timed out waiting for {what}:\n{}", host.stderr());
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn plugin_new_then_plugin_test_passes_and_dev_hot_reloads_a_saved_change() {
    let work = tempfile::tempdir().unwrap();
    // One build folder for every run of this test, so only the first one compiles the SDK.
    let target = repo_root().join("target/scaffold-test");
    let crate_dir = work.path().join("visits");

    let new = live_shopper(&["plugin", "new", "visits", "--dir", work.path().to_str().unwrap()], &target);
    assert!(new.status.success(), "{}", text(&new.stderr));
    for file in [
        "Cargo.toml",
        "src/lib.rs",
        "README.md",
        "fixtures/basic.input.jsonl",
        "fixtures/basic.expected.jsonl",
    ] {
        assert!(crate_dir.join(file).is_file(), "{file} scaffolded");
    }
    let again = live_shopper(&["plugin", "new", "visits", "--dir", work.path().to_str().unwrap()], &target);
    assert!(!again.status.success() && text(&again.stderr).contains("already exists"));
    // The repository's lock file pins the same dependency versions (and keeps the build offline).
    std::fs::copy(repo_root().join("Cargo.lock"), crate_dir.join("Cargo.lock")).unwrap();

    let dir = crate_dir.to_str().unwrap();
    let test = live_shopper(&["plugin", "test", dir], &target);
    let log = text(&test.stderr);
    assert!(test.status.success(), "{log}");
    assert!(log.contains("fixture basic: ok (4 emissions)"), "{log}");
    assert!(log.contains("plugin visits 0.1.0: 1 of 1 fixtures pass"), "{log}");

    // A change in what the plugin emits fails the fixture, naming the lines.
    let lib = crate_dir.join("src/lib.rs");
    edit(&lib, ".int(visit.page_views as i64)", ".int(visit.page_views as i64 * 10)");
    let failing = live_shopper(&["plugin", "test", dir], &target);
    let log = text(&failing.stderr);
    assert!(!failing.status.success(), "{log}");
    assert!(
        log.contains("fixture basic: FAILED") && log.contains("line 1: - ") && log.contains("line 1: + "),
        "{log}"
    );
    assert!(log.contains(r#"\"page_views\": \"10\""#) || log.contains(r#""page_views": "10""#), "{log}");
    edit(&lib, ".int(visit.page_views as i64 * 10)", ".int(visit.page_views as i64)");

    // `dev`: generated traffic through the plugin built from source…
    let out = work.path().join("dev-plugins");
    let args = [
        "dev",
        "--plugin-src",
        dir,
        "--out",
        out.to_str().unwrap(),
        "--http-addr",
        "127.0.0.1:0",
        "--rate",
        "2000",
    ];
    let env = [("CARGO_TARGET_DIR", target.display().to_string())];
    let host = Host::launch(&args, &env, Duration::from_secs(600));
    wait_for(&host, "visits to count events", Duration::from_secs(60), |h| {
        plugin(h, "visits").is_some_and(|p| p["version"] == "0.1.0" && p["events_in"].as_u64() > Some(0))
    });
    let before = plugin(&host, "visits").unwrap();

    // …and a saved change is rebuilt and swapped in, keeping the state (same schema).
    edit(&lib, r#"version: "0.1.0".into()"#, r#"version: "0.2.0".into()"#);
    wait_for(&host, "the rebuilt version to serve", Duration::from_secs(300), |h| {
        plugin(h, "visits").is_some_and(|p| p["version"] == "0.2.0")
    });
    let after = plugin(&host, "visits").unwrap();
    assert_ne!(after["content_hash"], before["content_hash"]);
    let log = host.stop();
    assert!(log.contains("dev: ") && log.contains("changed"), "{log}");
    assert!(log.contains("StateKept"), "{log}");
}
