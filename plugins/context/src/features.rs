//! Context features of a shopper: locations, devices, platform, login, sessions, first and last
//! seen (FEATURES.md §4, context). No window; state is freed 30 days after the last event.

use crate::regions::RegionRuns;
use live_shopper_sdk::abi::{DecodeError, Reader, Writer};
use live_shopper_sdk::window::id_hash;
use live_shopper_sdk::{
    group, Descriptor, DeviceClass, Emitter, EventFields, EventKinds, EventRef, KeyKind, Plugin, State, Step,
    DAY,
};

/// How long a shopper's context is kept after their last event.
pub const RETENTION_MS: i64 = 30 * DAY as i64;
/// Locations kept, most recent first.
pub const MAX_LOCATIONS: usize = 10;

/// A location as (country, region, city); region and city may be empty.
pub type Location<'a> = [&'a str; 3];

/// A shopper's context, freed [`RETENTION_MS`] after their last event.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ContextState<'a> {
    /// (location, last seen), most recent first.
    pub locations: Vec<(Location<'a>, i64)>,
    /// (device class code, last seen), most recent first.
    pub devices: Vec<(u8, i64)>,
    /// (event time, platform) of the latest event with a platform.
    pub platform: Option<(i64, &'a str)>,
    /// (event time, user id) of the latest event with a login id.
    pub user_id: Option<(i64, &'a str)>,
    /// Hashes of the distinct session ids, sorted.
    pub sessions: Vec<u64>,
    /// Earliest event time seen, epoch ms.
    pub first_seen: i64,
    /// Latest event time seen, epoch ms.
    pub last_seen: i64,
    /// Events folded in; 0 for an empty state.
    pub events: u64,
    /// Runs of (country, region), for counting region changes.
    pub regions: RegionRuns<'a>,
}

/// The event's location; none without a country.
pub fn location<'a>(e: &EventRef<'a>) -> Option<Location<'a>> {
    let country = e.geo_country.filter(|c| !c.is_empty())?;
    Some([country, e.geo_region.unwrap_or_default(), e.geo_city.unwrap_or_default()])
}

/// The parts of `country/region/city` with empty parts (and their slashes) left out.
pub fn location_parts<'a>(loc: &Location<'a>) -> [&'a str; 5] {
    let slash = |part: &str| if part.is_empty() { "" } else { "/" };
    [loc[0], slash(loc[1]), loc[1], slash(loc[2]), loc[2]]
}

/// Moves `item` to its place in a most-recent-first list, keeping at most `cap`.
fn touch<T: PartialEq>(list: &mut Vec<(T, i64)>, item: T, t: i64, cap: usize) {
    match list.iter().position(|(x, _)| *x == item) {
        Some(i) if list[i].1 >= t => return,
        Some(i) => {
            list.remove(i);
        }
        None => {}
    }
    let at = list.partition_point(|(_, seen)| *seen >= t);
    list.insert(at, (item, t));
    list.truncate(cap);
}

fn latest<'a>(slot: &mut Option<(i64, &'a str)>, t: i64, value: Option<&'a str>) {
    if let Some(v) = value.filter(|v| !v.is_empty()) {
        if slot.is_none_or(|(at, _)| t >= at) {
            *slot = Some((t, v));
        }
    }
}

impl<'a> ContextState<'a> {
    /// Folds one event in (any order of arrival).
    pub fn apply(&mut self, e: &EventRef<'a>) {
        let t = e.event_time;
        if self.events == 0 {
            self.first_seen = t;
            self.last_seen = t;
        }
        self.events += 1;
        self.first_seen = self.first_seen.min(t);
        self.last_seen = self.last_seen.max(t);
        if let Some(loc) = location(e) {
            touch(&mut self.locations, loc, t, MAX_LOCATIONS);
        }
        touch(&mut self.devices, e.device_class as u8, t, usize::MAX);
        latest(&mut self.platform, t, e.platform);
        latest(&mut self.user_id, t, e.user_id);
        if let Some(s) = e.session_id.filter(|s| !s.is_empty()) {
            let h = id_hash(s);
            if let Err(at) = self.sessions.binary_search(&h) {
                self.sessions.insert(at, h);
            }
        }
        if let (Some(c), Some(r)) = (e.geo_country, e.geo_region.filter(|r| !r.is_empty())) {
            self.regions.record(t, c, r);
        }
    }

    fn emit(&self, out: &mut Emitter<'_, '_>) {
        let devices =
            self.devices.iter().map(|(d, _)| DeviceClass::from_code(*d).unwrap_or_default().as_str());
        out.group(0)
            .list_of_parts(self.locations.iter().map(|(l, _)| location_parts(l)))
            .list(devices)
            .text(self.platform.map_or("", |(_, p)| p))
            .int(self.regions.changes() as i64)
            .text(self.user_id.map_or("", |(_, u)| u))
            .count(self.sessions.len())
            .timestamp(self.first_seen)
            .timestamp(self.last_seen);
    }
}

impl<'a> State<'a> for ContextState<'a> {
    fn clear(&mut self) {
        self.locations.clear();
        self.devices.clear();
        self.platform = None;
        self.user_id = None;
        self.sessions.clear();
        self.first_seen = 0;
        self.last_seen = 0;
        self.events = 0;
        self.regions.clear();
    }

    fn load(&mut self, bytes: &'a [u8]) -> Result<(), DecodeError> {
        let mut r = Reader::new(bytes);
        self.clear();
        let s = self;
        for _ in 0..r.count()? {
            s.locations.push(([r.str()?, r.str()?, r.str()?], r.i64()?));
        }
        for _ in 0..r.count()? {
            s.devices.push((r.u8()?, r.i64()?));
        }
        s.platform = if r.bool()? { Some((r.i64()?, r.str()?)) } else { None };
        s.user_id = if r.bool()? { Some((r.i64()?, r.str()?)) } else { None };
        for _ in 0..r.count()? {
            s.sessions.push(r.i64()? as u64);
        }
        s.first_seen = r.i64()?;
        s.last_seen = r.i64()?;
        s.events = r.varint()?;
        s.regions.load(&mut r)?;
        Ok(())
    }

    fn encode(&self, out: &mut Vec<u8>) {
        let mut w = Writer::to(out);
        w.varint(self.locations.len() as u64);
        for (l, t) in &self.locations {
            for part in l {
                w.str(part);
            }
            w.i64(*t);
        }
        w.varint(self.devices.len() as u64);
        for (d, t) in &self.devices {
            w.u8(*d);
            w.i64(*t);
        }
        for slot in [&self.platform, &self.user_id] {
            match slot {
                None => w.bool(false),
                Some((t, v)) => {
                    w.bool(true);
                    w.i64(*t);
                    w.str(v);
                }
            }
        }
        w.varint(self.sessions.len() as u64);
        for h in &self.sessions {
            w.i64(*h as i64);
        }
        w.i64(self.first_seen);
        w.i64(self.last_seen);
        w.varint(self.events);
        self.regions.encode(&mut w);
    }

    fn is_empty(&self) -> bool {
        self.events == 0
    }
}

/// The context feature plugin.
pub struct ContextPlugin;

impl Plugin for ContextPlugin {
    type State<'a> = ContextState<'a>;

    fn descriptor() -> Descriptor {
        Descriptor {
            name: "context".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            key: KeyKind::Shopper,
            groups: vec![group(
                "context",
                "user:{key}:features:context",
                0,
                0,
                30 * DAY,
                &[
                    "shopper_locations",
                    "shopper_device_types",
                    "shopper_latest_platform",
                    "shopper_region_changes",
                    "shopper_user_id",
                    "shopper_session_count",
                    "shopper_first_seen",
                    "shopper_last_seen",
                ],
            )],
            event_kinds: EventKinds::ALL,
            event_fields: EventFields(
                EventFields::USER_ID
                    | EventFields::SESSION_ID
                    | EventFields::GEO
                    | EventFields::DEVICE_CLASS
                    | EventFields::PLATFORM,
            ),
            state_schema: 1,
            ..Descriptor::default()
        }
    }

    fn step<'a>(state: &mut ContextState<'a>, step: &Step<'_, 'a>, out: &mut Emitter<'_, '_>) -> Option<i64> {
        for e in step.events {
            state.apply(e);
        }
        if state.is_empty() {
            return None;
        }
        if step.tick.is_some_and(|t| t >= state.last_seen + RETENTION_MS) {
            state.clear();
            return None;
        }
        if !step.events.is_empty() {
            state.emit(out);
        }
        Some(state.last_seen + RETENTION_MS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t: i64) -> EventRef<'static> {
        EventRef { event_time: t, ..Default::default() }
    }

    #[test]
    fn locations_skip_empty_parts_and_need_a_country() {
        let mut e = at(1);
        e.geo_country = Some("GR");
        e.geo_region = Some("I");
        e.geo_city = Some("Athens");
        let text = |e: &EventRef<'_>| location(e).map(|l| location_parts(&l).concat());
        assert_eq!(text(&e).as_deref(), Some("GR/I/Athens"));
        e.geo_region = Some("");
        assert_eq!(text(&e).as_deref(), Some("GR/Athens"));
        e.geo_city = None;
        assert_eq!(text(&e).as_deref(), Some("GR"));
        e.geo_country = None;
        assert_eq!(location(&e), None);
    }

    #[test]
    fn lists_are_most_recent_first_and_distinct() {
        let mut s = ContextState::default();
        for (t, c) in [(1, "A"), (2, "B"), (3, "A"), (0, "C")] {
            let mut e = at(t);
            e.geo_country = Some(c);
            s.apply(&e);
        }
        let locs: Vec<&str> = s.locations.iter().map(|(l, _)| l[0]).collect();
        assert_eq!(locs, vec!["A", "B", "C"]);
        assert_eq!((s.first_seen, s.last_seen), (0, 3));
    }

    #[test]
    fn latest_login_and_platform_win_by_event_time() {
        let mut s = ContextState::default();
        let mut e = at(5);
        e.user_id = Some("new");
        e.platform = Some("web");
        s.apply(&e);
        let mut old = at(2);
        old.user_id = Some("old");
        old.platform = Some("mob");
        s.apply(&old);
        assert_eq!(s.user_id.unwrap().1, "new");
        assert_eq!(s.platform.unwrap().1, "web");
    }

    #[test]
    fn state_round_trips() {
        let mut s = ContextState::default();
        let mut e = at(5);
        e.user_id = Some("u");
        e.session_id = Some("s");
        e.geo_country = Some("GR");
        e.geo_region = Some("I");
        e.device_class = DeviceClass::Mobile;
        s.apply(&e);
        let mut bytes = Vec::new();
        s.encode(&mut bytes);
        assert_eq!(ContextState::decode(&bytes).unwrap(), s);
    }

    #[test]
    fn descriptor_is_valid() {
        ContextPlugin::descriptor().validate().unwrap();
    }
}
