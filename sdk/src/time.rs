//! Event-time formatting for features (ISO-8601 UTC with milliseconds), without a clock and
//! without allocating.

/// Epoch milliseconds formatted as `2025-03-14T22:42:30.344Z`, on the stack.
#[derive(Debug, Clone, Copy)]
pub struct Iso8601([u8; 24]);

impl Iso8601 {
    /// Years outside 0..=9999 are clamped (event times never are).
    pub fn new(ms: i64) -> Self {
        let secs = ms.div_euclid(1000);
        let rem = secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
        let mut b = *b"0000-00-00T00:00:00.000Z";
        let mut put = |at: usize, width: usize, mut v: u64| {
            for i in (0..width).rev() {
                b[at + i] = b'0' + (v % 10) as u8;
                v /= 10;
            }
        };
        put(0, 4, y.clamp(0, 9999) as u64);
        put(5, 2, m as u64);
        put(8, 2, d as u64);
        put(11, 2, (rem / 3600) as u64);
        put(14, 2, (rem % 3600 / 60) as u64);
        put(17, 2, (rem % 60) as u64);
        put(20, 3, ms.rem_euclid(1000) as u64);
        Iso8601(b)
    }

    /// The text, e.g. `2025-03-14T22:42:30.344Z`.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("ASCII digits and separators")
    }
}

/// Formats epoch milliseconds as `2025-03-14T22:42:30.344Z`.
pub fn iso8601(ms: i64) -> String {
    Iso8601::new(ms).as_str().to_string()
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::iso8601;

    #[test]
    fn formats_utc_with_millis() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(1_741_992_150_344), "2025-03-14T22:42:30.344Z");
        assert_eq!(iso8601(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(iso8601(-1), "1969-12-31T23:59:59.999Z");
    }
}
