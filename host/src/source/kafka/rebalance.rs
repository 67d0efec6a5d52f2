//! Rebalances held for the pipeline: the consumer context records librdkafka's assign or revoke
//! instead of completing it, so the pipeline can make a revoked partition durable, or restore an
//! assigned one, before [`super::KafkaSource::finish_rebalance`] makes the call. While the
//! consumer closes (everything durable already), revocations complete at once.

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, RebalanceProtocol};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, TopicPartitionList};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// A rebalance the pipeline must act on before the consumer goes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rebalancing {
    /// These partitions are taken away: make their steps durable, commit, drop their state,
    /// then [`super::KafkaSource::finish_rebalance`]. `lost`: the group already gave them to another
    /// member (session timeout), so nothing more may be written or committed for them.
    Revoke {
        /// Engine partition ids.
        partitions: Vec<u32>,
        /// The assignment was lost rather than revoked.
        lost: bool,
    },
    /// These partitions are given to this host: restore their state, then
    /// [`super::KafkaSource::finish_rebalance`] with where each resumes.
    Assign {
        /// Engine partition ids.
        partitions: Vec<u32>,
    },
}

/// A rebalance librdkafka announced; its assign or unassign call is made once the pipeline is done.
#[derive(Debug, Clone)]
pub(super) struct HeldRebalance {
    pub(super) assign: bool,
    pub(super) lost: bool,
    pub(super) parts: Vec<(String, i32)>,
}

/// Rebalances announced inside `poll`, held for the source to act on.
#[derive(Default)]
pub(super) struct RebalanceLog {
    pub(super) held: Mutex<VecDeque<HeldRebalance>>,
    pub(super) any: AtomicBool,
    /// The consumer is closing (everything durable already): a revocation is completed at once.
    pub(super) closing: AtomicBool,
}

impl ClientContext for RebalanceLog {}

impl ConsumerContext for RebalanceLog {
    fn rebalance(&self, consumer: &BaseConsumer<Self>, err: RDKafkaRespErr, tpl: &mut TopicPartitionList) {
        let parts: Vec<(String, i32)> =
            tpl.elements().iter().map(|e| (e.topic().to_string(), e.partition())).collect();
        let (assign, lost) = match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => (true, false),
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => (false, consumer.assignment_lost()),
            other => {
                // What librdkafka asks for on a rebalance error: drop the assignment now.
                tracing::warn!(error = ?other, "Kafka rebalance error; unassigning");
                if let Err(e) = consumer.unassign() {
                    tracing::warn!(error = %e, "unassign after a rebalance error failed");
                }
                (false, true)
            }
        };
        tracing::info!(assigned = assign, lost, partitions = ?parts, "Kafka partitions {}", if assign { "assigned" } else { "revoked" });
        if self.closing.load(Ordering::Acquire) {
            let cooperative = matches!(consumer.rebalance_protocol(), RebalanceProtocol::Cooperative);
            let done = match (assign, cooperative) {
                (true, true) => consumer.incremental_assign(tpl),
                (true, false) => consumer.assign(tpl),
                (false, true) => consumer.incremental_unassign(tpl),
                (false, false) => consumer.unassign(),
            };
            if let Err(e) = done {
                tracing::warn!(error = %e, "completing a rebalance while closing failed");
            }
            return;
        }
        self.held.lock().unwrap_or_else(|p| p.into_inner()).push_back(HeldRebalance { assign, lost, parts });
        self.any.store(true, Ordering::Release);
    }
}
