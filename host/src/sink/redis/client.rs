//! Talking to Redis: a server or a cluster parsed from its URL, one pipeline per write — each
//! coalesced hash written atomically by a script (`fenced_hash.lua`: its fields, `updated_at`
//! and TTL at once, each plugin's fields only when their as-of is not older than what that
//! plugin last wrote there, so a deposed owner's late write cannot overwrite a newer value), and
//! `SET alias:user:{user_id} {shopper_id} PX <30 days>` — retried with backoff until it lands or
//! the caller gives up, and the reads the HTTP API makes. A server connection is named
//! [`client_name`], so `CLIENT LIST` and `MONITOR` show which host process wrote what. A Redis Cluster URL
//! (`redis+cluster://host:port,host:port`) uses the cluster pipeline, which routes each
//! single-key command to its slot. The only file that imports the `redis` crate.

use crate::error::{Classified, Fault};
use crate::sink::hash::ALIAS_TTL_MS;
use crate::sink::pending::PendingWrites;
use crate::sink::RefusedWrite;
use redis::RedisError;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use thiserror::Error;

/// What can go wrong with Redis; each keeps the client's error as its source.
#[derive(Debug, Error)]
pub enum RedisSinkError {
    /// The URL does not parse, or names no usable server.
    #[error("invalid Redis URL {url:?}")]
    BadUrl {
        /// The server or cluster URL.
        url: String,
        /// The client's error.
        #[source]
        source: RedisError,
    },
    /// A connection or a pipeline write failed (retried by [`RedisWriter::write`]).
    #[error("Redis write to {url} failed")]
    Write {
        /// The server or cluster URL.
        url: String,
        /// The client's error.
        #[source]
        source: RedisError,
    },
    /// A read for the HTTP API failed.
    #[error("Redis read from {url} failed")]
    Read {
        /// The server or cluster URL.
        url: String,
        /// The client's error.
        #[source]
        source: RedisError,
    },
    /// Writes were still failing when the caller gave up (shutdown).
    #[error("{hashes} hashes left unwritten")]
    GaveUp {
        /// Hashes of the pending set that were not written.
        hashes: usize,
        /// The last attempt's error.
        #[source]
        source: Box<RedisSinkError>,
    },
    /// The writer thread could not be started.
    #[error("cannot start the Redis writer thread")]
    Spawn(#[source] std::io::Error),
    /// The writer thread is gone (it panicked): an internal error.
    #[error("the Redis writer thread stopped")]
    WriterStopped,
}

impl Classified for RedisSinkError {
    fn fault(&self) -> Fault {
        match self {
            RedisSinkError::BadUrl { .. } => Fault::Input,
            RedisSinkError::Write { .. } | RedisSinkError::Read { .. } | RedisSinkError::GaveUp { .. } => {
                Fault::External
            }
            RedisSinkError::Spawn(_) | RedisSinkError::WriterStopped => Fault::Internal,
        }
    }
}

/// Backoff between failed attempts: doubles from the first to the last value.
pub const RETRY_FIRST: Duration = Duration::from_millis(100);
/// The longest wait between two attempts.
pub const RETRY_MAX: Duration = Duration::from_secs(5);
/// A connection attempt fails (and is retried) after this.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// One pipeline's reads and writes fail (and are retried) after this.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// The scheme that marks a cluster URL: `redis+cluster://host:port,host:port`.
const CLUSTER_SCHEME: &str = "redis+cluster://";

/// A Redis server or cluster, parsed from its URL.
#[derive(Clone)]
pub enum RedisTarget {
    /// One server.
    Single(redis::Client),
    /// A cluster, by its seed nodes.
    Cluster(redis::cluster::ClusterClient),
}

impl RedisTarget {
    /// `redis://`, `rediss://`, `redis+unix://` for one server; `redis+cluster://a:1,b:2` for a
    /// cluster (its seed nodes).
    pub fn parse(url: &str) -> Result<RedisTarget, RedisSinkError> {
        let bad = |source| RedisSinkError::BadUrl { url: url.to_string(), source };
        match url.strip_prefix(CLUSTER_SCHEME) {
            Some(nodes) => {
                let nodes: Vec<String> = nodes.split(',').map(|n| format!("redis://{}", n.trim())).collect();
                for node in &nodes {
                    redis::Client::open(node.as_str()).map_err(bad)?;
                }
                let client = redis::cluster::ClusterClient::builder(nodes)
                    .connection_timeout(CONNECT_TIMEOUT)
                    .response_timeout(IO_TIMEOUT)
                    .build()
                    .map_err(bad)?;
                Ok(RedisTarget::Cluster(client))
            }
            None => redis::Client::open(url).map(RedisTarget::Single).map_err(bad),
        }
    }

    fn connect(&self) -> redis::RedisResult<Connection> {
        match self {
            RedisTarget::Single(client) => {
                let mut c = client.get_connection_with_timeout(CONNECT_TIMEOUT)?;
                c.set_read_timeout(Some(IO_TIMEOUT))?;
                c.set_write_timeout(Some(IO_TIMEOUT))?;
                // `CLIENT LIST` and `MONITOR` then tell which host process wrote what.
                redis::cmd("CLIENT").arg("SETNAME").arg(client_name()).query::<()>(&mut c)?;
                let sha: String = redis::cmd("SCRIPT").arg("LOAD").arg(FENCED_HASH).query(&mut c)?;
                Ok(Connection::Single(c, sha))
            }
            RedisTarget::Cluster(client) => Ok(Connection::Cluster(Box::new(client.get_connection()?))),
        }
    }
}

/// The name a host's connections carry (`CLIENT SETNAME`): `live-shopper-<process id>`.
pub fn client_name() -> String {
    format!("live-shopper-{}", std::process::id())
}

enum Connection {
    /// One server, and the SHA-1 of the fenced-hash script loaded on it.
    Single(redis::Connection, String),
    Cluster(Box<redis::cluster::ClusterConnection>),
}

/// The script writing one hash atomically and fenced by as-of (see the module docs).
const FENCED_HASH: &str = include_str!("fenced_hash.lua");

/// The companion hash of feature hash `key` (plugin -> as-of last applied), in the same
/// cluster slot: under `key`'s own hash tag when it has one, else with `key` as the tag.
pub fn as_of_key(key: &str) -> String {
    let tagged = key.find('{').is_some_and(|open| key[open + 1..].find('}').is_some_and(|close| close > 0));
    if tagged {
        format!("{key}:as-of")
    } else {
        format!("{{{key}}}:as-of")
    }
}

/// Adds the writes of `pending` to a pipeline (a plain or a cluster one: same methods);
/// `script` is the loaded script's SHA-1, or None to send its text (a cluster).
macro_rules! fill_pipeline {
    ($pipe:expr, $pending:expr, $script:expr) => {{
        let pipe = &mut $pipe;
        for (key, hash) in &$pending.hashes {
            match $script {
                Some(sha) => pipe.cmd("EVALSHA").arg(sha),
                None => pipe.cmd("EVAL").arg(FENCED_HASH),
            };
            pipe.arg(2).arg(key).arg(as_of_key(key)).arg(hash.ttl_ms).arg(hash.plugins.len());
            for (plugin, as_of, fields) in hash.parts() {
                let fields: Vec<_> = fields.collect();
                pipe.arg(plugin).arg(as_of).arg(fields.len());
                for (name, value) in fields {
                    pipe.arg(name).arg(value);
                }
            }
            pipe.ignore();
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
            Connection::Single(c, sha) => {
                let mut pipe = redis::pipe();
                fill_pipeline!(pipe, pending, Some(sha.as_str()));
                pipe.query(c)
            }
            Connection::Cluster(c) => {
                let mut pipe = redis::cluster::cluster_pipe();
                fill_pipeline!(pipe, pending, None::<&str>);
                pipe.query(c)
            }
        }
    }

    fn hgetall(&mut self, key: &str) -> redis::RedisResult<Vec<(String, String)>> {
        let cmd = redis::cmd("HGETALL").arg(key).clone();
        match self {
            Connection::Single(c, _) => cmd.query(c),
            Connection::Cluster(c) => cmd.query(c.as_mut()),
        }
    }

    fn get(&mut self, key: &str) -> redis::RedisResult<Option<String>> {
        let cmd = redis::cmd("GET").arg(key).clone();
        match self {
            Connection::Single(c, _) => cmd.query(c),
            Connection::Cluster(c) => cmd.query(c.as_mut()),
        }
    }
}

/// A writer's counters, shared with whoever reports them (updated during retries too).
#[derive(Debug, Default)]
pub struct WriteCounters {
    /// Pipelines written.
    pub writes: AtomicU64,
    /// Failed attempts that were retried.
    pub retries: AtomicU64,
    /// Since when every attempt has failed, ms since the epoch; 0 once one succeeds.
    pub failing_since_ms: AtomicI64,
}

/// Writes pending sets as pipelines over one lazily (re)opened connection.
pub struct RedisWriter {
    target: RedisTarget,
    connection: Option<Connection>,
    url: String,
    counters: Arc<WriteCounters>,
}

/// Whether a server error refuses one command for good: `WRONGTYPE`, or an `ERR` (a script's
/// error, an invalid argument) other than a full server's. Everything else (`LOADING`, `BUSY`,
/// `OOM`, `READONLY`, `TRYAGAIN`, cluster redirections, `NOSCRIPT`, I/O) may pass and is retried.
fn is_permanent(code: &str, details: &str) -> bool {
    code == "WRONGTYPE" || (code == "ERR" && !details.contains("max number of clients"))
}

/// The writes of `pending` a pipeline error refused for good, when every failed command was
/// refused for good; None when any failure may pass (then the whole pipeline is retried).
fn refused_for_good(e: &RedisError, pending: &PendingWrites) -> Option<Vec<RefusedWrite>> {
    let failures = e.clone().into_server_errors()?;
    let hashes: Vec<_> = pending.hashes.iter().collect();
    let aliases: Vec<_> = pending.aliases.iter().collect();
    let mut refused = Vec::with_capacity(failures.len());
    for (index, error) in failures.iter() {
        let details = error.details().unwrap_or_default();
        if !is_permanent(error.code(), details) {
            return None;
        }
        let reason = format!("{} {details}", error.code());
        // The pipeline holds one script call per hash, then one SET per alias.
        let write = match hashes.get(*index) {
            Some((key, hash)) => RefusedWrite {
                key: key.to_string(),
                plugins: hash.parts().map(|(plugin, _, _)| plugin.to_string()).collect(),
                reason,
            },
            None => {
                let (user, _) = aliases.get(index - hashes.len())?;
                RefusedWrite { key: format!("alias:user:{user}"), plugins: Vec::new(), reason }
            }
        };
        refused.push(write);
    }
    (!refused.is_empty()).then_some(refused)
}

impl RedisWriter {
    /// Checks the URL; connects lazily on the first write.
    pub fn new(url: &str) -> Result<Self, RedisSinkError> {
        let target = RedisTarget::parse(url)?;
        let counters = Arc::default();
        Ok(RedisWriter { target, connection: None, url: url.to_string(), counters })
    }

    /// The writer's counters, live.
    pub fn counters(&self) -> Arc<WriteCounters> {
        self.counters.clone()
    }

    /// One attempt: the whole pending set as one pipeline. Commands refused for good (see
    /// `is_permanent`) are returned; the others of the pipeline were written.
    pub fn try_write(&mut self, pending: &PendingWrites) -> Result<Vec<RefusedWrite>, RedisSinkError> {
        if pending.is_empty() {
            return Ok(Vec::new());
        }
        let failed = |url: &str, source| RedisSinkError::Write { url: url.to_string(), source };
        let connection = match self.connection.as_mut() {
            Some(c) => c,
            None => self.connection.insert(self.target.connect().map_err(|e| failed(&self.url, e))?),
        };
        let refused = match connection.write(pending) {
            Ok(()) => Vec::new(),
            Err(e) => match refused_for_good(&e, pending) {
                Some(refused) => refused,
                None => {
                    self.connection = None;
                    return Err(failed(&self.url, e));
                }
            },
        };
        self.counters.writes.fetch_add(1, Ordering::Relaxed);
        Ok(refused)
    }

    /// Writes `pending`, retrying with backoff until it succeeds or `give_up` says so; the
    /// error then says how many hashes were left unwritten. Returns the writes refused for good.
    pub fn write(
        &mut self,
        pending: &PendingWrites,
        give_up: impl Fn() -> bool,
    ) -> Result<Vec<RefusedWrite>, RedisSinkError> {
        let mut wait = RETRY_FIRST;
        loop {
            match self.try_write(pending) {
                Ok(refused) => {
                    self.counters.failing_since_ms.store(0, Ordering::Relaxed);
                    for r in &refused {
                        tracing::error!(key = %r.key, plugins = ?r.plugins, reason = %r.reason, "Redis refused a write for good; the rest of the step is written");
                    }
                    return Ok(refused);
                }
                Err(e) if give_up() => {
                    return Err(RedisSinkError::GaveUp { hashes: pending.hashes.len(), source: Box::new(e) })
                }
                Err(e) => {
                    self.counters.retries.fetch_add(1, Ordering::Relaxed);
                    let _ = self.counters.failing_since_ms.compare_exchange(
                        0,
                        crate::clock::wall_ms(),
                        Ordering::Relaxed,
                        Ordering::Relaxed,
                    );
                    let error = crate::error::Chain(&e);
                    tracing::warn!(url = %self.url, %error, retry_in = ?wait, "Redis write failed; retrying");
                    // Sleep in short slices so that giving up (shutdown) is not delayed by the backoff.
                    let until = Instant::now() + wait;
                    while Instant::now() < until && !give_up() {
                        std::thread::sleep(RETRY_FIRST.min(until - Instant::now()));
                    }
                    wait = (wait * 2).min(RETRY_MAX);
                }
            }
        }
    }
}

/// Reads feature hashes and aliases back, for the HTTP API when Redis is the store.
pub struct RedisReader {
    target: RedisTarget,
    url: String,
    connection: std::sync::Mutex<Option<Connection>>,
}

impl RedisReader {
    /// Checks the URL; connects on the first read.
    pub fn new(url: &str) -> Result<Self, RedisSinkError> {
        Ok(RedisReader {
            target: RedisTarget::parse(url)?,
            url: url.to_string(),
            connection: std::sync::Mutex::new(None),
        })
    }

    fn with<T>(&self, f: impl FnOnce(&mut Connection) -> redis::RedisResult<T>) -> Result<T, RedisSinkError> {
        let failed = |source| RedisSinkError::Read { url: self.url.clone(), source };
        let mut guard = self.connection.lock().unwrap_or_else(|p| p.into_inner());
        let connection = match guard.as_mut() {
            Some(c) => c,
            None => guard.insert(self.target.connect().map_err(failed)?),
        };
        f(connection).map_err(|e| {
            *guard = None;
            failed(e)
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
