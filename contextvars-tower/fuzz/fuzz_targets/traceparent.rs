//! `cargo fuzz run -s none traceparent`: the checks of `fuzz_checks::traceparent`.

#![no_main]

use libfuzzer_sys::fuzz_target;

// Shared with the corpus replay tests (`cargo test -p contextvars-tower`).
#[allow(dead_code)]
#[path = "../../tests/fuzz_checks/mod.rs"]
mod fuzz_checks;

fuzz_target!(|data: &[u8]| fuzz_checks::traceparent(data));
