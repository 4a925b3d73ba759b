//! Ports of asyncio's context tests (`semantics.md` §3.B): CPython's
//! `Lib/test/test_asyncio/test_tasks.py` (`test_context_1` to
//! `test_context_6`, `test_get_context`) and
//! `Lib/test/test_asyncio/test_context.py`
//! (`test_asyncio_task_decimal_context`).
//!
//! Each test is named after the Python test it ports and runs on both runtime
//! flavours (`<name>::current_thread`, `<name>::multi_thread`). The asyncio
//! test's main coroutine is the runtime's main future, run in a context of its
//! own by `contextvars_tokio::root` (as `asyncio.run` runs it in a task), and
//! the harness checks afterwards that the test thread's own context is still
//! empty (the "outer context keeps the default" checks).
//!
//! | asyncio | here |
//! |---|---|
//! | `asyncio.create_task(coro)`, `loop.create_task(coro)` | `contextvars_tokio::spawn(fut)` |
//! | `Task(coro, context=ctx)` | `tokio::spawn(WithContext::new(fut, ctx))` |
//! | `asyncio.create_task(coro, context=ctx)` | `contextvars_tokio::spawn_with_context(fut, ctx)` |
//! | `loop.create_task(coro, context=ctx)` | `handle.spawn(fut.with_context(ctx))` |
//! | `fut.add_done_callback(cb)` | `copy_context().wrap(cb)`, called by whoever completes the future |
//! | `await asyncio.sleep(t)` | `tokio::time::sleep` / `tokio::task::yield_now` |
//! | `asyncio.gather(a(), b())` | `tokio::join!` of `with_current_context()` futures, or spawned tasks |
//! | `decimal.localcontext()` | a `PRECISION` context variable, set and reset |

#[macro_use]
mod common;

use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use common::{random_pause, Rng};
use contextvars::{copy_context, Context, ContextVar, FutureExt, WithContext};
use tokio::sync::oneshot;

static CVAR_1: ContextVar<&'static str> = ContextVar::with_default("cvar", || "nope");
static BEFORE_1: ContextVar<&'static str> = ContextVar::new("before");

/// `test_context_1`: the parent creates a subtask, *then* sets the
/// variable. The subtask still sees the default (its context is a copy
/// taken when it was created) and sets its own value, which it keeps
/// across an await. After awaiting the subtask the parent still sees its
/// own value.
///
/// Adapted: asyncio's subtask sleeps so that it reads after the parent's
/// `set`; here it waits for the parent's signal, so that this ordering
/// also holds on the multi-thread runtime. Added: a variable the parent set
/// *before* creating the subtask is seen by it (the copy is of the parent's
/// context, not an empty one).
async fn test_context_1() {
    async fn sub(parent_has_set: oneshot::Receiver<()>) -> [&'static str; 3] {
        parent_has_set.await.expect("the parent signals");
        tokio::time::sleep(Duration::from_millis(1)).await;
        let seen = CVAR_1.get();
        CVAR_1.set("something else");
        tokio::task::yield_now().await;
        [seen, CVAR_1.get(), BEFORE_1.get()]
    }

    assert_eq!(CVAR_1.get(), "nope");
    BEFORE_1.set("set before the subtask");
    let (signal, parent_has_set) = oneshot::channel();
    let subtask = contextvars_tokio::spawn(sub(parent_has_set));
    CVAR_1.set("yes");
    assert_eq!(CVAR_1.get(), "yes");
    signal.send(()).expect("the subtask waits");
    let [seen, own, before] = subtask.await.expect("subtask");
    assert_eq!(seen, "nope", "the subtask's copy predates the parent's set");
    assert_eq!(
        own, "something else",
        "the subtask's own set survives its await"
    );
    assert_eq!(before, "set before the subtask");
    assert_eq!(
        CVAR_1.get(),
        "yes",
        "the subtask's set leaked to its parent"
    );
}
on_both_runtimes!(test_context_1);

static CVAR_2: ContextVar<String> = ContextVar::with_default("cvar", || "nope".to_string());

/// `test_context_2`: a future's done-callback sets the variable; that must
/// not pollute the task that awaits the future. Across repeated `sleep`s
/// the task keeps its latest value, and the outer context keeps the
/// default.
///
/// Adapted: asyncio's `fut.add_done_callback(cb)` captures a copy of the
/// task's context and runs `cb` in it; here that is
/// `copy_context().wrap(cb)`, prepared by the task and called by the task
/// that completes the future (`loop.call_soon(fut.set_result)`), which is
/// itself spawned and sets the variable too. The task is `main()` spawned
/// from the runtime's main future, which plays the outer context.
async fn test_context_2() {
    async fn main_task() {
        assert_eq!(CVAR_2.get(), "nope");
        for j in 0..2 {
            let (set_result, fut) = oneshot::channel::<String>();
            // fut.add_done_callback(fut_on_done)
            let fut_on_done = copy_context().wrap(|| {
                // "This change must not pollute the context of main()."
                CVAR_2.set("something else".to_string());
                CVAR_2.get().to_string()
            });
            CVAR_2.set(format!("yes{j}"));
            // loop.call_soon(fut.set_result, None): completed elsewhere.
            let completer = contextvars_tokio::spawn(async move {
                CVAR_2.set("completer".to_string());
                tokio::task::yield_now().await;
                let callback_saw = fut_on_done();
                assert_eq!(
                    CVAR_2.get(),
                    "completer",
                    "the callback leaked into the completer"
                );
                set_result.send(callback_saw).expect("main() waits");
            });
            let callback_saw = fut.await.expect("completed");
            assert_eq!(
                callback_saw, "something else",
                "the callback ran in its own copy"
            );
            assert_eq!(
                CVAR_2.get(),
                format!("yes{j}"),
                "the done-callback polluted the task"
            );
            completer.await.expect("completer");
            assert_eq!(CVAR_2.get(), format!("yes{j}"));

            for i in 0..3 {
                // The task passes its own context to its wakeups.
                CVAR_2.set(format!("yes{i}-{j}"));
                tokio::time::sleep(Duration::from_millis(1)).await;
                assert_eq!(CVAR_2.get(), format!("yes{i}-{j}"));
                tokio::task::yield_now().await;
                assert_eq!(CVAR_2.get(), format!("yes{i}-{j}"));
            }
        }
    }

    contextvars_tokio::spawn(main_task()).await.expect("main()");
    assert_eq!(CVAR_2.get(), "nope", "the outer context lost its default");
    assert_eq!(CVAR_2.get_opt(), None);
}
on_both_runtimes!(test_context_2);

static CVAR_3: ContextVar<i64> = ContextVar::with_default("cvar", || -1);

/// `test_context_3`: 100 concurrent tasks, each doing ten rounds of set,
/// random short sleep, check its own value; all gathered. The outer
/// context keeps the default (-1).
///
/// Adapted: asyncio draws each task's base number from `0..10`, so tasks
/// share values; here every task's values are distinct (`task * 100 +
/// round`), so seeing another task's value cannot go unnoticed. Sleeps
/// are 0–2 ms from a seeded generator.
async fn test_context_3() {
    async fn sub(num: i64, seed: u64) -> Vec<(i64, i64)> {
        let mut rng = Rng::new(seed);
        let mut wrong = Vec::new();
        for i in 0..10 {
            CVAR_3.set(num + i);
            random_pause(&mut rng).await;
            let seen = CVAR_3.get();
            if seen != num + i {
                wrong.push((num + i, seen));
            }
        }
        wrong
    }

    let tasks: Vec<_> = (0..100)
        .map(|t| contextvars_tokio::spawn(sub(t * 100, t as u64)))
        .collect();
    let mut wrong = Vec::new();
    for task in tasks {
        wrong.extend(task.await.expect("sub"));
    }
    assert_eq!(wrong, [], "(expected, seen) pairs");
    assert_eq!(CVAR_3.get(), -1);
}
on_both_runtimes!(test_context_3);

static CVAR_4: ContextVar<u32> = ContextVar::new("cvar");

/// The coroutine of `test_context_4` to `_6`: sets `val` after an await.
/// Returns what it saw before setting, to show that the shared context
/// accumulates.
async fn coro(val: u32) -> Option<u32> {
    tokio::task::yield_now().await;
    let before = CVAR_4.get_opt();
    CVAR_4.set(val);
    before
}

/// The value of `CVAR_4` in `ctx` (`ctx.get(cvar)`).
fn in_ctx(ctx: &Context) -> Option<u32> {
    ctx.get(&CVAR_4).map(|v| *v)
}

/// `test_context_4`: `ctx = copy_context()` passed to two sequential tasks
/// (here `contextvars_tokio::spawn_with_context` with an
/// `Arc<Context>`). The context is used as is, not copied: after each
/// task, `ctx.get(cvar)` shows its write, giving `[None, 1, 2]`.
async fn test_context_4() {
    let ctx = Arc::new(copy_context());
    let mut ret = vec![in_ctx(&ctx)];
    let t1 = contextvars_tokio::spawn_with_context(coro(1), ctx.clone());
    assert_eq!(t1.await.expect("t1"), None);
    ret.push(in_ctx(&ctx));
    let t2 = contextvars_tokio::spawn_with_context(coro(2), ctx.clone());
    assert_eq!(
        t2.await.expect("t2"),
        Some(1),
        "t2 runs in the context t1 wrote to"
    );
    ret.push(in_ctx(&ctx));
    assert_eq!(ret, [None, Some(1), Some(2)]);
    assert_eq!(
        CVAR_4.get_opt(),
        None,
        "the tasks wrote into the caller's context"
    );
}
on_both_runtimes!(test_context_4);

/// `test_context_4` with asyncio's `Task(coro, context=ctx)` constructor
/// taken literally: the context-carrying future is built with
/// `WithContext::new` and spawned with plain `tokio::spawn`.
async fn test_context_4_task_constructor() {
    let ctx = Arc::new(copy_context());
    let mut ret = vec![in_ctx(&ctx)];
    tokio::spawn(WithContext::new(coro(1), ctx.clone()))
        .await
        .expect("t1");
    ret.push(in_ctx(&ctx));
    tokio::spawn(WithContext::new(coro(2), ctx.clone()))
        .await
        .expect("t2");
    ret.push(in_ctx(&ctx));
    assert_eq!(ret, [None, Some(1), Some(2)]);
    assert_eq!(CVAR_4.get_opt(), None);
}
on_both_runtimes!(test_context_4_task_constructor);

/// `test_context_5`: as `test_context_4`, through
/// `asyncio.create_task(coro, context=ctx)`; here
/// `JoinSet::spawn_with_context` (asyncio's `TaskGroup`).
async fn test_context_5() {
    let ctx = Arc::new(copy_context());
    let mut set = contextvars_tokio::JoinSet::new();
    let mut ret = vec![in_ctx(&ctx)];
    set.spawn_with_context(coro(1), ctx.clone());
    assert_eq!(set.join_next().await.expect("t1").expect("t1"), None);
    ret.push(in_ctx(&ctx));
    set.spawn_with_context(coro(2), ctx.clone());
    assert_eq!(set.join_next().await.expect("t2").expect("t2"), Some(1));
    ret.push(in_ctx(&ctx));
    assert_eq!(ret, [None, Some(1), Some(2)]);
    assert_eq!(CVAR_4.get_opt(), None);
}
on_both_runtimes!(test_context_5);

/// `test_context_6`: as `test_context_4`, through
/// `loop.create_task(coro, context=ctx)`; here spawning on the runtime's
/// `Handle` a future wrapped with `with_context(ctx)`.
async fn test_context_6() {
    let handle = tokio::runtime::Handle::current();
    let ctx = Arc::new(copy_context());
    let mut ret = vec![in_ctx(&ctx)];
    handle
        .spawn(coro(1).with_context(ctx.clone()))
        .await
        .expect("t1");
    ret.push(in_ctx(&ctx));
    handle
        .spawn(coro(2).with_context(ctx.clone()))
        .await
        .expect("t2");
    ret.push(in_ctx(&ctx));
    assert_eq!(ret, [None, Some(1), Some(2)]);
    assert_eq!(CVAR_4.get_opt(), None);
}
on_both_runtimes!(test_context_6);

static CVAR_GET: ContextVar<u32> = ContextVar::new("cvar");

/// `test_get_context`: `task.get_context()` is the very context passed
/// in. Here `WithContext::context()` of a future built with an
/// `Arc<Context>` is that `Context` (same address), before and after the
/// future ran, and shows the future's changes. Added: an owned context is
/// handed back with its contents, and `with_current_context()` holds a
/// copy of the current context.
async fn test_get_context() {
    let ctx = Arc::new(copy_context());
    let task = async {
        tokio::task::yield_now().await;
        CVAR_GET.set(1);
    }
    .with_context(ctx.clone());
    assert!(
        std::ptr::eq(task.context(), &*ctx),
        "get_context() is not the context passed in"
    );

    let mut task = pin!(task);
    task.as_mut().await;
    assert!(std::ptr::eq(task.context(), &*ctx));
    assert_eq!(task.context().get(&CVAR_GET).as_deref(), Some(&1));
    assert_eq!(ctx.get(&CVAR_GET).as_deref(), Some(&1));

    let owned = Context::new();
    owned.run(|| CVAR_GET.set(2));
    let fut = WithContext::new(async {}, owned);
    assert_eq!(fut.context().get(&CVAR_GET).as_deref(), Some(&2));

    CVAR_GET.set(3);
    let fut = async {}.with_current_context();
    assert_eq!(*fut.context(), copy_context());
    assert_eq!(fut.context().get(&CVAR_GET).as_deref(), Some(&3));
}
on_both_runtimes!(test_get_context);

static PRECISION: ContextVar<usize> = ContextVar::with_default("decimal_precision", || 28);

/// `Decimal(x) / Decimal(y)` rounded to the current precision.
fn divide(x: u32, y: u32) -> String {
    format!("{:.*}", PRECISION.get(), f64::from(x) / f64::from(y))
}

/// The coroutine of `test_asyncio_task_decimal_context`: computes with its own
/// precision before and after a sleep, inside `decimal.localcontext()` (a set
/// that is reset at the end).
async fn fractions(sleep_ms: u64, precision: usize, x: u32, y: u32) -> (String, String) {
    let local = PRECISION.set(precision);
    let a = divide(x, y);
    tokio::time::sleep(Duration::from_millis(sleep_ms)).await;
    let b = divide(x, y * y);
    PRECISION
        .reset(&local)
        .expect("reset in the context that set it");
    (a, b)
}

/// `test_asyncio_task_decimal_context`: two coroutines gathered, each with
/// its own precision (3 and 6), sleeping in between; each computes with
/// its own precision before and after the sleep. asyncio's `gather` wraps
/// each coroutine in a task; here each future is given a copy of the
/// context with `with_current_context()` and the two are polled by one
/// `tokio::join!`, so they interleave in the same task.
async fn test_asyncio_task_decimal_context() {
    let (r1, r2) = tokio::join!(
        fractions(1, 3, 1, 3).with_current_context(),
        fractions(2, 6, 1, 3).with_current_context(),
    );
    assert_eq!(r1, ("0.333".to_string(), "0.111".to_string()));
    assert_eq!(r2, ("0.333333".to_string(), "0.111111".to_string()));
    assert_eq!(PRECISION.get(), 28);
    assert_eq!(PRECISION.get_opt(), None);
}
on_both_runtimes!(test_asyncio_task_decimal_context);

/// `test_asyncio_task_decimal_context` with the two coroutines spawned as
/// tasks (as `gather` does), which may run in parallel on the
/// multi-thread runtime.
async fn test_asyncio_task_decimal_context_spawned() {
    let t1 = contextvars_tokio::spawn(fractions(1, 3, 1, 3));
    let t2 = contextvars_tokio::spawn(fractions(2, 6, 1, 3));
    let (r1, r2) = (t1.await.expect("t1"), t2.await.expect("t2"));
    assert_eq!(r1, ("0.333".to_string(), "0.111".to_string()));
    assert_eq!(r2, ("0.333333".to_string(), "0.111111".to_string()));
    assert_eq!(PRECISION.get(), 28);
}
on_both_runtimes!(test_asyncio_task_decimal_context_spawned);

static SHARED_COUNT: ContextVar<u32> = ContextVar::with_default("count", || 0);

/// Rule A11: tasks given the same `Context` object take turns entering
/// it, and their changes accumulate in it. On the current-thread runtime
/// two such tasks interleave freely (each poll exits the context before
/// the next task's poll enters it). On the multi-thread runtime a task
/// polled while another holds the context entered panics: here the first
/// task spins inside its poll until the second has been polled (the
/// documented limitation "a context is entered by one thread at a time").
async fn tasks_sharing_a_context_take_turns() {
    let ctx = Arc::new(copy_context());
    if common::is_multi_thread() {
        let second_done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (started_tx, started) = oneshot::channel();
        let first = contextvars_tokio::spawn_with_context(
            {
                let second_done = second_done.clone();
                async move {
                    SHARED_COUNT.set(1);
                    started_tx.send(()).expect("listening");
                    common::spin_until(Duration::from_secs(5), || {
                        second_done.load(std::sync::atomic::Ordering::SeqCst)
                    });
                }
            },
            ctx.clone(),
        );
        started.await.expect("started");
        let second =
            contextvars_tokio::spawn_with_context(async { SHARED_COUNT.set(2) }, ctx.clone());
        let err = second.await.expect_err("entered elsewhere");
        second_done.store(true, std::sync::atomic::Ordering::SeqCst);
        assert!(err.is_panic());
        let message = common::panic_message(&*err.into_panic());
        assert!(message.contains("already entered"), "{message}");
        first.await.expect("first");
        assert_eq!(ctx.get(&SHARED_COUNT).as_deref(), Some(&1));
    } else {
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                contextvars_tokio::spawn_with_context(
                    async {
                        for _ in 0..10 {
                            SHARED_COUNT.set(SHARED_COUNT.get() + 1);
                            tokio::task::yield_now().await;
                        }
                    },
                    ctx.clone(),
                )
            })
            .collect();
        for task in tasks {
            task.await.expect("task");
        }
        assert_eq!(ctx.get(&SHARED_COUNT).as_deref(), Some(&40));
    }
    assert_eq!(SHARED_COUNT.get_opt(), None);
}
on_both_runtimes!(tasks_sharing_a_context_take_turns);

static TOKEN_VAR: ContextVar<u32> = ContextVar::new("token_var");

/// PEP 567's `test_context_getset_4` across tasks: a token is bound to the
/// context it was created in, so a token made by the main future cannot
/// reset the variable in a task (whose context is a copy), and vice
/// versa; inside the task, its own tokens work across awaits.
async fn tokens_are_bound_to_the_task_context() {
    let main_token = Arc::new(TOKEN_VAR.set(1));
    let (task_token, in_task) = contextvars_tokio::spawn({
        let main_token = main_token.clone();
        async move {
            let wrong = TOKEN_VAR.reset(&main_token);
            let own = TOKEN_VAR.set(2);
            tokio::time::sleep(Duration::from_millis(1)).await;
            let inner = TOKEN_VAR.set(3);
            tokio::task::yield_now().await;
            let reset_inner = TOKEN_VAR.reset(&inner);
            let after = TOKEN_VAR.get();
            (own, (wrong, reset_inner, after))
        }
    })
    .await
    .expect("task");
    assert_eq!(
        in_task,
        (Err(contextvars::ResetError::WrongContext), Ok(()), 2)
    );
    assert_eq!(
        TOKEN_VAR.reset(&task_token),
        Err(contextvars::ResetError::WrongContext)
    );
    assert_eq!(TOKEN_VAR.get(), 1);
    assert_eq!(TOKEN_VAR.reset(&main_token), Ok(()));
    assert_eq!(TOKEN_VAR.get_opt(), None);
}
on_both_runtimes!(tokens_are_bound_to_the_task_context);
