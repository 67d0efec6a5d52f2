//! Guest-side SDK for Live Shopper feature plugins.
//!
//! A plugin implements [`Plugin`] as pure Rust (testable natively) and exports it with
//! [`export_plugin!`]; one that changes its state encoding also implements [`Migrate`] and exports
//! with `export_plugin!(P, migrate)`. The SDK reads the batch, decodes each key's state, calls the plugin once
//! per key and writes emissions, timers and state back. It is the one place WIT bindings are
//! generated. See `docs/PLUGINS.md` for a walk-through.
#![deny(missing_docs)]

pub mod time;
pub mod timed_log;
pub mod window;

pub use live_shopper_abi as abi;
pub use live_shopper_abi::{
    Descriptor, DeviceClass, EventFields, EventKind, EventKinds, EventRef, FeatureGroup, KeyKind, ProductRef,
    SchemaCriterion, SettingDecl, SettingKind, Settings, SignalDecl, GLOBAL_KEY,
};
pub use timed_log::{TimedLog, WindowSpec};

use live_shopper_abi::{BatchReader, DecodeError, OutputWriter, StateOp};

/// WIT bindings of the `plugin` world (only meaningful on `wasm32`).
#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "plugin",
        pub_export_macro: true,
        export_macro_name: "export_wit_plugin",
        default_bindings_module: "live_shopper_sdk::bindings",
    });
}

/// WIT bindings of the `migration` world (the `state-migration` export), bound apart from
/// `plugin` so a plugin without a migration does not export it.
#[doc(hidden)]
pub mod migration_bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "migration",
        pub_export_macro: true,
        export_macro_name: "export_wit_migration",
        default_bindings_module: "live_shopper_sdk::migration_bindings",
    });
}

/// A plugin's per-key state, owned by the host between calls. Within a call it may borrow from
/// the batch (`'a`): strings in state and in events are slices of the same input buffer, so
/// decoding state need not allocate.
///
/// The SDK keeps one value per call and loads each key's state into it, so a state that reuses
/// its vectors in [`State::load`] and [`State::clear`] allocates nothing after the first keys.
pub trait State<'a>: Default {
    /// Replaces the contents with the state in `bytes`, written by [`State::encode`].
    fn load(&mut self, bytes: &'a [u8]) -> Result<(), DecodeError>;
    /// Empties the state (a key with none), keeping allocations for reuse.
    fn clear(&mut self);
    /// Appends the state's bytes to `out`.
    fn encode(&self, out: &mut Vec<u8>);
    /// True when the key holds nothing worth keeping (the host then frees it).
    fn is_empty(&self) -> bool;

    /// A fresh state read from `bytes`.
    fn decode(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        let mut state = Self::default();
        state.load(bytes)?;
        Ok(state)
    }
}

/// State of a plugin that keeps none (every step starts empty and the host stores nothing).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stateless;

impl State<'_> for Stateless {
    fn load(&mut self, _: &[u8]) -> Result<(), DecodeError> {
        Ok(())
    }
    fn clear(&mut self) {}
    fn encode(&self, _: &mut Vec<u8>) {}
    fn is_empty(&self) -> bool {
        true
    }
}

/// One step for one key: what the host hands the plugin.
#[derive(Debug)]
pub struct Step<'e, 'a> {
    /// The key (shopper, session, product, category, `global` or entity field) this step is for.
    pub key: &'a str,
    /// The as-of time A (FEATURES.md §2): never before the newest event or fired tick.
    pub as_of: i64,
    /// The timer that fired, when this step is a tick.
    pub tick: Option<i64>,
    /// This key's events of the batch, in arrival order.
    pub events: &'e [EventRef<'a>],
    /// The plugin's settings: each declared one, the operator's value or its default.
    pub settings: &'e Settings<'a>,
}

/// Where a plugin writes its emissions for the current key.
pub struct Emitter<'o, 'b> {
    out: &'o mut OutputWriter<'b>,
    /// The plugin's number of feature groups (signal `i` is output index `groups + i`), asked
    /// only when a signal is emitted, so a batch does not build the descriptor.
    group_count: fn() -> usize,
}

impl Emitter<'_, '_> {
    /// Starts the signal `signal` (its index in the descriptor's `signals`); push one value per
    /// declared field. The host sends it to the signal outlets with the plugin, version, key
    /// and as-of time.
    pub fn signal(&mut self, signal: u8) -> &mut Self {
        let groups = (self.group_count)() as u8;
        self.out.emission(groups.saturating_add(signal), false);
        self
    }

    /// Starts an emission of group `group` (index in the descriptor); push one value per feature.
    pub fn group(&mut self, group: u8) -> &mut Self {
        self.out.emission(group, false);
        self
    }

    /// Starts the final emission of a closing entity (a session); the emission log marks it.
    pub fn closing_group(&mut self, group: u8) -> &mut Self {
        self.out.emission(group, true);
        self
    }

    /// An integer feature value.
    pub fn int(&mut self, v: i64) -> &mut Self {
        self.out.int(v);
        self
    }

    /// A count, written as an integer.
    pub fn count(&mut self, v: usize) -> &mut Self {
        self.out.int(v as i64);
        self
    }

    /// A floating-point feature value.
    pub fn float(&mut self, v: f64) -> &mut Self {
        self.out.float(v);
        self
    }

    /// A boolean feature value.
    pub fn bool(&mut self, v: bool) -> &mut Self {
        self.out.bool(v);
        self
    }

    /// A text feature value.
    pub fn text(&mut self, v: &str) -> &mut Self {
        self.out.text(v);
        self
    }

    /// A list of texts as one feature value.
    pub fn list<'s>(&mut self, items: impl ExactSizeIterator<Item = &'s str>) -> &mut Self {
        self.out.list(items);
        self
    }

    /// A list whose items are each the concatenation of `N` parts, written without allocating.
    pub fn list_of_parts<'s, const N: usize>(
        &mut self,
        items: impl ExactSizeIterator<Item = [&'s str; N]>,
    ) -> &mut Self {
        self.out.list_of_parts(items);
        self
    }

    /// An event time as ISO-8601 text (`2025-03-14T22:42:30.344Z`), written without allocating.
    pub fn timestamp(&mut self, ms: i64) -> &mut Self {
        self.out.text(time::Iso8601::new(ms).as_str());
        self
    }
}

/// A feature plugin: pure logic over host-owned state.
pub trait Plugin {
    /// The per-key state, decoded from (and encoded back to) the bytes the host keeps.
    type State<'a>: State<'a>;

    /// What the plugin computes and receives: its groups, key, kinds and fields.
    fn descriptor() -> Descriptor;

    /// Folds `step.events` into `state`, emits the groups that changed as of `step.as_of`, and
    /// returns when the plugin next needs a tick for this key (`None`: no timer).
    fn step<'a>(state: &mut Self::State<'a>, step: &Step<'_, 'a>, out: &mut Emitter<'_, '_>) -> Option<i64>;
}

/// A plugin that reads the state its earlier versions wrote. When a new version bumps
/// `state_schema`, the host hands it every key's old state through [`Migrate::migrate`] at the
/// swap (and when it restores a checkpoint written by an older version).
pub trait Migrate: Plugin {
    /// Appends to `out` the state `old` — written by a version whose `state_schema` was
    /// `from_schema` — in this version's encoding. An error (say, a schema this version cannot
    /// read) refuses the new version on a hot reload (the running one stays, its state
    /// untouched) and stops the host's start when restoring a checkpoint.
    fn migrate(from_schema: u32, old: &[u8], out: &mut Vec<u8>) -> Result<(), String>;
}

/// Converts many keys' states with `P`, in order (what the Wasm `migrate` export calls).
pub fn migrate_states<P: Migrate>(from_schema: u32, states: Vec<Vec<u8>>) -> Result<Vec<Vec<u8>>, String> {
    states
        .iter()
        .enumerate()
        .map(|(i, old)| {
            let mut out = Vec::with_capacity(old.len());
            P::migrate(from_schema, old, &mut out).map_err(|e| format!("state {i} of the chunk: {e}"))?;
            Ok(out)
        })
        .collect()
}

/// Runs one encoded batch through `P`, writing the encoded output to `out`.
///
/// This is what the Wasm export calls; native hosts (tests, benchmarks) call it directly.
pub fn process_batch<P: Plugin>(batch: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
    let mut reader = BatchReader::new(batch).map_err(|e| format!("bad input batch: {e}"))?;
    let settings = Settings::new(std::mem::take(&mut reader.settings));
    let mut writer = OutputWriter::begin(out);
    let mut state_bytes = Vec::new();
    let mut events = Vec::new();
    let mut state = P::State::default();
    while let Some(key) = reader.next_key(&mut events).map_err(|e| format!("bad input batch: {e}"))? {
        if key.state.is_empty() {
            state.clear();
        } else {
            state.load(key.state).map_err(|e| format!("key {:?}: undecodable state: {e}", key.key))?;
        }
        writer.begin_key();
        let step =
            Step { key: key.key, as_of: key.as_of, tick: key.tick, events: &events, settings: &settings };
        let timer =
            P::step(&mut state, &step, &mut Emitter { out: &mut writer, group_count: group_count::<P> });
        if state.is_empty() {
            writer.end_key(None, StateOp::Clear);
        } else {
            state_bytes.clear();
            state.encode(&mut state_bytes);
            writer.end_key(timer, StateOp::Replace(&state_bytes));
        }
    }
    writer.finish();
    Ok(())
}

/// How many feature groups `P` declares.
fn group_count<P: Plugin>() -> usize {
    P::descriptor().groups.len()
}

/// Converts a native descriptor to the WIT record.
#[doc(hidden)]
pub fn wit_descriptor(d: &Descriptor) -> bindings::live_shopper::plugin::types::Descriptor {
    use bindings::live_shopper::plugin::types as wit;
    wit::Descriptor {
        name: d.name.clone(),
        version: d.version.clone(),
        key: match &d.key {
            KeyKind::Shopper => wit::KeyKind::Shopper,
            KeyKind::Session => wit::KeyKind::Session,
            KeyKind::Product => wit::KeyKind::Product,
            KeyKind::Category => wit::KeyKind::Category,
            KeyKind::Global => wit::KeyKind::Global,
            KeyKind::EntityField { entity, field } => {
                wit::KeyKind::EntityField(wit::EntityField { entity: *entity, field: field.clone() })
            }
        },
        groups: d
            .groups
            .iter()
            .map(|g| wit::FeatureGroup {
                name: g.name.clone(),
                redis_key: g.redis_key.clone(),
                window_ms: g.window_ms,
                emit_interval_ms: g.emit_interval_ms,
                ttl_ms: g.ttl_ms,
                features: g.features.clone(),
            })
            .collect(),
        event_kinds: wit::EventKinds::from_bits_retain(d.event_kinds.0 as _),
        event_fields: wit::EventFields::from_bits_retain(d.event_fields.0 as _),
        state_schema: d.state_schema,
        custom_events: d.custom_events.iter().map(SchemaCriterion::to_uri).collect(),
        entities: d.entities.iter().map(SchemaCriterion::to_uri).collect(),
        signals: d
            .signals
            .iter()
            .map(|s| wit::Signal { name: s.name.clone(), fields: s.fields.clone() })
            .collect(),
        settings: d
            .settings
            .iter()
            .map(|s| wit::Setting {
                name: s.name.clone(),
                kind: match s.kind {
                    SettingKind::Text => wit::SettingKind::Text,
                    SettingKind::Integer => wit::SettingKind::Integer,
                    SettingKind::Float => wit::SettingKind::Float,
                    SettingKind::Boolean => wit::SettingKind::Boolean,
                },
                default: s.default.clone(),
                min: s.min,
                max: s.max,
                doc: s.doc.clone(),
            })
            .collect(),
    }
}

/// The criterion for `uri` (`iglu:vendor/name/jsonschema/1-*-*`), for descriptors.
///
/// # Panics
/// When `uri` is malformed: a descriptor is a constant of the plugin, and the golden tests
/// call it natively.
pub fn schema(uri: &str) -> SchemaCriterion {
    SchemaCriterion::parse(uri).unwrap_or_else(|e| panic!("{e}"))
}

/// Builds a signal declaration from string slices (a convenience for descriptors).
pub fn signal<S: AsRef<str>>(name: &str, fields: &[S]) -> SignalDecl {
    SignalDecl { name: name.into(), fields: fields.iter().map(|f| f.as_ref().to_string()).collect() }
}

/// The body of the `process` export: one batch through `P`.
#[doc(hidden)]
pub fn process_export<P: Plugin>(batch: Vec<u8>) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(batch.len() / 2 + 64);
    process_batch::<P>(&batch, &mut out)?;
    Ok(out)
}

/// Exports a [`Plugin`] as the component's `feature-plugin` interface (on `wasm32` only, so the
/// same crate also builds natively for tests and benchmarks). `export_plugin!(P, migrate)` also
/// exports `state-migration` through `P`'s [`Migrate`] implementation.
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            struct Export;
            impl $crate::bindings::exports::live_shopper::plugin::feature_plugin::Guest for Export {
                fn describe() -> $crate::bindings::live_shopper::plugin::types::Descriptor {
                    $crate::wit_descriptor(&<$plugin as $crate::Plugin>::descriptor())
                }
                fn process(
                    batch: ::std::vec::Vec<u8>,
                ) -> ::std::result::Result<::std::vec::Vec<u8>, ::std::string::String> {
                    $crate::process_export::<$plugin>(batch)
                }
            }
            $crate::bindings::export_wit_plugin!(Export with_types_in $crate::bindings);
        };
    };
    ($plugin:ty, migrate) => {
        $crate::export_plugin!($plugin);
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            struct Export;
            impl $crate::migration_bindings::exports::live_shopper::plugin::state_migration::Guest for Export {
                fn migrate(
                    from_schema: u32,
                    states: ::std::vec::Vec<::std::vec::Vec<u8>>,
                ) -> ::std::result::Result<::std::vec::Vec<::std::vec::Vec<u8>>, ::std::string::String> {
                    $crate::migrate_states::<$plugin>(from_schema, states)
                }
            }
            $crate::migration_bindings::export_wit_migration!(Export with_types_in $crate::migration_bindings);
        };
    };
}

/// Builds a feature group from string slices (a convenience for descriptors).
pub fn group<S: AsRef<str>>(
    name: &str,
    redis_key: &str,
    window_ms: u64,
    emit_interval_ms: u64,
    ttl_ms: u64,
    features: &[S],
) -> FeatureGroup {
    FeatureGroup {
        name: name.into(),
        redis_key: redis_key.into(),
        window_ms,
        emit_interval_ms,
        ttl_ms,
        features: features.iter().map(|f| f.as_ref().to_string()).collect(),
    }
}

/// Milliseconds in a second, for descriptors.
pub const SECOND: u64 = 1_000;
/// Milliseconds in a minute.
pub const MINUTE: u64 = 60 * SECOND;
/// Milliseconds in an hour.
pub const HOUR: u64 = 60 * MINUTE;
/// Milliseconds in a day.
pub const DAY: u64 = 24 * HOUR;
