//! Decoding cross-checked against Snowplow's own Python analytics SDK (`snowplow-analytics-sdk`,
//! installed by `xtask/prepare`): every enriched TSV event of `testdata/snowplow` and a few
//! thousand generated ones are turned into JSON by the SDK; decoding that JSON must give exactly
//! the event decoding the TSV gives.

use crate::common::{repo_root, test_data};
use live_shopper::decode::decode_record;
use live_shopper::source::generator::{write_enriched_tsv, Generator, GeneratorConfig};
use std::io::Write;
use std::process::{Command, Stdio};

/// The SDK's JSON for each TSV line, in order.
fn sdk_transform(lines: &[String]) -> Vec<serde_json::Value> {
    let script = repo_root().join("host/tests/interop/snowplow_sdk_transform.py");
    let mut child = Command::new("python3")
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let mut stdin = child.stdin.take().unwrap();
    let input = lines.join("\n") + "\n";
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()).unwrap());
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(
        out.status.success(),
        "the Snowplow SDK script failed (is snowplow-analytics-sdk installed? xtask/prepare installs it): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn check(lines: Vec<String>) {
    let json = sdk_transform(&lines);
    assert_eq!(json.len(), lines.len());
    for (line, sdk) in lines.iter().zip(&json) {
        assert!(sdk.get("error").is_none(), "the SDK rejected a line we accept: {sdk}");
        let from_tsv = decode_record(line.as_bytes()).unwrap();
        let from_sdk = decode_record(sdk.to_string().as_bytes())
            .unwrap_or_else(|e| panic!("{}: the SDK's JSON does not decode: {e}", from_tsv.event_id));
        assert_eq!(from_sdk, from_tsv, "{}: TSV and the SDK's JSON decode differently", from_tsv.event_id);
    }
}

#[test]
fn every_shared_tsv_event_decodes_the_same_through_snowplows_sdk() {
    let mut lines = Vec::new();
    for file in ["store-session-20.tsv", "store-page-ping-5.tsv", "store-home-5.tsv"] {
        let text = std::fs::read_to_string(test_data(&format!("snowplow/{file}"))).unwrap();
        lines.extend(text.lines().filter(|l| !l.is_empty()).map(str::to_owned));
    }
    assert_eq!(lines.len(), 30);
    check(lines);
}

#[test]
fn generated_events_decode_the_same_through_snowplows_sdk() {
    let events =
        Generator::new(GeneratorConfig { shoppers: 100, events: 3_000, seed: 5, ..Default::default() });
    let lines: Vec<String> = events
        .map(|e| {
            let mut line = String::new();
            write_enriched_tsv(&e, &mut line);
            line
        })
        .collect();
    check(lines);
}
