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
//! One run, on a shared 2-vCPU AMD EPYC virtual machine (KVM, rustc 1.95,
//! glibc's allocator); medians, ns per operation; instructions per operation
//! in parentheses, counted with callgrind on the same build:
//!
//! | operation | here | alternatives, same run |
//! |---|---:|---|
//! | `u64` `var.get()` by value, 1 / 1,024 variables | 1.82 (43) / 5.92 (113) | OTel `map_current(\|c\| c.get::<T>().copied())` 5.81 (92); CPython `var.get()` 8.82 net |
//! | `u64` `var.with(\|v\| *v)`, 1 / 1,024 variables | 3.25 (65) / 7.46 (134) | `task_local` `with` 1.37 |
//! | `String` `var.get_arc()`, 1 / 1,024 variables | 5.75 (77) / 9.73 | |
//! | set + reset of a `u64` (inline, no allocation), unshared, 1 / 1,024 variables | 21.1 (270) / 61.6 | OTel, a `u64`: 77.6 (933); CPython 148 net |
//! | set + reset of a `String` (its `Arc`), unshared, 1 / 1,024 variables | 43.4 (503) / 97.6 | OTel, a `String`: 96.1 |
//! | copy + set + reset, `u64`, 1 / 1,024 variables | 67.0 / 631 | |
//! | `copy_context()`, 1 / 1,024 variables | 13.4 (70) / 13.3 | CPython 16.5 / 16.8 net |
//! | `ctx.run(\|\| 0)` | 12.9 (189) | CPython 10.9 net |
//! | per poll: `WithContext` as a task's root; not a root; `runtime::Task` | 6.22 (80); 9.33; 5.76 (68) | `task_local` `scope` 5.33 (66); a bare poll 0.82 (8) |
//! | `spawn(f).await`, `f` of 512 bytes, current-thread / multi-thread | 360 (3,420) / 474 | `tokio::spawn` 336 (3,261) / 437 |
//! | HTTP in process (`Service::call`), per request | `RequestContextLayer` 1,249 (11,705; 21.75 allocations); the same making UUIDv4s 1,242 (11,856) | bare axum 549 (5,609; 12); tower-http's request-id layers 1,236 (12,087; 27.12) |
//!
//! ```text
//! get_vs_otel=0.31 get_vs_cpython=0.21 set_reset_vs_otel=0.27 set_reset_arc_vs_otel=0.45 copy_flat=0.99 poll_vs_task_local=1.17 spawn_vs_tokio=1.08 http_added_vs_tower_http=1.02
//! ```
//!
//! The same build's instruction ratios: `get_vs_otel` 0.47,
//! `set_reset_vs_otel` 0.29, `poll_vs_task_local` 1.21 (`runtime::Task`
//! 1.03), spawn of the 512-byte future on current-thread 1.049,
//! `http_added_vs_tower_http` 0.941. Five runs of this build, one after
//! another, the one above first:
//!
//! ```text
//! ... poll_vs_task_local=1.17 spawn_vs_tokio=1.08 http_added_vs_tower_http=1.02
//! ... poll_vs_task_local=1.26 spawn_vs_tokio=1.11 http_added_vs_tower_http=1.02
//! ... poll_vs_task_local=1.26 spawn_vs_tokio=1.10 http_added_vs_tower_http=1.01
//! ... poll_vs_task_local=1.14 spawn_vs_tokio=1.06 http_added_vs_tower_http=0.95
//! ... poll_vs_task_local=1.14 spawn_vs_tokio=1.10 http_added_vs_tower_http=0.96
//! ```
//!
//! The first five keys were met in every run (`get_vs_otel` 0.31 to 0.32,
//! `get_vs_cpython` 0.18 to 0.21, `set_reset_vs_otel` 0.27 to 0.28,
//! `set_reset_arc_vs_otel` 0.43 to 0.46, `copy_flat` 0.99 to 1.01); all
//! eight in the fourth. Two runs of the build before this round's last
//! change (the map's first vector) read `spawn_vs_tokio=1.08
//! http_added_vs_tower_http=1.00` (1.003 unrounded, marked missed) and
//! `spawn_vs_tokio=1.08 http_added_vs_tower_http=0.97`. The time ratios
//! that involve a runtime or a whole request move by up to 0.1 from run to
//! run, and the instruction counts of the rows that run tokio by a few
//! percent from one build of the report to another (tokio's own spawn row:
//! 3,257 last round, 3,308 and 3,261 in two builds of this one); the
//! library's own rows do not move.
//!
//! Where a loop of a few nanoseconds stores to the thread's slot and loads
//! from the future it polls, its time also depends on where the two sit:
//! when their addresses agree in their low 12 bits, the processor takes the
//! load for one that may depend on the store (4K aliasing) and waits. The
//! stack's placement changes from one process to the next (a task's root
//! poll measured 5.5 to 9.8 ns in separate processes of one build), so the
//! report runs each round at another depth of the stack and takes the
//! median; the slot's placement is fixed by the binary's other
//! thread-locals (one thread-local of 96 bytes added elsewhere in the
//! binary moved the same poll to 8.1 ns in every process).
//!
//! `get` of an inline value, `with`, `get_arc`, `copy_context` and
//! `child_context` (of a context whose variables are all inherited) allocate
//! nothing, and neither does a `set` + `reset` of an inline value in an
//! unshared context. Set + reset among 1,024 variables stays under a
//! microsecond, unshared (61.6 ns) and right after a copy (631 ns).
//!
//! # What the last rounds changed
//!
//! Each change measured with callgrind on the build before and after it
//! (instructions per operation); times are best-of-5 or interleaved medians
//! of both builds on the machine above.
//!
//! This round, the request layer (instructions per request in process;
//! atomic operations counted as the `lock`-prefixed instructions callgrind
//! saw executed; tower-http's pair: 12,089 instructions, 27.1 allocations,
//! 11.3 atomic operations):
//!
//! | change | measured |
//! |---|---|
//! | the layer's UUIDv7s made without a lock: the millisecond and a 12-bit counter from one process-wide atomic word (compare-and-swap, ids still strictly increasing across threads), the random bits from the thread's generator, the time from `CLOCK_REALTIME_COARSE` on Linux | `RequestId::new_v7` 46.6 ns (its buffer included; medians of 7) against 138.7 for a `RequestId` of the `uuid` crate's `now_v7` and 70.3 of its `new_v4`; per request 12,131 → 11,905 |
//! | whether a request's context must hide the caller's baggage asked of the caller's context (no lock when it has none) instead of the new context under its lock; [`Context::get`](crate::Context::get), `contains` and `len` read a context that is not entered under its lock without copying its map | 3.5 atomic operations fewer per request; `Context::get` 5 → 3, `contains` 4 → 2 |
//! | the request's id, trace and baggage bound with [`Context::bind_all`](crate::Context::bind_all): one allocation for the three values | 11,905 → 11,795; 22.4 → 21.3 allocations; 29.5 → 27.5 atomic operations |
//! | the default settings of a layer in static memory, so that cloning the layer and making its service touch no reference count (axum applies a router's layers again at every request to a handler route of a router called as a service) | 27.5 → 21.5 atomic operations; 11,795 → 11,770 |
//! | a map's first vector allocated with the capacity its first insert grew it to, without going through the vector's growth path | 11,770 → 11,707; set + reset unchanged |
//! | `Context::bind` and `bind_all` through one inlined insert (after the runs below) | 11,705 → 11,675; the other rows unchanged |
//!
//! What `bind_all` costs the reads and writes of values bound one by one
//! (a binding keeps the part it refers to in what was padding; a value held
//! for a reader is a word larger): set + reset of a `u64` 267 → 270, of a
//! `String` 501 → 503, `get` of a `String` 290 → 293, `get_arc` 71 → 77,
//! `with` 59 → 64. Tried first and left out: the part as a variant of the
//! stored value (set + reset of a `u64` 267 → 294, whatever the variant
//! held: the write of an inline value was no longer made in place), and
//! the same inside the shared variant (269, but the write of a `String`
//! 522 and its `get` 315); the context's first map made in one go from the
//! request's bindings (18 to 54 instructions more than two inserts); the
//! request id's header name made from its constant rather than cloned
//! (3 fewer instructions: not kept); the small map's entries in its own
//! allocation again, as a fixed array of 8 (one allocation fewer per
//! request, but set + reset among 4 variables right after a copy 1,045 →
//! 1,340, and 67 instructions fewer per request only, the array's copies
//! eating the rest).
//!
//! Times could not settle these changes: the ratio of the layer's added
//! cost to tower-http's, taken within each of 7 rounds of the rows alone
//! (bare, tower-http, the layer, tower-http, bare), had medians of 0.98,
//! 1.00 and 1.06 in three runs of one binary (before `bind_all`) and 1.02
//! and 1.08 in two runs of another (with it), single rounds ranging from
//! 0.68 to 2.12.
//!
//! The round before:
//!
//! | change | measured |
//! |---|---|
//! | a read by value inlined into its caller, with the panic for a binding of another type (which no API can make: a value of an inline type is always stored inline) kept out of line | `get` of a `u64` among 1 variable 55 → 44 instructions; interleaved, medians of 5: 2.80 → 1.86 ns, among 1,024 6.69 → 5.96 ns |
//! | the report: each round of a benchmark at another depth of the stack | the median of a task's root poll no longer follows one process's stack placement (two runs of one build: 1.19 and 1.21 of a `task_local` scope) |
//! | the report: a row of the request layer making UUIDv4s, tower-http's kind of id, beside the default | the floor of `http_added_vs_tower_http` in the same run then: 0.997 |
//! | the response future moves the request id into the echoed header instead of sharing it | one reference-count increment and decrement fewer per request; in process 12,186 → 12,164 instructions; times within the noise: interleaved, medians of 9, the added cost over tower-http's within each build 1.039 → 1.038, while tower-http's own row, the same code in both builds, moved by 31 ns |
//!
//! The thread's slot and the write path (two rounds before):
//!
//! | change | measured |
//! |---|---|
//! | the thread's slot holds the current map itself, not an `Rc` of it; readers that run user code ([`with`](crate::ContextVar::with), `get` of a type not stored inline) hold the value they read, an inline copy or a reference count, instead of the map | a poll of a task's root 127 → 99; set + reset of a `u64` 399 → 374; `get_arc` 116 → 80; `get` of a `String` 288 → 299 (an atomic increment and decrement instead of an `Rc`'s) |
//! | a read scans the small vector for its key, with no insertion point to track | `get` among 1 variable 65 → 56, among 4 93 → 77 |
//! | the base context's id stays in its own cell and its task is always none: entering a context from the base context, and exiting back, move only its map | a poll 98 → 78 |
//! | the slot's fields in declaration order, so that an exit to the base context is two 8-byte moves rather than one 16-byte load waiting on the 8-byte store the entry made (a failed store forward, about 12 cycles) | a poll 8.2 → 5.5 ns, a `task_local` scope's 5.0 |
//! | the replacement of a variable already bound in an unshared small map inlined into `set` and `reset`: the new binding is written straight into its slot instead of being assembled on the stack and copied by wide loads that wait on its narrow stores; `reset` copies the old binding by its known type | set + reset of a `u64` 378 → 269 and 28.6 → 20.9 ns (OpenTelemetry's write 77); of a `String` 597 → 500 |
//! | `contextvars_tokio::spawn` and `JoinSet::spawn` hand the task to tokio through the runtime's handle, which moves it into the task's allocation with three fewer copies than `tokio::spawn` | spawn and await of a 512-byte future 3,751 → 3,427 (`tokio::spawn` of the bare future 3,287); interleaved, medians of 5: current-thread 383 → 344 ns, multi-thread 491 → 460 ns |
//!
//! Tried and left out: the small vector in the map's own allocation
//! (`smallvec`, 4 entries inline: reads 2 to 5 instructions slower, a copy
//! before a write no cheaper, as glibc's allocator serves both sizes from
//! its per-thread cache); the task probe and the write in one access to the
//! thread-local (18 to 54 more instructions: the closure carrying the new
//! binding is moved through the result); a base context that never moves,
//! at the cost of a branch in every read (reads 5 and set + reset 14
//! instructions slower, polls no faster than the design kept); `get`
//! inlined into its caller while the read of a binding stored otherwise was
//! inlined with it (6 more; done this round once that path moved out of
//! line); `contextvars_tokio::spawn` through `tokio::spawn` instead of the
//! runtime's handle, which clones the handle (an atomic increment and
//! decrement) but copies the task three more times (interleaved, medians of
//! 7: current-thread 339 → 383 ns, multi-thread 468 → 503 ns); a UUIDv7
//! generator per thread for the request layer's ids instead of the `uuid`
//! crate's process-wide one behind a mutex (on two cores no faster: 89 to
//! 103 ns per id against 86 to 91 alone, 90 to 97 against 94 to 155 with
//! two threads making ids at once; ids ordered per thread only; and its
//! thread-local moved the slot to the 8.1 ns placement above).
//!
//! Values by value (three rounds before):
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
//! In the run above six are met, `spawn_vs_tokio` at its bound (1.08), and
//! `http_added_vs_tower_http` is missed (1.02); over the five runs, each of
//! the two is met in two and missed by 0.01 to 0.03 in the other three.
//! Where they stand:
//!
//! * **`http_added_vs_tower_http`** (0.95 to 1.02). The layer parses four
//!   headers instead of one, validates them, makes a context with three
//!   variables and echoes the id, with 5.4 allocations per request fewer
//!   than tower-http's pair and 5.9% fewer instructions (6,096 added to
//!   bare axum's, against 6,478). What it still does more of: atomic
//!   operations (21.5 per request against 11.3: the request id's bytes,
//!   shared by its header, its extension, its binding and the handler's
//!   copy, and the reference counts of the context and of its values), and
//!   asking tokio which task runs, once when the inner service is called in
//!   the request's context and once at the first poll. The UUIDv4 row is no
//!   cheaper than the default any more (1,242 against 1,249 ns in this run,
//!   11,856 against 11,705 instructions): the default id no longer costs
//!   more than tower-http's kind.
//! * **`spawn_vs_tokio`** (1.06 to 1.11; current-thread 1.07,
//!   multi-thread 1.08 in the run above). The spawn adds the copy of the
//!   spawner's context (one reference count), its first entry, its
//!   release, the clone of the runtime's handle, and 24 bytes to the task,
//!   which keeps tokio's task cell at 640 bytes; the future is not copied
//!   more often than by `tokio::spawn`. On current-thread that is 107 to
//!   173 instructions, depending on the build of the report (3,420 against
//!   3,261 in this one). On the multi-thread runtime the rest follows the
//!   wake-ups, which make the row bimodal and move it by 0.1 from run to
//!   run.
//!
//! # Measure on your machine
//!
//! Costs depend on the machine, the allocator and the access pattern: run the
//! report, and measure with your own workload before relying on a figure.
