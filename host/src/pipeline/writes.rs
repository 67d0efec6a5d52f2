//! A step's writes and their acknowledgement: the one place tickets are minted. Each step's
//! emissions go to the [`FeatureSink`] under the next ticket; acknowledgements come back in
//! ticket order and tell which steps are durable (their records may be committed) and how fresh
//! each record's features were when they landed.

use crate::engine::emission::{Emission, EmissionSink};
use crate::sink::{Ack, FeatureSink, SinkCounters, SinkError};
use hdrhistogram::Histogram;
use std::collections::VecDeque;

/// A submitted step not yet acknowledged.
#[derive(Debug)]
struct InFlight {
    ticket: u64,
    records: u64,
    /// Source timestamps (ms) of its records.
    timestamps: Vec<i64>,
}

/// Tickets, in-flight steps and freshness over one [`FeatureSink`].
pub struct Writes {
    sink: Box<dyn FeatureSink>,
    next_ticket: u64,
    in_flight: VecDeque<InFlight>,
    acks: Vec<Ack>,
    /// Records and source timestamps of the step being built.
    step_records: u64,
    step_timestamps: Vec<i64>,
    /// Records whose step the store acknowledged.
    durable_records: u64,
    /// Submit early once this many fields wait (bounds memory in `replay`); None: per step only.
    submit_at_fields: Option<usize>,
    /// An error of an early submit made inside `emit`, reported by the next call that can.
    deferred: Option<SinkError>,
    /// Microseconds from a record's source timestamp to the store's acknowledgement.
    freshness_us: Histogram<u64>,
}

/// A histogram of microseconds up to an hour, 3 significant digits.
pub fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds")
}

impl Writes {
    /// Writes to `sink`, submitting once per step.
    pub fn new(sink: Box<dyn FeatureSink>) -> Self {
        Writes {
            sink,
            next_ticket: 0,
            in_flight: VecDeque::new(),
            acks: Vec::new(),
            step_records: 0,
            step_timestamps: Vec::new(),
            durable_records: 0,
            submit_at_fields: None,
            deferred: None,
            freshness_us: latency_histogram(),
        }
    }

    /// Also submits within a step whenever `fields` fields are waiting.
    pub fn submitting_at(mut self, fields: usize) -> Self {
        self.submit_at_fields = Some(fields);
        self
    }

    /// Counts records of the step being built; `timestamp_ms` (the source's) measures freshness.
    pub fn note_records(&mut self, records: u64, timestamp_ms: Option<i64>) {
        self.step_records += records;
        if let Some(t) = timestamp_ms {
            self.step_timestamps.push(t);
        }
    }

    /// Ends the step: its writes go to the store under a new ticket, returned. Blocks while the
    /// store is too far behind, until it catches up or `give_up`.
    pub fn submit(&mut self, give_up: &dyn Fn() -> bool) -> Result<u64, SinkError> {
        if let Some(e) = self.deferred.take() {
            return Err(e);
        }
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        self.in_flight.push_back(InFlight {
            ticket,
            records: std::mem::take(&mut self.step_records),
            timestamps: std::mem::take(&mut self.step_timestamps),
        });
        self.sink.submit(ticket, give_up)?;
        Ok(ticket)
    }

    /// Takes the store's acknowledgements and returns the first ticket not yet acknowledged:
    /// every step below it is durable.
    pub fn acknowledged(&mut self) -> Result<u64, SinkError> {
        self.sink.take_acks(&mut self.acks)?;
        for ack in std::mem::take(&mut self.acks) {
            while self.in_flight.front().is_some_and(|f| f.ticket <= ack.ticket) {
                let step = self.in_flight.pop_front().expect("front exists");
                self.durable_records += step.records;
                for t in step.timestamps {
                    self.freshness_us.saturating_record((ack.at_us - t * 1_000).max(1) as u64);
                }
            }
        }
        Ok(self.in_flight.front().map_or(self.next_ticket, |f| f.ticket))
    }

    /// Waits until every submitted step is durable; returns the next ticket.
    pub fn wait_all(&mut self, give_up: &dyn Fn() -> bool) -> Result<u64, SinkError> {
        if let Some(e) = self.deferred.take() {
            return Err(e);
        }
        self.sink.wait_all(give_up)?;
        self.acknowledged()
    }

    /// Submits the step and waits until it, and every step before, is durable.
    pub fn flush(&mut self, give_up: &dyn Fn() -> bool) -> Result<(), SinkError> {
        self.submit(give_up)?;
        self.wait_all(give_up).map(|_| ())
    }

    /// Housekeeping of the store between steps.
    pub fn maintain(&mut self, now_ms: i64) {
        self.sink.maintain(now_ms);
    }

    /// Records whose features the store acknowledged.
    pub fn durable_records(&self) -> u64 {
        self.durable_records
    }

    /// Source timestamp → store acknowledgement, µs.
    pub fn freshness_us(&self) -> &Histogram<u64> {
        &self.freshness_us
    }

    /// The store's counters.
    pub fn counters(&self) -> SinkCounters {
        self.sink.counters()
    }

    /// Appends the writes the store refused for good since the last call.
    pub fn take_refused(&mut self, out: &mut Vec<crate::sink::RefusedWrite>) {
        self.sink.take_refused(out);
    }
}

impl EmissionSink for Writes {
    fn emit(&mut self, e: &Emission<'_>) {
        self.sink.emit(e);
        if self.submit_at_fields.is_some_and(|n| self.sink.pending_fields() >= n) && self.deferred.is_none() {
            if let Err(e) = self.submit(&|| false) {
                tracing::error!(error = %crate::error::Chain(&e), "early submit failed; reported at the next flush");
                self.deferred = Some(e);
            }
        }
    }

    fn alias(&mut self, user_id: &str, shopper_id: &str) {
        self.sink.alias(user_id, shopper_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::wall_us;
    use crate::sink::SharedStore;

    /// A store that acknowledges only when told to, as Redis does some time after a submit.
    #[derive(Default)]
    struct LateStore {
        submitted: Vec<u64>,
        released: Vec<Ack>,
        pending: usize,
    }

    impl EmissionSink for LateStore {
        fn emit(&mut self, _: &Emission<'_>) {
            self.pending += 1;
        }
    }

    impl FeatureSink for LateStore {
        fn submit(&mut self, ticket: u64, _: &dyn Fn() -> bool) -> Result<(), SinkError> {
            self.submitted.push(ticket);
            self.pending = 0;
            Ok(())
        }
        fn take_acks(&mut self, acks: &mut Vec<Ack>) -> Result<(), SinkError> {
            acks.append(&mut self.released);
            Ok(())
        }
        fn wait_all(&mut self, _: &dyn Fn() -> bool) -> Result<(), SinkError> {
            let at_us = wall_us();
            self.released.extend(self.submitted.drain(..).map(|ticket| Ack { ticket, at_us }));
            Ok(())
        }
        fn pending_fields(&self) -> usize {
            self.pending
        }
        fn maintain(&mut self, _: i64) {}
        fn counters(&self) -> SinkCounters {
            SinkCounters::default()
        }
    }

    #[test]
    fn the_memory_store_acknowledges_each_step_at_its_submit() {
        let mut writes = Writes::new(Box::new(SharedStore::default()));
        writes.note_records(3, Some(crate::clock::wall_ms()));
        assert_eq!(writes.submit(&|| false).unwrap(), 0);
        assert_eq!(writes.acknowledged().unwrap(), 1, "step 0 is durable");
        assert_eq!(writes.durable_records(), 3);
        assert_eq!(writes.freshness_us().len(), 1);
        writes.note_records(2, None);
        writes.flush(&|| false).unwrap();
        assert_eq!(writes.durable_records(), 5);
    }

    #[test]
    fn steps_are_durable_only_once_acknowledged_in_ticket_order() {
        let mut writes = Writes::new(Box::new(LateStore::default()));
        for records in [1, 2, 3] {
            writes.note_records(records, None);
            writes.submit(&|| false).unwrap();
        }
        assert_eq!(writes.acknowledged().unwrap(), 0, "nothing acknowledged yet");
        assert_eq!(writes.durable_records(), 0);
        assert_eq!(writes.wait_all(&|| false).unwrap(), 3);
        assert_eq!(writes.durable_records(), 6);
    }

    #[test]
    fn an_early_submit_mints_the_next_ticket() {
        let group = live_shopper_abi::FeatureGroup {
            name: "g".into(),
            redis_key: "k:{key}".into(),
            window_ms: 0,
            emit_interval_ms: 0,
            ttl_ms: 1,
            features: vec![],
        };
        let mut writes = Writes::new(Box::new(LateStore::default())).submitting_at(2);
        let e = Emission { plugin: "p", group: &group, key: "a", as_of: 1, closed: false, values: &[] };
        for _ in 0..5 {
            writes.emit(&e);
        }
        assert_eq!(writes.submit(&|| false).unwrap(), 2, "two early submits took tickets 0 and 1");
    }
}
