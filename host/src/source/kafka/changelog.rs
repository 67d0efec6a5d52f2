//! The changelog topic on the wire: created when missing (compacted, the input's partition
//! count), produced in order per partition (one request in flight, retried by the client until
//! delivered), delivery awaited before offsets are committed, and one partition read back to its
//! end for a restore. What the records mean is `crate::changelog`'s business.

use super::deliveries::StepProducer;
use super::KafkaSourceError;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::BaseRecord;
use rdkafka::{Offset, TopicPartitionList};
use std::time::{Duration, Instant};

/// How long one metadata or watermark request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The producer and reader of one changelog topic.
pub struct ChangelogTopic {
    producer: StepProducer,
    config: ClientConfig,
    topic: String,
    /// Records produced.
    pub produced: u64,
}

impl ChangelogTopic {
    /// A producer for `topic`; `config` holds the brokers and the user's client properties.
    pub(super) fn new(config: &ClientConfig, topic: &str) -> Result<Self, KafkaSourceError> {
        let producer = StepProducer::new(config, "changelog", format!("changelog {topic}"))?;
        Ok(ChangelogTopic { producer, config: config.clone(), topic: topic.to_string(), produced: 0 })
    }

    /// A producer and reader of changelog `topic` on `brokers` (benchmarks and tools).
    pub fn connect(brokers: &str, topic: &str) -> Result<Self, KafkaSourceError> {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", brokers);
        Self::new(&config, topic)
    }

    /// The topic's name.
    pub fn name(&self) -> &str {
        &self.topic
    }

    /// Queues one record for `partition` of the changelog, as part of the steps from `ticket`
    /// on (see [`delivered_below`](Self::delivered_below)); `None` is a tombstone.
    pub fn send(
        &mut self,
        partition: i32,
        key: &[u8],
        value: Option<&[u8]>,
        ticket: u64,
    ) -> Result<(), KafkaSourceError> {
        let mut record = BaseRecord::<[u8], [u8], usize>::with_opaque_to(&self.topic, ticket as usize)
            .partition(partition)
            .key(key);
        if let Some(value) = value {
            record = record.payload(value);
        }
        self.producer.send(record)?;
        self.produced += 1;
        Ok(())
    }

    /// The first ticket with a record not yet delivered (`u64::MAX` when all are), serving
    /// delivery reports without waiting: the offsets of every step below it may be committed
    /// as far as the changelog goes. A failed delivery is an error, as for [`flush`](Self::flush).
    pub fn delivered_below(&self) -> Result<u64, KafkaSourceError> {
        self.producer.delivered_below()
    }

    /// Waits until every queued record is delivered, or `give_up` says so. A failed delivery
    /// is an error: the changelog's order would be broken after it.
    pub fn flush(&self, give_up: &dyn Fn() -> bool) -> Result<(), KafkaSourceError> {
        self.producer.flush(give_up)
    }

    /// Reads `partition` of the changelog from its start to its end as of now, handing each
    /// record's key and value to `on_record`; returns how many were read. The end is where the
    /// consumer reports end-of-partition (the high watermark of its fetches): tansu 0.6 answers
    /// a ListOffsets request for the latest offset wrongly, so that is used only to skip a
    /// partition that was never written.
    pub fn read_partition(
        &self,
        partition: i32,
        mut on_record: impl FnMut(&[u8], Option<&[u8]>) -> Result<(), String>,
    ) -> Result<u64, KafkaSourceError> {
        let failed = |what: String| {
            move |source| KafkaSourceError::Request { what: what.clone(), source: Some(source) }
        };
        let mut config = self.config.clone();
        config
            .set("group.id", format!("live-shopper-restore-{}", std::process::id()))
            .set("enable.auto.commit", "false")
            .set("enable.partition.eof", "true")
            // The end is known once a fetch comes back empty: do not let the broker hold it.
            .set("fetch.wait.max.ms", "10");
        let consumer: BaseConsumer = config.create().map_err(failed("a changelog reader".into()))?;
        let (low, high) = consumer
            .fetch_watermarks(&self.topic, partition, REQUEST_TIMEOUT)
            .map_err(failed(format!("the end of changelog {}[{partition}]", self.topic)))?;
        tracing::debug!(topic = %self.topic, partition, low, high, "reading a changelog partition");
        if low == 0 && high == 0 {
            return Ok(0);
        }
        let mut list = TopicPartitionList::new();
        list.add_partition_offset(&self.topic, partition, Offset::Beginning)
            .map_err(failed("a changelog assignment".into()))?;
        consumer.assign(&list).map_err(failed(format!("reading changelog {}[{partition}]", self.topic)))?;
        let mut read = 0;
        let mut last_progress = Instant::now();
        loop {
            match consumer.poll(Duration::from_millis(100)) {
                Some(Ok(m)) => {
                    last_progress = Instant::now();
                    read += 1;
                    on_record(m.key().unwrap_or_default(), m.payload()).map_err(|reason| {
                        KafkaSourceError::Request {
                            what: format!(
                                "changelog {}[{partition}] at offset {}: {reason}",
                                self.topic,
                                m.offset()
                            ),
                            source: None,
                        }
                    })?;
                }
                Some(Err(KafkaError::PartitionEOF(_))) => return Ok(read),
                Some(Err(e)) => {
                    tracing::warn!(error = %e, topic = %self.topic, partition, "changelog read error; retrying")
                }
                None if last_progress.elapsed() > REQUEST_TIMEOUT * 3 => {
                    return Err(KafkaSourceError::Request {
                        what: format!(
                            "changelog {}[{partition}] gave neither a record nor its end for {:?}",
                            self.topic,
                            REQUEST_TIMEOUT * 3
                        ),
                        source: None,
                    })
                }
                None => {}
            }
        }
    }
}

/// Makes sure a state topic (the changelog, the repartition topic) exists with at least
/// `partitions` partitions, creating it with `cleanup_policy` when missing; returns true when it
/// was created.
pub(super) fn ensure_topic(
    config: &ClientConfig,
    topic: &str,
    partitions: i32,
    cleanup_policy: &str,
) -> Result<bool, KafkaSourceError> {
    match partitions_of(config, topic)? {
        Some(n) if n < partitions => Err(KafkaSourceError::Request {
            what: format!(
                "state topic {topic} has {n} partitions, the input {partitions}: give it as many (or name another)"
            ),
            source: None,
        }),
        Some(_) => Ok(false),
        None => {
            super::tools::create_topics_with_config(
                config,
                &[(topic, partitions)],
                &[("cleanup.policy", cleanup_policy)],
            )?;
            Ok(true)
        }
    }
}

/// The number of partitions of input `topic`, from the cluster's metadata.
pub(super) fn partition_count(config: &ClientConfig, topic: &str) -> Result<i32, KafkaSourceError> {
    partitions_of(config, topic)?.filter(|n| *n > 0).ok_or_else(|| KafkaSourceError::Request {
        what: format!("the input topic {topic} does not exist"),
        source: None,
    })
}

/// How many partitions `topic` has; None when it does not exist.
fn partitions_of(config: &ClientConfig, topic: &str) -> Result<Option<i32>, KafkaSourceError> {
    let consumer: BaseConsumer = config.create().map_err(|source| KafkaSourceError::Request {
        what: "metadata client".into(),
        source: Some(source),
    })?;
    let metadata = consumer.fetch_metadata(Some(topic), REQUEST_TIMEOUT).map_err(|source| {
        KafkaSourceError::Request { what: format!("metadata of {topic}"), source: Some(source) }
    })?;
    let found = metadata.topics().iter().find(|t| t.name() == topic && t.error().is_none());
    Ok(found.map(|t| t.partitions().len() as i32))
}
