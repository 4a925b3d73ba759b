//! UUIDv7s (RFC 9562, section 5.7), made without a lock.
//!
//! The 48-bit millisecond timestamp and the 12-bit `rand_a` field, used as a
//! counter (the RFC's "fixed bit-length dedicated counter", section 6.2,
//! method 1), come from one process-wide atomic word, advanced with a
//! compare-and-swap: every id a process makes is greater than the one it
//! made before, across threads, even when the clock steps back or more than
//! 4,096 ids are made in a millisecond (the timestamp then runs ahead until
//! the clock catches up). The 62 bits of `rand_b` come from the thread's
//! random sequence ([`random`](crate::random)).
//!
//! On Linux the timestamp is read from `CLOCK_REALTIME_COARSE`: the time of
//! the last scheduler tick (1 to 10 ms old, as the kernel is configured),
//! read in a few nanoseconds where the precise clock takes tens. Ids stay
//! ordered within the process; across processes, UUIDv7s are only as
//! ordered as their clocks are anyway.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::random;

/// The last `timestamp << 12 | counter` handed out by this process.
static LAST: AtomicU64 = AtomicU64::new(0);

/// The two 64-bit halves (most significant first) of a new UUIDv7.
pub(crate) fn next() -> (u64, u64) {
    let prefix = next_prefix(&LAST, now_ms());
    (high_half(prefix), low_half(random::next_u64()))
}

/// The next `timestamp << 12 | counter` after the one in `last`: the
/// current millisecond with a counter of 0 if that is greater, else one
/// more than the last.
fn next_prefix(last: &AtomicU64, now_ms: u64) -> u64 {
    let fresh = (now_ms & ((1 << 48) - 1)) << 12;
    let mut seen = last.load(Ordering::Relaxed);
    loop {
        // Nothing else is published with the word: `Relaxed` orders the
        // word's own values, which is all uniqueness needs.
        let next = fresh.max(seen + 1);
        match last.compare_exchange_weak(seen, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(current) => seen = current,
        }
    }
}

/// `unix_ts_ms` (48 bits), the version (7) and `rand_a` (12 bits).
fn high_half(prefix: u64) -> u64 {
    ((prefix >> 12) << 16) | 0x7000 | (prefix & 0xfff)
}

/// The variant (`0b10`) and `rand_b` (62 bits).
fn low_half(random: u64) -> u64 {
    (0b10 << 62) | (random >> 2)
}

/// Milliseconds since the Unix epoch.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn now_ms() -> u64 {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::RealtimeCoarse);
    // Both fields are non-negative for any time after 1970.
    let secs = u64::try_from(now.tv_sec).unwrap_or(0);
    let nanos = u64::try_from(now.tv_nsec).unwrap_or(0);
    secs * 1000 + nanos / 1_000_000
}

/// Milliseconds since the Unix epoch.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uuid(prefix: u64, random: u64) -> uuid::Uuid {
        uuid::Uuid::from_u64_pair(high_half(prefix), low_half(random))
    }

    #[test]
    fn fields_are_where_rfc_9562_puts_them() {
        let ms = 0x0123_4567_89ab;
        let id = uuid(ms << 12 | 0xcde, u64::MAX);
        assert_eq!(id.get_version_num(), 7);
        assert_eq!(id.get_variant(), uuid::Variant::RFC4122);
        let (secs, nanos) = id.get_timestamp().unwrap().to_unix();
        assert_eq!(secs * 1000 + u64::from(nanos) / 1_000_000, ms);
        let bytes = id.as_bytes();
        assert_eq!(&bytes[..6], &[0x01, 0x23, 0x45, 0x67, 0x89, 0xab]);
        // The counter is `rand_a`: the 12 bits after the version.
        assert_eq!(u16::from_be_bytes([bytes[6], bytes[7]]), 0x7cde);
        assert_eq!(bytes[8], 0xbf);
    }

    #[test]
    fn a_new_millisecond_restarts_the_counter() {
        let last = AtomicU64::new(0);
        assert_eq!(next_prefix(&last, 5), 5 << 12);
        assert_eq!(next_prefix(&last, 5), 5 << 12 | 1);
        assert_eq!(next_prefix(&last, 6), 6 << 12);
    }

    #[test]
    fn ids_keep_increasing_when_the_clock_steps_back_or_the_counter_overflows() {
        let last = AtomicU64::new(0);
        let mut previous = next_prefix(&last, 1_000);
        for now in [999, 1_000, 0] {
            let next = next_prefix(&last, now);
            assert!(next > previous);
            previous = next;
        }
        // 4,096 ids in one millisecond: the next one borrows the next
        // millisecond.
        let last = AtomicU64::new(0);
        let prefixes: Vec<u64> = (0..4_097).map(|_| next_prefix(&last, 7)).collect();
        assert_eq!(prefixes[4_095], 7 << 12 | 0xfff);
        assert_eq!(prefixes[4_096], 8 << 12);
        assert_eq!(uuid(prefixes[4_096], 0).get_version_num(), 7);
    }

    #[test]
    fn ids_made_on_many_threads_are_distinct_and_each_thread_sees_them_rise() {
        let per_thread: Vec<Vec<(u64, u64)>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| s.spawn(|| (0..2_000).map(|_| next()).collect::<Vec<_>>()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut all: Vec<(u64, u64)> = per_thread.iter().flatten().copied().collect();
        for ids in &per_thread {
            assert!(ids.windows(2).all(|w| w[0].0 < w[1].0));
        }
        all.sort_unstable();
        all.dedup_by_key(|id| id.0);
        assert_eq!(
            all.len(),
            8_000,
            "every id has its own timestamp and counter"
        );
    }

    #[test]
    fn the_timestamp_is_the_current_time() {
        let before = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis();
        let (high, _) = next();
        let ms = u128::from(high >> 16);
        // The coarse clock lags by at most a scheduler tick; the counter
        // runs ahead only after 4,096 ids in a millisecond.
        assert!(
            ms + 50 >= before && ms <= before + 1_000,
            "{ms} vs {before}"
        );
    }
}
