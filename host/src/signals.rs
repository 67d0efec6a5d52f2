//! Signals: the named records plugins emit beside feature hashes (contract 0.2), as one JSON
//! line each, and the outlets they go to: the live hub behind `GET /signals` (every mode) and,
//! with the Kafka source, the topic the operator mapped for each signal. The `replay` emission
//! log writes the same lines (`sink/emission_log.rs`).

use crate::engine::emission::{Emission, EmissionSink, Signal};
use live_shopper_abi::value::write_json_string;
use live_shopper_abi::FeatureValue;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::broadcast;

/// Formats one signal as a JSON line (no newline):
/// `{"signal": …, "plugin": …, "version": …, "key": …, "as_of": …, "id": …, "fields": {…}}`.
/// `id` is `plugin/signal/key/at`, where `at` is the tick of the timer that fired it (else its
/// as-of): the same on every run of the same input for a signal a timer fires, however the
/// input was split over hosts and steps. A consumer that may see a signal twice (after a
/// crash, see docs/ARCHITECTURE.md) drops repeats by it.
pub fn format_signal(s: &Signal<'_>, line: &mut String) {
    line.clear();
    line.push_str("{\"signal\": ");
    write_json_string(&s.signal.name, line);
    line.push_str(", \"plugin\": ");
    write_json_string(s.plugin, line);
    line.push_str(", \"version\": ");
    write_json_string(s.version, line);
    line.push_str(", \"key\": ");
    write_json_string(s.key, line);
    line.push_str(", \"as_of\": ");
    line.push_str(&s.as_of.to_string());
    line.push_str(", \"id\": ");
    write_json_string(&format!("{}/{}/{}/{}", s.plugin, s.signal.name, s.key, s.at), line);
    line.push_str(", \"fields\": {");
    for (i, (name, value)) in s.signal.fields.iter().zip(s.values).enumerate() {
        if i > 0 {
            line.push_str(", ");
        }
        write_json_string(name, line);
        line.push_str(": ");
        write_json_value(value, line);
    }
    line.push_str("}}");
}

/// A feature value as typed JSON (numbers stay numbers; a non-finite float is `null`).
fn write_json_value(value: &FeatureValue<'_>, out: &mut String) {
    match value {
        FeatureValue::Int(v) => out.push_str(&v.to_string()),
        FeatureValue::Float(v) if v.is_finite() => out.push_str(&v.to_string()),
        FeatureValue::Float(_) => out.push_str("null"),
        FeatureValue::Bool(v) => out.push_str(if *v { "true" } else { "false" }),
        FeatureValue::Text(v) => write_json_string(v, out),
        FeatureValue::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_json_string(item, out);
            }
            out.push(']');
        }
    }
}

/// How many signals a live subscriber may fall behind by before it misses some.
const HUB_CAPACITY: usize = 4_096;

/// The live stream of signals: every signal the pipeline emits, to whoever listens now
/// (`GET /signals`). Best effort by design: a subscriber that falls more than 4 096 signals
/// behind is told how many it missed; the Kafka topic is the durable outlet.
#[derive(Clone)]
pub struct SignalHub {
    sender: broadcast::Sender<Arc<str>>,
    published: Arc<AtomicU64>,
}

impl Default for SignalHub {
    fn default() -> Self {
        SignalHub { sender: broadcast::channel(HUB_CAPACITY).0, published: Arc::default() }
    }
}

impl SignalHub {
    /// Sends `line` to the current subscribers.
    pub fn publish(&self, line: &str) {
        self.published.fetch_add(1, Ordering::Relaxed);
        // No subscriber is no error: the hub is a live view.
        let _ = self.sender.send(Arc::from(line));
    }

    /// A new subscriber, seeing the signals published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<str>> {
        self.sender.subscribe()
    }

    /// Signals published since the start.
    pub fn published(&self) -> u64 {
        self.published.load(Ordering::Relaxed)
    }
}

/// A durable outlet for signals: the Kafka producer of the mapped topics.
pub trait SignalTopics: Send {
    /// Queues `line`, signal `signal` for key `key`, to the signal's topic.
    fn send(&mut self, signal: &str, key: &str, line: &str) -> Result<(), String>;

    /// Waits until everything queued is acknowledged by the broker.
    fn flush(&mut self) -> Result<(), String>;
}

/// Where the engine's signals go: the hub and, when set, the topics. Emissions pass by (they
/// go to the feature store beside this sink).
pub struct SignalOutlets {
    hub: SignalHub,
    topics: Option<Box<dyn SignalTopics>>,
    line: String,
    /// The first failure to queue a signal since the last flush (reported by `flush`).
    failed: Option<String>,
    /// Signals queued to the topics since the last flush.
    unflushed: u64,
}

impl SignalOutlets {
    /// Outlets publishing to `hub` and, if given, to `topics`.
    pub fn new(hub: SignalHub, topics: Option<Box<dyn SignalTopics>>) -> Self {
        SignalOutlets { hub, topics, line: String::with_capacity(256), failed: None, unflushed: 0 }
    }

    /// Waits until every signal so far is in its topic; the error is the first failure since
    /// the last flush. Called before offsets are committed and checkpoints saved, so a restart
    /// from them neither loses nor repeats a signal.
    pub fn flush(&mut self) -> Result<(), String> {
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        match &mut self.topics {
            Some(topics) if self.unflushed > 0 => {
                topics.flush()?;
                self.unflushed = 0;
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

impl EmissionSink for SignalOutlets {
    fn emit(&mut self, _: &Emission<'_>) {}

    fn signal(&mut self, signal: &Signal<'_>) {
        format_signal(signal, &mut self.line);
        self.hub.publish(&self.line);
        if let Some(topics) = &mut self.topics {
            self.unflushed += 1;
            if let Err(e) = topics.send(&signal.signal.name, signal.key, &self.line) {
                tracing::error!(signal = %signal.signal.name, error = %e, "signal not queued to its topic");
                self.failed.get_or_insert(e);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use live_shopper_abi::SignalDecl;

    #[test]
    fn a_signal_is_one_json_line_with_typed_fields_and_a_stable_id() {
        let decl = SignalDecl {
            name: "flash_sale_alert".into(),
            fields: vec!["product_id".into(), "views".into(), "rate".into()],
        };
        let values = [FeatureValue::Text("p\"1"), FeatureValue::Int(120), FeatureValue::Float(0.5)];
        let s = Signal {
            plugin: "flash-sale",
            version: "0.1.0",
            signal: &decl,
            key: "p\"1",
            as_of: 42,
            at: 40,
            values: &values,
        };
        let mut line = String::new();
        format_signal(&s, &mut line);
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["signal"], "flash_sale_alert");
        assert_eq!(v["id"], "flash-sale/flash_sale_alert/p\"1/40", "named by the tick that fired it");
        assert_eq!(v["as_of"], 42);
        assert_eq!(v["fields"]["views"], 120);
        assert_eq!(v["fields"]["rate"], 0.5);
        assert_eq!(v["fields"]["product_id"], "p\"1");
    }

    #[test]
    fn the_hub_reaches_current_subscribers_only() {
        let hub = SignalHub::default();
        hub.publish("before");
        let mut rx = hub.subscribe();
        hub.publish("after");
        assert_eq!(&*rx.try_recv().unwrap(), "after");
        assert_eq!(hub.published(), 2);
    }
}
