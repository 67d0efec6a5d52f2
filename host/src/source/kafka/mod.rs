//! The Kafka source: a consumer-group member that hands out records with their partition,
//! offset and timestamp, tracks the offset after every record handed out, and commits those
//! offsets only when told to (after Redis acknowledged the features they produced). Rejected
//! records go to the dead-letter topic through [`dead_letter::DeadLetters`]; state changes to
//! the changelog topic through [`ChangelogTopic`]; records forwarded under another key to the
//! repartition topic through [`ThroughTopic`], which the source also consumes. Rebalances are held: librdkafka's assign and
//! unassign calls wait until the pipeline has made a revoked partition durable or restored an
//! assigned one ([`KafkaSource::pending_rebalance`]). The only module that imports rdkafka.

mod changelog;
mod dead_letter;
mod deliveries;
mod error;
mod offsets;
mod rebalance;
mod resume;
mod signal_topics;
mod through;
mod tools;

pub use changelog::ChangelogTopic;
pub use dead_letter::{
    DeadLetters, HEADER_OFFSET, HEADER_ORIGINAL_SIZE, HEADER_PARTITION, HEADER_REASON, HEADER_REASON_CODE,
    HEADER_TOPIC, MAX_DEAD_LETTER_BYTES,
};
pub use error::KafkaSourceError;
pub use rebalance::Rebalancing;
use rebalance::{HeldRebalance, RebalanceLog};
pub use signal_topics::KafkaSignalTopics;
pub use through::{through_partition, upstream_name, ThroughTopic, HEADER_KEY_KIND, HEADER_WATERMARK_OF};
pub use tools::{committed_offsets, create_topics, read_topic, read_topic_to_end, KafkaProducer, ReadRecord};

use crate::config::{KafkaSettings, StartFrom};
use offsets::StepOffsets;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, RebalanceProtocol};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::{Offset, TopicPartitionList};
use resume::{ResumeChecks, Verdict};
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// One consumed record, as the pipeline sees it.
pub struct KafkaRecord<'a> {
    /// The engine's partition id for (topic, partition): stable for the life of the source.
    pub partition: u32,
    /// The record's value; empty when it has none (a tombstone).
    pub payload: &'a [u8],
    /// The record's Kafka timestamp (create or log-append time), ms since the epoch.
    pub timestamp_ms: Option<i64>,
    message: &'a BorrowedMessage<'a>,
}

impl KafkaRecord<'_> {
    /// The topic the record was consumed from.
    pub fn topic(&self) -> &str {
        self.message.topic()
    }
    /// The record's Kafka partition within its topic (not the engine's partition id).
    pub fn kafka_partition(&self) -> i32 {
        self.message.partition()
    }
    /// The record's offset in its Kafka partition.
    pub fn offset(&self) -> i64 {
        self.message.offset()
    }
    /// The record's key; empty when it has none.
    pub fn key(&self) -> &[u8] {
        self.message.key().unwrap_or_default()
    }
    /// The value of header `name` (the first, if repeated).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        use rdkafka::message::Headers;
        self.message.headers()?.iter().find(|h| h.key == name).and_then(|h| h.value)
    }
}

/// The topics that hold state beside the input, as [`KafkaSource::ensure_state_topics`] found
/// or made them.
#[derive(Debug, Clone)]
pub struct StateTopics {
    /// The topics it created.
    pub created: Vec<String>,
    /// Partitions of the changelog and repartition topics: the most of any input topic.
    pub partitions: i32,
    /// Every input partition, `topic/partition`: the upstream of each through partition.
    pub inputs: Vec<String>,
}

/// Where an assigned partition starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// At this offset (a restored position).
    At(i64),
    /// At its first record still held (a through partition never committed: everything
    /// forwarded to it is owed).
    Beginning,
}

/// Maps (topic, partition) to the engine's dense partition ids and back.
#[derive(Default)]
struct PartitionIds {
    ids: BTreeMap<(String, i32), u32>,
    names: Vec<(String, i32)>,
}

impl PartitionIds {
    fn name(&self, id: u32) -> (&str, i32) {
        let (topic, partition) = &self.names[id as usize];
        (topic, *partition)
    }

    fn id(&mut self, topic: &str, partition: i32) -> u32 {
        if let Some(id) = self.ids.get(&(topic.to_string(), partition)) {
            return *id;
        }
        let id = self.names.len() as u32;
        self.names.push((topic.to_string(), partition));
        self.ids.insert((topic.to_string(), partition), id);
        id
    }
}

/// A consumer-group member over the configured topics, plus the dead-letter producer.
pub struct KafkaSource {
    consumer: BaseConsumer<RebalanceLog>,
    dead_letters: DeadLetters,
    changelog: ChangelogTopic,
    through: ThroughTopic,
    ids: PartitionIds,
    offsets: StepOffsets,
    /// Partitions resumed at a restored offset whose first record is still to be checked.
    resumes: ResumeChecks,
    /// The rebalance the pipeline is acting on.
    current: Option<HeldRebalance>,
    /// Offset commits made.
    pub commits: u64,
}

/// Replication of the output topics the host creates: the broker's default
/// (`default.replication.factor`).
const OUTPUT_TOPIC_REPLICATION: i32 = -1;

/// librdkafka settings shared by the consumer and the producer: the brokers and the user's extras.
fn client_config(settings: &KafkaSettings) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", &settings.brokers).set("log_level", "4");
    for (k, v) in &settings.properties {
        config.set(k, v);
    }
    config
}

impl KafkaSource {
    /// Creates the consumer and the producers and subscribes to the input topics and the
    /// repartition topic (see [`ensure_state_topics`](Self::ensure_state_topics)). Joining the
    /// group happens in the background; partitions arrive as held [`Rebalancing`]s.
    pub fn connect(settings: &KafkaSettings, state: &StateTopics) -> Result<Self, KafkaSourceError> {
        let create =
            |what, source| KafkaSourceError::Create { what, brokers: settings.brokers.clone(), source };
        let mut config = client_config(settings);
        config
            .set("group.id", &settings.group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "false")
            .set(
                "auto.offset.reset",
                if settings.start_from == StartFrom::Earliest { "earliest" } else { "latest" },
            )
            .set("session.timeout.ms", settings.session_timeout_ms.to_string())
            .set("max.poll.interval.ms", settings.max_poll_interval_ms.to_string())
            .set("queued.max.messages.kbytes", settings.queued_max_kbytes.to_string())
            // Freshness: a broker that does not answer a fetch as soon as data arrives (tansu)
            // makes this wait part of every record's latency.
            .set("fetch.wait.max.ms", settings.fetch_wait_max_ms.to_string())
            .set("partition.assignment.strategy", &settings.assignment_strategy);
        if let Some(id) = &settings.group_instance_id {
            config.set("group.instance.id", id);
        }
        for (k, v) in &settings.properties {
            config.set(k, v);
        }
        let consumer: BaseConsumer<RebalanceLog> =
            config.create_with_context(RebalanceLog::default()).map_err(|e| create("consumer", e))?;
        let mut topics: Vec<&str> = settings.topics.iter().map(String::as_str).collect();
        topics.push(&settings.repartition_topic);
        consumer.subscribe(&topics).map_err(|source| KafkaSourceError::Subscribe {
            topics: topics.iter().map(|t| t.to_string()).collect(),
            source,
        })?;
        let dead_letters = DeadLetters::new(client_config(settings), &settings.dead_letter_topic)
            .map_err(|e| create("dead-letter producer", e))?;
        let changelog = ChangelogTopic::new(&client_config(settings), &settings.changelog_topic)?;
        let through =
            ThroughTopic::new(&client_config(settings), &settings.repartition_topic, state.partitions)?;
        Ok(KafkaSource {
            consumer,
            dead_letters,
            changelog,
            through,
            ids: PartitionIds::default(),
            offsets: StepOffsets::default(),
            resumes: ResumeChecks::default(),
            current: None,
            commits: 0,
        })
    }

    /// Makes sure the changelog and repartition topics exist with as many partitions as the
    /// input topic with the most (a changelog partition per input or through partition number),
    /// creating them when missing: the changelog compacted, the repartition topic with the
    /// broker's default retention. Refuses either with fewer partitions.
    pub fn ensure_state_topics(settings: &KafkaSettings) -> Result<StateTopics, KafkaSourceError> {
        let config = client_config(settings);
        let mut partitions = 0;
        let mut inputs = Vec::new();
        for topic in &settings.topics {
            let n = changelog::partition_count(&config, topic)?;
            partitions = partitions.max(n);
            inputs.extend((0..n).map(|p| upstream_name(topic, p)));
        }
        let mut created = Vec::new();
        if changelog::ensure_topic(&config, &settings.changelog_topic, partitions, "compact")? {
            created.push(settings.changelog_topic.clone());
        }
        if changelog::ensure_topic(&config, &settings.repartition_topic, partitions, "delete")? {
            created.push(settings.repartition_topic.clone());
        }
        Ok(StateTopics { created, partitions, inputs })
    }

    /// Makes sure the topics the host writes to exist — the dead-letter, plugin dead-letter and
    /// signal topics — creating the missing ones (one partition, the broker's default replication), so
    /// a broker that does not create topics on first write (many production clusters) does not
    /// stall the first reject. Refuses to start, naming the topic and setting, when one can be
    /// neither found nor created.
    pub fn ensure_output_topics(settings: &KafkaSettings) -> Result<Vec<String>, KafkaSourceError> {
        let config = client_config(settings);
        let existing = tools::existing_topics(&config)?;
        let mut wanted = vec![
            (settings.dead_letter_topic.as_str(), "kafka.dead_letter_topic"),
            (settings.plugin_dead_letter_topic.as_str(), "kafka.plugin_dead_letter_topic"),
        ];
        wanted.extend(settings.signal_topics.values().map(|t| (t.as_str(), "kafka.signal_topics")));
        let mut created = Vec::new();
        for (topic, setting) in wanted {
            if existing.iter().any(|t| t == topic) || created.iter().any(|t| t == topic) {
                continue;
            }
            let missing = |source| KafkaSourceError::MissingTopic {
                topic: topic.to_string(),
                setting,
                source: Box::new(source),
            };
            tools::create_topics_with(&config, &[(topic, 1)], OUTPUT_TOPIC_REPLICATION).map_err(missing)?;
            created.push(topic.to_string());
        }
        Ok(created)
    }

    /// Waits up to `wait` for a first record, then takes every record already fetched, up to
    /// `max`, calling `on_record` for each. Returns how many were handed out.
    pub fn poll(
        &mut self,
        max: usize,
        wait: Duration,
        mut on_record: impl FnMut(&KafkaRecord<'_>, &mut DeadLetters),
    ) -> usize {
        let deadline = Instant::now() + wait;
        let mut n = 0;
        while n < max && self.current.is_none() && !self.consumer.context().any.load(Ordering::Acquire) {
            let timeout =
                if n == 0 { deadline.saturating_duration_since(Instant::now()) } else { Duration::ZERO };
            let message = match self.consumer.poll(timeout) {
                None => break,
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "Kafka consumer error");
                    if Instant::now() >= deadline {
                        break;
                    }
                    continue;
                }
                Some(Ok(m)) => m,
            };
            let partition = self.ids.id(message.topic(), message.partition());
            match self.resumes.check(partition, message.offset()) {
                Verdict::Take => {}
                Verdict::Skip => continue,
                Verdict::SeekTo(from) => {
                    self.read_again(&message, from);
                    continue;
                }
            }
            let record = KafkaRecord {
                partition,
                payload: message.payload().unwrap_or(&[]),
                timestamp_ms: message.timestamp().to_millis(),
                message: &message,
            };
            on_record(&record, &mut self.dead_letters);
            self.offsets.handed_out(partition, message.offset());
            n += 1;
        }
        n
    }

    /// The broker answered a resumed partition with `message`, past the offset it resumes at
    /// (see [`resume`]): reads the partition again from `from`.
    fn read_again(&self, message: &BorrowedMessage<'_>, from: i64) {
        let (topic, partition) = (message.topic(), message.partition());
        tracing::info!(%topic, partition, first = message.offset(), from, "the broker skipped records before the resume offset; reading again from further back");
        if let Err(e) = self.consumer.seek(topic, partition, Offset::Offset(from), Duration::from_secs(10)) {
            tracing::error!(%topic, partition, error = %e, "cannot read the partition again: the records the broker skipped are lost");
        }
    }

    /// The rebalance to act on, if librdkafka announced one: the same one until
    /// [`finish_rebalance`](Self::finish_rebalance) completes it.
    pub fn pending_rebalance(&mut self) -> Option<Rebalancing> {
        if self.current.is_none() {
            let log = self.consumer.context();
            let mut held = log.held.lock().unwrap_or_else(|p| p.into_inner());
            self.current = held.pop_front();
            log.any.store(!held.is_empty(), Ordering::Release);
        }
        let held = self.current.as_ref()?;
        let partitions = held.parts.iter().map(|(t, p)| self.ids.id(t, *p)).collect();
        Some(if held.assign {
            Rebalancing::Assign { partitions }
        } else {
            Rebalancing::Revoke { partitions, lost: held.lost }
        })
    }

    /// Completes the pending rebalance: an assignment starts each partition at `starts`' offset
    /// (or, absent there, at the group's committed offset); a revocation forgets the partitions'
    /// uncommitted positions (their next owner reads those records again).
    pub fn finish_rebalance(&mut self, starts: &BTreeMap<u32, Start>) -> Result<(), KafkaSourceError> {
        let Some(held) = self.current.take() else { return Ok(()) };
        let failed = |source| KafkaSourceError::Request {
            what: "completing a rebalance".into(),
            source: Some(source),
        };
        let cooperative = matches!(self.consumer.rebalance_protocol(), RebalanceProtocol::Cooperative);
        let mut list = TopicPartitionList::new();
        for (topic, partition) in &held.parts {
            let id = self.ids.id(topic, *partition);
            match starts.get(&id) {
                Some(&Start::At(offset)) if held.assign => {
                    list.add_partition_offset(topic, *partition, Offset::Offset(offset)).map_err(failed)?;
                    // The restored position may be past the group's commit (a kill before the
                    // commit): the next step commits it, so lag is reported from where we are.
                    self.offsets.handed_out(id, offset - 1);
                    self.resumes.expect(id, offset);
                }
                Some(&Start::Beginning) if held.assign => {
                    list.add_partition_offset(topic, *partition, Offset::Beginning).map_err(failed)?;
                }
                _ => {
                    list.add_partition(topic, *partition);
                }
            }
            if !held.assign {
                self.offsets.revoke(id);
                self.resumes.forget(id);
            }
        }
        let result = match (held.assign, cooperative) {
            (true, true) => self.consumer.incremental_assign(&list),
            (true, false) => self.consumer.assign(&list),
            (false, true) => self.consumer.incremental_unassign(&list),
            (false, false) => self.consumer.unassign(),
        };
        result.map_err(failed)
    }

    /// The group's committed offset of engine partition `id`, if any.
    pub fn committed_offset(&mut self, id: u32) -> Result<Option<i64>, KafkaSourceError> {
        let (topic, partition) = self.ids.name(id);
        let mut list = TopicPartitionList::new();
        list.add_partition(topic, partition);
        let committed = self.consumer.committed_offsets(list, Duration::from_secs(10)).map_err(|source| {
            KafkaSourceError::Request {
                what: format!("committed offset of {topic}[{partition}]"),
                source: Some(source),
            }
        })?;
        Ok(committed.elements().first().and_then(|e| match e.offset() {
            Offset::Offset(o) => Some(o),
            _ => None,
        }))
    }

    /// The input topic and Kafka partition of engine partition `id`.
    pub fn partition_name(&self, id: u32) -> (&str, i32) {
        self.ids.name(id)
    }

    /// The next offset of every partition records were handed out from.
    pub fn positions(&self) -> &BTreeMap<u32, i64> {
        self.offsets.positions()
    }

    /// The changelog topic.
    pub fn changelog(&mut self) -> &mut ChangelogTopic {
        &mut self.changelog
    }

    /// The repartition topic's producer.
    pub fn through(&mut self) -> &mut ThroughTopic {
        &mut self.through
    }

    /// Whether engine partition `id` is a partition of the repartition topic.
    pub fn is_through(&self, id: u32) -> bool {
        self.ids.name(id).0 == self.through.name()
    }

    /// Notes where every partition stands after step `ticket` (tickets increase).
    pub fn end_step(&mut self, ticket: u64) {
        self.offsets.end_step(ticket);
    }

    /// Commits the positions after the last step below `durable_below` whose changelog records
    /// are delivered, once the dead letters are. Call with the first step whose features the
    /// store has not acknowledged or whose forwarded records are not delivered (the changelog
    /// records of every step below it are produced). `sync` waits for the changelog and the
    /// broker's answer (a hand-over, shutdown); otherwise a step whose changelog records are
    /// still in flight is committed at a later call, so the loop never waits for the changelog.
    pub fn commit(
        &mut self,
        durable_below: u64,
        sync: bool,
        give_up: &dyn Fn() -> bool,
    ) -> Result<(), KafkaSourceError> {
        if sync {
            self.changelog.flush(give_up)?;
        }
        let below = durable_below.min(self.changelog.delivered_below()?);
        let Some(step) = self.offsets.take_committable(below) else { return Ok(()) };
        if let Err(e) = self.dead_letters.flush(give_up) {
            // Keep the step so its offsets are committed once the dead letters and the
            // changelog records covering it are out.
            self.offsets.put_back(step);
            return Err(e);
        }
        let mut list = TopicPartitionList::new();
        if self.offsets.changed(&step.1).next().is_none() {
            // Only revoked partitions differed: nothing to tell the broker.
            self.offsets.committed(step.1);
            return Ok(());
        }
        for (id, offset) in self.offsets.changed(&step.1) {
            let (topic, partition) = &self.ids.names[id as usize];
            list.add_partition_offset(topic, *partition, Offset::Offset(offset))
                .map_err(|source| KafkaSourceError::Commit { source })?;
        }
        let mode = if sync { CommitMode::Sync } else { CommitMode::Async };
        if let Err(source) = self.consumer.commit(&list, mode) {
            self.offsets.put_back(step);
            return Err(KafkaSourceError::Commit { source });
        }
        drop(list);
        self.commits += 1;
        self.offsets.committed(step.1);
        Ok(())
    }

    /// The dead-letter producer, to send rejected records to.
    pub fn dead_letters_mut(&mut self) -> &mut DeadLetters {
        &mut self.dead_letters
    }
}

impl Drop for KafkaSource {
    /// Closing the consumer revokes its partitions inside librdkafka; the pipeline has made
    /// everything durable before it lets the source go, so those are completed at once.
    fn drop(&mut self) {
        self.consumer.context().closing.store(true, Ordering::Release);
    }
}
