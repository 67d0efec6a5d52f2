//! The emission log of `replay --emit`: one JSON object per emission (FEATURES.md §3), and one
//! per signal (`{"signal": …}`, the format of `signals.rs`).

use crate::engine::emission::{Emission, EmissionSink, Signal};
use live_shopper_abi::value::write_json_string;
use std::io::{self, Write};

/// Writes `{"plugin": …, "key": …, "as_of": …, "fields": {…}}` lines (plus `"closed": true` for a
/// closing session). Output is a pure function of the emissions, so equal runs give equal bytes.
pub struct EmissionLog<W: Write> {
    out: W,
    line: String,
    lines: u64,
    error: Option<io::Error>,
}

impl<W: Write> EmissionLog<W> {
    /// A log writing to `out`.
    pub fn new(out: W) -> Self {
        EmissionLog { out, line: String::with_capacity(1024), lines: 0, error: None }
    }

    /// Flushes and returns the writer (e.g. an in-memory log's bytes).
    pub fn into_inner(mut self) -> io::Result<W> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.out.flush()?;
        Ok(self.out)
    }

    /// Flushes and returns the first write error, if any happened.
    pub fn finish(mut self) -> io::Result<u64> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.out.flush()?;
        Ok(self.lines)
    }
}

/// Formats one emission as a log line (no newline).
pub fn format_line(e: &Emission<'_>, line: &mut String) {
    line.clear();
    line.push_str("{\"plugin\": ");
    write_json_string(e.plugin, line);
    line.push_str(", \"key\": ");
    write_json_string(&super::hash::key(e), line);
    line.push_str(", \"as_of\": ");
    line.push_str(&e.as_of.to_string());
    line.push_str(", \"fields\": {");
    for (i, (name, value)) in super::hash::fields(e).iter().enumerate() {
        if i > 0 {
            line.push_str(", ");
        }
        write_json_string(name, line);
        line.push_str(": ");
        write_json_string(value, line);
    }
    line.push('}');
    if e.closed {
        line.push_str(", \"closed\": true");
    }
    line.push('}');
}

impl<W: Write> EmissionLog<W> {
    fn write_line(&mut self) {
        self.line.push('\n');
        match self.out.write_all(self.line.as_bytes()) {
            Ok(()) => self.lines += 1,
            Err(err) => self.error = Some(err),
        }
    }
}

impl<W: Write> EmissionSink for EmissionLog<W> {
    fn emit(&mut self, e: &Emission<'_>) {
        if self.error.is_some() {
            return;
        }
        format_line(e, &mut self.line);
        self.write_line();
    }

    fn signal(&mut self, s: &Signal<'_>) {
        if self.error.is_some() {
            return;
        }
        crate::signals::format_signal(s, &mut self.line);
        self.write_line();
    }
}
