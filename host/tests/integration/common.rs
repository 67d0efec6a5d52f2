//! Shared test helpers: repository paths, building the test guest plugins, replaying records.

use live_shopper::commands::replay::{replay, ReplaySummary};
use live_shopper::engine::{EngineConfig, Operator};
use live_shopper::sink::EmissionLog;
use live_shopper::source::file::RecordReader;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("host/ is in the repo").to_path_buf()
}

/// `testdata/…` of the repository (real Snowplow data; provenance in `testdata/README.md`).
pub fn test_data(rel: &str) -> PathBuf {
    repo_root().join("testdata").join(rel)
}

const GUESTS: [&str; 9] = [
    "endless-loop",
    "memory-bomb",
    "trap",
    "sandbox-probe",
    "oversized-output",
    "state-hog",
    "counter-v1",
    "counter-v2",
    "counter-v2-no-migration",
];

/// The compiled test guest `name` (built once per test process with the workspace's cargo).
pub fn guest_wasm(name: &str) -> Vec<u8> {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    let dir = BUILT.get_or_init(|| {
        let target_dir = repo_root().join("target/wasm");
        let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        cmd.current_dir(repo_root())
            .args(["build", "--release", "--target", "wasm32-wasip2", "--target-dir"])
            .arg(&target_dir);
        for g in GUESTS {
            cmd.args(["-p", &format!("test-guest-{g}")]);
        }
        for var in ["CARGO_ENCODED_RUSTFLAGS", "RUSTFLAGS", "RUSTC_WORKSPACE_WRAPPER", "RUSTC_WRAPPER"] {
            cmd.env_remove(var);
        }
        let status = cmd.status().expect("run cargo to build the test guests");
        assert!(status.success(), "building the test guests failed");
        target_dir.join("wasm32-wasip2/release")
    });
    let path = dir.join(format!("test_guest_{}.wasm", name.replace('-', "_")));
    std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// The compiled example plugin `examples/<name>` (built once per test process).
pub fn example_wasm(name: &str) -> Vec<u8> {
    let target_dir = repo_root().join("target/wasm");
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(repo_root())
        .args(["build", "--release", "--target", "wasm32-wasip2", "--target-dir"])
        .arg(&target_dir)
        .args(["-p", &format!("live-shopper-example-{name}")]);
    for var in ["CARGO_ENCODED_RUSTFLAGS", "RUSTFLAGS", "RUSTC_WORKSPACE_WRAPPER", "RUSTC_WRAPPER"] {
        cmd.env_remove(var);
    }
    assert!(
        cmd.status().expect("run cargo to build the example").success(),
        "building examples/{name} failed"
    );
    let path = target_dir.join(format!("wasm32-wasip2/release/live_shopper_example_{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// Replays `text` (records, one per line) through `operators`; returns the emission log.
pub fn replay_text(text: &str, operators: Vec<Box<dyn Operator>>) -> (String, ReplaySummary) {
    let reader = RecordReader::new(std::io::Cursor::new(text.as_bytes().to_vec()));
    let mut log = EmissionLog::new(Vec::new());
    let summary = replay(vec![("input".into(), reader)], operators, EngineConfig::default(), 1, &mut log)
        .expect("replay runs");
    let bytes = log.into_inner().expect("an in-memory log cannot fail");
    (String::from_utf8(bytes).expect("the log is UTF-8"), summary)
}
