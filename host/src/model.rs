//! The normalised event model the whole host works on (defined in `live-shopper-abi`, shared
//! with plugins), re-exported here so the rest of the host names it in one place.

pub use live_shopper_abi::{
    DeviceClass, Event, EventKind, Geo, Marketing, Page, Product, Refund, Transaction,
};
