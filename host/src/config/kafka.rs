//! Validation of the `[kafka]` section: brokers, topic names (input, dead-letter, changelog,
//! repartition),
//! the group, where partitions start, the assignment strategy and static membership.

use super::file::KafkaSection;
use super::{in_range, invalid, ConfigError, KafkaSettings, StartFrom};

/// Validates `[kafka]` (with `brokers` set) into [`KafkaSettings`], naming the field at fault.
pub(super) fn validate(brokers: String, k: KafkaSection) -> Result<KafkaSettings, ConfigError> {
    const FIELD: &str = "kafka.brokers (or LIVE_SHOPPER_KAFKA_BROKERS)";
    let list: Vec<&str> = brokers.split(',').map(str::trim).collect();
    if list.iter().any(|b| b.is_empty()) {
        return Err(invalid(
            FIELD,
            format!("{brokers:?} has an empty entry; expected host:port[,host:port]"),
        ));
    }
    for b in &list {
        let port = b.rsplit_once(':').map(|(_, p)| p);
        if port.is_none_or(|p| p.parse::<u16>().is_err()) {
            return Err(invalid(FIELD, format!("{b:?} is not host:port")));
        }
    }
    const TOPICS: &str = "kafka.topics (or LIVE_SHOPPER_KAFKA_TOPICS)";
    if k.topics.is_empty() {
        return Err(invalid(TOPICS, "name at least one topic"));
    }
    for t in &k.topics {
        check_topic_name(TOPICS, t)?;
    }
    check_topic_name("kafka.dead_letter_topic (or LIVE_SHOPPER_DEAD_LETTER_TOPIC)", &k.dead_letter_topic)?;
    check_topic_name("kafka.plugin_dead_letter_topic", &k.plugin_dead_letter_topic)?;
    if k.topics.contains(&k.plugin_dead_letter_topic) {
        return Err(invalid(
            "kafka.plugin_dead_letter_topic",
            format!("{:?} is also an input topic", k.plugin_dead_letter_topic),
        ));
    }
    if k.topics.contains(&k.dead_letter_topic) {
        return Err(invalid(
            "kafka.dead_letter_topic",
            format!("{:?} is also an input topic; rejects would loop", k.dead_letter_topic),
        ));
    }
    if k.group.trim().is_empty() {
        return Err(invalid("kafka.group (or LIVE_SHOPPER_KAFKA_GROUP)", "must not be empty"));
    }
    let changelog_topic = state_topic("kafka.changelog_topic", &k.changelog_topic, &k, "changelog")?;
    let repartition_topic = state_topic("kafka.repartition_topic", &k.repartition_topic, &k, "repartition")?;
    if changelog_topic == repartition_topic {
        return Err(invalid(
            "kafka.repartition_topic",
            format!("{repartition_topic:?} is also the changelog topic"),
        ));
    }
    let start_from = match k.start_from.as_str() {
        "earliest" => StartFrom::Earliest,
        "latest" => StartFrom::Latest,
        other => {
            return Err(invalid(
                "kafka.start_from",
                format!("{other:?} is neither \"earliest\" nor \"latest\""),
            ))
        }
    };
    Ok(KafkaSettings {
        brokers: list.join(","),
        topics: k.topics,
        group: k.group,
        dead_letter_topic: k.dead_letter_topic,
        plugin_dead_letter_topic: k.plugin_dead_letter_topic,
        start_from,
        session_timeout_ms: in_range("kafka.session_timeout_ms", k.session_timeout_ms, 1_000, 3_600_000)?,
        max_poll_interval_ms: in_range(
            "kafka.max_poll_interval_ms",
            k.max_poll_interval_ms,
            1_000,
            86_400_000,
        )?,
        queued_max_kbytes: in_range("kafka.queued_max_kbytes", k.queued_max_kbytes, 1, 2_097_151)?,
        fetch_wait_max_ms: in_range("kafka.fetch_wait_max_ms", k.fetch_wait_max_ms, 0, 300_000)?,
        properties: k.properties.into_iter().collect(),
        changelog_topic,
        repartition_topic,
        repartition: k.repartition,
        assignment_strategy: match k.assignment_strategy.as_str() {
            s @ ("cooperative-sticky" | "range" | "roundrobin") => s.to_string(),
            other => {
                return Err(invalid(
                    "kafka.assignment_strategy",
                    format!("{other:?} is none of \"cooperative-sticky\", \"range\", \"roundrobin\""),
                ))
            }
        },
        group_instance_id: k.group_instance_id.filter(|id| !id.trim().is_empty()),
        signal_topics: k.signal_topics,
        reset_state: false,
    })
}

/// A state topic's name: `named`, or `<group>-<suffix>` when empty; never an input topic.
fn state_topic(field: &str, named: &str, k: &KafkaSection, suffix: &str) -> Result<String, ConfigError> {
    let topic = match named.trim() {
        "" => format!("{}-{suffix}", k.group.trim()),
        named => named.to_string(),
    };
    check_topic_name(field, &topic)?;
    if k.topics.contains(&topic) {
        return Err(invalid(field, format!("{topic:?} is also an input topic")));
    }
    Ok(topic)
}

/// Kafka's rule: 1-249 characters of `[a-zA-Z0-9._-]`.
fn check_topic_name(field: &str, t: &str) -> Result<(), ConfigError> {
    let ok = !t.is_empty()
        && t.len() <= 249
        && t.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(invalid(field, format!("{t:?} is not a Kafka topic name (1-249 of a-z A-Z 0-9 . _ -)")))
    }
}
