//! The vocabulary the host and every plugin share: the normalised event, a plugin's descriptor,
//! feature values, and the compact binary batch format that crosses the Wasm boundary.
//!
//! The format is documented in `docs/ABI.md`. Everything here is plain Rust with no
//! dependencies, so it compiles both into the host and into `wasm32-wasip2` guests.

pub mod batch;
pub mod codec;
pub mod descriptor;
pub mod event;
pub mod event_ref;
pub mod value;

pub use batch::{
    BatchReader, BatchWriter, EmissionOut, KeyInput, KeyOutput, OutputReader, OutputWriter, StateOp,
};
pub use codec::{DecodeError, Reader, Writer};
pub use descriptor::{Descriptor, FeatureGroup, KeyKind};
pub use event::{
    DeviceClass, Event, EventFields, EventKind, EventKinds, Geo, Marketing, Page, Product, Refund,
    Transaction,
};
pub use event_ref::{EventRef, ProductRef};
pub use value::{FeatureValue, StrList};

/// Version of the batch wire format; bumped on any incompatible change.
pub const WIRE_VERSION: u32 = 1;
