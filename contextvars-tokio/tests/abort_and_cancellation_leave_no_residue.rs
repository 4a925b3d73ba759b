//! A task that is aborted, cancelled with its `JoinSet`, detached, or that
//! panics in the middle of a poll after setting variables leaves nothing
//! behind on the worker threads: afterwards, plain `tokio::spawn` tasks on
//! every worker see no value and an empty context, and cannot set (so no
//! context was left entered on the worker), and tasks spawned with
//! `contextvars_tokio::spawn` see only their spawner's values.

#[macro_use]
mod common;

use std::future::pending;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{bounded, is_multi_thread, probe_every_worker, spin_until, Spawner};
use contextvars::{copy_context, Context, ContextVar, FutureExt, SetError};
use tokio::sync::{mpsc, oneshot};

/// Set by the tasks under test; never by a main future.
static RESIDUE: ContextVar<u64> = ContextVar::new("residue");
/// Set by the tasks under test; its default must be what probes see.
static DEFAULTED: ContextVar<u64> = ContextVar::with_default("defaulted", || 0);

/// Number of tasks per scenario (more than the workers, so that every worker
/// runs some).
const TASKS: u64 = 16;

/// The task body of most scenarios: sets both variables, reports that it
/// did, and waits forever.
async fn set_then_wait(i: u64, started: mpsc::UnboundedSender<u64>) {
    RESIDUE.set(i);
    DEFAULTED.set(i);
    tokio::task::yield_now().await;
    RESIDUE.set(i + 1000);
    started.send(i).expect("the main future listens");
    pending::<()>().await;
}

/// Waits for `n` reports on `rx`.
async fn wait_started(rx: &mut mpsc::UnboundedReceiver<u64>, n: u64) {
    for _ in 0..n {
        bounded("a task's report", rx.recv())
            .await
            .expect("a task reports");
    }
}

/// Probes every worker thread, with plain tasks and with
/// `contextvars_tokio::spawn` tasks, and checks that nothing set by a task
/// under test is visible. The main future must not have set the variables.
async fn assert_no_residue() {
    assert_eq!(
        RESIDUE.get_opt(),
        None,
        "the main future sees a task's value"
    );
    let main_context = copy_context();

    let plain = probe_every_worker(Spawner::Plain, 8, || {
        (
            RESIDUE.get_opt(),
            DEFAULTED.get(),
            DEFAULTED.get_opt(),
            copy_context().len(),
            // `try_set` succeeds only if a context was left entered on the
            // worker; the value would then be residue, which the next probe
            // reports.
            RESIDUE.try_set(u64::MAX).err(),
        )
    })
    .await;
    for seen in plain {
        assert_eq!(
            seen,
            (None, 0, None, 0, Some(SetError::NoTaskContext)),
            "(residue, defaulted, defaulted in the context, context size, try_set error) \
             in a plain task on a worker"
        );
    }

    let spawned = probe_every_worker(Spawner::Contextvars, 8, || {
        (RESIDUE.get_opt(), DEFAULTED.get(), copy_context())
    })
    .await;
    for (residue, defaulted, context) in spawned {
        assert_eq!((residue, defaulted), (None, 0), "in a spawned task");
        assert_eq!(
            context, main_context,
            "a spawned task's context is not its spawner's"
        );
    }
}

/// `JoinHandle::abort` of tasks waiting in the middle of an await.
async fn abort_mid_await() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let handles: Vec<_> = (0..TASKS)
        .map(|i| contextvars_tokio::spawn(set_then_wait(i, tx.clone())))
        .collect();
    wait_started(&mut rx, TASKS).await;
    for handle in &handles {
        handle.abort();
    }
    for handle in handles {
        assert!(handle.await.expect_err("aborted").is_cancelled());
    }
    assert_no_residue().await;
}
on_both_runtimes!(abort_mid_await);

/// `JoinHandle::abort` called while the task is being polled (on the
/// multi-thread runtime: the task is spinning on a worker when it is
/// aborted, and is cancelled when that poll returns). On the
/// current-thread runtime the abort lands between polls.
async fn abort_during_a_poll() {
    let release = Arc::new(AtomicBool::new(false));
    let (started_tx, started_rx) = oneshot::channel();
    let task = contextvars_tokio::spawn({
        let release = release.clone();
        async move {
            RESIDUE.set(1);
            DEFAULTED.set(1);
            started_tx.send(()).expect("listening");
            if is_multi_thread() {
                spin_until(Duration::from_secs(2), || release.load(Ordering::SeqCst));
            }
            RESIDUE.set(2);
            tokio::task::yield_now().await;
            RESIDUE.set(3);
            pending::<()>().await;
        }
    });
    started_rx.await.expect("started");
    task.abort();
    release.store(true, Ordering::SeqCst);
    assert!(task.await.expect_err("aborted").is_cancelled());
    assert_no_residue().await;
}
on_both_runtimes!(abort_during_a_poll);

/// `JoinHandle::abort` right after spawning: on the current-thread
/// runtime the task is never polled; on the multi-thread one it may have
/// started.
async fn abort_before_first_poll() {
    let (tx, _rx) = mpsc::unbounded_channel();
    let handles: Vec<_> = (0..TASKS)
        .map(|i| {
            let handle = contextvars_tokio::spawn(set_then_wait(i, tx.clone()));
            handle.abort();
            handle
        })
        .collect();
    for handle in handles {
        assert!(handle.await.expect_err("aborted").is_cancelled());
    }
    assert_no_residue().await;
}
on_both_runtimes!(abort_before_first_poll);

/// `JoinSet::abort_all`, then joining every cancelled task.
async fn join_set_abort_all() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut set = contextvars_tokio::JoinSet::new();
    for i in 0..TASKS {
        set.spawn(set_then_wait(i, tx.clone()));
    }
    wait_started(&mut rx, TASKS).await;
    set.abort_all();
    let mut cancelled = 0;
    while let Some(result) = set.join_next().await {
        assert!(result.expect_err("aborted").is_cancelled());
        cancelled += 1;
    }
    assert_eq!(cancelled, TASKS);
    assert_no_residue().await;
}
on_both_runtimes!(join_set_abort_all);

/// Reports on a channel when dropped (to know when a cancelled task is gone).
struct ReportDrop(mpsc::UnboundedSender<()>);

impl Drop for ReportDrop {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

/// Dropping a `JoinSet` cancels its tasks; each holds a value that reports
/// when the task's future has been dropped.
async fn drop_join_set() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (dropped_tx, mut dropped_rx) = mpsc::unbounded_channel();
    let mut set = contextvars_tokio::JoinSet::new();
    for i in 0..TASKS {
        let report = ReportDrop(dropped_tx.clone());
        let tx = tx.clone();
        set.spawn(async move {
            let _report = report;
            set_then_wait(i, tx).await;
        });
    }
    drop(dropped_tx);
    wait_started(&mut rx, TASKS).await;
    drop(set);
    let mut dropped = 0;
    while bounded("the cancelled tasks' drops", dropped_rx.recv())
        .await
        .is_some()
    {
        dropped += 1;
    }
    assert_eq!(dropped, TASKS, "every cancelled task was dropped");
    assert_no_residue().await;
}
on_both_runtimes!(drop_join_set);

/// Dropping a `JoinHandle` detaches the task (tokio does not cancel it):
/// the task goes on in its own context, keeps its values across awaits,
/// and still leaves nothing behind once it is done.
async fn drop_join_handle_detaches() {
    let (done_tx, mut done_rx) = mpsc::unbounded_channel();
    let (go_tx, _) = tokio::sync::broadcast::channel::<()>(1);
    for i in 0..TASKS {
        let done_tx = done_tx.clone();
        let mut go = go_tx.subscribe();
        drop(contextvars_tokio::spawn(async move {
            RESIDUE.set(i);
            DEFAULTED.set(i);
            go.recv().await.expect("go");
            tokio::task::yield_now().await;
            done_tx
                .send(RESIDUE.get() == i && DEFAULTED.get() == i)
                .expect("listening");
        }));
    }
    drop(done_tx);
    tokio::task::yield_now().await;
    go_tx.send(()).expect("the detached tasks listen");
    let mut finished = 0;
    while let Some(kept_its_values) = bounded("the detached tasks", done_rx.recv()).await {
        assert!(kept_its_values, "a detached task lost its values");
        finished += 1;
    }
    assert_eq!(finished, TASKS);
    assert_no_residue().await;
}
on_both_runtimes!(drop_join_handle_detaches);

/// Tasks that panic in the middle of a poll after setting variables: in
/// their first poll, in a later poll, and inside a nested `Context::run`
/// and a nested `with_current_context` future. tokio catches the panics;
/// the workers go on with nothing left entered or set.
async fn panic_mid_poll() {
    let mut handles = Vec::new();
    for i in 0..TASKS {
        handles.push(contextvars_tokio::spawn(async move {
            RESIDUE.set(i);
            DEFAULTED.set(i);
            match i % 4 {
                0 => panic!("task {i} panics in its first poll"),
                1 => {
                    tokio::task::yield_now().await;
                    RESIDUE.set(i + 1);
                    panic!("task {i} panics in a later poll");
                }
                2 => Context::new().run(|| {
                    RESIDUE.set(i + 2);
                    panic!("task {i} panics inside Context::run");
                }),
                _ => {
                    async move {
                        RESIDUE.set(i + 3);
                        tokio::task::yield_now().await;
                        panic!("task {i} panics in a nested WithContext");
                    }
                    .with_current_context()
                    .await
                }
            }
        }));
    }
    for handle in handles {
        assert!(handle.await.expect_err("panicked").is_panic());
    }
    assert_no_residue().await;
}
on_both_runtimes!(panic_mid_poll);

/// Plain `tokio::spawn` tasks whose `with_current_context()` future sets a
/// variable and then panics, or is cancelled by `select!` or by an abort:
/// the worker's own context is left as it was.
async fn cancelled_wrapped_futures_in_plain_tasks() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut handles = Vec::new();
    for i in 0..TASKS {
        let tx = tx.clone();
        handles.push(tokio::spawn(async move {
            match i % 3 {
                0 => {
                    async move {
                        RESIDUE.set(i);
                        tokio::task::yield_now().await;
                        panic!("wrapped future {i} panics");
                    }
                    .with_current_context()
                    .await
                }
                1 => {
                    tokio::select! {
                        biased;
                        _ = async { RESIDUE.set(i); pending::<()>().await }.with_current_context() => {
                            unreachable!("pending")
                        }
                        _ = tokio::task::yield_now() => {}
                    }
                    assert_eq!(RESIDUE.get_opt(), None, "the cancelled branch's value leaked");
                    tx.send(i).expect("listening");
                }
                _ => {
                    async move { set_then_wait(i, tx).await }
                        .with_context(Context::new())
                        .await
                }
            }
        }));
    }
    drop(tx);
    // Tasks 1 mod 3 finish, tasks 2 mod 3 report that they are waiting.
    let expected = (0..TASKS).filter(|i| i % 3 != 0).count();
    for _ in 0..expected {
        bounded("a task's report", rx.recv())
            .await
            .expect("a task reports");
    }
    for (i, handle) in handles.into_iter().enumerate() {
        // Only the waiting tasks are aborted; the others finish by
        // themselves (by a panic or by returning).
        if i % 3 == 2 {
            handle.abort();
        }
        match (i % 3, handle.await) {
            (0, Err(err)) => assert!(err.is_panic()),
            (1, Ok(())) => {}
            (2, Err(err)) => assert!(err.is_cancelled()),
            (i, other) => panic!("task {i} mod 3: unexpected {other:?}"),
        }
    }
    assert_no_residue().await;
}
on_both_runtimes!(cancelled_wrapped_futures_in_plain_tasks);
