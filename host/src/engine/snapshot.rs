//! Engine snapshots for checkpoints: every operator's keyed state, as-of times and timers, the
//! dedup memory and the watermark, as one byte string. Restoring matches operators by name; a
//! plugin whose state schema version changed (or that is gone) starts empty, and the report says so.

use super::Engine;
use live_shopper_abi::codec::{Reader, Writer};
use thiserror::Error;

const MAGIC: u32 = u32::from_le_bytes(*b"LSCK");
const VERSION: u64 = 1;

#[derive(Debug, Error)]
pub enum SnapshotError {
    #[error("not a Live Shopper checkpoint")]
    NotACheckpoint,
    #[error("checkpoint format version {0} is not supported (this build reads {VERSION})")]
    Version(u64),
    #[error("corrupt checkpoint: {0}")]
    Corrupt(String),
}

/// What a restore did, per plugin.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RestoreReport {
    /// (plugin, keys restored)
    pub restored: Vec<(String, usize)>,
    /// (plugin, why its state was dropped)
    pub dropped: Vec<(String, String)>,
    pub dedup_ids: usize,
    pub watermark: i64,
}

impl Engine {
    /// Writes the engine's state into `out` (cleared first).
    pub fn snapshot(&self, out: &mut Vec<u8>) {
        out.clear();
        let mut w = Writer::to(out);
        w.u32_fixed(MAGIC);
        w.varint(VERSION);
        w.i64(self.watermark.current());
        w.varint(self.stats.events);
        w.varint(self.stats.duplicates);
        w.varint(self.dedup.len() as u64);
        for (t, id) in self.dedup.entries() {
            w.i64(t);
            w.i64((id >> 64) as i64);
            w.i64(id as i64);
        }
        w.varint(self.runners.len() as u64);
        for r in &self.runners {
            w.str(&r.descriptor.name);
            w.varint(r.descriptor.state_schema as u64);
            w.varint(r.state.keys() as u64);
            for slot in r.state.iter() {
                w.str(&slot.key);
                w.i64(slot.as_of);
                w.opt_i64(slot.timer);
                w.bytes(&slot.state);
            }
        }
    }

    /// Replaces the engine's state with a snapshot's. Call before any event is processed.
    pub fn restore(&mut self, bytes: &[u8]) -> Result<RestoreReport, SnapshotError> {
        let corrupt = |e: live_shopper_abi::codec::DecodeError| SnapshotError::Corrupt(e.to_string());
        let mut r = Reader::new(bytes);
        if r.u32_fixed().ok() != Some(MAGIC) {
            return Err(SnapshotError::NotACheckpoint);
        }
        let version = r.varint().map_err(corrupt)?;
        if version != VERSION {
            return Err(SnapshotError::Version(version));
        }
        let mut report = RestoreReport { watermark: r.i64().map_err(corrupt)?, ..RestoreReport::default() };
        self.watermark.advance_all(report.watermark);
        self.stats.events = r.varint().map_err(corrupt)?;
        self.stats.duplicates = r.varint().map_err(corrupt)?;
        let ids = r.count().map_err(corrupt)?;
        for _ in 0..ids {
            let t = r.i64().map_err(corrupt)?;
            let id =
                ((r.i64().map_err(corrupt)? as u64 as u128) << 64) | r.i64().map_err(corrupt)? as u64 as u128;
            self.dedup.restore(t, id);
        }
        report.dedup_ids = ids;
        let plugins = r.count().map_err(corrupt)?;
        for _ in 0..plugins {
            let name = r.str().map_err(corrupt)?.to_string();
            let schema = r.varint().map_err(corrupt)?;
            let keys = r.count().map_err(corrupt)?;
            let runner = self.runners.iter_mut().find(|x| x.descriptor.name == name);
            let keep = match runner.as_ref() {
                None => Err("the plugin is not loaded".to_string()),
                Some(x) if x.descriptor.state_schema as u64 != schema => Err(format!(
                    "state schema {schema} in the checkpoint, {} loaded; no migration here",
                    x.descriptor.state_schema
                )),
                Some(_) => Ok(()),
            };
            let mut runner = runner.filter(|_| keep.is_ok());
            for _ in 0..keys {
                let key = r.str().map_err(corrupt)?;
                let as_of = r.i64().map_err(corrupt)?;
                let timer = r.opt_i64().map_err(corrupt)?;
                let state = r.bytes().map_err(corrupt)?;
                if let Some(x) = runner.as_deref_mut() {
                    let slot = x.state.get_or_insert(key, as_of);
                    x.state.slot_mut(slot).as_of = as_of;
                    x.state.set_state(slot, state);
                    x.state.set_timer(slot, timer);
                }
            }
            match keep {
                Ok(()) => report.restored.push((name, keys)),
                Err(why) => report.dropped.push((name, why)),
            }
        }
        if !r.is_at_end() {
            return Err(SnapshotError::Corrupt("trailing bytes".into()));
        }
        Ok(report)
    }
}
