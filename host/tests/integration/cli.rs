//! The `live-shopper` binary end to end: the acceptance commands of the core issue, `run` with
//! its HTTP API, and helpful `--help`.

use crate::common::test_data;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_live-shopper"))
}

/// Every feature name of FEATURES.md §4.
const ALL_FEATURES: &[&str] = &[
    "product_view_count_5min",
    "unique_products_viewed_5min",
    "return_view_count_5min",
    "avg_viewed_price_5min",
    "min_viewed_price_5min",
    "max_viewed_price_5min",
    "price_range_viewed_5min",
    "category_view_count_5min",
    "unique_categories_5min",
    "top_category_5min",
    "product_view_count_1hr",
    "unique_products_viewed_1hr",
    "return_view_count_1hr",
    "avg_viewed_price_1hr",
    "min_viewed_price_1hr",
    "max_viewed_price_1hr",
    "price_range_viewed_1hr",
    "category_view_count_1hr",
    "unique_categories_1hr",
    "top_category_1hr",
    "cart_add_count_5min",
    "cart_remove_count_5min",
    "cart_update_frequency_5min",
    "cart_value_5min",
    "cart_add_count_1hr",
    "cart_remove_count_1hr",
    "cart_update_frequency_1hr",
    "cart_value_1hr",
    "cart_total",
    "session_duration",
    "session_event_count",
    "session_page_count",
    "session_bounce",
    "session_cart_ratio",
    "session_search_count",
    "session_marketing_source",
    "session_marketing_medium",
    "session_marketing_campaign",
    "session_start",
    "session_end",
    "orders_count_24hr",
    "order_value_24hr",
    "avg_order_value_24hr",
    "items_purchased_24hr",
    "top_category_24hr",
    "unique_categories_24hr",
    "refund_value_24hr",
    "shopper_locations",
    "shopper_device_types",
    "shopper_latest_platform",
    "shopper_region_changes",
    "shopper_user_id",
    "shopper_session_count",
    "shopper_first_seen",
    "shopper_last_seen",
];

#[test]
fn replaying_the_store_session_is_deterministic_and_covers_three_plugins() {
    let dir = tempfile::tempdir().unwrap();
    let mut logs = Vec::new();
    for run in 0..2 {
        let out = dir.path().join(format!("out{run}.jsonl"));
        let status = bin()
            .arg("replay")
            .arg(test_data("snowplow/store-session-20.tsv"))
            .arg("--emit")
            .arg(&out)
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
        logs.push(std::fs::read(&out).unwrap());
    }
    assert_eq!(logs[0], logs[1], "two runs give byte-identical emission logs");
    let text = String::from_utf8(logs.swap_remove(0)).unwrap();
    for plugin in ["product", "session", "context"] {
        assert!(text.contains(&format!("{{\"plugin\": \"{plugin}\"")), "no {plugin} emission");
    }
    assert!(text.contains("\"key\": \"user:5b5bbf68-5b5d-4ec3-839d-1271c2abe892:features:5min\""));
}

#[test]
fn generated_traffic_exercises_every_feature() {
    let dir = tempfile::tempdir().unwrap();
    let tsv = dir.path().join("events.tsv");
    let out = dir.path().join("out.jsonl");
    let status = bin()
        .args(["generate", "--shoppers", "200", "--events", "20000", "--seed", "7", "--output"])
        .arg(&tsv)
        .status()
        .unwrap();
    assert!(status.success());
    let replay = bin()
        .arg("replay")
        .arg("-")
        .arg("--emit")
        .arg(&out)
        .arg("--json")
        .stdin(std::fs::File::open(&tsv).unwrap())
        .output()
        .unwrap();
    assert!(replay.status.success(), "{}", String::from_utf8_lossy(&replay.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&replay.stdout).unwrap();
    assert_eq!(summary["decoded"], 20000, "every generated line decodes: {summary}");
    assert_eq!(summary["rejected"], 0);
    let log = std::fs::read_to_string(&out).unwrap();
    let missing: Vec<&&str> = ALL_FEATURES.iter().filter(|f| !log.contains(&format!("\"{f}\": "))).collect();
    assert!(missing.is_empty(), "features never emitted: {missing:?}");
    assert!(log.contains("\"closed\": true"), "some session closed");
}

#[test]
fn generate_is_deterministic_per_seed() {
    let run = |seed: &str| {
        bin()
            .args(["generate", "--shoppers", "20", "--events", "500", "--seed", seed])
            .output()
            .unwrap()
            .stdout
    };
    assert_eq!(run("3"), run("3"));
    assert_ne!(run("3"), run("4"));
}

/// A minimal HTTP GET over loopback; returns (status code, body).
pub fn http_get(addr: &str, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

#[test]
fn run_serves_live_features_over_http_and_stops_cleanly() {
    let mut child = bin()
        .args([
            "run",
            "--http-addr",
            "127.0.0.1:0",
            "--rate",
            "2000",
            "--shoppers",
            "50",
            "--duration-secs",
            "20",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let (mut addr, mut shopper, mut session) = (String::new(), String::new(), String::new());
    let started = Instant::now();
    let mut line = String::new();
    while session.is_empty() && started.elapsed() < Duration::from_secs(30) {
        line.clear();
        if stderr.read_line(&mut line).unwrap() == 0 {
            break;
        }
        if let Some(rest) = line.trim().strip_prefix("features  curl http://") {
            let (a, path) = rest.split_once('/').unwrap();
            addr = a.to_string();
            shopper = path.trim_start_matches("features/user/").to_string();
        }
        if let Some(rest) = line.trim().strip_prefix("sessions  curl http://") {
            session = rest.split_once("/features/session/").unwrap().1.to_string();
        }
    }
    assert!(!addr.is_empty(), "run announced where to look");
    // The first step was announced; wait until its features are in the store.
    let started = Instant::now();
    loop {
        let (status, body) = http_get(&addr, "/healthz");
        assert_eq!(status, 200, "{body}");
        let health: serde_json::Value = serde_json::from_str(&body).unwrap();
        if health["durable_records"].as_u64() > Some(0) && health["events"].as_u64() > Some(0) {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "no features stored: {health}");
        std::thread::sleep(Duration::from_millis(50));
    }

    let (status, body) = http_get(&addr, "/plugins");
    assert_eq!(status, 200);
    let plugins: serde_json::Value = serde_json::from_str(&body).unwrap();
    let names: Vec<&str> = plugins.as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, live_shopper::plugin::embedded::DEFAULT_PLUGINS);
    assert!(plugins[0]["content_hash"].as_str().unwrap().len() == 64);

    let (status, body) = http_get(&addr, &format!("/features/user/{shopper}"));
    assert_eq!(status, 200, "{body}");
    let features: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(features["groups"]["context"]["shopper_first_seen"].is_string(), "{features}");

    let (status, body) = http_get(&addr, &format!("/features/session/{session}"));
    assert_eq!(status, 200, "{body}");
    let features: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(features["features"]["session_event_count"].is_string(), "{features}");

    let (status, _) = http_get(&addr, "/features/user/nobody-at-all");
    assert_eq!(status, 404);

    // Ask it to stop as Ctrl-C would.
    let pid = child.id().to_string();
    Command::new("kill").args(["-INT", &pid]).status().unwrap();
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "exit status {status}; stderr: {rest}");
    assert!(rest.contains("processed"), "prints a summary on shutdown: {rest}");
}

#[test]
fn every_subcommand_has_help() {
    for sub in ["run", "replay", "generate", "bench"] {
        let out = bin().args([sub, "--help"]).output().unwrap();
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.contains("Usage: live-shopper"), "{sub}: {text}");
        assert!(text.contains("--"), "{sub} documents its options");
    }
}

#[test]
fn a_missing_input_file_is_a_clear_error() {
    let out = bin().args(["replay", "/nonexistent/events.tsv"]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("cannot open /nonexistent/events.tsv"), "{err}");
}
