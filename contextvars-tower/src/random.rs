//! Random numbers for trace and span ids.
//!
//! A SplitMix64 sequence per thread, seeded from the standard library's
//! per-process random hash keys: fast, never fails, uniformly distributed,
//! and without a dependency. Like OpenTelemetry's default id generator, it is
//! not cryptographically secure: ids are unique, not secret.

use std::cell::Cell;
use std::hash::{BuildHasher, RandomState};

thread_local! {
    static STATE: Cell<u64> = Cell::new(seed());
}

fn seed() -> u64 {
    // `RandomState::new` draws fresh keys for each thread from the OS, and
    // changes them on every call.
    RandomState::new().hash_one(std::thread::current().id())
}

/// The next pseudo-random `u64` of this thread's sequence.
pub(crate) fn next_u64() -> u64 {
    let state = STATE
        .try_with(|state| {
            let next = state.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
            state.set(next);
            next
        })
        // During thread teardown: a fresh seed is random enough.
        .unwrap_or_else(|_| seed());
    mix(state)
}

/// SplitMix64's output function.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_get_different_sequences() {
        let here: Vec<u64> = (0..4).map(|_| next_u64()).collect();
        let there: Vec<u64> = std::thread::spawn(|| (0..4).map(|_| next_u64()).collect())
            .join()
            .unwrap();
        assert_ne!(here, there);
    }
}
