//! A Redis writer on its own thread, so the pipeline computes step N+1 while step N's pipeline is
//! on the wire. Jobs are numbered by the caller (tickets), written in order, and acknowledged in
//! order; the queue holds one job beside the one being written, so a stalled Redis stops the
//! caller after at most two steps (backpressure). Failed writes are retried with backoff until
//! they land or the caller gives up (shutdown).

use super::client::{RedisSinkError, RedisWriter, WriteCounters};
use crate::clock::wall_us;
use crate::sink::pending::PendingWrites;
use crate::sink::RefusedWrite;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::Duration;

struct Job {
    ticket: u64,
    pending: PendingWrites,
}

struct Done {
    ticket: u64,
    /// When Redis acknowledged the job, µs since the epoch.
    at_us: i64,
    /// Handed back cleared, to be filled again without reallocating.
    pending: PendingWrites,
    /// The writes Redis refused for good, or the error of a write given up.
    result: Result<Vec<RefusedWrite>, RedisSinkError>,
}

/// The writer thread's handle: submits jobs, takes acknowledgements in ticket order.
pub struct BackgroundWriter {
    jobs: Option<SyncSender<Job>>,
    done: Receiver<Done>,
    in_flight: VecDeque<u64>,
    /// (ticket, acknowledged at µs) not yet taken by the caller.
    acks: Vec<(u64, i64)>,
    spare: Vec<PendingWrites>,
    give_up: Arc<AtomicBool>,
    counters: Arc<WriteCounters>,
    /// Writes refused for good, not yet taken by the caller.
    refused: Vec<RefusedWrite>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// How often a blocked caller looks at its give-up condition.
const CHECK_EVERY: Duration = Duration::from_millis(50);

impl BackgroundWriter {
    /// Starts the thread writing to `url` (checked now; connected on the first write).
    pub fn start(url: &str) -> Result<Self, RedisSinkError> {
        let mut writer = RedisWriter::new(url)?;
        let (jobs, job_rx) = sync_channel::<Job>(1);
        let (done_tx, done) = sync_channel::<Done>(4);
        let give_up = Arc::new(AtomicBool::new(false));
        let counters = writer.counters();
        let thread = {
            let give_up = give_up.clone();
            std::thread::Builder::new()
                .name("redis-writer".into())
                .spawn(move || {
                    for mut job in job_rx {
                        let result = writer.write(&job.pending, || give_up.load(Ordering::Relaxed));
                        job.pending.clear();
                        let done =
                            Done { ticket: job.ticket, at_us: wall_us(), pending: job.pending, result };
                        if done_tx.send(done).is_err() {
                            return;
                        }
                    }
                })
                .map_err(RedisSinkError::Spawn)?
        };
        Ok(BackgroundWriter {
            jobs: Some(jobs),
            done,
            in_flight: VecDeque::new(),
            acks: Vec::new(),
            spare: Vec::new(),
            give_up,
            counters,
            refused: Vec::new(),
            thread: Some(thread),
        })
    }

    /// Hands `pending` (which may be empty) to the writer under `ticket` and leaves an empty set
    /// in its place. Blocks
    /// while the queue is full (Redis slow or down) until there is room or `give_up`.
    pub fn submit(
        &mut self,
        ticket: u64,
        pending: &mut PendingWrites,
        give_up: &dyn Fn() -> bool,
    ) -> Result<(), RedisSinkError> {
        let fresh = self.spare.pop().unwrap_or_default();
        let mut job = Job { ticket, pending: std::mem::replace(pending, fresh) };
        loop {
            let jobs = self.jobs.as_ref().expect("the writer runs until dropped");
            match jobs.try_send(job) {
                Ok(()) => {
                    self.in_flight.push_back(ticket);
                    return Ok(());
                }
                Err(TrySendError::Full(back)) => {
                    job = back;
                    self.wait_one(give_up)?;
                }
                Err(TrySendError::Disconnected(_)) => return Err(RedisSinkError::WriterStopped),
            }
        }
    }

    /// Takes the acknowledgements that have arrived, without waiting. The error of a write that
    /// was given up is returned once.
    pub fn poll(&mut self) -> Result<(), RedisSinkError> {
        while let Ok(done) = self.done.try_recv() {
            self.acknowledge(done)?;
        }
        Ok(())
    }

    /// (ticket, acknowledged at µs since the epoch) of the jobs acknowledged since the last call.
    pub fn take_acks(&mut self, out: &mut Vec<(u64, i64)>) {
        out.append(&mut self.acks);
    }

    /// Waits until every submitted job is acknowledged, or `give_up`.
    pub fn wait_all(&mut self, give_up: &dyn Fn() -> bool) -> Result<(), RedisSinkError> {
        while !self.in_flight.is_empty() {
            self.wait_one(give_up)?;
        }
        Ok(())
    }

    fn wait_one(&mut self, give_up: &dyn Fn() -> bool) -> Result<(), RedisSinkError> {
        loop {
            if give_up() {
                // The writer stops retrying; its answer (an error) arrives shortly.
                self.give_up.store(true, Ordering::Relaxed);
            }
            match self.done.recv_timeout(CHECK_EVERY) {
                Ok(done) => return self.acknowledge(done),
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => return Err(RedisSinkError::WriterStopped),
            }
        }
    }

    fn acknowledge(&mut self, done: Done) -> Result<(), RedisSinkError> {
        debug_assert_eq!(self.in_flight.front(), Some(&done.ticket), "acknowledged in order");
        self.in_flight.pop_front();
        self.spare.push(done.pending);
        self.refused.extend(done.result?);
        self.acks.push((done.ticket, done.at_us));
        Ok(())
    }

    /// The writer's counters, live.
    pub fn counters(&self) -> &WriteCounters {
        &self.counters
    }

    /// Appends the writes Redis refused for good since the last call.
    pub fn take_refused(&mut self, out: &mut Vec<RefusedWrite>) {
        out.append(&mut self.refused);
    }
}

impl Drop for BackgroundWriter {
    fn drop(&mut self) {
        self.give_up.store(true, Ordering::Relaxed);
        self.jobs = None;
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::error!("the Redis writer thread panicked");
            }
        }
    }
}
