//! What each operation costs, and why.
//!
//! The design goal is that reading a variable costs about as much as reading a
//! thread-local, that copying a context costs the same at any size, and that
//! entering a context costs a few pointer swaps.
//!
//! # Storage
//!
//! A context's map is persistent. Up to 32 variables it is a vector sorted by
//! variable id behind an `Arc` (fastest at the sizes real services use: a
//! handful of request-scoped variables); above that it switches to a hash array
//! mapped trie from [`imbl`](https://docs.rs/imbl), and back below 16, so that a
//! context with 10,000 variables still updates in logarithmic time. Both
//! representations are updated in place when nothing else shares them and
//! copied on write otherwise.
//!
//! # Per operation
//!
//! | operation | work | allocates |
//! |---|---|---|
//! | [`ContextVar::with`](crate::ContextVar::with) | thread-local access, a non-atomic `Rc` increment, lookup, type check | no |
//! | [`ContextVar::get`](crate::ContextVar::get) | thread-local access, lookup, one atomic increment (the `Arc<T>` returned) | no |
//! | [`ContextVar::set`](crate::ContextVar::set) | the value's `Arc`, then an in-place insert if the current map is not shared, else a copy of the small vector or a path of the trie | the value's `Arc`, and the copy when shared |
//! | [`ContextVar::reset`](crate::ContextVar::reset) | as `set`, restoring the old value or removing the key | only when the map is shared |
//! | [`copy_context`](crate::copy_context), [`Context::copy`](crate::Context::copy) | one atomic increment of the map, a new context id | no |
//! | [`Context::run`](crate::Context::run) | an atomic compare-and-swap of the entered flag, a lock to snapshot the map, two swaps of the thread's current map | no (after the thread's first context) |
//!
//! The first `set` after a copy pays for the copy: a vector of up to 32
//! entries (reference-count increments) or one trie path. Later `set`s in the
//! same context are in place.
//!
//! Reading a variable's value in a context other than the current one
//! ([`Context::get`](crate::Context::get) and the rest of the map view) takes a
//! short lock, since the context may be shared between threads.
//!
//! # Measured
//!
//! `cargo run --release -p contextvars-benches --bin report` measures every
//! operation above side by side with `thread_local!`, tokio's `task_local!`,
//! OpenTelemetry's `Context` and CPython's `contextvars`, in one process run
//! (interleaved repetitions, medians), and prints ratios against them; the
//! divan benches in `benches/` cover the same operations. Machines differ and
//! shared ones are noisy: only ratios from one run mean anything.
//!
//! One run, on a shared 2-vCPU AMD EPYC virtual machine (Linux 6.18, rustc
//! 1.95) that other builds kept busy (load average about 4), so every figure
//! is inflated; medians, ns per operation:
//!
//! | operation | here | alternative |
//! |---|---:|---|
//! | `var.with(\|v\| *v)`, 1 variable | 10.4 | OTel `map_current(\|c\| c.get::<T>())` 12.2; `thread_local!` `Cell` 0.8 |
//! | `var.with(\|v\| *v)`, 16 / 1,024 variables | 18.2 / 16.2 | |
//! | `var.get()` (an `Arc` clone), 1 variable | 12.0 | CPython `var.get()` 23.8 net |
//! | `var.reset(&var.set(v))`, 1 / 16 / 1,024 variables | 96 / 146 / 207 | OTel `current_with_value(v).attach()` + drop 167 |
//! | `copy_context()`, 1 / 16 / 1,024 variables | 28.6 / 29.8 / 28.9 | |
//! | set + reset right after a copy, 1,024 variables | 1,367 | |
//! | `ctx.run(\|\| 0)` | 46.6 | |
//! | per poll, `WithContext` (owned context) | 38.7 | tokio `task_local` `scope` 5.8; OTel `with_context` 32.1 |
//! | `contextvars_tokio::spawn(..).await`, current-thread runtime | 522 | `tokio::spawn(..).await` 424 |
//!
//! `get`, `with` and `copy_context` allocate nothing; `set` allocates the
//! value's `Arc`. The report's last line from that run:
//!
//! ```text
//! get_vs_otel=0.86 set_reset_vs_otel=0.58 copy_flat=1.01 poll_vs_task_local=6.74 spawn_vs_tokio=1.23 http_vs_bare=NA get_vs_cpython=0.51
//! ```
//!
//! Reads, copies and writes beat OpenTelemetry's and CPython's; entering a
//! context per poll costs several times a `task_local` scope, which keeps
//! one value where a context keeps a map, and a write right after copying a
//! large context copies a path of the trie: those are the two costs left to
//! bring down.
//!
//! # Measure on your machine
//!
//! Costs depend on the machine, the allocator and the access pattern: run the
//! report, and measure with your own workload before relying on a figure.
