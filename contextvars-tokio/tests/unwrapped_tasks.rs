//! Tasks spawned with plain `tokio::spawn` (no context of their own), as
//! described in the crate docs, section "Tasks spawned without a context",
//! with no setup call (linking `contextvars-tokio` turns the detection on):
//!
//! * `get` reads the worker thread's own context, where no task ever writes,
//!   so such tasks never see another task's values;
//! * `set` panics with the `SetError::NoTaskContext` message, `try_set`
//!   returns it;
//! * a future wrapped with `with_current_context()`/`with_context()` inside
//!   such a task has a context and can set.
//!
//! The main future of `block_on` is not a task, but unwrapped it runs in the
//! calling thread's own context, which on a current-thread runtime is also
//! the context plain tasks read: `set` is refused there too, and `root`
//! gives it a context of its own.

#[macro_use]
mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::{panic_message, Flavor};
use contextvars::{copy_context, Context, ContextVar, FutureExt, SetError};

static SHARED: ContextVar<u64> = ContextVar::new("shared");
static DEFAULTED: ContextVar<u64> = ContextVar::with_default("defaulted", || 0);

/// What a plain task reads: `SHARED`, `DEFAULTED` and the context's size.
fn plain_view() -> (Option<u64>, u64, usize) {
    (SHARED.get_opt(), DEFAULTED.get(), copy_context().len())
}

/// 200 plain tasks read, across several yields, while 200 tasks spawned
/// with `contextvars_tokio::spawn` set values on the same worker threads
/// between the same yields. The plain tasks see nothing of them.
async fn plain_tasks_never_see_values_set_by_other_tasks() {
    let violations = Arc::new(AtomicUsize::new(0));
    let mut handles = Vec::new();
    for i in 0..200u64 {
        handles.push(contextvars_tokio::spawn(async move {
            for round in 0..5 {
                SHARED.set(i * 10 + round);
                DEFAULTED.set(i * 10 + round + 1);
                tokio::task::yield_now().await;
            }
        }));
        let violations = violations.clone();
        handles.push(tokio::spawn(async move {
            for _ in 0..5 {
                if plain_view() != (None, 0, 0) {
                    violations.fetch_add(1, Ordering::SeqCst);
                }
                tokio::task::yield_now().await;
            }
        }));
    }
    for handle in handles {
        handle.await.expect("task");
    }
    assert_eq!(violations.load(Ordering::SeqCst), 0);
}
on_both_runtimes!(plain_tasks_never_see_values_set_by_other_tasks);

/// A plain task spawned from inside a task that has a context does not
/// inherit it: only the `contextvars_tokio` spawn functions propagate.
async fn plain_task_spawned_by_a_task_with_a_context_inherits_nothing() {
    let seen = contextvars_tokio::spawn(async {
        SHARED.set(5);
        let plain = tokio::spawn(async { plain_view() }).await.expect("plain");
        let propagated = contextvars_tokio::spawn(async { SHARED.get_opt() })
            .await
            .expect("spawned");
        (plain, propagated)
    })
    .await
    .expect("task");
    assert_eq!(seen, ((None, 0, 0), Some(5)));
}
on_both_runtimes!(plain_task_spawned_by_a_task_with_a_context_inherits_nothing);

/// `set` (and `set_arc`) in a plain task panics with the variable's name and
/// the `SetError::NoTaskContext` message; the panic reaches the `JoinHandle`.
/// Nothing is set on the worker. No setup call is made.
async fn set_in_a_plain_task_panics_with_no_task_context() {
    let expected = format!("<ContextVar name='shared'>: {}", SetError::NoTaskContext);
    for use_arc in [false, true] {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                tokio::spawn(async move {
                    if use_arc {
                        SHARED.set_arc(Arc::new(i));
                    } else {
                        SHARED.set(i);
                    }
                })
            })
            .collect();
        for handle in handles {
            let err = handle.await.expect_err("set must panic");
            assert!(err.is_panic(), "{err:?}");
            assert_eq!(panic_message(&*err.into_panic()), expected);
        }
    }
    let after = tokio::spawn(async { plain_view() }).await.expect("probe");
    assert_eq!(after, (None, 0, 0));
}
on_both_runtimes!(set_in_a_plain_task_panics_with_no_task_context);

/// `try_set` in a plain task returns `Err(SetError::NoTaskContext)` and
/// sets nothing; reading keeps working.
async fn try_set_in_a_plain_task_returns_no_task_context() {
    let handles: Vec<_> = (0..32)
        .map(|i| {
            tokio::spawn(async move {
                let first = SHARED.try_set(i).err();
                tokio::task::yield_now().await;
                let second = DEFAULTED.try_set(i).err();
                (first, second, plain_view())
            })
        })
        .collect();
    for handle in handles {
        assert_eq!(
            handle.await.expect("task"),
            (
                Some(SetError::NoTaskContext),
                Some(SetError::NoTaskContext),
                (None, 0, 0)
            )
        );
    }
}
on_both_runtimes!(try_set_in_a_plain_task_returns_no_task_context);

/// Inside a plain task, a future wrapped with `with_current_context()` or
/// `with_context(..)` can set, keeps its values across its awaits, and
/// leaves the plain task's (the worker's) context untouched; so does a
/// synchronous `Context::run`.
async fn wrapped_future_inside_a_plain_task_can_set() {
    let handles: Vec<_> = (0..16u64)
        .map(|i| {
            tokio::spawn(async move {
                let wrapped = async move {
                    SHARED.set(i);
                    tokio::task::yield_now().await;
                    DEFAULTED.set(i + 1);
                    tokio::task::yield_now().await;
                    (SHARED.get(), DEFAULTED.get())
                }
                .with_current_context()
                .await;
                let after_wrapped = plain_view();
                let ctx = Arc::new(Context::new());
                async move {
                    SHARED.set(i + 2);
                    tokio::task::yield_now().await;
                }
                .with_context(ctx.clone())
                .await;
                let in_ctx = ctx.get(&SHARED).map(|v| *v);
                let run = Context::new().run(|| SHARED.try_set(i + 3).is_ok());
                (wrapped, after_wrapped, in_ctx, run, plain_view())
            })
        })
        .collect();
    for (i, handle) in (0..16u64).zip(handles) {
        assert_eq!(
            handle.await.expect("task"),
            ((i, i + 1), (None, 0, 0), Some(i + 2), true, (None, 0, 0))
        );
    }
}
on_both_runtimes!(wrapped_future_inside_a_plain_task_can_set);

/// The main future of `block_on`, unwrapped (no `root`), is not a task, but
/// it runs in the calling thread's own context, which plain tasks polled on
/// that thread (every task, on a current-thread runtime) read: `set` there
/// is refused, with no setup call, and nothing reaches the thread's
/// context. With `root`, the main future has a context of its own, can set,
/// and plain tasks see nothing on either flavour.
fn unwrapped_main_future_cannot_set(flavor: Flavor) {
    let rt = flavor.runtime();
    let (refused, panicked, seen_by_plain_task) = rt.block_on(async {
        let refused = SHARED.try_set(1).err();
        let panicked = std::panic::catch_unwind(|| {
            SHARED.set(2);
        })
        .is_err();
        let seen = tokio::spawn(async { SHARED.get_opt() })
            .await
            .expect("plain task");
        (refused, panicked, seen)
    });
    assert_eq!(refused, Some(SetError::NoTaskContext));
    assert!(panicked);
    assert_eq!(seen_by_plain_task, None);
    assert!(copy_context().is_empty());

    let (own, seen) = rt.block_on(contextvars_tokio::root(async {
        SHARED.set(3);
        tokio::task::yield_now().await;
        let seen = tokio::spawn(async { SHARED.get_opt() })
            .await
            .expect("plain task");
        (SHARED.get(), seen)
    }));
    assert_eq!((own, seen), (3, None));
    assert!(copy_context().is_empty());

    // Outside of the runtime, the thread is a plain thread again: PEP 567's
    // per-thread semantics.
    let token = SHARED.set(4);
    assert_eq!(SHARED.get(), 4);
    SHARED.reset(&token).expect("reset");
}

mod unwrapped_main_future_cannot_set {
    use super::*;

    #[test]
    fn current_thread() {
        unwrapped_main_future_cannot_set(Flavor::CurrentThread);
    }

    #[test]
    fn multi_thread() {
        unwrapped_main_future_cannot_set(Flavor::MultiThread);
    }
}

/// Plain `tokio::task::spawn_local` tasks on a `LocalSet` driven by
/// `run_until` inside the main future: the `LocalSet` polls them inside the
/// main future's poll, hence inside its context.
async fn plain_local_tasks_polled_by_run_until_cannot_set() {
    SHARED.set(1);
    let local = tokio::task::LocalSet::new();
    let (refused, seen_by_next) = local
        .run_until(async {
            let refused = tokio::task::spawn_local(async { SHARED.try_set(2).err() })
                .await
                .expect("local task");
            let seen_by_next = tokio::task::spawn_local(async { SHARED.get_opt() })
                .await
                .expect("local task");
            (refused, seen_by_next)
        })
        .await;
    // The task is polled while the main future's context is entered; it did
    // not enter that context itself, so it may not write to it.
    assert_eq!(
        refused,
        Some(SetError::NoTaskContext),
        "set in a plain local task was allowed"
    );
    assert_ne!(
        seen_by_next,
        Some(2),
        "a plain local task saw another task's value"
    );
    assert_eq!(
        SHARED.get(),
        1,
        "a plain local task wrote into the main future's context"
    );
}

on_both_runtimes!(plain_local_tasks_polled_by_run_until_cannot_set);

/// A runtime driven from a thread started by `contextvars::thread::spawn`
/// (so the thread runs inside a context it inherited) or from inside
/// `Context::run`: on a current-thread runtime, plain tasks are polled inside
/// that context. They must not be able to write into it.
fn plain_tasks_of_a_runtime_driven_inside_a_context(flavor: Flavor) {
    let body = move || {
        let rt = flavor.runtime();
        rt.block_on(async {
            let refused = tokio::spawn(async { SHARED.try_set(2).err() })
                .await
                .expect("plain task");
            let seen_by_next = tokio::spawn(async { SHARED.get_opt() })
                .await
                .expect("plain task");
            (refused, seen_by_next)
        })
    };
    let in_thread = contextvars::thread::spawn(body).join().expect("thread");
    let in_run = Context::new().run(body);
    // On a current-thread runtime the tasks are polled inside the context
    // the thread runs in (inherited, or entered by `Context::run`), which
    // they did not enter: `try_set` is refused and nothing leaks.
    assert_eq!(
        in_thread,
        (Some(SetError::NoTaskContext), None),
        "in a contextvars thread"
    );
    assert_eq!(
        in_run,
        (Some(SetError::NoTaskContext), None),
        "inside Context::run"
    );
}

mod plain_tasks_of_a_runtime_driven_inside_a_context_cannot_set {
    use super::*;

    #[test]
    fn current_thread() {
        plain_tasks_of_a_runtime_driven_inside_a_context(Flavor::CurrentThread);
    }

    #[test]
    fn multi_thread() {
        plain_tasks_of_a_runtime_driven_inside_a_context(Flavor::MultiThread);
    }
}
