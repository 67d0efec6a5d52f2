//! The batch format: one input buffer per plugin call (many keys, each with its state, its
//! fired tick and its events) and one output buffer back (per key: emissions, timer, state).
//!
//! Input:  `magic u32 | fields u32 | watermark i64 | n_keys u32 | [v2: flags u8 | settings] | key*`
//! settings (v2): `varint n | (name str, value str)*`; flags bit 0: events carry self-describing data
//! key:    `key str | as_of i64 | tick opt<i64> | state bytes | n_events u32 | event*`
//! event:  `Event::encode` | [flag set: custom u8 (0 none, i+1) | data str if custom | varint n | (index u8, data str)*]
//! Output: `magic u32 | n_keys u32 | key-out*` (same order as the input keys)
//! key-out:`n_emissions u32 | emission* | timer opt<i64> | state-op`
//! emission: `group u8 | closed u8 | n_values u32 | value*`; value: `tag u8 | payload`
//! state-op: `0` keep, `1` clear (the key holds no state), `2 bytes` replace.

use crate::codec::{DecodeError, Reader, Writer};
use crate::event::{Event, EventFields};
use crate::event_ref::EventRef;
use crate::value::{FeatureValue, StrList};
use crate::{Wire, WIRE_VERSION};
use std::ops::Range;

const INPUT_MAGIC_BASE: u32 = 0x4c53_4200; // "LSB" + version
const OUTPUT_MAGIC_BASE: u32 = 0x4c53_4f00; // "LSO" + version
const OUTPUT_MAGIC: u32 = OUTPUT_MAGIC_BASE | WIRE_VERSION;
/// Header flag: each event carries the self-describing section.
const FLAG_SELF_DESCRIBING: u8 = 1;

impl Wire {
    fn input_magic(self) -> u32 {
        INPUT_MAGIC_BASE
            | match self {
                Wire::V1 => 1,
                Wire::V2 => 2,
            }
    }
}

/// What an input batch's header says: the version, the event fields, the watermark and (from
/// version 2) the plugin's settings and whether events carry self-describing data.
#[derive(Debug, Clone, Copy)]
pub struct BatchHeader<'s> {
    /// The version the receiving component reads.
    pub wire: Wire,
    /// The optional event fields each event carries.
    pub fields: EventFields,
    /// Event time up to which input is complete.
    pub watermark: i64,
    /// The plugin's settings (version 2 only; ignored for version 1).
    pub settings: &'s [(String, String)],
    /// Whether events carry the self-describing section (version 2 only).
    pub self_describing: bool,
}

/// The self-describing data one event carries to one plugin: the custom event it subscribed to
/// (its index in the descriptor's `custom_events` and its data JSON) and the matching entities
/// (index in `entities`, data JSON).
#[derive(Debug, Clone, Copy, Default)]
pub struct SelfDescribingRefs<'e> {
    /// The matching custom event, if the event is one.
    pub custom: Option<(u8, &'e str)>,
    /// The matching entities, in record order.
    pub entities: &'e [(u8, &'e str)],
}

const TAG_INT: u8 = 0;
const TAG_FLOAT: u8 = 1;
const TAG_BOOL: u8 = 2;
const TAG_TEXT: u8 = 3;
const TAG_LIST: u8 = 4;

fn patch_u32(buf: &mut [u8], at: usize, v: u32) {
    buf[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

/// Host side: writes one input batch.
pub struct BatchWriter<'b> {
    buf: &'b mut Vec<u8>,
    fields: EventFields,
    self_describing: bool,
    n_keys: u32,
    events_at: Option<usize>,
    n_events: u32,
}

impl<'b> BatchWriter<'b> {
    /// Clears `buf` and starts a version-1 batch whose events carry `fields` (what a 0.1.0
    /// component reads; tests and tools that need no settings).
    pub fn begin(buf: &'b mut Vec<u8>, fields: EventFields, watermark: i64) -> Self {
        Self::with_header(
            buf,
            &BatchHeader { wire: Wire::V1, fields, watermark, settings: &[], self_describing: false },
        )
    }

    /// Clears `buf` and starts a batch with `header`.
    pub fn with_header(buf: &'b mut Vec<u8>, header: &BatchHeader<'_>) -> Self {
        buf.clear();
        let mut w = Writer::to(buf);
        w.u32_fixed(header.wire.input_magic());
        w.u32_fixed(header.fields.0);
        w.i64(header.watermark);
        w.u32_fixed(0);
        let self_describing = header.wire == Wire::V2 && header.self_describing;
        if header.wire == Wire::V2 {
            w.u8(if self_describing { FLAG_SELF_DESCRIBING } else { 0 });
            w.varint(header.settings.len() as u64);
            for (name, value) in header.settings {
                w.str(name);
                w.str(value);
            }
        }
        BatchWriter { buf, fields: header.fields, self_describing, n_keys: 0, events_at: None, n_events: 0 }
    }

    fn close_key(&mut self) {
        if let Some(at) = self.events_at.take() {
            patch_u32(self.buf, at, self.n_events);
        }
    }

    /// Starts a key; its events follow with [`BatchWriter::event`].
    pub fn key(&mut self, key: &str, as_of: i64, tick: Option<i64>, state: &[u8]) {
        self.close_key();
        self.n_keys += 1;
        let mut w = Writer::to(self.buf);
        w.str(key);
        w.i64(as_of);
        w.opt_i64(tick);
        w.bytes(state);
        self.events_at = Some(w.position());
        w.u32_fixed(0);
        self.n_events = 0;
    }

    /// Appends `event` to the current key, with only the batch's fields (and no
    /// self-describing data, when the batch carries that section).
    pub fn event(&mut self, event: &Event) {
        self.event_with(event, SelfDescribingRefs::default());
    }

    /// Appends `event` to the current key with the self-describing data this plugin gets of it
    /// (written only when the batch carries that section).
    pub fn event_with(&mut self, event: &Event, data: SelfDescribingRefs<'_>) {
        debug_assert!(self.events_at.is_some(), "event before key");
        let mut w = Writer::to(self.buf);
        event.encode(self.fields, &mut w);
        if self.self_describing {
            match data.custom {
                None => w.u8(0),
                Some((index, json)) => {
                    w.u8(index.saturating_add(1));
                    w.str(json);
                }
            }
            w.varint(data.entities.len() as u64);
            for (index, json) in data.entities {
                w.u8(*index);
                w.str(json);
            }
        }
        self.n_events += 1;
    }

    /// Keys started so far.
    pub fn keys(&self) -> u32 {
        self.n_keys
    }

    /// Patches the counts; the buffer then holds a complete batch.
    pub fn finish(mut self) {
        self.close_key();
        patch_u32(self.buf, 16, self.n_keys);
    }
}

/// One key of an input batch, as a guest reads it (its events go to a caller's buffer).
#[derive(Debug)]
pub struct KeyInput<'a> {
    /// The entity id (a shopper or session id) this step is for.
    pub key: &'a str,
    /// The as-of time A of this step (FEATURES.md §2).
    pub as_of: i64,
    /// The timer that fired for this key, if this step is (also) a tick.
    pub tick: Option<i64>,
    /// The key's state as the plugin last returned it; empty when it has none.
    pub state: &'a [u8],
}

/// Guest side: reads an input batch key by key.
pub struct BatchReader<'a> {
    r: Reader<'a>,
    fields: EventFields,
    self_describing: bool,
    /// Event time (ms since the Unix epoch) up to which the host considers input complete.
    pub watermark: i64,
    /// The plugin's settings (empty in a version-1 batch).
    pub settings: Vec<(&'a str, &'a str)>,
    keys_left: u32,
}

impl<'a> BatchReader<'a> {
    /// Starts reading the input batch `buf` (version 1 or 2), checking its header.
    pub fn new(buf: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(buf);
        let magic = r.u32_fixed()?;
        let wire = match magic {
            m if m == Wire::V1.input_magic() => Wire::V1,
            m if m == Wire::V2.input_magic() => Wire::V2,
            found => return Err(DecodeError::BadHeader { found }),
        };
        let fields = EventFields(r.u32_fixed()?);
        let watermark = r.i64()?;
        let keys_left = r.u32_fixed()?;
        let mut settings = Vec::new();
        let mut self_describing = false;
        if wire == Wire::V2 {
            self_describing = r.u8()? & FLAG_SELF_DESCRIBING != 0;
            let n = r.count()?;
            for _ in 0..n {
                settings.push((r.str()?, r.str()?));
            }
        }
        Ok(BatchReader { r, fields, self_describing, watermark, settings, keys_left })
    }

    /// The next key, or `None` at the end; its decoded events replace the contents of `events`
    /// (a buffer the caller reuses across keys).
    pub fn next_key(&mut self, events: &mut Vec<EventRef<'a>>) -> Result<Option<KeyInput<'a>>, DecodeError> {
        events.clear();
        if self.keys_left == 0 {
            return Ok(None);
        }
        self.keys_left -= 1;
        let key = self.r.str()?;
        let as_of = self.r.i64()?;
        let tick = self.r.opt_i64()?;
        let state = self.r.bytes()?;
        let n = self.r.u32_fixed()? as usize;
        for _ in 0..n {
            let mut event = EventRef::decode(self.fields, &mut self.r)?;
            if self.self_describing {
                event.read_self_describing(&mut self.r)?;
            }
            events.push(event);
        }
        Ok(Some(KeyInput { key, as_of, tick, state }))
    }
}

/// What a plugin does with a key's state after a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateOp<'s> {
    /// The key's state stays as it was.
    Keep,
    /// The key holds no state any more (its windows are empty, its session closed).
    Clear,
    /// The key's state becomes these bytes.
    Replace(&'s [u8]),
}

/// Guest side: writes the output of one call.
pub struct OutputWriter<'b> {
    buf: &'b mut Vec<u8>,
    n_keys: u32,
    emissions_at: usize,
    n_emissions: u32,
    values_at: Option<usize>,
    n_values: u32,
}

impl<'b> OutputWriter<'b> {
    /// Clears `buf` and starts an output; answer each input key with `begin_key` .. `end_key`.
    pub fn begin(buf: &'b mut Vec<u8>) -> Self {
        buf.clear();
        let mut w = Writer::to(buf);
        w.u32_fixed(OUTPUT_MAGIC);
        w.u32_fixed(0);
        OutputWriter { buf, n_keys: 0, emissions_at: 0, n_emissions: 0, values_at: None, n_values: 0 }
    }

    /// Starts the output of the next key (keys are answered in input order).
    pub fn begin_key(&mut self) {
        self.n_keys += 1;
        self.emissions_at = self.buf.len();
        Writer::to(self.buf).u32_fixed(0);
        self.n_emissions = 0;
    }

    fn close_emission(&mut self) {
        if let Some(at) = self.values_at.take() {
            patch_u32(self.buf, at, self.n_values);
        }
    }

    /// Starts an emission of `group` (its index in the descriptor); push its values next,
    /// one per declared feature, in order.
    pub fn emission(&mut self, group: u8, closed: bool) {
        self.close_emission();
        self.n_emissions += 1;
        let mut w = Writer::to(self.buf);
        w.u8(group);
        w.bool(closed);
        self.values_at = Some(w.position());
        w.u32_fixed(0);
        self.n_values = 0;
    }

    /// Pushes an integer value to the current emission.
    pub fn int(&mut self, v: i64) {
        let mut w = Writer::to(self.buf);
        w.u8(TAG_INT);
        w.zigzag(v);
        self.n_values += 1;
    }

    /// Pushes a float value to the current emission.
    pub fn float(&mut self, v: f64) {
        let mut w = Writer::to(self.buf);
        w.u8(TAG_FLOAT);
        w.f64(v);
        self.n_values += 1;
    }

    /// Pushes a boolean value to the current emission.
    pub fn bool(&mut self, v: bool) {
        let mut w = Writer::to(self.buf);
        w.u8(TAG_BOOL);
        w.bool(v);
        self.n_values += 1;
    }

    /// Pushes a string value to the current emission.
    pub fn text(&mut self, v: &str) {
        let mut w = Writer::to(self.buf);
        w.u8(TAG_TEXT);
        w.str(v);
        self.n_values += 1;
    }

    /// Pushes a list of strings to the current emission.
    pub fn list<'s>(&mut self, items: impl ExactSizeIterator<Item = &'s str>) {
        let mut w = Writer::to(self.buf);
        w.u8(TAG_LIST);
        w.varint(items.len() as u64);
        for item in items {
            w.str(item);
        }
        self.n_values += 1;
    }

    /// A list whose items are each the concatenation of some string parts (no allocation).
    pub fn list_of_parts<'s, const N: usize>(&mut self, items: impl ExactSizeIterator<Item = [&'s str; N]>) {
        let mut w = Writer::to(self.buf);
        w.u8(TAG_LIST);
        w.varint(items.len() as u64);
        for parts in items {
            w.varint(parts.iter().map(|p| p.len() as u64).sum());
            for p in parts {
                w.raw(p.as_bytes());
            }
        }
        self.n_values += 1;
    }

    /// Ends the current key with its next timer and what happens to its state.
    pub fn end_key(&mut self, timer: Option<i64>, state: StateOp<'_>) {
        self.close_emission();
        patch_u32(self.buf, self.emissions_at, self.n_emissions);
        let mut w = Writer::to(self.buf);
        w.opt_i64(timer);
        match state {
            StateOp::Keep => w.u8(0),
            StateOp::Clear => w.u8(1),
            StateOp::Replace(bytes) => {
                w.u8(2);
                w.bytes(bytes);
            }
        }
    }

    /// Patches the key count; the buffer then holds a complete output.
    pub fn finish(self) {
        patch_u32(self.buf, 4, self.n_keys);
    }
}

/// One emission read back by the host: its values are a range of the call's value buffer.
#[derive(Debug, Clone, PartialEq)]
pub struct EmissionOut {
    /// Index of the emitted group in the descriptor's `groups`, or, from `groups.len()` on,
    /// of the emitted signal in `signals` (offset by the group count).
    pub group: u8,
    /// The final emission of a closing entity (a session).
    pub closed: bool,
    /// Where its values are in the call's value buffer (one per feature of the group).
    pub values: Range<usize>,
}

/// One key's answer, read back by the host: its emissions are a range of the call's emission
/// buffer.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyOutput<'a> {
    /// Where its emissions are in the call's emission buffer.
    pub emissions: Range<usize>,
    /// The event time (ms) of the key's next tick, if it asked for one.
    pub timer: Option<i64>,
    /// What happens to the key's state.
    pub state: StateOp<'a>,
}

/// Host side: reads a call's output.
pub struct OutputReader<'a> {
    r: Reader<'a>,
    keys_left: u32,
}

impl<'a> OutputReader<'a> {
    /// Starts reading the output `buf`, checking its header.
    pub fn new(buf: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(buf);
        let magic = r.u32_fixed()?;
        // Version 1 and 2 outputs have the same layout (2 may name signals).
        if magic != OUTPUT_MAGIC && magic != OUTPUT_MAGIC_BASE | 1 {
            return Err(DecodeError::BadHeader { found: magic });
        }
        let keys_left = r.u32_fixed()?;
        Ok(OutputReader { r, keys_left })
    }

    /// Keys left to read.
    pub fn keys(&self) -> u32 {
        self.keys_left
    }

    /// The next key's answer, appending its emissions and values to the call-wide buffers.
    pub fn next_key(
        &mut self,
        emissions: &mut Vec<EmissionOut>,
        values: &mut Vec<FeatureValue<'a>>,
    ) -> Result<Option<KeyOutput<'a>>, DecodeError> {
        if self.keys_left == 0 {
            return Ok(None);
        }
        self.keys_left -= 1;
        let r = &mut self.r;
        let n = r.u32_fixed()? as usize;
        let first_emission = emissions.len();
        for _ in 0..n {
            let group = r.u8()?;
            let closed = r.bool()?;
            let nv = r.u32_fixed()? as usize;
            let first_value = values.len();
            for _ in 0..nv {
                let at = r.position();
                values.push(match r.u8()? {
                    TAG_INT => FeatureValue::Int(r.zigzag()?),
                    TAG_FLOAT => FeatureValue::Float(r.f64()?),
                    TAG_BOOL => FeatureValue::Bool(r.bool()?),
                    TAG_TEXT => FeatureValue::Text(r.str()?),
                    TAG_LIST => {
                        let k = r.count()?;
                        FeatureValue::List(StrList::read(r, k)?)
                    }
                    tag => return Err(DecodeError::BadTag { at, what: "value", tag }),
                });
            }
            emissions.push(EmissionOut { group, closed, values: first_value..values.len() });
        }
        let timer = r.opt_i64()?;
        let at = r.position();
        let state = match r.u8()? {
            0 => StateOp::Keep,
            1 => StateOp::Clear,
            2 => StateOp::Replace(r.bytes()?),
            tag => return Err(DecodeError::BadTag { at, what: "state op", tag }),
        };
        Ok(Some(KeyOutput { emissions: first_emission..emissions.len(), timer, state }))
    }
}

#[cfg(test)]
mod tests;
