//! Limitations and caveats, each with what to do instead.
//!
//! # Values must be `Send + Sync + Debug + 'static`
//!
//! Contexts move between threads and copies share values, hence `Send +
//! Sync`. `Debug` lets a [`Context`](crate::Context) list its values, as
//! Python's `repr` does. For a type that is not `Debug`, store a newtype with a
//! hand-written `Debug` (for example one that prints only an id).
//!
//! # Variables live as long as the contexts that hold their values
//!
//! As in Python, a context keeps the value of every variable set in it alive
//! until the value is reset or the context is dropped. Declare variables as
//! `static`s. A `ContextVar` created per request (for example with
//! `Box::leak`) works, but every one of them is a new key: contexts grow with
//! each.
//!
//! # Names are `&'static str`
//!
//! The constructors are `const`, so a name is a string literal. A name built at
//! run time can be leaked once (`Box::leak(name.into_boxed_str())`).
//!
//! # Defaults are computed once, lazily
//!
//! [`ContextVar::with_default`](crate::ContextVar::with_default) takes a
//! function, called the first time the default is needed; the value is then
//! shared by every thread, like a Python default object. It cannot capture
//! run-time state.
//!
//! # Equality compares values by identity
//!
//! `ctx1 == ctx2` holds when both bind the same variables to the *same*
//! shared values. A copy equals its original; two contexts that each set a
//! variable to `1` independently are not equal, because the library cannot
//! compare values of arbitrary type. Compare the values you care about with
//! [`Context::get`](crate::Context::get) instead.
//!
//! # A context is entered by one thread at a time
//!
//! [`Context::run`](crate::Context::run) on a context that is already entered,
//! recursively or by another thread, fails (`try_run`) or panics (`run`), as
//! CPython raises `RuntimeError`. To run the same values on several threads,
//! give each a [`copy`](crate::Context::copy). While a context is entered on
//! another thread, its map view shows the contents it had when that thread
//! entered it.
//!
//! # Threads do not inherit by themselves
//!
//! [`std::thread::spawn`] starts a thread in an empty context, and so does any
//! thread pool that spawns its own threads. Use [`thread::spawn`](crate::thread::spawn)
//! or [`thread::Builder`](crate::thread::Builder) to start a thread in a copy
//! of the caller's context, or capture a copy with
//! [`copy_context`](crate::copy_context) and call `run` on it inside the work
//! item.
//!
//! # Async tasks need a per-task context
//!
//! The current context belongs to the OS thread. Tasks of an async runtime
//! that share a worker thread share its context unless each task runs in a
//! context of its own: wrap task futures with
//! [`FutureExt::with_current_context`](crate::FutureExt::with_current_context)
//! or spawn them with `contextvars-tokio`, whose documentation also defines
//! what happens in tasks spawned without a context. On tokio (the `tokio`
//! feature, on whenever `contextvars-tokio` or `contextvars-tower` is linked)
//! a `set` in such a task is refused rather than shared; on another runtime
//! it is refused only once that runtime's integration registers a
//! [task probe](crate::runtime::set_task_probe). A program that uses this
//! crate alone with tokio should turn the feature on itself.
//!
//! Futures polled by the same task (the branches of `join!` or `select!`)
//! share the task's context unless each is wrapped:
//! `join!(a.with_current_context(), b.with_current_context())` gives each
//! branch a copy of its own, as asyncio's `gather` does by making tasks. A
//! value bound with [`ContextVar::scope_async`](crate::ContextVar::scope_async)
//! is never seen by the other branches.
//!
//! A thread inside tokio's `Runtime::enter` counts as tokio code that is not
//! a task, like the future given to `block_on`: a `set` there is refused
//! too, even while the thread polls nothing. Set values before entering the
//! runtime, or inside a [`Context::run`](crate::Context::run) of their own.
//!
//! # Guards stay on their thread
//!
//! A [`TokenGuard`](crate::TokenGuard) is `!Send`, and must be dropped in the
//! context it was made in; dropping it elsewhere panics (unless the thread is
//! already panicking). Do not hold one across an `.await`: use
//! [`ContextVar::scope`](crate::ContextVar::scope) around synchronous code and
//! [`ContextVar::scope_async`](crate::ContextVar::scope_async) around
//! asynchronous code.
//!
//! # Thread shutdown
//!
//! In the destructors of other thread-locals that run after the crate's own
//! has been destroyed, the thread has no current context: `get` returns the
//! variable's default (or `LookupError`), `set` discards its value and returns
//! a token that resets nothing, and `try_run` fails with
//! [`EnterError::ThreadShuttingDown`](crate::EnterError::ThreadShuttingDown).
//! Nothing panics on the reading path.
//!
//! # Propagated values are strings on the wire
//!
//! A variable built with [`propagate`](crate::VarBuilder::propagate) crosses
//! services as a W3C baggage member: its value is written with `Display`
//! and read with `FromStr`, so the two must round-trip (for a structured
//! value, a newtype whose `Display` and `FromStr` use a compact text form).
//! There is no serde codec. The variable's name is its baggage key, shared
//! with every service and SDK that reads the baggage: two propagated
//! variables of one process should not share a name (only the first one
//! used is sent, and a server refuses to accept both). A value travels only
//! while the current context has one (a default is not sent), and counts
//! towards the baggage limits of 64 members and 8192 bytes. Only values
//! that are not secrets belong there: baggage goes to every service the
//! calls reach, unless a client is built with
//! `propagated_vars(false)` (`contextvars-tower`).
