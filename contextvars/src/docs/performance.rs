//! What each operation costs, and why.
//!
//! The design goals: reading a variable costs a thread-local access, a lookup
//! and a type check, with no allocation and no atomic operation; copying a
//! context costs the same at any size; entering a context costs a few word
//! swaps in the thread's slot.
//!
//! # Storage
//!
//! A context's map is persistent. Up to 8 variables it is a vector sorted by
//! variable id behind an `Arc`, scanned in order (fastest at the sizes real
//! services use: a handful of request-scoped variables); above that it
//! switches to a hash array mapped trie, and back at 4, so that a context
//! with 10,000 variables still updates in logarithmic time. (The vector
//! once went up to 32 entries, searched by bisection above 8; the trie reads
//! 16 variables faster, 6.2 → 4.7 ns, for 5% more on the first write after a
//! copy.) The trie's nodes have 16 slots and
//! store only the occupied ones; the slot at each level is four bits of the
//! variable's id, lowest first. Ids are handed out in sequence, so the
//! variables a program uses fill the trie evenly: a lookup among 4,096 takes
//! three steps, each a bit test and a shift. A write copies the one path of
//! nodes to its key, 16 slots each at most. Both representations are
//! updated in place when nothing else shares them and copied on write
//! otherwise.
//!
//! Whether something else shares the map, or a node of the trie, is asked
//! before every write, at every level. Their reference counts are
//! `triomphe`'s, which have no weak references, so the answer is one load;
//! `std`'s `Arc::make_mut` asks with an atomic read-modify-write. On a
//! 2-vCPU Intel Xeon virtual machine, where an atomic read-modify-write costs
//! about 6 ns, the map's count took a set and reset of an unshared context
//! of one variable from 60 to 50 ns and the same right after a copy from
//! 106 to 93 ns; the trie's, with 1,024 variables, from 103 to 76 ns
//! unshared and from 684 to 475 ns right after a copy (64 variables: 433 to
//! 308 ns). Both builds interleaved, 3 runs each. On an AMD EPYC machine,
//! where atomic operations cost less, an earlier try of the map's count did
//! not show.
//!
//! This trie replaced a general-purpose one (`imbl`'s, 32 full-width slots
//! per node), which copied and freed about twice the bytes per write.
//! Measured with both builds interleaved on the AMD EPYC machine of the
//! earlier build (see [Measured](#measured); medians of 7 runs each, ns): a set and reset right after copying 1,024 variables
//! 1,334 → 864 (6,836 → 3,354 instructions), the same with 64 variables
//! 576 → 470, a set and reset of an unshared context of 1,024 variables
//! 127 → 119, a read among 64 variables 10.9 → 9.9; a read among 1,024
//! variables went from 16.2 to 18.4, one more step down the narrower
//! trie.
//!
//! # Per operation
//!
//! | operation | work | allocates |
//! |---|---|---|
//! | [`ContextVar::with`](crate::ContextVar::with) | thread-local access, a non-atomic `Rc` increment, lookup, type check | no |
//! | [`ContextVar::get`](crate::ContextVar::get) | as `with`, then a clone of the value | only if `T::clone` does |
//! | [`ContextVar::get_arc`](crate::ContextVar::get_arc) | thread-local access, lookup, one atomic increment (the `Arc<T>` returned) | no |
//! | [`ContextVar::set`](crate::ContextVar::set) | the value's `Arc`, then an in-place insert if the current map is not shared, else a copy of the small vector or a path of the trie | the value's `Arc`, and the copy when shared |
//! | [`ContextVar::reset`](crate::ContextVar::reset) | as `set`, restoring the old value or removing the key | only when the map is shared |
//! | [`copy_context`](crate::copy_context), [`Context::copy`](crate::Context::copy) | one atomic increment of the map, a new context id (from a per-thread block) | no |
//! | [`child_context`](crate::child_context) (every spawn through the integrations) | as `copy_context`; if the context binds variables that are not inherited, a copy without them: a new small vector, or one trie path per variable left out | only in that case |
//! | [`Context::run`](crate::Context::run) | an atomic compare-and-swap of the entered flag, a lock to snapshot the map, two swaps of the thread's current map; at the end, only if something was set, a lock to store the map back | no (after the thread's first context) |
//!
//! The first `set` after a copy pays for the copy: a vector of up to 8
//! entries (reference-count increments) or one trie path. Later `set`s in the
//! same context are in place.
//!
//! A child context that leaves variables out once rebuilt its map entry by
//! entry; it now copies a small vector once, or removes the variables left
//! out from a shared trie. For a context binding one variable that is not
//! inherited and N that are (best of 7 runs of 20,000 `child_context()`
//! calls, both builds on the same machine): N = 1: 81 → 68 ns; 16: 448 →
//! 152 ns; 64: 7.9 µs → 521 ns; 1,024: 145 µs → 934 ns. The report's
//! `child_context_local` rows measure it.
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
//! One run, on a shared 2-vCPU Intel Xeon virtual machine (KVM, Linux 6.18,
//! rustc 1.95, glibc's allocator), load average about 1; medians, ns per
//! operation. On this machine an atomic read-modify-write costs about 6 ns
//! (the `thread_local!` `RefCell` + `Arc` clone row is two of them), which
//! every `Arc` clone and release pays:
//!
//! | operation | here | alternatives, same run |
//! |---|---:|---|
//! | `var.with(\|v\| *v)`, 1 / 16 / 1,024 variables | 3.3 / 3.9 / 6.0 | OTel `map_current(\|c\| c.get::<T>())` 4.1; `task_local` `with` 1.0; `thread_local!` `RefCell` 0.57 |
//! | `var.get()` (an `Arc` clone), 1 variable | 12.0 | CPython `var.get()` 8.5 net; `thread_local!` `RefCell` + `Arc` clone 12.4 |
//! | `var.reset(&var.set(v))`, 1 / 16 / 1,024 variables | 54 / 66 / 77 | OTel `current_with_value(v).attach()` + drop 75; CPython 140 / 183 / 382 net |
//! | set + reset right after a copy, 1 / 16 / 1,024 variables | 96 / 263 / 489 | |
//! | `copy_context()`, 1 / 16 / 1,024 variables | 18.2 / 18.2 / 18.3 | OTel `Context::current()` 16.3; CPython 15.7 net |
//! | `ctx.run(\|\| 0)` (a shared context) | 30.9 | OTel `attach` + drop 28.5; `task_local` `sync_scope` 3.6; CPython 10.7 net |
//! | per poll, `WithContext` (owned context), gross; 2 / 4 nested | 10.1; 24.2 / 55.0 | `task_local` `scope` 3.9 (4 nested 18.1); OTel `with_context` 29.0; bare poll 0.38 |
//! | `contextvars_tokio::spawn(..).await`, current-thread / multi-thread runtime | 323 / 362 | `tokio::spawn(..).await` 281 / 311 |
//! | the same with 16 yields (17 polls), current-thread runtime | 2,052 | `tokio::spawn` 1,908; `task_local` `scope` 1,950 |
//! | HTTP `GET /`, axum, requests/s | 120,622 | bare 139,451; tower-http's request-id layers 125,003 |
//!
//! `get`, `with`, `copy_context` and `child_context` (of a context whose
//! variables are all inherited) allocate nothing; `set`
//! allocates the value's `Arc`. The report's last line from that run, and
//! from the run right after it:
//!
//! ```text
//! get_vs_otel=0.79 set_reset_vs_otel=0.71 copy_flat=1.00 poll_vs_task_local=2.63 spawn_vs_tokio=1.15 http_vs_bare=0.86 get_vs_cpython=1.41
//! get_vs_otel=0.78 set_reset_vs_otel=0.69 copy_flat=1.00 poll_vs_task_local=2.63 spawn_vs_tokio=1.17 http_vs_bare=0.84 get_vs_cpython=1.57
//! ```
//!
//! From run to run on this machine the ratios move by a few hundredths, and
//! `http_vs_bare` by more: in seven runs of the same day it went from 0.84
//! to 0.92, and tower-http's layers from 0.87 to 0.97, ours staying 0.02 to
//! 0.06 below them.
//!
//! An earlier build, on a shared 2-vCPU AMD EPYC virtual machine where atomic
//! operations cost less, gave
//! `get_vs_otel=0.86 set_reset_vs_otel=0.62 copy_flat=1.00 poll_vs_task_local=2.29 spawn_vs_tokio=1.30 http_vs_bare=0.86 get_vs_cpython=0.83`:
//! there an `Arc`-returning `get` (9.3 ns) beat CPython's (11.1 ns net), and
//! `ctx.run` (23.5 ns) OpenTelemetry's `attach` (28.2 ns).
//!
//! The automatic mode of `contextvars-tokio` (task hooks, `--cfg
//! tokio_unstable`) is measured when the report is built with that flag
//! (`RUSTFLAGS="--cfg tokio_unstable" CARGO_TARGET_DIR=target/unstable cargo
//! run --release -p contextvars-benches --bin report`). On the Intel
//! machine, in a run of that build, one yield-and-repoll round trip of a task
//! took 112 ns plain, 118 ns for a task spawned by `contextvars_tokio::spawn`,
//! and 174 ns in automatic mode, whose hooks look the task's context up in a
//! sharded, locked registry at every poll; spawn + await took 293 ns plain
//! and 416 ns in automatic mode.
//! The wrappers are the fast path; the automatic mode buys not having to
//! change spawn calls.
//!
//! # The report's targets
//!
//! Copying is flat in the context's size, and a write after copying 1,024
//! variables stays under a microsecond. In the run above, reads (`with`),
//! writes and polls cost less than OpenTelemetry's; copying and `run` of a
//! shared context cost a little more (a context is more than its map: an id,
//! and a flag that only one thread at a time may enter it). Reads (`with`)
//! and writes cost less than CPython's; copying, `run` and an
//! `Arc`-returning `get` cost more, each paying atomic reference counts that
//! CPython, under its global lock, does not. The report's targets are
//! stricter, and six are not met. The report carries reference rows that show
//! why, in the same run: the least that any safe design must do for an
//! operation, measured on its own.
//!
//! * **Read** (`get_vs_otel` ≤ 0.35). The least a map-backed read can do in
//!   safe Rust (reference row "least safe map read": a thread-local `RefCell`
//!   borrowed for the read, the entries in one allocation behind it, a
//!   search by id and `Any`'s checked downcast) measures 0.54 of
//!   OpenTelemetry's read (2.23 ns to 4.13), and it leaves out what a current
//!   context needs: writes and context switches while a reader holds `&T`,
//!   copies, teardown. `with` measures 0.79 (72 instructions to
//!   OpenTelemetry's 93, counted with callgrind; `report --only ID N`). Going
//!   below the sketch takes what CPython does in C: a per-variable cache
//!   holding a *borrowed* pointer to the value, or an unchecked downcast,
//!   that is, `unsafe` code, which this crate does not have. The sketch
//!   redone with `unsafe` code (reference row "the same with unsafe code": a
//!   raw pointer in the thread-local, no borrow flag, the value cast without
//!   `Any`'s check) meets the target, barely: in a later run 1.24 ns to
//!   OpenTelemetry's 4.32, 0.29 (28 instructions; the safe sketch 55 and
//!   0.58, `with` 71 and 0.79, same run), before anything a real current
//!   context adds to a read.
//! * **Read with a new reference** (`get_vs_cpython` ≤ 0.15, `get` returns
//!   an `Arc<T>`). A bare `Arc` clone and drop out of a thread-local
//!   (`thread_local!` `RefCell` + `Arc` clone, 12.4 ns here, 4.7 ns on the
//!   AMD machine) is already 1.46 of CPython's net `var.get()` (0.42 there);
//!   the target sits below two atomic operations. `with` (0.38 of CPython)
//!   is the read to use on hot paths.
//! * **Write** (`set_reset_vs_otel` ≤ 0.25). The value's allocation and
//!   release alone (reference row "`Arc::new(v)` + drop", 17.2 ns) is 0.23 of
//!   OpenTelemetry's write: nearly the whole budget before the map is
//!   touched. The rest of ours (0.71 in that run; 568 instructions to
//!   OpenTelemetry's 923, counted after the run, with the uniqueness checks
//!   inlined) is two map updates and three atomic read-modify-writes (the
//!   token's reference to the old value, its release, the release of the new
//!   one).
//! * **Poll** (`poll_vs_task_local` ≤ 1.5; 194 instructions, a `task_local`
//!   scope 60). A `task_local` scope swaps one value in a
//!   `RefCell`; a poll here swaps the map, the context's id and the entering
//!   task in and out of the thread's slot, and asks the task probe of
//!   `contextvars-tokio` which task is polling (about 30 instructions), so
//!   that `set` can refuse to write into another task's context. Task roots
//!   (every future spawned through `contextvars-tokio`) ask once per task
//!   instead ([`WithContext::task_root`](crate::WithContext::task_root)); a
//!   plain `WithContext` may be polled by different tasks over its life (a
//!   shared future), so it asks at every poll.
//! * **Spawn** (`spawn_vs_tokio` ≤ 1.06). The copy of the spawner's context
//!   alone (`child_context()`, 19.4 ns) is 6.9% of tokio's spawn + await
//!   (281 ns): the whole budget, before the task's first poll enters the
//!   copy. Callgrind puts ours at 3,099 instructions per spawn + await and
//!   tokio's at 2,531: the copy, one entry and exit, the release, and a
//!   larger future for tokio to move and drop. The wrapper adds 63 bytes to
//!   the future (the context, 32, and which task polls it), which takes
//!   tokio's task allocation for `async {}` from 128 to 256 bytes (tokio
//!   aligns it to 128; a future of more than 24 bytes crosses the line on
//!   its own), and the larger aligned allocation alone costs glibc's
//!   allocator about 70 more instructions.
//! * **HTTP** (`http_vs_bare` ≥ 0.97). tower-http's request-id layers alone,
//!   which parse no trace context and set no variables, reach 0.87 to 0.97
//!   of bare axum over seven runs: in this harness a request costs so little
//!   (a 2-byte body, no work in the handler) that any middleware shows. The
//!   layer here parses four headers, makes a context with three variables,
//!   fills request and response extensions and echoes the id (16.6
//!   allocations per request over bare axum, down from 19.5 since `tracestate`
//!   and `baggage` share their members between clones and generated ids own
//!   their buffer; tower-http's layers: 12). The report's in-process rows
//!   (`http.inproc.*`) call the same apps through `Service::call`, without
//!   sockets, so that only the middleware differs: with the same header mix,
//!   a request costs bare axum 5,906 instructions, tower-http's layers
//!   12,124 and this layer 14,892 (callgrind, `report --only
//!   http.inproc.layered N`); in a later run of the report on the Intel
//!   machine, 444, 1,054 and 1,324 ns, with 12, 27.1 and 29.8 allocations
//!   (loopback in the same run: `http_vs_bare=0.85`, tower-http's layers
//!   0.87). The four extension inserts (`RequestId`,
//!   `TraceContext` and `Baggage` in the request, `RequestId` in the
//!   response) and their release take about 1,960 of the 8,986 this layer
//!   adds (measured by leaving them out): each extension map allocates a hash
//!   table and boxes every value. The rest is reading four headers, the
//!   context (a copy, three sets, an entry and exit per poll, its release),
//!   the echo, and larger futures to move. Not parsing absent `tracestate`
//!   and `baggage` headers took 287 instructions off a request that
//!   carries only `x-request-id`.
//!
//! Tried and measured, not kept (instructions per operation from callgrind,
//! times from interleaved runs of both builds): a small map as one
//! allocation behind a thin pointer (`triomphe::ThinArc`: reads +3
//! instructions, writes +26, times within noise); the same as an
//! `Arc<[Binding]>` beside its tag, a three-word map (copies +22
//! instructions, polls +43); a branch-free search of small maps (−13% at 16
//! variables, +7 instructions at 1); inline small vectors (reads +19
//! instructions); the small map's eight entries inline in its one
//! allocation (reads −5%, but a set and reset of an unshared context of 4
//! variables +23%, right after a copy +16%); lazy context ids; forced
//! inlining of entry and exit.
//!
//! # Measure on your machine
//!
//! Costs depend on the machine, the allocator and the access pattern: run the
//! report, and measure with your own workload before relying on a figure.
