//! A loaded plugin component run as an engine operator: one store and instance, rebuilt from
//! the pre-instantiated component after any trap, with the CPU deadline set per call.

use super::bindings::{Plugin, PluginPre};
use super::descriptor::from_wit;
use super::error::LoadError;
use super::host_state::PluginHost;
use super::limits::Limits;
use super::runtime::{EpochTicker, EPOCH_TICK};
use crate::engine::{FailureKind, Operator, OperatorFailure};
use live_shopper_abi::Descriptor;
use std::sync::Arc;
use wasmtime::{Engine, Store, Trap};

pub struct WasmOperator {
    engine: Engine,
    _ticker: Arc<EpochTicker>,
    pre: PluginPre<PluginHost>,
    limits: Limits,
    descriptor: Descriptor,
    content_hash: String,
    live: Option<(Store<PluginHost>, Plugin)>,
    /// Instances built so far (1 + rebuilds after failures).
    pub instances: u64,
    /// The component came from the compiled-component cache (no compilation).
    pub from_compiled_cache: bool,
}

impl WasmOperator {
    pub(super) fn new(
        origin: &str,
        engine: Engine,
        ticker: Arc<EpochTicker>,
        pre: PluginPre<PluginHost>,
        limits: Limits,
        content_hash: String,
    ) -> Result<Self, LoadError> {
        let describe_error = |reason: String| LoadError::Describe { origin: origin.into(), reason };
        let mut op = WasmOperator {
            engine,
            _ticker: ticker,
            pre,
            limits,
            descriptor: Descriptor {
                name: String::new(),
                version: String::new(),
                key: live_shopper_abi::KeyKind::Shopper,
                groups: Vec::new(),
                event_kinds: Default::default(),
                event_fields: Default::default(),
                state_schema: 0,
            },
            content_hash,
            live: None,
            instances: 0,
            from_compiled_cache: false,
        };
        let (store, plugin) = op.live().map_err(|f| describe_error(f.to_string()))?;
        let described = plugin
            .live_shopper_plugin_feature_plugin()
            .call_describe(store)
            .map_err(|e| describe_error(format!("{e:#}")))?;
        let descriptor = from_wit(described);
        descriptor.validate().map_err(|reason| LoadError::Descriptor { origin: origin.into(), reason })?;
        op.descriptor = descriptor;
        Ok(op)
    }

    pub fn content_hash(&self) -> &str {
        &self.content_hash
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The live store and instance, instantiating afresh when there is none.
    fn live(&mut self) -> Result<(&mut Store<PluginHost>, &Plugin), OperatorFailure> {
        if self.live.is_none() {
            let mut store = Store::new(&self.engine, PluginHost::new(self.limits.memory_bytes));
            store.limiter(|host| &mut host.memory);
            store.set_epoch_deadline(self.deadline_ticks());
            let plugin = self.pre.instantiate(&mut store).map_err(|e| {
                OperatorFailure::new(FailureKind::Trap, format!("instantiation failed: {e:#}"))
            })?;
            self.instances += 1;
            self.live = Some((store, plugin));
        }
        let (store, plugin) = self.live.as_mut().expect("just built");
        Ok((store, plugin))
    }

    fn deadline_ticks(&self) -> u64 {
        (self.limits.cpu_per_call.as_millis() as u64).div_ceil(EPOCH_TICK.as_millis() as u64).max(1)
    }

    /// Names what went wrong in a failed call.
    fn classify(&self, host: &PluginHost, error: &wasmtime::Error) -> OperatorFailure {
        if host.memory.denied {
            return OperatorFailure::new(
                FailureKind::OutOfMemory,
                format!("memory cap of {} bytes exceeded", self.limits.memory_bytes),
            );
        }
        if error.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
            return OperatorFailure::new(
                FailureKind::Timeout,
                format!("CPU deadline of {:?} per call exceeded", self.limits.cpu_per_call),
            );
        }
        let stderr = host.stderr_text();
        let detail =
            if stderr.is_empty() { format!("{error:#}") } else { format!("{error:#}; stderr: {stderr}") };
        OperatorFailure::new(FailureKind::Trap, detail)
    }
}

impl Operator for WasmOperator {
    fn descriptor(&self) -> &Descriptor {
        &self.descriptor
    }

    fn process(&mut self, input: &[u8], output: &mut Vec<u8>) -> Result<(), OperatorFailure> {
        let ticks = self.deadline_ticks();
        let (store, plugin) = self.live()?;
        store.set_epoch_deadline(ticks);
        let result = plugin.live_shopper_plugin_feature_plugin().call_process(&mut *store, input);
        match result {
            Ok(Ok(bytes)) => {
                if bytes.len() > self.limits.output_bytes {
                    return Err(OperatorFailure::new(
                        FailureKind::LimitExceeded,
                        format!(
                            "output of {} bytes exceeds the limit of {}",
                            bytes.len(),
                            self.limits.output_bytes
                        ),
                    ));
                }
                *output = bytes;
                Ok(())
            }
            Ok(Err(message)) => Err(OperatorFailure::new(FailureKind::PluginError, message)),
            Err(error) => {
                // After a trap an instance refuses further calls: drop it and rebuild on the next call.
                let (store, _) = self.live.take().expect("live instance");
                Err(self.classify(store.data(), &error))
            }
        }
    }
}
