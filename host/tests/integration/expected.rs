//! What Redis must hold after a run over some records — the engine run over them with the
//! native plugins, one at a time — and the checks that it does: every hash with its fields and
//! TTL, and every login alias, waited for until they settle.

use crate::services::{Host, RedisServer};
use live_shopper::decode::decode_record;
use live_shopper::engine::{Engine, EngineConfig, Operator};
use live_shopper::plugin::native;
use live_shopper::sink::PendingWrites;
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

/// key -> (fields, TTL ms) that Redis must hold, plus login aliases.
pub(crate) struct Expected {
    pub(crate) hashes: BTreeMap<String, (HashMap<String, String>, u64)>,
    aliases: HashMap<String, String>,
}

pub(crate) fn expected(records: &[Vec<u8>]) -> Expected {
    expected_with(records, live_shopper::plugin::embedded::DEFAULT_PLUGINS)
}

/// What Redis must hold when only the plugins named in `plugins` run.
pub(crate) fn expected_with(records: &[Vec<u8>], plugins: &[&str]) -> Expected {
    let operators: Vec<Box<dyn Operator>> = native::default_set()
        .into_iter()
        .filter(|o| plugins.contains(&o.descriptor().name.as_str()))
        .map(|o| Box::new(o) as Box<dyn Operator>)
        .collect();
    let mut engine = Engine::new(EngineConfig::default(), operators);
    let mut pending = PendingWrites::default();
    for r in records {
        if let Ok(event) = decode_record(r) {
            engine.process(&[event], &mut pending);
        }
    }
    engine.advance_idle(live_shopper::clock::wall_ms(), &mut pending);
    expected_of(pending)
}

/// What Redis must hold after the writes in `pending`.
pub(crate) fn expected_of(pending: PendingWrites) -> Expected {
    Expected {
        hashes: pending
            .hashes
            .into_iter()
            .map(|(k, h)| (k, (h.fields.into_iter().collect(), h.ttl_ms)))
            .collect(),
        aliases: pending.aliases,
    }
}

/// Every key in Redis with its fields (hashes) or value (strings).
pub(crate) fn redis_contents(
    server: &RedisServer,
) -> (BTreeMap<String, HashMap<String, String>>, HashMap<String, String>) {
    let mut c = server.connection().unwrap();
    let keys: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut c).unwrap();
    let (mut hashes, mut strings) = (BTreeMap::new(), HashMap::new());
    // The fencing companions (plugin -> as-of) of the feature hashes are the store's own.
    for key in keys.into_iter().filter(|k| !k.ends_with(":as-of")) {
        let kind: String = redis::cmd("TYPE").arg(&key).query(&mut c).unwrap();
        if kind == "hash" {
            hashes.insert(key.clone(), redis::cmd("HGETALL").arg(&key).query(&mut c).unwrap());
        } else {
            strings.insert(key.clone(), redis::cmd("GET").arg(&key).query(&mut c).unwrap());
        }
    }
    (hashes, strings)
}

/// Waits until Redis holds exactly the expected hashes and aliases, then checks every TTL.
pub(crate) fn assert_redis_holds(server: &RedisServer, want: &Expected, host: &Host, timeout: Duration) {
    assert_redis_holds_with(server, want, timeout, || host.stderr())
}

/// [`assert_redis_holds`] with `log` telling what the hosts said when it fails.
pub(crate) fn assert_redis_holds_with(
    server: &RedisServer,
    want: &Expected,
    timeout: Duration,
    log: impl Fn() -> String,
) {
    assert_redis_matches(server, want, timeout, |_| true, log)
}

/// [`assert_redis_holds_with`] over the hashes whose key `keep` selects, in Redis and in `want`.
pub(crate) fn assert_redis_holds_where(
    server: &RedisServer,
    want: &Expected,
    timeout: Duration,
    keep: impl Fn(&str) -> bool,
    log: impl Fn() -> String,
) {
    assert_redis_matches(server, want, timeout, keep, log)
}

/// Waits until the hashes `keep` selects and the aliases are the same in Redis and in `want`,
/// then checks their TTLs.
fn assert_redis_matches(
    server: &RedisServer,
    want: &Expected,
    timeout: Duration,
    keep: impl Fn(&str) -> bool,
    log: impl Fn() -> String,
) {
    let started = Instant::now();
    let want_hashes: BTreeMap<String, HashMap<String, String>> =
        want.hashes.iter().filter(|(k, _)| keep(k)).map(|(k, (f, _))| (k.clone(), f.clone())).collect();
    let want_aliases: HashMap<String, String> =
        want.aliases.iter().map(|(u, s)| (format!("alias:user:{u}"), s.clone())).collect();
    loop {
        let (mut hashes, strings) = redis_contents(server);
        hashes.retain(|k, _| keep(k));
        if hashes == want_hashes && strings == want_aliases {
            break;
        }
        if started.elapsed() > timeout {
            let missing: Vec<_> =
                want_hashes.keys().filter(|k| hashes.get(*k) != want_hashes.get(*k)).take(3).collect();
            let extra: Vec<_> = hashes.keys().filter(|k| !want_hashes.contains_key(*k)).take(3).collect();
            let diff: Vec<_> = missing.iter().map(|k| (k, hashes.get(*k), want_hashes.get(*k))).collect();
            panic!(
                "Redis differs ({} hashes, {} expected; aliases {strings:?} vs {want_aliases:?})\nfirst differing: {diff:#?}\nunexpected: {extra:?}\n{}",
                hashes.len(),
                want_hashes.len(),
                log()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let mut c = server.connection().unwrap();
    for (key, (_, ttl)) in want.hashes.iter().filter(|(k, _)| keep(k)) {
        let pttl: i64 = redis::cmd("PTTL").arg(key).query(&mut c).unwrap();
        assert!(pttl > *ttl as i64 - 120_000 && pttl <= *ttl as i64, "{key}: PTTL {pttl}, TTL {ttl}");
    }
    for key in want_aliases.keys() {
        let pttl: i64 = redis::cmd("PTTL").arg(key).query(&mut c).unwrap();
        assert!(pttl > 30 * 86_400_000 - 120_000, "{key}: PTTL {pttl}");
    }
}
