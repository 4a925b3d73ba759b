//! What each operation costs, and why.
//!
//! The design goals: reading a variable costs a thread-local access, a lookup
//! and a type check, with no allocation and no atomic operation; copying a
//! context costs the same at any size; entering a context costs a few word
//! swaps in the thread's slot.
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
//! | [`copy_context`](crate::copy_context), [`Context::copy`](crate::Context::copy) | one atomic increment of the map, a new context id (from a per-thread block) | no |
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
//! 1.95, glibc's allocator), quiet at the time (load average about 1.5);
//! medians, ns per operation:
//!
//! | operation | here | alternatives, same run |
//! |---|---:|---|
//! | `var.with(\|v\| *v)`, 1 / 16 / 1,024 variables | 6.4 / 10.3 / 9.7 | OTel `map_current(\|c\| c.get::<T>())` 7.1; `task_local` `with` 1.9; `thread_local!` `RefCell` 1.25 |
//! | `var.get()` (an `Arc` clone), 1 variable | 9.8 | CPython `var.get()` 12.3 net |
//! | `var.reset(&var.set(v))`, 1 / 16 / 1,024 variables | 59 / 87 / 118 | OTel `current_with_value(v).attach()` + drop 96; CPython 195 / 346 / 549 net |
//! | set + reset right after a copy, 1 / 16 / 1,024 variables | 100 / 197 / 790 | |
//! | `copy_context()`, 1 / 16 / 1,024 variables | 19.1 / 19.0 / 18.9 | OTel `Context::current()` 14.4; CPython 25.9 net |
//! | `ctx.run(\|\| 0)` | 22.5 | OTel `attach` + drop 27.4; `task_local` `sync_scope` 5.6; CPython 15.2 net |
//! | per poll, `WithContext` (owned context), gross | 14.8 | `task_local` `scope` 5.7; OTel `with_context` 29.2; bare poll 0.9 |
//! | `contextvars_tokio::spawn(..).await`, current-thread / multi-thread runtime | 369 / 692 | `tokio::spawn(..).await` 305 / 627; OTel `with_current_context` 346 (current-thread) |
//! | the same with 16 yields (17 polls), current-thread runtime | 2,571 | `tokio::spawn` 2,271; `task_local` `scope` 2,431 |
//! | HTTP `GET /`, axum, requests/s | 75,358 | bare 92,963; tower-http's request-id layers 82,817 |
//!
//! `get`, `with`, `copy_context` and `child_context` allocate nothing; `set`
//! allocates the value's `Arc`. The report's last line from that run:
//!
//! ```text
//! get_vs_otel=0.91 set_reset_vs_otel=0.62 copy_flat=0.99 poll_vs_task_local=2.60 spawn_vs_tokio=1.21 http_vs_bare=0.81 get_vs_cpython=0.79
//! ```
//!
//! The automatic mode of `contextvars-tokio` (task hooks, `--cfg
//! tokio_unstable`) is measured when the report is built with that flag
//! (`RUSTFLAGS="--cfg tokio_unstable" CARGO_TARGET_DIR=target/unstable cargo
//! run --release -p contextvars-benches --bin report`). On the same machine,
//! one yield-and-repoll round trip of a task took 144 ns plain, 158 ns for a
//! task spawned by `contextvars_tokio::spawn`, and 228 ns in automatic mode,
//! whose hooks look the task's context up in a sharded, locked registry at
//! every poll; spawn + await took 363 ns plain and 451 ns in automatic mode.
//! The wrappers are the fast path; the automatic mode buys not having to
//! change spawn calls.
//!
//! From run to run on this machine, the ratios move by a few hundredths
//! (`spawn_vs_tokio` between 1.15 and 1.21, `get_vs_otel` between 0.84 and
//! 0.91 in the runs behind this page).
//!
//! Copying is flat in the context's size, a write after copying 1,024
//! variables stays under a microsecond, and reads, writes, `run` and polls
//! cost less than OpenTelemetry's (copying costs a little more: a context
//! is more than its map). The report's targets are stricter than
//! that, and five are not met yet. Where the time goes, counted in
//! instructions with callgrind (`report --only ID N`; the count, unlike the
//! time, does not depend on the machine's load):
//!
//! * **Read** (`with`, 86 instructions; OpenTelemetry's read 92): the
//!   thread-local access, a non-atomic `Rc` count on the current map (so that
//!   the closure may itself set variables while it holds `&T`), the lookup,
//!   and `Any`'s type check (a virtual call). A third of OpenTelemetry's time
//!   is about a `RefCell` borrow of a thread-local, which only code that
//!   skips the `Rc` and the checked downcast could reach, that is `unsafe`
//!   code, which this crate does not have. A per-variable cache keyed on a
//!   context version, as CPython keeps, would not shorten this path: CPython
//!   caches to skip its trie walk, while a lookup here in a small context is
//!   already one comparison, and a cache shared by all threads (variables are
//!   `static`) would need its own synchronization on every read.
//! * **Write** (set + reset, 634 instructions; OpenTelemetry's 935): the
//!   value's allocation and its release, and four atomic read-modify-writes
//!   (`Arc::make_mut`'s uniqueness check at the set and at the reset, the
//!   token's reference to the old value, the release of the new one). These
//!   are what a persistent map of shared values costs in safe Rust.
//! * **Poll** (184 instructions; a `task_local` scope 65): about 30 go to
//!   the task probe of `contextvars-tokio` (which task is entering, so that
//!   `set` can refuse to write into another task's context), the rest to
//!   swapping the map, the context's id and the entering task in and out of
//!   the thread's slot with a guard that restores them on panic.
//! * **Spawn** (+347 instructions over `tokio::spawn`'s 2,721): the copy of
//!   the spawner's context, one entry per poll, and the context's release.
//!   Inside a runtime a poll costs about 14 ns more than tokio's own (9 for a
//!   `task_local` scope); the spawn helpers mark their futures as task roots
//!   ([`WithContext::task_root`](crate::WithContext::task_root)), which asks
//!   the task probe once per task instead of once per poll.
//! * **HTTP**: the layer parses four headers, makes a context with three
//!   variables, fills request and response extensions and echoes the id:
//!   19.5 allocations per request over bare axum (tower-http's layers: 12).
//!   In this harness a loopback request costs so little (a 2-byte body, no
//!   work in the handler) that tower-http's request-id layers alone reach
//!   0.89 of bare (0.89–0.92 across runs).
//!
//! What the last round of work changed, in instructions per operation
//! (callgrind, same benchmarks, before and after): per poll 273 → 184,
//! `with` 100 → 86, `get` 119 → 109, spawn overhead 444 → 347. In the HTTP
//! layer: request ids taken from the header without a copy, UUIDv7 ids
//! without a system call each, hex ids without the formatter.
//!
//! # Measure on your machine
//!
//! Costs depend on the machine, the allocator and the access pattern: run the
//! report, and measure with your own workload before relying on a figure.
