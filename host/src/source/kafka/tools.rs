//! Kafka helpers around the pipeline: creating topics, producing records (the end-to-end
//! benchmark's load, the tests' input), reading a topic back (dead letters), and reading a
//! group's committed offsets.

use super::KafkaSourceError;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::ToBytes;
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};
use rdkafka::types::RDKafkaErrorCode as Code;
use rdkafka::{Offset, TopicPartitionList};
use std::time::{Duration, Instant};

/// A record the producer refused, with why: what `BaseProducer::send` hands back.
pub(super) type Refused<'a, K, P, O> = (KafkaError, BaseRecord<'a, K, P, O>);

/// Hands `record` to `producer`, serving delivery reports for `wait` each time its local queue
/// is full; any other refusal comes back with the record.
// The error is `BaseProducer::send`'s own, passed on as it is.
#[allow(clippy::result_large_err)]
pub(super) fn send_when_queued<'a, C, K, P>(
    producer: &BaseProducer<C>,
    mut record: BaseRecord<'a, K, P, C::DeliveryOpaque>,
    wait: Duration,
) -> Result<(), Refused<'a, K, P, C::DeliveryOpaque>>
where
    C: ProducerContext,
    K: ToBytes + ?Sized,
    P: ToBytes + ?Sized,
{
    loop {
        match producer.send(record) {
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                producer.poll(wait);
                record = back;
            }
            sent => return sent,
        }
    }
}

/// Maps a client error to [`KafkaSourceError::Request`] naming what was asked.
fn request(what: &str) -> impl Fn(KafkaError) -> KafkaSourceError + '_ {
    move |source| KafkaSourceError::Request { what: what.to_string(), source: Some(source) }
}

/// Creates `topics` (name, partitions) with replication 1; a topic that exists already is fine.
pub fn create_topics(brokers: &str, topics: &[(&str, i32)]) -> Result<(), KafkaSourceError> {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", brokers);
    create_topics_with(&config, topics, 1)
}

/// Creates `topics` through an admin client made from `config`; `replication` -1 takes the
/// broker's default.
pub(super) fn create_topics_with(
    config: &ClientConfig,
    topics: &[(&str, i32)],
    replication: i32,
) -> Result<(), KafkaSourceError> {
    create_topics_configured(config, topics, replication, &[])
}

/// Creates `topics` with the broker's default replication and the topic settings `settings`
/// (e.g. `cleanup.policy=compact`).
pub(super) fn create_topics_with_config(
    config: &ClientConfig,
    topics: &[(&str, i32)],
    settings: &[(&str, &str)],
) -> Result<(), KafkaSourceError> {
    create_topics_configured(config, topics, -1, settings)
}

fn create_topics_configured(
    config: &ClientConfig,
    topics: &[(&str, i32)],
    replication: i32,
    settings: &[(&str, &str)],
) -> Result<(), KafkaSourceError> {
    let admin: AdminClient<DefaultClientContext> = config.create().map_err(request("admin client"))?;
    let new: Vec<NewTopic> = topics
        .iter()
        .map(|(name, parts)| {
            settings
                .iter()
                .fold(NewTopic::new(name, *parts, TopicReplication::Fixed(replication)), |t, (k, v)| {
                    t.set(k, v)
                })
        })
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| {
        KafkaSourceError::Request {
            what: format!("an async runtime for the admin client: {e}"),
            source: None,
        }
    })?;
    let results = runtime.block_on(admin.create_topics(&new, &options)).map_err(request("create topics"))?;
    for result in results {
        match result {
            Ok(_) | Err((_, Code::TopicAlreadyExists)) => {}
            Err((topic, code)) => {
                return Err(KafkaSourceError::Request {
                    what: format!("creating topic {topic}: {code}"),
                    source: None,
                })
            }
        }
    }
    Ok(())
}

/// The names of the topics that exist on the cluster `config` points at.
pub(super) fn existing_topics(config: &ClientConfig) -> Result<Vec<String>, KafkaSourceError> {
    let consumer: BaseConsumer = config.create().map_err(request("metadata client"))?;
    let metadata =
        consumer.fetch_metadata(None, Duration::from_secs(10)).map_err(request("topic metadata"))?;
    Ok(metadata.topics().iter().filter(|t| t.error().is_none()).map(|t| t.name().to_string()).collect())
}

/// A plain producer: sends records and waits for their delivery.
pub struct KafkaProducer {
    producer: BaseProducer,
}

impl KafkaProducer {
    /// A producer for `brokers` (`host:port[,host:port]`).
    pub fn new(brokers: &str) -> Result<Self, KafkaSourceError> {
        let producer = ClientConfig::new()
            .set("bootstrap.servers", brokers)
            .set("linger.ms", "1")
            .set("queue.buffering.max.messages", "1000000")
            .create()
            .map_err(request("producer"))?;
        Ok(KafkaProducer { producer })
    }

    /// Queues one record; `timestamp_ms` None lets the client stamp it now.
    pub fn send(
        &self,
        topic: &str,
        key: Option<&[u8]>,
        payload: &[u8],
        timestamp_ms: Option<i64>,
    ) -> Result<(), KafkaSourceError> {
        let mut record = BaseRecord::<[u8], [u8]>::to(topic).payload(payload);
        if let Some(key) = key {
            record = record.key(key);
        }
        if let Some(t) = timestamp_ms {
            record = record.timestamp(t);
        }
        self.queue(record)
    }

    /// Queues one record for `partition` of `topic` (the caller partitions, not the client).
    pub fn send_to(
        &self,
        topic: &str,
        partition: i32,
        key: &[u8],
        payload: &[u8],
    ) -> Result<(), KafkaSourceError> {
        self.queue(BaseRecord::<[u8], [u8]>::to(topic).partition(partition).key(key).payload(payload))
    }

    /// Queues `record`, waiting while the client's queue is full.
    fn queue(&self, record: BaseRecord<'_, [u8], [u8]>) -> Result<(), KafkaSourceError> {
        send_when_queued(&self.producer, record, Duration::from_millis(5))
            .map_err(|(e, _)| request("produce")(e))
    }

    /// Serves delivery reports without waiting.
    pub fn poll(&self) {
        self.producer.poll(Duration::ZERO);
    }

    /// Waits until every queued record is delivered.
    pub fn flush(&self, timeout: Duration) -> Result<(), KafkaSourceError> {
        self.producer.flush(timeout).map_err(request("producer flush"))
    }
}

/// A record read back from a topic.
#[derive(Debug, Clone)]
pub struct ReadRecord {
    /// The Kafka partition it was read from.
    pub partition: i32,
    /// Its offset in that partition.
    pub offset: i64,
    /// The record's key, if any.
    pub key: Option<Vec<u8>>,
    /// The record's value; empty when it has none.
    pub payload: Vec<u8>,
    /// Its headers as (key, value), values decoded as UTF-8 (lossily), in order.
    pub headers: Vec<(String, String)>,
}

impl ReadRecord {
    /// The value of the first header named `key`.
    pub fn header(&self, key: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// Reads partitions `0..partitions` of `topic` whole: from the beginning to the end each had
/// when the read reached it (no consumer group; the end is where a fetch reports it).
pub fn read_topic_to_end(
    brokers: &str,
    topic: &str,
    partitions: i32,
    timeout: Duration,
) -> Result<Vec<ReadRecord>, KafkaSourceError> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("live-shopper-reader-{}", std::process::id()))
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set("fetch.wait.max.ms", "10")
        .create()
        .map_err(request("reader"))?;
    let mut list = TopicPartitionList::new();
    for p in 0..partitions {
        list.add_partition_offset(topic, p, Offset::Beginning).map_err(request("an assignment"))?;
    }
    consumer.assign(&list).map_err(request("assign"))?;
    let deadline = Instant::now() + timeout;
    let (mut out, mut ended) = (Vec::new(), std::collections::BTreeSet::new());
    while ended.len() < partitions as usize {
        if Instant::now() > deadline {
            return Err(KafkaSourceError::Request {
                what: format!(
                    "{topic}: {} of {partitions} partitions read to their end in {timeout:?}",
                    ended.len()
                ),
                source: None,
            });
        }
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => out.push(read_record(&m)),
            Some(Err(KafkaError::PartitionEOF(p))) => {
                ended.insert(p);
            }
            _ => {}
        }
    }
    Ok(out)
}

/// A consumed message as a [`ReadRecord`].
fn read_record(m: &rdkafka::message::BorrowedMessage<'_>) -> ReadRecord {
    let headers = m
        .headers()
        .map(|h| {
            h.iter()
                .map(|h| {
                    (h.key.to_string(), String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned())
                })
                .collect()
        })
        .unwrap_or_default();
    ReadRecord {
        partition: m.partition(),
        offset: m.offset(),
        key: m.key().map(<[u8]>::to_vec),
        payload: m.payload().unwrap_or_default().to_vec(),
        headers,
    }
}

/// Reads `topic` from the beginning until `count` records arrived or `timeout` passed.
pub fn read_topic(
    brokers: &str,
    topic: &str,
    count: usize,
    timeout: Duration,
) -> Result<Vec<ReadRecord>, KafkaSourceError> {
    let group = format!("live-shopper-reader-{}-{}", std::process::id(), crate::clock::wall_ms());
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", &group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()
        .map_err(request("reader"))?;
    consumer.subscribe(&[topic]).map_err(request("subscribe"))?;
    let deadline = Instant::now() + timeout;
    let mut out = Vec::new();
    while out.len() < count && Instant::now() < deadline {
        let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) else { continue };
        out.push(read_record(&m));
    }
    Ok(out)
}

/// The offsets `group` has committed for partitions `0..partitions` of `topic` (None: none yet).
pub fn committed_offsets(
    brokers: &str,
    group: &str,
    topic: &str,
    partitions: i32,
) -> Result<Vec<Option<i64>>, KafkaSourceError> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .map_err(request("offsets reader"))?;
    let mut list = TopicPartitionList::new();
    for p in 0..partitions {
        list.add_partition(topic, p);
    }
    let offsets = {
        let committed = consumer
            .committed_offsets(list, Duration::from_secs(10))
            .map_err(request("committed offsets"))?;
        (0..partitions)
            .map(|p| match committed.find_partition(topic, p).map(|e| e.offset()) {
                Some(Offset::Offset(o)) => Some(o),
                _ => None,
            })
            .collect()
        // `committed` is dropped here, before the consumer (rdkafka hangs otherwise).
    };
    Ok(offsets)
}
