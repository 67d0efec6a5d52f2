//! The Redis sink: pending writes go out as one pipeline per flush — `HSET` of every coalesced
//! hash with `PEXPIRE` to its group's TTL, and `SET alias:user:{user_id} {shopper_id} PX <30 days>`.
//! When Redis is unreachable it retries with backoff until the write succeeds, so nothing is
//! lost; callers stop taking new input meanwhile. The only file that imports `redis`.

use super::memory::ALIAS_TTL_MS;
use super::pending::PendingWrites;
use std::time::Duration;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum RedisSinkError {
    #[error("invalid Redis URL {url:?}: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("Redis write failed: {0}")]
    Write(String),
}

/// Backoff between failed attempts: doubles from the first to the last value.
pub const RETRY_FIRST: Duration = Duration::from_millis(100);
pub const RETRY_MAX: Duration = Duration::from_secs(5);
/// A connection attempt, and one pipeline's reads and writes, fail (and are retried) after these.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

pub struct RedisWriter {
    client: redis::Client,
    connection: Option<redis::Connection>,
    url: String,
    pub writes: u64,
    pub retries: u64,
}

impl RedisWriter {
    /// Checks the URL; connects lazily on the first write.
    pub fn new(url: &str) -> Result<Self, RedisSinkError> {
        let client = redis::Client::open(url)
            .map_err(|e| RedisSinkError::BadUrl { url: url.to_string(), reason: e.to_string() })?;
        Ok(RedisWriter { client, connection: None, url: url.to_string(), writes: 0, retries: 0 })
    }

    fn connect(&self) -> redis::RedisResult<redis::Connection> {
        let connection = self.client.get_connection_with_timeout(CONNECT_TIMEOUT)?;
        connection.set_read_timeout(Some(IO_TIMEOUT))?;
        connection.set_write_timeout(Some(IO_TIMEOUT))?;
        Ok(connection)
    }

    /// One attempt: the whole pending set as one pipeline.
    pub fn try_write(&mut self, pending: &PendingWrites) -> Result<(), RedisSinkError> {
        if pending.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for (key, hash) in &pending.hashes {
            pipe.hset_multiple(key, &hash.fields).ignore();
            pipe.pexpire(key, hash.ttl_ms as i64).ignore();
        }
        for (user, shopper) in &pending.aliases {
            let options =
                redis::SetOptions::default().with_expiration(redis::SetExpiry::PX(ALIAS_TTL_MS as u64));
            pipe.set_options(format!("alias:user:{user}"), shopper, options).ignore();
        }
        let connection = match self.connection.as_mut() {
            Some(c) => c,
            None => self.connection.insert(self.connect().map_err(|e| RedisSinkError::Write(e.to_string()))?),
        };
        match pipe.query::<()>(connection) {
            Ok(()) => {
                self.writes += 1;
                Ok(())
            }
            Err(e) => {
                self.connection = None;
                Err(RedisSinkError::Write(e.to_string()))
            }
        }
    }

    /// Writes `pending`, retrying with backoff until it succeeds or `give_up` says so.
    pub fn write(
        &mut self,
        pending: &PendingWrites,
        give_up: impl Fn() -> bool,
    ) -> Result<(), RedisSinkError> {
        let mut wait = RETRY_FIRST;
        loop {
            match self.try_write(pending) {
                Ok(()) => return Ok(()),
                Err(e) if give_up() => return Err(e),
                Err(e) => {
                    self.retries += 1;
                    tracing::warn!(url = %self.url, error = %e, retry_in = ?wait, "Redis write failed; retrying");
                    // Sleep in short slices so that giving up (shutdown) is not delayed by the backoff.
                    let until = std::time::Instant::now() + wait;
                    while std::time::Instant::now() < until && !give_up() {
                        std::thread::sleep(RETRY_FIRST.min(until - std::time::Instant::now()));
                    }
                    wait = (wait * 2).min(RETRY_MAX);
                }
            }
        }
    }
}

/// An emission sink that writes to Redis: coalesces into [`PendingWrites`] and flushes them as
/// one pipeline when `flush` is called or when `max_pending_fields` accumulate.
pub struct RedisSink {
    pending: PendingWrites,
    writer: RedisWriter,
    max_pending_fields: usize,
}

impl RedisSink {
    pub fn new(url: &str, max_pending_fields: usize) -> Result<Self, RedisSinkError> {
        Ok(RedisSink {
            pending: PendingWrites::default(),
            writer: RedisWriter::new(url)?,
            max_pending_fields,
        })
    }

    /// Writes everything pending, retrying until Redis takes it, and clears it. Retrying is the
    /// point: the caller takes no new input until the write lands.
    pub fn flush(&mut self) {
        let _ = self.flush_or_give_up(|| false);
    }

    /// Like [`RedisSink::flush`], but stops retrying when `give_up` says so (shutdown); the
    /// writes then stay pending and the error says how many hashes were left unwritten.
    pub fn flush_or_give_up(&mut self, give_up: impl Fn() -> bool) -> Result<(), RedisSinkError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        self.writer.write(&self.pending, give_up).map_err(|e| {
            RedisSinkError::Write(format!("{e}; {} hashes left unwritten", self.pending.hashes.len()))
        })?;
        self.pending.clear();
        Ok(())
    }

    pub fn writer(&self) -> &RedisWriter {
        &self.writer
    }
}

impl crate::engine::emission::EmissionSink for RedisSink {
    fn emit(&mut self, e: &crate::engine::emission::Emission<'_>) {
        self.pending.emit(e);
        if self.pending.fields() >= self.max_pending_fields {
            self.flush();
        }
    }

    fn alias(&mut self, user_id: &str, shopper_id: &str) {
        self.pending.alias(user_id, shopper_id);
    }
}
