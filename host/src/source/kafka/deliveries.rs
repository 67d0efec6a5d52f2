//! The producer of records that belong to a step (the changelog's, the repartition topic's):
//! ordered per partition (one request in flight), retried until delivered, with deliveries
//! counted per step ticket — a step is delivered once none of its records is outstanding — and
//! the first failed delivery kept, since the topic's order is broken from there and the host
//! must stop and restart from what was delivered.

use super::tools::send_when_queued;
use super::KafkaSourceError;
use rdkafka::config::ClientConfig;
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};
use rdkafka::ClientContext;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

/// The delivery opaque of a record that belongs to no step (a watermark report).
pub(super) const UNTRACKED: usize = usize::MAX;

/// A producer of one topic whose records belong to steps.
pub(super) struct StepProducer {
    producer: BaseProducer<TicketDeliveries>,
    /// The topic, as errors name it (`changelog x`, `repartition topic y`).
    described: String,
}

impl StepProducer {
    /// A producer for the topic `described` names (`what`: `changelog`, `repartition`), with
    /// `config`'s brokers and the user's client properties.
    pub(super) fn new(
        config: &ClientConfig,
        what: &'static str,
        described: String,
    ) -> Result<Self, KafkaSourceError> {
        let mut producer_config = config.clone();
        producer_config
            .set("acks", "all")
            // Order within a partition marks a step complete, and puts a watermark report after
            // the records it covers: no reordering on retry.
            .set("max.in.flight.requests.per.connection", "1")
            // Retried until delivered; a broker outage stalls commits, it loses nothing.
            .set("message.timeout.ms", "0")
            .set("linger.ms", "2")
            .set("queue.buffering.max.messages", "1000000");
        let producer =
            producer_config.create_with_context(TicketDeliveries::new(what)).map_err(|source| {
                KafkaSourceError::Request { what: format!("{what} producer"), source: Some(source) }
            })?;
        Ok(StepProducer { producer, described })
    }

    /// Queues `record` (its opaque a step ticket, or [`UNTRACKED`]), waiting while the local
    /// queue is full.
    pub(super) fn send(&self, record: BaseRecord<'_, [u8], [u8], usize>) -> Result<(), KafkaSourceError> {
        let ticket = record.delivery_opaque;
        if ticket != UNTRACKED {
            self.producer.context().sent(ticket as u64);
        }
        send_when_queued(&self.producer, record, Duration::from_millis(5)).map_err(|(e, _)| {
            if ticket != UNTRACKED {
                self.producer.context().delivered(ticket as u64);
            }
            KafkaSourceError::Request {
                what: format!("producing to the {}", self.described),
                source: Some(e),
            }
        })
    }

    /// The first ticket with a record not yet delivered (`u64::MAX` when all are), serving
    /// delivery reports without waiting. A failed delivery is an error.
    pub(super) fn delivered_below(&self) -> Result<u64, KafkaSourceError> {
        self.producer.poll(Duration::ZERO);
        self.check_failed()?;
        Ok(self.producer.context().first_outstanding())
    }

    fn check_failed(&self) -> Result<(), KafkaSourceError> {
        match self.producer.context().failure() {
            Some(reason) => Err(KafkaSourceError::Request {
                what: format!("{} delivery failed: {reason}", self.described),
                source: None,
            }),
            None => Ok(()),
        }
    }

    /// Waits until every queued record is delivered, or `give_up` says so. A failed delivery
    /// is an error.
    pub(super) fn flush(&self, give_up: &dyn Fn() -> bool) -> Result<(), KafkaSourceError> {
        loop {
            let flushed = self.producer.flush(Duration::from_millis(200));
            self.check_failed()?;
            if flushed.is_ok() {
                return Ok(());
            }
            if give_up() {
                return Err(KafkaSourceError::Request {
                    what: format!(
                        "{} records to the {} undelivered at shutdown",
                        self.producer.in_flight_count(),
                        self.described
                    ),
                    source: None,
                });
            }
        }
    }
}

/// Records not yet delivered, per step ticket, and the first failed delivery.
pub(super) struct TicketDeliveries {
    /// What the producer writes, for the log: `changelog`, `repartition`.
    what: &'static str,
    outstanding: Mutex<BTreeMap<u64, usize>>,
    failed: Mutex<Option<String>>,
}

impl TicketDeliveries {
    /// Reports of a producer writing `what`.
    pub(super) fn new(what: &'static str) -> Self {
        TicketDeliveries { what, outstanding: Mutex::default(), failed: Mutex::default() }
    }

    /// Notes a record of step `ticket` handed to the producer.
    fn sent(&self, ticket: u64) {
        *self.outstanding.lock().unwrap_or_else(|p| p.into_inner()).entry(ticket).or_default() += 1;
    }

    /// Notes a record of step `ticket` delivered (or refused by the producer, never to be).
    fn delivered(&self, ticket: u64) {
        let mut outstanding = self.outstanding.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = outstanding.get_mut(&ticket) {
            *n -= 1;
            if *n == 0 {
                outstanding.remove(&ticket);
            }
        }
    }

    /// The first ticket with a record not yet delivered; `u64::MAX` when none is.
    fn first_outstanding(&self) -> u64 {
        let outstanding = self.outstanding.lock().unwrap_or_else(|p| p.into_inner());
        outstanding.keys().next().copied().unwrap_or(u64::MAX)
    }

    /// The first failed delivery's reason, if any.
    fn failure(&self) -> Option<String> {
        self.failed.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl ClientContext for TicketDeliveries {}

impl ProducerContext for TicketDeliveries {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, ticket: usize) {
        if let Err((e, _)) = result {
            tracing::error!(error = %e, topic = self.what, "delivery failed");
            self.failed.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert_with(|| e.to_string());
            return;
        }
        if ticket != UNTRACKED {
            self.delivered(ticket as u64);
        }
    }
}
