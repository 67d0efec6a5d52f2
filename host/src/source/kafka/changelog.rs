//! The changelog topic on the wire: created when missing (compacted, the input's partition
//! count), produced in order per partition (one request in flight, retried by the client until
//! delivered), delivery awaited before offsets are committed, and one partition read back to its
//! end for a restore. What the records mean is `crate::changelog`'s business.

use super::KafkaSourceError;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{DeliveryResult, Message};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long one metadata or watermark request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Keeps the first failed delivery: the changelog's order is broken from there, so the host
/// must stop and restart from what was delivered.
#[derive(Default)]
struct Deliveries {
    failed: Mutex<Option<String>>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, _)) = result {
            tracing::error!(error = %e, "changelog delivery failed");
            self.failed.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert_with(|| e.to_string());
        }
    }
}

/// The producer and reader of one changelog topic.
pub struct ChangelogTopic {
    producer: BaseProducer<Deliveries>,
    config: ClientConfig,
    topic: String,
    /// Records produced.
    pub produced: u64,
}

impl ChangelogTopic {
    /// A producer for `topic`; `config` holds the brokers and the user's client properties.
    pub(super) fn new(config: &ClientConfig, topic: &str) -> Result<Self, KafkaSourceError> {
        let mut producer_config = config.clone();
        producer_config
            .set("acks", "all")
            // Order within a partition is what marks a step complete: no reordering on retry.
            .set("max.in.flight.requests.per.connection", "1")
            // Retried until delivered; a broker outage stalls commits, it loses nothing.
            .set("message.timeout.ms", "0")
            .set("linger.ms", "2")
            .set("queue.buffering.max.messages", "1000000");
        let producer = producer_config.create_with_context(Deliveries::default()).map_err(|source| {
            KafkaSourceError::Request { what: "changelog producer".into(), source: Some(source) }
        })?;
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

    /// Queues one record for `partition` of the changelog; `None` is a tombstone.
    pub fn send(&mut self, partition: i32, key: &[u8], value: Option<&[u8]>) -> Result<(), KafkaSourceError> {
        let mut record = BaseRecord::<[u8], [u8]>::to(&self.topic).partition(partition).key(key);
        if let Some(value) = value {
            record = record.payload(value);
        }
        loop {
            match self.producer.send(record) {
                Ok(()) => {
                    self.produced += 1;
                    return Ok(());
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    self.producer.poll(Duration::from_millis(5));
                    record = back;
                }
                Err((e, _)) => {
                    return Err(KafkaSourceError::Request {
                        what: format!("producing to the changelog {}", self.topic),
                        source: Some(e),
                    })
                }
            }
        }
    }

    /// True when every record queued so far is delivered (serving delivery reports, without
    /// waiting); a failed delivery is an error, as for [`flush`](Self::flush).
    pub fn delivered(&self) -> Result<bool, KafkaSourceError> {
        self.producer.poll(Duration::ZERO);
        self.check_failed()?;
        Ok(self.producer.in_flight_count() == 0)
    }

    fn check_failed(&self) -> Result<(), KafkaSourceError> {
        match self.producer.context().failed.lock().unwrap_or_else(|p| p.into_inner()).clone() {
            Some(reason) => Err(KafkaSourceError::Request {
                what: format!("changelog {} delivery failed: {reason}", self.topic),
                source: None,
            }),
            None => Ok(()),
        }
    }

    /// Waits until every queued record is delivered, or `give_up` says so. A failed delivery
    /// is an error: the changelog's order would be broken after it.
    pub fn flush(&self, give_up: &dyn Fn() -> bool) -> Result<(), KafkaSourceError> {
        loop {
            let flushed = self.producer.flush(Duration::from_millis(200));
            self.check_failed()?;
            if flushed.is_ok() {
                return Ok(());
            }
            if give_up() {
                return Err(KafkaSourceError::Request {
                    what: format!(
                        "{} changelog records to {} undelivered at shutdown",
                        self.producer.in_flight_count(),
                        self.topic
                    ),
                    source: None,
                });
            }
        }
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

/// Makes sure the changelog topic exists with at least `partitions` partitions, compacted,
/// creating it when missing; returns true when it was created.
pub(super) fn ensure_topic(
    config: &ClientConfig,
    topic: &str,
    partitions: i32,
) -> Result<bool, KafkaSourceError> {
    match partitions_of(config, topic)? {
        Some(n) if n < partitions => Err(KafkaSourceError::Request {
            what: format!(
                "changelog {topic} has {n} partitions, the input {partitions}: give it as many (or name another)"
            ),
            source: None,
        }),
        Some(_) => Ok(false),
        None => {
            super::tools::create_topics_with_config(config, &[(topic, partitions)], &[("cleanup.policy", "compact")])?;
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
