//! `WithContext` as a `Stream`, nested `WithContext` wrappers, futures
//! awaited directly, and the branches of `tokio::join!`/`tokio::select!`.
//!
//! Branches of `join!`/`select!` are polled by the task that runs the macro,
//! so they share its context: a `set` in one branch is seen by the others and
//! by the task afterwards (the limitation documented in the crate docs).
//! Wrapping each branch with `with_current_context()` gives it a copy of its
//! own, as asyncio's `gather` does by making tasks. Both behaviours are
//! tested.

#[macro_use]
mod common;

use std::future::{pending, poll_fn};
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use contextvars::{copy_context, Context, ContextVar, FutureExt};
use futures_core::Stream;

static V: ContextVar<u32> = ContextVar::new("v");
static LABEL: ContextVar<&'static str> = ContextVar::with_default("label", || "default");

/// A stream of `count` items. Each `poll_next` first returns `Pending` once
/// (waking itself), then yields what it sees of `V` and sets `V` to the
/// item's number: a stream with its own context sees its previous item's
/// number, whatever the caller does between items.
struct Counter {
    next: u32,
    count: u32,
    pending_once: bool,
}

impl Counter {
    fn new(count: u32) -> Self {
        Counter {
            next: 0,
            count,
            pending_once: true,
        }
    }
}

impl Stream for Counter {
    type Item = (u32, Option<u32>);

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        if self.next == self.count {
            return Poll::Ready(None);
        }
        if self.pending_once {
            self.pending_once = false;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        self.pending_once = true;
        let n = self.next;
        self.next += 1;
        let seen = V.get_opt();
        V.set(n);
        Poll::Ready(Some((n, seen)))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = (self.count - self.next) as usize;
        (left, Some(left))
    }
}

/// The next item of a stream (`StreamExt::next`, without `futures-util`).
async fn next<S: Stream + Unpin>(stream: &mut S) -> Option<S::Item> {
    poll_fn(|cx| Pin::new(&mut *stream).poll_next(cx)).await
}

/// A stream wrapped with `with_current_context()` runs every
/// `poll_next` in its own context: it starts from the caller's value at
/// wrap time, its sets persist from one item to the next, and neither
/// the caller's later sets reach it nor its sets reach the caller.
async fn with_context_stream_keeps_its_own_context() {
    V.set(100);
    let mut stream = pin!(Counter::new(4).with_current_context());
    assert_eq!(stream.size_hint(), (4, Some(4)));
    let mut items = Vec::new();
    while let Some(item) = next(&mut stream).await {
        items.push(item);
        // The caller changes its value between items.
        V.set(200 + item.0);
    }
    assert_eq!(
        items,
        [(0, Some(100)), (1, Some(0)), (2, Some(1)), (3, Some(2))]
    );
    assert_eq!(V.get(), 203);
    assert_eq!(stream.context().get(&V).as_deref(), Some(&3));
    assert_eq!(stream.size_hint(), (0, Some(0)));
}
on_both_runtimes!(with_context_stream_keeps_its_own_context);

/// The same stream, unwrapped, shares the caller's context (for
/// contrast): it sees the caller's sets and the caller sees its own.
async fn unwrapped_stream_shares_the_callers_context() {
    V.set(100);
    let mut stream = Counter::new(3);
    let mut items = Vec::new();
    while let Some(item) = next(&mut stream).await {
        items.push(item);
        assert_eq!(V.get(), item.0, "the stream's set is the caller's");
        V.set(200 + item.0);
    }
    assert_eq!(items, [(0, Some(100)), (1, Some(200)), (2, Some(201))]);
}
on_both_runtimes!(unwrapped_stream_shares_the_callers_context);

/// A stream wrapped with a shared `Arc<Context>` records its changes in
/// it; a stream spawned in a task (polled there) keeps its context too.
async fn stream_with_shared_context_and_in_a_task() {
    let ctx = Arc::new(Context::new());
    let mut stream = pin!(Counter::new(2).with_context(ctx.clone()));
    assert_eq!(next(&mut stream).await, Some((0, None)));
    assert_eq!(ctx.get(&V).as_deref(), Some(&0));
    assert_eq!(next(&mut stream).await, Some((1, Some(0))));
    assert_eq!(ctx.get(&V).as_deref(), Some(&1));
    assert_eq!(next(&mut stream).await, None);
    assert_eq!(V.get_opt(), None);

    V.set(50);
    let items = contextvars_tokio::spawn(async {
        let mut stream = Box::pin(Counter::new(3).with_current_context());
        V.set(60);
        let mut items = Vec::new();
        while let Some(item) = next(&mut stream).await {
            items.push(item);
            tokio::task::yield_now().await;
        }
        assert_eq!(V.get(), 60);
        items
    })
    .await
    .expect("task");
    assert_eq!(items, [(0, Some(50)), (1, Some(0)), (2, Some(1))]);
    assert_eq!(V.get(), 50);
}
on_both_runtimes!(stream_with_shared_context_and_in_a_task);

/// Nested wrappers: an inner `with_current_context()` future starts from
/// the outer one's values at wrap time; its sets are invisible to the
/// outer one, before and after it completes; an inner
/// `with_context(Context::new())` sees nothing of the outer.
async fn nested_with_context_wrappers_are_isolated() {
    let outer = async {
        V.set(1);
        LABEL.set("outer");
        let inner = async {
            let seen = (V.get_opt(), LABEL.get());
            V.set(2);
            tokio::task::yield_now().await;
            LABEL.set("inner");
            tokio::task::yield_now().await;
            (seen, V.get(), LABEL.get())
        }
        .with_current_context();
        // Set after the inner wrapper was made: the inner copy predates it.
        LABEL.set("outer, later");
        let inner = inner.await;
        let after_inner = (V.get(), LABEL.get());

        let empty = async {
            let seen = (V.get_opt(), LABEL.get());
            V.set(3);
            seen
        }
        .with_context(Context::new())
        .await;

        let innermost = async {
            V.set(4);
            async {
                V.set(5);
                tokio::task::yield_now().await;
                V.get()
            }
            .with_current_context()
            .await
                * 10
                + V.get()
        }
        .with_current_context()
        .await;
        (inner, after_inner, empty, innermost, V.get())
    }
    .with_current_context();
    let (inner, after_inner, empty, innermost, last) = outer.await;
    assert_eq!(inner, ((Some(1), "outer"), 2, "inner"));
    assert_eq!(after_inner, (1, "outer, later"));
    assert_eq!(empty, (None, "default"));
    assert_eq!(innermost, 54);
    assert_eq!(last, 1);
    assert_eq!(V.get_opt(), None);
    assert_eq!(LABEL.get(), "default");
}
on_both_runtimes!(nested_with_context_wrappers_are_isolated);

/// A future awaited directly (not wrapped) shares the awaiting task's
/// context, as a coroutine awaited by an asyncio task does (rule A6): its
/// sets are the task's.
async fn directly_awaited_future_shares_the_context() {
    async fn helper() -> Option<u32> {
        let seen = V.get_opt();
        tokio::task::yield_now().await;
        V.set(8);
        seen
    }
    V.set(7);
    assert_eq!(helper().await, Some(7));
    assert_eq!(V.get(), 8);
}
on_both_runtimes!(directly_awaited_future_shares_the_context);

/// Two `join!` branches: `a` sets `V` and `LABEL`, then `b` (which waits for
/// `a` to have set) reads them. Returns what `b` saw.
async fn join_branches(wrap: bool) -> (Option<u32>, &'static str) {
    let a_has_set = AtomicBool::new(false);
    let a = async {
        V.set(1);
        LABEL.set("a");
        a_has_set.store(true, Ordering::SeqCst);
        tokio::task::yield_now().await;
    };
    let b = async {
        while !a_has_set.load(Ordering::SeqCst) {
            tokio::task::yield_now().await;
        }
        (V.get_opt(), LABEL.get())
    };
    if wrap {
        tokio::join!(a.with_current_context(), b.with_current_context()).1
    } else {
        tokio::join!(a, b).1
    }
}

/// LIMITATION (documented): unwrapped `join!` branches share the task's
/// context: `b` sees `a`'s sets, and so does the task after the join.
async fn join_branches_share_the_task_context_unless_wrapped() {
    let seen_by_b = join_branches(false).await;
    assert_eq!(
        seen_by_b,
        (Some(1), "a"),
        "unwrapped branches share the task's context"
    );
    assert_eq!((V.get_opt(), LABEL.get()), (Some(1), "a"));
}
on_both_runtimes!(join_branches_share_the_task_context_unless_wrapped);

/// Wrapped with `with_current_context()`, each `join!` branch has a copy
/// of its own: `b` does not see `a`'s sets, nor does the task.
async fn wrapped_join_branches_are_isolated() {
    V.set(9);
    let seen_by_b = join_branches(true).await;
    assert_eq!(seen_by_b, (Some(9), "default"));
    assert_eq!((V.get_opt(), LABEL.get()), (Some(9), "default"));
}
on_both_runtimes!(wrapped_join_branches_are_isolated);

/// LIMITATION (documented): a `select!` branch that loses (and is
/// dropped) after setting leaves its value in the task's context unless
/// it is wrapped; wrapped, its set disappears with it.
async fn select_branches_share_the_task_context_unless_wrapped() {
    tokio::select! {
        biased;
        _ = async { V.set(1); pending::<()>().await } => unreachable!("pending"),
        _ = tokio::task::yield_now() => {}
    }
    assert_eq!(
        V.get_opt().as_ref(),
        Some(&1),
        "the losing branch's set is the task's"
    );

    tokio::select! {
        biased;
        _ = async { V.set(2); pending::<()>().await }.with_current_context() => {
            unreachable!("pending")
        }
        _ = tokio::task::yield_now() => {}
    }
    assert_eq!(
        V.get_opt().as_ref(),
        Some(&1),
        "the wrapped branch's set leaked"
    );

    // The winning branch's set is also the task's, unless wrapped.
    let won = tokio::select! {
        biased;
        v = async { V.set(3); tokio::task::yield_now().await; V.get() } => v,
        _ = pending::<()>() => unreachable!("pending"),
    };
    assert_eq!((won, V.get()), (3, 3));
    let won = tokio::select! {
        biased;
        v = async { V.set(4); tokio::task::yield_now().await; V.get() }.with_current_context() => v,
        _ = pending::<()>() => unreachable!("pending"),
    };
    assert_eq!((won, V.get()), (4, 3));
    assert_eq!(copy_context().len(), 1);
}
on_both_runtimes!(select_branches_share_the_task_context_unless_wrapped);
