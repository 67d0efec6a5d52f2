//! A loaded plugin component run as an engine operator: one store and instance, rebuilt from
//! the pre-instantiated component after any trap, with the CPU deadline set per call, under its
//! own limits and with its own settings. The optional `state-migration` export is looked up by
//! name (it is not part of every component).

use super::bindings::{PluginExports, PluginPre};
use super::epoch::{EpochTicker, EPOCH_TICK};
use super::error::LoadError;
use super::host_state::PluginHost;
use super::limits::{Limits, PluginPolicy};
use crate::engine::{FailureKind, Operator, OperatorFailure, StateQuota};
use live_shopper_abi::{Descriptor, Wire};
use std::sync::Arc;
use wasmtime::component::{ComponentExportIndex, Instance, TypedFunc};
use wasmtime::{Engine, Store, Trap};

/// `migrate: func(from-schema: u32, states: list<list<u8>>) -> result<list<list<u8>>, string>`
type MigrateFunc = TypedFunc<(u32, Vec<Vec<u8>>), (Result<Vec<Vec<u8>>, String>,)>;

/// A live instance: its store, the typed exports and the instance itself.
struct Live {
    store: Store<PluginHost>,
    plugin: PluginExports,
    instance: Instance,
}

/// A plugin component run as an [`Operator`] within its [`Limits`].
pub struct WasmOperator {
    engine: Engine,
    _ticker: Arc<EpochTicker>,
    pre: PluginPre,
    limits: Limits,
    settings: Vec<(String, String)>,
    descriptor: Descriptor,
    content_hash: String,
    /// Where the `migrate` function is, when the component exports the migration interface.
    migrate_export: Option<ComponentExportIndex>,
    live: Option<Live>,
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
        pre: PluginPre,
        policy: &PluginPolicy,
        content_hash: String,
    ) -> Result<Self, LoadError> {
        let describe_error = |reason: String| LoadError::Describe { origin: origin.into(), reason };
        let migration_interface = pre.migration_interface();
        let contract = pre.contract();
        let mut op = WasmOperator {
            engine,
            _ticker: ticker,
            pre,
            limits: policy.defaults,
            settings: Vec::new(),
            descriptor: Descriptor::default(),
            content_hash,
            migrate_export: None,
            live: None,
            instances: 0,
            from_compiled_cache: false,
        };
        let wrong_migration = |reason: String| LoadError::Contract {
            origin: origin.into(),
            contract,
            reason: format!("its `{migration_interface}` export {reason}"),
        };
        let component = op.pre.instance_pre().component();
        if let Some(interface) = component.get_export_index(None, migration_interface) {
            let migrate = component.get_export_index(Some(&interface), "migrate");
            op.migrate_export = Some(migrate.ok_or_else(|| wrong_migration("has no `migrate`".into()))?);
        }
        let live = op.live().map_err(|f| describe_error(f.to_string()))?;
        let descriptor = live
            .plugin
            .describe(&mut live.store)
            .map_err(|e| describe_error(format!("{e:#}")))?
            .map_err(|reason| LoadError::Descriptor { origin: origin.into(), reason })?;
        if op.migrate_export.is_some() {
            op.migrate_func()
                .map_err(|reason| wrong_migration(format!("has the wrong `migrate` type: {reason}")))?;
        }
        descriptor.validate().map_err(|reason| LoadError::Descriptor { origin: origin.into(), reason })?;
        if let Some(signal) = policy.unmapped_signal(&descriptor) {
            return Err(LoadError::UnmappedSignal { origin: origin.into(), signal: signal.to_string() });
        }
        op.settings = policy
            .settings_for(&descriptor)
            .map_err(|reason| LoadError::Settings { origin: origin.into(), reason })?;
        let limits = policy.limits_for(&descriptor.name);
        if limits != op.limits {
            // The next call instantiates afresh under the plugin's own caps.
            op.limits = limits;
            op.live = None;
        }
        op.descriptor = descriptor;
        Ok(op)
    }

    /// The contract the component was built against, e.g. `live-shopper:plugin@0.2.0`.
    pub fn contract(&self) -> &'static str {
        self.pre.contract()
    }

    /// Hex SHA-256 of the component's `.wasm` bytes.
    pub fn content_hash(&self) -> &str {
        &self.content_hash
    }

    /// The limits the plugin runs under.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The live store and instance, instantiating afresh when there is none.
    fn live(&mut self) -> Result<&mut Live, OperatorFailure> {
        if self.live.is_none() {
            let mut store = Store::new(&self.engine, PluginHost::new(self.limits.memory_bytes));
            store.limiter(|host| &mut host.memory);
            store.set_epoch_deadline(self.deadline_ticks());
            let instantiated = self
                .pre
                .instance_pre()
                .instantiate(&mut store)
                .and_then(|instance| Ok((self.pre.exports(&mut store, &instance)?, instance)));
            let (plugin, instance) = instantiated.map_err(|e| {
                OperatorFailure::new(FailureKind::Trap, format!("instantiation failed: {e:#}"))
            })?;
            self.instances += 1;
            self.live = Some(Live { store, plugin, instance });
        }
        Ok(self.live.as_mut().expect("just built"))
    }

    /// The live instance's typed `migrate` function (a type mismatch is the error).
    fn migrate_func(&mut self) -> Result<MigrateFunc, String> {
        let export = self.migrate_export.ok_or("no migration export")?;
        let live = self.live().map_err(|f| f.to_string())?;
        live.instance.get_typed_func(&mut live.store, export).map_err(|e| format!("{e:#}"))
    }

    /// Sorts out a call that did not return: drops the instance (a trapped instance refuses
    /// further calls; the next call rebuilds it) and names what went wrong.
    fn failed_call(&mut self, error: &wasmtime::Error) -> OperatorFailure {
        let live = self.live.take().expect("live instance");
        self.classify(live.store.data(), error)
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
        let live = self.live()?;
        live.store.set_epoch_deadline(ticks);
        let result = live.plugin.process(&mut live.store, input);
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
            Err(error) => Err(self.failed_call(&error)),
        }
    }

    fn wire(&self) -> Wire {
        self.pre.wire()
    }

    fn settings(&self) -> &[(String, String)] {
        &self.settings
    }

    fn state_quota(&self) -> StateQuota {
        StateQuota { per_key: self.limits.state_bytes_per_key, total: self.limits.state_bytes_total }
    }

    fn migrates(&self) -> bool {
        self.migrate_export.is_some()
    }

    fn migrate(&mut self, from_schema: u32, states: Vec<Vec<u8>>) -> Result<Vec<Vec<u8>>, OperatorFailure> {
        let func = self.migrate_func().map_err(|e| OperatorFailure::new(FailureKind::PluginError, e))?;
        let ticks = self.deadline_ticks();
        let live = self.live()?;
        live.store.set_epoch_deadline(ticks);
        let count = states.len();
        match func.call(&mut live.store, (from_schema, states)) {
            Ok((Ok(migrated),)) if migrated.len() == count => Ok(migrated),
            Ok((Ok(migrated),)) => Err(OperatorFailure::new(
                FailureKind::BadOutput,
                format!("`migrate` returned {} states for {count}", migrated.len()),
            )),
            Ok((Err(message),)) => Err(OperatorFailure::new(FailureKind::PluginError, message)),
            Err(error) => Err(self.failed_call(&error)),
        }
    }
}
