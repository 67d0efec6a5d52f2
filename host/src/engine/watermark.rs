//! The event-time watermark of one source partition (FEATURES.md §2).

/// Max event time seen minus the allowed out-of-orderness; in live mode an idle partition
/// advances by wall clock. Never goes backwards.
#[derive(Debug, Clone)]
pub struct Watermark {
    out_of_orderness_ms: i64,
    max_event_time: Option<i64>,
    current: i64,
}

impl Watermark {
    pub fn new(out_of_orderness_ms: u64) -> Self {
        Watermark { out_of_orderness_ms: out_of_orderness_ms as i64, max_event_time: None, current: i64::MIN }
    }

    pub fn observe(&mut self, event_time: i64) {
        if self.max_event_time.is_none_or(|m| event_time > m) {
            self.max_event_time = Some(event_time);
            self.current = self.current.max(event_time - self.out_of_orderness_ms);
        }
    }

    /// Advances to `t` if that is later (idle partitions, end of input).
    pub fn advance_to(&mut self, t: i64) {
        self.current = self.current.max(t);
    }

    pub fn current(&self) -> i64 {
        self.current
    }

    pub fn max_event_time(&self) -> Option<i64> {
        self.max_event_time
    }

    /// The wall-clock watermark for an idle partition: now minus the out-of-orderness.
    pub fn idle_target(&self, wall_now_ms: i64) -> i64 {
        wall_now_ms - self.out_of_orderness_ms
    }
}

#[cfg(test)]
mod tests {
    use super::Watermark;

    #[test]
    fn trails_the_max_event_time_and_never_goes_back() {
        let mut w = Watermark::new(5_000);
        w.observe(10_000);
        assert_eq!(w.current(), 5_000);
        w.observe(8_000);
        assert_eq!(w.current(), 5_000);
        w.advance_to(4_000);
        assert_eq!(w.current(), 5_000);
        w.advance_to(9_000);
        assert_eq!(w.current(), 9_000);
        assert_eq!(w.idle_target(20_000), 15_000);
    }
}
