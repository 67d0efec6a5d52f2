//! A loaded plugin component run as an engine operator: one store and instance, rebuilt from
//! the pre-instantiated component after any trap, with the CPU deadline set per call. The
//! optional `state-migration` export is looked up by name (it is not part of every component).

use super::bindings::{Plugin, PluginPre};
use super::descriptor::from_wit;
use super::epoch::{EpochTicker, EPOCH_TICK};
use super::error::LoadError;
use super::host_state::PluginHost;
use super::limits::Limits;
use crate::engine::{FailureKind, Operator, OperatorFailure};
use live_shopper_abi::Descriptor;
use std::sync::Arc;
use wasmtime::component::{ComponentExportIndex, Instance, TypedFunc};
use wasmtime::{Engine, Store, Trap};

/// The optional export that converts older state (`wit/world.wit`, world `migrating-plugin`).
const MIGRATION_INTERFACE: &str = "live-shopper:plugin/state-migration@0.1.0";

/// `migrate: func(from-schema: u32, states: list<list<u8>>) -> result<list<list<u8>>, string>`
type MigrateFunc = TypedFunc<(u32, Vec<Vec<u8>>), (Result<Vec<Vec<u8>>, String>,)>;

/// A live instance: its store, the typed exports and the instance itself.
struct Live {
    store: Store<PluginHost>,
    plugin: Plugin,
    instance: Instance,
}

/// A plugin component run as an [`Operator`] within its [`Limits`].
pub struct WasmOperator {
    engine: Engine,
    _ticker: Arc<EpochTicker>,
    pre: PluginPre<PluginHost>,
    limits: Limits,
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
            migrate_export: None,
            live: None,
            instances: 0,
            from_compiled_cache: false,
        };
        let wrong_migration = |reason: String| LoadError::Contract {
            origin: origin.into(),
            contract: super::CONTRACT_VERSION,
            reason: format!("its `{MIGRATION_INTERFACE}` export {reason}"),
        };
        let component = op.pre.instance_pre().component();
        if let Some(interface) = component.get_export_index(None, MIGRATION_INTERFACE) {
            let migrate = component.get_export_index(Some(&interface), "migrate");
            op.migrate_export = Some(migrate.ok_or_else(|| wrong_migration("has no `migrate`".into()))?);
        }
        let live = op.live().map_err(|f| describe_error(f.to_string()))?;
        let described = live
            .plugin
            .live_shopper_plugin_feature_plugin()
            .call_describe(&mut live.store)
            .map_err(|e| describe_error(format!("{e:#}")))?;
        if op.migrate_export.is_some() {
            op.migrate_func()
                .map_err(|reason| wrong_migration(format!("has the wrong `migrate` type: {reason}")))?;
        }
        let descriptor = from_wit(described);
        descriptor.validate().map_err(|reason| LoadError::Descriptor { origin: origin.into(), reason })?;
        op.descriptor = descriptor;
        Ok(op)
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
                .and_then(|instance| Ok((Plugin::new(&mut store, &instance)?, instance)));
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
        let result = live.plugin.live_shopper_plugin_feature_plugin().call_process(&mut live.store, input);
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
