//! Reads event records from files or stdin: one record per line, except that a JSON object
//! spread over several lines (pretty-printed) is gathered into one record.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

/// One record and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The record's bytes, without the trailing line end.
    pub bytes: Vec<u8>,
    /// 1-based line number of the record's first line.
    pub line: u64,
}

/// Yields records from one input.
pub struct RecordReader {
    input: Box<dyn BufRead + Send>,
    line_no: u64,
    bytes_read: u64,
}

impl RecordReader {
    /// Opens `path`, or stdin for `-`.
    pub fn open(path: &Path) -> io::Result<Self> {
        let input: Box<dyn Read + Send> =
            if path.as_os_str() == "-" { Box::new(io::stdin()) } else { Box::new(File::open(path)?) };
        Ok(Self::new(input))
    }

    /// Reads records from `input`.
    pub fn new(input: impl Read + Send + 'static) -> Self {
        RecordReader { input: Box::new(BufReader::with_capacity(1 << 16, input)), line_no: 0, bytes_read: 0 }
    }

    /// Bytes read from the input so far.
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    fn read_line(&mut self, buf: &mut Vec<u8>) -> io::Result<bool> {
        let n = self.input.read_until(b'\n', buf)?;
        self.bytes_read += n as u64;
        if n == 0 {
            return Ok(false);
        }
        self.line_no += 1;
        Ok(true)
    }

    /// The next non-blank record, or `None` at the end.
    pub fn next_record(&mut self) -> io::Result<Option<Record>> {
        let mut bytes = Vec::new();
        loop {
            bytes.clear();
            if !self.read_line(&mut bytes)? {
                return Ok(None);
            }
            trim_line_end(&mut bytes);
            if !bytes.iter().all(u8::is_ascii_whitespace) {
                break;
            }
        }
        let line = self.line_no;
        // A JSON object left open at the end of its first line continues on the next lines.
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') {
            let mut depth = JsonDepth::default();
            depth.feed(&bytes);
            while depth.open() {
                let start = bytes.len();
                bytes.push(b'\n');
                if !self.read_line(&mut bytes)? {
                    break;
                }
                trim_line_end(&mut bytes);
                let (_, added) = bytes.split_at(start);
                depth.feed(added);
            }
        }
        Ok(Some(Record { bytes, line }))
    }
}

fn trim_line_end(bytes: &mut Vec<u8>) {
    while matches!(bytes.last(), Some(b'\n' | b'\r')) {
        bytes.pop();
    }
}

/// Tracks brace depth outside JSON strings.
#[derive(Debug, Default)]
struct JsonDepth {
    depth: i64,
    in_string: bool,
    escaped: bool,
}

impl JsonDepth {
    fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if self.in_string {
                match (self.escaped, b) {
                    (true, _) => self.escaped = false,
                    (false, b'\\') => self.escaped = true,
                    (false, b'"') => self.in_string = false,
                    _ => {}
                }
                continue;
            }
            match b {
                b'"' => self.in_string = true,
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' => self.depth -= 1,
                _ => {}
            }
        }
    }

    fn open(&self) -> bool {
        self.depth > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(text: &'static str) -> Vec<(u64, String)> {
        let mut r = RecordReader::new(text.as_bytes());
        std::iter::from_fn(|| r.next_record().unwrap())
            .map(|rec| (rec.line, String::from_utf8(rec.bytes).unwrap()))
            .collect()
    }

    #[test]
    fn one_record_per_line_skipping_blanks() {
        assert_eq!(records("a\tb\r\n\n{\"x\": 1}\n"), vec![(1, "a\tb".into()), (3, "{\"x\": 1}".into())]);
    }

    #[test]
    fn pretty_printed_json_is_one_record() {
        let got = records("{\n  \"a\": \"}{\",\n  \"b\": [1,\n 2]\n}\nnext\n");
        assert_eq!(got, vec![(1, "{\n  \"a\": \"}{\",\n  \"b\": [1,\n 2]\n}".into()), (6, "next".into())]);
    }
}
