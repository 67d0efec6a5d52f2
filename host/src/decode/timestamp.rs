//! Timestamps of the input formats → epoch milliseconds (UTC): a hand-written parser, no allocation.

/// Parses a Snowplow timestamp into milliseconds since the Unix epoch.
///
/// Accepts the enriched-TSV form `2025-03-14 22:42:30.344` (UTC, no zone) and ISO-8601
/// `2025-03-14T22:42:30.344Z`: date and time separated by `T` or a space, 0-9 fraction digits
/// (digits past the millisecond are truncated), and an optional zone `Z`, `+HH:MM`, `+HHMM` or `+HH`
/// (no zone means UTC). Returns `None` for anything else, including impossible dates like 02-30.
pub fn parse_timestamp_ms(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    if !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let year = digits(b, 0, 4)?;
    let month = digits(b, 5, 2)?;
    let day = digits(b, 8, 2)?;
    let hour = digits(b, 11, 2)?;
    let minute = digits(b, 14, 2)?;
    let second = digits(b, 17, 2)?;
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }

    let mut i = 19;
    let mut millis = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            if i - start < 3 {
                millis = millis * 10 + i64::from(b[i] - b'0');
            }
            i += 1;
        }
        let n = i - start;
        if n == 0 || n > 9 {
            return None;
        }
        for _ in n..3 {
            millis *= 10;
        }
    }

    let offset_minutes = match b.get(i) {
        None => 0,
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(&sign @ (b'+' | b'-')) => {
            let rest = &b[i + 1..];
            let (h, m) = match rest.len() {
                2 => (digits(rest, 0, 2)?, 0),
                4 => (digits(rest, 0, 2)?, digits(rest, 2, 2)?),
                5 if rest[2] == b':' => (digits(rest, 0, 2)?, digits(rest, 3, 2)?),
                _ => return None,
            };
            if h > 23 || m > 59 {
                return None;
            }
            let minutes = h * 60 + m;
            if sign == b'-' {
                -minutes
            } else {
                minutes
            }
        }
        _ => return None,
    };

    let days = days_from_civil(year, month, day);
    let minutes = (days * 24 + hour) * 60 + minute - offset_minutes;
    Some((minutes * 60 + second) * 1000 + millis)
}

/// `len` ASCII digits at `at`, as a number.
fn digits(b: &[u8], at: usize, len: usize) -> Option<i64> {
    let mut n = 0;
    for &c in b.get(at..at + len)? {
        if !c.is_ascii_digit() {
            return None;
        }
        n = n * 10 + i64::from(c - b'0');
    }
    Some(n)
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (years 0..=9999 here), counting years
/// from March so the leap day falls at the end.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::parse_timestamp_ms as p;

    #[test]
    fn tsv_form_is_utc() {
        // 2025-03-14 22:42:30.344 UTC; checked with `date -u -d '2025-03-14 22:42:30.344' +%s%3N`.
        assert_eq!(p("2025-03-14 22:42:30.344"), Some(1_741_992_150_344));
        assert_eq!(p("1970-01-01 00:00:00.000"), Some(0));
        assert_eq!(p("1970-01-01 00:00:00"), Some(0));
    }

    #[test]
    fn iso_forms() {
        assert_eq!(p("2025-03-14T22:42:30.344Z"), Some(1_741_992_150_344));
        assert_eq!(p("2025-03-14T22:42:30.344+00:00"), Some(1_741_992_150_344));
        assert_eq!(p("2025-03-14T22:42:30Z"), Some(1_741_992_150_000));
        assert_eq!(p("2025-03-26T10:57:56.7Z"), p("2025-03-26T10:57:56.700Z"));
        assert_eq!(p("2025-04-04T14:33:39.96Z"), p("2025-04-04T14:33:39.960Z"));
        // Warehouse exports: microseconds and an offset after a space-separated date.
        assert_eq!(p("2022-12-22 13:25:55.906000+00:00"), p("2022-12-22T13:25:55.906Z"));
        assert_eq!(p("2025-03-14T23:42:30.344+01:00"), Some(1_741_992_150_344));
        assert_eq!(p("2025-03-14T21:42:30.344-0100"), Some(1_741_992_150_344));
        assert_eq!(p("2025-03-14T22:42:30.344+00"), Some(1_741_992_150_344));
        assert_eq!(p("1969-12-31T23:59:59.999Z"), Some(-1));
    }

    #[test]
    fn calendar() {
        assert_eq!(p("2024-02-29T00:00:00Z"), Some(1_709_164_800_000));
        assert_eq!(p("2000-03-01T00:00:00Z"), Some(951_868_800_000));
        assert_eq!(p("2023-02-29T00:00:00Z"), None);
        assert_eq!(p("1900-02-29T00:00:00Z"), None);
        assert_eq!(p("2025-04-31T00:00:00Z"), None);
        assert_eq!(p("2025-12-31T23:59:59.999Z"), Some(1_767_225_599_999));
    }

    #[test]
    fn rejects() {
        for bad in [
            "",
            "2025-03-14",
            "2025-03-14T22:42",
            "2025-13-14T22:42:30Z",
            "2025-00-14T22:42:30Z",
            "2025-03-00T22:42:30Z",
            "2025-03-14T24:00:00Z",
            "2025-03-14T22:60:30Z",
            "2025-03-14T22:42:60Z",
            "2025-03-14X22:42:30Z",
            "2025-03-14T22:42:30.Z",
            "2025-03-14T22:42:30.1234567890Z",
            "2025-03-14T22:42:30ZZ",
            "2025-03-14T22:42:30+1",
            "2025-03-14T22:42:30+24:00",
            "2025-03-14T22:42:30 ",
            "+025-03-14T22:42:30Z",
            "2025-3-14T22:42:30Z",
            "２０２５-03-14T22:42:30Z",
            "1741992150344",
        ] {
            assert_eq!(p(bad), None, "{bad:?}");
        }
    }
}
