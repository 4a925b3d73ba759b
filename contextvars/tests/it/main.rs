//! Integration tests for `contextvars`: one binary, one module per concept
//! (the `tests/it` layout of once_cell), so that the crate is linked once.
//!
//! * `panic_safety`: a panic never leaves a context entered or a value set,
//!   and is never swallowed or turned into an abort.
//! * `value_drop`: values whose `Drop` reads or writes context variables,
//!   dropped from every place the library drops values.
//! * `teardown`: the crate used from other thread-locals' destructors, after
//!   its own thread-local has been destroyed.
//! * `threads`: thread inheritance, shared contexts and stress.
//! * `map_view`: the read-only map view of a `Context`, at every size.
//! * `module_layers`: the crate's modules use each other without a circle.
//! * `bind_all`: values bound together by `Context::bind_all`.

mod bind_all;
mod map_view;
mod module_layers;
mod panic_safety;
mod runtime_enter;
mod teardown;
mod threads;
mod value_drop;

use std::any::Any;

/// The message of a panic made by `panic!` or `.expect`, or a placeholder for
/// any other payload.
fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "<not a string payload>"
    }
}

/// Runs `f`, catching a panic. Every test that catches one checks the state
/// left behind afterwards, so unwind safety is what is under test.
fn catch<R>(f: impl FnOnce() -> R) -> Result<R, Box<dyn Any + Send>> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
}

/// A panic payload that is not a string, to check that payloads are
/// propagated unchanged.
#[derive(Debug, PartialEq, Eq)]
struct Payload(u32);

/// Deterministic pseudo-random numbers (xorshift64*), so that "random" tests
/// replay identically.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n`.
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}
