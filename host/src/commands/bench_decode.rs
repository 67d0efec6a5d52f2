//! The decode part of `live-shopper bench`: generated Snowplow TSV records carrying the example
//! loyalty entity, decoded with everything the five default plugins need (today's full decode)
//! and with only the loyalty entity asked for (what a host running just the loyalty plugin reads).

use crate::decode::decode_record_for;
use crate::model::{Event, Interest};
use crate::source::generator::loyalty::add_loyalty;
use crate::source::generator::tsv::write_enriched_tsv;
use live_shopper_abi::SchemaCriterion;
use serde_json::{json, Value};
use std::time::Instant;

/// Measures both decodes over `events` (as TSV with the loyalty entity), `repeat` times each;
/// the median run is reported as JSON.
pub fn measure(events: &[Event], repeat: u32) -> anyhow::Result<Value> {
    let mut line = String::new();
    let records: Vec<String> = events
        .iter()
        .map(|e| {
            let mut e = e.clone();
            add_loyalty(&mut e);
            line.clear();
            write_enriched_tsv(&e, &mut line);
            line.clone()
        })
        .collect();
    let bytes: usize = records.iter().map(String::len).sum();
    let loyalty =
        SchemaCriterion::parse("iglu:com.acme/loyalty/jsonschema/1-*-*").map_err(anyhow::Error::msg)?;
    let only_loyalty =
        Interest { standard_entities: false, custom_events: Vec::new(), entities: vec![loyalty] };
    let full = median_ns_per_record(&records, &Interest::default(), repeat)?;
    let custom = median_ns_per_record(&records, &only_loyalty, repeat)?;
    Ok(json!({
        "records": records.len(),
        "mean_record_bytes": (bytes as f64 / records.len().max(1) as f64).round(),
        "full_decode_ns_per_record": full,
        "one_custom_entity_ns_per_record": custom,
        "one_custom_entity_over_full": (custom / full * 1000.0).round() / 1000.0,
    }))
}

fn median_ns_per_record(records: &[String], interest: &Interest, repeat: u32) -> anyhow::Result<f64> {
    let mut runs = Vec::new();
    for _ in 0..repeat.max(1) {
        let started = Instant::now();
        for r in records {
            let e = decode_record_for(r.as_bytes(), interest)?;
            std::hint::black_box(e);
        }
        runs.push(started.elapsed().as_secs_f64() * 1e9 / records.len().max(1) as f64);
    }
    runs.sort_by(f64::total_cmp);
    Ok((runs[runs.len() / 2] * 10.0).round() / 10.0)
}
