//! Replays the fuzz corpus (`tests/fuzz_corpus/<target>/`, built with the
//! cargo-fuzz targets in `fuzz/`) through the same property checks the fuzz
//! targets run (`tests/fuzz_checks/mod.rs`). Besides the minimized inputs
//! found by fuzzing (named by content hash), the corpus has hand-written
//! `seed-*` inputs; crashes found by fuzzing are kept as `regression-*`.
//! See `fuzz/README.md`.

mod fuzz_checks;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

/// Runs `check` on every file of `tests/fuzz_corpus/<target>/`, and fails
/// with the names of the files whose check panicked.
fn replay(target: &str, check: fn(&[u8])) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz_corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    assert!(
        files.len() >= 5,
        "{}: only {} corpus files",
        dir.display(),
        files.len()
    );
    let failed: Vec<String> = files
        .iter()
        .filter(|path| {
            let data = std::fs::read(path).unwrap();
            catch_unwind(AssertUnwindSafe(|| check(&data))).is_err()
        })
        .map(|path| path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(
        failed.is_empty(),
        "{target}: {} of {} corpus files fail: {failed:?}",
        failed.len(),
        files.len()
    );
}

#[test]
fn traceparent_corpus() {
    replay("traceparent", fuzz_checks::traceparent);
}

#[test]
fn tracestate_corpus() {
    replay("tracestate", fuzz_checks::tracestate);
}

#[test]
fn baggage_corpus() {
    replay("baggage", fuzz_checks::baggage);
}

#[test]
fn request_id_corpus() {
    replay("request_id", fuzz_checks::request_id);
}

#[test]
fn headers_corpus() {
    replay("headers", fuzz_checks::headers);
}
