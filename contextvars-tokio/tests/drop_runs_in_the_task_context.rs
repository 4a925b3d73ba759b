//! Destructors of a task's values run in the task's context: a value whose
//! `Drop` reads a context variable sees the task's own value when the task is
//! aborted mid-await, when it panics, when its `JoinSet` is dropped, when the
//! runtime shuts down with the task pending, when a wrapped future completes,
//! and when a `WithContext` future is dropped without ever being polled.

#[macro_use]
mod common;

use std::future::{pending, Future};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use common::{bounded, is_multi_thread, Flavor};
use contextvars::{copy_context, Context, ContextVar, FutureExt};
use tokio::sync::mpsc;

static OWNER: ContextVar<u32> = ContextVar::new("owner");

/// Sends, when dropped, its label and the value of `OWNER` its `Drop` sees.
struct ReadOnDrop {
    label: &'static str,
    tx: mpsc::UnboundedSender<(&'static str, Option<u32>)>,
}

impl Drop for ReadOnDrop {
    fn drop(&mut self) {
        let _ = self.tx.send((self.label, OWNER.get_opt()));
    }
}

/// A future that completes on its first poll and keeps its `ReadOnDrop`
/// until the future itself is dropped (unlike an `async` block, whose locals
/// are dropped inside the poll that completes it).
struct HoldsUntilDropped(#[allow(dead_code)] ReadOnDrop);

impl Future for HoldsUntilDropped {
    type Output = ();

    fn poll(self: Pin<&mut Self>, _: &mut TaskContext<'_>) -> Poll<()> {
        Poll::Ready(())
    }
}

/// A context in which `OWNER` is `value`.
fn context_with(value: u32) -> Context {
    let ctx = Context::new();
    ctx.run(|| OWNER.set(value));
    ctx
}

type Reports = mpsc::UnboundedReceiver<(&'static str, Option<u32>)>;

/// Receives `n` reports.
async fn reports(rx: &mut Reports, n: usize) -> Vec<(&'static str, Option<u32>)> {
    let mut out = Vec::new();
    for _ in 0..n {
        let report = bounded("a value's drop", rx.recv()).await;
        out.push(report.expect("a value reports its drop"));
    }
    out.sort();
    out
}

/// A task aborted in the middle of an await: its values are dropped in
/// its context. The main future has a different value, which the `Drop`
/// must not see.
async fn aborted_task_drops_its_values_in_its_context() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (started_tx, mut started) = mpsc::unbounded_channel();
    OWNER.set(1);
    let task = contextvars_tokio::spawn(async move {
        OWNER.set(7);
        let _guard = ReadOnDrop {
            label: "aborted",
            tx,
        };
        tokio::task::yield_now().await;
        started_tx.send(()).expect("listening");
        pending::<()>().await;
    });
    bounded("a task to start", started.recv())
        .await
        .expect("started");
    task.abort();
    assert!(task.await.expect_err("aborted").is_cancelled());
    assert_eq!(reports(&mut rx, 1).await, [("aborted", Some(7))]);
    assert_eq!(OWNER.get(), 1);
}
on_both_runtimes!(aborted_task_drops_its_values_in_its_context);

/// The same through a `JoinSet`: `abort_all` and dropping the set; and
/// for a task spawned with a shared `Arc<Context>`.
async fn cancelled_join_set_tasks_drop_in_their_context() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (started_tx, mut started) = mpsc::unbounded_channel();
    OWNER.set(1);
    let mut aborted = contextvars_tokio::JoinSet::new();
    let mut dropped = contextvars_tokio::JoinSet::new();
    let shared = Arc::new(context_with(9));
    for (set, label, value) in [
        (&mut aborted, "abort_all", 7),
        (&mut dropped, "dropped set", 8),
    ] {
        let tx = tx.clone();
        let started_tx = started_tx.clone();
        set.spawn(async move {
            OWNER.set(value);
            let _guard = ReadOnDrop { label, tx };
            started_tx.send(()).expect("listening");
            pending::<()>().await;
        });
    }
    {
        let tx = tx.clone();
        let started_tx = started_tx.clone();
        dropped.spawn_with_context(
            async move {
                let _guard = ReadOnDrop {
                    label: "shared context",
                    tx,
                };
                started_tx.send(()).expect("listening");
                pending::<()>().await;
            },
            shared.clone(),
        );
    }
    for _ in 0..3 {
        bounded("a task to start", started.recv())
            .await
            .expect("started");
    }
    aborted.abort_all();
    assert!(aborted
        .join_next()
        .await
        .expect("one task")
        .expect_err("aborted")
        .is_cancelled());
    drop(dropped);
    assert_eq!(
        reports(&mut rx, 3).await,
        [
            ("abort_all", Some(7)),
            ("dropped set", Some(8)),
            ("shared context", Some(9))
        ]
    );
    assert_eq!(OWNER.get(), 1);
}
on_both_runtimes!(cancelled_join_set_tasks_drop_in_their_context);

/// A task that panics after setting its value: its values are dropped
/// (during the unwinding, and when tokio drops the task's future) in its
/// context.
async fn panicking_task_drops_its_values_in_its_context() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    OWNER.set(1);
    let on_stack = ReadOnDrop {
        label: "local",
        tx: tx.clone(),
    };
    let held = ReadOnDrop {
        label: "held by the future",
        tx,
    };
    let task = contextvars_tokio::spawn(async move {
        OWNER.set(7);
        let _local = on_stack;
        tokio::task::yield_now().await;
        let _ = &held;
        panic!("the task panics");
    });
    assert!(task.await.expect_err("panicked").is_panic());
    assert_eq!(
        reports(&mut rx, 2).await,
        [("held by the future", Some(7)), ("local", Some(7))]
    );
    assert_eq!(OWNER.get(), 1);
}
on_both_runtimes!(panicking_task_drops_its_values_in_its_context);

/// A wrapped future that completes is dropped in its context, right when
/// it completes: plain `tokio::spawn` of a `with_context` future (the
/// wrapper is the only source of a context), and the same future awaited
/// by the main future, which has another value.
async fn completed_future_is_dropped_in_its_context() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    OWNER.set(1);
    let fut = HoldsUntilDropped(ReadOnDrop {
        label: "spawned",
        tx: tx.clone(),
    });
    tokio::spawn(fut.with_context(context_with(7)))
        .await
        .expect("task");
    assert_eq!(reports(&mut rx, 1).await, [("spawned", Some(7))]);
    let fut = HoldsUntilDropped(ReadOnDrop {
        label: "awaited",
        tx: tx.clone(),
    });
    let wrapped = fut.with_context(context_with(8));
    let mut wrapped = std::pin::pin!(wrapped);
    wrapped.as_mut().await;
    // Already dropped, inside the context, while the wrapper still lives.
    assert_eq!(rx.try_recv(), Ok(("awaited", Some(8))));
    assert_eq!(OWNER.get(), 1);
}
on_both_runtimes!(completed_future_is_dropped_in_its_context);

/// A `WithContext` future dropped without ever being polled drops its
/// future in its context: in the main future (which has another value),
/// in a plain task on a worker (whose own context is empty), with a
/// shared context, and for a spawned task aborted before its first poll
/// (its context is the copy taken at spawn, not the spawner's later
/// value).
async fn never_polled_future_is_dropped_in_its_context() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    OWNER.set(1);

    drop(
        HoldsUntilDropped(ReadOnDrop {
            label: "main",
            tx: tx.clone(),
        })
        .with_context(context_with(7)),
    );

    let in_plain = HoldsUntilDropped(ReadOnDrop {
        label: "plain task",
        tx: tx.clone(),
    })
    .with_context(context_with(8));
    tokio::spawn(async move { drop(in_plain) })
        .await
        .expect("task");

    let shared = Arc::new(context_with(9));
    drop(
        HoldsUntilDropped(ReadOnDrop {
            label: "shared",
            tx: tx.clone(),
        })
        .with_context(shared.clone()),
    );

    OWNER.set(2);
    let guard = ReadOnDrop {
        label: "aborted before polled",
        tx,
    };
    let task = contextvars_tokio::spawn(async move {
        let _guard = guard;
        OWNER.set(99);
        pending::<()>().await;
    });
    OWNER.set(3);
    task.abort();
    assert!(task.await.expect_err("aborted").is_cancelled());
    let mut seen = reports(&mut rx, 4).await;
    let (_, aborted) = seen.remove(0);
    if is_multi_thread() {
        // A worker may have polled the task before the abort.
        assert!(matches!(aborted, Some(2) | Some(99)), "{aborted:?}");
    } else {
        assert_eq!(aborted, Some(2), "the copy taken at spawn");
    }
    assert_eq!(
        seen,
        [
            ("main", Some(7)),
            ("plain task", Some(8)),
            ("shared", Some(9))
        ]
    );
    assert_eq!(OWNER.get(), 3);
}
on_both_runtimes!(never_polled_future_is_dropped_in_its_context);

/// A runtime shut down with pending tasks drops them in their contexts.
fn shutdown_drops_pending_tasks_in_their_context(flavor: Flavor) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let rt = flavor.runtime();
    rt.block_on(contextvars_tokio::root(async {
        let (started_tx, mut started) = mpsc::unbounded_channel();
        for value in 0..8 {
            let tx = tx.clone();
            let started_tx = started_tx.clone();
            contextvars_tokio::spawn(async move {
                OWNER.set(value);
                let _guard = ReadOnDrop {
                    label: "shutdown",
                    tx,
                };
                started_tx.send(()).expect("listening");
                pending::<()>().await;
            });
        }
        for _ in 0..8 {
            bounded("a task to start", started.recv())
                .await
                .expect("started");
        }
    }));
    drop(tx);
    drop(rt);
    let mut seen = Vec::new();
    while let Ok((_, value)) = rx.try_recv() {
        seen.push(value);
    }
    seen.sort();
    assert_eq!(seen, (0..8).map(Some).collect::<Vec<_>>());
    assert!(copy_context().is_empty());
}

mod runtime_shutdown_drops_pending_tasks_in_their_context {
    use super::*;

    #[test]
    fn current_thread() {
        shutdown_drops_pending_tasks_in_their_context(Flavor::CurrentThread);
    }

    #[test]
    fn multi_thread() {
        shutdown_drops_pending_tasks_in_their_context(Flavor::MultiThread);
    }
}
