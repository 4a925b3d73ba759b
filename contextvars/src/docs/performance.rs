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
//! | [`ContextVar::with`](crate::ContextVar::with) | thread-local access, lookup, type check; a value stored inline is copied, a shared one's reference count held while the closure runs (one atomic increment and decrement) | no |
//! | [`ContextVar::get`](crate::ContextVar::get) | a value stored inline (integers up to `u128`, floats, `bool`, `char`): thread-local access, lookup, a copy, no reference count; any other: as `with`, then a clone of the value | only if `T::clone` does |
//! | [`ContextVar::get_arc`](crate::ContextVar::get_arc) | thread-local access, lookup, one atomic increment (the `Arc<T>` returned) | no |
//! | [`ContextVar::set`](crate::ContextVar::set) | the value stored inline (the types above) or in a new `Arc`; tokio's task id (one read of its thread-local); an in-place insert if the current map is not shared, else a copy of the small vector or a path of the trie | the `Arc` of a value not stored inline, and the copy when shared |
//! | [`ContextVar::reset`](crate::ContextVar::reset) | as `set`, restoring the old value or removing the key | only when the map is shared |
//! | [`copy_context`](crate::copy_context), [`Context::copy`](crate::Context::copy) | one atomic increment of the map, a new context id (from a per-thread block) | no |
//! | [`child_context`](crate::child_context) (every spawn through the integrations) | as `copy_context`; if the context binds variables that are not inherited, a copy without them: a new small vector, or one trie path per variable left out | only in that case |
//! | [`Context::bind`](crate::Context::bind) | an insert into the context's own map: no entry, no task probe, no token | as `set` |
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
//! shared ones are noisy: only ratios from one run mean anything, and
//! instruction counts (callgrind, `report --only ID N`: the difference
//! between runs of N and 3N iterations, over 2N) settle what timings cannot.
//!
//! One run, on a shared 2-vCPU Intel Xeon virtual machine (KVM, rustc 1.95,
//! glibc's allocator); medians, ns per operation; instructions per operation
//! in parentheses, counted with callgrind on the same build:
//!
//! | operation | here | alternatives, same run |
//! |---|---:|---|
//! | `u64` `var.get()` by value, 1 / 1,024 variables | 3.28 (69) / 7.21 | OTel `map_current(\|c\| c.get::<T>().copied())` 5.84 (93); CPython `var.get()` 8.9 net |
//! | `u64` `var.with(\|v\| *v)`, 1 / 1,024 variables | 7.36 (75) / 7.96 | `task_local` `with` 1.37 |
//! | `String` `var.get_arc()`, 1 / 1,024 variables | 7.77 / 13.1 | |
//! | set + reset of a `u64` (inline, no allocation), unshared, 1 / 1,024 variables | 49.0 (412) / 70.4 | OTel, a `u64`: 76.3 (936) |
//! | set + reset of a `String` (its `Arc`), unshared, 1 / 1,024 variables | 66.7 (627) / 89.8 | OTel, a `String`: 93.9 |
//! | copy + set + reset, `u64`, 1 / 1,024 variables | 111 / 641 | |
//! | `copy_context()`, 1 / 1,024 variables | 13.0 (75) / 13.4 | |
//! | `ctx.run(\|\| 0)` | 16.0 (226) | |
//! | per poll: `WithContext` as a task's root; not a root; `runtime::Task` | 12.0 (128); 13.1 (152); 9.86 (119) | `task_local` `scope` 4.96 (65) |
//! | `spawn(f).await`, `f` of 512 bytes, current-thread / multi-thread | 406 / 529 | `tokio::spawn` 348 / 435 |
//! | HTTP in process (`Service::call`), per request | `RequestContextLayer` 1,289 (12,181; 22.9 allocations) | bare axum 508 (5,603; 12); tower-http's request-id layers 1,248 (12,079; 27.1) |
//!
//! ```text
//! get_vs_otel=0.56 get_vs_cpython=0.37 set_reset_vs_otel=0.64 set_reset_arc_vs_otel=0.71 copy_flat=1.02 poll_vs_task_local=2.42 spawn_vs_tokio=1.22 http_added_vs_tower_http=1.06
//! ```
//!
//! The same build's instruction ratios: `get_vs_otel` 0.74, `set_reset_vs_otel`
//! 0.44, `set_reset_arc_vs_otel` 0.63, `poll_vs_task_local` 1.97 (`runtime::Task`
//! 1.83), `http_added_vs_tower_http` 1.016. In another run of the report on
//! the same machine, under more load, `get_vs_otel` was 0.72 and
//! `get_vs_cpython` 0.22: on this machine the time ratios move by up to 0.15
//! from run to run, the instruction counts do not.
//!
//! `get` of an inline value, `with`, `get_arc`, `copy_context` and
//! `child_context` (of a context whose variables are all inherited) allocate
//! nothing, and neither does a `set` + `reset` of an inline value in an
//! unshared context. Set + reset among 1,024 variables stays under a
//! microsecond, unshared (70 ns) and right after a copy (641 ns).
//!
//! # What this round changed
//!
//! Each change measured with callgrind on the build before and after it
//! (instructions per operation):
//!
//! | change | measured |
//! |---|---|
//! | `set` refused in tokio tasks without a context with no setup call (the `tokio` feature asks tokio at each `set` and entry) | set + reset of a `u64` 568 → 590, `Context::run` 231 → 258 |
//! | values of primitive types stored inline, no `Arc` per `set` | set + reset of a `u64` 590 → 436 |
//! | `get` by value; an inline value copied out of the thread's map with no reference count | 69 (`with` 75, the former `Arc`-returning `get` 83) |
//! | a poll enters and exits in one access to the thread-local | per poll of a task's root 191 → 142 |
//! | the task probe's answer kept by a task's root, its exit inlined | 142 → 128 |
//! | tokio's runtime asked only for a `set` in a thread's own context, not at every entry | set + reset 437 → 412, `Context::run` 258 → 226, a poll of a wrapper that is not a task's root 190 → 152 |
//! | spawned tasks wrapped in [`runtime::Task`](crate::runtime::Task) (16 bytes) instead of a `WithContext` (64) | tokio's task cell for `async {}` 256 → 128 bytes, for a 512-byte future 768 → 640 |
//! | the request layer: one extension by default, one pass over the headers, values bound with [`Context::bind`](crate::Context::bind) before entering, one allocation per parsed `tracestate` and baggage member, empty baggage left unbound | in process, per request, 15,803 → 12,181 (tower-http's pair 12,079, bare axum 5,603): the layer's added cost from 1.58 to 1.016 of tower-http's |
//!
//! # The report's targets
//!
//! The last line of `report` holds eight same-run ratios, ours over theirs:
//!
//! | key | measures | target |
//! |---|---|---:|
//! | `get_vs_otel` | `VAR.get()` of a `u64` by value / OpenTelemetry `Context::map_current(\|c\| c.get::<T>().copied())` | ≤ 0.5 |
//! | `get_vs_cpython` | the same `get()` / CPython's `var.get()`, net of `timeit`'s loop | ≤ 0.25 |
//! | `set_reset_vs_otel` | set + reset of a `u64` (inline) in an unshared context / `current_with_value(v).attach()` + drop | ≤ 0.3 |
//! | `set_reset_arc_vs_otel` | the same with a `String` (its `Arc` allocated) / OpenTelemetry's write of a `String` | ≤ 0.55 |
//! | `copy_flat` | `copy_context()` at 1,024 variables / at 1 | ≤ 1.2 |
//! | `poll_vs_task_local` | one poll of `WithContext` as a task's root / of a `task_local` scope | ≤ 1.5 |
//! | `spawn_vs_tokio` | `contextvars_tokio::spawn(f).await` / `tokio::spawn(f).await`, `f` a 512-byte future, the worse of current-thread and multi-thread | ≤ 1.08 |
//! | `http_added_vs_tower_http` | in process (`Service::call`, same header mix): (layer − bare axum) / (tower-http `SetRequestId` + `PropagateRequestId` − bare axum) | ≤ 1.0 |
//!
//! Two are met (`copy_flat`, and `get_vs_cpython` in some runs). Where the
//! others stand, and what is left:
//!
//! * **Reads** (`get_vs_otel`). A read by value is 69 instructions to
//!   OpenTelemetry's 93: the thread-local access (with its check that the
//!   slot is alive), taking the map out of the slot and putting it back, a
//!   scan of the map, and the variant test of the inline value. The
//!   reference rows keep the floors in the same run: the least safe
//!   map-backed read (a `RefCell` borrow, a search, `Any`'s downcast) is 55,
//!   the same with `unsafe` code 28.
//! * **Writes** (`set_reset_vs_otel`, `set_reset_arc_vs_otel`). An inline
//!   `u64` write and its reset cost 412 instructions, with no allocation
//!   and no atomic operation: two map updates (a binding is 64 bytes, aligned
//!   for `u128`; 48 without `u128`, measured at 394), a token, and the task
//!   probe (tokio's task id). A `String` adds its `Arc` (162 instructions on
//!   its own).
//! * **Polls** (`poll_vs_task_local`). A `task_local` scope swaps one value
//!   in a `RefCell`; a poll here swaps the map, the context's id and the
//!   entering task in and out of the thread's slot, so that `set` can refuse
//!   to write into another task's context: 128 instructions to 65, and 119
//!   for the spawned tasks' [`runtime::Task`](crate::runtime::Task).
//! * **Spawns** (`spawn_vs_tokio`). The copy of the spawner's context, the
//!   task's first entry and its release, and more moves of the future:
//!   with a 512-byte future, 325 of the 590 instructions a spawn adds are
//!   copies of it (11 against tokio's 8).
//! * **HTTP** (`http_added_vs_tower_http`). The layer parses four headers,
//!   makes a context with three variables and echoes the id, for 1.6% more
//!   instructions than tower-http's pair, which parses one header and sets
//!   nothing; most of what is left is allocation (the map and its vector,
//!   the request id's and trace context's `Arc`s).
//!
//! # Measure on your machine
//!
//! Costs depend on the machine, the allocator and the access pattern: run the
//! report, and measure with your own workload before relying on a figure.
