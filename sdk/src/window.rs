//! Rolling-window arithmetic shared by the windowed plugins (FEATURES.md §2).
//!
//! A window of length `w` as of `a` holds events with `a - w < t <= a`. Values only change when
//! an event enters or leaves, so a plugin asks for a tick at the first emit-interval multiple at
//! which its oldest event leaves, instead of ticking every interval with identical values.

/// True when an event at `t` is inside a window of length `w` as of `as_of`.
#[inline]
pub fn contains(t: i64, as_of: i64, w: u64) -> bool {
    t > as_of - w as i64 && t <= as_of
}

/// The first multiple of `interval` (epoch-aligned) at or after `t`.
#[inline]
pub fn align_up(t: i64, interval: u64) -> i64 {
    let i = interval as i64;
    t.div_euclid(i) * i + if t.rem_euclid(i) == 0 { 0 } else { i }
}

/// The tick at which an event at `t` has left a window of length `w` whose group ticks every
/// `interval`: the first multiple of `interval` at or after `t + w`.
#[inline]
pub fn expiry_tick(t: i64, w: u64, interval: u64) -> i64 {
    align_up(t + w as i64, interval)
}

/// True when `tick` is a tick of a group with this interval.
#[inline]
pub fn is_tick_of(tick: i64, interval: u64) -> bool {
    tick.rem_euclid(interval as i64) == 0
}

/// The smaller of two optional timers.
#[inline]
pub fn earliest(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

/// A 64-bit FNV-1a hash, for compact distinct-counting of ids kept in state.
#[inline]
pub fn id_hash(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.as_bytes() {
        h ^= *b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_bounds_are_open_below_closed_above() {
        assert!(!contains(0, 300_000, 300_000));
        assert!(contains(1, 300_000, 300_000));
        assert!(contains(300_000, 300_000, 300_000));
        assert!(!contains(300_001, 300_000, 300_000));
    }

    #[test]
    fn ticks_are_epoch_aligned() {
        assert_eq!(align_up(0, 30_000), 0);
        assert_eq!(align_up(1, 30_000), 30_000);
        assert_eq!(align_up(-1, 30_000), 0);
        assert_eq!(expiry_tick(10_000, 300_000, 30_000), 330_000);
        assert!(is_tick_of(120_000, 60_000));
        assert!(!is_tick_of(90_000, 60_000));
        assert_eq!(earliest(Some(3), None), Some(3));
    }
}
