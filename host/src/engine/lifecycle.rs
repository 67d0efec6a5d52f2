//! Operators coming and going between steps (hot load, reload and unload), and state migration.
//!
//! A new name is added. A known name replaces the running version: every key's state and timers
//! carry over when the state schema version and key kind are unchanged; when only the schema
//! changed and the new version can migrate, each key's state is converted at the swap (eagerly,
//! in chunks, all or nothing) before the new version sees an event; otherwise the state is
//! dropped. A removed name stops being called.

use super::failures::Health;
use super::keyed_state::KeyedState;
use super::{Engine, Operator, Runner};
use std::fmt;

/// At most this many keys' states go to one `migrate` call…
const MIGRATION_CHUNK_KEYS: usize = 1024;
/// …and at most about this many bytes of them (bounding what one call puts in the plugin's memory).
const MIGRATION_CHUNK_BYTES: usize = 1 << 20;

/// What installing an operator did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Installed {
    /// A plugin not running before.
    Added,
    /// Replaced the running version; its keys' state carried over untouched.
    StateKept {
        /// Keys whose state carried over.
        keys: usize,
    },
    /// Replaced the running version; its keys' state was converted by the new version's migration.
    StateMigrated {
        /// Keys whose state was converted.
        keys: usize,
        /// The replaced version's state schema.
        from_schema: u32,
        /// The new version's state schema.
        to_schema: u32,
    },
    /// Replaced the running version; its keys' state was dropped, for `reason`.
    StateDropped {
        /// Keys whose state was dropped.
        keys: usize,
        /// Why it was dropped.
        reason: String,
    },
}

/// The new version's migration failed: it was not installed and the running version stays,
/// its state untouched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationRefused {
    /// The plugin's name.
    pub plugin: String,
    /// The running version's state schema.
    pub from_schema: u32,
    /// The new version's state schema.
    pub to_schema: u32,
    /// Why the migration failed.
    pub reason: String,
}

impl fmt::Display for MigrationRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "plugin {:?}: migrating its state from schema {} to {} failed: {}",
            self.plugin, self.from_schema, self.to_schema, self.reason
        )
    }
}

impl std::error::Error for MigrationRefused {}

impl Engine {
    /// Adds `op`, or replaces the running operator of the same name. Call between steps.
    pub fn install(&mut self, mut op: Box<dyn Operator>) -> Result<Installed, MigrationRefused> {
        let name = op.descriptor().name.clone();
        let Some(runner) = self.runners.iter_mut().find(|r| r.descriptor.name == name) else {
            self.runners.push(Runner::new(op, &self.config, self.fresh_ids.is_some()));
            return Ok(Installed::Added);
        };
        let new = op.descriptor().clone();
        let (from_schema, to_schema) = (runner.descriptor.state_schema, new.state_schema);
        let keys = runner.state.keys();
        let installed = if new.key != runner.descriptor.key {
            let reason = format!("the key changed from {:?} to {:?}", runner.descriptor.key, new.key);
            Installed::StateDropped { keys, reason }
        } else if from_schema == to_schema {
            Installed::StateKept { keys }
        } else if !op.migrates() {
            let reason =
                format!("state schema {from_schema} → {to_schema} and the new version has no migration");
            Installed::StateDropped { keys, reason }
        } else {
            let all: Vec<u32> = runner.state.slots().map(|(id, _)| id).collect();
            let migrated =
                migrated_states(op.as_mut(), from_schema, &runner.state, &all, runner.state_limit).map_err(
                    |reason| MigrationRefused { plugin: name.clone(), from_schema, to_schema, reason },
                )?;
            for (slot, state) in migrated {
                runner.state.set_state(slot, &state);
            }
            runner.state.touch_all();
            Installed::StateMigrated { keys, from_schema, to_schema }
        };
        if matches!(installed, Installed::StateDropped { .. }) {
            runner.state.clear();
        }
        runner.max_window_ms = new.max_window_ms() as i64;
        runner.through_kind = super::through::kind_of(&new);
        runner.descriptor = new;
        runner.op = op;
        runner.take_quota(&self.config);
        // A new version starts with a clean record: a quarantine is lifted by a reload.
        runner.stats.health = Health::default();
        Ok(installed)
    }

    /// Stops calling the operator `name` and forgets its state; returns how many keys it held.
    /// Its Redis keys expire by their TTLs.
    pub fn uninstall(&mut self, name: &str) -> Option<usize> {
        let at = self.runners.iter().position(|r| r.descriptor.name == name)?;
        Some(self.runners.remove(at).state.keys())
    }
}

impl Runner {
    /// Converts the state of every key in place with the running operator's migration, or
    /// leaves it untouched and says why (see [`migrated_states`]).
    pub(super) fn migrate_in_place(&mut self, from_schema: u32) -> Result<(), String> {
        let all: Vec<u32> = self.state.slots().map(|(id, _)| id).collect();
        self.migrate_slots(from_schema, &all)
    }

    /// Converts the state of the slots `ids` in place (see [`migrated_states`]).
    pub(super) fn migrate_slots(&mut self, from_schema: u32, ids: &[u32]) -> Result<(), String> {
        let migrated = migrated_states(self.op.as_mut(), from_schema, &self.state, ids, self.state_limit)?;
        for (slot, state) in migrated {
            self.state.set_state(slot, &state);
        }
        Ok(())
    }
}

/// Every non-empty state of the slots `ids` of `state` converted from `from_schema` by `op`, by slot; an error when
/// a call fails or a converted state exceeds `state_limit` bytes. Nothing is applied here, so a
/// failure leaves the state as it was.
fn migrated_states(
    op: &mut dyn Operator,
    from_schema: u32,
    state: &KeyedState,
    ids: &[u32],
    state_limit: usize,
) -> Result<Vec<(u32, Vec<u8>)>, String> {
    let mut migrated = Vec::with_capacity(ids.len());
    let mut slots = Vec::new();
    let mut chunk = Vec::new();
    let mut chunk_bytes = 0;
    let mut pending =
        ids.iter().map(|&id| (id, state.slot(id))).filter(|(_, slot)| !slot.state.is_empty()).peekable();
    while pending.peek().is_some() {
        for (id, slot) in pending.by_ref() {
            slots.push(id);
            chunk.push(slot.state.clone());
            chunk_bytes += slot.state.len();
            if chunk.len() >= MIGRATION_CHUNK_KEYS || chunk_bytes >= MIGRATION_CHUNK_BYTES {
                break;
            }
        }
        let converted = op.migrate(from_schema, std::mem::take(&mut chunk)).map_err(|f| f.to_string())?;
        if converted.len() != slots.len() {
            return Err(format!("`migrate` returned {} states for {}", converted.len(), slots.len()));
        }
        for (id, bytes) in slots.drain(..).zip(converted) {
            if bytes.len() > state_limit {
                return Err(format!(
                    "key {:?}: the migrated state of {} bytes exceeds the limit of {state_limit}",
                    state.slot(id).key,
                    bytes.len()
                ));
            }
            migrated.push((id, bytes));
        }
        chunk_bytes = 0;
    }
    Ok(migrated)
}
