//! The operator trait: what the engine runs. A loaded plugin (Wasm or native) is an operator.

use live_shopper_abi::{Descriptor, Wire};
use std::fmt;

/// A plugin's own caps on the state the engine keeps for it; `None` takes the engine's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StateQuota {
    /// Largest state of one key (default: `EngineConfig::state_bytes_per_key`).
    pub per_key: Option<usize>,
    /// Largest state of all its keys together (default: no cap).
    pub total: Option<usize>,
}

/// Why an operator's call failed. The engine counts it and moves on; state is left as it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailureKind {
    /// The plugin trapped (a panic, an unreachable, an out-of-bounds access).
    Trap,
    /// The call ran past its CPU deadline.
    Timeout,
    /// The plugin hit its memory cap.
    OutOfMemory,
    /// The plugin returned an error result.
    PluginError,
    /// The plugin's output broke the contract (undecodable, wrong key count, wrong value count).
    BadOutput,
    /// A limit enforced by the host on the output or state was exceeded.
    LimitExceeded,
}

impl FailureKind {
    /// The kind's snake_case name, e.g. `out_of_memory`.
    pub fn as_str(&self) -> &'static str {
        match self {
            FailureKind::Trap => "trap",
            FailureKind::Timeout => "timeout",
            FailureKind::OutOfMemory => "out_of_memory",
            FailureKind::PluginError => "plugin_error",
            FailureKind::BadOutput => "bad_output",
            FailureKind::LimitExceeded => "limit_exceeded",
        }
    }
}

/// A failed call, with a human-readable reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorFailure {
    /// What kind of failure it was.
    pub kind: FailureKind,
    /// The human-readable reason.
    pub message: String,
}

impl OperatorFailure {
    /// A failure of `kind` for `message`.
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        OperatorFailure { kind, message: message.into() }
    }
}

impl fmt::Display for OperatorFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.as_str(), self.message)
    }
}

impl std::error::Error for OperatorFailure {}

/// Something that turns an encoded input batch into an encoded output batch
/// (formats in `live_shopper_abi::batch`).
pub trait Operator: Send {
    /// What the operator is: name, version, key, feature groups, the events it takes, its state schema.
    fn descriptor(&self) -> &Descriptor;

    /// Processes `input`, writing the answer to `output` (cleared first by the callee).
    fn process(&mut self, input: &[u8], output: &mut Vec<u8>) -> Result<(), OperatorFailure>;

    /// The batch wire version the operator reads (1 for a 0.1.0 component).
    fn wire(&self) -> Wire {
        Wire::V2
    }

    /// The settings it runs with, handed in every batch's header (wire version 2).
    fn settings(&self) -> &[(String, String)] {
        &[]
    }

    /// Its own caps on the state the engine keeps for it.
    fn state_quota(&self) -> StateQuota {
        StateQuota::default()
    }

    /// True when the operator can convert state written under another state schema
    /// ([`Operator::migrate`]); without it a schema change drops the state.
    fn migrates(&self) -> bool {
        false
    }

    /// Converts `states` (each one key's state, written under `from_schema`) into this
    /// operator's encoding, in order.
    fn migrate(&mut self, from_schema: u32, states: Vec<Vec<u8>>) -> Result<Vec<Vec<u8>>, OperatorFailure> {
        let _ = (from_schema, states);
        Err(OperatorFailure::new(FailureKind::PluginError, "this plugin has no state migration"))
    }
}
