//! Blocking work (asyncio rules A9 and A10):
//!
//! * `contextvars_tokio::spawn_blocking` is asyncio's `to_thread`: the
//!   closure runs in a copy of the caller's context taken at the call; it
//!   sees the caller's values, and its sets stay in the copy.
//! * tokio's own `tokio::task::spawn_blocking` is asyncio's
//!   `run_in_executor`: nothing is propagated, the closure sees the pool
//!   thread's own (empty) context.
//!
//! Blocking-pool threads are reused, and nothing a propagating closure set is
//! left on them.

#[macro_use]
mod common;

use std::collections::HashSet;
use std::sync::mpsc;

use common::is_multi_thread;
use contextvars::{copy_context, Context, ContextVar, SetError};

static V: ContextVar<&'static str> = ContextVar::new("v");
static N: ContextVar<u64> = ContextVar::with_default("n", || 0);

/// `to_thread`: the closure sees the caller's value as it was at the call
/// (the caller changes it before the closure runs), can set, and its sets
/// do not leak back.
async fn to_thread_runs_in_a_copy() {
    V.set("caller");
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let handle = contextvars_tokio::spawn_blocking(move || {
        go_rx.recv().expect("the caller signals");
        let seen = V.get();
        V.set("worker");
        N.set(1);
        (seen, V.get(), copy_context().len())
    });
    V.set("changed after the call");
    go_tx.send(()).expect("the closure waits");
    let seen = handle.await.expect("blocking");
    assert_eq!(seen, ("caller", "worker", 2));
    assert_eq!(V.get(), "changed after the call");
    assert_eq!(N.get_opt(), None);
}
on_both_runtimes!(to_thread_runs_in_a_copy);

/// The other propagating entry points: `JoinSet::spawn_blocking`,
/// `spawn_blocking_on(handle)`, `JoinSet::spawn_blocking_on` (copies) and
/// `spawn_blocking_with_context` (the given context).
async fn other_blocking_entry_points() {
    V.set("caller");
    let handle = tokio::runtime::Handle::current();
    let mut set = contextvars_tokio::JoinSet::new();
    set.spawn_blocking(|| {
        let seen = V.get();
        V.set("join set");
        seen
    });
    set.spawn_blocking_on(
        || {
            let seen = V.get();
            V.set("join set on");
            seen
        },
        &handle,
    );
    assert_eq!(set.join_all().await, ["caller", "caller"]);
    let on = contextvars_tokio::spawn_blocking_on(
        || {
            let seen = V.get();
            V.set("on");
            seen
        },
        &handle,
    );
    assert_eq!(on.await.expect("blocking"), "caller");
    let given = Context::new();
    given.run(|| N.set(5));
    let with = contextvars_tokio::spawn_blocking_with_context(|| (V.get_opt(), N.get()), given);
    assert_eq!(with.await.expect("blocking"), (None, 5));
    assert_eq!(V.get(), "caller");
    assert_eq!(N.get_opt(), None);
}
on_both_runtimes!(other_blocking_entry_points);

/// `run_in_executor`: tokio's `spawn_blocking` propagates nothing; the
/// closure sees an empty context even though the caller has values. It
/// is a blocking *task* without a context, so `try_set` is refused there
/// too (asyncio would write into the pool thread's context instead).
async fn run_in_executor_propagates_nothing() {
    V.set("caller");
    N.set(3);
    let seen = tokio::task::spawn_blocking(|| {
        (
            V.get_opt(),
            N.get(),
            copy_context().len(),
            N.try_set(4).err(),
        )
    })
    .await
    .expect("blocking");
    assert_eq!(seen, (None, 0, 0, Some(SetError::NoTaskContext)));
}
on_both_runtimes!(run_in_executor_propagates_nothing);

/// Propagating closures that set values, each followed by a plain
/// `tokio::task::spawn_blocking` probe (which reuses the idle pool
/// threads): the probes never see anything. The loop goes on until a probe
/// has run on a thread that ran a propagating closure at least 8 times
/// (bounded), and at least once is required.
async fn blocking_pool_threads_keep_no_residue() {
    let mut setters = HashSet::new();
    let mut reused = 0;
    let mut residue = Vec::new();
    for i in 0..200u64 {
        N.set(i + 1);
        let setter = contextvars_tokio::spawn_blocking(move || {
            N.set(i + 1000);
            V.set("from a propagating closure");
            std::thread::current().id()
        })
        .await
        .expect("blocking");
        setters.insert(setter);
        let (thread, seen) = tokio::task::spawn_blocking(|| {
            (
                std::thread::current().id(),
                (N.get_opt(), V.get_opt(), copy_context().len()),
            )
        })
        .await
        .expect("blocking");
        if seen != (None, None, 0) {
            residue.push(seen);
        }
        if setters.contains(&thread) {
            reused += 1;
            if reused == 8 {
                break;
            }
        }
    }
    assert_eq!(residue, [], "plain blocking closures saw values");
    assert!(reused > 0, "no pool thread was ever reused");
    assert_eq!(V.get_opt(), None);
}
on_both_runtimes!(blocking_pool_threads_keep_no_residue);

/// Contrast on the multi-thread runtime: `block_in_place` runs the closure
/// on the task's own thread, inside the task's poll, so it shares the
/// task's context (it is not a separate unit of work). The current-thread
/// runtime does not support `block_in_place`.
async fn block_in_place_shares_the_task_context() {
    if !is_multi_thread() {
        return;
    }
    let seen = contextvars_tokio::spawn(async {
        V.set("task");
        let seen = tokio::task::block_in_place(|| {
            let seen = V.get();
            V.set("block_in_place");
            seen
        });
        tokio::task::yield_now().await;
        (seen, V.get())
    })
    .await
    .expect("task");
    assert_eq!(seen, ("task", "block_in_place"));
    assert_eq!(V.get_opt(), None);
}
on_both_runtimes!(block_in_place_shares_the_task_context);
