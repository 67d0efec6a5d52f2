//! Golden fixtures of a plugin crate: `fixtures/<case>.input.jsonl` (events in any input format)
//! or `<case>.input.path` (a path to a shared data file, relative to `fixtures/`), and
//! `<case>.expected.jsonl`, the exact emission log of a replay through that plugin alone. Used by
//! `live-shopper plugin test` and by the host's golden tests.

use crate::commands::replay::{replay, ReplaySummary};
use crate::engine::{EngineConfig, Operator};
use crate::sink::EmissionLog;
use crate::source::file::RecordReader;
use anyhow::Context;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// One golden case.
#[derive(Debug, Clone)]
pub struct Fixture {
    /// The case name: the file name before `.input.jsonl` or `.input.path`.
    pub name: String,
    /// The `<case>.input.jsonl` or `<case>.input.path` file.
    pub input: PathBuf,
    /// The `<case>.expected.jsonl` file (which may not exist yet).
    pub expected: PathBuf,
}

/// The cases in `dir` (a plugin's `fixtures/` folder), sorted by name: every
/// `<case>.input.jsonl` or `<case>.input.path`, with its `<case>.expected.jsonl` (which may not
/// exist yet: `plugin test --bless` writes it).
pub fn fixtures_in(dir: &Path) -> anyhow::Result<Vec<Fixture>> {
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot read fixtures folder {}", dir.display()))?;
    let mut cases = Vec::new();
    for entry in entries {
        let file_name = entry?.file_name().to_string_lossy().into_owned();
        let case = file_name.strip_suffix(".input.jsonl").or_else(|| file_name.strip_suffix(".input.path"));
        if let Some(case) = case {
            cases.push(Fixture {
                name: case.to_string(),
                input: dir.join(&file_name),
                expected: dir.join(format!("{case}.expected.jsonl")),
            });
        }
    }
    cases.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(cases)
}

impl Fixture {
    /// The events file: the input itself, or the file an `.input.path` names.
    pub fn input_file(&self) -> anyhow::Result<PathBuf> {
        if self.input.extension().is_some_and(|e| e == "path") {
            let rel = std::fs::read_to_string(&self.input)
                .with_context(|| format!("cannot read {}", self.input.display()))?;
            let dir = self.input.parent().unwrap_or(Path::new("."));
            return Ok(dir.join(rel.trim()));
        }
        Ok(self.input.clone())
    }

    /// Replays the input through `operators` in replay mode (one event per step), returning
    /// the emission log and the replay's summary.
    pub fn replay(&self, operators: Vec<Box<dyn Operator>>) -> anyhow::Result<(String, ReplaySummary)> {
        let path = self.input_file()?;
        let text = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let reader = RecordReader::new(std::io::Cursor::new(text));
        let mut log = EmissionLog::new(Vec::new());
        let summary = replay(
            vec![(path.display().to_string(), reader)],
            operators,
            EngineConfig::default(),
            1,
            &mut log,
        )?;
        let bytes = log.into_inner().context("the emission log")?;
        Ok((String::from_utf8(bytes).context("the emission log is not UTF-8")?, summary))
    }
}

/// A line diff of two emission logs: `None` when equal, else the differing lines (`-` expected,
/// `+` got) with their line numbers, at most `max_lines` of them.
pub fn diff_lines(expected: &str, got: &str, max_lines: usize) -> Option<String> {
    if expected == got {
        return None;
    }
    let (want, have): (Vec<&str>, Vec<&str>) = (expected.lines().collect(), got.lines().collect());
    let mut out = String::new();
    let mut shown = 0;
    for i in 0..want.len().max(have.len()) {
        let (w, h) = (want.get(i), have.get(i));
        if w == h {
            continue;
        }
        if shown == max_lines {
            out.push_str("  …\n");
            break;
        }
        if let Some(w) = w {
            let _ = writeln!(out, "  line {}: - {w}", i + 1);
        }
        if let Some(h) = h {
            let _ = writeln!(out, "  line {}: + {h}", i + 1);
        }
        shown += 1;
    }
    let _ = writeln!(out, "  ({} lines expected, {} got)", want.len(), have.len());
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_diff_names_the_differing_lines_and_is_none_for_equal_logs() {
        assert_eq!(diff_lines("a\nb\n", "a\nb\n", 10), None);
        let diff = diff_lines("a\nb\nc\n", "a\nB\n", 10).unwrap();
        assert!(diff.contains("line 2: - b\n  line 2: + B"), "{diff}");
        assert!(diff.contains("line 3: - c"), "{diff}");
        assert!(diff.contains("(3 lines expected, 2 got)"), "{diff}");
        let capped = diff_lines("1\n2\n3\n", "x\ny\nz\n", 1).unwrap();
        assert!(capped.contains('…') && !capped.contains("line 2"), "{capped}");
    }
}
