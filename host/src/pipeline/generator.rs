//! The generator driver of the embedded default: every flush interval it takes the events due at
//! the configured rate from the built-in generator, stamps them with the wall clock, and runs a
//! step; an idle generator advances the watermark by wall clock.

use super::{Pipeline, PipelineError, Stop};
use crate::clock::wall_ms;
use crate::engine::through::PartitionEvents;
use crate::model::Event;
use crate::source::generator::{Generator, GeneratorConfig};
use std::time::{Duration, Instant};

/// Drives a [`Pipeline`] with generated live traffic.
pub struct GeneratorDriver {
    /// Events per second of wall-clock time.
    pub rate: u32,
    /// Distinct shoppers simulated.
    pub shoppers: u32,
    /// The generator's seed.
    pub seed: u64,
    /// Attach the example loyalty entity (`iglu:com.acme/loyalty/jsonschema/1-0-0`) to every event.
    pub loyalty: bool,
    /// How often a step runs.
    pub flush_interval: Duration,
    /// Wall-clock time without events after which the watermark follows the clock.
    pub idle_after: Duration,
}

const STATUS_EVERY: Duration = Duration::from_millis(500);

impl GeneratorDriver {
    /// Runs until `stop`; `on_first_step` sees the first step's events (to announce ids).
    pub fn run(
        &self,
        pipeline: &mut Pipeline,
        stop: &Stop,
        mut on_first_step: impl FnMut(&[Event]),
    ) -> Result<(), PipelineError> {
        let started = Instant::now();
        let config = GeneratorConfig {
            shoppers: self.shoppers,
            events: u64::MAX,
            seed: self.seed,
            start_ms: wall_ms(),
        };
        let mut generator = Generator::new(config);
        let mut produced = 0u64;
        let mut last_event = Instant::now();
        let mut last_status = Instant::now() - STATUS_EVERY;
        let mut first = true;
        let mut batch = Vec::new();
        while !stop.requested() {
            std::thread::sleep(self.flush_interval);
            pipeline.apply_plugin_changes();
            let due = (started.elapsed().as_secs_f64() * self.rate as f64) as u64;
            let now = wall_ms();
            batch.clear();
            while produced < due {
                let Some(mut event) = generator.next() else { break };
                // Live traffic happens now: the generator supplies the shape, the clock the time.
                event.event_time = now;
                if self.loyalty {
                    crate::source::generator::loyalty::add_loyalty(&mut event);
                }
                batch.push(event);
                produced += 1;
            }
            if batch.is_empty() {
                if last_event.elapsed() >= self.idle_after {
                    pipeline.advance_idle(now);
                }
            } else {
                last_event = Instant::now();
                pipeline.note_untimed_records(batch.len() as u64);
                pipeline.step(&[PartitionEvents::input(0, &batch)]);
                if std::mem::take(&mut first) {
                    on_first_step(&batch);
                }
            }
            // While Redis is down the loop waits here, so no new events are taken.
            if let Err(e) = pipeline.flush(&|| stop.requested()) {
                // Only a shutdown ends the retries: what was left unwritten is named, not lost
                // silently (the generator's events are made again on the next start).
                let e = PipelineError::from(e);
                tracing::error!(error = %crate::error::Chain(&e), "stopping");
                break;
            }
            if last_status.elapsed() >= STATUS_EVERY {
                last_status = Instant::now();
                pipeline.maintain(now);
                pipeline.publish();
            }
        }
        pipeline.publish();
        Ok(())
    }
}
