//! The generator driver of the embedded default: every flush interval it takes the events due at
//! the configured rate from the built-in generator, stamps them with the wall clock, and runs a
//! step; an idle generator advances the watermark by wall clock.

use super::{wall_ms, Pipeline, Stop};
use crate::model::Event;
use crate::source::generator::{Generator, GeneratorConfig};
use std::time::{Duration, Instant};

pub struct GeneratorDriver {
    pub rate: u32,
    pub shoppers: u32,
    pub seed: u64,
    pub flush_interval: Duration,
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
    ) -> anyhow::Result<()> {
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
                batch.push(event);
                produced += 1;
            }
            if batch.is_empty() {
                if last_event.elapsed() >= self.idle_after {
                    pipeline.with_sink(|engine, sink| engine.advance_idle(now, sink));
                }
            } else {
                last_event = Instant::now();
                pipeline.counters.records += batch.len() as u64;
                pipeline.step(&[(0, &batch)]);
                if std::mem::take(&mut first) {
                    on_first_step(&batch);
                }
            }
            // While Redis is down the loop waits here, so no new events are taken.
            if let Err(e) = pipeline.flush(|| stop.requested()) {
                tracing::error!(error = %e, "stopping while Redis is unreachable");
                break;
            }
            if last_status.elapsed() >= STATUS_EVERY {
                last_status = Instant::now();
                if let super::Store::Memory(store) = &pipeline.store {
                    store.lock().evict_expired(now);
                }
                pipeline.publish();
            }
        }
        pipeline.publish();
        Ok(())
    }
}
