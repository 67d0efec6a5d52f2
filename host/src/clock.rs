//! The wall clock, in the units the host uses: milliseconds (TTLs, live event times) and
//! microseconds (freshness) since the Unix epoch. Replay and the engine never read it.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the epoch.
pub fn wall_ms() -> i64 {
    wall_us() / 1_000
}

/// Microseconds since the epoch (0 if the clock is before it).
pub fn wall_us() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as i64).unwrap_or(0)
}
