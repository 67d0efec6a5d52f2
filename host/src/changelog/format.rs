//! The changelog's records as bytes. Every key starts with the input topic and a NUL (Kafka
//! topic names cannot hold one), so partitions of several input topics can share a changelog
//! partition; then a tag:
//!
//! | key | value (`None`: a tombstone) |
//! |---|---|
//! | `topic \0 k plugin \0 key` | version, state schema, key kind, as-of, timer, state bytes |
//! | `topic \0 d seq` (8 bytes, big-endian) | the dedup ids one step took: (event time, id)… |
//! | `topic \0 p` | the input position the changelog covers, the watermark, the latest event time |
//!
//! The position record is what makes a restore exact: state and position come from the same
//! changelog, so the new owner resumes right after the last record the state includes.

use crate::engine::partitions::{KeyValue, RestoredKey};
use live_shopper_abi::codec::{Reader, Writer};
use thiserror::Error;

/// The version byte of a key value.
const KEY_VALUE_VERSION: u8 = 1;

/// A changelog record that does not decode.
#[derive(Debug, Error)]
#[error("changelog record {key:?}: {reason}")]
pub struct FormatError {
    /// The record's key, lossily as text.
    pub key: String,
    /// What is wrong with it.
    pub reason: String,
}

/// What a changelog record is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordKey<'a> {
    /// A plugin's key.
    State {
        /// The plugin's name.
        plugin: &'a str,
        /// The key.
        key: &'a str,
    },
    /// The dedup ids of one step, by its sequence number.
    Dedup(i64),
    /// The partition's position and watermark.
    Position,
    /// A new owner took the partition over (by a unique number): records before it that no
    /// position closed are a dead owner's step cut short, never to be completed.
    Takeover(i64),
}

/// The position record's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// The next input offset: every record before it is in the state.
    pub next_offset: i64,
    /// The partition's watermark.
    pub watermark: i64,
    /// The latest event time the partition saw.
    pub max_event_time: Option<i64>,
}

/// Writes the key of `what` for input `topic` into `out` (cleared first).
pub fn write_key(topic: &str, what: &RecordKey<'_>, out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(topic.as_bytes());
    out.push(0);
    match what {
        RecordKey::State { plugin, key } => {
            out.push(b'k');
            out.extend_from_slice(plugin.as_bytes());
            out.push(0);
            out.extend_from_slice(key.as_bytes());
        }
        RecordKey::Dedup(seq) => {
            out.push(b'd');
            out.extend_from_slice(&seq.to_be_bytes());
        }
        RecordKey::Position => out.push(b'p'),
        RecordKey::Takeover(seq) => {
            out.push(b't');
            out.extend_from_slice(&seq.to_be_bytes());
        }
    }
}

/// Reads a key: its input topic and what it is about.
pub fn read_key(bytes: &[u8]) -> Result<(&str, RecordKey<'_>), FormatError> {
    let bad = |reason: &str| FormatError {
        key: String::from_utf8_lossy(bytes).into_owned(),
        reason: reason.into(),
    };
    fn text(b: &[u8]) -> Result<&str, &'static str> {
        std::str::from_utf8(b).map_err(|_| "not UTF-8")
    }
    let nul = bytes.iter().position(|&b| b == 0).ok_or_else(|| bad("no topic"))?;
    let topic = text(&bytes[..nul]).map_err(bad)?;
    let rest = &bytes[nul + 1..];
    let what = match rest.split_first() {
        Some((b'k', rest)) => {
            let nul = rest.iter().position(|&b| b == 0).ok_or_else(|| bad("no plugin"))?;
            RecordKey::State {
                plugin: text(&rest[..nul]).map_err(bad)?,
                key: text(&rest[nul + 1..]).map_err(bad)?,
            }
        }
        Some((b'd', seq)) => {
            let seq: [u8; 8] = seq.try_into().map_err(|_| bad("a dedup sequence is 8 bytes"))?;
            RecordKey::Dedup(i64::from_be_bytes(seq))
        }
        Some((b'p', [])) => RecordKey::Position,
        Some((b't', seq)) => {
            let seq: [u8; 8] = seq.try_into().map_err(|_| bad("a takeover number is 8 bytes"))?;
            RecordKey::Takeover(i64::from_be_bytes(seq))
        }
        _ => return Err(bad("unknown tag")),
    };
    Ok((topic, what))
}

/// Writes a key's value into `out` (cleared first).
pub fn write_state(value: &KeyValue<'_>, out: &mut Vec<u8>) {
    out.clear();
    let mut w = Writer::to(out);
    w.u8(KEY_VALUE_VERSION);
    w.varint(value.schema as u64);
    w.u8(value.key_kind);
    w.i64(value.as_of);
    w.opt_i64(value.timer);
    w.bytes(value.state);
}

/// A decode error as the reason of a [`FormatError`].
fn reason(e: live_shopper_abi::codec::DecodeError) -> String {
    e.to_string()
}

/// `value` when the reader used every byte.
fn whole<T>(r: &Reader<'_>, value: T) -> Result<T, String> {
    r.is_at_end().then_some(value).ok_or_else(|| "trailing bytes".to_string())
}

/// Reads a key's value.
pub fn read_state(bytes: &[u8]) -> Result<RestoredKey, String> {
    let mut r = Reader::new(bytes);
    let version = r.u8().map_err(reason)?;
    if version != KEY_VALUE_VERSION {
        return Err(format!("state value version {version} (this build reads {KEY_VALUE_VERSION})"));
    }
    let schema = u32::try_from(r.varint().map_err(reason)?).map_err(|_| "state schema out of range")?;
    let value = RestoredKey {
        schema,
        key_kind: r.u8().map_err(reason)?,
        as_of: r.i64().map_err(reason)?,
        timer: r.opt_i64().map_err(reason)?,
        state: r.bytes().map_err(reason)?.to_vec(),
    };
    whole(&r, value)
}

/// Writes a step's dedup ids into `out` (cleared first).
pub fn write_dedup(ids: &[(i64, u128)], out: &mut Vec<u8>) {
    out.clear();
    let mut w = Writer::to(out);
    w.varint(ids.len() as u64);
    for &(t, id) in ids {
        w.i64(t);
        w.i64((id >> 64) as i64);
        w.i64(id as i64);
    }
}

/// Reads a step's dedup ids.
pub fn read_dedup(bytes: &[u8]) -> Result<Vec<(i64, u128)>, String> {
    let mut r = Reader::new(bytes);
    let n = r.count().map_err(reason)?;
    let mut ids = Vec::with_capacity(n.min(bytes.len() / 24));
    for _ in 0..n {
        let t = r.i64().map_err(reason)?;
        let hi = r.i64().map_err(reason)? as u64 as u128;
        let lo = r.i64().map_err(reason)? as u64 as u128;
        ids.push((t, (hi << 64) | lo));
    }
    whole(&r, ids)
}

/// Writes a position into `out` (cleared first).
pub fn write_position(p: &Position, out: &mut Vec<u8>) {
    out.clear();
    let mut w = Writer::to(out);
    w.i64(p.next_offset);
    w.i64(p.watermark);
    w.opt_i64(p.max_event_time);
}

/// Reads a position.
pub fn read_position(bytes: &[u8]) -> Result<Position, String> {
    let mut r = Reader::new(bytes);
    let p = Position {
        next_offset: r.i64().map_err(reason)?,
        watermark: r.i64().map_err(reason)?,
        max_event_time: r.opt_i64().map_err(reason)?,
    };
    whole(&r, p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_values_read_back_as_written() {
        let mut buf = Vec::new();
        for what in [
            RecordKey::State { plugin: "cart", key: "shopper\0with-nul" },
            RecordKey::Dedup(-5),
            RecordKey::Dedup(1 << 40),
            RecordKey::Position,
        ] {
            write_key("snowplow-enriched", &what, &mut buf);
            assert_eq!(read_key(&buf).unwrap(), ("snowplow-enriched", what));
        }
        assert!(read_key(b"no-nul").is_err());
        assert!(read_key(b"t\0x").is_err());

        let value = KeyValue { schema: 3, key_kind: 0, as_of: 42, timer: Some(60_000), state: b"abc" };
        write_state(&value, &mut buf);
        let back = read_state(&buf).unwrap();
        assert_eq!((back.schema, back.key_kind, back.as_of, back.timer), (3, 0, 42, Some(60_000)));
        assert_eq!(back.state, b"abc");
        assert!(read_state(&buf[..buf.len() - 1]).is_err());

        let ids = [(1, 7u128 << 100 | 9), (2, u128::MAX)];
        write_dedup(&ids, &mut buf);
        assert_eq!(read_dedup(&buf).unwrap(), ids);

        let p = Position { next_offset: 99, watermark: -3, max_event_time: None };
        write_position(&p, &mut buf);
        assert_eq!(read_position(&buf).unwrap(), p);
    }
}
