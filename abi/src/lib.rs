//! The vocabulary the host and every plugin share: the normalised event, a plugin's descriptor,
//! feature values, and the compact binary batch format that crosses the Wasm boundary.
//!
//! The format is documented in `docs/ABI.md`. Everything here is plain Rust with no
//! dependencies, so it compiles both into the host and into `wasm32-wasip2` guests.

pub mod batch;
pub mod codec;
pub mod contract;
pub mod descriptor;
pub mod event;
pub mod event_ref;
pub mod value;

pub use batch::{
    BatchHeader, BatchReader, BatchWriter, EmissionOut, KeyInput, KeyOutput, OutputReader, OutputWriter,
    SelfDescribingRefs, StateOp,
};
pub use codec::{DecodeError, Reader, Writer};
pub use contract::{SchemaCriterion, SettingDecl, SettingKind, Settings, SignalDecl};
pub use descriptor::{Descriptor, FeatureGroup, KeyKind, GLOBAL_KEY};
pub use event::{
    DeviceClass, Event, EventFields, EventKind, EventKinds, Geo, Marketing, Page, Product, Refund,
    SelfDescribing, Transaction,
};
pub use event_ref::{EventRef, ProductRef};
pub use value::{FeatureValue, StrList};

/// Version of the batch wire format; bumped on any incompatible change. Version 2 (contract
/// 0.2) adds settings to the input header and self-describing data to events; the host still
/// writes version 1 for 0.1.0 components ([`Wire`]).
pub const WIRE_VERSION: u32 = 2;

/// The wire version one batch is written in: what the receiving component was built for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Wire {
    /// Contract 0.1.0: no settings, no self-describing data.
    V1,
    /// Contract 0.2.0.
    #[default]
    V2,
}
