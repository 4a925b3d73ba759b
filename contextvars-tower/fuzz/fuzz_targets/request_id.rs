//! `cargo fuzz run -s none request_id`: the checks of `fuzz_checks::request_id`.

#![no_main]

use libfuzzer_sys::fuzz_target;

// Shared with the corpus replay tests (`cargo test -p contextvars-tower`).
#[allow(dead_code)]
#[path = "../../tests/fuzz_checks/mod.rs"]
mod fuzz_checks;

fuzz_target!(|data: &[u8]| fuzz_checks::request_id(data));
