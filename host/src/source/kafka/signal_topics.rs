//! The signal topics: each signal a plugin emits goes to the topic `[kafka.signal_topics]` maps
//! for it, keyed by the signal's key, through a retrying producer like the dead letters'.

use super::{client_config, DeadLetters, KafkaSourceError};
use crate::config::KafkaSettings;
use crate::signals::SignalTopics;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// How long a flush keeps sending again before it reports the signals undelivered.
const FLUSH_GIVE_UP: Duration = Duration::from_secs(30);

/// The producer of the mapped signal topics.
pub struct KafkaSignalTopics {
    producer: DeadLetters,
    topics: BTreeMap<String, String>,
}

impl KafkaSignalTopics {
    /// A producer for `settings.signal_topics`.
    pub fn connect(settings: &KafkaSettings) -> Result<Self, KafkaSourceError> {
        let any = settings.signal_topics.values().next().map_or("live-shopper-signals", String::as_str);
        let producer = DeadLetters::new(client_config(settings), any).map_err(|source| {
            KafkaSourceError::Create { what: "signal producer", brokers: settings.brokers.clone(), source }
        })?;
        Ok(KafkaSignalTopics { producer, topics: settings.signal_topics.clone() })
    }
}

impl SignalTopics for KafkaSignalTopics {
    fn send(&mut self, signal: &str, key: &str, line: &str) -> Result<(), String> {
        let topic = self
            .topics
            .get(signal)
            .ok_or_else(|| format!("signal {signal:?} has no topic in [kafka.signal_topics]"))?;
        self.producer.send_own(topic, key, line.as_bytes(), &[("live-shopper-signal", signal)]);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + FLUSH_GIVE_UP;
        self.producer.flush(&|| Instant::now() > deadline).map_err(|e| e.to_string())
    }
}
