//! Event-time plausibility: an event stamped too far ahead of when it reached us (or, when
//! configured, too far behind) is refused as `time_out_of_range` before it can move a
//! watermark or sit in the dedup memory.

use super::DecodeError;

/// How far an event's time may lie from its ingest time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeBounds {
    /// Most an event may be ahead of its ingest time, in ms.
    pub max_future_ms: u64,
    /// Most an event may be behind its ingest time, in ms; 0: no bound (a backfill through
    /// Kafka carries old event times, and late events are already dropped per key).
    pub max_age_ms: u64,
}

impl Default for TimeBounds {
    /// Five minutes ahead (device clocks are corrected by Snowplow's `derived_tstamp`; what is
    /// further ahead is a forged or broken time), no bound behind.
    fn default() -> Self {
        TimeBounds { max_future_ms: 300_000, max_age_ms: 0 }
    }
}

impl TimeBounds {
    /// Checks `event_time` against `ingest_ms`, the record's ingest time: its Kafka timestamp,
    /// but never later than the wall clock, since a producer sets the timestamp too.
    pub fn check(&self, event_time: i64, ingest_ms: i64) -> Result<(), DecodeError> {
        let ahead = event_time.saturating_sub(ingest_ms);
        if ahead > self.max_future_ms as i64 {
            return Err(DecodeError::TimeOutOfRange {
                event_time,
                ingest_ms,
                limit: "engine.max_future_ms",
                limit_ms: self.max_future_ms,
            });
        }
        if self.max_age_ms > 0 && -ahead > self.max_age_ms as i64 {
            return Err(DecodeError::TimeOutOfRange {
                event_time,
                ingest_ms,
                limit: "engine.max_age_ms",
                limit_ms: self.max_age_ms,
            });
        }
        Ok(())
    }

    /// The ingest time of a record with Kafka timestamp `timestamp_ms` read at wall time `now_ms`.
    pub fn ingest_time(timestamp_ms: Option<i64>, now_ms: i64) -> i64 {
        timestamp_ms.map_or(now_ms, |t| t.min(now_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    #[test]
    fn an_event_far_ahead_is_refused_and_one_a_little_ahead_is_not() {
        let bounds = TimeBounds::default();
        assert!(bounds.check(NOW + 300_000, NOW).is_ok());
        let year_9999 = 253_402_300_799_000;
        let err = bounds.check(year_9999, NOW).unwrap_err();
        assert_eq!(err.code(), "time_out_of_range");
        assert!(err.to_string().contains("engine.max_future_ms"), "{err}");
        assert!(bounds.check(i64::MAX, i64::MIN).is_err(), "no overflow");
    }

    #[test]
    fn old_events_pass_unless_an_age_bound_is_set() {
        assert!(TimeBounds::default().check(0, NOW).is_ok());
        let bounded = TimeBounds { max_age_ms: 86_400_000, ..TimeBounds::default() };
        assert!(bounded.check(NOW - 86_400_000, NOW).is_ok());
        let err = bounded.check(NOW - 86_400_001, NOW).unwrap_err();
        assert!(err.to_string().contains("engine.max_age_ms"), "{err}");
    }

    #[test]
    fn a_forged_kafka_timestamp_cannot_move_the_ingest_time_past_the_clock() {
        assert_eq!(TimeBounds::ingest_time(Some(NOW + 1_000_000), NOW), NOW);
        assert_eq!(TimeBounds::ingest_time(Some(NOW - 5), NOW), NOW - 5);
        assert_eq!(TimeBounds::ingest_time(None, NOW), NOW);
    }
}
