//! Python's [`contextvars`] (PEP 567) for Rust: values that follow a unit of
//! work — a request, a task, a thread — instead of a call stack or an OS
//! thread.
//!
//! [`contextvars`]: https://docs.python.org/3/library/contextvars.html
//!
//! Set a request id once at the entry point, read it anywhere below without
//! passing it around, and never see another request's id, even when requests
//! share threads.
//!
//! ```
//! use contextvars::{Context, ContextVar};
//!
//! static REQUEST_ID: ContextVar<String> = ContextVar::new("request_id");
//!
//! fn log(msg: &str) -> String {
//!     // Any depth, no parameter.
//!     format!("[{}] {msg}", REQUEST_ID.get())
//! }
//!
//! fn handle(id: &str) -> String {
//!     // Each request runs in a context of its own.
//!     Context::new().run(|| {
//!         REQUEST_ID.set(id.to_string());
//!         log("handled")
//!     })
//! }
//!
//! assert_eq!(handle("a1"), "[a1] handled");
//! assert_eq!(handle("b2"), "[b2] handled");
//! assert!(REQUEST_ID.try_get().is_err()); // nothing leaked to the caller
//! ```
//!
//! # Overview
//!
//! * A [`ContextVar<T>`] is a key, usually a `static`. Its value lives in
//!   the *current context*: [`set`](ContextVar::set) writes there and returns
//!   a [`Token`]; [`get`](ContextVar::get) reads there, falling back to the
//!   variable's default; [`reset`](ContextVar::reset) undoes a `set`.
//! * A [`Context`] is a map from variables to values. Each thread has a
//!   current context, empty when the thread starts. [`copy_context`] snapshots
//!   it in O(1); [`Context::run`] makes another context current while a
//!   closure runs, and records the closure's changes in that context.
//! * [`thread`] starts threads in a copy of the spawner's context.
//! * [`WithContext`] ([`FutureExt::with_current_context`]) runs a future or
//!   stream in a context of its own: the building block of asyncio-style
//!   tasks (the `contextvars-tokio` crate spawns tokio tasks this way).
//! * [`Captured`] and [`Context::wrap`] hand work over to another thread or
//!   task, to run in the sender's context.
//! * [`child_context`] is the copy that spawned work starts with: every
//!   variable except those built with
//!   [`not_inherited`](VarBuilder::not_inherited).
//! * [`propagation`]: variables built with
//!   [`propagate`](VarBuilder::propagate) travel to other services, typed,
//!   through the propagating layers of `contextvars-tower` and
//!   `contextvars-tonic`; servers choose which ones they accept.
//! * [`ContextVar::scope_async`] is Python's `with var.set(value):` around
//!   `await`s: the value is seen by the wrapped future only, in any task.
//!
//! # Isolation by default on tokio
//!
//! A value set for one request or task is never seen by another. With the
//! cargo feature `tokio` (on in every program that links `contextvars-tokio`
//! or `contextvars-tower`; no setup call), the library asks tokio which task
//! each thread polls. Async code without a context of its own — a task
//! spawned with plain `tokio::spawn` or `spawn_blocking` (hyper's and axum's
//! connection tasks among them), or the future given to `block_on`,
//! `#[tokio::main]` or `LocalSet::run_until` — runs in the thread's own
//! context, which every such task polled there shares. There, `set` panics
//! and [`try_set`](ContextVar::try_set) returns [`SetError::NoTaskContext`],
//! whose message names the likely causes and their fixes, instead of writing
//! a value the next task or request would see; a read of an unset variable
//! fails with the same explanation ([`LookupError::in_task_without_context`]).
//! Plain threads keep PEP 567's per-thread semantics. Runtimes other than
//! tokio plug in through [`runtime::set_task_probe`].
//!
//! Values are stored once and shared by every copy; the library never clones
//! a value. Primitive values (integers up to `u128`, floats, `bool`, `char`)
//! are stored inline, so a `set` of one allocates nothing; others live
//! behind an [`Arc`](std::sync::Arc). Storage is persistent: a
//! copy costs one reference-count increment whatever the number of
//! variables, and a write to a context that no copy shares happens in place.
//!
//! # Recipes
//!
//! **Scoped override**, restored even on panic (Python 3.14's
//! `with var.set(v):`):
//!
//! ```
//! use contextvars::ContextVar;
//!
//! static INDENT: ContextVar<usize> = ContextVar::with_default("indent", || 0);
//!
//! fn nested() -> usize {
//!     let _guard = INDENT.set(INDENT.get() + 4).into_guard();
//!     INDENT.get()
//! }
//!
//! assert_eq!(nested(), 4);
//! assert_eq!(INDENT.get(), 0);
//! ```
//!
//! **Background work that inherits the caller's values**:
//!
//! ```
//! use contextvars::ContextVar;
//!
//! static TRACE_ID: ContextVar<u128> = ContextVar::new("trace_id");
//!
//! TRACE_ID.set(0x4bf92f3577b34da6a3ce929d0e0e4736);
//! let worker = contextvars::thread::spawn(|| TRACE_ID.get());
//! assert_eq!(worker.join().unwrap(), 0x4bf92f3577b34da6a3ce929d0e0e4736);
//! ```
//!
//! **Inspecting a context**, e.g. for a log line:
//!
//! ```
//! use contextvars::{copy_context, ContextVar};
//!
//! static USER: ContextVar<&str> = ContextVar::new("user");
//! static ATTEMPT: ContextVar<u32> = ContextVar::new("attempt");
//!
//! USER.set("ada");
//! ATTEMPT.set(2);
//! let ctx = copy_context();
//! assert_eq!(ctx.len(), 2);
//! assert_eq!(format!("{ctx:?}"), r#"Context { user: "ada", attempt: 2 }"#);
//! ```
//!
//! # Python → Rust
//!
//! | Python `contextvars` | Rust |
//! |---|---|
//! | `ContextVar(name)` | [`ContextVar::new(name)`](ContextVar::new) (`const`) |
//! | `ContextVar(name, default=d)` | [`ContextVar::with_default(name, \|\| d)`](ContextVar::with_default) |
//! | (3.16 draft: per-variable inheritance) | [`ContextVar::builder(name).not_inherited().build()`](VarBuilder::not_inherited) |
//! | (none: a Python variable never leaves its process) | [`ContextVar::builder(name).propagate().build()`](VarBuilder::propagate): the value travels to other services in W3C `baggage`, see [`propagation`] |
//! | `var.name` | [`var.name()`](ContextVar::name) |
//! | `var.get()` | [`var.get()`](ContextVar::get) → `T`, a clone (panics) / [`var.try_get()`](ContextVar::try_get) (`Result`) / [`var.with(\|v\| …)`](ContextVar::with) (borrow) / [`var.get_arc()`](ContextVar::get_arc) → the shared `Arc<T>` |
//! | `var.get(default)` | [`var.get_or(default)`](ContextVar::get_or); `var.get(None)`: [`var.get_opt()`](ContextVar::get_opt) |
//! | `var.set(value)` | [`var.set(value)`](ContextVar::set) → [`Token`]; [`var.set_arc(arc)`](ContextVar::set_arc) |
//! | `var.reset(token)` | [`var.reset(&token)`](ContextVar::reset) → `Result<(), ResetError>` |
//! | `with var.set(value):` (3.14) | [`var.set(value).into_guard()`](Token::into_guard) / [`var.scope(value, f)`](ContextVar::scope) |
//! | `with var.set(value): await f()` in a coroutine | [`var.scope_async(value, f()).await`](ContextVar::scope_async) (a `Send` future; the value is gone on every exit, cancellation included) |
//! | `LookupError` | [`LookupError`] |
//! | `RuntimeError` (token used twice) | [`ResetError::AlreadyUsed`] |
//! | `ValueError` (token of another var) | [`ResetError::WrongVar`] |
//! | `ValueError` (token of another context) | [`ResetError::WrongContext`] |
//! | `Token.var` | [`token.var()`](Token::var) → [`VarKey`] |
//! | `Token.old_value` / `Token.MISSING` | [`token.old_value()`](Token::old_value) → `Option<&T>` / `None` |
//! | `Context()` | [`Context::new()`](Context::new) |
//! | `copy_context()` | [`copy_context()`] |
//! | `ctx.copy()` | [`ctx.copy()`](Context::copy) |
//! | `ctx.run(var.set, value)` on a context not yet entered | [`ctx.bind(&var, value)`](Context::bind) (an owned context: no entry, no token); several at once, their values in one allocation: [`ctx.bind_all(((&a, x), (&b, y)))`](Context::bind_all) |
//! | `ctx.run(f, *args)` | [`ctx.run(\|\| f(args))`](Context::run) (panics) / [`ctx.try_run(…)`](Context::try_run) |
//! | `RuntimeError` (context already entered) | [`EnterError::AlreadyEntered`] |
//! | `ctx[var]`, `ctx.get(var, default)` | [`ctx.get(&var)`](Context::get) → `Option<Arc<T>>` (`None` is the `KeyError`) |
//! | `var in ctx` | [`ctx.contains(&var)`](Context::contains) |
//! | `len(ctx)` | [`ctx.len()`](Context::len) |
//! | `iter(ctx)`, `ctx.keys()` | [`ctx.keys()`](Context::keys) |
//! | `ctx.items()`, `ctx.values()` | [`ctx.iter()`](Context::iter) → [`Binding`] |
//! | `ctx1 == ctx2` | `ctx1 == ctx2` (values compared by identity) |
//! | `repr(ctx)` | `format!("{ctx:?}")` lists names and values |
//! | `asyncio.create_task(coro)` | [`fut.with_current_context()`](FutureExt::with_current_context), spawned by your runtime (`contextvars_tokio::spawn`) |
//! | `asyncio.run(main())` | `contextvars_tokio::root(main())` (a copy of the caller's context, as `asyncio.run`) |
//! | `asyncio.create_task(coro, context=ctx)` | [`fut.with_context(ctx)`](FutureExt::with_context) |
//! | `Task.get_context()` | [`WithContext::context`] |
//! | `loop.call_soon(cb, context=ctx)` | [`ctx.wrap(cb)`](Context::wrap), [`Captured`] |
//! | `Thread(target=f)` with `thread_inherit_context` | [`thread::spawn(f)`](thread::spawn), [`thread::Builder`] |
//! | `Thread(target=f, context=ctx)` | [`thread::Builder::new().context(ctx)`](thread::Builder::context) |
//!
//! # Before using
//!
//! [`docs::semantics`] lists every rule of PEP 567 and how it maps here,
//! including the CPython tests that Rust's types make impossible.
//! [`docs::performance`] gives the costs, [`docs::limitations`] the caveats.

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![doc(test(attr(deny(warnings))))]

mod binding;
mod context;
mod current;
pub mod docs;
mod error;
mod future;
mod handoff;
mod map;
mod probe;
pub mod propagation;
#[cfg(feature = "rayon")]
pub mod rayon;
pub mod runtime;
mod scope;
mod stats;
mod sync;
mod task;
pub mod thread;
mod token;
mod var;

pub use binding::{Binding, VarKey};
pub use context::{child_context, copy_context, BindAll, Context, Iter};
pub use error::{EnterError, LookupError, ResetError, SetError};
pub use future::{ContextHandle, FutureExt, WithContext};
pub use handoff::Captured;
pub use scope::Scoped;
pub use stats::live_contexts;
pub use token::{Token, TokenGuard};
pub use var::{ContextVar, VarBuilder};

#[cfg(all(test, loom))]
mod loom_tests;

#[cfg(doctest)]
mod compile_fail_tests;

// The README's examples are tested with `contextvars-tower`'s doc tests,
// where the crates its service example uses are all available.
