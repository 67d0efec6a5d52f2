//! Feature values and their string form in Redis and the emission log (FEATURES.md §3).

use crate::codec::Reader;
use std::fmt::Write as _;

/// One feature value as a plugin emitted it, borrowed from the plugin's output buffer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FeatureValue<'a> {
    /// An integer, written without a decimal point.
    Int(i64),
    /// A float; NaN and infinities are written as 0.
    Float(f64),
    /// `true` or `false`.
    Bool(bool),
    /// A string, written as is.
    Text(&'a str),
    /// A list of strings, written as a JSON array.
    List(StrList<'a>),
}

/// A list of strings still in its wire form (already validated), read without allocating.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StrList<'a> {
    len: usize,
    items: &'a [u8],
}

impl<'a> StrList<'a> {
    /// Reads a list of `len` length-prefixed UTF-8 strings from `r`, checking every item.
    pub(crate) fn read(r: &mut Reader<'a>, len: usize) -> Result<Self, crate::DecodeError> {
        let start = r.clone();
        for _ in 0..len {
            r.str()?;
        }
        let items = start.slice_to(r);
        Ok(StrList { len, items })
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the list has no items.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The items, in order.
    pub fn iter(&self) -> impl Iterator<Item = &'a str> + 'a {
        let mut r = Reader::new(self.items);
        (0..self.len).map(move |_| r.str().expect("validated when read"))
    }
}

impl FeatureValue<'_> {
    /// The Redis string: integers without a decimal point, floats in shortest round-trip form
    /// (Rust's `Display`, so `3.0` is `3`), `true`/`false`, lists as JSON arrays of strings.
    pub fn write_redis_string(&self, out: &mut String) {
        match self {
            FeatureValue::Int(v) => {
                let _ = write!(out, "{v}");
            }
            FeatureValue::Float(v) => {
                // NaN and infinities are not valid feature values; write 0 rather than "NaN".
                let v = if v.is_finite() { *v } else { 0.0 };
                let v = if v == 0.0 { 0.0 } else { v }; // no "-0"
                let _ = write!(out, "{v}");
            }
            FeatureValue::Bool(v) => out.push_str(if *v { "true" } else { "false" }),
            FeatureValue::Text(s) => out.push_str(s),
            FeatureValue::List(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_json_string(item, out);
                }
                out.push(']');
            }
        }
    }

    /// The Redis string, in a new `String` (see [`FeatureValue::write_redis_string`]).
    pub fn to_redis_string(&self) -> String {
        let mut s = String::new();
        self.write_redis_string(&mut s);
        s
    }
}

/// Writes `s` as a JSON string literal.
pub fn write_json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::FeatureValue::*;
    use super::StrList;
    use crate::Reader;

    #[test]
    fn redis_strings_follow_the_contract() {
        assert_eq!(Int(3).to_redis_string(), "3");
        assert_eq!(Float(3.0).to_redis_string(), "3");
        assert_eq!(Float(42.99).to_redis_string(), "42.99");
        assert_eq!(Float(0.1 + 0.2).to_redis_string(), "0.30000000000000004");
        assert_eq!(Float(-0.0).to_redis_string(), "0");
        assert_eq!(Float(f64::NAN).to_redis_string(), "0");
        assert_eq!(Bool(true).to_redis_string(), "true");
        let mut buf = Vec::new();
        let mut w = crate::Writer::to(&mut buf);
        w.str("GR/I/Athens");
        w.str("a\"b");
        let list = StrList::read(&mut Reader::new(&buf), 2).unwrap();
        assert_eq!(List(list).to_redis_string(), r#"["GR/I/Athens","a\"b"]"#);
        assert_eq!(List(StrList::read(&mut Reader::new(&[]), 0).unwrap()).to_redis_string(), "[]");
    }
}
