//! What can go wrong talking to Kafka: [`KafkaSourceError`], each variant keeping the client's
//! error as its source.

use rdkafka::error::KafkaError;
use thiserror::Error;

/// What can go wrong talking to Kafka. Each keeps the client's error as its source.
#[derive(Debug, Error)]
pub enum KafkaSourceError {
    /// The consumer, producer or admin client could not be created (bad properties).
    #[error("cannot create the Kafka {what} for {brokers}")]
    Create {
        /// Which client: `consumer`, `dead-letter producer`, ...
        what: &'static str,
        /// The bootstrap brokers.
        brokers: String,
        /// The client's error.
        #[source]
        source: KafkaError,
    },
    /// Subscribing to the input topics failed.
    #[error("cannot subscribe to {topics:?}")]
    Subscribe {
        /// The input topics.
        topics: Vec<String>,
        /// The client's error.
        #[source]
        source: KafkaError,
    },
    /// The broker refused or did not answer an offset commit.
    #[error("offset commit failed")]
    Commit {
        /// The client's error.
        #[source]
        source: KafkaError,
    },
    /// Dead letters were still undelivered when the host had to stop.
    #[error("{undelivered} dead letters to {topic} undelivered at shutdown")]
    DeadLetter {
        /// The dead-letter topic.
        topic: String,
        /// Dead letters queued or failed but not delivered.
        undelivered: usize,
    },
    /// A topic the host writes to is missing and could not be created.
    #[error("topic {topic:?} ({setting}) does not exist and could not be created; create it or let the host's user create topics")]
    MissingTopic {
        /// The topic.
        topic: String,
        /// The setting that names it (`kafka.dead_letter_topic`, ...).
        setting: &'static str,
        /// Why creating it failed.
        #[source]
        source: Box<KafkaSourceError>,
    },
    /// An admin, produce or read request of the Kafka tools failed.
    #[error("Kafka request failed: {what}")]
    Request {
        /// What was asked, and for some failures the reason.
        what: String,
        /// The client's error, when the client reported one.
        #[source]
        source: Option<KafkaError>,
    },
}

impl crate::error::Classified for KafkaSourceError {
    fn fault(&self) -> crate::error::Fault {
        match self {
            KafkaSourceError::Create { .. } => crate::error::Fault::Input,
            _ => crate::error::Fault::External,
        }
    }
}
