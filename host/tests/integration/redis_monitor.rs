//! A `MONITOR` connection on a test Redis server: every command the server runs, with when it
//! ran and which client sent it (hosts name their connections `live-shopper-<pid>`), so a test
//! can say which host process wrote which hash at what time.

use crate::services::RedisServer;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The commands a server ran since [`Monitor::start`], as `MONITOR` printed them.
pub(crate) struct Monitor {
    lines: Arc<Mutex<Vec<String>>>,
}

/// One hash write (`EVALSHA` / `EVAL` of the fenced-hash script) as the server ran it.
#[derive(Debug, Clone)]
pub(crate) struct HashWrite {
    /// When the server ran it, in µs since the epoch.
    pub(crate) at_us: i64,
    /// The name of the connection it came on (`live-shopper-<pid>`), if it had one.
    pub(crate) client: Option<String>,
    /// The feature hash written.
    pub(crate) key: String,
}

impl Monitor {
    /// Opens a `MONITOR` connection to `server` (a loopback port) and collects its lines.
    pub(crate) fn start(server: &RedisServer) -> Monitor {
        let url = server.url();
        let addr = url.strip_prefix("redis://").expect("a TCP server");
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.write_all(b"MONITOR\r\n").unwrap();
        let mut reader = BufReader::new(stream);
        let mut ok = String::new();
        reader.read_line(&mut ok).unwrap();
        assert_eq!(ok.trim_end(), "+OK", "MONITOR answered {ok:?}");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let collected = lines.clone();
        std::thread::spawn(move || {
            for line in reader.lines() {
                let Ok(line) = line else { return };
                collected.lock().unwrap().push(line);
            }
        });
        Monitor { lines }
    }

    /// Every hash write so far, in the order the server ran them, with the name the sending
    /// connection had given itself by then.
    pub(crate) fn hash_writes(&self) -> Vec<HashWrite> {
        let lines = self.lines.lock().unwrap().clone();
        let mut names = std::collections::HashMap::new();
        let mut writes = Vec::new();
        for line in &lines {
            let Some((at_us, client, args)) = parse_line(line) else { continue };
            match args.first().map(|a| a.to_ascii_uppercase()).as_deref() {
                Some("CLIENT") if args.get(1).is_some_and(|a| a.eq_ignore_ascii_case("SETNAME")) => {
                    if let Some(name) = args.get(2) {
                        names.insert(client.to_string(), name.clone());
                    }
                }
                Some("EVALSHA") | Some("EVAL") if args.len() > 3 => {
                    writes.push(HashWrite { at_us, client: names.get(client).cloned(), key: args[3].clone() })
                }
                _ => {}
            }
        }
        writes
    }

    /// Waits until `MONITOR` has shown every command sent before this call.
    pub(crate) fn catch_up(&self, server: &RedisServer) {
        let marker = format!("monitor-marker-{}", live_shopper::clock::wall_us());
        let mut c = server.connection().unwrap();
        let _: String = redis::cmd("ECHO").arg(&marker).query(&mut c).unwrap();
        let started = std::time::Instant::now();
        while !self.lines.lock().unwrap().iter().rev().any(|l| l.contains(&marker)) {
            assert!(started.elapsed() < Duration::from_secs(30), "MONITOR did not show our ECHO");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// `1700000000.123456 [0 127.0.0.1:60866] "EVALSHA" "…"` -> (µs, client address, arguments).
fn parse_line(line: &str) -> Option<(i64, &str, Vec<String>)> {
    let line = line.strip_prefix('+').unwrap_or(line);
    let (time, rest) = line.split_once(' ')?;
    let (secs, micros) = time.split_once('.')?;
    let at_us = secs.parse::<i64>().ok()? * 1_000_000 + micros.parse::<i64>().ok()?;
    let rest = rest.strip_prefix('[')?;
    let (source, args) = rest.split_once("] ")?;
    let client = source.split_once(' ')?.1;
    Some((at_us, client, quoted_args(args)))
}

/// The double-quoted, backslash-escaped arguments of a `MONITOR` line.
fn quoted_args(text: &str) -> Vec<String> {
    let mut args = Vec::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '"' {
            continue;
        }
        let mut arg = String::new();
        while let Some(c) = chars.next() {
            match c {
                '"' => break,
                '\\' => arg.extend(chars.next()),
                c => arg.push(c),
            }
        }
        args.push(arg);
    }
    args
}

/// The µs since the epoch of a log line's leading RFC 3339 UTC timestamp
/// (`2026-12-03T18:15:11.815896Z …`), ANSI colours already removed.
pub(crate) fn log_time_us(line: &str) -> Option<i64> {
    let stamp = line.split_whitespace().next()?.strip_suffix('Z')?;
    let (date, time) = stamp.split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let mut t = hms.split(':').map(|p| p.parse::<i64>().ok());
    let (h, min, s) = (t.next()??, t.next()??, t.next()??);
    let micros = format!("{frac:0<6}")[..6].parse::<i64>().ok()?;
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 86_400 + h * 3_600 + min * 60 + s) * 1_000_000) + micros)
}

/// `text` without ANSI colour sequences (`ESC [ … m`).
pub(crate) fn without_colours(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn monitor_lines_and_log_times_parse() {
    let (at, client, args) =
        parse_line(r#"1700000000.000123 [0 127.0.0.1:60866] "EVALSHA" "ab" "2" "user:a\"b:x""#).unwrap();
    assert_eq!((at, client), (1_700_000_000_000_123, "127.0.0.1:60866"));
    assert_eq!(args, ["EVALSHA", "ab", "2", "user:a\"b:x"]);
    assert_eq!(log_time_us("2023-11-14T22:13:20.000123Z  INFO x"), Some(1_700_000_000_000_123));
    assert_eq!(without_colours("\u{1b}[2mtopic\u{1b}[0m=three"), "topic=three");
}
