//! The schema-2 counter without a migration: a reload from schema 1 drops the state.

#[path = "../../counter-v2/src/counter.rs"]
pub mod counter;

live_shopper_sdk::export_plugin!(counter::CounterV2);
