//! A plugin that reports what its sandbox lets it see: environment, arguments, clock, files.

use live_shopper_sdk::{
    group, Descriptor, Emitter, EventFields, EventKinds, KeyKind, Plugin, Stateless, Step,
};

/// The plugin that emits what it can see: env var and argument counts, wall clock, `/` and file access.
pub struct SandboxProbe;

impl Plugin for SandboxProbe {
    type State<'a> = Stateless;

    fn descriptor() -> Descriptor {
        Descriptor {
            name: "sandbox-probe".into(),
            version: "0.0.1".into(),
            key: KeyKind::Shopper,
            groups: vec![group(
                "probe",
                "test:{key}:probe",
                0,
                0,
                60_000,
                &["env_vars", "args", "wall_clock_secs", "root_dir_listable", "file_creatable"],
            )],
            event_kinds: EventKinds::ALL,
            event_fields: EventFields(0),
            state_schema: 1,
            ..Descriptor::default()
        }
    }

    fn step(_: &mut Stateless, _: &Step<'_, '_>, out: &mut Emitter<'_, '_>) -> Option<i64> {
        let clock = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(-1, |d| d.as_secs() as i64);
        out.group(0)
            .count(std::env::vars().count())
            .count(std::env::args().count())
            .int(clock)
            .bool(std::fs::read_dir("/").is_ok())
            .bool(std::fs::write("probe.txt", b"x").is_ok());
        None
    }
}

live_shopper_sdk::export_plugin!(SandboxProbe);
