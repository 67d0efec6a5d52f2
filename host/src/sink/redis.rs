//! The Redis sink: pending writes go out as one pipeline per flush — `HSET` of every coalesced
//! hash with `PEXPIRE` to its group's TTL, and `SET alias:user:{user_id} {shopper_id} PX <30 days>`.
//! When Redis is unreachable it retries with backoff until the write succeeds, so nothing is
//! lost; callers stop taking new input meanwhile. A single server or a Redis Cluster
//! (`redis+cluster://host:port,host:port`; every command is single-key, so the cluster pipeline
//! routes each to its slot). Also the reader the HTTP API uses when Redis is the store.
//! The only file that imports `redis`.

use super::background::BackgroundWriter;
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
    #[error("Redis read failed: {0}")]
    Read(String),
}

/// Backoff between failed attempts: doubles from the first to the last value.
pub const RETRY_FIRST: Duration = Duration::from_millis(100);
pub const RETRY_MAX: Duration = Duration::from_secs(5);
/// A connection attempt, and one pipeline's reads and writes, fail (and are retried) after these.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// The scheme that marks a cluster URL: `redis+cluster://host:port,host:port`.
const CLUSTER_SCHEME: &str = "redis+cluster://";

/// A Redis server or cluster, parsed from its URL.
#[derive(Clone)]
pub enum RedisTarget {
    Single(redis::Client),
    Cluster(redis::cluster::ClusterClient),
}

impl RedisTarget {
    /// `redis://`, `rediss://`, `redis+unix://` for one server; `redis+cluster://a:1,b:2` for a
    /// cluster (its seed nodes).
    pub fn parse(url: &str) -> Result<RedisTarget, RedisSinkError> {
        let bad = |reason: String| RedisSinkError::BadUrl { url: url.to_string(), reason };
        match url.strip_prefix(CLUSTER_SCHEME) {
            Some(nodes) => {
                let nodes: Vec<String> = nodes.split(',').map(|n| format!("redis://{}", n.trim())).collect();
                for node in &nodes {
                    redis::Client::open(node.as_str()).map_err(|e| bad(format!("{node}: {e}")))?;
                }
                let client = redis::cluster::ClusterClient::builder(nodes)
                    .connection_timeout(CONNECT_TIMEOUT)
                    .response_timeout(IO_TIMEOUT)
                    .build()
                    .map_err(|e| bad(e.to_string()))?;
                Ok(RedisTarget::Cluster(client))
            }
            None => redis::Client::open(url).map(RedisTarget::Single).map_err(|e| bad(e.to_string())),
        }
    }

    fn connect(&self) -> redis::RedisResult<Connection> {
        match self {
            RedisTarget::Single(client) => {
                let c = client.get_connection_with_timeout(CONNECT_TIMEOUT)?;
                c.set_read_timeout(Some(IO_TIMEOUT))?;
                c.set_write_timeout(Some(IO_TIMEOUT))?;
                Ok(Connection::Single(c))
            }
            RedisTarget::Cluster(client) => Ok(Connection::Cluster(Box::new(client.get_connection()?))),
        }
    }
}

enum Connection {
    Single(redis::Connection),
    Cluster(Box<redis::cluster::ClusterConnection>),
}

/// Adds the writes of `pending` to a pipeline (a plain or a cluster one: same methods).
macro_rules! fill_pipeline {
    ($pipe:expr, $pending:expr) => {{
        let pipe = &mut $pipe;
        for (key, hash) in &$pending.hashes {
            pipe.hset_multiple(key, &hash.fields).ignore();
            pipe.pexpire(key, hash.ttl_ms as i64).ignore();
        }
        for (user, shopper) in &$pending.aliases {
            let options =
                redis::SetOptions::default().with_expiration(redis::SetExpiry::PX(ALIAS_TTL_MS as u64));
            pipe.set_options(format!("alias:user:{user}"), shopper, options).ignore();
        }
    }};
}

impl Connection {
    fn write(&mut self, pending: &PendingWrites) -> redis::RedisResult<()> {
        match self {
            Connection::Single(c) => {
                let mut pipe = redis::pipe();
                fill_pipeline!(pipe, pending);
                pipe.query(c)
            }
            Connection::Cluster(c) => {
                let mut pipe = redis::cluster::cluster_pipe();
                fill_pipeline!(pipe, pending);
                pipe.query(c)
            }
        }
    }

    fn hgetall(&mut self, key: &str) -> redis::RedisResult<Vec<(String, String)>> {
        let cmd = redis::cmd("HGETALL").arg(key).clone();
        match self {
            Connection::Single(c) => cmd.query(c),
            Connection::Cluster(c) => cmd.query(c.as_mut()),
        }
    }

    fn get(&mut self, key: &str) -> redis::RedisResult<Option<String>> {
        let cmd = redis::cmd("GET").arg(key).clone();
        match self {
            Connection::Single(c) => cmd.query(c),
            Connection::Cluster(c) => cmd.query(c.as_mut()),
        }
    }
}

pub struct RedisWriter {
    target: RedisTarget,
    connection: Option<Connection>,
    url: String,
    pub writes: u64,
    pub retries: u64,
}

impl RedisWriter {
    /// Checks the URL; connects lazily on the first write.
    pub fn new(url: &str) -> Result<Self, RedisSinkError> {
        let target = RedisTarget::parse(url)?;
        Ok(RedisWriter { target, connection: None, url: url.to_string(), writes: 0, retries: 0 })
    }

    /// One attempt: the whole pending set as one pipeline.
    pub fn try_write(&mut self, pending: &PendingWrites) -> Result<(), RedisSinkError> {
        if pending.is_empty() {
            return Ok(());
        }
        let connection = match self.connection.as_mut() {
            Some(c) => c,
            None => self
                .connection
                .insert(self.target.connect().map_err(|e| RedisSinkError::Write(e.to_string()))?),
        };
        match connection.write(pending) {
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

/// An emission sink that writes to Redis: coalesces into [`PendingWrites`] and hands them to a
/// [`BackgroundWriter`] when submitted (or when `max_pending_fields` accumulate), so the next
/// step is computed while the last one is written.
pub struct RedisSink {
    pending: PendingWrites,
    writer: BackgroundWriter,
    max_pending_fields: usize,
    /// Tickets of jobs the sink submitted itself (full pending sets), below the caller's.
    next_ticket: u64,
}

impl RedisSink {
    pub fn new(url: &str, max_pending_fields: usize) -> Result<Self, RedisSinkError> {
        Ok(RedisSink {
            pending: PendingWrites::default(),
            writer: BackgroundWriter::start(url)?,
            max_pending_fields,
            next_ticket: 0,
        })
    }

    /// Writes everything pending, retrying until Redis takes it. Retrying is the point: the
    /// caller takes no new input until the write lands.
    pub fn flush(&mut self) {
        let _ = self.flush_or_give_up(|| false);
    }

    /// Like [`RedisSink::flush`], but stops retrying when `give_up` says so (shutdown); the
    /// error then says how many hashes were left unwritten.
    pub fn flush_or_give_up(&mut self, give_up: impl Fn() -> bool) -> Result<(), RedisSinkError> {
        let ticket = self.next_ticket;
        self.submit(ticket, &give_up)?;
        self.writer.wait_all(&give_up)?;
        // Nobody asks which tickets landed after a blocking flush: all of them did.
        self.writer.take_acks();
        Ok(())
    }

    /// Hands what is pending (maybe nothing) to the writer as job `ticket` (tickets increase).
    /// Blocks while two jobs are already in flight.
    pub fn submit(&mut self, ticket: u64, give_up: &dyn Fn() -> bool) -> Result<(), RedisSinkError> {
        self.next_ticket = self.next_ticket.max(ticket + 1);
        self.writer.submit(ticket, &mut self.pending, give_up)
    }

    /// (ticket, acknowledged at µs since the epoch) of the jobs written since the last call, in
    /// ticket order.
    pub fn take_acks(&mut self) -> Result<Vec<(u64, i64)>, RedisSinkError> {
        self.writer.poll()?;
        Ok(self.writer.take_acks())
    }

    /// Waits until everything submitted is written.
    pub fn wait_all(&mut self, give_up: &dyn Fn() -> bool) -> Result<(), RedisSinkError> {
        self.writer.wait_all(give_up)
    }

    /// (pipelines written, failed attempts retried).
    pub fn counts(&self) -> (u64, u64) {
        self.writer.counts()
    }
}

impl crate::engine::emission::EmissionSink for RedisSink {
    fn emit(&mut self, e: &crate::engine::emission::Emission<'_>) {
        self.pending.emit(e);
        if self.pending.fields() >= self.max_pending_fields {
            let ticket = self.next_ticket;
            let _ = self.submit(ticket, &|| false);
        }
    }

    fn alias(&mut self, user_id: &str, shopper_id: &str) {
        self.pending.alias(user_id, shopper_id);
    }
}

/// Reads feature hashes and aliases back, for the HTTP API when Redis is the store.
pub struct RedisReader {
    target: RedisTarget,
    connection: std::sync::Mutex<Option<Connection>>,
}

impl RedisReader {
    pub fn new(url: &str) -> Result<Self, RedisSinkError> {
        Ok(RedisReader { target: RedisTarget::parse(url)?, connection: std::sync::Mutex::new(None) })
    }

    fn with<T>(&self, f: impl FnOnce(&mut Connection) -> redis::RedisResult<T>) -> Result<T, RedisSinkError> {
        let mut guard = self.connection.lock().unwrap_or_else(|p| p.into_inner());
        let connection = match guard.as_mut() {
            Some(c) => c,
            None => guard.insert(self.target.connect().map_err(|e| RedisSinkError::Read(e.to_string()))?),
        };
        f(connection).map_err(|e| {
            *guard = None;
            RedisSinkError::Read(e.to_string())
        })
    }

    /// A hash's fields, or None when it does not exist.
    pub fn hash(&self, key: &str) -> Result<Option<Vec<(String, String)>>, RedisSinkError> {
        let fields = self.with(|c| c.hgetall(key))?;
        Ok((!fields.is_empty()).then_some(fields))
    }

    /// The shopper id a login id is aliased to.
    pub fn alias(&self, user_id: &str) -> Result<Option<String>, RedisSinkError> {
        self.with(|c| c.get(&format!("alias:user:{user_id}")))
    }
}
