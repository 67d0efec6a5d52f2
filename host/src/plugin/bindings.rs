//! Host-side bindings generated from the WIT contracts in `wit/`: 0.2.0 (`wit/world.wit`) and
//! the 0.1.0 it extends (`wit/0.1.0/`), and the one face over both the rest of the module uses.

use super::host_state::PluginHost;
use live_shopper_abi::{Descriptor, Wire};
use wasmtime::component::{Instance, InstancePre};
use wasmtime::Store;

/// Bindings of `live-shopper:plugin@0.2.0`.
pub mod v0_2 {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "plugin",
    });
}

/// Bindings of `live-shopper:plugin@0.1.0` (components built before contract 0.2).
pub mod v0_1 {
    wasmtime::component::bindgen!({
        path: "../wit/0.1.0",
        world: "plugin",
    });
}

/// A component checked against one of the contracts, ready to instantiate.
#[derive(Clone)]
pub enum PluginPre {
    /// A 0.1.0 component.
    V1(v0_1::PluginPre<PluginHost>),
    /// A 0.2.0 component.
    V2(v0_2::PluginPre<PluginHost>),
}

impl PluginPre {
    /// Checks the component's exports against 0.2.0, then 0.1.0; the error names both.
    pub fn new(instance_pre: InstancePre<PluginHost>) -> Result<Self, String> {
        let newer = match v0_2::PluginPre::new(instance_pre.clone()) {
            Ok(pre) => return Ok(PluginPre::V2(pre)),
            Err(e) => format!("{e:#}"),
        };
        match v0_1::PluginPre::new(instance_pre) {
            Ok(pre) => Ok(PluginPre::V1(pre)),
            Err(older) => Err(format!(
                "it matches neither live-shopper:plugin@0.2.0 ({newer}) nor live-shopper:plugin@0.1.0 ({older:#})"
            )),
        }
    }

    /// The pre-instantiated component.
    pub fn instance_pre(&self) -> &InstancePre<PluginHost> {
        match self {
            PluginPre::V1(pre) => pre.instance_pre(),
            PluginPre::V2(pre) => pre.instance_pre(),
        }
    }

    /// The batch wire version the component reads.
    pub fn wire(&self) -> Wire {
        match self {
            PluginPre::V1(_) => Wire::V1,
            PluginPre::V2(_) => Wire::V2,
        }
    }

    /// The contract's package, e.g. `live-shopper:plugin@0.2.0`.
    pub fn contract(&self) -> &'static str {
        match self {
            PluginPre::V1(_) => "live-shopper:plugin@0.1.0",
            PluginPre::V2(_) => "live-shopper:plugin@0.2.0",
        }
    }

    /// The optional export that converts older state, in this contract's version.
    pub fn migration_interface(&self) -> &'static str {
        match self {
            PluginPre::V1(_) => "live-shopper:plugin/state-migration@0.1.0",
            PluginPre::V2(_) => "live-shopper:plugin/state-migration@0.2.0",
        }
    }

    /// The typed exports of `instance`, an instance of this component.
    pub fn exports(
        &self,
        store: &mut Store<PluginHost>,
        instance: &Instance,
    ) -> wasmtime::Result<PluginExports> {
        Ok(match self {
            PluginPre::V1(_) => PluginExports::V1(v0_1::Plugin::new(store, instance)?),
            PluginPre::V2(_) => PluginExports::V2(v0_2::Plugin::new(store, instance)?),
        })
    }
}

/// The exports of a live instance, in whichever contract it was built for.
pub enum PluginExports {
    /// A 0.1.0 instance.
    V1(v0_1::Plugin),
    /// A 0.2.0 instance.
    V2(v0_2::Plugin),
}

impl PluginExports {
    /// Calls `describe`; the inner error is a descriptor the host cannot read (a malformed schema).
    pub fn describe(&self, store: &mut Store<PluginHost>) -> wasmtime::Result<Result<Descriptor, String>> {
        Ok(match self {
            PluginExports::V1(p) => Ok(super::descriptor::from_wit_0_1(
                p.live_shopper_plugin_feature_plugin().call_describe(store)?,
            )),
            PluginExports::V2(p) => {
                super::descriptor::from_wit(p.live_shopper_plugin_feature_plugin().call_describe(store)?)
            }
        })
    }

    /// Calls `process` on one encoded batch.
    pub fn process(
        &self,
        store: &mut Store<PluginHost>,
        input: &[u8],
    ) -> wasmtime::Result<Result<Vec<u8>, String>> {
        match self {
            PluginExports::V1(p) => p.live_shopper_plugin_feature_plugin().call_process(store, input),
            PluginExports::V2(p) => p.live_shopper_plugin_feature_plugin().call_process(store, input),
        }
    }
}
