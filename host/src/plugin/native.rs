//! The default plugins compiled natively into the host, run through the same batch format.
//! Used by benchmarks (the Wasm overhead ratio) and engine tests; production runs the Wasm.

use crate::engine::{FailureKind, Operator, OperatorFailure};
use live_shopper_abi::Descriptor;
use live_shopper_sdk::Plugin;

/// A plugin's pure logic as an operator, with no sandbox.
pub struct NativeOperator {
    descriptor: Descriptor,
    process: fn(&[u8], &mut Vec<u8>) -> Result<(), String>,
    settings: Vec<(String, String)>,
}

impl NativeOperator {
    /// Plugin `P` as an operator, with its settings' defaults.
    pub fn of<P: Plugin>() -> Self {
        let descriptor = P::descriptor();
        let settings = descriptor.settings.iter().map(|s| (s.name.clone(), s.default.clone())).collect();
        NativeOperator { descriptor, process: live_shopper_sdk::process_batch::<P>, settings }
    }

    /// The same operator with `settings` (name, value) instead of the defaults (not checked:
    /// a test's or benchmark's choice).
    pub fn with_settings(mut self, settings: Vec<(String, String)>) -> Self {
        self.settings = settings;
        self
    }
}

impl Operator for NativeOperator {
    fn descriptor(&self) -> &Descriptor {
        &self.descriptor
    }

    fn process(&mut self, input: &[u8], output: &mut Vec<u8>) -> Result<(), OperatorFailure> {
        (self.process)(input, output).map_err(|m| OperatorFailure::new(FailureKind::PluginError, m))
    }

    fn settings(&self) -> &[(String, String)] {
        &self.settings
    }
}

// Defines `default_set() -> Vec<NativeOperator>` from `plugins/DEFAULT_PLUGINS` (build script).
include!(concat!(env!("OUT_DIR"), "/native_twins.rs"));
