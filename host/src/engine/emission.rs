//! Emissions: what the engine hands a sink when a plugin recomputes a feature group for a key.
//! How a store writes them (keys, HSET rules) is the sink's business (`sink/hash.rs`).

use live_shopper_abi::{FeatureGroup, FeatureValue, SignalDecl};

/// One recomputed group for one key, borrowed from the engine for the duration of the call.
#[derive(Debug, Clone, Copy)]
pub struct Emission<'a> {
    /// The emitting plugin's name.
    pub plugin: &'a str,
    /// The recomputed group, as the plugin's descriptor declares it.
    pub group: &'a FeatureGroup,
    /// The entity id (shopper or session).
    pub key: &'a str,
    /// The as-of time A; written as `updated_at`.
    pub as_of: i64,
    /// The final emission of a closing entity (a session).
    pub closed: bool,
    /// One value per `group.features`, in order.
    pub values: &'a [FeatureValue<'a>],
}

/// One signal a plugin emitted for a key (contract 0.2): a named record beside the features.
#[derive(Debug, Clone, Copy)]
pub struct Signal<'a> {
    /// The emitting plugin's name.
    pub plugin: &'a str,
    /// Its version.
    pub version: &'a str,
    /// The signal, as the plugin's descriptor declares it.
    pub signal: &'a SignalDecl,
    /// The key it was emitted for.
    pub key: &'a str,
    /// The as-of time A of the step that emitted it.
    pub as_of: i64,
    /// The time that names it: the timer tick that fired it, else its as-of. A tick does not
    /// depend on which events a step happened to hold, so a signal a timer fires has the same
    /// name on every run of the same input, however the hosts split and batched it.
    pub at: i64,
    /// One value per `signal.fields`, in order.
    pub values: &'a [FeatureValue<'a>],
}

/// Where emissions, signals and login aliases go: a feature store, an emission log, a counter.
pub trait EmissionSink {
    /// Takes one emission; its borrowed data lives only for the call.
    fn emit(&mut self, emission: &Emission<'_>);

    /// Takes one signal (a feature store ignores them; the signal outlets take them).
    fn signal(&mut self, _signal: &Signal<'_>) {}

    /// An event carried a login id: readers may look the shopper up by it.
    fn alias(&mut self, _user_id: &str, _shopper_id: &str) {}
}

/// Sends everything to two sinks.
pub struct Tee<'a, A: ?Sized, B: ?Sized>(pub &'a mut A, pub &'a mut B);

impl<A: EmissionSink + ?Sized, B: EmissionSink + ?Sized> EmissionSink for Tee<'_, A, B> {
    fn emit(&mut self, emission: &Emission<'_>) {
        self.0.emit(emission);
        self.1.emit(emission);
    }

    fn alias(&mut self, user_id: &str, shopper_id: &str) {
        self.0.alias(user_id, shopper_id);
        self.1.alias(user_id, shopper_id);
    }

    fn signal(&mut self, signal: &Signal<'_>) {
        self.0.signal(signal);
        self.1.signal(signal);
    }
}

/// Counts emissions without keeping them (benchmarks).
#[derive(Debug, Default)]
pub struct CountingSink {
    /// Emissions received.
    pub emissions: u64,
    /// Feature values over all emissions.
    pub values: u64,
    /// Login aliases received.
    pub aliases: u64,
}

impl EmissionSink for CountingSink {
    fn emit(&mut self, emission: &Emission<'_>) {
        self.emissions += 1;
        self.values += emission.values.len() as u64;
    }

    fn alias(&mut self, _: &str, _: &str) {
        self.aliases += 1;
    }
}
