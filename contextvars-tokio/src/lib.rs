//! asyncio-style context propagation for [tokio]: every task runs in its own
//! [`Context`], a copy of the spawner's context taken at spawn time, exactly
//! as `asyncio.create_task` does.
//!
//! ```
//! use contextvars::ContextVar;
//!
//! static REQUEST_ID: ContextVar<String> = ContextVar::new("request_id");
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! contextvars_tokio::root(async {
//!     REQUEST_ID.set("req-1".to_string());
//!     let child = contextvars_tokio::spawn(async {
//!         let inherited = REQUEST_ID.get();     // a copy of the parent's context
//!         REQUEST_ID.set("child".to_string());  // stays in the child
//!         tokio::task::yield_now().await;
//!         (inherited, REQUEST_ID.get())         // its own set survived the await
//!     });
//!     let (inherited, own) = child.await.unwrap();
//!     assert_eq!(inherited, "req-1");
//!     assert_eq!(own, "child");
//!     assert_eq!(REQUEST_ID.get(), "req-1");   // nothing leaked back
//! })
//! .await;
//! # }
//! ```
//!
//! # asyncio → tokio
//!
//! | asyncio | here |
//! |---|---|
//! | `asyncio.create_task(coro)` | [`spawn(fut)`](spawn) |
//! | `asyncio.create_task(coro, context=ctx)` | [`spawn_with_context(fut, ctx)`](spawn_with_context) (an `Arc<Context>` is shared and accumulates the task's changes) |
//! | `loop.create_task(coro)` on another loop | [`spawn_on(fut, &handle)`](spawn_on) |
//! | `asyncio.to_thread(f)` | [`spawn_blocking(f)`](spawn_blocking) (runs `f` in a copy) |
//! | `loop.run_in_executor(None, f)` | `tokio::task::spawn_blocking(f)`: no propagation, like asyncio; but where asyncio lets `f` set a variable in the executor thread's context (and the next job on that thread sees it), a `set` in `f` is refused here: use [`spawn_blocking`] |
//! | `asyncio.gather(a(), b())` | `tokio::join!(a().with_current_context(), b().with_current_context())` (each branch in a copy, as `gather` makes tasks), or spawn each with [`spawn`] and await the handles, or [`JoinSet`] |
//! | `with var.set(v): await f()` | [`VAR.scope_async(v, f()).await`](contextvars::ContextVar::scope_async) |
//! | `asyncio.TaskGroup` | [`JoinSet`] |
//! | `Task.get_context()` | [`WithContext::context`](contextvars::WithContext::context) |
//! | `asyncio.run(main())` | `rt.block_on(`[`root(main())`](root)`)` or `#[tokio::main]` + [`root`] (a copy of the caller's context, as `asyncio.run` makes); without [`root`], `set` in the main future is refused |
//! | a coroutine awaited directly | a future awaited directly: shares the task's context |
//! | a task on a `LocalSet` | [`spawn_local(fut)`](spawn_local) |
//!
//! # Tasks spawned without a context
//!
//! Libraries spawn tasks with plain [`tokio::spawn`] (hyper and axum do, for
//! every connection). Such a task has no context of its own: it runs in the
//! context of whatever worker thread polls it, which every such task on that
//! thread shares. The same holds for a closure given to plain
//! `tokio::task::spawn_blocking` (the blocking thread's context, shared with
//! the next jobs on that thread) and for the future given to `block_on`
//! (the body of `#[tokio::main]`) or `LocalSet::run_until`, which is polled
//! on the thread that polls the tasks. In every program that links this
//! crate — no setup call: it turns on `contextvars`' `tokio` feature — the
//! rules for such code are:
//!
//! * `get` reads the context that is current where the task is polled: the
//!   worker thread's own context, or a context entered around the whole
//!   runtime (the future given to `LocalSet::run_until` or `block_on`, a
//!   runtime driven inside `Context::run`). No task ever writes there, so a
//!   task never observes another task's values: it sees variables'
//!   defaults, or what was set on the thread outside of any runtime.
//! * `set` panics ([`SetError::NoTaskContext`](contextvars::SetError), and
//!   `try_set` returns it) instead of writing a value that the next task
//!   polled there would see: every context records which task entered it,
//!   and a task may only write to contexts it entered itself. The message
//!   names the variable, the likely causes and their fixes: a middleware
//!   outside `contextvars_tower::RequestContextLayer`, a plain `tokio::spawn`
//!   ([`spawn`], or `.with_current_context()`), a plain `spawn_blocking`
//!   ([`spawn_blocking`]), a main future without [`root`]. A `get` of an
//!   unset variable there explains the same.
//! * [`ContextVar::scope_async`](contextvars::ContextVar::scope_async) and
//!   [`ContextVar::scope`](contextvars::ContextVar::scope) work: they bind a
//!   value only while their own code runs, when nothing else runs on the
//!   thread.
//! * Futures wrapped with [`FutureExt::with_current_context`] or
//!   [`FutureExt::with_context`] inside such a task have a context and can
//!   `set` freely; this is what the request-context middleware of
//!   `contextvars-tower` does for every request.
//!
//! # A lint for plain spawns
//!
//! Clippy's [`disallowed_methods`] lint can flag every spawn that does not
//! carry the context, with the replacement in its message. Put this in a
//! `clippy.toml` beside the `Cargo.toml` of the package (Clippy reads the
//! `clippy.toml` of the package it checks, or else of the nearest directory
//! above it that has one, such as a workspace root):
//!
//! ```toml
//! # Spawns that do not carry the context: a task or blocking job started with
//! # these runs without the spawner's values (and a `set` in it panics), a thread
//! # in an empty context. Each reason names the replacement that copies the
//! # spawner's context.
//! disallowed-methods = [
//!     { path = "tokio::spawn", reason = "the task gets no context: use `contextvars_tokio::spawn`, which runs it in a copy of the spawner's" },
//!     { path = "tokio::task::spawn", reason = "the task gets no context: use `contextvars_tokio::spawn`, which runs it in a copy of the spawner's" },
//!     { path = "tokio::task::spawn_blocking", reason = "the closure gets no context: use `contextvars_tokio::spawn_blocking`, which runs it in a copy of the spawner's" },
//!     { path = "tokio::task::spawn_local", reason = "the task gets no context: use `contextvars_tokio::spawn_local`, which runs it in a copy of the spawner's" },
//!     { path = "tokio::runtime::Handle::spawn", reason = "the task gets no context: use `contextvars_tokio::spawn_on`, which runs it in a copy of the spawner's" },
//!     { path = "tokio::runtime::Handle::spawn_blocking", reason = "the closure gets no context: use `contextvars_tokio::spawn_blocking_on`, which runs it in a copy of the spawner's" },
//!     { path = "tokio::task::JoinSet::spawn", reason = "the task gets no context: use `contextvars_tokio::JoinSet`, whose tasks run in copies of the spawner's" },
//!     { path = "std::thread::spawn", reason = "the thread gets no context: use `contextvars::thread::spawn`, which runs it in a copy of the spawner's" },
//! ]
//! ```
//!
//! `cargo clippy` then reports a `tokio::spawn(..)` as ``use of a disallowed
//! method `tokio::task::spawn` `` with the reason, a warning (an error with
//! `-D warnings`). A spawn that should not inherit the spawner's values can
//! stay, with `#[allow(clippy::disallowed_methods)]` on it.
//!
//! [`disallowed_methods`]: https://rust-lang.github.io/rust-clippy/master/index.html#disallowed_methods
//!
//! # Limitations
//!
//! * Branches of `tokio::join!` and `tokio::select!` are polled by the task
//!   that runs the macro, so they share its context: a `set` in one branch is
//!   seen by the others. Wrap each branch with
//!   [`with_current_context`](FutureExt::with_current_context) to give it a
//!   copy of its own (asyncio's `gather` makes tasks for the same reason):
//!   `tokio::join!(a().with_current_context(), b().with_current_context())`.
//!   A value bound with `scope_async` in one branch is never seen by the
//!   others.
//! * A thread inside `Runtime::enter` counts as tokio code that is not a
//!   task: `set` there is refused too. Set values before entering, or inside
//!   a `Context::run` of their own.
//! * A context is entered by one thread at a time. Two tasks spawned with the
//!   same `Arc<Context>` on a multi-thread runtime panic if they are polled
//!   at the same time; give concurrent tasks their own copies.
//!
//! [tokio]: https://docs.rs/tokio
//! [`Context`]: contextvars::Context

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![doc(test(attr(deny(warnings))))]

use std::future::Future;

use contextvars::runtime::Task;
use contextvars::{child_context, Context};
pub use contextvars::{ContextHandle, FutureExt, WithContext};
use tokio::runtime::Handle;
use tokio::task::JoinHandle;

#[cfg(tokio_unstable)]
mod auto;
mod join_set;

#[cfg(tokio_unstable)]
pub use auto::{RuntimeBuilderExt, TaskContexts};
pub use join_set::JoinSet;

/// The `contextvars` crate this crate is built on, for [`ContextVar`] and
/// [`Context`] without a version to match.
///
/// [`ContextVar`]: contextvars::ContextVar
#[doc(no_inline)]
pub use contextvars;
/// The `tokio` crate whose tasks this crate spawns, for the [`JoinHandle`]s
/// and runtime handles in its signatures.
#[doc(no_inline)]
pub use tokio;

/// Turns on the refusal of `set` in tokio tasks without a context of their
/// own (see the [crate docs](crate#tasks-spawned-without-a-context)).
///
/// There is nothing left to turn on, and this does nothing at run time:
/// linking this crate enables `contextvars`' `tokio` feature, with which the
/// library asks tokio which task each thread polls, from the first task on,
/// whether or not anything was called at startup. It is kept so that
/// programs written for earlier versions, which had to call it, keep
/// compiling.
///
/// # Examples
///
/// ```
/// contextvars_tokio::install(); // optional
/// ```
pub fn install() {
    // The feature is required by this crate's manifest; this names the one
    // item it adds, so that building without it fails here, loudly.
    let _detects_tokio_tasks: fn(tokio::task::Id) -> u64 = contextvars::runtime::tokio_task_key;
}

/// Runs `future` in a copy of the current context, taken now: the entry
/// point of an async program, `asyncio.run(main())`, which runs `main` in a
/// copy of the caller's context too.
///
/// The future given to `block_on` (and so the body of `#[tokio::main]`, and
/// the future given to `LocalSet::run_until`) is polled on the calling
/// thread, in that thread's own context, which whatever else the thread polls
/// shares: on a `current_thread` runtime every task, and every request those
/// tasks serve. A `set` there is therefore refused, as in a task without a
/// context; wrapping the body with `root` gives it a context of its own, in
/// which it can `set` freely and from which the tasks it spawns with
/// [`spawn`] copy their values.
///
/// Since the thread's context is empty unless something was set before the
/// runtime started, the copy is usually empty; use
/// [`FutureExt::with_context`]`(Context::new())` for a context that is empty
/// whatever the caller set.
///
/// # Examples
///
/// ```
/// use contextvars::ContextVar;
///
/// static V: ContextVar<u8> = ContextVar::new("v");
///
/// #[tokio::main(flavor = "current_thread")]
/// async fn main() {
///     contextvars_tokio::root(async {
///         V.set(1);
///         tokio::task::yield_now().await;
///         assert_eq!(V.get(), 1);
///     })
///     .await;
/// }
/// ```
///
/// Without `root`, the same `set` is refused:
///
/// ```
/// use contextvars::{ContextVar, SetError};
///
/// static V: ContextVar<u8> = ContextVar::new("v");
///
/// #[tokio::main(flavor = "current_thread")]
/// async fn main() {
///     assert_eq!(V.try_set(1).unwrap_err(), SetError::NoTaskContext);
/// }
/// ```
pub fn root<F: Future>(future: F) -> WithContext<F> {
    future.with_current_context()
}

/// Spawns `future` as a tokio task that runs in a copy of the current
/// context, taken now: `asyncio.create_task(coro)`.
///
/// The task's changes stay in its copy: they persist across its `.await`s and
/// are never seen by the spawner or by other tasks.
///
/// # Panics
///
/// As [`tokio::spawn`]: panics outside of a tokio runtime.
///
/// # Examples
///
/// ```
/// use contextvars::ContextVar;
///
/// static V: ContextVar<&str> = ContextVar::new("v");
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// # contextvars_tokio::root(async {
/// V.set("parent");
/// let handle = contextvars_tokio::spawn(async { V.get() });
/// V.set("changed after spawn");
/// assert_eq!(handle.await.unwrap(), "parent");
/// # }).await;
/// # }
/// ```
#[track_caller]
#[inline]
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    // Through the handle rather than `tokio::spawn`: the same runtime and
    // the same panic outside of one, but three fewer copies of the task on
    // its way into tokio's allocation (a 512-byte future: 3,751 → 3,427
    // instructions per spawn and await, `tokio::spawn` of the bare future
    // 3,287).
    tokio::runtime::Handle::current().spawn(Task::new(future))
}

/// Spawns `future` as a tokio task that runs in `ctx`:
/// `asyncio.create_task(coro, context=ctx)`.
///
/// A [`Context`] passed by value is owned by the task. An `Arc<Context>` is
/// shared: the task's changes are recorded in it and visible to the other
/// holders (and to later tasks spawned with it) once the task is done.
///
/// # Panics
///
/// As [`tokio::spawn`]. The task panics if a shared context is entered
/// elsewhere (another task polled at the same time) when the task is polled.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use contextvars::{copy_context, ContextVar};
///
/// static V: ContextVar<u32> = ContextVar::new("v");
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let ctx = Arc::new(copy_context());
/// contextvars_tokio::spawn_with_context(async { V.set(1) }, ctx.clone()).await.unwrap();
/// contextvars_tokio::spawn_with_context(async { V.set(V.get() + 1) }, ctx.clone()).await.unwrap();
/// assert_eq!(ctx.get(&V).as_deref(), Some(&2));
/// # }
/// ```
#[track_caller]
pub fn spawn_with_context<F>(future: F, ctx: impl Into<ContextHandle>) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(future.with_context(ctx).task_root())
}

/// Spawns `future` on the runtime of `handle`, in a copy of the current
/// context.
///
/// # Examples
///
/// ```
/// use contextvars::ContextVar;
///
/// static V: ContextVar<u8> = ContextVar::new("v");
///
/// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// V.set(3);
/// let handle = contextvars_tokio::spawn_on(async { V.get() }, rt.handle());
/// assert_eq!(rt.block_on(handle).unwrap(), 3);
/// ```
#[track_caller]
pub fn spawn_on<F>(future: F, handle: &Handle) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    handle.spawn(Task::new(future))
}

/// Spawns a `!Send` future on the current [`LocalSet`](tokio::task::LocalSet),
/// in a copy of the current context.
///
/// # Panics
///
/// As [`tokio::task::spawn_local`]: panics outside of a `LocalSet`.
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
/// use contextvars::ContextVar;
///
/// static V: ContextVar<u8> = ContextVar::new("v");
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let local = tokio::task::LocalSet::new();
/// let seen = local
///     .run_until(contextvars_tokio::root(async {
///         V.set(4);
///         let not_send = Rc::new(());
///         contextvars_tokio::spawn_local(async move {
///             let _keep = not_send;
///             V.get()
///         })
///         .await
///         .unwrap()
///     }))
///     .await;
/// assert_eq!(seen, 4);
/// # }
/// ```
#[track_caller]
pub fn spawn_local<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    tokio::task::spawn_local(Task::new(future))
}

/// Spawns a `!Send` future on the current `LocalSet`, in `ctx`.
///
/// # Panics
///
/// As [`tokio::task::spawn_local`], and as [`spawn_with_context`] for a
/// shared context.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use contextvars::{Context, ContextVar};
///
/// static V: ContextVar<u8> = ContextVar::new("v");
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let ctx = Arc::new(Context::new());
/// let local = tokio::task::LocalSet::new();
/// local
///     .run_until(async {
///         contextvars_tokio::spawn_local_with_context(async { V.set(5) }, ctx.clone()).await
///     })
///     .await
///     .unwrap();
/// assert_eq!(ctx.get(&V).as_deref(), Some(&5));
/// # }
/// ```
#[track_caller]
pub fn spawn_local_with_context<F>(
    future: F,
    ctx: impl Into<ContextHandle>,
) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    tokio::task::spawn_local(future.with_context(ctx).task_root())
}

/// Runs the blocking function `f` on tokio's blocking pool, in a copy of the
/// current context: `asyncio.to_thread(f)`.
///
/// `f` sees the caller's values as they were at this call; its own changes
/// stay in the copy. (`tokio::task::spawn_blocking` itself, like asyncio's
/// `run_in_executor`, propagates nothing.)
///
/// # Panics
///
/// As [`tokio::task::spawn_blocking`]: panics outside of a tokio runtime.
///
/// # Examples
///
/// ```
/// use contextvars::ContextVar;
///
/// static V: ContextVar<&str> = ContextVar::new("v");
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// # contextvars_tokio::root(async {
/// V.set("caller");
/// let seen = contextvars_tokio::spawn_blocking(|| {
///     let seen = V.get();
///     V.set("worker"); // stays in the copy
///     seen
/// })
/// .await
/// .unwrap();
/// assert_eq!(seen, "caller");
/// assert_eq!(V.get(), "caller");
/// # }).await;
/// # }
/// ```
#[track_caller]
pub fn spawn_blocking<F, R>(f: F) -> JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    tokio::task::spawn_blocking(child_context().wrap(f))
}

/// Runs the blocking function `f` on tokio's blocking pool, in `ctx`.
///
/// # Panics
///
/// As [`tokio::task::spawn_blocking`].
///
/// # Examples
///
/// ```
/// use contextvars::{Context, ContextVar};
///
/// static V: ContextVar<u8> = ContextVar::new("v");
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let seen = contextvars_tokio::spawn_blocking_with_context(|| V.try_get().is_err(), Context::new())
///     .await
///     .unwrap();
/// assert!(seen);
/// # }
/// ```
#[track_caller]
pub fn spawn_blocking_with_context<F, R>(f: F, ctx: Context) -> JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    tokio::task::spawn_blocking(ctx.wrap(f))
}

/// Runs the blocking function `f` on the blocking pool of `handle`'s runtime,
/// in a copy of the current context.
///
/// # Examples
///
/// ```
/// use contextvars::ContextVar;
///
/// static V: ContextVar<u8> = ContextVar::new("v");
///
/// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// V.set(6);
/// let handle = contextvars_tokio::spawn_blocking_on(|| V.get(), rt.handle());
/// assert_eq!(rt.block_on(handle).unwrap(), 6);
/// ```
#[track_caller]
pub fn spawn_blocking_on<F, R>(f: F, handle: &Handle) -> JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    handle.spawn_blocking(child_context().wrap(f))
}
