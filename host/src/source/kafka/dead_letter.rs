//! The dead-letter producer: a rejected record is written to the dead-letter topic with its
//! original key, bytes and headers, plus headers naming the reason, source topic, partition and
//! offset. Failed deliveries are kept and sent again, so a reject is never lost; offsets are
//! committed only after [`DeadLetters::flush`] saw every dead letter delivered.

use super::tools::send_when_queued;
use super::{KafkaRecord, KafkaSourceError};
use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::message::{DeliveryResult, Header, Headers, Message, OwnedHeaders, OwnedMessage};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};
use rdkafka::ClientContext;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Header with the human-readable reason.
pub const HEADER_REASON: &str = "live-shopper-reason";
/// Header with the reason's stable code (`not_json`, `missing_field`, ...).
pub const HEADER_REASON_CODE: &str = "live-shopper-reason-code";
/// Header with the topic the record was consumed from.
pub const HEADER_TOPIC: &str = "live-shopper-source-topic";
/// Header with the record's Kafka partition, in decimal.
pub const HEADER_PARTITION: &str = "live-shopper-source-partition";
/// Header with the record's offset in its partition, in decimal.
pub const HEADER_OFFSET: &str = "live-shopper-source-offset";
/// Header on a dead letter whose payload was cut: the original payload's size in bytes.
pub const HEADER_ORIGINAL_SIZE: &str = "live-shopper-original-size";

/// The largest payload a dead letter carries: a record read from a topic that allows bigger
/// messages than the dead-letter topic (Kafka's default limit is about 1 MB) would otherwise be
/// refused again and again, and the commit that waits for it would never come. Longer ones are
/// cut here, keeping their reason and [`HEADER_ORIGINAL_SIZE`].
pub const MAX_DEAD_LETTER_BYTES: usize = 512 << 10;

const RETRY_FIRST: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(5);

/// Keeps the messages whose delivery failed, to send again, and whether the broker found
/// each too large.
#[derive(Default)]
struct Deliveries {
    failed: Mutex<Vec<(OwnedMessage, bool)>>,
}

/// Whether `e` says a message is over a size limit.
fn too_large(e: &KafkaError) -> bool {
    use rdkafka::types::RDKafkaErrorCode::MessageSizeTooLarge;
    matches!(e, KafkaError::MessageProduction(MessageSizeTooLarge))
}

/// `payload` cut to `max` bytes, with the header that keeps its original size; as it is when
/// it fits.
fn cut(payload: &[u8], max: usize, headers: OwnedHeaders) -> (&[u8], OwnedHeaders) {
    if payload.len() <= max {
        return (payload, headers);
    }
    let size = payload.len().to_string();
    (&payload[..max], headers.insert(Header { key: HEADER_ORIGINAL_SIZE, value: Some(&size) }))
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, message)) = result {
            tracing::warn!(error = %e, "dead-letter delivery failed; will send again");
            self.failed.lock().unwrap_or_else(|p| p.into_inner()).push((message.detach(), too_large(e)));
        }
    }
}

/// The producer of the dead-letter topic; keeps failed deliveries to send again.
pub struct DeadLetters {
    producer: BaseProducer<Deliveries>,
    topic: String,
}

impl DeadLetters {
    pub(super) fn new(mut config: ClientConfig, topic: &str) -> Result<Self, KafkaError> {
        config.set("message.timeout.ms", "30000").set("acks", "all");
        let producer = config.create_with_context(Deliveries::default())?;
        Ok(DeadLetters { producer, topic: topic.to_string() })
    }

    /// Queues `record` for the dead-letter topic with `code` and `reason`.
    pub fn send(&mut self, record: &KafkaRecord<'_>, code: &'static str, reason: &str) {
        let mut headers = OwnedHeaders::new();
        if let Some(original) = record.message.headers() {
            for h in original.iter() {
                headers = headers.insert(Header { key: h.key, value: h.value });
            }
        }
        let (partition, offset) = (record.kafka_partition().to_string(), record.offset().to_string());
        let ours = [
            (HEADER_REASON, reason),
            (HEADER_REASON_CODE, code),
            (HEADER_TOPIC, record.topic()),
            (HEADER_PARTITION, partition.as_str()),
            (HEADER_OFFSET, offset.as_str()),
        ];
        for (key, value) in ours {
            headers = headers.insert(Header { key, value: Some(value) });
        }
        self.enqueue(record.message.key(), record.payload, headers);
    }

    fn enqueue(&self, key: Option<&[u8]>, payload: &[u8], headers: OwnedHeaders) {
        self.enqueue_to(&self.topic, key, payload, headers);
    }

    fn enqueue_to(&self, topic: &str, key: Option<&[u8]>, payload: &[u8], headers: OwnedHeaders) {
        self.enqueue_cut(topic, key, payload, headers, MAX_DEAD_LETTER_BYTES);
    }

    /// Queues a dead letter whose payload is cut to `max` bytes.
    fn enqueue_cut(
        &self,
        topic: &str,
        key: Option<&[u8]>,
        payload: &[u8],
        headers: OwnedHeaders,
        max: usize,
    ) {
        let (payload, headers) = cut(payload, max, headers);
        let mut base = BaseRecord::<[u8], [u8]>::to(topic).payload(payload).headers(headers);
        if let Some(key) = key {
            base = base.key(key);
        }
        if let Err((e, back)) = send_when_queued(&self.producer, base, Duration::from_millis(100)) {
            let too_large = too_large(&e);
            // Not retriable at enqueue time (e.g. too large): keep it as a failed delivery so
            // `flush` reports it rather than losing it.
            tracing::error!(error = %e, "dead letter could not be queued");
            let failed = OwnedMessage::new(
                Some(back.payload.map(<[u8]>::to_vec).unwrap_or_default()),
                back.key.map(<[u8]>::to_vec),
                topic.to_string(),
                rdkafka::Timestamp::NotAvailable,
                -1,
                -1,
                back.headers,
            );
            self.producer
                .context()
                .failed
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push((failed, too_large));
        }
    }

    /// Waits until every queued dead letter is delivered, sending failed ones again with backoff,
    /// until `give_up` says so.
    pub fn flush(&self, give_up: &dyn Fn() -> bool) -> Result<(), KafkaSourceError> {
        let mut wait = RETRY_FIRST;
        loop {
            let flushed = self.producer.flush(Duration::from_secs(10));
            let failed = std::mem::take(
                &mut *self.producer.context().failed.lock().unwrap_or_else(|p| p.into_inner()),
            );
            if flushed.is_ok() && failed.is_empty() {
                return Ok(());
            }
            if give_up() {
                return Err(KafkaSourceError::DeadLetter {
                    topic: self.topic.clone(),
                    undelivered: failed.len() + self.producer.in_flight_count() as usize,
                });
            }
            for (m, too_large) in failed {
                let headers = m.headers().cloned().unwrap_or_default();
                let payload = m.payload().unwrap_or(&[]);
                // Over a limit of the broker's: half as much each time, so it ends.
                let max = if too_large { payload.len() / 2 } else { MAX_DEAD_LETTER_BYTES };
                self.enqueue_cut(m.topic(), m.key(), payload, headers, max);
            }
            let until = Instant::now() + wait;
            while Instant::now() < until && !give_up() {
                self.producer.poll(RETRY_FIRST);
            }
            wait = (wait * 2).min(RETRY_MAX);
        }
    }

    /// Queues a record of the host's own (a plugin's failed batch) for `topic`, delivered and
    /// retried like the others.
    pub fn send_own(&mut self, topic: &str, key: &str, payload: &[u8], headers: &[(&str, &str)]) {
        let mut owned = OwnedHeaders::new();
        for (key, value) in headers {
            owned = owned.insert(Header { key, value: Some(*value) });
        }
        self.enqueue_to(topic, Some(key.as_bytes()), payload, owned);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payload_over_the_limit_is_cut_and_keeps_its_original_size() {
        let big = vec![b'x'; 1_000];
        let (payload, headers) = cut(&big, 300, OwnedHeaders::new());
        assert_eq!(payload.len(), 300);
        let header = headers.iter().find(|h| h.key == HEADER_ORIGINAL_SIZE).unwrap();
        assert_eq!(header.value, Some(&b"1000"[..]));
        let (payload, headers) = cut(&big, 1_000, OwnedHeaders::new());
        assert_eq!((payload.len(), headers.count()), (1_000, 0), "one that fits is left alone");
    }
}
