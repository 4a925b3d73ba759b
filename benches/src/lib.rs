//! Shared code of the benchmarks of `contextvars`.
//!
//! Two programs use it:
//!
//! * `benches/contextvars.rs`, the [divan] benchmarks run by
//!   `cargo bench -p contextvars-benches` (or built only, in CI, with
//!   `cargo bench --no-run -p contextvars-benches`);
//! * `src/bin/report`, a short side-by-side pass that prints one table of
//!   `contextvars` against the alternatives (`thread_local!`, tokio's
//!   `task_local!`, OpenTelemetry's `Context`, CPython's `contextvars`) and a
//!   last line of ratios: `cargo run --release -p contextvars-benches --bin report`.
//!
//! [`fixtures`] holds what both measure (variables, contexts of a given size,
//! the always-pending future, the baselines' keys), [`harness`] the
//! interleaved timing loop of the report, and [`cpython`] the `timeit` script
//! that times CPython's `contextvars` in a `python3` subprocess.
//!
//! [divan]: https://docs.rs/divan

pub mod cpython;
pub mod fixtures;
pub mod harness;
