//! Isolation with no setup call: linking `contextvars-tokio` turns on the
//! core's `tokio` feature, so every edge where async code runs without a
//! context of its own refuses a `set` (with a message naming the fixes), and
//! a scoped value (`scope_async`, `scope`) is seen by its own code only.
//!
//! Edges: plain `spawn_blocking` (asyncio's `run_in_executor` lets a job set
//! and leaks the value into the next job on that thread: refused here),
//! `block_on` and `LocalSet::run_until` futures, a thread inside
//! `Runtime::enter`, a plain thread (PEP 567's per-thread semantics), `root`
//! (a copy of the caller's context, as `asyncio.run`), `join!` branches.

#[macro_use]
mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll};

use common::{panic_message, Flavor};
use contextvars::{copy_context, Context, ContextVar, FutureExt, SetError};

static USER: ContextVar<String> = ContextVar::new("user");
static OTHER: ContextVar<u32> = ContextVar::new("other");
static DEPTH: ContextVar<u32> = ContextVar::with_default("depth", || 0);

/// The fixes every refusal message names.
const FIXES: [&str; 6] = [
    "RequestContextLayer",
    "contextvars_tower::serve",
    "contextvars_tokio::spawn`",
    ".with_current_context()",
    "contextvars_tokio::spawn_blocking",
    "contextvars_tokio::root",
];

fn assert_names_the_fixes(message: &str) {
    for fix in FIXES {
        assert!(message.contains(fix), "{fix:?} missing from: {message}");
    }
}

/// A future that is pending once, then ready: one `.await` that really
/// returns to the executor.
#[derive(Default)]
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<()> {
        if std::mem::replace(&mut self.0, true) {
            Poll::Ready(())
        } else {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

fn user() -> Option<String> {
    USER.get_opt()
}

// ---- the messages ----------------------------------------------------------

/// `SetError`'s `Display` names every likely cause with its fix; the panic of
/// `set` adds the variable's name.
async fn refused_set_names_the_variable_and_the_fixes() {
    assert_names_the_fixes(&SetError::NoTaskContext.to_string());
    let err = tokio::spawn(async { USER.set("mallory".into()) })
        .await
        .expect_err("refused");
    let message = panic_message(&*err.into_panic());
    assert!(
        message.starts_with("<ContextVar name='user'>: cannot set a ContextVar here"),
        "{message}"
    );
    assert_names_the_fixes(&message);
}
on_both_runtimes!(refused_set_names_the_variable_and_the_fixes);

/// A read of an unset variable in a task without a context says why it sees
/// nothing; the same read in a task with a context keeps Python's message.
async fn lookup_in_a_task_without_context_names_the_fixes() {
    let err = tokio::spawn(async { USER.try_get().unwrap_err() })
        .await
        .expect("task");
    assert!(err.in_task_without_context());
    let message = err.to_string();
    assert!(
        message.starts_with("<ContextVar name='user'> has no value in the current context: "),
        "{message}"
    );
    assert_names_the_fixes(&message);
    let panicked = tokio::spawn(async { USER.get() })
        .await
        .expect_err("panics");
    assert_eq!(panic_message(&*panicked.into_panic()), message);

    let err = contextvars_tokio::spawn(async { USER.try_get().unwrap_err() })
        .await
        .expect("task");
    assert!(!err.in_task_without_context());
    assert_eq!(
        err.to_string(),
        "<ContextVar name='user'> has no value in the current context"
    );
}
on_both_runtimes!(lookup_in_a_task_without_context_names_the_fixes);

// ---- spawn_blocking ----------------------------------------------------------

/// asyncio's `run_in_executor` lets a job set a variable in the executor
/// thread's context, where the next job on that thread sees it. A plain
/// `tokio::task::spawn_blocking` closure is refused instead, and no later job
/// sees anything; `contextvars_tokio::spawn_blocking` runs in a copy where
/// `set` works and stays.
async fn plain_spawn_blocking_cannot_set_and_leaks_nothing() {
    USER.set("caller".into());
    for _ in 0..8 {
        let (refused, panicked) = tokio::task::spawn_blocking(|| {
            let refused = USER.try_set("job".into()).err();
            let panicked = std::panic::catch_unwind(|| {
                USER.set("job".into());
            })
            .map_err(|p| panic_message(&*p))
            .err();
            (refused, panicked)
        })
        .await
        .expect("job");
        assert_eq!(refused, Some(SetError::NoTaskContext));
        let panicked = panicked.expect("set panics");
        assert!(panicked.contains("contextvars_tokio::spawn_blocking"));
    }
    let (in_copy, after) = contextvars_tokio::spawn_blocking(|| {
        let inherited = user();
        USER.set("job".into());
        (inherited, user())
    })
    .await
    .expect("job");
    assert_eq!(in_copy, Some("caller".into()));
    assert_eq!(after, Some("job".into()));
    // Every blocking thread's own context is still empty.
    for _ in 0..8 {
        let seen = tokio::task::spawn_blocking(|| (user(), copy_context().len()))
            .await
            .expect("job");
        assert_eq!(seen, (None, 0));
    }
    assert_eq!(user(), Some("caller".into()));
}
on_both_runtimes!(plain_spawn_blocking_cannot_set_and_leaks_nothing);

// ---- block_on, LocalSet, Runtime::enter, plain threads ----------------------

/// The futures given to `block_on` and `LocalSet::run_until` are not tasks,
/// but they run in the thread's own context, which the tasks polled there
/// read: `set` is refused. A thread inside `Runtime::enter` counts as tokio
/// code too. Outside of any runtime (and in a plain thread spawned from a
/// task) the thread's own context is writable, as PEP 567 says.
fn block_on_run_until_and_enter_are_refused(flavor: Flavor) {
    let rt = flavor.runtime();
    assert_eq!(
        rt.block_on(async { OTHER.try_set(1).err() }),
        Some(SetError::NoTaskContext)
    );
    let local = tokio::task::LocalSet::new();
    assert_eq!(
        rt.block_on(local.run_until(async { OTHER.try_set(2).err() })),
        Some(SetError::NoTaskContext)
    );
    // A context entered explicitly around the runtime is its enterer's own:
    // the main future can set there; the tasks polled inside read it but
    // cannot write it.
    let around = Context::new();
    let (main_set, task_read, task_set) = around.run(|| {
        rt.block_on(async {
            let main_set = OTHER.try_set(7).is_ok();
            let (read, set) = tokio::spawn(async { (OTHER.get_opt(), OTHER.try_set(8).err()) })
                .await
                .expect("plain task");
            (main_set, read, set)
        })
    });
    assert!(main_set);
    if flavor == Flavor::CurrentThread {
        assert_eq!(task_read, Some(7));
    }
    assert_eq!(task_set, Some(SetError::NoTaskContext));
    assert_eq!(around.get(&OTHER).as_deref(), Some(&7));
    {
        let _entered = rt.enter();
        assert_eq!(OTHER.try_set(3).err(), Some(SetError::NoTaskContext));
        // A context of its own makes it writable.
        let seen = Context::new().run(|| {
            OTHER.set(4);
            OTHER.get()
        });
        assert_eq!(seen, 4);
    }
    let from_thread = rt.block_on(async {
        contextvars_tokio::spawn(async {
            std::thread::spawn(|| {
                OTHER.set(5);
                OTHER.get()
            })
            .join()
            .expect("plain thread")
        })
        .await
    });
    assert_eq!(from_thread.expect("task"), 5);
    drop(rt);
    assert!(copy_context().is_empty());
    let token = OTHER.set(6);
    assert_eq!(OTHER.get(), 6);
    OTHER.reset(&token).expect("reset");
}

#[test]
fn block_on_run_until_and_enter_are_refused_current_thread() {
    block_on_run_until_and_enter_are_refused(Flavor::CurrentThread);
}

#[test]
fn block_on_run_until_and_enter_are_refused_multi_thread() {
    block_on_run_until_and_enter_are_refused(Flavor::MultiThread);
}

/// `root` runs the main future in a copy of the caller's context, as
/// `asyncio.run` runs `main()` in a copy: it sees what was set before, and
/// its own changes stay in the copy.
fn root_copies_the_callers_context(flavor: Flavor) {
    let rt = flavor.runtime();
    let token = USER.set("before the runtime".into());
    let seen = rt.block_on(contextvars_tokio::root(async {
        let inherited = user();
        USER.set("main".into());
        YieldOnce::default().await;
        (inherited, user())
    }));
    assert_eq!(
        seen,
        (Some("before the runtime".into()), Some("main".into()))
    );
    assert_eq!(user(), Some("before the runtime".into()));
    USER.reset(&token).expect("reset");
    // `with_context(Context::new())` is the empty alternative.
    let empty = rt.block_on(async { user() }.with_context(Context::new()));
    assert_eq!(empty, None);
}

#[test]
fn root_copies_the_callers_context_current_thread() {
    root_copies_the_callers_context(Flavor::CurrentThread);
}

#[test]
fn root_copies_the_callers_context_multi_thread() {
    root_copies_the_callers_context(Flavor::MultiThread);
}

// ---- scope_async: `with var.set(v):` across `.await` -------------------------

/// In a plain task (no context of its own, `set` refused) a scope binds the
/// value for the inner future's polls only: plain tasks polled in between
/// on the same threads never see it.
async fn scope_async_works_in_a_plain_task_and_is_seen_by_nobody_else() {
    let seen_by_others = Arc::new(Mutex::new(Vec::new()));
    let mut handles = Vec::new();
    for i in 0..16 {
        let name = format!("user-{i}");
        handles.push(tokio::spawn(USER.scope_async(name.clone(), async move {
            let mut seen = Vec::new();
            for _ in 0..4 {
                seen.push(user());
                YieldOnce::default().await;
            }
            (name, seen)
        })));
        let others = seen_by_others.clone();
        handles.push(tokio::spawn(async move {
            for _ in 0..4 {
                others.lock().unwrap().push(user());
                YieldOnce::default().await;
            }
            (String::new(), Vec::new())
        }));
    }
    for handle in handles {
        let (name, seen) = handle.await.expect("task");
        assert!(
            seen.iter().all(|u| u.as_deref() == Some(&name[..])),
            "{seen:?}"
        );
    }
    let others = seen_by_others.lock().unwrap();
    assert_eq!(others.len(), 64);
    assert!(others.iter().all(Option::is_none), "{others:?}");
}
on_both_runtimes!(scope_async_works_in_a_plain_task_and_is_seen_by_nobody_else);

/// Branches of one `join!` share their task's context, so a `set` in one is
/// seen by the other; a scope is not.
async fn scope_async_is_not_seen_by_other_join_branches() {
    let scoped = USER.scope_async("scoped".into(), async {
        let mut seen = Vec::new();
        for _ in 0..3 {
            seen.push(user());
            YieldOnce::default().await;
        }
        seen
    });
    let sibling = async {
        let mut seen = Vec::new();
        for _ in 0..3 {
            seen.push(user());
            YieldOnce::default().await;
        }
        seen
    };
    let (inside, beside) = tokio::join!(scoped, sibling);
    assert_eq!(inside, vec![Some("scoped".to_string()); 3]);
    assert_eq!(beside, vec![None; 3]);
    assert_eq!(user(), None);
}
on_both_runtimes!(scope_async_is_not_seen_by_other_join_branches);

/// Python's `with var.set(v):` block: a `set` of the variable inside stays in
/// the scope across awaits and is undone at the end; `set`s of other
/// variables land in the task's context and stay; work spawned inside
/// inherits the scoped value.
async fn scope_async_follows_the_with_block() {
    DEPTH.set(1);
    let (inside, spawned) = DEPTH
        .scope_async(2, async {
            let first = DEPTH.get();
            DEPTH.set(3);
            OTHER.set(7);
            YieldOnce::default().await;
            let spawned = contextvars_tokio::spawn(async { DEPTH.get() })
                .await
                .expect("task");
            ((first, DEPTH.get()), spawned)
        })
        .await;
    assert_eq!(inside, (2, 3));
    assert_eq!(spawned, 3);
    assert_eq!(DEPTH.get(), 1);
    assert_eq!(OTHER.get(), 7);
    // Scopes nest.
    let nested = DEPTH
        .scope_async(10, async {
            let outer = DEPTH.get();
            let inner = DEPTH
                .scope_async(20, async {
                    YieldOnce::default().await;
                    DEPTH.get()
                })
                .await;
            (outer, inner, DEPTH.get())
        })
        .await;
    assert_eq!(nested, (10, 20, 10));
    // The closure form, in a task without a context of its own.
    let sync = tokio::spawn(async { DEPTH.scope(5, || DEPTH.get()) })
        .await
        .expect("task");
    assert_eq!(sync, 5);
}
on_both_runtimes!(scope_async_follows_the_with_block);

/// Records what `USER` was when it was dropped.
struct SeesOnDrop(Arc<Mutex<Option<Option<String>>>>);

impl Drop for SeesOnDrop {
    fn drop(&mut self) {
        *self.0.lock().unwrap() = Some(user());
    }
}

/// A scoped future dropped mid-await (a timeout, an aborted task, a lost
/// `select!` branch): its destructors see the value, then it is gone, and
/// nothing is left on any thread.
async fn scope_async_cancelled_mid_await_leaves_nothing() {
    // A lost `select!` branch, in a task with a context.
    let dropped_with = Arc::new(Mutex::new(None));
    let guard = SeesOnDrop(dropped_with.clone());
    let scoped = USER.scope_async("cancelled".into(), async move {
        let _guard = guard;
        std::future::pending::<()>().await;
    });
    tokio::select! {
        () = scoped => unreachable!("pending forever"),
        () = YieldOnce::default() => {}
    }
    assert_eq!(
        *dropped_with.lock().unwrap(),
        Some(Some("cancelled".into()))
    );
    assert_eq!(user(), None);

    // An aborted plain task.
    let dropped_with = Arc::new(Mutex::new(None));
    let guard = SeesOnDrop(dropped_with.clone());
    let (started_tx, started_rx) = tokio::sync::oneshot::channel();
    let handle = tokio::spawn(USER.scope_async("aborted".into(), async move {
        let _guard = guard;
        started_tx.send(()).expect("receiver alive");
        std::future::pending::<()>().await;
    }));
    started_rx.await.expect("started");
    handle.abort();
    assert!(handle.await.expect_err("aborted").is_cancelled());
    assert_eq!(*dropped_with.lock().unwrap(), Some(Some("aborted".into())));

    // A timeout.
    let timed_out = tokio::time::timeout(
        std::time::Duration::from_millis(1),
        USER.scope_async("late".into(), std::future::pending::<()>()),
    )
    .await;
    assert!(timed_out.is_err());
    assert_eq!(user(), None);

    // Every worker's own context is still empty.
    let residue =
        common::probe_every_worker(common::Spawner::Plain, 4, || (user(), copy_context().len()))
            .await;
    assert!(residue.iter().all(|r| *r == (None, 0)), "{residue:?}");
}
on_both_runtimes!(scope_async_cancelled_mid_await_leaves_nothing);

/// A panic inside a scoped poll unwinds through the scope's guard: the
/// value is gone before the task's `JoinHandle` reports the panic.
async fn scope_async_panicking_poll_leaves_nothing() {
    for _ in 0..8 {
        let err = tokio::spawn(USER.scope_async("panics".into(), async {
            YieldOnce::default().await;
            panic!("handler failed");
        }))
        .await
        .expect_err("panicked");
        assert_eq!(panic_message(&*err.into_panic()), "handler failed");
    }
    let residue =
        common::probe_every_worker(common::Spawner::Plain, 4, || (user(), copy_context().len()))
            .await;
    assert!(residue.iter().all(|r| *r == (None, 0)), "{residue:?}");
}
on_both_runtimes!(scope_async_panicking_poll_leaves_nothing);

/// `join!` branches share their task's context (a `set` in one is seen by
/// the other); the one-line fix the asyncio table gives for `gather` wraps
/// each branch in a copy.
async fn join_branches_share_unless_wrapped() {
    async fn set_then_read(value: u32) -> u32 {
        OTHER.set(value);
        YieldOnce::default().await;
        YieldOnce::default().await;
        OTHER.get()
    }
    async fn read_later() -> Option<u32> {
        YieldOnce::default().await;
        OTHER.get_opt()
    }
    let shared = tokio::join!(set_then_read(1), read_later());
    assert_eq!(shared, (1, Some(1)));
    OTHER.set(0);
    let wrapped = tokio::join!(
        set_then_read(2).with_current_context(),
        read_later().with_current_context()
    );
    assert_eq!(wrapped, (2, Some(0)));
    assert_eq!(OTHER.get(), 0);
}
on_both_runtimes!(join_branches_share_unless_wrapped);
