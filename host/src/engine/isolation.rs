//! A key fails alone: a step's keys go to the plugin in one call, and a call that fails is
//! split in halves and each half tried again, down to one key. The keys whose calls succeed
//! are applied; a key that fails alone is kept for the plugin dead-letter with its events, and
//! only such failures count toward quarantine.

use super::emission::EmissionSink;
use super::failures::{self, FailedBatch};
use super::outputs::KeyWork;
use super::runner::Runner;
use super::{Operator, OperatorFailure};
use crate::model::Event;
use live_shopper_abi::{BatchHeader, BatchWriter, Descriptor, SelfDescribingRefs};

/// The keys of a call that were not applied.
#[derive(Debug, Default)]
pub(super) struct CallOutcome {
    /// Keys whose call failed with them alone (each kept for the dead-letter).
    pub(super) failed: Vec<KeyWork>,
    /// Keys not called because the plugin was quarantined on the way.
    pub(super) not_called: Vec<KeyWork>,
}

impl Runner {
    /// Calls the operator for every key of `work` (whose events are `events`, by the runner's
    /// delivered list), applying each successful call. A failed call of several keys is tried
    /// again as two halves, depth first in key order, so the outcome is deterministic and a key
    /// whose events trap or whose output breaks a limit fails alone. A call of many keys that
    /// fails for its size (the CPU deadline, the output cap) succeeds once split.
    pub(super) fn call_isolating(
        &mut self,
        work: Vec<KeyWork>,
        events: &[&Event],
        watermark: i64,
        sink: &mut dyn EmissionSink,
    ) -> CallOutcome {
        let mut outcome = CallOutcome::default();
        // A stack of key ranges still to call, the whole to start with.
        let mut pending = Vec::with_capacity(64);
        pending.push(0..work.len());
        while let Some(range) = pending.pop() {
            if range.is_empty() {
                continue;
            }
            if self.stats.health.quarantined {
                outcome.not_called.extend_from_slice(&work[range]);
                continue;
            }
            self.work.clear();
            self.work.extend_from_slice(&work[range.clone()]);
            self.encode(events, watermark);
            match self.call(sink) {
                Ok(()) => {}
                Err(failure) if range.len() > 1 => {
                    tracing::debug!(plugin = %self.descriptor.name, keys = range.len(), %failure, "call failed; trying its keys in halves");
                    self.stats.split_calls += 1;
                    let middle = range.start + range.len() / 2;
                    pending.push(middle..range.end);
                    pending.push(range.start..middle);
                }
                Err(failure) => {
                    let w = work[range.start];
                    let ids = self.delivered[w.first as usize..(w.first + w.count) as usize]
                        .iter()
                        .map(|&i| events[i as usize].event_id.clone())
                        .collect();
                    self.record_failure(failure, ids);
                    outcome.failed.push(w);
                }
            }
        }
        outcome
    }

    /// Writes the batch of `self.work` into `self.input`: each key with its as-of, tick, state
    /// and events, only the fields and self-describing parts the plugin asked for.
    fn encode(&mut self, events: &[&Event], watermark: i64) {
        let Runner { op, descriptor, state, input, work, delivered, .. } = self;
        let reads_self_describing = descriptor.reads_self_describing();
        let mut writer = BatchWriter::with_header(input, &header(op.as_ref(), descriptor, watermark));
        let mut entities = Vec::new();
        for w in work.iter() {
            let slot = state.slot(w.slot);
            writer.key(&slot.key, w.as_of, w.tick, &slot.state);
            for &i in &delivered[w.first as usize..(w.first + w.count) as usize] {
                let e = events[i as usize];
                if reads_self_describing {
                    entities.clear();
                    super::routing::entities_for(&descriptor.entities, &e.self_describing, &mut entities);
                    let custom = super::routing::custom_event(&descriptor.custom_events, &e.self_describing);
                    writer.event_with(e, SelfDescribingRefs { custom, entities: &entities });
                } else {
                    writer.event(e);
                }
            }
        }
        writer.finish();
    }

    /// Counts a call that failed with one key, keeps it for the plugin dead-letter and
    /// quarantines the plugin after too many such failures with no successful call between.
    fn record_failure(&mut self, failure: OperatorFailure, event_ids: Vec<String>) {
        tracing::warn!(plugin = %self.descriptor.name, %failure, "plugin call failed; the key's events skipped for this plugin");
        self.stats.failures += 1;
        self.stats.last_failure = Some(failure.clone());
        let quarantined = self.stats.health.failed(self.quarantine_after);
        if quarantined {
            tracing::error!(plugin = %self.descriptor.name, failures = self.quarantine_after, "plugin quarantined after consecutive failures; the others go on");
        }
        if self.failed.len() < failures::KEEP_AT_MOST {
            self.failed.push(FailedBatch {
                plugin: self.descriptor.name.clone(),
                version: self.descriptor.version.clone(),
                failure,
                keys: self.work.iter().map(|w| self.state.slot(w.slot).key.to_string()).collect(),
                event_ids,
                quarantined,
            });
        }
    }
}

/// The header of a batch for `op`: its wire version and settings, `descriptor`'s fields.
fn header<'o>(op: &'o dyn Operator, descriptor: &Descriptor, watermark: i64) -> BatchHeader<'o> {
    BatchHeader {
        wire: op.wire(),
        fields: descriptor.event_fields,
        watermark,
        settings: op.settings(),
        self_describing: descriptor.reads_self_describing(),
    }
}
