//! Operators coming and going between steps (hot load, reload and unload): a new name is added,
//! a known name replaces the running version — keeping every key's state and timers when the
//! state schema version and key kind are unchanged, dropping them otherwise — and a removed
//! name stops being called.

use super::failures::Health;
use super::keyed_state::KeyedState;
use super::{Engine, Operator, Runner};

/// What installing an operator did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Installed {
    /// A plugin not running before.
    Added,
    /// Replaced the running version; its keys' state carried over untouched.
    StateKept { keys: usize },
    /// Replaced the running version; its keys' state was dropped, for `reason`.
    StateDropped { keys: usize, reason: String },
}

impl Engine {
    /// Adds `op`, or replaces the running operator of the same name. Call between steps.
    pub fn install(&mut self, op: Box<dyn Operator>) -> Installed {
        let name = op.descriptor().name.clone();
        let Some(runner) = self.runners.iter_mut().find(|r| r.descriptor.name == name) else {
            self.runners.push(Runner::new(op, &self.config));
            return Installed::Added;
        };
        let new = op.descriptor().clone();
        let keys = runner.state.keys();
        let dropped = if new.key != runner.descriptor.key {
            Some(format!("the key changed from {:?} to {:?}", runner.descriptor.key, new.key))
        } else if new.state_schema != runner.descriptor.state_schema {
            Some(format!(
                "state schema {} → {} and this host has no migration path yet",
                runner.descriptor.state_schema, new.state_schema
            ))
        } else {
            None
        };
        if dropped.is_some() {
            runner.state = KeyedState::default();
        }
        runner.max_window_ms = new.max_window_ms() as i64;
        runner.descriptor = new;
        runner.op = op;
        // A new version starts with a clean record: a quarantine is lifted by a reload.
        runner.stats.health = Health::default();
        match dropped {
            None => Installed::StateKept { keys },
            Some(reason) => Installed::StateDropped { keys, reason },
        }
    }

    /// Stops calling the operator `name` and forgets its state; returns how many keys it held.
    /// Its Redis keys expire by their TTLs.
    pub fn uninstall(&mut self, name: &str) -> Option<usize> {
        let at = self.runners.iter().position(|r| r.descriptor.name == name)?;
        Some(self.runners.remove(at).state.keys())
    }
}
