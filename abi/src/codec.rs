//! Byte-level primitives of the wire format: little-endian fixed ints and floats, LEB128 lengths,
//! length-prefixed strings and optional values.

use std::fmt;

/// Why a buffer could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The buffer ended before the value did.
    Truncated {
        /// Byte offset of the read that ran past the end.
        at: usize,
        /// What was being read, e.g. `varint` or `string`.
        wanted: &'static str,
    },
    /// A string was not valid UTF-8.
    Utf8 {
        /// Byte offset where the string's bytes start.
        at: usize,
    },
    /// A tag byte had a value the format does not define.
    BadTag {
        /// Byte offset of the tag.
        at: usize,
        /// What the tag selects, e.g. `value` or `state op`.
        what: &'static str,
        /// The tag byte read.
        tag: u8,
    },
    /// The buffer did not start with the expected header.
    BadHeader {
        /// The first `u32` of the buffer, read in place of the magic number.
        found: u32,
    },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Truncated { at, wanted } => {
                write!(f, "buffer ends at byte {at} while reading {wanted}")
            }
            DecodeError::Utf8 { at } => write!(f, "invalid UTF-8 in string at byte {at}"),
            DecodeError::BadTag { at, what, tag } => write!(f, "unknown {what} tag {tag} at byte {at}"),
            DecodeError::BadHeader { found } => write!(f, "bad batch header {found:#x}"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Appends values to a caller-owned byte buffer (so its capacity is reused across batches).
#[derive(Debug)]
pub struct Writer<'b> {
    buf: &'b mut Vec<u8>,
}

impl<'b> Writer<'b> {
    /// A writer appending to `buf` (its existing contents are kept).
    pub fn to(buf: &'b mut Vec<u8>) -> Self {
        Writer { buf }
    }

    #[inline]
    fn out(&mut self) -> &mut Vec<u8> {
        self.buf
    }

    /// Bytes written so far (including what the buffer held before).
    pub fn position(&self) -> usize {
        self.buf.len()
    }

    /// One byte.
    #[inline]
    pub fn u8(&mut self, v: u8) {
        self.out().push(v);
    }

    /// A bool as one byte: 0 or 1.
    #[inline]
    pub fn bool(&mut self, v: bool) {
        self.u8(v as u8);
    }

    /// A `u32` as 4 little-endian bytes.
    #[inline]
    pub fn u32_fixed(&mut self, v: u32) {
        self.out().extend_from_slice(&v.to_le_bytes());
    }

    /// An `i64` as 8 little-endian bytes.
    #[inline]
    pub fn i64(&mut self, v: i64) {
        self.out().extend_from_slice(&v.to_le_bytes());
    }

    /// An `f64` as 8 little-endian bytes.
    #[inline]
    pub fn f64(&mut self, v: f64) {
        self.out().extend_from_slice(&v.to_le_bytes());
    }

    /// Unsigned LEB128.
    #[inline]
    pub fn varint(&mut self, mut v: u64) {
        let out = self.out();
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    /// Signed zig-zag LEB128.
    #[inline]
    pub fn zigzag(&mut self, v: i64) {
        self.varint(((v << 1) ^ (v >> 63)) as u64);
    }

    /// Bytes prefixed with their length as a varint.
    #[inline]
    pub fn bytes(&mut self, v: &[u8]) {
        self.varint(v.len() as u64);
        self.out().extend_from_slice(v);
    }

    /// Bytes with no length prefix (the caller wrote one).
    #[inline]
    pub fn raw(&mut self, v: &[u8]) {
        self.out().extend_from_slice(v);
    }

    /// A string: varint length, then its UTF-8 bytes.
    #[inline]
    pub fn str(&mut self, v: &str) {
        self.bytes(v.as_bytes());
    }

    /// An optional string: length + 1, or 0 for none.
    #[inline]
    pub fn opt_str(&mut self, v: Option<&str>) {
        match v {
            None => self.varint(0),
            Some(s) => {
                self.varint(s.len() as u64 + 1);
                self.out().extend_from_slice(s.as_bytes());
            }
        }
    }

    /// An optional `f64`: a flag byte (0 none, 1 some), then the value.
    #[inline]
    pub fn opt_f64(&mut self, v: Option<f64>) {
        match v {
            None => self.u8(0),
            Some(x) => {
                self.u8(1);
                self.f64(x);
            }
        }
    }

    /// An optional `i64`: a flag byte (0 none, 1 some), then the value.
    #[inline]
    pub fn opt_i64(&mut self, v: Option<i64>) {
        match v {
            None => self.u8(0),
            Some(x) => {
                self.u8(1);
                self.i64(x);
            }
        }
    }

    /// An optional varint: value + 1, or 0 for none.
    #[inline]
    pub fn opt_varint(&mut self, v: Option<u64>) {
        match v {
            None => self.varint(0),
            Some(x) => self.varint(x + 1),
        }
    }
}

/// Reads values back from a byte slice, borrowing strings from it.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// Bytes read so far: the offset of the next read.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// The bytes between this reader's position and `later`'s (a clone advanced past them).
    pub fn slice_to(&self, later: &Reader<'a>) -> &'a [u8] {
        &self.buf[self.pos..later.pos]
    }

    /// Whether the whole buffer has been read.
    pub fn is_at_end(&self) -> bool {
        self.pos >= self.buf.len()
    }

    #[inline]
    fn take(&mut self, n: usize, wanted: &'static str) -> Result<&'a [u8], DecodeError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        match end {
            Some(end) => {
                let s = &self.buf[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            None => Err(DecodeError::Truncated { at: self.pos, wanted }),
        }
    }

    /// One byte.
    #[inline]
    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1, "u8")?[0])
    }

    /// A bool byte; any non-zero value is true.
    #[inline]
    pub fn bool(&mut self) -> Result<bool, DecodeError> {
        Ok(self.u8()? != 0)
    }

    /// A `u32` from 4 little-endian bytes.
    #[inline]
    pub fn u32_fixed(&mut self) -> Result<u32, DecodeError> {
        let b = self.take(4, "u32")?;
        Ok(u32::from_le_bytes(b.try_into().expect("4 bytes")))
    }

    /// An `i64` from 8 little-endian bytes.
    #[inline]
    pub fn i64(&mut self) -> Result<i64, DecodeError> {
        let b = self.take(8, "i64")?;
        Ok(i64::from_le_bytes(b.try_into().expect("8 bytes")))
    }

    /// An `f64` from 8 little-endian bytes.
    #[inline]
    pub fn f64(&mut self) -> Result<f64, DecodeError> {
        let b = self.take(8, "f64")?;
        Ok(f64::from_le_bytes(b.try_into().expect("8 bytes")))
    }

    /// Unsigned LEB128; bits beyond the 64th are dropped.
    #[inline]
    pub fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut v = 0u64;
        let mut shift = 0;
        loop {
            let b = self.take(1, "varint")?[0];
            if shift < 64 {
                v |= ((b & 0x7f) as u64) << shift;
            }
            if b & 0x80 == 0 {
                return Ok(v);
            }
            shift += 7;
        }
    }

    /// Signed zig-zag LEB128.
    #[inline]
    pub fn zigzag(&mut self) -> Result<i64, DecodeError> {
        let v = self.varint()?;
        Ok(((v >> 1) as i64) ^ -((v & 1) as i64))
    }

    #[inline]
    /// A LEB128 count or length.
    pub fn count(&mut self) -> Result<usize, DecodeError> {
        Ok(self.varint()? as usize)
    }

    /// Bytes prefixed with their varint length, borrowed from the buffer.
    #[inline]
    pub fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let n = self.count()?;
        self.take(n, "bytes")
    }

    #[inline]
    fn utf8(&self, b: &'a [u8]) -> Result<&'a str, DecodeError> {
        std::str::from_utf8(b).map_err(|_| DecodeError::Utf8 { at: self.pos - b.len() })
    }

    /// A length-prefixed UTF-8 string, borrowed from the buffer.
    #[inline]
    pub fn str(&mut self) -> Result<&'a str, DecodeError> {
        let b = self.bytes()?;
        self.utf8(b)
    }

    /// An optional string: length + 1, or 0 for none.
    #[inline]
    pub fn opt_str(&mut self) -> Result<Option<&'a str>, DecodeError> {
        match self.varint()? {
            0 => Ok(None),
            n => {
                let b = self.take(n as usize - 1, "string")?;
                self.utf8(b).map(Some)
            }
        }
    }

    /// An optional `f64`: a flag byte, then the value when the flag is non-zero.
    #[inline]
    pub fn opt_f64(&mut self) -> Result<Option<f64>, DecodeError> {
        Ok(if self.bool()? { Some(self.f64()?) } else { None })
    }

    /// An optional `i64`: a flag byte, then the value when the flag is non-zero.
    #[inline]
    pub fn opt_i64(&mut self) -> Result<Option<i64>, DecodeError> {
        Ok(if self.bool()? { Some(self.i64()?) } else { None })
    }

    /// An optional varint: value + 1, or 0 for none.
    #[inline]
    pub fn opt_varint(&mut self) -> Result<Option<u64>, DecodeError> {
        Ok(match self.varint()? {
            0 => None,
            n => Some(n - 1),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primitives_round_trip() {
        let mut bytes = Vec::new();
        let mut w = Writer::to(&mut bytes);
        w.varint(300);
        w.zigzag(-5);
        w.i64(-7);
        w.f64(1.5);
        w.str("héllo");
        w.opt_str(None);
        w.opt_str(Some(""));
        w.opt_f64(Some(2.0));
        w.opt_varint(Some(0));
        let mut r = Reader::new(&bytes);
        assert_eq!(r.varint().unwrap(), 300);
        assert_eq!(r.zigzag().unwrap(), -5);
        assert_eq!(r.i64().unwrap(), -7);
        assert_eq!(r.f64().unwrap(), 1.5);
        assert_eq!(r.str().unwrap(), "héllo");
        assert_eq!(r.opt_str().unwrap(), None);
        assert_eq!(r.opt_str().unwrap(), Some(""));
        assert_eq!(r.opt_f64().unwrap(), Some(2.0));
        assert_eq!(r.opt_varint().unwrap(), Some(0));
        assert!(r.is_at_end());
    }

    #[test]
    fn truncated_input_is_an_error_not_a_panic() {
        let mut r = Reader::new(&[0x85]);
        assert!(matches!(r.varint(), Err(DecodeError::Truncated { .. })));
        let mut r = Reader::new(&[5, b'a']);
        assert!(matches!(r.str(), Err(DecodeError::Truncated { .. })));
    }
}
