//! The repartition topic on the wire (`<group>-repartition`): input records forwarded under a key
//! that is not the input's partition key, and the upstream watermark reports that let a through
//! partition judge lateness as its input partitions did. Created when missing with the changelog's
//! partition count. A forwarded record belongs to the step that forwarded it: the step is durable
//! (its changelog records may be produced, its offsets committed) only once its forwarded records
//! are delivered, as it is once Redis acknowledged its writes. What the records mean is the
//! engine's business (`crate::engine::through`).

use super::deliveries::{StepProducer, UNTRACKED};
use super::KafkaSourceError;
use rdkafka::config::ClientConfig;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::BaseRecord;

/// Header naming the kind of key a forwarded record carries (its Kafka key is the key).
pub const HEADER_KEY_KIND: &str = "live-shopper-key-kind";
/// Header of a watermark report: the input partition (`topic/partition`) it is of; the value
/// is the watermark, 8 bytes big-endian.
pub const HEADER_WATERMARK_OF: &str = "live-shopper-watermark-of";

/// How a watermark report names input partition `partition` of `topic`.
pub fn upstream_name(topic: &str, partition: i32) -> String {
    format!("{topic}/{partition}")
}

/// The partition of a repartition topic of `partitions` partitions that (kind, key) goes to:
/// the same on every host, whatever the client's partitioner setting (FNV-1a of kind, a zero
/// byte and key).
pub fn through_partition(kind: &str, key: &str, partitions: i32) -> i32 {
    let bytes = kind.bytes().chain([0]).chain(key.bytes());
    let hash = bytes.fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3));
    (hash % partitions.max(1) as u64) as i32
}

/// The producer of one repartition topic.
pub struct ThroughTopic {
    producer: StepProducer,
    topic: String,
    partitions: i32,
    /// Records forwarded.
    pub forwarded: u64,
}

impl ThroughTopic {
    /// A producer for `topic` of `partitions` partitions; `config` holds the brokers and the
    /// user's client properties.
    pub(super) fn new(config: &ClientConfig, topic: &str, partitions: i32) -> Result<Self, KafkaSourceError> {
        let producer = StepProducer::new(config, "repartition", format!("repartition topic {topic}"))?;
        Ok(ThroughTopic { producer, topic: topic.to_string(), partitions: partitions.max(1), forwarded: 0 })
    }

    /// The topic's name.
    pub fn name(&self) -> &str {
        &self.topic
    }

    fn partition_of(&self, kind: &str, key: &str) -> i32 {
        through_partition(kind, key, self.partitions)
    }

    /// Forwards an input record's `payload` under (kind, key), as part of step `ticket`.
    pub fn forward(
        &mut self,
        ticket: u64,
        kind: &str,
        key: &str,
        payload: &[u8],
    ) -> Result<(), KafkaSourceError> {
        let headers = OwnedHeaders::new().insert(Header { key: HEADER_KEY_KIND, value: Some(kind) });
        let record = BaseRecord::with_opaque_to(&self.topic, ticket as usize)
            .partition(self.partition_of(kind, key))
            .key(key.as_bytes())
            .payload(payload)
            .headers(headers);
        self.producer.send(record)?;
        self.forwarded += 1;
        Ok(())
    }

    /// Reports input partition `of`'s watermark to every partition of the topic.
    pub fn report_watermark(&mut self, of: &str, watermark: i64) -> Result<(), KafkaSourceError> {
        let value = watermark.to_be_bytes();
        for partition in 0..self.partitions {
            let headers = OwnedHeaders::new().insert(Header { key: HEADER_WATERMARK_OF, value: Some(of) });
            let record = BaseRecord::with_opaque_to(&self.topic, UNTRACKED)
                .partition(partition)
                .key(of.as_bytes())
                .payload(&value[..])
                .headers(headers);
            self.producer.send(record)?;
        }
        Ok(())
    }

    /// The first step ticket with a forwarded record not yet delivered (`u64::MAX` when all
    /// are): every step below it is durable as far as this topic goes. A failed delivery is an
    /// error: the step's records would be lost.
    pub fn delivered_below(&self) -> Result<u64, KafkaSourceError> {
        self.producer.delivered_below()
    }

    /// Waits until every forwarded record is delivered, or `give_up` says so.
    pub fn flush(&self, give_up: &dyn Fn() -> bool) -> Result<(), KafkaSourceError> {
        self.producer.flush(give_up)
    }
}
