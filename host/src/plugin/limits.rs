//! Per-plugin resource limits and their defaults.

use std::time::Duration;

/// What one plugin may use. Exceeding a limit fails that plugin's batch only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Cap on the plugin's linear memory. Default 64 MiB.
    pub memory_bytes: usize,
    /// CPU deadline per call, enforced by epoch interruption. Default 200 ms.
    pub cpu_per_call: Duration,
    /// Largest output one call may return. Default 64 MiB.
    pub output_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { memory_bytes: 64 << 20, cpu_per_call: Duration::from_millis(200), output_bytes: 64 << 20 }
    }
}
