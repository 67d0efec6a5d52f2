//! The schema-2 counter with a migration from schema 1 (8 little-endian bytes → decimal text).

pub mod counter;

use counter::CounterV2;
use live_shopper_sdk::Migrate;

impl Migrate for CounterV2 {
    fn migrate(from_schema: u32, old: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
        if from_schema != 1 {
            return Err(format!("cannot read state schema {from_schema}"));
        }
        let count = u64::from_le_bytes(old.try_into().map_err(|_| format!("{} bytes, not 8", old.len()))?);
        out.extend_from_slice(count.to_string().as_bytes());
        Ok(())
    }
}

live_shopper_sdk::export_plugin!(CounterV2, migrate);
