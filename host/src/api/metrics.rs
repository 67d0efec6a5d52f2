//! `GET /metrics`: the run's counters in the Prometheus text format.

use super::{read_status, AppState};
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use std::fmt::Write;

pub(super) async fn render(State(state): State<AppState>) -> impl IntoResponse {
    // Every `writeln!` below writes to a String, which cannot fail: the results are dropped.
    let s = read_status(&state);
    let mut out = String::new();
    let mut counter = |name: &str, help: &str, samples: &[(String, u64)]| {
        let _ = writeln!(out, "# HELP live_shopper_{name} {help}\n# TYPE live_shopper_{name} counter");
        for (labels, v) in samples {
            let _ = writeln!(out, "live_shopper_{name}{labels} {v}");
        }
    };
    let plain = |v: u64| vec![(String::new(), v)];
    counter("records_total", "Records taken from the source.", &plain(s.records));
    counter("events_total", "Events processed (after dedup).", &plain(s.events));
    counter("duplicates_total", "Events skipped as duplicates.", &plain(s.duplicates));
    counter(
        "through_events_total",
        "Events taken from the repartition topic (after dedup).",
        &plain(s.through_events),
    );
    counter("forwarded_total", "Records forwarded to the repartition topic.", &plain(s.forwarded));
    let rejected: Vec<(String, u64)> =
        s.rejected_by_reason.iter().map(|(r, v)| (format!("{{reason=\"{r}\"}}"), *v)).collect();
    counter("rejected_total", "Records sent to the dead-letter topic, by reason.", &rejected);
    counter("offset_commits_total", "Kafka offset commits.", &plain(s.commits));
    counter(
        "plugin_refusals_total",
        "Plugin files refused (not compiling or validating, or a failed migration); the running version stays.",
        &plain(s.plugin_refusals),
    );
    if let (Some(writes), Some(retries)) = (s.redis_writes, s.redis_retries) {
        counter("redis_pipelines_total", "Redis pipelines written.", &plain(writes));
        counter("redis_retries_total", "Failed Redis writes retried.", &plain(retries));
    }
    let per_plugin = |f: fn(&crate::status::PluginInfo) -> u64| -> Vec<(String, u64)> {
        s.plugins.iter().map(|p| (format!("{{plugin=\"{}\"}}", p.name), f(p))).collect()
    };
    counter("plugin_events_total", "Events delivered to a plugin.", &per_plugin(|p| p.events_in));
    counter("plugin_emissions_total", "Feature groups emitted by a plugin.", &per_plugin(|p| p.emissions));
    counter("plugin_failures_total", "Failed plugin calls.", &per_plugin(|p| p.failures));
    counter("plugin_late_total", "Events dropped as late.", &per_plugin(|p| p.late));
    counter("plugin_skipped_total", "Events not delivered while quarantined.", &per_plugin(|p| p.skipped));
    let mut gauge = |name: &str, help: &str, samples: Vec<(String, f64)>| {
        let _ = writeln!(out, "# HELP live_shopper_{name} {help}\n# TYPE live_shopper_{name} gauge");
        for (labels, v) in samples {
            let _ = writeln!(out, "live_shopper_{name}{labels} {v}");
        }
    };
    gauge(
        "plugin_quarantined",
        "1 while a plugin is quarantined after consecutive failures.",
        s.plugins
            .iter()
            .map(|p| {
                (
                    format!("{{plugin=\"{}\"}}", p.name),
                    (p.status == crate::status::PluginStatus::Quarantined) as u8 as f64,
                )
            })
            .collect(),
    );
    gauge(
        "plugin_keys",
        "Keys holding state.",
        s.plugins.iter().map(|p| (format!("{{plugin=\"{}\"}}", p.name), p.keys as f64)).collect(),
    );
    gauge(
        "plugin_state_bytes",
        "Bytes of keyed state.",
        s.plugins.iter().map(|p| (format!("{{plugin=\"{}\"}}", p.name), p.state_bytes as f64)).collect(),
    );
    if let Some(w) = s.watermark {
        gauge("watermark_ms", "The engine's event-time watermark.", vec![(String::new(), w as f64)]);
    }
    if let Some(q) = s.freshness_ms {
        let samples = ["0.5", "0.99", "0.999"]
            .iter()
            .zip(q)
            .map(|(k, v)| (format!("{{quantile=\"{k}\"}}"), v))
            .collect();
        gauge("freshness_ms", "Source timestamp to store acknowledgement, in ms.", samples);
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out)
}
